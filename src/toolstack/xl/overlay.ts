// Per-guest keys that `enable`, `disable` and `maintenance` set on an xl host, where there is no
// VM.other_config to hold them: a JSON file in the state directory, written atomically. A key set
// to null hides a value the guest would otherwise have (e.g. auto_poweron from /etc/xen/auto/).

import path from 'node:path';
import { readTextOrNull, writeFileAtomic } from '../../state/atomic.js';

export const OVERLAY_FILE = 'xl-guests.json';

export interface GuestOverlay {
  otherConfig: Record<string, string | null>;
  blockedOperations: Record<string, string>;
}

export interface Overlay {
  version: 1;
  guests: Record<string, GuestOverlay>;
}

export class OverlayError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(message);
    this.name = 'OverlayError';
  }
}

function emptyOverlay(): Overlay {
  return { version: 1, guests: {} };
}

function isStringRecord(v: unknown, allowNull: boolean): v is Record<string, string | null> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  return Object.values(v).every((x) => typeof x === 'string' || (allowNull && x === null));
}

/** Validate the parsed file; the first bad part is named with what is allowed. */
export function checkOverlay(data: unknown, file: string): Overlay {
  const bad = (where: string, what: string): never => {
    throw new OverlayError(file, `${file}: ${where}: ${what}`);
  };
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return bad('top level', 'must be an object {"version":1,"guests":{…}}');
  const d = data as Record<string, unknown>;
  if (d.version !== 1) bad('version', `is ${JSON.stringify(d.version)}; only 1 is understood`);
  const guests = d.guests;
  if (typeof guests !== 'object' || guests === null || Array.isArray(guests)) return bad('guests', 'must be an object keyed by domain name');
  const out = emptyOverlay();
  for (const [name, g] of Object.entries(guests as Record<string, unknown>)) {
    if (typeof g !== 'object' || g === null) bad(`guests.${JSON.stringify(name)}`, 'must be an object');
    const entry = g as Record<string, unknown>;
    const oc = entry.otherConfig ?? {};
    const bo = entry.blockedOperations ?? {};
    if (!isStringRecord(oc, true)) bad(`guests.${JSON.stringify(name)}.otherConfig`, 'must map keys to strings (or null to hide a key)');
    if (!isStringRecord(bo, false)) bad(`guests.${JSON.stringify(name)}.blockedOperations`, 'must map operations to reason strings');
    out.guests[name] = { otherConfig: { ...(oc as Record<string, string | null>) }, blockedOperations: { ...(bo as Record<string, string>) } };
  }
  return out;
}

export function overlayPath(stateDir: string): string {
  return path.join(stateDir, OVERLAY_FILE);
}

export async function readOverlay(stateDir: string): Promise<Overlay> {
  const file = overlayPath(stateDir);
  const text = await readTextOrNull(file);
  if (text === null) return emptyOverlay();
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new OverlayError(file, `${file}: not valid JSON (${(err as Error).message}); fix or remove it (it holds the keys set by enable/disable/maintenance)`);
  }
  return checkOverlay(data, file);
}

/**
 * Read-modify-write under a promise chain, so that concurrent edits in this process never lose
 * each other's keys (the CLI and the daemon are separate processes, but each edits one key at a
 * time and the file is replaced atomically).
 */
export function createOverlayStore(stateDir: string): {
  read(): Promise<Overlay>;
  update(name: string, edit: (g: GuestOverlay) => void): Promise<void>;
} {
  let chain: Promise<unknown> = Promise.resolve();
  return {
    read: () => readOverlay(stateDir),
    update(name, edit) {
      const next = chain.then(async () => {
        const overlay = await readOverlay(stateDir);
        const g = overlay.guests[name] ?? { otherConfig: {}, blockedOperations: {} };
        edit(g);
        overlay.guests[name] = g;
        await writeFileAtomic(overlayPath(stateDir), `${JSON.stringify(overlay, null, 2)}\n`, 0o644);
      });
      chain = next.catch(() => undefined);
      return next;
    },
  };
}

/** The guest's effective other_config: what it has by itself, then the overlay (null removes). */
export function applyOverlay(base: Record<string, string>, g: GuestOverlay | undefined): Record<string, string> {
  const out = { ...base };
  if (!g) return out;
  for (const [k, v] of Object.entries(g.otherConfig)) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}
