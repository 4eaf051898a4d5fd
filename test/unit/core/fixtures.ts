// Real Guest / HostInfo / snapshot objects for the pure core's tests: a plain halted HVM guest with
// PV drivers by default, every field filled, overridden per test.

import { defaultConfig } from '../../../src/core/config.js';
import { buildSnapshot } from '../../../src/core/snapshot.js';
import type { Config, ShutdownSnapshot } from '../../../src/core/types.js';
import type { Guest, HostInfo } from '../../../src/toolstack/types.js';
import { GiB, makeGuest } from '../../helpers/guest.js';

export const HOST_UUID = 'aaaaaaaa-0000-4000-8000-000000000001';
export const OTHER_HOST_UUID = 'bbbbbbbb-0000-4000-8000-000000000002';
export { GiB, makeGuest } from '../../helpers/guest.js';

/** A guest running on this host. */
export function makeRunning(overrides: Partial<Guest> = {}): Guest {
  return makeGuest({ powerState: 'Running', residentOn: HOST_UUID, ...overrides });
}

/** A halted guest that the boot plan would start (auto_poweron=true). */
export function makeEnabled(overrides: Partial<Guest> = {}): Guest {
  return makeGuest({ ...overrides, otherConfig: { auto_poweron: 'true', ...overrides.otherConfig } });
}

export function makeHost(overrides: Partial<HostInfo> = {}): HostInfo {
  return { uuid: HOST_UUID, name: 'xcp-host-1', freeMemory: 64 * GiB, poolSize: 1, poolAutoPoweron: false, ...overrides };
}

export function makeConfig(change: (config: Config) => void = () => {}): Config {
  const config = defaultConfig();
  change(config);
  return config;
}

/** The snapshot a host shutdown would have written, from the guests as they were then. */
export function makeSnapshot(guests: Guest[], hostUuid = HOST_UUID): ShutdownSnapshot {
  // The daemon's own snapshot builder, with a fixed time.
  return { ...buildSnapshot(guests, makeHost({ uuid: hostUuid }), defaultConfig(), 'boot-before', '2024-05-01T10:00:00.000Z') };
}
