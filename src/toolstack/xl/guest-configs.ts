// Guests that exist only as xl config files while they are not running: every file in
// /etc/xen/auto/ (xendomains' "start at boot" directory, honoured as auto_poweron so a xendomains
// user switches without rewriting anything) and the configs named by the xen-guests config
// ([guests."NAME"] config = "/etc/xen/NAME.cfg", else /etc/xen/NAME.cfg or /etc/xen/NAME).

import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../log.js';

export interface GuestConfigFile {
  /** The domain name the file declares (`name = "..."`). */
  name: string;
  path: string;
  /** `uuid = "..."` when the file sets one. */
  uuid: string | null;
  /** 'pv' | 'pvh' | 'hvm' from `type` (or the older `builder`); 'pv' when neither is set, as xl does. */
  type: string;
  /** `memory` in MiB (xl's default 128 when absent). */
  memoryMiB: number;
  /** `maxmem` in MiB, else memory. */
  maxMemMiB: number;
  /** Listed in the auto-start directory. */
  inAutoDir: boolean;
}

export interface ConfigProblemReport {
  path: string;
  message: string;
}

/** Simple `key = value` assignments of an xl config (strings, numbers); lists and the rest ignored. */
export function parseXlConfig(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rawLine of text.split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(rawLine);
    if (!m) continue;
    const key = m[1]!;
    const rest = m[2]!.trim();
    const quoted = /^"((?:[^"\\]|\\.)*)"|^'([^']*)'/.exec(rest);
    if (quoted) {
      out[key] = quoted[1] !== undefined ? quoted[1].replace(/\\(.)/g, '$1') : quoted[2]!;
      continue;
    }
    const number = /^(-?\d+)\s*(#.*)?$/.exec(rest);
    if (number) out[key] = number[1]!;
  }
  return out;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DOMAIN_NAME = /^[A-Za-z0-9_.:+-][A-Za-z0-9_.:+ -]*$/;

/** Read one config file; a problem (named by file, key, value and what is allowed) when unusable. */
export async function readGuestConfig(file: string, inAutoDir: boolean): Promise<GuestConfigFile | ConfigProblemReport> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    return { path: file, message: `cannot read xl config ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
  }
  const kv = parseXlConfig(text);
  const name = kv.name;
  if (name === undefined || name.trim() === '') {
    return { path: file, message: `xl config ${file}: no name = "..." line; every guest config must name its domain` };
  }
  if (!DOMAIN_NAME.test(name)) {
    return { path: file, message: `xl config ${file}: name = ${JSON.stringify(name)}: must be letters, digits and . _ : + - (no / or control characters)` };
  }
  let uuid: string | null = null;
  if (kv.uuid !== undefined) {
    if (!UUID.test(kv.uuid)) return { path: file, message: `xl config ${file}: uuid = ${JSON.stringify(kv.uuid)}: must be a uuid like 01234567-89ab-cdef-0123-456789abcdef` };
    uuid = kv.uuid.toLowerCase();
  }
  const type = (kv.type ?? (kv.builder === 'hvm' ? 'hvm' : 'pv')).toLowerCase();
  const memoryMiB = kv.memory !== undefined && /^\d+$/.test(kv.memory) ? Number(kv.memory) : 128;
  const maxMemMiB = kv.maxmem !== undefined && /^\d+$/.test(kv.maxmem) ? Math.max(Number(kv.maxmem), memoryMiB) : memoryMiB;
  return { name, path: file, uuid, type, memoryMiB, maxMemMiB, inAutoDir };
}

function isProblem(x: GuestConfigFile | ConfigProblemReport): x is ConfigProblemReport {
  return 'message' in x;
}

/** Editor and package-manager leftovers that xendomains would also be wrong to start. */
function isLeftover(name: string): boolean {
  return name.startsWith('.') || name.endsWith('~') || /\.(dpkg-[a-z]+|rpmsave|rpmnew|bak|orig|swp)$/.test(name);
}

export interface DiscoverOptions {
  autoDir: string;
  configDir: string;
  /** Per-guest tables of the xen-guests config: name -> keys (the `config` key names the file). */
  tables: Record<string, Record<string, string>>;
  log: Logger;
}

export interface Discovered {
  byName: Map<string, GuestConfigFile>;
  problems: ConfigProblemReport[];
}

/** Every guest config the xl backend knows, by domain name; the first file naming a domain wins. */
export async function discoverGuestConfigs(o: DiscoverOptions): Promise<Discovered> {
  const byName = new Map<string, GuestConfigFile>();
  const problems: ConfigProblemReport[] = [];
  const add = (r: GuestConfigFile | ConfigProblemReport): void => {
    if (isProblem(r)) {
      problems.push(r);
      return;
    }
    const earlier = byName.get(r.name);
    if (earlier) {
      if (earlier.path !== r.path) {
        problems.push({ path: r.path, message: `xl config ${r.path} names domain ${JSON.stringify(r.name)}, already defined by ${earlier.path}; ignoring ${r.path}` });
      }
      if (r.inAutoDir) earlier.inAutoDir = true;
      return;
    }
    byName.set(r.name, r);
  };

  let entries: string[] = [];
  try {
    entries = (await readdir(o.autoDir)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') problems.push({ path: o.autoDir, message: `cannot list ${o.autoDir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` });
  }
  for (const entry of entries) {
    if (isLeftover(entry)) continue;
    const file = path.join(o.autoDir, entry);
    const st = await stat(file).catch(() => null); // follows symlinks, as xendomains does
    if (!st?.isFile()) continue;
    add(await readGuestConfig(file, true));
  }

  for (const [name, table] of Object.entries(o.tables)) {
    if (byName.has(name)) continue;
    const candidates = table.config ? [table.config] : [path.join(o.configDir, `${name}.cfg`), path.join(o.configDir, name)];
    let found = false;
    for (const file of candidates) {
      const st = await stat(file).catch(() => null);
      if (!st?.isFile()) continue;
      found = true;
      const r = await readGuestConfig(file, false);
      if (!isProblem(r) && r.name !== name) {
        problems.push({ path: file, message: `xl config ${file} names domain ${JSON.stringify(r.name)}, but it is listed for guest ${JSON.stringify(name)}; using it as ${JSON.stringify(r.name)}` });
      }
      add(r);
      break;
    }
    if (!found) {
      problems.push({
        path: candidates[0]!,
        message: `guest ${JSON.stringify(name)}: no xl config file (looked for ${candidates.join(', ')}); it can be stopped while running but not started`,
      });
    }
  }
  return { byName, problems };
}
