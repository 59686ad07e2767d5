// The relative links of the package's Markdown, checked the way a reader follows them: a link to a
// file must name a file that exists, and a #fragment must name a heading of the page it points to
// (GitHub's heading anchors). Links inside code (fences and `spans`) are text, not links.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';

export interface Link {
  /** `docs/named-pipes.md:12` */
  origin: string;
  target: string;
}

/** The text of a Markdown file without its code fences and inline code spans (same line count). */
function withoutCode(text: string): string[] {
  let fenced = false;
  return text.split(/\r?\n/).map((line) => {
    if (/^\s*```/.test(line)) {
      fenced = !fenced;
      return '';
    }
    return fenced ? '' : line.replace(/`[^`]*`/g, 'code');
  });
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'. */
export function slug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[`*]/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor of a Markdown file: its headings' slugs, a repeated one suffixed -1, -2, ... */
export function anchors(file: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of readFileSync(file, 'utf8').split(/\r?\n/)) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    const m = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** The relative links of one Markdown file (`rel` to `root`). */
export function relativeLinks(root: string, rel: string): Link[] {
  const out: Link[] = [];
  withoutCode(readFileSync(join(root, rel), 'utf8')).forEach((line, i) => {
    for (const m of line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      const target = m[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:, ...
      out.push({ origin: `${rel}:${i + 1}`, target });
    }
  });
  return out;
}

/** The links among `files` (relative to `root`) that lead nowhere, each with why. */
export function brokenLinks(root: string, files: string[]): string[] {
  const broken: string[] = [];
  for (const rel of files) {
    for (const { origin, target } of relativeLinks(root, rel)) {
      const [path, fragment] = target.split('#', 2) as [string, string | undefined];
      const to = path === '' ? join(root, rel) : join(root, dirname(rel), decodeURIComponent(path));
      if (posix.normalize(join(dirname(rel), path).replace(/\\/g, '/')).startsWith('../')) {
        broken.push(`${origin}: ${target} leaves the package`);
      } else if (!existsSync(to)) {
        broken.push(`${origin}: ${target} does not exist`);
      } else if (fragment !== undefined && statSync(to).isFile() && to.endsWith('.md') && !anchors(to).has(fragment)) {
        broken.push(`${origin}: ${target} names no heading of ${path || rel}`);
      }
    }
  }
  return broken;
}
