/**
 * The seam between the shared pipe-end code and the two platform backends.
 * `src/index.ts` picks one implementation of {@link Backend} once, at load time.
 */

/** One OS pipe end as the backend sees it. */
export interface RawEnd {
  /** A descriptor of this Node process (Windows: in Node's own CRT table, via uv_open_osfhandle). */
  readonly fd: number;
  /** The OS handle: a Windows HANDLE value, or the fd itself on POSIX. */
  readonly handle: bigint;
}

/** What each platform provides for anonymous pipes. Every call may throw a PipeError. */
export interface Backend {
  readonly platform: 'windows' | 'posix';
  /**
   * Creates a pipe whose two ends are both NON-inheritable.
   * Ownership: the caller owns both returned ends and must close each exactly once via {@link close}.
   */
  createPipe(size: number | undefined): [reader: RawEnd, writer: RawEnd];
  /** Blocking read of at least one byte; 0 only at end of file. Loops over empty non-EOF reads. */
  readSync(end: RawEnd, into: Uint8Array): number;
  /** Blocking write of the whole range; returns its length. */
  writeSync(end: RawEnd, from: Uint8Array): number;
  /**
   * The error a failed asynchronous write on `end`'s socket should report, given libuv's `err`.
   * Runs inside the write's callback, while the socket (and so the handle) is still open.
   * Absent where libuv's own error is always right (POSIX).
   */
  asyncWriteError?(end: RawEnd, err: Error): Error;
  getInheritable(end: RawEnd): boolean;
  setInheritable(end: RawEnd, inheritable: boolean): void;
  /**
   * A fingerprint of the file `end.fd` refers to now (POSIX: device and inode; Windows: the HANDLE
   * behind the fd), taken when the number is first handed out through `fd` / `handle`.
   */
  identity(end: RawEnd): string;
  /**
   * True when the two ends of one anonymous pipe always have the same {@link Backend.identity}
   * (Linux: both ends are the one pipefs inode), so one look-up serves the pair.
   */
  readonly pairSharesIdentity: boolean;
  /**
   * For the garbage-collection safety net only: true when `end.fd` still refers to the file
   * `identity` named and nothing visible has adopted it (POSIX: libuv sets O_NONBLOCK on every fd it
   * opens as a stream). False means closing it could pull a descriptor from under its new owner.
   */
  unadopted(end: RawEnd, identity: string): boolean;
  /**
   * Called once when asynchronous I/O starts on `end` (its event-loop socket is made). POSIX: grows
   * a pipe that createPipe made without a `size` (Linux, within a per-process budget of the user's
   * pipe pages) and reports the pipe's capacity, which bounds what one read can return. `release`
   * gives the budget back; call it once the socket has closed the end. Never throws.
   */
  startAsync?(end: RawEnd): { capacity: number | undefined; release(): void };
  /** Closes the end. Ownership: after this the fd and handle values are dead. */
  close(end: RawEnd): void;
}
