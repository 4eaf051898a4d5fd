// `xen-guests host maintenance on|off|show`: the host's own maintenance mode. On a plain Xen (xl)
// host it is a flag in the state directory that the xl backend reads; on XCP-ng / XenServer it is
// xapi's own host.enabled (xe host-disable, XO's maintenance mode), which this command only shows,
// so that there is one source of truth per toolstack.

import { openContext } from '../context.js';
import { reachToolstack } from '../reach.js';
import { describeHostMaintenance } from '../../core/plan.js';
import { hostMaintenancePath, readHostMaintenance, writeHostMaintenance } from '../../state/host-maintenance.js';
import { whoAmI } from './maintenance.js';
import { ADMIN_OPTIONS, COMMON_HELP, CommandFailure, EXIT_FAILED, EXIT_OK, jsonAnswer, parseCommandArgs, printJson, runCommand, stringOption, UsageError } from '../format/usage.js';

const HELP = `Usage: xen-guests host maintenance on --reason TEXT [options]
       xen-guests host maintenance off [options]
       xen-guests host maintenance show [options]

A host in maintenance mode starts no guest at boot (the boot plan skips each one with
"host in maintenance mode (since …, by …)"); status and plan say so at the top. Shutdown is
unchanged: guests are still stopped cleanly.

On a plain Xen host (toolstack.kind = "xl") "on" and "off" set and clear a flag in the state
directory (<state_dir>/host-maintenance.json) with the reason, the time and who set it.
On XCP-ng / XenServer maintenance mode is xapi's own: xe host-disable (or Xen Orchestra's
maintenance mode) turns it on, xe host-enable off; "show" reports it, "on"/"off" refuse.

  --reason TEXT    why (required for "on"); shown by status and plan

${COMMON_HELP}

Examples:
  xen-guests host maintenance on --reason "RAM upgrade, ticket 4711"
  xen-guests host maintenance show --json
  xen-guests host maintenance off

Exit status: 0 on success, 1 when it could not be changed or read, 2 on bad arguments.`;

const OPTIONS = { ...ADMIN_OPTIONS, reason: { type: 'string' } } as const;

/** On XenAPI, host.enabled is the one source of truth: say how to change it, for this very host. */
function xapiOwnsMaintenance(sub: 'on' | 'off', hostUuid: string): string {
  const how = sub === 'on' ? `xe host-disable uuid=${hostUuid} (or Xen Orchestra's maintenance mode)` : `xe host-enable uuid=${hostUuid}`;
  return `on XCP-ng / XenServer maintenance mode is xapi's host.enabled; turn it ${sub} with: ${how}`;
}

export async function run(argv: string[]): Promise<number> {
  return runCommand('host', HELP, argv, async () => {
    const { values, positionals } = parseCommandArgs(argv, OPTIONS, true);
    const [topic, sub, ...extra] = positionals;
    if (topic !== 'maintenance') throw new UsageError(`${topic === undefined ? 'missing topic' : `unknown topic "${topic}"`}; allowed: maintenance`);
    if (sub !== 'on' && sub !== 'off' && sub !== 'show') {
      throw new UsageError(`${sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`} for "host maintenance"; allowed: on, off, show`);
    }
    if (extra.length) throw new UsageError(`"host maintenance ${sub}" takes no more arguments (got ${extra.join(' ')})`);
    const reason = stringOption(values, 'reason');
    if (sub === 'on' && (reason === undefined || reason.trim() === '')) throw new UsageError('--reason TEXT is required for "host maintenance on": say why; status and plan show it');
    if (sub !== 'on' && reason !== undefined) throw new UsageError(`--reason belongs to "host maintenance on", not "host maintenance ${sub}"`);

    const ctx = await openContext(values, { jsonLogs: false, logLevel: 'warn', originator: 'xen-guests host' });
    try {
      if (sub === 'show' || ctx.config.toolstack.kind !== 'xl') {
        // Through reachToolstack like every command: nothing listening ends it at once, --wait waits.
        const host = await (await reachToolstack(ctx, values)).host();
        if (sub !== 'show') throw new CommandFailure(xapiOwnsMaintenance(sub, host.uuid), EXIT_FAILED, `host maintenance ${sub}`);
        const m = host.maintenance ?? null;
        if (values.json) printJson(jsonAnswer('host maintenance show', { host: host.uuid, maintenance: m }));
        else process.stdout.write(m ? `${describeHostMaintenance(m)}\n` : `host ${host.name} (${host.uuid}) is not in maintenance mode\n`);
        return EXIT_OK;
      }
      const before = await readHostMaintenance(ctx.stateDir);
      const after = sub === 'on' ? { reason: reason!.trim(), since: new Date().toISOString(), by: whoAmI() } : null;
      await writeHostMaintenance(ctx.stateDir, after);
      if (values.json) printJson(jsonAnswer(`host maintenance ${sub}`, { file: hostMaintenancePath(ctx.stateDir), before, after }));
      else if (after) process.stdout.write(`${describeHostMaintenance(after)}\n`);
      else process.stdout.write(before ? 'host maintenance mode is off\n' : 'host maintenance mode was not on; nothing changed\n');
      return EXIT_OK;
    } finally {
      await ctx.close();
    }
  });
}
