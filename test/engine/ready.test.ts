import { describe, expect, it } from 'vitest';
import { describeReadiness, readinessHolds } from '../../src/engine/ready.js';
import type { Guest } from '../../src/toolstack/types.js';
import { makeGuest } from '../helpers/guest.js';

function guest(over: Partial<Guest> = {}): Guest {
  return makeGuest({
    uuid: 'u1',
    name: 'g1',
    powerState: 'Running',
    residentOn: 'h',
    tools: { pvDrivers: true, version: '9.0', agentLive: false, upToDate: null, features: [] },
    ...over,
  });
}

describe('readiness checks', () => {
  it('running: the guest runs', () => {
    const ok = readinessHolds({ kind: 'running' });
    expect(ok(guest())).toBe(true);
    expect(ok(guest({ powerState: 'Halted' }))).toBe(false);
  });

  it('agent: the guest agent is live', () => {
    const ok = readinessHolds({ kind: 'agent' });
    expect(ok(guest())).toBe(false);
    expect(ok(guest({ tools: { ...guest().tools, agentLive: true } }))).toBe(true);
  });

  it('agent: the facts of the guest-tools record the guest had before the start are the last run\'s', () => {
    const agentTools = { ...guest().tools, agentLive: true };
    const before = guest({ powerState: 'Halted', tools: agentTools, toolsRecord: 'gm-last-run' });
    const ok = readinessHolds({ kind: 'agent' }, before);
    expect(ok(guest({ tools: agentTools, toolsRecord: 'gm-last-run' }))).toBe(false);
    expect(ok(guest({ toolsRecord: 'gm-this-run' }))).toBe(false);
    expect(ok(guest({ tools: agentTools, toolsRecord: 'gm-this-run' }))).toBe(true);
    // A guest that never ran had no record: any record with an agent is this run's.
    expect(readinessHolds({ kind: 'agent' }, guest({ powerState: 'Halted' }))(guest({ tools: agentTools, toolsRecord: 'gm-1' }))).toBe(true);
  });

  it('vm-data: the guest wrote the key, named with or without its prefix', () => {
    for (const key of ['ready', 'vm-data/ready']) {
      const ok = readinessHolds({ kind: 'vm-data', key });
      expect(ok(guest())).toBe(false);
      expect(ok(guest({ xenstoreData: { 'vm-data/ready': '' } }))).toBe(false);
      expect(ok(guest({ xenstoreData: { 'vm-data/ready': '1' } }))).toBe(true);
      expect(ok(guest({ xenstoreData: { 'vm-data/ready': '1' }, powerState: 'Halted' }))).toBe(false);
      expect(describeReadiness({ kind: 'vm-data', key })).toBe('vm-data/ready written by the guest');
    }
  });

  it('vm-data: a value left from before the start is not readiness; a new value is', () => {
    const before = guest({ powerState: 'Halted', xenstoreData: { 'vm-data/ready': 'boot-1' } });
    const ok = readinessHolds({ kind: 'vm-data', key: 'ready' }, before);
    expect(ok(guest({ xenstoreData: { 'vm-data/ready': 'boot-1' } }))).toBe(false);
    expect(ok(guest({ xenstoreData: { 'vm-data/ready': 'boot-2' } }))).toBe(true);
    expect(readinessHolds({ kind: 'vm-data', key: 'ready' }, guest({ powerState: 'Halted' }))(guest({ xenstoreData: { 'vm-data/ready': 'x' } }))).toBe(true);
  });
});
