// Time to build a plan for a large host: the real planner over synthetic guests with a realistic
// mix of policy keys (some bad values too, since those cost a problem message each).

import { defaultConfig } from '../src/core/config.js';
import { buildPlan } from '../src/core/plan.js';
import type { Guest, HostInfo } from '../src/toolstack/types.js';

export interface PlanTiming {
  guests: number;
  mode: 'boot' | 'shutdown';
  /** First call in the process (cold JIT), ms. */
  coldMs: number;
  medianMs: number;
  maxMs: number;
  runs: number;
}

const HOST: HostInfo = { uuid: '00000000-0000-4000-8000-000000000001', name: 'bench-host', freeMemory: 2 ** 50, poolSize: 1, poolAutoPoweron: false };

export function syntheticGuests(n: number): Guest[] {
  const guests: Guest[] = [];
  for (let i = 0; i < n; i++) {
    const running = i % 3 !== 0;
    const oc: Record<string, string> = {};
    if (i % 10 < 7) oc['auto_poweron'] = 'true';
    if (i % 17 === 0) oc['xen-guests:ready'] = 'agent';
    if (i % 23 === 0) oc['xen-guests:shutdown_timeout'] = String(60 + (i % 300));
    if (i % 97 === 0) oc['xen-guests:maintenance'] = 'disk swap';
    if (i % 211 === 0) oc['xen-guests:on_stop'] = 'suspend'; // refused: one error message each
    if (i % 401 === 0) oc['xen-guests:shutdown_timeout'] = 'soon'; // bad value
    const uuid = `00000000-0000-4000-8000-${String(i + 2).padStart(12, '0')}`;
    guests.push({
      ref: `OpaqueRef:${uuid}`,
      uuid,
      name: `vm-${i}`,
      powerState: running ? 'Running' : 'Halted',
      isTemplate: false,
      isSnapshot: false,
      isControlDomain: false,
      residentOn: running ? HOST.uuid : null,
      affinity: null,
      order: (i % 5) * 10,
      startDelay: i % 7 === 0 ? 5 : 0,
      shutdownDelay: 0,
      otherConfig: oc,
      blockedOperations: {},
      memoryRequired: 1024 * 2 ** 20,
      memoryMax: 1024 * 2 ** 20,
      cleanShutdown: i % 20 === 0 ? { able: false, reason: 'HVM guest without PV drivers' } : { able: true, reason: 'PV guest' },
      tools: { pvDrivers: i % 20 !== 0, version: '9.3.1', agentLive: running, upToDate: true, features: ['shutdown'] },
      xenstoreData: {},
      currentOperations: {},
      domainType: i % 20 === 0 ? 'hvm' : 'pv',
    });
  }
  return guests;
}

export function timePlan(n: number, mode: 'boot' | 'shutdown', runs = 20): PlanTiming {
  const guests = syntheticGuests(n);
  const config = defaultConfig();
  const once = (): number => {
    const t = performance.now();
    const plan = buildPlan({ mode, guests, host: HOST, config, snapshot: null });
    const ms = performance.now() - t;
    if (plan.totals.guests !== n) throw new Error(`plan of ${n} guests counted ${plan.totals.guests}`);
    return ms;
  };
  const coldMs = once();
  const times = Array.from({ length: runs }, once).sort((a, b) => a - b);
  return { guests: n, mode, coldMs: r1(coldMs), medianMs: r1(times[Math.floor(runs / 2)]!), maxMs: r1(times[runs - 1]!), runs };
}

function r1(x: number): number {
  return Math.round(x * 10) / 10;
}
