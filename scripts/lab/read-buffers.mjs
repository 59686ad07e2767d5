#!/usr/bin/env node
// What a pipe read stream's buffers cost (Linux): a child writes 1 GiB into a 1 MiB pipe, and this
// process reads it through a net.Socket with `onread`, as createReadStream does, with the read
// buffers chosen in five ways, interleaved over several runs:
//
//   stream     createReadStream as shipped: a fresh buffer whenever a chunk keeps the last one
//   ring:<N>   N buffers of 1 MiB used in turn (nothing fresh, but N MiB of memory between uses)
//   reuse      one 1 MiB buffer for every read (what C's and readSync's loops do)
//   notrim     `stream` again, in a process where glibc keeps freed memory instead of returning it
//              to the kernel (GLIBC_TUNABLES mmap_threshold 32 MiB, trim_threshold 256 MiB)
//
// `ring` and `reuse` hand the consumer a buffer that the next reads overwrite, which a Readable
// must never do (a consumer may keep any chunk): they are here only to measure what fresh memory
// costs. Each run is a process of its own. Prints the median MiB/s and the reading process's CPU
// seconds per GiB for each, and each one's ratio to `stream`.
//
//   npm run build && node scripts/lab/read-buffers.mjs [--runs=7] [--chunk=65536] [--strategies=stream,ring:16,ring:64,reuse,notrim]
// (docs/decisions/posix-pipe-read-buffers.md)
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const arg = (n, d) => process.argv.find((a) => a.startsWith(`--${n}=`))?.slice(n.length + 3) ?? d;
const runs = Number(arg('runs', 7));
const chunk = Number(arg('chunk', 65536));
const strategies = arg('strategies', 'stream,ring:16,ring:64,reuse,notrim').split(',');
const one = arg('one');
const MiB = 1 << 20;
const total = 1024 * MiB;
const childScript = path.join(here, '..', 'bench', 'child.mjs');
const { createPipe } = await import(new URL('../../dist/esm/index.js', import.meta.url).href);

if (process.platform !== 'linux') {
  console.log('Linux only: the pipe size and the costs measured are Linux ones');
  process.exit(0);
}

/** 64 bytes into the allocation, as src/end-socket.ts does (4 KiB aliasing in the kernel's copy). */
const buffer = (size) => Buffer.allocUnsafeSlow(size + 64).subarray(64);

function readable(reader, strategy) {
  if (strategy === 'stream' || strategy === 'notrim') return reader.createReadStream();
  const ring = Array.from({ length: strategy === 'reuse' ? 1 : Number(strategy.split(':')[1]) }, () => buffer(MiB));
  let i = 0;
  // Ownership: the socket takes the reader's descriptor; the reader object is left unused.
  const fd = reader.fd;
  const socket = new net.Socket({
    fd,
    readable: true,
    writable: false,
    onread: {
      buffer: () => ring[i],
      callback(n, buf) {
        i = (i + 1) % ring.length;
        return socket.push(buf.subarray(0, n));
      },
    },
  });
  return socket;
}

function once(strategy) {
  return new Promise((resolve, reject) => {
    const { reader, writer } = createPipe({ size: MiB });
    const child = spawn(process.execPath, [childScript, 'writer', '1', String(chunk), String(total)], { stdio: ['ignore', writer, 'inherit'] });
    writer.close();
    const stream = readable(reader, strategy);
    let bytes = 0;
    let t0 = 0n;
    let c0;
    stream.on('data', (c) => {
      if (bytes === 0) {
        t0 = process.hrtime.bigint();
        c0 = process.cpuUsage();
      }
      bytes += c.length;
    });
    stream.on('error', reject);
    stream.on('end', () => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const cpu = process.cpuUsage(c0);
      child.on('exit', () => resolve({ rate: bytes / MiB / seconds, cpuPerGiB: ((cpu.user + cpu.system) / 1e6) * (1024 / (bytes / MiB)) }));
      if (bytes !== total) reject(new Error(`read ${bytes} of ${total} bytes`));
    });
  });
}

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const NOTRIM = 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456';

if (one) {
  process.stdout.write(`${JSON.stringify(await once(one))}\n`);
} else {
  const results = new Map(strategies.map((s) => [s, []]));
  for (let r = 0; r < runs; r++) {
    // A different order each run, so that no strategy always follows another.
    const order = strategies.map((_, i) => strategies[(i + r) % strategies.length]);
    for (const s of order) {
      const env = s === 'notrim' ? { ...process.env, GLIBC_TUNABLES: NOTRIM } : process.env;
      const out = spawnSync(process.execPath, [fileURLToPath(import.meta.url), `--one=${s}`, `--chunk=${chunk}`], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
      if (out.status !== 0) throw new Error(`${s}: exit ${out.status}`);
      const x = JSON.parse(out.stdout);
      results.get(s).push(x);
      console.log(`run ${r + 1}/${runs} ${s.padEnd(8)} ${x.rate.toFixed(0)} MiB/s, ${x.cpuPerGiB.toFixed(3)} CPU s/GiB`);
    }
  }
  const base = median(results.get(strategies[0]).map((x) => x.rate));
  console.log(`\n1 GiB in ${chunk}-byte writes through a 1 MiB pipe, ${runs} runs, medians:`);
  for (const [s, xs] of results) {
    const rate = median(xs.map((x) => x.rate));
    console.log(`${s.padEnd(8)} ${rate.toFixed(0).padStart(5)} MiB/s  ${median(xs.map((x) => x.cpuPerGiB)).toFixed(3)} CPU s/GiB  ${(rate / base).toFixed(2)}x ${strategies[0]}`);
  }
}
