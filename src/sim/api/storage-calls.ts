// SR, PBD, VDI and VBD: the generic accessors, PBD.plug / PBD.unplug, and the session-less
// sim.set_sr_available that decides whether a plug can succeed (docs/SIMULATOR.md, "Storage").

import { ApiError } from '../errors.js';
import { pbdRecord, plugPbd, setSrAvailable, srRecord, srRefOf, unplugPbd, vbdRecord, vdiRecord } from '../storage.js';
import { VOID } from '../wire/values.js';
import { addClassAccessors, recordOrThrow } from './objects.js';
import type { Registry } from './registry.js';

export function addStorage(reg: Registry): void {
  addClassAccessors(reg, { cls: 'SR', sample: srRecord('', '', '', false), settable: ['name_label', 'name_description', 'other_config'], maps: ['other_config'] });
  addClassAccessors(reg, { cls: 'PBD', sample: pbdRecord('', '', '', false), settable: ['other_config'], maps: ['other_config'] });
  addClassAccessors(reg, { cls: 'VDI', sample: vdiRecord('', '', ''), settable: ['name_label', 'name_description', 'other_config'], maps: ['other_config'] });
  addClassAccessors(reg, { cls: 'VBD', sample: vbdRecord('', '', '', 0), settable: ['other_config'], maps: ['other_config'] });
  const self = { name: 'self', type: 'ref' as const };
  reg.add({
    name: 'PBD.plug',
    params: [self],
    session: true,
    async: true,
    run: (ctx, [ref]) =>
      ctx.inTask(async (task) => {
        await plugPbd(ctx.sim, ref as string, task.abort.signal);
        return VOID;
      }),
  });
  reg.add({
    name: 'PBD.unplug',
    params: [self],
    session: true,
    async: true,
    run: (ctx, [ref]) => {
      unplugPbd(ctx.sim, ref as string);
      return VOID;
    },
  });
  reg.add({
    name: 'sim.set_sr_available',
    params: [
      { name: 'sr', type: 'string' },
      { name: 'available', type: 'bool' },
      { name: 'after_s', type: 'float', default: 0 },
    ],
    session: false,
    run: (ctx, [sr, available, after]) => {
      const ref = srRefOf(ctx.sim, sr as string);
      recordOrThrow(ctx.sim, 'SR', ref);
      if (typeof available !== 'boolean') throw new ApiError('INVALID_VALUE', ['available', String(available), 'allowed: true or false']);
      const afterS = after as number;
      if (!(afterS >= 0)) throw new ApiError('INVALID_VALUE', ['after_s', String(afterS), 'allowed: simulated seconds ≥ 0']);
      // After a delay in simulated seconds: "the NFS server answers 30 s into the boot" at any time scale.
      if (afterS > 0) ctx.sim.clock.after(afterS, () => setSrAvailable(ctx.sim, ref, available));
      else setSrAvailable(ctx.sim, ref, available);
      return VOID;
    },
  });
}
