import { describe, expect, it } from 'vitest';
import { effectivePolicy } from '../../../src/core/policy.js';
import { buildSnapshot } from '../../../src/core/snapshot.js';
import { HOST_UUID, makeConfig, makeEnabled, makeGuest, makeHost, makeRunning } from './fixtures.js';

const TAKEN_AT = '2024-05-01T10:00:00.000Z';

describe('the shutdown snapshot', () => {
  it('records each guest with the policy computed from its record and the config', () => {
    const g = makeRunning({ name: 'web', otherConfig: { auto_poweron: 'true', 'xen-guests:on_start': 'restore' } });
    const s = buildSnapshot([g], makeHost(), makeConfig(), 'boot-1', TAKEN_AT);
    expect(s).toMatchObject({ takenAt: TAKEN_AT, bootId: 'boot-1', hostUuid: HOST_UUID });
    expect(s.guests).toHaveLength(1);
    expect(s.guests[0]).toMatchObject({ uuid: g.uuid, name: 'web', powerState: 'Running', residentOn: HOST_UUID });
    expect(s.guests[0]!.policy.onStart).toBe('restore');
  });

  it('policies passed in (the ones the shutdown plan acts on) are recorded instead of being computed again', () => {
    const planned = makeEnabled({ name: 'planned' });
    const other = makeGuest({ name: 'other' });
    const forced = { ...effectivePolicy(planned, makeConfig()), onStart: 'restore' as const };
    const s = buildSnapshot([planned, other], makeHost(), makeConfig(), 'boot-1', TAKEN_AT, new Map([[planned.uuid, forced]]));
    expect(s.guests.find((x) => x.uuid === planned.uuid)!.policy).toBe(forced);
    // A guest missing from the map gets its policy computed, as without the map.
    expect(s.guests.find((x) => x.uuid === other.uuid)!.policy.onStart).toBe('ignore');
  });
});
