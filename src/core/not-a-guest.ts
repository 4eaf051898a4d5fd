// The one answer to "is this VM a guest we may act on?". Templates, snapshots and the control
// domain are VMs to the toolstack but never guests to us: never started, stopped or marked.

/** The flags every backend fills in on a Guest. */
export interface VmKind {
  isTemplate: boolean;
  isSnapshot: boolean;
  isControlDomain: boolean;
}

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
