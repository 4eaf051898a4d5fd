// Scale (1,000 guests, 50 concurrent clients) and the CLI contract (ready line, bad flags, signals).

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSim, type SimHandle } from '../helpers/sim.js';

const BIN = resolve(import.meta.dirname, '../../dist/src/cli/bin.js');

describe('scale', () => {
  let sim: SimHandle;
  beforeAll(async () => {
    sim = await spawnSim({ guests: 1000, timeScale: 0.01 });
  });
  afterAll(async () => sim?.stop());

  // Speed belongs to `npm run bench`; here: the whole table and 50 concurrent sessions are served,
  // every answer the record asked for.
  it('serves VM.get_all_records of 1,000 guests and 50 concurrent clients, each answer the one asked for', async () => {
    const s = await sim.login();
    const all = (await sim.call('VM.get_all_records', s)) as Record<string, { uuid: string }>;
    expect(Object.keys(all).length).toBeGreaterThanOrEqual(1003);
    const refs = Object.keys(all);
    const clients = Array.from({ length: 50 }, async (_, c) => {
      const cs = await sim.login();
      const wrong: string[] = [];
      for (let i = 0; i < 20; i++) {
        const ref = refs[(c * 20 + i) % refs.length]!;
        const rec = (await sim.call('VM.get_record', cs, ref)) as { uuid: string };
        if (rec.uuid !== all[ref]!.uuid) wrong.push(ref);
      }
      return wrong;
    });
    expect((await Promise.all(clients)).flat()).toEqual([]);
  });
});

describe('CLI', () => {
  it('rejects bad flags with exit 2 and a message naming the flag and what is allowed', async () => {
    const r = await new Promise<{ code: number | null; err: string }>((ok) => {
      const c = spawn(process.execPath, [BIN, 'sim', '--time-scale', 'fast'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      c.on('exit', (code) => ok({ code, err }));
    });
    expect(r.code).toBe(2);
    expect(r.err).toContain('--time-scale fast');
    expect(r.err).toContain('a number > 0');
  });

  it('rejects a bad scenario naming the file, the field and the value', async () => {
    await expect(spawnSim({ scenario: { guests: [{ name_label: 'x', power_state: 'on' }] } })).rejects.toThrow(/guests\[0\]\.power_state: bad value "on"; allowed: Halted, Running, Paused, Suspended/);
  });

  it('prints one ready line with the real port and removes its socket on SIGTERM', async () => {
    const sim = await spawnSim({ guests: 2, unix: true });
    expect(sim.url).toMatch(/^http:\/\/127\.0\.0\.1:[1-9]\d*$/);
    expect(existsSync(sim.socketPath!)).toBe(true);
    const exited = new Promise<string>((ok) => sim.process.once('exit', (code, signal) => ok(`${code}/${signal}`)));
    sim.process.kill('SIGTERM');
    expect(await exited).toBe('0/null');
    expect(existsSync(sim.socketPath!)).toBe(false);
    await sim.stop();
  });
});
