// Which operations in a guest's currentOperations mean "a start / a stop is already under way".
// Names are XenAPI vm_operations; the xl backend reports the same names.

import type { Guest } from '../toolstack/types.js';

const STARTING = new Set(['start', 'start_on', 'resume', 'resume_on']);
const STOPPING = new Set(['clean_shutdown', 'hard_shutdown', 'shutdown']);

function hasOp(g: Guest, ops: ReadonlySet<string>): boolean {
  for (const op of Object.values(g.currentOperations)) if (ops.has(op)) return true;
  return false;
}

export function startInFlight(g: Guest): boolean {
  return hasOp(g, STARTING);
}

export function stopInFlight(g: Guest): boolean {
  return hasOp(g, STOPPING);
}

export function hardInFlight(g: Guest): boolean {
  return Object.values(g.currentOperations).includes('hard_shutdown');
}

export function anyOperationInFlight(g: Guest): boolean {
  return Object.keys(g.currentOperations).length > 0;
}

/** Up in the sense that matters at shutdown: it holds memory and a domain on this host. */
export function isLive(g: Guest): boolean {
  return g.powerState === 'Running' || g.powerState === 'Paused';
}
