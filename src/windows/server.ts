/**
 * Windows named pipes: CreateNamedPipeW + overlapped ConnectNamedPipe. (Being implemented.)
 */
import { PipeError } from '../errors.js';
import type { PipeConnection, PipeServer, ResolvedConnectOptions, ResolvedServerOptions } from '../named.js';

export function createWindowsServer(_options: ResolvedServerOptions, _listener?: (conn: PipeConnection) => void): PipeServer {
  throw new PipeError({ code: 'ERR_UNSUPPORTED_PLATFORM', syscall: 'createServer' });
}

export function windowsConnect(_path: string, _options: ResolvedConnectOptions): Promise<PipeConnection> {
  return Promise.reject(new PipeError({ code: 'ERR_UNSUPPORTED_PLATFORM', syscall: 'connect' }));
}
