/**
 * The `authkey` handshake of CPython's `multiprocessing.connection`, both directions, both wire
 * forms:
 *
 * - legacy (Python <= 3.11): the challenge is 20 random bytes and the answer is the raw 16-byte
 *   HMAC-MD5 of them;
 * - modern (Python >= 3.12): the challenge is `{sha256}` + 40 random bytes and the answer is
 *   `{sha256}` + HMAC-SHA256 of the whole challenge (prefix included, so it cannot be downgraded).
 *
 * As CPython 3.12 does, we challenge in the modern form and accept either kind of answer (a 3.11
 * peer answers any challenge with raw HMAC-MD5 of all of it), and we answer whichever form of
 * challenge arrives. Every message is one channel message (`#CHALLENGE#...`, the digest,
 * `#WELCOME#` / `#FAILURE#`).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { PipeError, isPipeError } from '../errors.js';

/** The two operations the handshake needs: one whole message out, one whole message in. */
export interface HandshakeIO {
  sendBytes(data: Uint8Array): Promise<void>;
  /** Rejects (`ERR_MESSAGE_TOO_LARGE`) for a message longer than `maxLength`. */
  recvBytes(maxLength: number): Promise<Buffer>;
}

const CHALLENGE = Buffer.from('#CHALLENGE#');
const WELCOME = Buffer.from('#WELCOME#');
const FAILURE = Buffer.from('#FAILURE#');
/** Random bytes in a modern challenge (CPython's MESSAGE_LENGTH, which must stay above 20). */
const MESSAGE_LENGTH = 40;
/** A legacy challenge is exactly this long; a legacy answer is an MD5 digest (16 bytes). */
const MD5ONLY_MESSAGE_LENGTH = 20;
const MD5_DIGEST_LENGTH = 16;
/** CPython reads every handshake message with `recv_bytes(256)`: larger is a protocol error. */
const MAX_HANDSHAKE_MESSAGE = 256;

/** CPython's `_ALLOWED_DIGESTS`, mapped to Node's hash names. */
const DIGESTS: Readonly<Record<string, string>> = {
  md5: 'md5',
  sha256: 'sha256',
  sha384: 'sha384',
  sha3_256: 'sha3-256',
  sha3_384: 'sha3-384',
};
const MAX_DIGEST_NAME = Math.max(...Object.keys(DIGESTS).map((d) => d.length));

function authError(reason: string, cause?: unknown): PipeError {
  return new PipeError({ code: 'ERR_AUTHENTICATION', syscall: 'handshake', message: `ERR_AUTHENTICATION: ${reason}`, cause });
}

/**
 * `[digestName, payload]` of a challenge or answer; `''` means the legacy form (MD5, no prefix).
 * The same rule as CPython's `_get_digest_name_and_payload`: 16 or 20 bytes is legacy, anything
 * else must start with an allowed `{digest}`.
 */
function digestNameAndPayload(message: Buffer): [string, Buffer] {
  if (message.length === MD5ONLY_MESSAGE_LENGTH || message.length === MD5_DIGEST_LENGTH) return ['', message];
  if (message[0] === 0x7b /* { */) {
    const curly = message.indexOf(0x7d /* } */, 1);
    if (curly > 1 && curly <= MAX_DIGEST_NAME + 1) {
      const name = message.subarray(1, curly).toString('latin1');
      if (Object.hasOwn(DIGESTS, name)) return [name, message.subarray(curly + 1)];
    }
  }
  throw authError(`unsupported message length (${message.length}), missing digest prefix, or unsupported digest`);
}

function hmac(digest: string, key: Buffer, data: Buffer): Buffer {
  try {
    return createHmac(DIGESTS[digest]!, key).update(data).digest();
  } catch (err) {
    // A Node built without MD5 (FIPS) cannot speak the legacy form.
    throw authError(`HMAC-${digest} is not available in this Node`, err);
  }
}

/** The answer to `message` (a challenge without its `#CHALLENGE#` prefix). */
export function createResponse(key: Buffer, message: Buffer): Buffer {
  const [digest] = digestNameAndPayload(message);
  // Legacy challenge: the raw HMAC-MD5, no prefix; that is all a 3.11 challenger accepts.
  if (!digest) return hmac('md5', key, message);
  return Buffer.concat([Buffer.from(`{${digest}}`, 'latin1'), hmac(digest, key, message)]);
}

/** Throws ERR_AUTHENTICATION unless `response` is a valid answer to our challenge `message`. */
export function verifyResponse(key: Buffer, message: Buffer, response: Buffer): void {
  const [digest, mac] = digestNameAndPayload(response);
  // An unprefixed 16-byte answer is a legacy peer's HMAC-MD5 of the whole challenge. The MAC
  // covers our `{sha256}` prefix too, so a peer cannot pick a weaker digest than that by lying.
  const expected = hmac(digest || 'md5', key, message);
  if (expected.length !== mac.length || !timingSafeEqual(expected, mac)) throw authError('digest received was wrong');
}

async function recvHandshake(io: HandshakeIO): Promise<Buffer> {
  try {
    return await io.recvBytes(MAX_HANDSHAKE_MESSAGE);
  } catch (err) {
    if (isPipeError(err) && err.code === 'ERR_MESSAGE_TOO_LARGE') throw authError('handshake message longer than 256 bytes', err);
    throw err;
  }
}

/**
 * The challenging side (a Listener's first step, a Client's second): sends `{sha256}` + 40 random
 * bytes and checks the answer. On a wrong answer tells the peer `#FAILURE#`, then throws.
 */
export async function deliverChallenge(io: HandshakeIO, key: Buffer): Promise<void> {
  const message = Buffer.concat([Buffer.from('{sha256}'), randomBytes(MESSAGE_LENGTH)]);
  await io.sendBytes(Buffer.concat([CHALLENGE, message]));
  const response = await recvHandshake(io);
  try {
    verifyResponse(key, message, response);
  } catch (err) {
    // Best effort: the peer learns why; our own error is the one that matters.
    await io.sendBytes(FAILURE).catch(() => {});
    throw err;
  }
  await io.sendBytes(WELCOME);
}

/** The answering side (a Client's first step, a Listener's second). */
export async function answerChallenge(io: HandshakeIO, key: Buffer): Promise<void> {
  const received = await recvHandshake(io);
  if (!received.subarray(0, CHALLENGE.length).equals(CHALLENGE)) throw authError('protocol error: expected #CHALLENGE#');
  const message = received.subarray(CHALLENGE.length);
  if (message.length < MD5ONLY_MESSAGE_LENGTH) throw authError(`challenge too short: ${message.length} bytes`);
  await io.sendBytes(createResponse(key, message));
  const verdict = await recvHandshake(io);
  if (!verdict.equals(WELCOME)) throw authError('digest sent was rejected');
}

/** The whole handshake as CPython's Listener.accept runs it: challenge first, then answer. */
export async function serverHandshake(io: HandshakeIO, key: Buffer): Promise<void> {
  await deliverChallenge(io, key);
  await answerChallenge(io, key);
}

/** The whole handshake as CPython's Client runs it: answer first, then challenge. */
export async function clientHandshake(io: HandshakeIO, key: Buffer): Promise<void> {
  await answerChallenge(io, key);
  await deliverChallenge(io, key);
}
