// `xen-guests status [VM…]`: every guest of this host with its effective policy and where each part
// came from, maintenance, guest tools, what the daemon would do with it now, and what happened to it
// at the last boot and the last shutdown.

import { openContext } from '../context.js';
import { reachToolstack } from '../reach.js';
import { buildPlan } from '../../core/plan.js';
import { effectivePolicies } from '../../core/policy.js';
import type { PlanEntry } from '../../core/types.js';
import type { Guest } from '../../toolstack/types.js';
import { readStateView } from '../../report/load.js';
import { isGuest } from '../../core/not-a-guest.js';
import { selectGuests } from '../select.js';
import { migrationsView } from '../../engine/status-migrations.js';
import { readBootId } from '../../state/boot-id.js';
import type { HostInfo, Toolstack } from '../../toolstack/types.js';
import { renderStatusDetail, renderStatusTable, summarizeRun, type StatusEntry, type StatusView } from '../format/status.js';
import { ADMIN_OPTIONS, COMMON_HELP, EXIT_FAILED, EXIT_OK, jsonAnswer, parseCommandArgs, printJson, runCommand } from '../format/usage.js';

const HELP = `Usage: xen-guests status [VM…] [options]

Every guest of this host: power state; effective policy (on_start, on_stop, order, shutdown
timeout, readiness check) with where each part came from (an other_config key, a native VM field,
the config file, or the built-in default); maintenance with its reason, time and who set it;
guest-tools state; what the daemon would do with it at boot and at shutdown now; and what happened
to it at the last boot and the last shutdown (from the state directory's reports).
Guests with on_stop = migrate: while a host shutdown runs, where each is now (migrating and to
which host, already on another host, waiting, or not moved); after it, where each went and how
long it took, or why it stayed.
Naming VMs (uuid or name-label) shows the full detail for those guests.

  --all            include guests of other hosts in the pool

${COMMON_HELP}

Examples:
  xen-guests status
  xen-guests status db-1            # every policy part with its source, tools, last runs
  xen-guests status --json | jq '.guests[] | select(.policy.maintenance) | .name'

Exit status: 0 when shown, 1 when the toolstack could not be read or a VM was not found, 2 on bad arguments.`;

const OPTIONS = { ...ADMIN_OPTIONS, all: { type: 'boolean' } } as const;

function byUuid(entries: PlanEntry[]): Map<string, PlanEntry> {
  return new Map(entries.map((e) => [e.guest.uuid, e]));
}

/** Not this host's: both plans say so (a guest resident here or meant to start here is ours). */
function isOtherHosts(boot: PlanEntry | undefined, shutdown: PlanEntry | undefined): boolean {
  return boot?.skipCode === 'not-this-host' && shutdown?.skipCode === 'not-this-host';
}

/**
 * Host uuid → name for the pool (this host alone on a backend without pool operations). The names
 * only label migration destinations, so an unreadable host list leaves them unknown (`problem`
 * says why) rather than failing the whole command.
 */
export async function hostNames(toolstack: Pick<Toolstack, 'pool'>, host: HostInfo): Promise<{ names: Map<string, string>; problem: string | null }> {
  const names = new Map([[host.uuid, host.name]]);
  try {
    for (const h of (await toolstack.pool?.hosts()) ?? []) names.set(h.uuid, h.name);
    return { names, problem: null };
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return { names, problem: `could not read the pool's host list (${why}); other hosts are shown by uuid as "unknown host"` };
  }
}

export async function run(argv: string[]): Promise<number> {
  return runCommand('status', HELP, argv, async () => {
    const { values, positionals } = parseCommandArgs(argv, OPTIONS, true);
    const ctx = await openContext(values, { jsonLogs: false, logLevel: 'warn', originator: 'xen-guests status' });
    try {
      const toolstack = await reachToolstack(ctx, values);
      const [all, host] = await Promise.all([toolstack.guests(), toolstack.host()]);
      const state = await readStateView(ctx.stateDir, ctx.log, { reports: ['boot', 'shutdown'], snapshot: true });
      const policies = effectivePolicies(all, ctx.config);
      const plans = {
        boot: buildPlan({ mode: 'boot', guests: all, host, config: ctx.config, snapshot: state.snapshot, lastShutdown: state.shutdown, policies }),
        shutdown: buildPlan({ mode: 'shutdown', guests: all, host, config: ctx.config, snapshot: null, policies }),
      };
      const boot = byUuid([...plans.boot.groups.flatMap((g) => g.entries), ...plans.boot.skipped]);
      const shutdown = byUuid([...plans.shutdown.groups.flatMap((g) => g.entries), ...plans.shutdown.skipped]);
      const lastBoot = new Map((state.boot?.guests ?? []).map((r) => [r.guest.uuid, r]));
      const lastShutdown = new Map((state.shutdown?.guests ?? []).map((r) => [r.guest.uuid, r]));

      let chosen: Guest[];
      let errors: string[] = [];
      if (positionals.length) {
        ({ guests: chosen, errors } = selectGuests(positionals, all));
      } else {
        chosen = all.filter((g) => isGuest(g) && (values.all === true || !isOtherHosts(boot.get(g.uuid), shutdown.get(g.uuid))));
      }
      chosen.sort((a, b) => a.order - b.order || a.name.localeCompare(b.name));

      const entries: StatusEntry[] = chosen.map((g) => ({
        uuid: g.uuid,
        name: g.name,
        powerState: g.powerState,
        residentOn: g.residentOn,
        affinity: g.affinity,
        policy: policies.get(g.uuid)!,
        atBoot: boot.get(g.uuid) ?? null,
        atShutdown: shutdown.get(g.uuid) ?? null,
        tools: g.tools,
        cleanShutdown: g.cleanShutdown,
        startBlocked: g.blockedOperations.start ?? null,
        lastBoot: lastBoot.get(g.uuid) ?? null,
        lastShutdown: lastShutdown.get(g.uuid) ?? null,
      }));
      const pool = await hostNames(toolstack, host);
      const view: StatusView = {
        host,
        configSource: ctx.config.source,
        stateDir: ctx.stateDir,
        stateMissing: state.missing,
        ...(ctx.config.toolstack.kind === 'xenapi' ? { xapiProtocol: ctx.config.xapi.protocol } : {}),
        lastBoot: summarizeRun(state.boot),
        lastShutdown: summarizeRun(state.shutdown),
        notices: plans.boot.notices ?? [],
        migrations: migrationsView({
          hostUuid: host.uuid,
          bootId: await readBootId().catch(() => null),
          snapshot: state.snapshot,
          lastShutdown: state.shutdown,
          guests: all,
          hostNames: pool.names,
        }),
        guests: entries,
      };
      // Scripts read errors[] beside the guests; a person gets nothing on stdout when nothing was found.
      if (values.json) printJson(jsonAnswer('status', view, errors));
      else if (!positionals.length) process.stdout.write(renderStatusTable(view));
      else if (entries.length) process.stdout.write(renderStatusDetail(view));
      if (pool.problem) process.stderr.write(`xen-guests status: warning: ${pool.problem}\n`);
      for (const e of errors) process.stderr.write(`xen-guests status: ${e}\n`);
      return errors.length ? EXIT_FAILED : EXIT_OK;
    } finally {
      await ctx.close();
    }
  });
}
