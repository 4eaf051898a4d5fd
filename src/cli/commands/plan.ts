// `xen-guests plan boot|shutdown`: the daemon's own planner run against the toolstack as it is now,
// without acting, so what an admin sees is exactly what the daemon would do.

import { openContext } from '../context.js';
import { reachToolstack } from '../reach.js';
import { buildPlan } from '../../core/plan.js';
import { effectivePolicies } from '../../core/policy.js';
import type { Config, EffectivePolicy, Plan, PlanMode } from '../../core/types.js';
import type { Logger } from '../../log.js';
import type { Guest, GuestStorage, GuestsQuery, Toolstack } from '../../toolstack/types.js';
import { readStateView } from '../../report/load.js';
import { renderPlan } from '../format/plan.js';
import { ADMIN_OPTIONS, COMMON_HELP, EXIT_OK, parseCommandArgs, jsonAnswer, printJson, runCommand, UsageError } from '../format/usage.js';

const HELP = `Usage: xen-guests plan boot|shutdown [options]

The dry run: what the daemon would do now at host boot or host shutdown. Per order group, per
guest: the action, its timeout and readiness check, and how long it took in the last run of this
kind (within a group the longest go first: boot.order_within_group, shutdown.order_within_group);
every guest left out with the reason
(maintenance, disabled, not this host's, suspended needs an admin, not enough memory, template…);
guests whose SRs are not plugged on this host now (the boot plugs them first and waits);
warnings (refused values such as on_stop=suspend, guests that cannot shut down cleanly, with their
guest-tools state); the totals; and for shutdown how the deadline is shared out.
Nothing is changed.

${COMMON_HELP}

Examples:
  xen-guests plan boot
  xen-guests plan shutdown --config /etc/xen-guests/config.toml
  xen-guests plan boot --json | jq '.skipped[] | {name: .guest.name, reason}'

Exit status: 0 when the plan was made, 1 when the toolstack could not be read, 2 on bad arguments.`;

export function parseMode(word: string | undefined): PlanMode {
  if (word === 'boot' || word === 'shutdown') return word;
  throw new UsageError(`${word === undefined ? 'missing mode' : `unknown mode "${word}"`}; allowed: boot, shutdown`);
}

/**
 * Boot plans need the last shutdown snapshot (the `restore` policy) and report (who it migrated
 * away); both kinds read the last report of their own kind (the order within a group), as the daemon does.
 * `read`: how the guests are read (start-all/stop-all, which run the plan, read through the event cache).
 */
export async function makePlan(mode: PlanMode, toolstack: Toolstack, config: Config, stateDir: string, log: Logger, read: GuestsQuery = {}): Promise<{ plan: Plan; guests: Guest[]; policies: Map<string, EffectivePolicy> }> {
  const [guests, host] = await Promise.all([toolstack.guests(read), toolstack.host()]);
  const state = await readStateView(stateDir, log, mode === 'boot' ? { snapshot: true, reports: ['shutdown', 'boot'] } : { reports: ['shutdown'] });
  const policies = effectivePolicies(guests, config);
  const plan = buildPlan({ mode, guests, host, config, snapshot: mode === 'boot' ? state.snapshot : null, lastShutdown: mode === 'boot' ? state.shutdown : null, lastRun: state[mode], policies });
  return { plan, guests, policies };
}

/**
 * Boot plans name the guests whose SRs are not plugged on this host now: the boot would plug them
 * first and wait (bounded by the guest's ready timeout). One read for the whole plan; when it fails
 * the entries stay as they are.
 */
export async function noteStorage(plan: Plan, guests: Guest[], toolstack: Toolstack): Promise<void> {
  if (plan.mode !== 'boot') return;
  const byUuid = new Map(guests.map((g) => [g.uuid, g]));
  const entries = plan.groups.flatMap((g) => g.entries).filter((e) => e.action === 'start' && byUuid.get(e.guest.uuid)?.powerState === 'Halted');
  if (entries.length === 0) return;
  const storage = await toolstack.storageOf(entries.map((e) => e.guest)).catch(() => new Map<string, GuestStorage[]>());
  for (const e of entries) {
    const missing = (storage.get(e.guest.uuid) ?? []).filter((s) => !s.plugged);
    if (missing.length === 0) continue;
    const srs = missing.map((s) => `'${s.name}'`).join(', ');
    e.reason = [e.reason, `SR ${srs} not plugged now: plugged first, waits up to ${e.timeout} s`].filter(Boolean).join('; ');
    plan.warnings.push({ guest: e.guest, message: `SR ${srs} not plugged on this host now; at boot the engine plugs it (PBD.plug, with backoff) before the start, for up to the guest's ready timeout (${e.timeout} s)` });
  }
}

export async function run(argv: string[]): Promise<number> {
  return runCommand('plan', HELP, argv, async () => {
    const { values, positionals } = parseCommandArgs(argv, ADMIN_OPTIONS, true);
    if (positionals.length > 1) throw new UsageError(`plan takes one mode, got: ${positionals.join(' ')}; allowed: boot, shutdown`);
    const mode = parseMode(positionals[0]);
    const ctx = await openContext(values, { jsonLogs: false, logLevel: 'warn', originator: 'xen-guests plan' });
    try {
      const toolstack = await reachToolstack(ctx, values);
      const { plan, guests } = await makePlan(mode, toolstack, ctx.config, ctx.stateDir, ctx.log);
      await noteStorage(plan, guests, toolstack);
      if (values.json) printJson(jsonAnswer(`plan ${mode}`, plan));
      else process.stdout.write(renderPlan(plan, guests));
      return EXIT_OK;
    } finally {
      await ctx.close();
    }
  });
}
