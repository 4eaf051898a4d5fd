// One Guest record as the toolstack backends produce it: a halted HVM guest with PV drivers and
// a live agent, every field filled. Tests override only what they are about.

import type { Guest } from '../../src/toolstack/types.js';

export const GiB = 1024 * 1024 * 1024;

let serial = 0;

export function nextUuid(): string {
  serial += 1;
  return `00000000-0000-4000-8000-${serial.toString(16).padStart(12, '0')}`;
}

export function makeGuest(overrides: Partial<Guest> = {}): Guest {
  const uuid = overrides.uuid ?? nextUuid();
  return {
    ref: `OpaqueRef:${uuid}`,
    uuid,
    name: `vm-${uuid.slice(-4)}`,
    powerState: 'Halted',
    isTemplate: false,
    isSnapshot: false,
    isControlDomain: false,
    residentOn: null,
    affinity: null,
    order: 0,
    startDelay: 0,
    shutdownDelay: 0,
    otherConfig: {},
    blockedOperations: {},
    memoryRequired: 1 * GiB,
    memoryMax: 1 * GiB,
    cleanShutdown: { able: true, reason: 'PV drivers 9.3.1 detected' },
    tools: { pvDrivers: true, version: '9.3.1', agentLive: true, upToDate: true, features: ['shutdown', 'poweroff', 'reboot'] },
    xenstoreData: {},
    currentOperations: {},
    domainType: 'hvm',
    ...overrides,
  };
}
