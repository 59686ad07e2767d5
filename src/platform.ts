/**
 * The platform seam: everything the public modules need from a platform, implemented once in
 * src/windows/platform.ts and once in src/posix/platform.ts, and picked here, once, from
 * `process.platform`. The public modules (src/*.ts) call {@link host} and never ask which
 * platform they run on. The channel (`winpipe/connection`) has its own seam, src/channel/platform.ts.
 */
import type { Backend, RawEnd } from './backend.js';
import type { PipeEnd } from './end.js';
import type { PipeReader } from './reader.js';
import type { PipeWriter } from './writer.js';
import type { PipeInfo } from './list.js';
import type { ResolvedConnectOptions, ResolvedServerOptions } from './options.js';
import type { PipeConnection, PipeServer } from './types.js';
import type { SocketDirs } from './names.js';
import type { UntrustedSeen } from './posix/connect.js';
import type { HandleChild, HandleSource } from './spawn.js';
import { posixPlatform } from './posix/platform.js';
import { windowsPlatform } from './windows/platform.js';

export type { UntrustedSeen } from './posix/connect.js';

/** Where `connect` goes for a name: the path, and (POSIX) the socket directories it was resolved against. */
export interface ConnectTarget {
  readonly path: string;
  readonly dirs: SocketDirs | undefined;
  /**
   * POSIX: our effective uid, read for this call. The first attempt, made in the same tick, checks
   * the directory and the server against it; a waiting connect's later attempts read it again.
   */
  readonly self?: number | undefined;
}

/** One end of a handle channel, as each platform carries ends (see src/handles.ts). */
export interface HandleCore {
  readonly peerPid: number | undefined;
  readonly closed: boolean;
  send(end: PipeEnd, direction: 'r' | 'w', signal: AbortSignal | undefined): Promise<void>;
  receive(signal: AbortSignal | undefined): Promise<PipeReader | PipeWriter | null>;
  close(): void;
  ref(): void;
  unref(): void;
}

/** What `spawnWithHandles` asks of a platform, its arguments already checked. */
export interface SpawnRequest {
  readonly command: string;
  /** The arguments as given, when given as a list: checked before any handle exists. */
  readonly given: readonly string[] | undefined;
  /** The arguments for the values the child uses for the handles (checked again). */
  readonly args: (values: string[]) => string[];
  readonly handles: readonly HandleSource[];
  readonly options: Record<string, unknown>;
  readonly killOnClose: boolean | undefined;
}

/**
 * One platform. Every member may throw or reject with a PipeError; none checks the public
 * arguments again (the public modules did, before any system call).
 */
export interface Platform {
  /** `platform` as exported by winpipe. */
  readonly name: 'windows' | 'posix';
  /** Anonymous pipes and the ends' I/O. */
  readonly pipes: Backend;

  /** A named-pipe server for resolved options (`createServer`). Peer identity comes with each connection. */
  createServer(options: ResolvedServerOptions, listener: ((conn: PipeConnection) => void) | undefined): PipeServer;
  /**
   * The name `connect` was given, as the path it connects to: name→path, and the platform's
   * refusals (Windows: remote names without `allowRemote`, rendezvous names). Throws synchronously.
   */
  connectTarget(name: string, options: ResolvedConnectOptions): ConnectTarget;
  /** One connect attempt (`wait` polls it while it rejects with `ENOENT`). */
  connectOnce(path: string, options: ResolvedConnectOptions, dirs: SocketDirs | undefined, waiting: UntrustedSeen | undefined, self?: number): Promise<PipeConnection>;
  /** Whether someone serves `path` now, without connecting (`pipeExists`). */
  exists(path: string): boolean;
  /** The pipes that can be found without connecting (`listPipes`). */
  listPipes(): PipeInfo[] | Promise<PipeInfo[]>;

  /** The child of `spawnWithHandles`. */
  spawn(request: SpawnRequest): HandleChild;
  /** Windows: a handle source must carry its HANDLE (a bigint) besides its fd. */
  readonly spawnNeedsHandle: boolean;

  /** `adoptEnd`: the smallest value that can name an end (Windows: NULL is not a handle). */
  readonly minAdoptValue: number;
  /** `adoptEnd`: an end for a value of this process. Ownership: the returned end owns the value. */
  adopt(value: bigint, direction: 'r' | 'w'): { backend: Backend; raw: RawEnd };

  /** The mode a handle channel's connection uses (Windows: message, one end per message). */
  readonly handleChannelMode: 'byte' | 'message';
  /**
   * A handle channel from a connection made in this turn of the event loop; `peerPid` is the other
   * side's pid. Ownership: the core owns what was the connection.
   */
  handleCore(conn: PipeConnection, peerPid: number | undefined): HandleCore;
}

/**
 * The platform this process runs on, picked once at load.
 *
 * @example
 * ```ts
 * import { host } from './platform.js';
 * const server = host.createServer(resolveServerOptions({ mode: 'message' }), (conn) => conn.end());
 * ```
 */
export const host: Platform = process.platform === 'win32' ? windowsPlatform : posixPlatform;
