// The program under test. By default the clone's build, `node dist/src/cli/bin.js`; with
// XEN_GUESTS_BIN=PATH the self-contained executable (`npm run package` makes out/xen-guests), so
// the tests can run against exactly what the RPM ships. XEN_GUESTS_BIN_WRAPPER is a command put in
// front of it (split on spaces), e.g. `env LD_PRELOAD=…/fakeuname.so …/k419` to run it under
// Linux 4.19's syscall table; the wrapper must exec the program so that signals reach it.

import { resolve } from 'node:path';

export const DIST_BIN = resolve(import.meta.dirname, '../../dist/src/cli/bin.js');

/** The executable named by XEN_GUESTS_BIN, or null for the Node way. */
export const EXECUTABLE_UNDER_TEST = process.env.XEN_GUESTS_BIN ? resolve(process.env.XEN_GUESTS_BIN) : null;

const WRAPPER = (process.env.XEN_GUESTS_BIN_WRAPPER ?? '').split(' ').filter(Boolean);

/** Command and arguments that run `xen-guests ARGS` the way under test. */
export function productCommand(args: string[]): [string, string[]] {
  const [program, programArgs]: [string, string[]] = EXECUTABLE_UNDER_TEST ? [EXECUTABLE_UNDER_TEST, args] : [process.execPath, [DIST_BIN, ...args]];
  const [wrapper, ...wrapperArgs] = WRAPPER;
  return wrapper ? [wrapper, [...wrapperArgs, program, ...programArgs]] : [program, programArgs];
}
