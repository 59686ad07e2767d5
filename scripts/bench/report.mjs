// The report side of the benchmarks: medians and ratios of a case (summarize), the console table,
// the JSON results and the BENCHMARKS.md section they make. Shared by every case.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { caseModules } from './cases/index.mjs';
import { GiB, isWindows, log, median, underWine } from './lib.mjs';

export function summarize(c) {
  for (const row of c.rows) {
    if (row.status) continue;
    const good = row.runs.filter((r) => r.ok);
    const values = good.map((r) => c.value(r));
    row.failedRuns = row.runs.length - good.length;
    row.errors = [...new Set(row.runs.filter((r) => !r.ok).map((r) => String(r.error).split('\n')[0]))];
    if (good.length === 0) {
      row.status = 'failed';
      row.reason = `every run failed its check: ${row.errors[0] ?? ''}`;
      continue;
    }
    row.status = row.failedRuns ? 'partial' : 'ok';
    row.median = median(values);
    row.min = Math.min(...values);
    row.max = Math.max(...values);
    row.values = values;
    const rss = good.map((r) => r.maxRssKiB).filter((x) => typeof x === 'number');
    if (rss.length) row.rssMiB = median(rss) / 1024;
    if (c.cpuPerGiB) {
      const cpu = good.map((r) => r.cpuSeconds / ((r.measuredBytes ?? r.bytes) / GiB));
      row.cpuPerGiB = median(cpu);
    }
  }
  // Every 'ours' row against every 'peer' and 'info' row ('ours-info' rows only show their numbers).
  c.ratios = [];
  for (const ours of c.rows.filter((r) => r.role === 'ours')) {
    for (const row of c.rows.filter((r) => r.role === 'peer' || r.role === 'info')) {
      const ratio = ours.median !== undefined && row.median !== undefined ? ours.median / row.median : undefined;
      let met;
      if (row.target && row.target.op !== 'report' && ratio !== undefined) met = row.target.op === '>=' ? ratio >= row.target.ratio : ratio <= row.target.ratio;
      const blocked = [ours, row].find((r) => r.status === 'n/a' || r.status === 'pending' || r.status === 'failed');
      c.ratios.push({
        ours: ours.peer,
        oursLabel: ours.label,
        peer: row.peer,
        label: row.label,
        role: row.role,
        ratio,
        target: row.target,
        met,
        status: blocked ? blocked.status : 'ok',
        reason: blocked?.reason,
      });
    }
  }
}

export function fmtNum(v) {
  if (typeof v !== 'number' || Number.isNaN(v)) return '—';
  if (v >= 10_000) return Math.round(v).toLocaleString('en-US');
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

export function targetText(t) {
  if (!t) return '—';
  if (t.op === 'report') return 'report µs/pair';
  return `${t.op === '>=' ? '≥' : '≤'} ${Number.isInteger(t.ratio * 10) ? t.ratio.toFixed(1) : t.ratio.toFixed(2)}×`;
}

// ====================================================================== report

export function label(env) {
  if (underWine) return { key: 'wine', title: `Wine (Windows node.exe ${process.version} under ${env.wine ?? 'Wine'})`, file: 'results-wine.json' };
  if (isWindows) return { key: 'windows', title: `Windows (node ${process.version})`, file: 'results-windows.json' };
  return { key: 'native', title: `Native (${os.type()} ${os.release()}, node ${process.version})`, file: 'results.json' };
}

/** The BENCHMARKS.md section for one run, from its JSON results (see jsonResults). */
export function markdown(r) {
  const cfg = r.config;
  const lines = [];
  lines.push(`## ${r.label}`, '');
  lines.push(
    `Run ${r.date.slice(0, 16).replace('T', ' ')} UTC, \`${r.mode}\` mode, ${r.runs} runs per row, ${r.cpus} CPUs (${r.cpuModel ?? '?'}), ` +
      `${(r.seconds / 60).toFixed(1)} min. Load average at the start: ${r.loadavgAtStart}. Python: ${r.python}. C: ${r.c}.`,
    '',
  );
  if (r.remeasured?.length) {
    lines.push(
      `Re-measured since, by full runs of single cases (\`--case\`): ${r.remeasured.map((x) => `${x.id} at ${x.date.slice(0, 16).replace('T', ' ')} UTC (load ${x.loadavgAtStart})`).join('; ')}.`,
      '',
    );
  }
  lines.push('| case | ours | peer | ours (median) | peer (median) | unit | ratio ours/peer | better | target | met? |');
  lines.push('|---|---|---|---:|---:|---|---:|---|---|---|');
  const shown = (row) => (row.median !== undefined && row.median !== null ? fmtNum(row.median) : row.status);
  const why = (reason) =>
    String(reason ?? '')
      .replace(/^n\/a \((.*)\)$/, '$1')
      .replace(/^n\/a /, '');
  const note = (row) => (row.status === 'n/a' || row.status === 'pending' ? ` (${row.status}: ${why(row.reason)})` : '');
  for (const c of r.cases) {
    for (const x of c.ratios) {
      const ours = c.rows.find((row) => row.peer === x.ours);
      const peer = c.rows.find((row) => row.peer === x.peer);
      const ratio = typeof x.ratio === 'number' ? `${x.ratio.toFixed(2)}×` : '—';
      let met = '—';
      if (x.status !== 'ok') met = x.status;
      else if (x.target?.op === 'report') met = 'reported';
      else if (typeof x.met === 'boolean') met = x.met ? 'yes' : '**no**';
      else if (x.role === 'info') met = 'info';
      lines.push(
        `| ${c.id} ${c.param} | ${ours.label}${note(ours)} | ${peer.label}${note(peer)} | ${shown(ours)} | ${shown(peer)} | ${c.unit} | ${ratio} | ${c.better} | ${targetText(x.target)} | ${met} |`,
      );
    }
    for (const row of c.rows.filter((row) => row.role === 'ours-info')) {
      lines.push(`| ${c.id} ${c.param} | ${row.label} | — | ${shown(row)} | — | ${c.unit} | — | ${c.better} | — | info |`);
    }
  }
  lines.push('', '<details><summary>Every row: median, spread, peak RSS, CPU</summary>', '');
  lines.push('| case | implementation | median | min – max | unit | runs ok | peak RSS (MiB) | CPU s/GiB |');
  lines.push('|---|---|---:|---:|---|---:|---:|---:|');
  for (const c of r.cases) {
    for (const row of c.rows) {
      if (row.status === 'n/a' || row.status === 'pending') {
        lines.push(`| ${c.id} ${c.param} | ${row.label} | ${row.status} | | | | | |`);
        continue;
      }
      const okRuns = row.runs.filter((x) => x.ok).length;
      const num = (v, d) => (typeof v === 'number' ? v.toFixed(d) : '—');
      lines.push(
        `| ${c.id} ${c.param} | ${row.label} | ${fmtNum(row.median)} | ${fmtNum(row.min)} – ${fmtNum(row.max)} | ${c.unit} | ${okRuns}/${row.runs.length} | ${num(row.peakRssMiB, 1)} | ${num(row.cpuSecondsPerGiB, 2)} |`,
      );
    }
  }
  lines.push('', '</details>', '');
  const missed = [];
  for (const c of r.cases) for (const x of c.ratios) if (x.met === false) missed.push(`${c.id} ${c.param}: ${x.ours} vs ${x.peer} ${x.ratio.toFixed(2)}× (target ${targetText(x.target)})`);
  const failed = [];
  for (const c of r.cases) {
    for (const row of c.rows) {
      const bad = (row.runs ?? []).filter((x) => !x.ok);
      if (bad.length) failed.push(`${c.id} ${c.param} ${row.label}: ${bad.length}/${row.runs.length} runs (${[...new Set(bad.map((x) => String(x.error).split('\n')[0]))].join('; ')})`);
    }
  }
  lines.push(`Targets missed in this run: ${missed.length ? missed.join('; ') : 'none'}.`, '');
  const rss = rssRatios(r);
  if (rss.length) {
    const over = rss.filter((x) => x.ratio > RSS_TARGET);
    lines.push(
      `Peak RSS, ours / the Node peer of the same case (target ≤ ${RSS_TARGET.toFixed(1)}×): ` +
        `${rss.map((x) => `${x.id} ${x.param} ${x.ours} vs ${x.peer} ${x.ratio.toFixed(2)}×`).join('; ')}. Over the target: ${over.length ? over.map((x) => `${x.id} ${x.param} ${x.ours} vs ${x.peer}`).join('; ') : 'none'}.`,
      '',
    );
  }
  if (failed.length) lines.push(`Runs that failed their data check or stalled (not counted): ${failed.join('; ')}.`, '');
  // Results written before the split keep their sizes under cfg.b1 ... cfg.b6.
  const sizeOf = (m) => cfg.sizes?.[m.id] ?? cfg[m.id.toLowerCase()];
  const sizes = caseModules.filter((m) => sizeOf(m) && r.cases.some((c) => c.id === m.id)).map((m) => m.sizesText(sizeOf(m)));
  lines.push(`Sizes: ${sizes.join('; ')}.`, '');
  return lines.join('\n');
}

/** The RSS target (BENCHMARKS.md, "Targets, native"): a winpipe row's peak RSS at most this times its Node peer's (the measured process's). */
const RSS_TARGET = 1.2;
/** Rows whose peer is Node's own: fs (B2), stdio (B1), net and IPC (B3, B4, B6). */
const isNodePeer = (peer) => peer === 'fs' || peer.startsWith('node-');

/** Peak RSS of every winpipe row ('ours' and 'ours-info') against each Node peer of its case. */
function rssRatios(r) {
  const out = [];
  for (const c of r.cases) {
    for (const ours of c.rows.filter((x) => (x.role === 'ours' || x.role === 'ours-info') && typeof x.peakRssMiB === 'number')) {
      for (const peer of c.rows.filter((x) => isNodePeer(x.peer) && typeof x.peakRssMiB === 'number')) {
        out.push({ id: c.id, param: c.param, ours: ours.peer, peer: peer.peer, ratio: ours.peakRssMiB / peer.peakRssMiB });
      }
    }
  }
  return out;
}

const HEADER = `# Benchmarks

Generated by \`npm run bench\` (native) and \`npm run bench:wine\` (the Windows path, Windows
node.exe under Wine); see \`scripts/bench.mjs\` for the method and \`scripts/bench/cases/\` for the cases. Each section below is rewritten by
its own run; the reading at the end is written by hand. Raw numbers: \`benchmarks/results.json\`,
\`benchmarks/results-wine.json\`.

Ratios are ours/peer. For throughput (B1, B4, B6) higher is better; for time (B2, B3, B5) lower
is better. Every run checks its data first (byte counts and stamps, sequence numbers, message and
connection counts); a run that fails its check is not counted.
`;

export function writeReport(outRoot, key, text) {
  const file = path.join(outRoot, 'BENCHMARKS.md');
  let md = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : `${HEADER}\n<!-- bench:native:start -->\n<!-- bench:native:end -->\n\n<!-- bench:wine:start -->\n<!-- bench:wine:end -->\n`;
  const start = `<!-- bench:${key}:start -->`;
  const end = `<!-- bench:${key}:end -->`;
  const block = `${start}\n${text}\n${end}`;
  if (md.includes(start) && md.includes(end)) md = md.slice(0, md.indexOf(start)) + block + md.slice(md.indexOf(end) + end.length);
  else md = `${md.trimEnd()}\n\n${block}\n`;
  fs.writeFileSync(file, md);
  return file;
}

export function jsonResults(cfg, list, env, seconds) {
  return {
    key: label(env).key,
    label: label(env).title,
    date: new Date().toISOString(),
    mode: cfg.mode,
    runs: cfg.runs,
    seconds,
    platform: process.platform,
    arch: process.arch,
    node: process.version,
    wine: env.wine,
    cpus: env.cpus ?? os.cpus().length,
    cpuModel: env.cpuModel ?? os.cpus()[0]?.model?.trim(),
    loadavgAtStart: env.loadavg,
    python: env.python.ok ? env.python.version : env.python.reason,
    c: env.cPeers.ok ? 'cc -O2' : env.cPeers.reason,
    config: { ...cfg, only: cfg.only ? [...cfg.only] : undefined },
    cases: list.map((c) => ({
      id: c.id,
      title: c.title,
      param: c.param,
      unit: c.unit,
      better: c.better,
      rows: c.rows.map((r) => ({
        peer: r.peer,
        label: r.label,
        role: r.role,
        status: r.status,
        reason: r.reason,
        median: r.median,
        min: r.min,
        max: r.max,
        values: r.values,
        peakRssMiB: r.rssMiB,
        cpuSecondsPerGiB: r.cpuPerGiB,
        runs: r.runs,
      })),
      ratios: c.ratios,
    })),
  };
}

export function printTable(list) {
  log('');
  for (const c of list) {
    for (const x of c.ratios) {
      const ours = c.rows.find((r) => r.peer === x.ours);
      const peer = c.rows.find((r) => r.peer === x.peer);
      const verdict = x.status !== 'ok' ? x.status : x.met === undefined ? (x.role === 'info' ? 'info' : '') : x.met ? 'met' : 'MISSED';
      log(
        `${`${c.id} ${c.param}`.padEnd(18)} ${x.ours.padEnd(12)} ${fmtNum(ours.median).padStart(9)}  vs ${x.peer.padEnd(11)} ${fmtNum(peer.median).padStart(9)} ${c.unit.padEnd(13)} ratio ${x.ratio !== undefined ? x.ratio.toFixed(2).padStart(5) : '    —'}  (${c.better} better, target ${targetText(x.target)}) ${verdict}`,
      );
    }
  }
}
