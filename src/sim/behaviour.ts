// Guest behaviours: from the scenario file, overridden at run time by the VM's other_config keys
// `xen-guests-sim:*` (so a client can arrange a scenario over the API). Values are validated where
// they enter, with errors naming the key, the bad value and what is allowed.

import { ApiError } from './errors.js';
import type { Behaviour, MetricsSwap, ShutdownBehaviour, Sim } from './state.js';
import { isStruct, type RpcStruct } from './wire/values.js';

export const BEHAVIOUR_PREFIX = 'xen-guests-sim:';
const KEYS = ['boot_s', 'agent_s', 'shutdown_s', 'shutdown', 'pv', 'start_error', 'local_storage', 'migrate_error', 'metrics_swap'] as const;
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
    case 'migrate_error':
      if (raw !== '' && !/^[A-Z][A-Z0-9_]*$/.test(raw)) throw new BehaviourError(full, raw, 'an error code in upper case, e.g. VM_BOOT_FAILED, or empty');
      return { [key]: raw };
    case 'local_storage':
      if (raw !== 'true' && raw !== 'false') throw new BehaviourError(full, raw, 'true, false');
      return { local_storage: raw === 'true' };
    case 'metrics_swap':
      if (raw !== 'with-start' && raw !== 'held') throw new BehaviourError(full, raw, 'with-start, held');
      return { metrics_swap: raw as MetricsSwap };
  }
}

/** A PV-booted guest always answers control/shutdown (its kernel is Xen-aware): "no PV drivers" means nothing there. */
export function checkPvKeyFits(key: string, value: string, domainType: string): void {
  if (value === 'false' && domainType !== 'hvm') {
    throw new BehaviourError(key, value, `true only: this guest boots ${domainType.toUpperCase()} (domain_type "${domainType}"), and a ${domainType.toUpperCase()} guest always has PV drivers and answers shutdown requests; use domain_type "hvm" for a guest without PV drivers`);
  }
}

/** Validates every xen-guests-sim:* key of an other_config map; throws BehaviourError on the first bad one. */
export function validateOtherConfig(otherConfig: Record<string, string>, domainType: string): void {
  for (const [k, v] of Object.entries(otherConfig)) {
    if (!k.startsWith(BEHAVIOUR_PREFIX)) continue;
    const key = k.slice(BEHAVIOUR_PREFIX.length) as Key;
    if (!KEYS.includes(key)) throw new BehaviourError(k, v, `a key among ${KEYS.map((x) => BEHAVIOUR_PREFIX + x).join(', ')}`);
    parseBehaviourValue(key, v);
    if (key === 'pv') checkPvKeyFits(k, v, domainType);
  }
}

/** validateOtherConfig for a XenAPI call: a bad key is INVALID_VALUE [other_config:KEY, value, allowed]. */
export function assertValidOtherConfig(otherConfig: Record<string, string>, domainType: string): void {
  try {
    validateOtherConfig(otherConfig, domainType);
  } catch (e) {
    if (e instanceof BehaviourError) throw new ApiError('INVALID_VALUE', [`other_config:${e.key}`, e.value, `allowed: ${e.allowed}`]);
    throw e;
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
