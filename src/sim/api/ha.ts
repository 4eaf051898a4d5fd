// sim.set_ha(bool): pool.ha_enabled without the heartbeat storage that enabling HA for real needs
// (pool.enable_ha). Only the flag is simulated: no HA restarts, no fencing (docs/SIMULATOR.md).

import { VOID } from '../wire/values.js';
import type { Registry } from './registry.js';

export function addSetHa(reg: Registry): void {
  reg.add({
    name: 'sim.set_ha',
    params: [{ name: 'enabled', type: 'bool' }],
    session: false,
    run: (ctx, [enabled]) => {
      for (const ref of ctx.sim.db.table('pool').keys()) ctx.sim.db.update('pool', ref, { ha_enabled: enabled as boolean });
      return VOID;
    },
  });
}
