// Which XenAPI calls may be sent a second time when we cannot tell whether the host read the first.
// A request that met a connection reset or broken before any answer may have been read and acted on
// by xapi (it drops the connection on an exception in its handler, or while a long call runs), so
// only a call whose repetition changes nothing the caller relies on goes out again: reads, the
// event stream's own calls, and a login (a second session is harmless and the first one expires).
// Everything else — VM.start, pool_migrate, PBD.plug, message.create… — fails as unreachable and
// its caller reads the state again before deciding anything.

/** `<class>.get_<anything>`: every record, field and lookup read (get_all_records_where too). */
const READ = /^[A-Za-z_]+\.get_[A-Za-z_]+$/;

/** Not reads by name, but repeating them is harmless: the event loop's long poll and its token
 * bump, a login, and the method list. */
const HARMLESS = new Set(['event.from', 'event.inject', 'session.login_with_password', 'system.listMethods']);

/**
 * Socket errors of a connection that broke after the request may have gone out on it (reset, or a
 * broken pipe while writing): whether the host read the call is unknown. A refused connection or a
 * missing socket, by contrast, shows the call never left.
 */
export const DROPPED_CONNECTION_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE']);

/** Whether a call that failed with this socket error may be sent again without knowing its fate. */
export function mayResendAfter(method: string, errno: string): boolean {
  return !DROPPED_CONNECTION_CODES.has(errno) || isSafeToRepeat(method);
}

export function isSafeToRepeat(method: string): boolean {
  return READ.test(method) || HARMLESS.has(method);
}
