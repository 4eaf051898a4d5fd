// `xen-guests disable VM…`: auto_poweron=false; the logic is shared with enable.

import { setAutoPoweron } from './enable.js';

export function run(argv: string[]): Promise<number> {
  return setAutoPoweron('disable', argv);
}
