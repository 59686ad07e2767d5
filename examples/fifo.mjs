// A FIFO between this process and a shell: `cat` writes into it, we read until end of file.
// POSIX only (Windows has no FIFOs; use a named pipe).
// readme-test: {"platform": "posix"}
//
//   npm run build && node examples/fifo.mjs
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFifo, openFifo } from 'winpipe';

const dir = mkdtempSync(join(tmpdir(), 'winpipe-fifo-'));
const path = join(dir, 'events.fifo');
createFifo(path); // mode 0o600

// The reader waits for a writer without blocking the event loop.
const reading = openFifo(path, 'r', { signal: AbortSignal.timeout(10_000) });
const timer = setInterval(() => console.log('(the event loop keeps running while we wait)'), 200);
setTimeout(() => spawn('sh', ['-c', 'printf "line 1\\nline 2\\n" > "$1"', 'sh', path], { stdio: 'inherit' }), 500);
const reader = await reading;
clearInterval(timer);
let chunk;
while ((chunk = await reader.read()).length > 0) process.stdout.write(`read: ${chunk}`);
console.log('end of file: the last writer closed');
reader.close();
rmSync(dir, { recursive: true, force: true });
