/**
 * Windows named-pipe servers (`createServer`): instances from `CreateNamedPipeW`, accepted with
 * an overlapped `ConnectNamedPipe` (src/windows/instance.ts). Clients are in src/windows/client.ts.
 *
 * Accepts are event-driven (src/windows/overlapped.ts): no thread of any pool waits for a
 * client. A connected byte-mode instance is handed to libuv as a `net.Socket` (an overlapped
 * handle, so libuv drives it through its IOCP at full speed). Message mode needs message reads,
 * which libuv cannot do (it forces PIPE_READMODE_BYTE), so it runs on our transport (src/windows/transport.ts).
 */
import { PipeError, WIN32_ERRORS, invalidArgValue, win32Error } from '../errors.js';
import { AcceptPool, acceptedClient, nameInUse, type InstanceSpec, type WaitingInstance } from './instance.js';
import { PipeServerBase } from '../server.js';
import { Admissions } from '../admit.js';
import type { ResolvedServerOptions } from '../options.js';
import type { ServerConnectionStats, PipeConnection, PipeServer } from '../types.js';
import { isRemotePipePath, pipePath } from '../names.js';
import { wrap } from './connection.js';
import * as k32 from './kernel32.js';
import type { Completion } from './overlapped.js';
import { SecurityAttributes, readSecurity } from './security.js';
import { LazyPeer } from './trust.js';
import { publishRendezvous, randomPipePath, removeRendezvous, validateRendezvousName } from './rendezvous.js';

const E = WIN32_ERRORS;

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
  readonly #pending: AcceptPool;
  /** Connections handed out plus clients whose `admit` check is running. */
  #live = 0;
  /** Clients whose `admit` check is running, with their handles: close() closes them. */
  readonly #admitting = new Admissions<k32.HANDLE>((handle) => k32.CloseHandle(handle));
  /** Clients `admit` refused. */
  #refused = 0;
  /** How many times #live reached maxConnections. */
  #reachedMax = 0;
  #closed: Promise<void> | undefined;

  constructor(options: ResolvedServerOptions, listener?: (conn: PipeConnection) => void) {
    super(listener);
    const o = (this.#o = options);
    // Keeps `pendingInstances` accepts outstanding, within `maxInstances` and `maxConnections`.
    // Never stops silently: while the OS refuses for now (an instance we let go still counts) it
    // retries on a timer; when the server cannot go on (another party serves the name in the gap,
    // or CreateNamedPipeW fails with nothing left to accept on) it emits 'error' and closes, so
    // `listening` turns false.
    this.#pending = new AcceptPool(
      (inst, c) => this.#onConnect(inst, c),
      {
        waiting: o.pendingInstances,
        cap: o.maxInstances === 'unlimited' ? o.maxConnections : Math.min(o.maxInstances, o.maxConnections),
        live: () => this.#live,
        running: () => this.#state === 'listening' || this.#state === 'starting',
        spec: (exclusive) => this.#spec(exclusive),
        // A byte-mode instance goes to libuv once connected, whose port must be able to take it.
        // (With halfClose, byte mode runs on our transport too, so it joins our port.)
        slot: { port: o.mode === 'message' || o.halfClose !== undefined },
        guardGap: true,
        askAtGap: o.firstInstance,
        notNow: 'retry',
        fail: (err) => this.#cannotGoOn(err),
      },
      true,
    );
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
      this.#pending.start();
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
    this.#pending.cancel(false);
    this.#admitting.closeAll();
    this.#closed = this.#pending.settled().then(() => {
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
    this.#pending.ref(true);
    return this;
  }

  unref(): this {
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
   * The instance to create. `exclusive` (the listen itself, and the gap where no instance of ours
   * exists) asks for the name's first instance where `firstInstance` wants it.
   */
  #spec(exclusive: boolean): InstanceSpec {
    const o = this.#o;
    const access = o.access === 'inbound' ? k32.PIPE_ACCESS_INBOUND : o.access === 'outbound' ? k32.PIPE_ACCESS_OUTBOUND : k32.PIPE_ACCESS_DUPLEX;
    const openMode = access | k32.FILE_FLAG_OVERLAPPED | (exclusive && o.firstInstance ? k32.FILE_FLAG_FIRST_PIPE_INSTANCE : 0);
    // halfClose in byte mode: a message-type pipe read in byte mode, as go-winio's listener with
    // PipeConfig.MessageMode: only a message-type pipe carries a zero-byte write to the reader
    // (go-winio pipe.go, PipeConfig.MessageMode); in byte read mode a read may span messages.
    const type = o.mode === 'message' ? k32.PIPE_TYPE_MESSAGE | k32.PIPE_READMODE_MESSAGE : o.halfClose ? k32.PIPE_TYPE_MESSAGE | k32.PIPE_READMODE_BYTE : k32.PIPE_TYPE_BYTE | k32.PIPE_READMODE_BYTE;
    const pipeMode = type | k32.PIPE_WAIT | (o.rejectRemoteClients ? k32.PIPE_REJECT_REMOTE_CLIENTS : 0);
    const max = o.maxInstances === 'unlimited' ? k32.PIPE_UNLIMITED_INSTANCES : o.maxInstances;
    return { path: this.#path!, openMode, pipeMode, maxInstances: max, outBufferSize: o.outBufferSize, inBufferSize: o.inBufferSize, security: this.#security!.bytes };
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
        this.#pending.replenish();
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
    this.#pending.replenish();
    // The slot is free again once the OS handle is closed: in message mode that is the transport's
    // release (same JS turn as CloseHandle, so no instance gap a client could see); in byte mode
    // libuv has closed it by 'close'. Counted once, whichever comes first.
    let counted = true;
    const release = (): void => {
      if (!counted) return;
      counted = false;
      this.#live--;
      this.#pending.replenish();
    };
    const admit = this.#o.admit;
    if (!admit) {
      this.#handOut(inst.handle, peerSource, release);
      return;
    }
    // Ownership: the admission owns the handle until it admits (then the connection does), refuses
    // or close() takes it (both close it).
    const identity = peerSource.get();
    this.#admitting.run(
      inst.handle,
      admit,
      identity,
      this.#o.admitTimeout,
      () => this.#state === 'listening',
      (end) => {
        if (end.kind === 'admitted') {
          this.#handOut(end.client, peerSource, release);
          return;
        }
        release();
        if (end.kind === 'gone' || end.outcome.admitted) return;
        const { outcome } = end;
        this.#refused++;
        this.emit('refused', identity, outcome.reason, ...(outcome.error === undefined ? [] : [outcome.error]));
      },
    );
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
