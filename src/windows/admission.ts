/**
 * Clients whose `admit` check is running, for both stacks on Windows (`createServer` in
 * src/windows/server.ts and the `winpipe/connection` Listener in src/channel/windows.ts): the
 * check runs once the client's identity is known, and a server closing meanwhile closes them.
 */
import { runAdmit, type AdmitFunction, type AdmitOutcome } from '../admit.js';
import type { PeerIdentity } from '../named.js';
import * as k32 from './kernel32.js';

/** How a check ended: admitted (the handle is the caller's), closed here (refused or no longer wanted), or taken by {@link Admissions.closeAll}. */
export type AdmissionEnd = { kind: 'admitted'; handle: k32.HANDLE } | { kind: 'closed'; outcome: AdmitOutcome } | { kind: 'gone' };

/**
 * The running checks of one server.
 *
 * @example
 * ```ts
 * admissions.run(handle, admit, identity, 5000, () => listening, (end) => end.kind === 'admitted' && serve(end.handle));
 * ```
 * Ownership: the admissions own each handle until its check ends (then `done` gets it when it is
 * admitted; otherwise it is closed here) or {@link Admissions.closeAll} closes it.
 */
export class Admissions {
  readonly #running = new Set<{ handle: k32.HANDLE; closed: boolean }>();

  /** Checks running now. */
  get size(): number {
    return this.#running.size;
  }

  /**
   * Runs `admit` for the client on `handle`; `done` runs once when it ends. An admitted client
   * whose server no longer wants it (`wanted()` false) is closed as a refused one is: closing the
   * server end, the client reads end of stream (ERROR_BROKEN_PIPE) and its writes fail.
   */
  run(handle: k32.HANDLE, admit: AdmitFunction, identity: PeerIdentity, timeout: number, wanted: () => boolean, done: (end: AdmissionEnd) => void): void {
    const pending = { handle, closed: false };
    this.#running.add(pending);
    void runAdmit(admit, identity, timeout).then((outcome) => {
      if (pending.closed) {
        done({ kind: 'gone' });
        return;
      }
      this.#running.delete(pending);
      if (!outcome.admitted || !wanted()) {
        pending.closed = true;
        k32.CloseHandle(pending.handle);
        done({ kind: 'closed', outcome });
        return;
      }
      done({ kind: 'admitted', handle: pending.handle });
    });
  }

  /** Closes every client still being checked: nobody will serve them now. */
  closeAll(): void {
    for (const a of this.#running) {
      a.closed = true;
      k32.CloseHandle(a.handle);
    }
    this.#running.clear();
  }
}
