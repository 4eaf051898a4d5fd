// The kernel's id of the current boot: a new random uuid at every boot, the same for every process
// of this boot. It tells "the host booted" from "the daemon or the toolstack restarted".

import { readFile } from 'node:fs/promises';
import { describeErrno } from './atomic.js';

export const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';

/** Default path: XEN_GUESTS_BOOT_ID_FILE when set (tests simulate a host reboot by rewriting it). */
export function bootIdPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.XEN_GUESTS_BOOT_ID_FILE || BOOT_ID_FILE;
}

export async function readBootId(path = bootIdPath()): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the boot id from ${path}: ${describeErrno(err).text}`);
  }
  const id = text.trim();
  if (!/^[0-9a-fA-F-]{8,64}$/.test(id)) {
    throw new Error(`boot id file ${path} holds "${id.slice(0, 64)}"; expected a uuid like 0f6e6c1e-3c8a-4a34-9d6e-2a1b5c3d4e5f`);
  }
  return id.toLowerCase();
}
