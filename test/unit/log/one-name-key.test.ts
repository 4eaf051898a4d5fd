// One "name" key per JSON line (src/log.ts): the program's. A call site that logs a guest's name as
// `name` (the regression of review A2) would give a line two "name" keys, and jq keeps only one;
// the logger moves it to guestName. Judged from the raw text of real lines, not parsed objects
// (JSON.parse would hide a duplicate key by keeping the last one).

import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/log.js';

function capture(): { stream: Writable; lines: () => string[] } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  return { stream, lines: () => text.trim().split('\n') };
}

const nameKeys = (line: string) => line.match(/"name":/g)?.length ?? 0;

describe('one name key per log line', () => {
  it('a guest name logged as `name` goes out as guestName; the program keeps "name"', async () => {
    const out = capture();
    const log = createLogger({ json: true, destination: out.stream });
    log.warn({ guest: 'u-1', name: 'vm-1', journalledAt: 'x' }, 'vm-1: something');
    log.info({ guest: 'u-2', guestName: 'vm-2' }, 'vm-2: something');
    log.info({ guest: 'u-3', name: 'stray', guestName: 'vm-3' }, 'vm-3: both given');
    log.error(new Error('boom'));
    const lines = out.lines();
    expect(lines).toHaveLength(4);
    for (const line of lines) expect({ line, names: nameKeys(line) }).toEqual({ line, names: 1 });
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed.map((p) => p.name)).toEqual(['xen-guests', 'xen-guests', 'xen-guests', 'xen-guests']);
    expect(parsed.map((p) => p.guestName)).toEqual(['vm-1', 'vm-2', 'vm-3', undefined]);
    expect(parsed[0]).toMatchObject({ guest: 'u-1', journalledAt: 'x', msg: 'vm-1: something' });
  });

  it('a child logger binding `name` is refused where it is made; other bindings are fine', () => {
    const out = capture();
    const log = createLogger({ json: true, destination: out.stream });
    expect(() => log.child({ name: 'vm-1' })).toThrow(/child logger may not bind "name".*guestName/);
    const child = log.child({ toolstack: 'xl' });
    child.info({ name: 'vm-4' }, 'from a child');
    const [line] = out.lines();
    expect(nameKeys(line!)).toBe(1);
    expect(JSON.parse(line!)).toMatchObject({ name: 'xen-guests', toolstack: 'xl', guestName: 'vm-4' });
  });
});
