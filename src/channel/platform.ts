/**
 * The channel's platform seam: what `winpipe/connection` needs from a platform, implemented once
 * in src/channel/windows.ts and once in src/channel/posix.ts, and picked here, once.
 */
import type { ServerConnectionStats } from '../types.js';
import type { AdmitFunction } from '../admit.js';
import type { Connection, PendingConnection } from './connection.js';
import { posixChannel } from './posix.js';
import { windowsChannel } from './windows.js';

/** The clients of one Listener before their handshake. */
export interface ListenerBackend {
  readonly address: string;
  next(): Promise<PendingConnection>;
  /** Forgets every pending `next()` (they never settle); a client that comes later is queued. */
  withdraw(): void;
  close(): void;
  stats(): ServerConnectionStats;
}

export interface ListenSpec {
  backlog: number;
  maxMessageSize: number;
  maxPending: number;
  /** With an authkey: nothing longer than this is read before the handshake is done. */
  handshakeMax: number | undefined;
  /** Run for each client before it is queued for accept() (and before its handshake). */
  admit: AdmitFunction | undefined;
  admitTimeout: number;
}

export interface ConnectSpec {
  maxMessageSize: number;
  trustedServerOwners: 'any' | readonly string[];
  allowServerUids: readonly number[];
  handshakeMax: number | undefined;
}

export interface ChannelPlatform {
  /** Checks a CPython address and returns it as used; `listener`: one this process may create. */
  address(given: string, listener: boolean): string;
  /** `Pipe()`. Ownership: each connection owns its end. */
  pipe(duplex: boolean, maxMessageSize: number): [Connection, Connection];
  /** `Connection.fromFd`. */
  fromFd(fd: number, readable: boolean, writable: boolean, maxMessageSize: number): Connection;
  /** A Listener at `address` (already checked), or at a fresh address when it is undefined. */
  listen(address: string | undefined, spec: ListenSpec): ListenerBackend;
  /** Connects to a Listener at `address` (already checked). */
  connect(address: string, spec: ConnectSpec): Promise<PendingConnection>;
}

export const platform: ChannelPlatform = process.platform === 'win32' ? windowsChannel : posixChannel;
