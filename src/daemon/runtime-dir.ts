// The runtime directory: a tmpfs (/run/xen-guests) the kernel empties at every boot, so a file in it
// can only have been written in this boot. It is a second witness of "this boot was handled" (as
// libvirt's /run/libvirt/qemu/autostarted), independent of the state directory on disk, which may be
// read-only, full or hold a corrupt marker.

import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const RUNTIME_DIR = '/run/xen-guests';

/**
 * XEN_GUESTS_RUNTIME_DIR when set. When the boot id itself is simulated (XEN_GUESTS_BOOT_ID_FILE:
 * tests, the demo), a directory beside that file, so that a simulated boot never reads or writes the
 * real /run. Otherwise /run/xen-guests for root (the service), or a per-user directory under
 * XDG_RUNTIME_DIR or the temp dir (development runs as a normal user).
 */
export function runtimeDir(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? 0): string {
  if (env.XEN_GUESTS_RUNTIME_DIR) return env.XEN_GUESTS_RUNTIME_DIR;
  if (env.XEN_GUESTS_BOOT_ID_FILE) return join(dirname(env.XEN_GUESTS_BOOT_ID_FILE), 'run-xen-guests');
  if (uid === 0) return RUNTIME_DIR;
  return join(env.XDG_RUNTIME_DIR || tmpdir(), `xen-guests-${uid}`);
}
