// `status` when the pool's host list cannot be read (review 2, finding 4): the host names only label
// migration destinations, so the command goes on with this host's name alone, shows other hosts by
// uuid as "unknown host", and says why, instead of failing as a whole.

import { describe, expect, it } from 'vitest';
import { hostNames } from '../../src/cli/commands/status.js';
import { migrationText } from '../../src/cli/format/status.js';
import { migrationsView } from '../../src/engine/status-migrations.js';
import type { PoolMigration } from '../../src/toolstack/types.js';
import { HOST_UUID, OTHER_HOST_UUID, makeRunning, makeSnapshot } from '../unit/core/fixtures.js';

const THIS_HOST = { uuid: HOST_UUID, name: 'xcp-host-1' } as Parameters<typeof hostNames>[1];
const poolAnswering = (hosts: () => ReturnType<PoolMigration['hosts']>) => ({ pool: { hosts } as PoolMigration });

describe('status: host names for migration destinations', () => {
  it('an unreadable host list: this host named, the reason given, no throw', async () => {
    const { names, problem } = await hostNames(poolAnswering(() => Promise.reject(new Error('RBAC_PERMISSION_DENIED: host.get_all_records'))), THIS_HOST);
    expect([...names]).toEqual([[HOST_UUID, 'xcp-host-1']]);
    expect(problem).toContain('RBAC_PERMISSION_DENIED: host.get_all_records');
    expect(problem).toContain('unknown host');
  });

  it('a readable one names every host; a backend without pool operations names this host', async () => {
    const read = await hostNames(poolAnswering(async () => [{ uuid: OTHER_HOST_UUID, name: 'xcp-host-2' }]), THIS_HOST);
    expect(read).toEqual({ names: new Map([[HOST_UUID, 'xcp-host-1'], [OTHER_HOST_UUID, 'xcp-host-2']]), problem: null });
    expect(await hostNames({}, THIS_HOST)).toEqual({ names: new Map([[HOST_UUID, 'xcp-host-1']]), problem: null });
  });

  it('a destination missing from the names is shown by uuid as an unknown host', () => {
    const moving = makeRunning({ name: 'moving', otherConfig: { 'xen-guests:on_stop': 'migrate' } });
    const snapshot = makeSnapshot([moving]);
    const now = [{ ...moving, currentOperations: { 'OpaqueRef:t1': 'pool_migrate' }, migratingTo: OTHER_HOST_UUID }];
    const view = migrationsView({ hostUuid: HOST_UUID, bootId: snapshot.bootId, snapshot, lastShutdown: null, guests: now, hostNames: new Map([[HOST_UUID, 'xcp-host-1']]) });
    expect(migrationText(view!.guests[0]!)).toBe(`migrating to unknown host (${OTHER_HOST_UUID})`);
  });
});
