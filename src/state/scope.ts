// What a runtime record is about. The runtime directory (/run/xen-guests) is one per machine, but a
// daemon can be pointed at another host (another xapi url) or another state directory; a boot
// marker, journal line or shutdown record written for one must never steer the other. So every
// record names the host uuid and the state directory it describes, and a reader ignores the ones
// that name another (records without these fields, from older versions, are taken as before).

export interface RecordScope {
  /** Absolute path of the state directory the daemon that wrote it used. */
  stateDir: string;
  /** The host's uuid, when the writer knew it (null before the toolstack first answered). */
  hostUuid: string | null;
}

/** Why a record written under `theirs` is not about `mine`, or null when it is (or cannot be told). */
export function scopeMismatch(theirs: Partial<RecordScope>, mine: RecordScope): string | null {
  if (typeof theirs.stateDir === 'string' && theirs.stateDir !== mine.stateDir) {
    return `it is about state directory ${theirs.stateDir}, not ${mine.stateDir}`;
  }
  if (typeof theirs.hostUuid === 'string' && mine.hostUuid !== null && theirs.hostUuid !== mine.hostUuid) {
    return `it is about host ${theirs.hostUuid}, not this daemon's host ${mine.hostUuid}`;
  }
  return null;
}
