// `xen-guests enable VM…` / `disable VM…`: the auto_poweron flag XenCenter and Xen Orchestra show,
// set in the toolstack so every tool sees the same answer. disable.ts reuses this module.

import { openContext } from '../context.js';
import { reachToolstack } from '../reach.js';
import { OTHER_CONFIG_KEY } from '../../core/keys.js';
import { describeProvenance, effectivePolicy } from '../../core/policy.js';
import type { Config } from '../../core/types.js';
import type { Guest, HostInfo, Toolstack } from '../../toolstack/types.js';
import { isHaManaged } from '../../core/plan.js';
import { selectGuests } from '../select.js';
import { renderTable } from '../format/table.js';
import { ADMIN_OPTIONS, COMMON_HELP, EXIT_FAILED, EXIT_OK, parseCommandArgs, jsonAnswer, printJson, runCommand, UsageError } from '../format/usage.js';

const AUTO_POWERON = 'auto_poweron';

export interface FlagResult {
  uuid: string;
  name: string;
  before: string | null;
  after: string;
  changed: boolean;
  /** What the daemon now does with the guest at boot, all keys considered. */
  atBoot: 'start' | 'restore' | 'ignore';
  /** Where that came from (the key or config entry that decides). */
  decidedBy: string;
  /** In maintenance: not started whatever atBoot says, until `maintenance off`. */
  inMaintenance: boolean;
  notes: string[];
}

function help(name: 'enable' | 'disable'): string {
  const value = name === 'enable' ? 'true' : 'false';
  return `Usage: xen-guests ${name} VM… [options]

Set other_config:auto_poweron=${value} on each VM (named by uuid or name-label, as xe names them):
${name === 'enable' ? 'the guest is started when the host boots' : 'the guest is no longer started when the host boots'}, in its VM.order group.
This is the flag XenCenter and Xen Orchestra show as "auto power on". A guest's own
xen-guests:on_start overrides it: when that key says the opposite (${name === 'enable' ? 'ignore' : 'start or restore'}), ${name} removes it
and says so, so the guest ends as asked; the AT BOOT column shows what the daemon will do with it.
When the config decides instead (boot.honour_auto_poweron=false, a [guests] table), the guest is
named on stderr with the entry to change, and the exit status is 1. Templates, snapshots and the
control domain are refused.

${COMMON_HELP}

Examples:
  xen-guests ${name} web-1 web-2
  xen-guests ${name} 8d3c2f7e-1b6a-4c55-9e0d-2f5a6b7c8d9e --json
  xen-guests ${name} db --xapi unix:/var/lib/xcp/xapi

Exit status: 0 when every VM ends as asked, 1 when one could not be set or something else still
decides otherwise (each named on stderr), 2 on bad arguments, 78 a bad config file.`;
}

/** The pool-level flag makes xapi's own autostart act too: pool-wide, one by one, ignoring VM.order. */
export function poolAutoPoweronWarning(host: HostInfo): string | null {
  if (!host.poolAutoPoweron) return null;
  return (
    "pool other-config:auto_poweron=true, so xapi's own xapi-autostart-vms also starts these guests at boot " +
    '(pool-wide, one at a time, ignoring VM.order and maintenance). Turn it off with: ' +
    'xe pool-param-remove uuid=$(xe pool-list --minimal) param-name=other-config param-key=auto_poweron'
  );
}

function notesFor(guest: Guest, value: string): string[] {
  const maintenance = guest.otherConfig[OTHER_CONFIG_KEY.maintenance];
  if (value === 'true' && maintenance !== undefined) {
    return [`in maintenance ("${maintenance}"): not started until xen-guests maintenance off ${guest.uuid}`];
  }
  return [];
}

const ON_START_KEY = OTHER_CONFIG_KEY.on_start;

/** The guest's own on_start when it is valid and says the opposite of what the admin asks. */
function overridingOnStart(guest: Guest, value: string, config: Config): string | null {
  if (effectivePolicy(guest, config).sources.onStart.key !== ON_START_KEY) return null;
  const onStart = guest.otherConfig[ON_START_KEY]!.trim();
  const wantsStart = value === 'true';
  return wantsStart === (onStart === 'ignore') ? onStart : null;
}

/**
 * Set auto_poweron, remove an on_start that would contradict it, and read back what the daemon
 * will now do — from the toolstack, so the answer is the one the next boot sees.
 */
async function setOne(toolstack: Toolstack, guest: Guest, value: string, config: Config): Promise<{ result: FlagResult; error: string | null }> {
  const before = guest.otherConfig[AUTO_POWERON] ?? null;
  const notes = notesFor(guest, value);
  if (before !== value) await setOtherConfig(toolstack, guest, AUTO_POWERON, value);
  const override = overridingOnStart(guest, value, config);
  if (override !== null) {
    await toolstack.removeOtherConfigKey(guest, ON_START_KEY);
    notes.push(`removed ${ON_START_KEY}=${override}, which overrode auto_poweron on this guest`);
  }
  const now = (await toolstack.guest(guest.uuid)) ?? guest;
  const policy = effectivePolicy(now, config);
  const atBoot = policy.onStart;
  const decidedBy = describeProvenance(policy.sources.onStart);
  const wanted = value === 'true' ? atBoot !== 'ignore' : atBoot === 'ignore';
  const error = wanted
    ? null
    : `${guest.name} (${guest.uuid}): auto_poweron is now ${value}, but ${decidedBy} still decides (on_start ${atBoot}); change that entry to make it ${value === 'true' ? 'start' : 'stay off'} at boot`;
  return { result: { uuid: guest.uuid, name: guest.name, before, after: value, changed: before !== value, atBoot, decidedBy, inMaintenance: policy.maintenance !== null, notes }, error };
}

/** Guests HA restarts: xen-guests leaves them to HA at boot, so enabling autostart there is two managers. */
function haWarnings(guests: readonly Guest[], host: HostInfo): string[] {
  return guests
    .filter((g) => isHaManaged(g, host))
    .map(
      (g) =>
        `${g.name} (${g.uuid}): pool HA is on and its ha_restart_priority is "${g.haRestartPriority}": HA restarts it, so the boot plan leaves it to HA ` +
        `and auto_poweron has no effect while HA protects it; to have xen-guests start it in its order group instead, ` +
        `take it out of HA: xe vm-param-set uuid=${g.uuid} ha-restart-priority=`,
    );
}

/** Remove-then-add: add_to_other_config on an existing key fails with MAP_DUPLICATE_KEY. */
export async function setOtherConfig(toolstack: Toolstack, guest: Guest, key: string, value: string): Promise<void> {
  await toolstack.removeOtherConfigKey(guest, key);
  await toolstack.setOtherConfigKey(guest, key, value);
}

function atBootText(r: FlagResult): string {
  if (r.atBoot === 'ignore') return 'not started';
  return r.inMaintenance ? `${r.atBoot}, after maintenance off` : r.atBoot;
}

export async function setAutoPoweron(name: 'enable' | 'disable', argv: string[]): Promise<number> {
  const value = name === 'enable' ? 'true' : 'false';
  return runCommand(name, help(name), argv, async () => {
    const { values, positionals } = parseCommandArgs(argv, ADMIN_OPTIONS, true);
    if (positionals.length === 0) throw new UsageError('name at least one VM (uuid or name-label)');
    const ctx = await openContext(values, { jsonLogs: false, logLevel: 'warn', originator: `xen-guests ${name}` });
    try {
      const toolstack = await reachToolstack(ctx, values);
      const [all, host] = await Promise.all([toolstack.guests(), toolstack.host()]);
      const { guests, errors } = selectGuests(positionals, all);
      const results: FlagResult[] = [];
      for (const guest of guests) {
        try {
          const { result, error } = await setOne(toolstack, guest, value, ctx.config);
          results.push(result);
          if (error) errors.push(error);
        } catch (err) {
          errors.push(`${guest.name} (${guest.uuid}): could not set auto_poweron: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      const warnings = [value === 'true' ? poolAutoPoweronWarning(host) : null].filter((w): w is string => w !== null);
      if (value === 'true') warnings.push(...haWarnings(guests, host));
      if (values.json) {
        printJson(jsonAnswer(name, { results, warnings }, errors));
      } else if (results.length) {
        const rows = results.map((r) => [r.name, r.uuid, `${r.before ?? '(unset)'} → ${r.after}`, r.changed ? 'changed' : 'already set', atBootText(r)]);
        process.stdout.write(renderTable([{ header: 'GUEST' }, { header: 'UUID' }, { header: 'AUTO_POWERON' }, { header: '' }, { header: 'AT BOOT' }], rows) + '\n');
        for (const r of results) for (const note of r.notes) process.stdout.write(`note: ${r.name}: ${note}\n`);
      }
      for (const w of warnings) process.stderr.write(`xen-guests ${name}: warning: ${w}\n`);
      for (const e of errors) process.stderr.write(`xen-guests ${name}: ${e}\n`);
      return errors.length ? EXIT_FAILED : EXIT_OK;
    } finally {
      await ctx.close();
    }
  });
}

export function run(argv: string[]): Promise<number> {
  return setAutoPoweron('enable', argv);
}
