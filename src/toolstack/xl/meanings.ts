// The xl backend's own failures in the seam's meanings (core/meanings.ts): codes of the xl world
// (XL_*, XENSTORE_*), never XenAPI's, so a report says what really failed on this host.

import { ToolstackError, type Meaning } from '../../core/meanings.js';
import { XenstoreError } from '../../xenstore/errors.js';
import type { SeamOperation } from '../translate.js';

/** xenstored did not answer in time, the connection dropped, or a transaction collided. */
const XENSTORE_TRANSIENT = new Set(['ETIMEDOUT', 'ECONNRESET', 'EAGAIN']);

export function xlFailure(meaning: Meaning, code: string, params: string[], message: string): ToolstackError {
  return new ToolstackError(meaning, code, params, message);
}

/** A xenstore failure as a ToolstackError; ToolstackErrors and anything else unchanged. */
export function translateXlError(err: unknown, _op?: SeamOperation): unknown {
  if (!(err instanceof XenstoreError)) return err;
  const meaning: Meaning = XENSTORE_TRANSIENT.has(err.code) ? 'transient' : 'refused';
  return new ToolstackError(meaning, `XENSTORE_${err.code}`, [err.request], err.message, { cause: err });
}
