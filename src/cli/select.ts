// Turning the VM arguments an admin typed into guests, the way xe names VMs: a uuid (or any unique
// start of one, as the tables show and tab completion gives), or a name-label. Templates, snapshots
// and the control domain are never acted on, so naming one is an error that says what it is; a name
// shared by several guests is an error that lists their uuids.

import { isGuest, notAGuest, type NotAGuest } from '../core/not-a-guest.js';
import type { Guest } from '../toolstack/types.js';

export interface Selection {
  guests: Guest[];
  /** One line per argument that did not resolve to exactly one guest we may act on. */
  errors: string[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const WHAT_IT_IS: Record<NotAGuest, string> = {
  'control-domain': 'is the control domain',
  snapshot: 'is a snapshot',
  template: 'is a template',
};

/** Why a VM is not a guest xen-guests acts on, or null when it is one. */
function whyNotAGuest(vm: Guest): string | null {
  const kind = notAGuest(vm);
  return kind === null ? null : WHAT_IT_IS[kind];
}

function describe(vm: Guest): string {
  return `"${vm.name}" (${vm.uuid})`;
}

/** A start of a uuid as tables show it (e.g. the 8-character column), as xe users type it. */
const UUID_PREFIX = /^[0-9a-f]{1,8}(-[0-9a-f]{0,4}){0,3}(-[0-9a-f]{0,12})?$/i;

function checkedGuest(vm: Guest): Guest | string {
  const why = whyNotAGuest(vm);
  return why ? `VM ${describe(vm)} ${why}; xen-guests only acts on ordinary guests` : vm;
}

/** Guests whose uuid starts with arg: one is the guest meant, several need a longer prefix. */
function resolvePrefix(arg: string, all: Guest[]): Guest | string | null {
  if (!UUID_PREFIX.test(arg)) return null;
  const matches = all.filter((vm) => vm.uuid.toLowerCase().startsWith(arg.toLowerCase()));
  if (matches.length === 1) return checkedGuest(matches[0]!);
  if (matches.length > 1) {
    return `the uuid prefix "${arg}" matches ${matches.length} VMs: ${matches.map((vm) => `${vm.uuid} "${vm.name}"`).join(', ')}; type more of the uuid`;
  }
  return null;
}

function resolveOne(arg: string, all: Guest[]): Guest | string {
  if (arg.trim() === '') return 'an empty VM name was given; name a VM by uuid or name-label';
  const byUuid = UUID.test(arg) ? all.find((vm) => vm.uuid.toLowerCase() === arg.toLowerCase()) : undefined;
  if (byUuid) return checkedGuest(byUuid);
  const named = all.filter((vm) => vm.name === arg);
  const guests = named.filter(isGuest);
  if (guests.length === 1) return guests[0]!;
  if (guests.length > 1) {
    return `the name "${arg}" matches ${guests.length} guests: ${guests.map((g) => g.uuid).join(', ')}; name the one you mean by uuid`;
  }
  if (named.length > 0) {
    return `VM "${arg}" ${named.map((vm) => `(${vm.uuid}) ${whyNotAGuest(vm)}`).join(', ')}; xen-guests only acts on ordinary guests`;
  }
  // Names win over uuid prefixes: a guest called "cafe" is meant by "cafe" even if a uuid starts so.
  const byPrefix = resolvePrefix(arg, all);
  if (byPrefix !== null) return byPrefix;
  const hint = UUID.test(arg) ? 'no VM has this uuid' : 'no VM has this uuid (or uuid prefix) or name-label';
  return `VM "${arg}" not found: ${hint} (xe vm-list shows the names; names are case-sensitive)`;
}

/** Resolve every argument; a guest named twice (by name and by uuid) is kept once. */
export function selectGuests(args: string[], all: Guest[]): Selection {
  const guests: Guest[] = [];
  const errors: string[] = [];
  for (const arg of args) {
    const found = resolveOne(arg, all);
    if (typeof found === 'string') errors.push(found);
    else if (!guests.some((g) => g.uuid === found.uuid)) guests.push(found);
  }
  return { guests, errors };
}
