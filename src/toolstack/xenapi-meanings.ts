// The XenAPI backend's translation of what xapi (and our XenAPI client) said into the meanings the
// engine decides on (core/meanings.ts). The code and parameters go along unchanged, for the report.

import { ToolstackError, type Meaning } from '../core/meanings.js';
import type { SeamOperation } from './translate.js';
import { CALL_TIMEOUT, TASK_LOST, UNREACHABLE, XenApiError } from '../xenapi/errors.js';


/** Passing conditions of the toolstack or the connection: they say nothing about the guest. */
const TRANSIENT = new Set([TASK_LOST, UNREACHABLE, CALL_TIMEOUT, 'XENAPI_NOT_READY', 'SESSION_INVALID', 'HOST_STILL_BOOTING']);

/** Refusals of a clean request that mean no clean path exists for this guest right now. */
const NO_CLEAN_PATH = new Set([
  'VM_LACKS_FEATURE',
  'VM_LACKS_FEATURE_SHUTDOWN', // removed from xapi in 2025; older hosts still send it
  'VM_MISSING_PV_DRIVERS',
  'OPERATION_BLOCKED',
  'OPERATION_NOT_ALLOWED',
]);

/**
 * Failures of a start or a plug that xapi gives while storage is not there yet: the SM backend's own
 * errors (an NFS mount or iSCSI login that failed), a disk's SR not plugged on the host, and a
 * conflicting operation whose queue gave up. Asking again later can succeed.
 */
function storageNotYet(code: string): boolean {
  return code.startsWith('SR_BACKEND_FAILURE') || ['VM_REQUIRES_SR', 'SR_NOT_ATTACHED', 'PBD_NOT_PLUGGED', 'SR_UNAVAILABLE', 'OTHER_OPERATION_IN_PROGRESS'].includes(code);
}

/** HANDLE_INVALID / UUID_INVALID name the class first: only a VM's means the guest is gone. */
function namesMissingVm(err: XenApiError): boolean {
  if (err.code !== 'HANDLE_INVALID' && err.code !== 'UUID_INVALID') return false;
  const cls = err.params[0];
  return cls === undefined || cls.toLowerCase() === 'vm';
}

export function xapiMeaning(err: XenApiError, op: SeamOperation): Meaning {
  if (TRANSIENT.has(err.code)) return 'transient';
  if (err.code === 'VM_BAD_POWER_STATE') return 'wrong-state';
  if (namesMissingVm(err)) return 'gone';
  if (op === 'clean-shutdown' && NO_CLEAN_PATH.has(err.code)) return 'no-clean-path';
  if ((op === 'start' || op === 'plug-storage') && storageNotYet(err.code)) return 'transient';
  return 'refused';
}

/** A XenApiError as the seam's ToolstackError; anything else (a bug, a file error) unchanged. */
export function translateXapiError(err: unknown, op: SeamOperation): unknown {
  if (!(err instanceof XenApiError)) return err;
  return new ToolstackError(xapiMeaning(err, op), err.code, err.params, err.message, { cause: err });
}
