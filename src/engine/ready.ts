// What "started" means before the next order group may begin (xen-guests:ready).

import type { ReadyCheck } from '../core/types.js';
import type { Guest } from '../toolstack/types.js';

const VM_DATA = 'vm-data/';

/**
 * The predicate `toolstack.waitFor` waits on for this readiness check. `before` is the guest's
 * record just before we started it, which tells this run's facts from the last run's:
 * - a vm-data key it already held then is a leftover of an earlier boot (xenstore_data keeps what
 *   the guest wrote), so only a new value counts as "written";
 * - the agent facts of the guest-tools record it had then are the last run's agent (a halted guest
 *   keeps that record until the start replaces it, and the Running state may be seen first), so
 *   the agent counts only from another record.
 */
export function readinessHolds(check: ReadyCheck, before: Guest | null = null): (g: Guest) => boolean {
  switch (check.kind) {
    case 'running':
      return (g) => g.powerState === 'Running';
    case 'agent': {
      const lastRuns = before?.toolsRecord;
      return (g) => g.powerState === 'Running' && g.tools.agentLive && (lastRuns === undefined || g.toolsRecord !== lastRuns);
    }
    case 'vm-data': {
      // VM.xenstore_data keys carry the vm-data/ prefix; the policy may name the key with or without it.
      const key = check.key.startsWith(VM_DATA) ? check.key : VM_DATA + check.key;
      const bare = key.slice(VM_DATA.length);
      const valueOf = (g: Guest): string | undefined => nonEmpty(g.xenstoreData[key]) ?? nonEmpty(g.xenstoreData[bare]);
      const stale = before ? valueOf(before) : undefined;
      return (g) => {
        if (g.powerState !== 'Running') return false;
        const v = valueOf(g);
        return v !== undefined && v !== stale;
      };
    }
  }
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === '' ? undefined : v;
}

/** The condition awaited, worded so it reads right whether or not it came true. */
export function describeReadiness(check: ReadyCheck): string {
  switch (check.kind) {
    case 'running':
      return 'running';
    case 'agent':
      return 'guest agent reports';
    case 'vm-data':
      return `${check.key.startsWith(VM_DATA) ? check.key : VM_DATA + check.key} written by the guest`;
  }
}
