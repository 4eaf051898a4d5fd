// The metadata snapshot taken before a shutdown stops anything: every guest's record and effective
// policy, so that on_start=restore can bring back what ran. Shared by the daemon's shutdown phase and
// the stop-all/start-all commands. Pure: the caller says when it was taken.

import type { Guest, HostInfo } from './guest.js';
import { isGuest } from './not-a-guest.js';
import { effectivePolicy } from './policy.js';
import type { Config, ShutdownSnapshot } from './types.js';

export function buildSnapshot(guests: Guest[], host: HostInfo, config: Config, bootId: string, takenAt: string): ShutdownSnapshot {
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
        policy: effectivePolicy(g, config),
      })),
  };
}
