// `xen-guests stop-all`: the shutdown plan run by hand; shared with start-all.

import { runAll } from './start-all.js';

export function run(argv: string[]): Promise<number> {
  return runAll('stop-all', argv);
}
