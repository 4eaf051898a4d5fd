// The one answer to "is this VM a guest we may act on?". Templates, snapshots and the control
// domain are VMs to the toolstack but never guests to us: never started, stopped or marked.

import type { Guest } from './guest.js';

/** The flags every backend fills in on a Guest (a snapshot's record has them too). */
export type VmKind = Pick<Guest, 'isTemplate' | 'isSnapshot' | 'isControlDomain'>;

export type NotAGuest = 'control-domain' | 'snapshot' | 'template';

/** What the VM is when it is not a guest, or null when it is one. */
export function notAGuest(vm: VmKind): NotAGuest | null {
  if (vm.isControlDomain) return 'control-domain';
  // xapi flags a snapshot as a template too: say the more precise thing.
  if (vm.isSnapshot) return 'snapshot';
  if (vm.isTemplate) return 'template';
  return null;
}

export function isGuest(vm: VmKind): boolean {
  return notAGuest(vm) === null;
}
