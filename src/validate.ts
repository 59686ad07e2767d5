/**
 * Argument checks that run before any system call. Each throws the same error Node's own APIs
 * would throw for the same mistake.
 */
import { invalidArgType, invalidArgValue, outOfRange } from './errors.js';

export function validateObject(value: unknown, name: string): void {
  if (value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value))) {
    throw invalidArgType(name, 'of type object', value);
  }
}

export function validateInteger(value: unknown, name: string, min: number, max: number): asserts value is number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value);
  if (value < min || value > max) throw outOfRange(name, `>= ${min} && <= ${max}`, value);
}

export function validateBoolean(value: unknown, name: string): asserts value is boolean {
  if (typeof value !== 'boolean') throw invalidArgType(name, 'of type boolean', value);
}

export function validateBuffer(value: unknown, name: string): asserts value is ArrayBufferView {
  if (!ArrayBuffer.isView(value)) throw invalidArgType(name, 'an instance of Buffer, TypedArray, or DataView', value);
}

export function validateAbortSignal(value: unknown, name: string): asserts value is AbortSignal | undefined {
  if (value !== undefined && !(value instanceof AbortSignal)) throw invalidArgType(name, 'an instance of AbortSignal', value);
}

export function validateOneOf<T>(value: unknown, name: string, allowed: readonly T[]): asserts value is T {
  if (!allowed.includes(value as T)) {
    throw invalidArgValue(name, value, `must be one of: ${allowed.map((a) => JSON.stringify(a)).join(', ')}`);
  }
}

/** Largest single read or write, in bytes. ReadFile/WriteFile take a DWORD; 2 GiB - 1 keeps `int` safe everywhere. */
export const MAX_IO = 0x7fff_ffff;

/**
 * Resolves `(buffer, offset?, length?)` the way `fs.readSync` does, as a byte view.
 * Throws before any system call on a bad buffer, offset or length.
 */
export function byteRange(buffer: unknown, offset: unknown, length: unknown): Uint8Array {
  validateBuffer(buffer, 'buffer');
  const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const off = offset ?? 0;
  validateInteger(off, 'offset', 0, bytes.byteLength);
  const len = length ?? bytes.byteLength - off;
  validateInteger(len, 'length', 0, Math.min(bytes.byteLength - off, MAX_IO));
  return bytes.subarray(off, off + len);
}
