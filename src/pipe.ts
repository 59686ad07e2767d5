/**
 * `createPipe()`: an anonymous OS pipe as a pair of {@link PipeReader} / {@link PipeWriter} ends.
 */
import type { Backend } from './backend.js';
import { PipeReader, PipeWriter } from './end.js';
import { invalidArgValue } from './errors.js';
import { validateInteger, validateObject } from './validate.js';

/** Options for {@link createPipe}. */
export interface CreatePipeOptions {
  /**
   * Buffer size hint in bytes. Windows: `CreatePipe`'s `nSize`, at least 4096 (one page, as on
   * Linux), because Windows honours a tiny size and writes larger than it block until read.
   * Linux: `F_SETPIPE_SZ` on the new pipe, best effort: above `/proc/sys/fs/pipe-max-size`
   * (1 MiB by default) an unprivileged process keeps the default 64 KiB. macOS: ignored.
   */
  size?: number;
  /**
   * Which ends child processes inherit: `false` (default), `true` (both), `'reader'` or
   * `'writer'`. Not needed to pass an end in `spawn`'s `stdio`; see {@link PipeEnd.inheritable}.
   */
  inheritable?: boolean | 'reader' | 'writer';
}

/** The two ends of an anonymous pipe. Also iterable: `const [reader, writer] = createPipe()`. */
export interface Pipe extends Iterable<PipeReader | PipeWriter> {
  readonly reader: PipeReader;
  readonly writer: PipeWriter;
  [Symbol.iterator](): Iterator<PipeReader | PipeWriter>;
  /** Closes both ends. */
  [Symbol.dispose](): void;
}

const INHERITABLE_VALUES = [false, true, 'reader', 'writer'] as const;

/** @internal The platform-independent part of createPipe; index.ts passes the backend. */
export function createPipeWith(backend: Backend, options?: CreatePipeOptions): Pipe {
  validateObject(options, 'options');
  const size = options?.size;
  if (size !== undefined) validateInteger(size, 'options.size', 1, 0x7fff_ffff);
  const inheritable = options?.inheritable ?? false;
  if (!INHERITABLE_VALUES.includes(inheritable)) {
    throw invalidArgValue('options.inheritable', inheritable, "must be a boolean, 'reader' or 'writer'");
  }

  const [r, w] = backend.createPipe(size);
  // Ownership: each end object now owns its raw end and closes it once.
  const reader = new PipeReader(backend, r);
  const writer = new PipeWriter(backend, w);
  try {
    if (inheritable === true || inheritable === 'reader') reader.inheritable = true;
    if (inheritable === true || inheritable === 'writer') writer.inheritable = true;
  } catch (err) {
    reader.close();
    writer.close();
    throw err;
  }
  return {
    reader,
    writer,
    *[Symbol.iterator]() {
      yield reader;
      yield writer;
    },
    [Symbol.dispose ?? Symbol.for('nodejs.dispose')]() {
      reader.close();
      writer.close();
    },
  } as Pipe;
}
