// `xen-guests maintenance on|off|list`: a mark kept in the toolstack (so it survives reboots and xe /
// XO show it) that keeps a guest from being auto-started, with who set it, when and why.
// --block-start also blocks the start operation in xapi itself; `off` lifts only a block we set,
// recognised by the prefix of its reason.

import { hostname, userInfo } from 'node:os';
import { openContext } from '../context.js';
import { reachToolstack } from '../reach.js';
import { OTHER_CONFIG_KEY } from '../../core/keys.js';
import type { Guest, Toolstack } from '../../toolstack/types.js';
import { isGuest } from '../../core/not-a-guest.js';
import { selectGuests } from '../select.js';
import { setOtherConfig } from './enable.js';
import { renderTable } from '../format/table.js';
import { ADMIN_OPTIONS, COMMON_HELP, EXIT_FAILED, EXIT_OK, parseCommandArgs, jsonAnswer, printJson, runCommand, stringOption, UsageError } from '../format/usage.js';

export const MAINTENANCE_KEY = OTHER_CONFIG_KEY.maintenance;
export const SINCE_KEY = OTHER_CONFIG_KEY.maintenance_since;
export const BY_KEY = OTHER_CONFIG_KEY.maintenance_by;
/** blocked_operations:start values we wrote start with this, so `off` never lifts someone else's block. */
export const BLOCK_PREFIX = 'xen-guests maintenance: ';

const HELP = `Usage: xen-guests maintenance on VM… --reason TEXT [--block-start] [options]
       xen-guests maintenance off VM… [options]
       xen-guests maintenance list [options]

A guest in maintenance is never auto-started (boot plan, start-all) and is shown with its reason,
time and who set it by status, plan and list. The mark lives in the toolstack, in other_config:
  ${MAINTENANCE_KEY} = reason, ${SINCE_KEY} = ISO time, ${BY_KEY} = user@host
so it survives reboots and is visible in xe vm-param-list and Xen Orchestra.

  --reason TEXT    why (required for "on"); shown everywhere the guest is
  --block-start    also set blocked_operations:start, so xapi itself refuses to start the guest
                   (by hand, by XO, by HA); "off" removes it again when xen-guests set it

${COMMON_HELP}

Examples:
  xen-guests maintenance on db-1 --reason "disk replacement, ticket 4711"
  xen-guests maintenance on 8d3c2f7e-1b6a-4c55-9e0d-2f5a6b7c8d9e --reason "restore test" --block-start
  xen-guests maintenance off db-1
  xen-guests maintenance list --json

Exit status: 0 on success, 1 when a VM could not be changed (named on stderr), 2 on bad arguments.`;

const OPTIONS = {
  ...ADMIN_OPTIONS,
  reason: { type: 'string' },
  'block-start': { type: 'boolean' },
} as const;

export interface MaintenanceRow {
  uuid: string;
  name: string;
  powerState: string;
  reason: string;
  since: string | null;
  by: string | null;
  /** blocked_operations:start as found (ours or someone else's), null when start is not blocked. */
  startBlocked: string | null;
}

export interface MaintenanceChange {
  uuid: string;
  name: string;
  /** The reason before the change, null when the guest was not in maintenance. */
  before: string | null;
  /** The reason after, null when maintenance is off. */
  after: string | null;
  startBlocked: string | null;
  notes: string[];
}

export function whoAmI(): string {
  let user = process.env.SUDO_USER || process.env.USER || '';
  if (!user) {
    try {
      user = userInfo().username;
    } catch {
      user = 'unknown';
    }
  }
  return `${user}@${hostname()}`;
}

function rowOf(g: Guest): MaintenanceRow {
  return {
    uuid: g.uuid,
    name: g.name,
    powerState: g.powerState,
    reason: g.otherConfig[MAINTENANCE_KEY] ?? '',
    since: g.otherConfig[SINCE_KEY] ?? null,
    by: g.otherConfig[BY_KEY] ?? null,
    startBlocked: g.blockedOperations.start ?? null,
  };
}

async function turnOn(toolstack: Toolstack, g: Guest, reason: string, blockStart: boolean): Promise<MaintenanceChange> {
  const before = g.otherConfig[MAINTENANCE_KEY] ?? null;
  const notes: string[] = [];
  if (before !== null && before !== reason) notes.push(`reason replaced (was "${before}")`);
  await setOtherConfig(toolstack, g, MAINTENANCE_KEY, reason);
  await setOtherConfig(toolstack, g, SINCE_KEY, new Date().toISOString());
  await setOtherConfig(toolstack, g, BY_KEY, whoAmI());
  let startBlocked = g.blockedOperations.start ?? null;
  const ours = startBlocked?.startsWith(BLOCK_PREFIX) === true;
  // A start block we set earlier carries the reason too: a new reason replaces it there as well,
  // so xapi's refusal never quotes the old one.
  if (blockStart || ours) {
    if (startBlocked !== null && !ours) {
      notes.push(`start was already blocked by someone else ("${startBlocked}"); left as is`);
    } else if (startBlocked !== BLOCK_PREFIX + reason) {
      startBlocked = BLOCK_PREFIX + reason;
      await toolstack.removeBlockedOperation(g, 'start');
      await toolstack.setBlockedOperation(g, 'start', startBlocked);
    }
  }
  if (g.powerState === 'Running') notes.push('it keeps running; maintenance only stops automatic starts');
  return { uuid: g.uuid, name: g.name, before, after: reason, startBlocked, notes };
}

async function turnOff(toolstack: Toolstack, g: Guest): Promise<MaintenanceChange> {
  const before = g.otherConfig[MAINTENANCE_KEY] ?? null;
  const notes: string[] = [];
  if (before === null) notes.push('was not in maintenance');
  for (const key of [MAINTENANCE_KEY, SINCE_KEY, BY_KEY]) {
    if (key in g.otherConfig) await toolstack.removeOtherConfigKey(g, key);
  }
  let startBlocked = g.blockedOperations.start ?? null;
  if (startBlocked?.startsWith(BLOCK_PREFIX)) {
    await toolstack.removeBlockedOperation(g, 'start');
    startBlocked = null;
  } else if (startBlocked !== null) {
    notes.push(
      `start stays blocked by another tool ("${startBlocked}"); lift it with ` +
        `xe vm-param-remove uuid=${g.uuid} param-name=blocked-operations param-key=start`,
    );
  }
  return { uuid: g.uuid, name: g.name, before, after: null, startBlocked, notes };
}

function printChanges(changes: MaintenanceChange[]): void {
  if (changes.length === 0) return;
  const rows = changes.map((c) => [c.name, c.uuid, c.after === null ? 'off' : 'on', c.after ?? '', c.startBlocked === null ? 'no' : 'yes']);
  process.stdout.write(renderTable([{ header: 'GUEST' }, { header: 'UUID' }, { header: 'MAINTENANCE' }, { header: 'REASON' }, { header: 'START BLOCKED' }], rows) + '\n');
  for (const c of changes) for (const note of c.notes) process.stdout.write(`note: ${c.name}: ${note}\n`);
}

function printList(rows: MaintenanceRow[]): void {
  if (rows.length === 0) {
    process.stdout.write('No guest is in maintenance.\n');
    return;
  }
  const table = rows.map((r) => [r.name, r.uuid, r.powerState, r.since ?? '-', r.by ?? '-', r.startBlocked === null ? 'no' : 'yes', r.reason]);
  process.stdout.write(
    renderTable([{ header: 'GUEST' }, { header: 'UUID' }, { header: 'POWER' }, { header: 'SINCE' }, { header: 'BY' }, { header: 'START BLOCKED' }, { header: 'REASON' }], table) + '\n',
  );
}

export async function run(argv: string[]): Promise<number> {
  return runCommand('maintenance', HELP, argv, async () => {
    const { values, positionals } = parseCommandArgs(argv, OPTIONS, true);
    const [sub, ...vms] = positionals;
    if (sub !== 'on' && sub !== 'off' && sub !== 'list') {
      throw new UsageError(`${sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`}; allowed: on, off, list`);
    }
    const reason = stringOption(values, 'reason');
    if (sub === 'list' && vms.length) throw new UsageError(`"maintenance list" takes no VM arguments (got ${vms.join(' ')})`);
    if (sub !== 'list' && vms.length === 0) throw new UsageError(`name at least one VM (uuid or name-label) for "maintenance ${sub}"`);
    if (sub === 'on' && (reason === undefined || reason.trim() === '')) {
      throw new UsageError('--reason TEXT is required for "maintenance on": say why; it is shown by status, plan and list');
    }
    if (sub !== 'on' && (reason !== undefined || values['block-start'])) {
      throw new UsageError(`--reason and --block-start belong to "maintenance on", not "maintenance ${sub}"`);
    }

    const ctx = await openContext(values, { jsonLogs: false, logLevel: 'warn', originator: 'xen-guests maintenance' });
    try {
      const toolstack = await reachToolstack(ctx, values);
      const all = await toolstack.guests();
      if (sub === 'list') {
        const rows = all.filter((g) => isGuest(g) && MAINTENANCE_KEY in g.otherConfig).map(rowOf);
        if (values.json) printJson(jsonAnswer('maintenance list', { guests: rows }));
        else printList(rows);
        return EXIT_OK;
      }
      const { guests, errors } = selectGuests(vms, all);
      const changes: MaintenanceChange[] = [];
      for (const g of guests) {
        try {
          changes.push(sub === 'on' ? await turnOn(toolstack, g, reason!.trim(), values['block-start'] === true) : await turnOff(toolstack, g));
        } catch (err) {
          errors.push(`${g.name} (${g.uuid}): could not turn maintenance ${sub}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      if (values.json) printJson(jsonAnswer(`maintenance ${sub}`, { results: changes }, errors));
      else printChanges(changes);
      for (const e of errors) process.stderr.write(`xen-guests maintenance: ${e}\n`);
      return errors.length ? EXIT_FAILED : EXIT_OK;
    } finally {
      await ctx.close();
    }
  });
}
