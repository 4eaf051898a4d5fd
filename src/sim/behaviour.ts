// Guest behaviours: from the scenario file, overridden at run time by the VM's other_config keys
// `xen-guests-sim:*` (so a client can arrange a scenario over the API). Values are validated where
// they enter, with errors naming the key, the bad value and what is allowed.

import type { Behaviour, ShutdownBehaviour, Sim } from './state.js';
import { isStruct, type RpcStruct } from './wire/values.js';

export const BEHAVIOUR_PREFIX = 'xen-guests-sim:';
const KEYS = ['boot_s', 'agent_s', 'shutdown_s', 'shutdown', 'pv', 'start_error'] as const;
type Key = (typeof KEYS)[number];

export class BehaviourError extends Error {
  constructor(
    readonly key: string,
    readonly value: string,
    readonly allowed: string,
  ) {
    super(`${key}: bad value "${value}"; allowed: ${allowed}`);
  }
}

function seconds(key: string, raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0) throw new BehaviourError(key, raw, 'a number of seconds ≥ 0');
  return n;
}

/** Parses one behaviour key's string value (as stored in other_config). */
export function parseBehaviourValue(key: Key, raw: string): Partial<Behaviour> {
  const full = BEHAVIOUR_PREFIX + key;
  switch (key) {
    case 'boot_s':
      return { boot_s: seconds(full, raw) };
    case 'shutdown_s':
      return { shutdown_s: seconds(full, raw) };
    case 'agent_s':
      return { agent_s: raw === 'none' ? 'none' : seconds(full, raw) };
    case 'shutdown':
      if (raw !== 'normal' && raw !== 'hung' && raw !== 'ignore') throw new BehaviourError(full, raw, 'normal, hung, ignore');
      return { shutdown: raw as ShutdownBehaviour };
    case 'pv':
      if (raw !== 'true' && raw !== 'false') throw new BehaviourError(full, raw, 'true, false');
      return { pv: raw === 'true' };
    case 'start_error':
      if (raw !== '' && !/^[A-Z][A-Z0-9_]*$/.test(raw)) throw new BehaviourError(full, raw, 'an error code in upper case, e.g. VM_BOOT_FAILED, or empty');
      return { start_error: raw };
  }
}

/** Validates every xen-guests-sim:* key of an other_config map; throws BehaviourError on the first bad one. */
export function validateOtherConfig(otherConfig: Record<string, string>): void {
  for (const [k, v] of Object.entries(otherConfig)) {
    if (!k.startsWith(BEHAVIOUR_PREFIX)) continue;
    const key = k.slice(BEHAVIOUR_PREFIX.length) as Key;
    if (!KEYS.includes(key)) throw new BehaviourError(k, v, `a key among ${KEYS.map((x) => BEHAVIOUR_PREFIX + x).join(', ')}`);
    parseBehaviourValue(key, v);
  }
}

/** The behaviour in force for a VM right now: defaults ← scenario ← other_config. */
export function behaviourOf(sim: Sim, vmRef: string): Behaviour {
  const b: Behaviour = { ...sim.defaults, ...(sim.behaviours.get(vmRef) ?? {}) };
  const vm = sim.db.get('VM', vmRef);
  const oc = vm && isStruct(vm.other_config) ? (vm.other_config as RpcStruct) : {};
  for (const key of KEYS) {
    const raw = oc[BEHAVIOUR_PREFIX + key];
    if (typeof raw !== 'string') continue;
    try {
      Object.assign(b, parseBehaviourValue(key, raw));
    } catch (e) {
      sim.log(`ignoring ${(e as Error).message}`);
    }
  }
  return b;
}
