// The lower bound on a run's makespan, from the workload's facts and the simulator's constants.
//
// A guest's work splits into a part that holds one of the `parallelism` slots and a tail that
// does not. At shutdown the whole stop holds the slot (request → Halted; a hung guest at its
// timeout plus the hard stop). At boot the slot is the VM.start task (domain build + start_delay);
// waiting for the agent happens outside it, as the engine does (src/engine/start-guest.ts).
//
// Per order group: max(longest guest, sum of slot times / parallelism + shortest tail), summed over
// the groups, which run one after another. With no tails this is exactly the formula
// max(longest, sum / parallelism); the literal formula applied to whole durations is kept
// too (`literal`), and is not a lower bound at boot when tails run outside the slots.

import { SIM, type GuestFacts, type Workload } from './workload.js';

export interface GuestWork {
  slot: number;
  tail: number;
}

export function guestWork(g: GuestFacts, mode: 'boot' | 'shutdown', w: Workload): GuestWork {
  if (mode === 'boot') {
    const slot = SIM.domainBuildS + g.startDelay;
    // The agent's clock starts when the domain runs; the task still sleeps start_delay meanwhile.
    const tail = g.ready === 'agent' && g.agentS !== null ? Math.max(0, g.agentS - g.startDelay) : 0;
    return { slot, tail };
  }
  switch (g.kind) {
    case 'nopv':
      return { slot: SIM.domainDestroyS, tail: 0 };
    case 'hung':
      return { slot: w.guestTimeoutS + SIM.domainDestroyS, tail: 0 };
    case 'normal':
      return { slot: SIM.ackS + g.shutdownS, tail: 0 };
  }
}

export interface Bound {
  /** Simulated seconds. */
  total: number;
  literal: number;
  groups: { order: number; guests: number; bound: number; literal: number; longest: number; slotSum: number }[];
}

/**
 * From the facts by default; `observed` replaces a guest's work with what the simulator's timeline
 * shows it took in this run (under load, scaled timers run a little late: that is the guests'
 * time, not the strategy's).
 */
export function lowerBound(w: Workload, mode: 'boot' | 'shutdown', observed?: Map<string, GuestWork>): Bound {
  const groups: Bound['groups'] = [];
  for (const order of w.orders) {
    const work = w.guests.filter((g) => g.order === order).map((g) => observed?.get(g.name) ?? guestWork(g, mode, w));
    if (work.length === 0) continue;
    const longest = Math.max(...work.map((x) => x.slot + x.tail));
    const slotSum = work.reduce((s, x) => s + x.slot, 0);
    const minTail = Math.min(...work.map((x) => x.tail));
    const wholeSum = work.reduce((s, x) => s + x.slot + x.tail, 0);
    groups.push({
      order,
      guests: work.length,
      bound: Math.max(longest, slotSum / w.parallelism + minTail),
      literal: Math.max(longest, wholeSum / w.parallelism),
      longest,
      slotSum,
    });
  }
  return { total: sum(groups.map((g) => g.bound)), literal: sum(groups.map((g) => g.literal)), groups };
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}
