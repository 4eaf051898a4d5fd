// Outcomes under a saturated client. A CPU-bound client (the 1,000-guest benchmark over XML-RPC)
// decodes events seconds late while its timers still fire: a guest's clean timeout can run out
// although the guest already halted in xapi. The toolstack here is the real XenAPI one against the
// real simulator, with only its event notifications held back to stand for that decoding lag. The
// report must say what the simulator saw: a clean halt noticed late is still clean, never "hard".

import { afterEach, describe, expect, it } from 'vitest';
import { runShutdown } from '../../src/engine/index.js';
import type { Toolstack } from '../../src/toolstack/types.js';
import { byName, firstAt, planFor, rig, timelines, type Rig, type SimGuest } from './harness.js';
import { monotonicNow } from '../../src/core/clock.js';
import { until, type SimHandle } from '../helpers/sim.js';

let r: Rig | undefined;
afterEach(async () => {
  await r?.close();
  r = undefined;
});

/**
 * The same toolstack, but nothing it learns from events about a guest reaches the engine until the
 * engine has asked for that guest's hard stop (its clean timeout ran out): "noticed only after the
 * timeout" by the engine's own step, however slow the machine is. The hard request itself goes out
 * once the simulator shows the guest halted by its clean request, so that on a busy machine too
 * the halt is the clean one. Timeouts are not held.
 */
function seenLate(ts: Toolstack, sim: SimHandle): Toolstack {
  const hardAsked = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  const gate = (uuid: string) => {
    let g = hardAsked.get(uuid);
    if (!g) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      hardAsked.set(uuid, (g = { promise, resolve }));
    }
    return g;
  };
  const hold =
    (uuid: string) =>
    async <T>(value: T): Promise<T> => {
      await gate(uuid).promise;
      return value;
    };
  return {
    ...ts,
    waitFor: (uuid, until, o) => ts.waitFor(uuid, until, o).then((x) => (x === 'timeout' ? x : hold(uuid)(x))),
    requestCleanShutdown: async (g) => {
      const handle = await ts.requestCleanShutdown(g);
      return { done: handle.done.then(hold(g.uuid)), cancel: handle.cancel };
    },
    hardShutdown: async (g, o) => {
      gate(g.uuid).resolve();
      await until(`${g.name} halted in the simulator`, async () => Object.values(await sim.timeline(g.uuid)).some((vm) => vm.events.some((e) => e.event === 'halted')));
      return ts.hardShutdown(g, o);
    },
  };
}

function running(name: string, extra: Partial<SimGuest> = {}): SimGuest {
  return { name_label: name, order: 1, memory_mib: 256, power_state: 'Running', domain_type: 'pv', ...extra };
}

describe('outcomes while the engine sees events late', () => {
  it('guests that halted cleanly within their timeout, noticed only after it, are reported clean, not hard', async () => {
    // Time scale 0.1: shutdown_s 8 halts each guest ~0.9 s after its request, inside its 1.5 s timeout.
    const names = ['a', 'b', 'c'];
    r = await rig(names.map((n) => running(n, { behaviour: { shutdown_s: 8 } })), { timeScale: 0.1 });
    const plan = await planFor(r.ts, 'shutdown', { timeout: 1.5 });
    const host = (await r.ts.host()).uuid;
    // Events are seen only once the engine has gone hard: past the first clean timeout.
    const ts = seenLate(r.ts, r.sim);
    const report = await runShutdown(ts, plan, { log: r.log }, {
      parallelism: 3,
      deadlineAt: monotonicNow() + 30_000,
      hardReserveMs: 5_000,
      bootId: 'b',
      trigger: 'test',
      hostUuid: host,
    });

    const tl = await timelines(r.sim);
    const g = byName(report);
    for (const name of names) {
      const events = tl.get(name);
      const halted = firstAt(events, 'halted');
      const hard = firstAt(events, 'hard_shutdown requested');
      // The simulator's view: halted by its clean request; the hard stop came later and found it Halted.
      expect(halted, `${name} halted in the simulator`).toBeDefined();
      expect(hard, `${name}: the engine did go hard (its clean timeout ran out first)`).toBeDefined();
      expect(halted!).toBeLessThan(hard!);
      expect(g.get(name)!.outcome, `${name}: ${g.get(name)!.reason}`).toBe('clean');
    }
    expect(report.leftRunning).toEqual([]);
  }, 60_000);
});
