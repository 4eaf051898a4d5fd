// Running domains as xenstore shows them: /local/domain/<domid>/{name,vm,control,data,vm-data,memory}
// and /libxl/<domid>/type. xenstore is the source of truth for what a guest advertises
// (control/feature-*), whether a shutdown request is pending (control/shutdown) and what it wrote
// (data/, vm-data/); a domain exists while its /local/domain/<domid>/name does.

import type { XenstoreOps } from '../../xenstore/client.js';

export interface DomainRecord {
  domid: number;
  name: string;
  /** From the `vm` link (/vm/<uuid>); null when libxl wrote none. */
  uuid: string | null;
  /** 'pv' | 'pvh' | 'hvm' from /libxl/<domid>/type; null when unknown. */
  type: string | null;
  /** control/feature-X = 1, as X (poweroff, reboot, suspend, sysrq, …). */
  features: string[];
  /** control/shutdown: a request written and not yet taken by the guest ('' or null = none). */
  shutdownRequest: string | null;
  /** data/** and vm-data/** as flat "data/a/b" / "vm-data/a" keys (bounded). */
  keys: Record<string, string>;
  memoryTargetKiB: number | null;
  memoryStaticMaxKiB: number | null;
}

/** Readings of data/ and vm-data/ stop here: they are guest-writable and may be large. */
const MAX_KEYS_PER_TREE = 256;
const MAX_DEPTH = 4;

export function domainPath(domid: number): string {
  return `/local/domain/${domid}`;
}

/** The domids xenstore lists (0 included), ascending. */
export async function listDomids(xs: XenstoreOps): Promise<number[]> {
  const names = await xs.directoryOrEmpty('/local/domain');
  return names.filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
}

async function readTree(xs: XenstoreOps, base: string, prefix: string, out: Record<string, string>, depth = 0): Promise<void> {
  if (depth > MAX_DEPTH) return;
  const children = await xs.directoryOrEmpty(base);
  await Promise.all(
    children.map(async (child) => {
      if (Object.keys(out).length >= MAX_KEYS_PER_TREE) return;
      const p = `${base}/${child}`;
      const value = await xs.readOrNull(p);
      if (value !== null && value !== '') out[`${prefix}/${child}`] = value;
      await readTree(xs, p, `${prefix}/${child}`, out, depth + 1);
    }),
  );
}

function parseKiB(v: string | null): number | null {
  return v !== null && /^\d+$/.test(v.trim()) ? Number(v.trim()) : null;
}

/** One domain's record, or null when it is gone (or not yet named, while libxl builds it). */
export async function readDomain(xs: XenstoreOps, domid: number): Promise<DomainRecord | null> {
  const home = domainPath(domid);
  const [name, vm, type, controlKeys, shutdownRequest, target, staticMax] = await Promise.all([
    xs.readOrNull(`${home}/name`),
    xs.readOrNull(`${home}/vm`),
    xs.readOrNull(`/libxl/${domid}/type`),
    xs.directoryOrEmpty(`${home}/control`),
    xs.readOrNull(`${home}/control/shutdown`),
    xs.readOrNull(`${home}/memory/target`),
    xs.readOrNull(`${home}/memory/static-max`),
  ]);
  if (name === null) return null;
  const featureNames = controlKeys.filter((k) => k.startsWith('feature-'));
  const featureValues = await Promise.all(featureNames.map((k) => xs.readOrNull(`${home}/control/${k}`)));
  const features = featureNames.filter((_, i) => featureValues[i]?.trim() === '1').map((k) => k.slice('feature-'.length));
  const keys: Record<string, string> = {};
  await Promise.all([readTree(xs, `${home}/data`, 'data', keys), readTree(xs, `${home}/vm-data`, 'vm-data', keys)]);
  const uuidMatch = vm ? /\/vm\/([0-9a-fA-F-]{36})$/.exec(vm.trim()) : null;
  return {
    domid,
    name,
    uuid: uuidMatch ? uuidMatch[1]!.toLowerCase() : null,
    type: type?.trim() || null,
    features,
    shutdownRequest: shutdownRequest === '' ? null : shutdownRequest,
    keys,
    memoryTargetKiB: parseKiB(target),
    memoryStaticMaxKiB: parseKiB(staticMax),
  };
}

/** Keys whose presence means a guest agent runs (xe-guest-utilities, xen-guest-agent). */
export const AGENT_KEYS = ['data/updated', 'data/os_name', 'data/os/name'];

export function agentLive(d: DomainRecord): boolean {
  return AGENT_KEYS.some((k) => d.keys[k] !== undefined);
}
