/**
 * Admission: the server's `admit(peer)` check, run once a client's identity is known and before
 * the application sees the client (`'connection'`, the async iterator). One place for what every
 * server shares: the time bound, a throwing or rejecting check, how a refusal is reported, and
 * the clients whose check is running ({@link Admissions}).
 */
import type { PeerIdentity } from './types.js';

/**
 * Decides whether a client may be handed to the application, from what the OS says about it
 * ({@link PeerIdentity}; a field the platform or the client's token does not give is absent, so
 * check for it). Resolve `true` to admit; `false`, a throw, a rejection, or no answer within
 * `admitTimeout` refuses: the client is disconnected (it reads end of stream or `ECONNRESET`).
 *
 * @example
 * ```ts
 * createServer({ admit: (peer) => peer.uid === 1000 || peer.sid === allowedSid });
 * ```
 */
export type AdmitFunction = (peer: PeerIdentity) => boolean | Promise<boolean>;

/** Why a client was refused: `admit` said no, did not answer in time, or threw. */
export type AdmitRefusal = 'denied' | 'timeout' | 'error';

/** The default `admitTimeout`, in ms. */
export const DEFAULT_ADMIT_TIMEOUT = 5000;

/** The process warning code for an `admit` that threw or rejected. */
export const ADMIT_WARNING = 'WINPIPE_ADMIT_FAILED';

export type AdmitOutcome = { admitted: true } | { admitted: false; reason: AdmitRefusal; error?: unknown };

/**
 * Runs `admit(peer)` with a time bound. Never rejects; a throw or rejection is an `'error'`
 * refusal and is also reported as a process warning (code {@link ADMIT_WARNING}), since it is a
 * bug in the check, not a decision. Only `true` admits (a truthy non-boolean does not).
 */
export function runAdmit(admit: AdmitFunction, peer: PeerIdentity, timeoutMs: number): Promise<AdmitOutcome> {
  const failed = (error: unknown): AdmitOutcome => {
    const warning = Object.assign(new Error(`admit() failed, so the client was refused: ${error instanceof Error ? error.message : String(error)}`, { cause: error }), {
      name: 'WinpipeAdmitWarning',
      code: ADMIT_WARNING,
    });
    // An Error's own name and code are what Node's warning carries (options are ignored for one).
    process.emitWarning(warning);
    return { admitted: false, reason: 'error', error };
  };
  let answer: boolean | Promise<boolean>;
  try {
    answer = admit(peer);
  } catch (err) {
    return Promise.resolve(failed(err));
  }
  if (!(answer instanceof Promise) && (typeof answer !== 'object' || answer === null || typeof (answer as { then?: unknown }).then !== 'function')) {
    return Promise.resolve(answer === true ? { admitted: true } : { admitted: false, reason: 'denied' });
  }
  return new Promise<AdmitOutcome>((resolve) => {
    // Unref'd: a pending check does not keep the process alive by itself (the server does).
    const timer = setTimeout(() => resolve({ admitted: false, reason: 'timeout' }), timeoutMs);
    timer.unref();
    Promise.resolve(answer).then(
      (ok) => {
        clearTimeout(timer);
        resolve(ok === true ? { admitted: true } : { admitted: false, reason: 'denied' });
      },
      (err: unknown) => {
        clearTimeout(timer);
        resolve(failed(err));
      },
    );
  });
}

/**
 * How a check run by {@link Admissions} ended: admitted (the client is the caller's again), closed
 * there (refused, or no longer `wanted`, which says which), or taken by {@link Admissions.closeAll}.
 */
export type AdmissionEnd<T> = { kind: 'admitted'; client: T } | { kind: 'closed'; outcome: AdmitOutcome; wanted: boolean } | { kind: 'gone' };

/**
 * The clients of one server whose check is running, for every server (`createServer` and the
 * `winpipe/connection` Listener, both platforms). A client is a Windows pipe handle or a
 * `net.Socket`; `close` is how one is closed (the client reads end of stream, its writes fail).
 *
 * @example
 * ```ts
 * const admissions = new Admissions<net.Socket>((s) => s.destroy());
 * admissions.run(socket, admit, identity, 5000, () => listening, (end) => end.kind === 'admitted' && serve(end.client));
 * ```
 * Ownership: the admissions own each client until its check ends (then `done` gets it back when it
 * is admitted and still wanted; otherwise it is closed here) or {@link Admissions.closeAll} closes it.
 */
export class Admissions<T> {
  readonly #running = new Set<{ client: T; closed: boolean }>();
  readonly #close: (client: T) => void;

  constructor(close: (client: T) => void) {
    this.#close = close;
  }

  /** Checks running now (they count toward the server's bound). */
  get size(): number {
    return this.#running.size;
  }

  /** Runs `admit` for `client`; `done` runs once when it ends, unless {@link Admissions.closeAll} took the client (then `gone`). */
  run(client: T, admit: AdmitFunction, identity: PeerIdentity, timeout: number, wanted: () => boolean, done: (end: AdmissionEnd<T>) => void): void {
    const pending = { client, closed: false };
    this.#running.add(pending);
    void runAdmit(admit, identity, timeout).then((outcome) => {
      if (pending.closed) {
        done({ kind: 'gone' });
        return;
      }
      this.#running.delete(pending);
      const want = wanted();
      if (!outcome.admitted || !want) {
        pending.closed = true;
        this.#close(pending.client);
        done({ kind: 'closed', outcome, wanted: want });
        return;
      }
      done({ kind: 'admitted', client: pending.client });
    });
  }

  /** Closes every client still being checked: nobody will serve them now. */
  closeAll(): void {
    for (const a of this.#running) {
      a.closed = true;
      this.#close(a.client);
    }
    this.#running.clear();
  }
}
