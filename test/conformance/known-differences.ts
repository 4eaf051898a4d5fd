// Differences between the recorded real xapi and the simulator that stay, each with why. The same
// list, in prose, is in docs/SIMULATOR.md ("Where it differs from a real xapi"). A difference the
// suite finds that no entry covers fails the suite; an entry that covers nothing fails it too (so
// the list cannot go stale).

import type { Diff } from './compare.js';
import type { RecordedCall } from './traces.js';

export interface KnownDifference {
  id: string;
  why: string;
  /** Which answers: file name, call name. */
  file?: RegExp;
  call?: RegExp;
  line?: number[];
  /** Which differences in them: path (dot-joined) and kind. */
  path?: RegExp;
  kind?: Diff['kind'];
}

export const KNOWN_DIFFERENCES: KnownDifference[] = [];

export function justification(call: RecordedCall, d: Diff): KnownDifference | undefined {
  return KNOWN_DIFFERENCES.find(
    (k) =>
      (!k.file || k.file.test(call.file)) &&
      (!k.call || k.call.test(call.call)) &&
      (!k.line || k.line.includes(call.line)) &&
      (!k.path || k.path.test(d.path)) &&
      (!k.kind || k.kind === d.kind),
  );
}
