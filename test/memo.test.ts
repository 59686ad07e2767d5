// ExpiringMemo (src/memo.ts): what a Windows server keeps of a SID's account name between accepts.
// A user relies on three things: the name is looked up again once it is old (a renamed account is
// seen within the time-to-live), memory stays bounded however many users connect, and a failed
// lookup is not kept as an answer.
import { describe, expect, it } from 'vitest';
import { ExpiringMemo } from '../src/memo.js';

function clock(): { now: () => number; advance(ms: number): void } {
  let t = 1000;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

describe('ExpiringMemo', () => {
  it('answers from memory while fresh and computes again once the time-to-live has passed', () => {
    const c = clock();
    const memo = new ExpiringMemo<string, string>(4, 60_000, c.now);
    let calls = 0;
    const lookup = (): string => `name-${++calls}`;
    expect(memo.get('S-1-5-21-1', lookup)).toBe('name-1');
    c.advance(59_999);
    expect(memo.get('S-1-5-21-1', lookup)).toBe('name-1');
    expect(calls).toBe(1);
    c.advance(1);
    expect(memo.get('S-1-5-21-1', lookup)).toBe('name-2');
    expect(calls).toBe(2);
  });

  it('remembers an undefined answer (a SID with no name) like any other', () => {
    const c = clock();
    const memo = new ExpiringMemo<string, string | undefined>(4, 1000, c.now);
    let calls = 0;
    const none = (): undefined => {
      calls++;
      return undefined;
    };
    expect(memo.get('S-1-5-21-9', none)).toBeUndefined();
    expect(memo.get('S-1-5-21-9', none)).toBeUndefined();
    expect(calls).toBe(1);
  });

  it('never holds more than its capacity, dropping the oldest answer first', () => {
    const c = clock();
    const memo = new ExpiringMemo<number, number>(3, 60_000, c.now);
    for (let i = 0; i < 100; i++) memo.get(i, () => i * 10);
    expect(memo.size).toBe(3);
    let recomputed = 0;
    // 97, 98 and 99 are kept; 0 was dropped long ago.
    expect(memo.get(99, () => ++recomputed)).toBe(990);
    expect(memo.get(0, () => ++recomputed)).toBe(1);
    expect(recomputed).toBe(1);
    expect(memo.size).toBe(3);
  });

  it('keeps nothing when the lookup throws, and asks again next time', () => {
    const c = clock();
    const memo = new ExpiringMemo<string, string>(4, 60_000, c.now);
    expect(() =>
      memo.get('k', () => {
        throw new Error('lookup failed');
      }),
    ).toThrow();
    expect(memo.size).toBe(0);
    expect(memo.get('k', () => 'v')).toBe('v');
  });
});
