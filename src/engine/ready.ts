// What "started" means before the next order group may begin (xen-guests:ready).

import type { ReadyCheck } from '../core/types.js';
import type { Guest } from '../toolstack/types.js';

const VM_DATA = 'vm-data/';

/** The predicate `toolstack.waitFor` waits on for this readiness check. */
export function readinessHolds(check: ReadyCheck): (g: Guest) => boolean {
  switch (check.kind) {
    case 'running':
      return (g) => g.powerState === 'Running';
    case 'agent':
      return (g) => g.powerState === 'Running' && g.tools.agentLive;
    case 'vm-data': {
      // VM.xenstore_data keys carry the vm-data/ prefix; the policy may name the key with or without it.
      const key = check.key.startsWith(VM_DATA) ? check.key : VM_DATA + check.key;
      const bare = key.slice(VM_DATA.length);
      return (g) => g.powerState === 'Running' && (hasValue(g.xenstoreData[key]) || hasValue(g.xenstoreData[bare]));
    }
  }
}

function hasValue(v: string | undefined): boolean {
  return v !== undefined && v !== '';
}

export function describeReadiness(check: ReadyCheck): string {
  switch (check.kind) {
    case 'running':
      return 'running';
    case 'agent':
      return 'guest agent live';
    case 'vm-data':
      return `guest wrote ${check.key.startsWith(VM_DATA) ? check.key : VM_DATA + check.key}`;
  }
}
