// HOST_NODE_VERSION (scripts/test.mjs, via scripts/runtimes.mjs hostNode): which Node.js the host
// suite runs on. `.ci/run` relies on '26' meaning the pinned Node 26 binary, and on a typo failing
// the run instead of silently testing the machine's own Node. Nothing here fetches a binary.
import { describe, expect, it } from 'vitest';
import { ScriptError } from '../../scripts/lib.mjs';
import { PINNED, PINNED_NODE, hostNode } from '../../scripts/runtimes.mjs';
import { underWine } from '../helpers/index.js';

describe.skipIf(underWine)('HOST_NODE_VERSION: the host suite on other Node lines', () => {
  it("'current' and the running version (with or without its v) are this node, fetched from nowhere", () => {
    for (const w of ['current', process.versions.node, `v${process.versions.node}`]) {
      expect(hostNode(w)).toEqual({ bin: process.execPath, version: process.versions.node });
    }
  });

  it('each pinned major names an exact release of that major, and 26 is the pinned Node', () => {
    for (const [major, version] of Object.entries(PINNED_NODE)) {
      expect(version).toMatch(/^\d+\.\d+\.\d+$/);
      expect(version.split('.')[0]).toBe(major);
    }
    expect(PINNED_NODE[26]).toBe(PINNED.node);
  });

  it('a major without a pin, or anything that is not a version, is a ScriptError before any download', () => {
    for (const w of ['19', '25', 'banana', '26.1', 'latest']) {
      expect(() => hostNode(w)).toThrow(ScriptError);
    }
  });
});
