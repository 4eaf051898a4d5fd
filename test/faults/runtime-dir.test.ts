// Where the daemon keeps its tmpfs witness of the handled boot (src/daemon/runtime-dir.ts).

import { describe, expect, it } from 'vitest';
import { RUNTIME_DIR, runtimeDir } from '../../src/daemon/runtime-dir.js';

describe('runtime directory', () => {
  it('is /run/xen-guests for the service (root, real boot id)', () => {
    expect(runtimeDir({}, 0)).toBe(RUNTIME_DIR);
  });
  it('follows XEN_GUESTS_RUNTIME_DIR first', () => {
    expect(runtimeDir({ XEN_GUESTS_RUNTIME_DIR: '/tmp/r', XEN_GUESTS_BOOT_ID_FILE: '/tmp/b/boot_id' }, 0)).toBe('/tmp/r');
  });
  it('lives beside a simulated boot id file, never in the real /run', () => {
    expect(runtimeDir({ XEN_GUESTS_BOOT_ID_FILE: '/tmp/sim-boot/boot_id' }, 0)).toBe('/tmp/sim-boot/run-xen-guests');
  });
  it('is per user for a non-root run', () => {
    expect(runtimeDir({ XDG_RUNTIME_DIR: '/run/user/1000' }, 1000)).toBe('/run/user/1000/xen-guests-1000');
  });
});
