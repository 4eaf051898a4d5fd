// Failures of a xenstore request. xenstored answers errors as an errno name ("ENOENT", "EAGAIN" …);
// the client adds its own for what happens on this side (timeout, lost connection, closed client).

export type XenstoreErrorCode =
  | 'ENOENT'
  | 'EAGAIN'
  | 'EACCES'
  | 'EEXIST'
  | 'EINVAL'
  | 'EISDIR'
  | 'ENOMEM'
  | 'ENOSPC'
  | 'EIO'
  | 'ENOTEMPTY'
  | 'ENOSYS'
  | 'EROFS'
  | 'EBUSY'
  | 'EISCONN'
  | 'E2BIG'
  | 'EQUOTA'
  | 'ETIMEDOUT'
  | 'ECONNRESET'
  | 'ECLOSED'
  | 'EPROTO'
  | (string & {});

export class XenstoreError extends Error {
  constructor(
    readonly code: XenstoreErrorCode,
    /** The request that failed, e.g. "READ /local/domain/3/name". */
    readonly request: string,
    detail?: string,
  ) {
    super(`xenstore ${request}: ${code}${detail ? ` (${detail})` : ''}`);
    this.name = 'XenstoreError';
  }
}

export function isXenstoreError(err: unknown, code?: XenstoreErrorCode): err is XenstoreError {
  return err instanceof XenstoreError && (code === undefined || err.code === code);
}
