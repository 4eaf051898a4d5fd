// A full garbage collection on demand, for the one moment the daemon knows a large heap just became
// garbage (after the boot plan, before it idles until the host shuts down). Left alone, V8 would
// keep that heap resident: an idle process allocates nothing, so nothing prompts a collection.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

interface BunRuntime {
  gc(force: boolean): void;
}

/** V8 flushes bytecode not run for this many full collections (its bytecode_old_age), plus one. */
const BYTECODE_AGING_COLLECTIONS = 7;

export function collectGarbage(): void {
  const bun = (globalThis as { Bun?: BunRuntime }).Bun;
  if (bun) {
    bun.gc(true);
    return;
  }
  // V8 hands out its gc() only to contexts created after --expose-gc is set; a fresh one gets it.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as unknown;
  if (typeof gc !== 'function') return;
  // Each full collection ages the bytecode of functions that did not run since the last one; V8
  // drops bytecode that reached old age. A few collections in a row so let go of the code only the
  // boot plan ran (reading, planning, starting); it is compiled again if a stop needs it.
  for (let i = 0; i < BYTECODE_AGING_COLLECTIONS; i++) (gc as () => void)();
}
