// The xl host's maintenance flag: a file in the state directory that `xen-guests host maintenance
// on|off` writes and the xl backend reads (XenAPI hosts use host.enabled instead). A flag that
// cannot be read as written counts as set: starting every guest on a host an admin meant to keep
// quiet is worse than starting none until the file is fixed or removed.

import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostMaintenance } from '../core/guest.js';
import { ensureDir, readTextOrNull, writeFileAtomic } from './atomic.js';

export const HOST_MAINTENANCE_FILE = 'host-maintenance.json';

export function hostMaintenancePath(stateDir: string): string {
  return join(stateDir, HOST_MAINTENANCE_FILE);
}

function isMaintenance(v: unknown): v is HostMaintenance {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  const textOrNull = (x: unknown) => x === null || typeof x === 'string';
  return typeof r.reason === 'string' && textOrNull(r.since) && textOrNull(r.by);
}

/** The flag, or null when the host is not in maintenance (no file). */
export async function readHostMaintenance(stateDir: string): Promise<HostMaintenance | null> {
  const path = hostMaintenancePath(stateDir);
  let text: string | null;
  try {
    text = await readTextOrNull(path);
  } catch (err) {
    return unreadable(path, err instanceof Error ? err.message : String(err));
  }
  if (text === null) return null;
  try {
    const parsed: unknown = JSON.parse(text);
    if (isMaintenance(parsed)) return parsed;
    return unreadable(path, 'expected {"reason": text, "since": ISO time or null, "by": text or null}');
  } catch (err) {
    return unreadable(path, `not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
}

function unreadable(path: string, why: string): HostMaintenance {
  return { reason: `the maintenance flag ${path} cannot be read (${why}); counted as on — fix it or run \`xen-guests host maintenance off\``, since: null, by: null };
}

export async function writeHostMaintenance(stateDir: string, flag: HostMaintenance | null): Promise<void> {
  const path = hostMaintenancePath(stateDir);
  if (flag === null) {
    await rm(path, { force: true });
    return;
  }
  await ensureDir(stateDir);
  await writeFileAtomic(path, JSON.stringify(flag, null, 2) + '\n');
}
