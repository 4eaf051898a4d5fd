// The benchmark's host: N guests with mixed, reproducible durations in 3–5 order groups, a few
// hung and a few without PV drivers. One description serves three purposes: the simulator's
// scenario, the facts the lower bound is computed from, and the judge of each strategy's outcome
// (was a hard stop needed?). Durations are in simulated seconds.

import { seededRandom } from '../src/sim/model/ids.js';

export type GuestKind = 'normal' | 'hung' | 'nopv';
/** HVM with PV drivers and an agent (most guests), PV, or HVM without drivers (the 'nopv' kind). */
export type GuestType = 'hvm' | 'pv' | 'hvm-no-drivers';

export interface GuestFacts {
  name: string;
  order: number;
  kind: GuestKind;
  type: GuestType;
  /** VM.start_delay: slept inside VM.start by xapi, so it holds a start slot. */
  startDelay: number;
  /** What "started" means before the next group: running, or the guest agent reporting. */
  ready: 'running' | 'agent';
  /** Seconds after the domain runs until the agent reports (null: no agent). */
  agentS: number | null;
  /** Seconds from acknowledging control/shutdown to halting (normal guests). */
  shutdownS: number;
}

export interface Workload {
  guests: GuestFacts[];
  /** Distinct orders, ascending. */
  orders: number[];
  parallelism: number;
  /** Clean-phase timeout of every guest (hung guests are stopped at it). */
  guestTimeoutS: number;
  /** Bound on start + readiness of one guest. */
  readyTimeoutS: number;
  seed: number;
}

/** The simulator's own constants (src/sim: xapi.domain_build_s, domain_destroy_s, the guest's ack delay). */
export const SIM = { domainBuildS: 1, domainDestroyS: 0.5, ackS: 0.5 } as const;

export interface WorkloadOptions {
  guests: number;
  groups?: number;
  parallelism?: number;
  seed?: number;
  hungShare?: number;
  noPvShare?: number;
}

// The simulator's own seeded generator, so workloads are as reproducible as the simulated host.
const prng = seededRandom;

function between(r: () => number, lo: number, hi: number): number {
  return Math.round((lo + r() * (hi - lo)) * 10) / 10;
}

/** Of the guests with PV drivers, the share that is HVM (the rest is PV): ~70 % / 25 % / 5 % overall. */
const HVM_SHARE = 0.74;

/**
 * A realistic mix: mostly HVM guests with PV drivers and an agent, some PV, a few HVM without drivers.
 * Shutdown: 70 % take 1–8 s, 25 % 8–25 s, 5 % 40–150 s (databases); boot: half have no start
 * delay, a third 1–5 s, the rest 10–30 s; a fifth wait for their agent (5–40 s).
 */
export function makeWorkload(opts: WorkloadOptions): Workload {
  const n = opts.guests;
  const groups = opts.groups ?? 4;
  if (!Number.isInteger(n) || n < groups) throw new Error(`workload: guests ${n}: must be a whole number ≥ ${groups} (one per order group)`);
  if (groups < 1) throw new Error(`workload: groups ${groups}: must be ≥ 1`);
  const seed = opts.seed ?? 7;
  const r = prng(seed);
  const orders = Array.from({ length: groups }, (_, i) => (i + 1) * 10);
  // Later groups are larger (1:2:3:…): the few infrastructure guests first, the many apps last.
  const weights = orders.map((_, i) => i + 1);
  const wsum = weights.reduce((a, b) => a + b, 0);
  const sizes = weights.map((w) => Math.max(1, Math.floor((n * w) / wsum)));
  sizes[sizes.length - 1]! += n - sizes.reduce((a, b) => a + b, 0);

  const hung = Math.max(1, Math.round(n * (opts.hungShare ?? 0.02)));
  const noPv = Math.max(1, Math.round(n * (opts.noPvShare ?? 0.05)));
  const kinds: GuestKind[] = Array.from({ length: n }, (_, i) => (i < hung ? 'hung' : i < hung + noPv ? 'nopv' : 'normal'));
  shuffle(kinds, r);

  const width = String(n).length;
  const guests: GuestFacts[] = [];
  let i = 0;
  for (const [gi, size] of sizes.entries()) {
    for (let k = 0; k < size; k++, i++) {
      const kind = kinds[i]!;
      const x = r();
      const shutdownS = x < 0.7 ? between(r, 1, 8) : x < 0.95 ? between(r, 8, 25) : between(r, 40, 150);
      const y = r();
      const startDelay = y < 0.5 ? 0 : y < 0.85 ? 1 + Math.floor(r() * 5) : 10 + Math.floor(r() * 21);
      const wantsAgent = kind !== 'nopv' && r() < 0.2;
      const type: GuestType = kind === 'nopv' ? 'hvm-no-drivers' : r() < HVM_SHARE ? 'hvm' : 'pv';
      guests.push({
        name: `bench-${String(i + 1).padStart(width, '0')}`,
        order: orders[gi]!,
        kind,
        type,
        startDelay,
        ready: wantsAgent ? 'agent' : 'running',
        agentS: kind === 'nopv' ? null : between(r, 5, 40),
        shutdownS,
      });
    }
  }
  return { guests, orders, parallelism: opts.parallelism ?? 8, guestTimeoutS: 180, readyTimeoutS: 300, seed };
}

function shuffled<T>(a: readonly T[], seed: number): T[] {
  const copy = [...a];
  shuffle(copy, prng(seed + 1));
  return copy;
}

function shuffle<T>(a: T[], r: () => number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
}

/** The simulator scenario: every guest Halted and enabled (boot), or Running (shutdown). */
export function scenarioFor(w: Workload, mode: 'boot' | 'shutdown'): object {
  const memoryMib = 512;
  return {
    seed: w.seed,
    templates: 0,
    snapshot: false,
    hosts: [{ name_label: 'bench-host', memory_mib: 8192 + w.guests.length * (memoryMib + 64) }],
    // The batch window scaled like the guests' durations: makespans measure the engine, not a fixed
    // 50 ms of real time magnified by the time scale.
    xapi: { domain_build_s: SIM.domainBuildS, domain_destroy_s: SIM.domainDestroyS, event_batch_scaled: true },
    // xapi lists VMs in no particular order; a strategy that ignores VM.order must not get it for free.
    guests: shuffled(w.guests, w.seed).map((g) => ({
      name_label: g.name,
      power_state: mode === 'boot' ? 'Halted' : 'Running',
      order: g.order,
      start_delay: g.startDelay,
      memory_mib: memoryMib,
      domain_type: g.type === 'pv' ? 'pv' : 'hvm',
      other_config: { auto_poweron: 'true', ...(g.ready === 'agent' ? { 'xen-guests:ready': 'agent' } : {}) },
      behaviour: {
        boot_s: 5,
        agent_s: g.agentS ?? 'none',
        shutdown_s: g.shutdownS,
        shutdown: g.kind === 'hung' ? 'hung' : 'normal',
        pv: g.kind !== 'nopv',
      },
    })),
  };
}
