#!/usr/bin/env node
// Counts wineserver requests between the marks scripts/lab/io-engines.mjs makes (WINPIPE_MARK=1),
// in a WINEDEBUG=+server trace:
//   WINPIPE_WINEDEBUG=+server WINPIPE_MARK=1 node scripts/wine.mjs exec scripts/lab/bench-mechanism.mjs --io --runs=1 ...
//   node scripts/lab/count-server.mjs .wine/last-output.log <pingpongs> <floods>
// Prints requests per round trip and per flooded message, per engine.
import fs from 'node:fs';
import readline from 'node:readline';

const [file, pp, fl] = process.argv.slice(2);
const per = { pp: Number(pp), flood: Number(fl) };
const counts = {};
let open = null;
let n = 0;
const byName = {};
const rl = readline.createInterface({ input: fs.createReadStream(file) });
for await (const line of rl) {
  const m = /winpipe-mark-([a-z-]+)-(pp|flood)-(begin|end)/.exec(line);
  if (m && /create_event\(/.test(line)) {
    if (m[3] === 'begin') {
      open = `${m[1]} ${m[2]}`;
      n = 0;
      byName[open] = {};
    } else if (open) {
      counts[open] = n;
      open = null;
    }
    continue;
  }
  // A request line: "0024: read( handle=..., ...)"; replies ("... ) = 0 {...}") are not counted.
  const r = /^[0-9a-f]{4}: ([a-z_]+)\(/.exec(line);
  if (open && r && !/\) = /.test(line)) {
    n++;
    byName[open][r[1]] = (byName[open][r[1]] ?? 0) + 1;
  }
}
for (const [k, v] of Object.entries(counts)) {
  const d = per[k.split(' ')[1]];
  const top = Object.entries(byName[k])
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([x, c]) => `${x} ${(c / d).toFixed(2)}`)
    .join(', ');
  console.log(`${k.padEnd(14)} ${(v / d).toFixed(2)} requests per ${k.endsWith('pp') ? 'round trip' : 'message'}  (${top})`);
}
