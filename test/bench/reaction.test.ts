// The benchmark's reaction latency on a hand-made timeline: slot turnovers pair the i-th freed slot
// with the (parallelism + i)-th request of the group, a group change is measured from the last
// guest done to the next group's first request, and requests that did not wait are not reactions.
import { describe, expect, it } from 'vitest';
import { reactionLatency } from '../../bench/reaction.js';
import type { VmTimeline } from '../../bench/sim-process.js';
import type { GuestFacts, Workload } from '../../bench/workload.js';

function guest(name: string, order: number, ready: 'running' | 'agent' = 'running'): GuestFacts {
  return { name, order, kind: 'normal', type: 'hvm', startDelay: 0, ready, agentS: 1, shutdownS: 1 };
}

function vm(name: string, events: [number, string][]): VmTimeline {
  return { uuid: name, name_label: name, events: events.map(([t_ms, event]) => ({ t_ms, sim_s: 0, event })) };
}

const workload = (guests: GuestFacts[]): Workload => ({ guests, orders: [...new Set(guests.map((g) => g.order))].sort((a, b) => a - b), parallelism: 2, guestTimeoutS: 180, readyTimeoutS: 300, seed: 1 });

describe('reaction latency', () => {
  it('boot: freed slots answered by the queued starts, and the next group after the last readiness', () => {
    const w = workload([guest('a', 1), guest('b', 1), guest('c', 1), guest('d', 1, 'agent'), guest('e', 2)]);
    const timeline = [
      vm('a', [[0, 'start requested'], [100, 'start done']]),
      vm('b', [[0, 'start requested'], [150, 'start done']]),
      vm('c', [[103, 'start requested'], [200, 'start done']]), // answers a's slot: 3 ms
      vm('d', [[160, 'start requested'], [250, 'start done'], [400, 'agent live']]), // answers b's slot: 10 ms
      vm('e', [[407, 'start requested'], [500, 'start done']]), // group 2 after d's agent: 7 ms
    ];
    expect(reactionLatency(w, 'boot', timeline)).toEqual({ count: 3, slotTurnovers: 2, groupChanges: 1, p50Ms: 7, p99Ms: 10, maxMs: 10 });
  });

  it('shutdown runs the groups in descending order, freed by halts; a request that did not wait is skipped', () => {
    const w = workload([guest('x', 1), guest('y', 2), guest('z', 2), guest('q', 2)]);
    const timeline = [
      vm('y', [[0, 'clean_shutdown requested'], [50, 'halted']]),
      vm('z', [[0, 'clean_shutdown requested'], [80, 'halted']]),
      vm('q', [[40, 'clean_shutdown requested'], [90, 'halted']]), // came before y's halt: not a reaction
      vm('x', [[95, 'hard_shutdown requested'], [120, 'halted']]), // group 1 after q: 5 ms
    ];
    expect(reactionLatency(w, 'shutdown', timeline)).toEqual({ count: 1, slotTurnovers: 0, groupChanges: 1, p50Ms: 5, p99Ms: 5, maxMs: 5 });
  });
});
