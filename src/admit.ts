/**
 * Admission: the server's `admit(peer)` check, run once a client's identity is known and before
 * the application sees the client (`'connection'`, the async iterator). One place for what both
 * servers share: the time bound, a throwing or rejecting check, and how a refusal is reported.
 */
import type { PeerIdentity } from './named.js';

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
