/**
 * `createPipe()`: an anonymous OS pipe as a pair of {@link PipeReader} / {@link PipeWriter} ends.
 */
import type { Backend } from './backend.js';
import { PipeReader } from './reader.js';
import { PipeWriter } from './writer.js';
import { invalidArgValue } from './errors.js';
import { validateInteger, validateObject } from './validate.js';

/** Options for {@link createPipe}. */
export interface CreatePipeOptions {
  /**
   * Buffer size hint in bytes. Windows: `CreatePipe`'s `nSize`, at least 4096 (one page, as on
   * Linux), because Windows honours a tiny size and writes larger than it block until read.
   * Linux: `F_SETPIPE_SZ` on the new pipe, best effort: above `/proc/sys/fs/pipe-max-size`
   * (1 MiB by default) an unprivileged process keeps the default 64 KiB. Without `size`, a Linux
   * pipe starts at the default and grows to 1 MiB when a stream, `read()` or `write()` starts on
   * one of its ends, as long as this process has grown less than an eighth of the user's
   * `pipe-user-pages-soft` (past that limit the kernel gives every new pipe of the user 8 KiB).
   * macOS: ignored.
   */
  size?: number;
  /**
   * Which ends child processes inherit: `false` (default), `true` (both), `'reader'` or
   * `'writer'`. Not needed to pass an end in `spawn`'s `stdio`; see {@link PipeEnd.inheritable}.
   */
  inheritable?: boolean | 'reader' | 'writer';
}

/**
 * The two ends of an anonymous pipe, by name or by position: `const [reader, writer] = createPipe()`
 * types `reader` as a {@link PipeReader} and `writer` as a {@link PipeWriter} (TypeScript reads the
 * element types from `0` and `1`).
 */
export interface Pipe extends Iterable<PipeReader | PipeWriter> {
  readonly reader: PipeReader;
  readonly writer: PipeWriter;
  /** The reader, as `reader`. */
  readonly 0: PipeReader;
  /** The writer, as `writer`. */
  readonly 1: PipeWriter;
  [Symbol.iterator](): Iterator<PipeReader | PipeWriter>;
  /** Closes both ends. */
  [Symbol.dispose](): void;
}

const dispose: typeof Symbol.dispose = Symbol.dispose ?? Symbol.for('nodejs.dispose');

/** One class for every pair: methods on the prototype, not two fresh closures per pair. */
class PipePair implements Pipe {
  constructor(
    readonly reader: PipeReader,
    readonly writer: PipeWriter,
  ) {}

  get 0(): PipeReader {
    return this.reader;
  }

  get 1(): PipeWriter {
    return this.writer;
  }

  *[Symbol.iterator](): Iterator<PipeReader | PipeWriter> {
    yield this.reader;
    yield this.writer;
  }

  [dispose](): void {
    this.reader.close();
    this.writer.close();
  }
}

/** @internal The platform-independent part of createPipe; index.ts passes the backend. */
export function createPipeWith(backend: Backend, options?: CreatePipeOptions): Pipe {
  validateObject(options, 'options');
  const size = options?.size;
  if (size !== undefined) validateInteger(size, 'options.size', 1, 0x7fff_ffff);
  const inheritable = options?.inheritable ?? false;
  if (inheritable !== false && inheritable !== true && inheritable !== 'reader' && inheritable !== 'writer') {
    throw invalidArgValue('options.inheritable', inheritable, "must be a boolean, 'reader' or 'writer'");
  }

  const [r, w] = backend.createPipe(size);
  // Ownership: each end object now owns its raw end and closes it once.
  const reader = new PipeReader(backend, r);
  const writer = new PipeWriter(backend, w, backend.pairSharesIdentity ? reader : undefined);
  try {
    if (inheritable === true || inheritable === 'reader') reader.inheritable = true;
    if (inheritable === true || inheritable === 'writer') writer.inheritable = true;
  } catch (err) {
    reader.close();
    writer.close();
    throw err;
  }
  return new PipePair(reader, writer);
}
