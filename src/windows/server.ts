/**
 * Windows named pipes: servers over `CreateNamedPipeW` + overlapped `ConnectNamedPipe`, clients
 * over `CreateFileW`.
 *
 * Accepts are event-driven (src/windows/overlapped.ts): no thread of any pool waits for a
 * client. A connected byte-mode instance is handed to libuv as a `net.Socket` (an overlapped
 * handle, so libuv drives it through its IOCP at full speed). Message mode needs message reads,
 * which libuv cannot do (it forces PIPE_READMODE_BYTE), so it runs on {@link WinMessageTransport}.
 */
import net from 'node:net';
import { byteConnection } from '../connection.js';
import { PipeError, WIN32_ERRORS, abortError, invalidArgValue, win32Error } from '../errors.js';
import { Backoff } from '../retry.js';
import { AcceptPool, acceptedClient, nameInUse, someoneListens, type WaitingInstance } from './instance.js';
import { openPipe, ownSession } from './open.js';
import { MessageConnection, type MessageSink, type MessageTransport } from '../message.js';
import { PipeServerBase } from '../server.js';
import { Admissions } from '../admit.js';
import type { HalfClose, ResolvedConnectOptions, ResolvedServerOptions } from '../options.js';
import type { ServerConnectionStats, PipeConnection, PipeServer } from '../types.js';
import { isRemotePipePath, pipePath } from '../names.js';
import { openOsfHandle } from './crt.js';
import * as k32 from './kernel32.js';
import { NativeBuffer, OverlappedSlot, type Completion } from './overlapped.js';
import { SecurityAttributes, readSecurity } from './security.js';
import { LazyPeer } from './trust.js';
import { publishRendezvous, randomPipePath, readRendezvous, removeRendezvous, validateRendezvousName } from './rendezvous.js';

const E = WIN32_ERRORS;

/** Errors that mean "the other side is gone": end of stream for reads, EPIPE for writes. */
function isDisconnect(error: number): boolean {
  return error === E.ERROR_BROKEN_PIPE || error === E.ERROR_PIPE_NOT_CONNECTED || error === E.ERROR_NO_DATA;
}

/** Wraps a connected overlapped pipe handle. Ownership: the returned connection owns `handle`. */
function wrap(
  handle: k32.HANDLE,
  mode: 'byte' | 'message',
  info: { path: string; serverOwnerSid?: string; readable: boolean; writable: boolean; maxMessageSize: number; readAheadBytes: number; allowHalfOpen: boolean; peerSource: LazyPeer; halfClose: HalfClose | undefined },
  onRelease?: () => void,
): PipeConnection {
  // halfClose in byte mode cannot be a net.Socket: libuv's shutdown of a readable pipe sends
  // nothing and closes the whole handle 50 ms later (src/win/pipe.c, uv__process_pipe_shutdown_req
  // and eof_timer_cb), and its reader drops a zero-byte read (uv__process_pipe_read_req, then
  // uv__pipe_read_data hands 0 bytes to Node, which ignores them). Our own transport does both.
  if (mode === 'message' || info.halfClose) {
    let transport: WinMessageTransport;
    try {
      transport = new WinMessageTransport(handle, info.path, mode === 'message' ? info.maxMessageSize : Infinity, onRelease, { halfClose: info.halfClose, bytes: mode === 'byte' });
    } catch (err) {
      k32.CloseHandle(handle);
      throw err;
    }
    // The identity is read from `handle` only until the transport has closed it.
    info.peerSource.bind(() => transport.open);
    return new MessageConnection(transport, { ...info, mode });
  }
  const fd = openOsfHandle(handle);
  if (fd < 0) {
    k32.CloseHandle(handle);
    throw win32Error(E.ERROR_TOO_MANY_OPEN_FILES, 'uv_open_osfhandle', info.path);
  }
  // Ownership: from here the fd, and then the socket's libuv handle, owns the pipe handle.
  const socket = new net.Socket({ fd, readable: info.readable, writable: info.writable, allowHalfOpen: info.allowHalfOpen });
  // The identity is read from `handle` only while libuv has not closed it: net closes the handle
  // in _destroy, and `destroyed` is set before that.
  info.peerSource.bind(() => !socket.destroyed);
  return byteConnection(socket, info);
}

// --- server ------------------------------------------------------------------------------------

type ServerState = 'idle' | 'starting' | 'listening' | 'closing' | 'closed';

/**
 * A named-pipe server. Keeps `pendingInstances` instances waiting in `ConnectNamedPipe`, and
 * replaces each one the moment a client takes it, so clients never find the name missing.
 * Connected plus waiting instances never exceed `maxInstances` nor `maxConnections`: at the bound
 * no instance waits, so a new client finds the pipe busy and waits in the kernel until a
 * connection closes (the server cannot see it, so it is not counted as dropped).
 */
class WindowsPipeServer extends PipeServerBase {
  readonly #o: ResolvedServerOptions;
  #path: string | null = null;
  #state: ServerState = 'idle';
  #security: SecurityAttributes | undefined;
  /** The rendezvous name this server published, until close() removes it. */
  #rendezvous: string | undefined;
  readonly #pending = new AcceptPool((inst, c) => this.#onConnect(inst, c));
  #settling = new Set<Promise<void>>();
  /** Connections handed out plus clients whose `admit` check is running. */
  #live = 0;
  /** Clients whose `admit` check is running, with their handles: close() closes them. */
  readonly #admitting = new Admissions<k32.HANDLE>((handle) => k32.CloseHandle(handle));
  /** Clients `admit` refused. */
  #refused = 0;
  /** How many times #live reached maxConnections. */
  #reachedMax = 0;
  #refed = true;
  #closed: Promise<void> | undefined;
  /** A retry of #replenish while the OS still counts an instance we already let go (ERROR_PIPE_BUSY). */
  #retry: NodeJS.Timeout | undefined;
  /** How long until the next try to make an instance after one could not be made. */
  readonly #retryDelay = new Backoff(1, 50);

  constructor(options: ResolvedServerOptions, listener?: (conn: PipeConnection) => void) {
    super(listener);
    this.#o = options;
  }

  protected get stopped(): boolean {
    return this.#state === 'closing' || this.#state === 'closed';
  }

  get listening(): boolean {
    return this.#state === 'listening';
  }

  address(): string | null {
    return this.#path;
  }

  protected startListening(name: string, options: { rendezvous: boolean }): Promise<void> {
    if (options.rendezvous) validateRendezvousName(name);
    const path = options.rendezvous ? randomPipePath() : pipePath(name);
    if (isRemotePipePath(path)) throw invalidArgValue('name', name, 'is a remote pipe; a server can only create local pipes');
    if (this.#state !== 'idle') {
      return this.alreadyListening();
    }
    this.#state = 'starting';
    this.#path = path;
    try {
      if (this.#o.firstInstance && nameInUse(path)) throw new PipeError({ code: 'EADDRINUSE', syscall: 'listen', path });
      this.#security = new SecurityAttributes(this.#o.security);
      // Published before the pipe exists: a client that reads it meanwhile finds no pipe (ENOENT).
      if (options.rendezvous) {
        publishRendezvous(name, path, nameInUse);
        this.#rendezvous = name;
      }
      this.#addInstance(true);
      this.#replenish();
    } catch (err) {
      this.#state = 'idle';
      this.#path = null;
      this.#unpublish(path);
      this.#teardown();
      return Promise.reject(err);
    }
    this.#state = 'listening';
    queueMicrotask(() => this.emit('listening'));
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (this.#closed) return this.#closed;
    if (this.#state === 'idle' || this.#state === 'closed') {
      this.#state = 'closed';
      this.#closed = Promise.resolve();
      queueMicrotask(() => this.#finishClose());
      return this.#closed;
    }
    this.#state = 'closing';
    // The name stops resolving at once; the pipe goes as its instances settle.
    this.#unpublish(this.#path!);
    clearTimeout(this.#retry);
    this.#retry = undefined;
    this.#pending.cancel(false);
    this.#admitting.closeAll();
    this.#closed = Promise.all([...this.#settling]).then(() => {
      this.#teardown();
      this.#state = 'closed';
      this.#finishClose();
    });
    return this.#closed;
  }

  connectionStats(): ServerConnectionStats {
    return { current: this.#live, max: this.#o.maxConnections, dropped: 0, refused: this.#refused, reachedMax: this.#reachedMax };
  }

  ref(): this {
    this.#refed = true;
    this.#retry?.ref();
    this.#pending.ref(true);
    return this;
  }

  unref(): this {
    this.#refed = false;
    this.#retry?.unref();
    this.#pending.ref(false);
    return this;
  }

  /** The owner, DACL and label actually applied to the pipe, as SDDL (read back with GetSecurityInfo). */
  securityDescriptor(): string {
    const inst = this.#pending.any();
    if (!inst) throw new PipeError({ code: this.#state === 'listening' ? 'EBUSY' : 'ERR_PIPE_CLOSED', syscall: 'GetSecurityInfo', path: this.#path ?? undefined });
    return readSecurity(inst.handle);
  }

  /** Removes our rendezvous file, if we published one for `path`. */
  #unpublish(path: string): void {
    if (this.#rendezvous === undefined) return;
    removeRendezvous(this.#rendezvous, path);
    this.#rendezvous = undefined;
  }

  #finishClose(): void {
    this.wakeIterations();
    this.emit('close');
  }

  #teardown(): void {
    this.#security?.free();
    this.#security = undefined;
  }

  /**
   * Creates one instance and starts its accept. Returns false when the OS refuses for now: the
   * instance limit is reached (ERROR_PIPE_BUSY), or, with `exclusive`, the name still exists
   * (ERROR_ACCESS_DENIED: on Windows an instance we closed lingers until its client closes too).
   * `first`: the listen call itself, where both mean EADDRINUSE.
   */
  #addInstance(first: boolean, exclusive = first): boolean {
    const o = this.#o;
    const access = o.access === 'inbound' ? k32.PIPE_ACCESS_INBOUND : o.access === 'outbound' ? k32.PIPE_ACCESS_OUTBOUND : k32.PIPE_ACCESS_DUPLEX;
    const openMode = access | k32.FILE_FLAG_OVERLAPPED | (exclusive && o.firstInstance ? k32.FILE_FLAG_FIRST_PIPE_INSTANCE : 0);
    // halfClose in byte mode: a message-type pipe read in byte mode, as go-winio's listener with
    // PipeConfig.MessageMode: only a message-type pipe carries a zero-byte write to the reader
    // (go-winio pipe.go, PipeConfig.MessageMode); in byte read mode a read may span messages.
    const type =
      o.mode === 'message'
        ? k32.PIPE_TYPE_MESSAGE | k32.PIPE_READMODE_MESSAGE
        : o.halfClose
          ? k32.PIPE_TYPE_MESSAGE | k32.PIPE_READMODE_BYTE
          : k32.PIPE_TYPE_BYTE | k32.PIPE_READMODE_BYTE;
    const pipeMode = type | k32.PIPE_WAIT | (o.rejectRemoteClients ? k32.PIPE_REJECT_REMOTE_CLIENTS : 0);
    const max = o.maxInstances === 'unlimited' ? k32.PIPE_UNLIMITED_INSTANCES : o.maxInstances;
    const spec = { path: this.#path!, openMode, pipeMode, maxInstances: max, outBufferSize: o.outBufferSize, inBufferSize: o.inBufferSize, security: this.#security!.bytes };
    // A byte-mode instance goes to libuv once connected, whose port must be able to take it.
    // (With halfClose, byte mode runs on our transport too, so it joins our port.)
    const settled = this.#pending.add(spec, first, exclusive, { port: o.mode === 'message' || o.halfClose !== undefined }, this.#refed);
    if (settled === undefined) return false;
    this.#settling.add(settled);
    void settled.finally(() => this.#settling.delete(settled));
    return true;
  }

  /**
   * Keeps `pendingInstances` accepts outstanding, within `maxInstances` and `maxConnections`
   * (an instance waiting now is a connection later). Never stops silently:
   * while the OS refuses for now it retries on a timer; when the server cannot go on (another
   * party serves the name in the gap, or CreateNamedPipeW fails with nothing left to accept on)
   * it emits 'error' and closes, so `listening` turns false.
   */
  #replenish(): void {
    const o = this.#o;
    const cap = o.maxInstances === 'unlimited' ? o.maxConnections : Math.min(o.maxInstances, o.maxConnections);
    while (this.#state === 'listening' || this.#state === 'starting') {
      if (this.#pending.size >= o.pendingInstances || this.#pending.size + this.#live >= cap) break;
      // No instance of ours exists: the name is free for anyone. Recreate it exclusively, so that
      // a squatter who took the name in the gap is found, never joined.
      const gap = this.#pending.size + this.#live === 0 && this.#state === 'listening';
      // FILE_FLAG_FIRST_PIPE_INSTANCE alone is not enough where it is not enforced (Wine): ask first.
      // A listening instance of the name while we have none is someone else's. (A busy one may be
      // our own last instance, which Windows keeps until its client closes: that is retried.)
      if (gap && o.firstInstance && someoneListens(this.#path!)) {
        this.#cannotGoOn(new PipeError({ code: 'EADDRINUSE', syscall: 'CreateNamedPipeW', path: this.#path!, message: `EADDRINUSE: another server took ${this.#path} between two instances` }));
        return;
      }
      let made: boolean;
      try {
        made = this.#addInstance(false, gap);
      } catch (err) {
        this.#cannotGoOn(err);
        return;
      }
      if (!made) {
        this.#scheduleRetry();
        return;
      }
    }
    this.#retryDelay.reset();
  }

  #scheduleRetry(): void {
    if (this.#retry) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#replenish();
    }, this.#retryDelay.next());
    if (!this.#refed) this.#retry.unref();
  }

  /** Reports `err`; if no instance is left to accept on, the server stops (emits 'error', then closes). */
  #cannotGoOn(err: unknown): void {
    if (this.#pending.size > 0) {
      this.emit('error', err);
      return;
    }
    void this.close();
    this.emit('error', err);
  }

  #onConnect(inst: WaitingInstance, c: Completion): void {
    const connected = acceptedClient(c.error);
    if (!connected || this.#state !== 'listening') {
      k32.CloseHandle(inst.handle);
      if (this.#state === 'listening') {
        if (c.error !== E.ERROR_OPERATION_ABORTED) this.emit('error', win32Error(c.error, 'ConnectNamedPipe', this.#path!));
        this.#replenish();
      }
      return;
    }
    // Who the client is (pid, session, and its token's user, groups, elevation, integrity,
    // package and logon session: trust.ts and identity.ts), read now, before admit and
    // 'connection', while the handle is surely this client's.
    const peerSource = new LazyPeer(inst.handle, 'client');
    peerSource.bind(() => true);
    peerSource.get();
    if (++this.#live === this.#o.maxConnections) this.#reachedMax++;
    // A fresh instance waits before this client is even handed out.
    this.#replenish();
    // The slot is free again once the OS handle is closed: in message mode that is the transport's
    // release (same JS turn as CloseHandle, so no instance gap a client could see); in byte mode
    // libuv has closed it by 'close'. Counted once, whichever comes first.
    let counted = true;
    const release = (): void => {
      if (!counted) return;
      counted = false;
      this.#live--;
      this.#replenish();
    };
    const admit = this.#o.admit;
    if (!admit) {
      this.#handOut(inst.handle, peerSource, release);
      return;
    }
    // Ownership: the admission owns the handle until it admits (then the connection does), refuses
    // or close() takes it (both close it).
    const identity = peerSource.get();
    this.#admitting.run(inst.handle, admit, identity, this.#o.admitTimeout, () => this.#state === 'listening', (end) => {
      if (end.kind === 'admitted') {
        this.#handOut(end.client, peerSource, release);
        return;
      }
      release();
      if (end.kind === 'gone' || end.outcome.admitted) return;
      const { outcome } = end;
      this.#refused++;
      this.emit('refused', identity, outcome.reason, ...(outcome.error === undefined ? [] : [outcome.error]));
    });
  }

  /** Wraps a connected (and admitted) instance and hands it out. Ownership: takes `handle`. */
  #handOut(handle: k32.HANDLE, peerSource: LazyPeer, release: () => void): void {
    let conn: PipeConnection;
    try {
      conn = wrap(
        handle,
        this.#o.mode,
        {
          path: this.#path!,
          peerSource,
          readable: this.#o.access !== 'outbound',
          writable: this.#o.access !== 'inbound',
          allowHalfOpen: this.#o.allowHalfOpen,
          maxMessageSize: this.#o.maxMessageSize,
          readAheadBytes: this.#o.readAheadBytes,
          halfClose: this.#o.halfClose,
        },
        release,
      );
    } catch (err) {
      release();
      this.emit('error', err);
      return;
    }
    conn.once('close', release);
    this.deliver(conn);
  }
}

/**
 * `pipeExists` on Windows: asks the pipe file system whether the name has an instance, without
 * opening one, so the server sees no client (a CreateFileW probe would take an instance).
 */
export function windowsPipeExists(path: string): boolean {
  return nameInUse(path);
}

export function createWindowsServer(options: ResolvedServerOptions, listener?: (conn: PipeConnection) => void): PipeServer {
  return new WindowsPipeServer(options, listener);
}

// --- client ------------------------------------------------------------------------------------

/**
 * The pipe path a rendezvous name resolves to (src/windows/rendezvous.ts), or `ENOENT` when no
 * server of ours publishes it.
 */
export function resolveRendezvous(name: string): string {
  validateRendezvousName(name);
  const path = readRendezvous(name);
  if (path === undefined) throw new PipeError({ code: 'ENOENT', syscall: 'connect', path: name, message: `ENOENT: no server publishes the rendezvous name '${name}'` });
  return path;
}

export function windowsConnect(path: string, o: ResolvedConnectOptions): Promise<PipeConnection> {
  if (o.signal?.aborted) return Promise.reject(abortError(o.signal));
  const access =
    o.access === 'read' ? k32.GENERIC_READ | k32.FILE_WRITE_ATTRIBUTES : o.access === 'write' ? k32.GENERIC_WRITE | k32.FILE_READ_ATTRIBUTES : k32.GENERIC_READ | k32.GENERIC_WRITE;
  // Identification only: a server cannot act as this user with our token.
  const flags = k32.FILE_FLAG_OVERLAPPED | k32.SECURITY_SQOS_PRESENT | k32.SECURITY_IDENTIFICATION;
  let serverSession: number | undefined;
  try {
    serverSession = o.serverSession === 'same' ? ownSession() : o.serverSession;
  } catch (err) {
    return Promise.reject(err);
  }
  return openPipe(path, { access, flags, trusted: o.trustedServerOwners, deadline: Date.now() + o.connectTimeout, signal: o.signal, serverSession }).then(({ handle, serverOwnerSid }) =>
    clientConnection(handle, path, o, serverOwnerSid),
  );
}

/**
 * Wraps a client handle that openPipe opened and checked. Ownership: takes `handle`; on every
 * failure (a mode mismatch, anything else) it is closed before the throw.
 */
function clientConnection(handle: k32.HANDLE, path: string, o: ResolvedConnectOptions, serverOwnerSid: string | undefined): PipeConnection {
  try {
    if (o.mode === 'message' && !k32.SetNamedPipeHandleState(handle, [k32.PIPE_READMODE_MESSAGE], null, null)) {
      const e = k32.GetLastError();
      // ERROR_INVALID_PARAMETER: the server's pipe is a byte pipe.
      throw new PipeError({ code: 'EPROTOTYPE', syscall: 'SetNamedPipeHandleState', path, win32Errno: e, message: `EPROTOTYPE: ${path} is not a message-mode pipe` });
    }
  } catch (err) {
    k32.CloseHandle(handle);
    throw err;
  }
  // Ownership: wrap() takes the handle (and closes it if it fails).
  return wrap(handle, o.mode, {
    path,
    serverOwnerSid,
    // The server's pid, session and user, with the owner just checked: one place, trust.ts, read
    // when first asked.
    peerSource: new LazyPeer(handle, 'server', serverOwnerSid),
    readable: o.access !== 'write',
    writable: o.access !== 'read',
    allowHalfOpen: o.allowHalfOpen,
    maxMessageSize: o.maxMessageSize,
    readAheadBytes: o.readAheadBytes,
    halfClose: o.halfClose,
  });
}

// --- message mode ----------------------------------------------------------------------------------

const READ_CHUNK = 64 * 1024;
/** Reads that finished at once, in a row, before the read loop lets the event loop turn. */
const INLINE_READS = 64;
/** Bytes of queued messages copied to native memory together and written back to back. */
const WRITE_BATCH_BYTES = 64 * 1024;

/** One queued message and how to tell its writer. */
interface PendingWrite {
  data: Uint8Array;
  resolve(): void;
  reject(e: unknown): void;
}
/** The largest value of a DWORD parameter (ReadFile/WriteFile lengths). */
const MAX_DWORD = 0xffff_ffff;

/**
 * Whole messages over a PIPE_READMODE_MESSAGE handle with overlapped ReadFile/WriteFile.
 * A message longer than the read buffer arrives as ERROR_MORE_DATA pieces and is reassembled.
 * Ownership: owns `handle`, closed once both slots are idle after destroy().
 */
class WinMessageTransport implements MessageTransport {
  readonly #handle: k32.HANDLE;
  readonly #path: string;
  #max: number;
  readonly #readSlot: OverlappedSlot;
  readonly #writeSlot: OverlappedSlot;
  readonly #readBuf = new NativeBuffer(READ_CHUNK);
  #writeBuf: NativeBuffer | undefined;
  #sink: MessageSink | undefined;
  #wantRead = false;
  #reading = false;
  #writes: PendingWrite[] = [];
  #writing = false;
  #flushed: (() => void)[] = [];
  #destroyed = false;
  #released = false;
  /** True until the handle is closed. */
  get open(): boolean {
    return !this.#released;
  }
  readonly #onRelease: (() => void) | undefined;
  readonly #releasedPromise: Promise<void>;
  #resolveReleased!: () => void;
  /** WriteFile's nNumberOfBytesToWrite is a DWORD: one message is at most 4 GiB - 1. */
  readonly maxSendSize = MAX_DWORD;

  /** `halfClose`: go-winio's zero-byte message ends a direction (see ConnectOptions.halfClose). */
  readonly #halfClose: HalfClose | undefined;
  /** A byte-mode pipe (only with halfClose): chunks, and an empty write is a no-op. */
  readonly #bytes: boolean;

  /** `onRelease` runs right after the handle is closed (the server counts its instances by it). */
  constructor(handle: k32.HANDLE, path: string, maxMessageSize: number, onRelease?: () => void, options?: { halfClose?: HalfClose | undefined; bytes?: boolean }) {
    this.#halfClose = options?.halfClose;
    this.#bytes = options?.bytes ?? false;
    this.#handle = handle;
    this.#path = path;
    this.#max = maxMessageSize;
    this.#onRelease = onRelease;
    this.#releasedPromise = new Promise((resolve) => (this.#resolveReleased = resolve));
    this.#readSlot = new OverlappedSlot(handle);
    this.#writeSlot = new OverlappedSlot(handle);
  }

  start(sink: MessageSink): void {
    this.#sink = sink;
    this.#wantRead = true;
    if (!this.#reading) void this.#readLoop();
  }

  pause(): void {
    this.#wantRead = false;
  }

  setMaxMessageSize(max: number): void {
    this.#max = max;
  }

  send(message: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => this.sendBatch([message], (err) => (err ? reject(err) : resolve())));
  }

  /**
   * A batch of messages (the connection's writev), each still one WriteFile, queued at once so
   * that the write loop copies them together and issues them back to back; one callback at the
   * end. `send` is the batch of one.
   */
  sendBatch(messages: readonly Uint8Array[], callback: (error?: Error | null) => void): void {
    if (this.#destroyed) return callback(new PipeError({ code: 'ERR_PIPE_CLOSED', syscall: 'WriteFile', path: this.#path }));
    let left = messages.length;
    let failed = false;
    const done = (err?: unknown): void => {
      if (failed) return;
      if (err) {
        failed = true;
        callback(err as Error);
      } else if (--left === 0) callback();
    };
    // Checked here too, the one place the length crosses into WriteFile: above 2^32 - 1 it would wrap.
    for (const m of messages) {
      if (m.byteLength > MAX_DWORD) {
        done(new PipeError({ code: 'ERR_MESSAGE_TOO_LARGE', syscall: 'WriteFile', path: this.#path, message: `ERR_MESSAGE_TOO_LARGE: a ${m.byteLength}-byte message exceeds the ${MAX_DWORD}-byte limit of one WriteFile` }));
        return;
      }
    }
    for (const m of messages) {
      // Byte mode: a zero-byte write is a no-op (DESIGN §2); on the wire it would be an end.
      if (this.#bytes && m.byteLength === 0) done();
      else this.#writes.push({ data: m, resolve: done, reject: done });
    }
    if (messages.length === 0) return callback();
    if (!this.#writing && this.#writes.length > 0) void this.#writeLoop();
  }

  #enqueue(message: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#writes.push({ data: message, resolve, reject });
      if (!this.#writing) void this.#writeLoop();
    });
  }

  async end(): Promise<void> {
    if (this.#halfClose === 'zero-message') {
      // go-winio's CloseWrite: one zero-byte WriteFile after everything written (the write queue
      // keeps the order), and the handle stays open, reading, until the peer ends too.
      if (this.#destroyed) return;
      try {
        await this.#enqueue(new Uint8Array(0));
      } catch (err) {
        // The peer already closed: there is no direction left to end.
        if ((err as PipeError).code !== 'EPIPE') throw err;
      }
      return;
    }
    // Named pipes have no half-close: deliver everything, then close; the peer reads it all, then EOF.
    if (this.#writing || this.#writes.length > 0) await new Promise<void>((resolve) => this.#flushed.push(resolve));
    this.#sink?.end();
    this.destroy();
  }

  /** Resolves once the handle is closed (pending I/O cancelled and completed). */
  destroy(): Promise<void> {
    if (this.#destroyed) return this.#releasedPromise;
    this.#destroyed = true;
    for (const w of this.#writes.splice(0)) w.reject(new PipeError({ code: 'ERR_PIPE_CLOSED', syscall: 'WriteFile', path: this.#path }));
    this.#readSlot.cancel();
    this.#writeSlot.cancel();
    this.#releaseIfIdle();
    return this.#releasedPromise;
  }

  ref(): void {
    this.#readSlot.ref(true);
    this.#writeSlot.ref(true);
  }

  unref(): void {
    this.#readSlot.ref(false);
    this.#writeSlot.ref(false);
  }

  /** Closes the handle and frees native memory once no I/O can touch them. */
  #releaseIfIdle(): void {
    if (this.#released || !this.#destroyed || this.#readSlot.busy || this.#writeSlot.busy) return;
    this.#released = true;
    this.#readSlot.free();
    this.#writeSlot.free();
    this.#readBuf.free();
    this.#writeBuf?.free();
    k32.CloseHandle(this.#handle);
    this.#resolveReleased();
    this.#onRelease?.();
  }

  async #readLoop(): Promise<void> {
    this.#reading = true;
    let parts: Buffer[] = [];
    let size = 0;
    let inline = 0;
    try {
      while (this.#wantRead && !this.#destroyed) {
        const buf = this.#readBuf;
        // Never more than one byte past the limit: a message over it is refused (ERROR_MORE_DATA
        // with too many bytes) before the rest of it is read.
        const want = Math.min(buf.size, this.#max - size + 1);
        let c = this.#readSlot.issue('ReadFile', (ov) => k32.ReadFile(this.#handle, buf.ptr, want, null as never, ov));
        // A read that finished at once goes straight on: no promise, no microtask per message.
        // But a peer that keeps the pipe full must not hold the event loop (nor the other
        // connections): after INLINE_READS in a row, the loop yields one turn.
        if (c instanceof Promise) {
          inline = 0;
          c = await c;
        } else if (++inline >= INLINE_READS) {
          inline = 0;
          await new Promise<void>((resolve) => setImmediate(resolve));
          if (this.#destroyed) break;
        }
        if (this.#destroyed) break;
        if (c.error === 0 || c.error === E.ERROR_MORE_DATA) {
          size += c.bytes;
          if (size > this.#max) {
            this.#sink?.error(new PipeError({ code: 'ERR_MESSAGE_TOO_LARGE', syscall: 'ReadFile', path: this.#path, message: `ERR_MESSAGE_TOO_LARGE: a message exceeds maxMessageSize ${this.#max}` }));
            break;
          }
          if (c.error === 0 && size === 0 && this.#halfClose === 'zero-message') {
            // The peer's zero-byte message (go-winio CloseWrite): end of stream. Nothing more is
            // read; the handle stays open for our writes until the connection is done.
            this.#sink?.end();
            break;
          }
          // Byte mode without a zero-byte end: an empty read carries nothing (DESIGN §2: read again).
          if (this.#bytes && c.bytes === 0) continue;
          parts.push(buf.read(c.bytes));
          if (c.error === E.ERROR_MORE_DATA) continue;
          const message = parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
          parts = [];
          size = 0;
          this.#sink?.message(message);
        } else if (isDisconnect(c.error)) {
          this.#sink?.end();
          break;
        } else if (c.error === E.ERROR_OPERATION_ABORTED) {
          break;
        } else {
          this.#sink?.error(win32Error(c.error, 'ReadFile', this.#path));
          break;
        }
      }
    } catch (err) {
      this.#sink?.error(err as Error);
    } finally {
      this.#reading = false;
      this.#releaseIfIdle();
    }
  }

  async #writeLoop(): Promise<void> {
    this.#writing = true;
    let batch: PendingWrite[] = [];
    try {
      while (this.#writes.length > 0 && !this.#destroyed) {
        // Everything queued (up to WRITE_BATCH_BYTES, at least one message) is copied into the
        // native buffer at once, one message after another, and each is one WriteFile from its
        // offset. The loop waits only for a write that went pending: a message that the pipe
        // takes at once costs its WriteFile and no promise.
        let total = 0;
        let n = 0;
        while (n < this.#writes.length && (n === 0 || total + this.#writes[n]!.data.byteLength <= WRITE_BATCH_BYTES)) total += this.#writes[n++]!.data.byteLength;
        batch = this.#writes.splice(0, n);
        if (!this.#writeBuf || this.#writeBuf.size < total) {
          this.#writeBuf?.free();
          this.#writeBuf = new NativeBuffer(Math.max(total, READ_CHUNK));
        }
        const buf = this.#writeBuf;
        let offset = 0;
        for (const w of batch) {
          buf.write(w.data, offset);
          offset += w.data.byteLength;
        }
        offset = 0;
        while (batch.length > 0) {
          if (this.#destroyed) break;
          const w = batch.shift()!;
          const at = buf.ptr + BigInt(offset);
          offset += w.data.byteLength;
          let c: Completion | Promise<Completion>;
          try {
            c = this.#writeSlot.issue('WriteFile', (ov) => k32.WriteFile(this.#handle, at, w.data.byteLength, null as never, ov));
            if (c instanceof Promise) c = await c;
          } catch (err) {
            w.reject(err);
            continue;
          }
          if (c.error === 0) w.resolve();
          else if (isDisconnect(c.error)) w.reject(new PipeError({ code: 'EPIPE', syscall: 'WriteFile', path: this.#path, win32Errno: c.error }));
          else if (c.error === E.ERROR_OPERATION_ABORTED) w.reject(new PipeError({ code: 'ERR_PIPE_CLOSED', syscall: 'WriteFile', path: this.#path }));
          else w.reject(win32Error(c.error, 'WriteFile', this.#path));
        }
      }
    } finally {
      // Destroyed in the middle of a batch: what was not written fails as the queue's rest did.
      for (const w of batch.splice(0)) w.reject(new PipeError({ code: 'ERR_PIPE_CLOSED', syscall: 'WriteFile', path: this.#path }));
      this.#writing = false;
      for (const f of this.#flushed.splice(0)) f();
      this.#releaseIfIdle();
    }
  }
}

/**
 * Whole messages over a connected, overlapped, PIPE_READMODE_MESSAGE pipe handle: the transport
 * the channel layer (winpipe/connection) runs on. Ownership: the transport owns `handle` and closes
 * it once destroyed and idle.
 */
export function messageTransportFromHandle(handle: k32.HANDLE, path: string, maxMessageSize: number): MessageTransport {
  return new WinMessageTransport(handle, path, maxMessageSize);
}
