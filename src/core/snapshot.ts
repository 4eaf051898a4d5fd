// The metadata snapshot taken before a shutdown stops anything: every guest's record and effective
// policy, so that on_start=restore can bring back what ran. Shared by the daemon's shutdown phase and
// the stop-all/start-all commands. Pure: the caller says when it was taken. A caller that plans the
// same guests too computes their policies once (effectivePolicies) and passes them to both.

import type { Guest, HostInfo } from './guest.js';
import { isGuest } from './not-a-guest.js';
import { effectivePolicy } from './policy.js';
import type { Config, EffectivePolicy, ShutdownSnapshot } from './types.js';

/** `policies`: by guest uuid, when the caller computed them already; missing ones are computed. */
export function buildSnapshot(guests: Guest[], host: HostInfo, config: Config, bootId: string, takenAt: string, policies?: ReadonlyMap<string, EffectivePolicy>): ShutdownSnapshot {
  return {
    takenAt,
    bootId,
    hostUuid: host.uuid,
    guests: guests
      .filter(isGuest)
      .map((g) => ({
        uuid: g.uuid,
        name: g.name,
        powerState: g.powerState,
        residentOn: g.residentOn,
        affinity: g.affinity,
        order: g.order,
        memoryMax: g.memoryMax,
        otherConfig: g.otherConfig,
        policy: policies?.get(g.uuid) ?? effectivePolicy(g, config),
      })),
  };
}
