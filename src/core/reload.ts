// What a SIGHUP may change in a running daemon. Pure: it compares two configs and says which
// settings changed, which of them only a restart can apply, and which need a new toolstack
// connection. The daemon acts on the answer (src/daemon/daemon.ts); `config check` shows the list.

import { configAsToml } from './config.js';
import type { Config } from './types.js';

/**
 * Settings a running daemon cannot take over: the state directory holds this boot's marker,
 * journal and lock, opened at start; the toolstack kind decides which backend exists at all.
 */
export const RESTART_ONLY_SETTINGS = ['state_dir', 'toolstack.kind'] as const;

export interface ReloadChanges {
  /** Every setting whose effective value differs, as the config file names it ("xapi.url"). */
  changed: string[];
  /** Of those, the ones kept at their old value until a restart. */
  restartOnly: string[];
  /** A new toolstack connection is needed (endpoint, protocol, credentials, timeouts, xl guest tables). */
  reconnect: boolean;
}

/** Flatten the file-shaped config to "section.key" → JSON text; guest tables count per guest. */
function settings(config: Config): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, value] of Object.entries(configAsToml(config))) {
    if (value !== null && typeof value === 'object' && key !== 'guests') {
      for (const [inner, v] of Object.entries(value)) out.set(`${key}.${inner}`, JSON.stringify(v));
    } else if (key === 'guests') {
      for (const [name, table] of Object.entries(value as Record<string, unknown>)) out.set(`guests.${JSON.stringify(name)}`, JSON.stringify(table));
    } else {
      out.set(key, JSON.stringify(value));
    }
  }
  return out;
}

export function reloadChanges(running: Config, next: Config): ReloadChanges {
  const before = settings(running);
  const after = settings(next);
  const changed = [...new Set([...before.keys(), ...after.keys()])].filter((k) => before.get(k) !== after.get(k)).sort();
  const restartOnly = changed.filter((k) => (RESTART_ONLY_SETTINGS as readonly string[]).includes(k));
  const reconnect = changed.some((k) => k.startsWith('xapi.') || (k.startsWith('guests.') && running.toolstack.kind === 'xl'));
  return { changed, restartOnly, reconnect };
}

/** The config a reload puts in force: the new file, with the restart-only settings kept as running. */
export function configAfterReload(running: Config, next: Config): Config {
  return { ...next, stateDir: running.stateDir, toolstack: { ...running.toolstack } };
}
