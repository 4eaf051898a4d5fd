// `xen-guests start-all` / `stop-all`: the daemon's boot or shutdown plan run by hand (before or
// after host maintenance), by the same engine, with live progress, and recorded in the state
// directory like a daemon run so that `report` shows it. stop-all.ts reuses this module.

import { hostname } from 'node:os';
import { COMMON_OPTIONS, openContext, type CommandContext } from '../context.js';
import type { Plan, PlanMode, RunReport } from '../../core/types.js';
import { buildSnapshot } from '../../core/snapshot.js';
import { deadlineIn } from '../../core/clock.js';
import { lateShutdownEntry } from '../../core/plan.js';
import { runBoot, runShutdown } from '../../engine/index.js';
import { readBootId } from '../../state/index.js';
import type { Toolstack } from '../../toolstack/types.js';
import { problemSummary, renderReport } from '../../report/text.js';
import { makePlan } from './plan.js';
import { whoAmI } from './maintenance.js';
import { renderPlan } from '../format/plan.js';
import { createProgressDisplay, type ProgressOutput } from '../format/progress.js';
import { COMMON_HELP, EXIT_OK, parseCommandArgs, printJson, runCommand, UsageError } from '../format/usage.js';

type Name = 'start-all' | 'stop-all';

const OPTIONS = { ...COMMON_OPTIONS, 'dry-run': { type: 'boolean' } } as const;

/** A CLI run must not sit for the daemon's boot-time wait when xapi is simply not there. */
const CLI_WAIT_READY_MS = 30_000;

function help(name: Name): string {
  const boot = name === 'start-all';
  return `Usage: xen-guests ${name} [--dry-run] [options]

${
  boot
    ? `Run the boot plan now, by hand: start this host's guests by policy, in ascending order groups,
each group waiting for its guests' readiness before the next (the same engine the daemon runs at
host boot; guests in maintenance, disabled or already running are skipped).`
    : `Run the shutdown plan now, by hand (e.g. before host maintenance): clean shutdown of this host's
guests in descending order groups, hard stop at each guest's timeout, all inside the configured
deadline (the same engine the daemon runs at host shutdown). A metadata snapshot of the guests is
written first, so a later boot's restore policy knows what was running.`
}
On a terminal a live line shows guests done/total, the current group${boot ? '' : ' and the time to the deadline'};
otherwise one plain line per finished guest. The run is recorded in the state directory:
xen-guests report ${boot ? 'boot' : 'shutdown'} shows it.

  --dry-run        print the plan (as xen-guests plan ${boot ? 'boot' : 'shutdown'}) and do nothing

${COMMON_HELP}

Examples:
  xen-guests ${name} --dry-run
  xen-guests ${name}
  xen-guests ${name} --json > run.json      # progress on stderr, the run report on stdout

Exit status: 0 when everything went as planned; 1 when a guest failed${boot ? '' : ' or was left running'};
3 when ${boot ? 'a guest started but was not ready in time' : 'a guest was hard-stopped after its clean timeout or had no clean path'};
2 on bad arguments. The reason is printed on stderr.`;
}

async function execute(mode: PlanMode, plan: Plan, toolstack: Toolstack, ctx: CommandContext, out: ProgressOutput, trigger: string): Promise<RunReport> {
  const bootId = await readBootId().catch(() => 'unknown');
  const config = ctx.config;
  // A guest someone starts while stop-all runs is stopped by its own policy, as the daemon does.
  const host = mode === 'shutdown' ? await toolstack.host() : null;
  const deadlineAt = mode === 'shutdown' ? deadlineIn(config.shutdown.deadline * 1000) : null;
  const display = createProgressDisplay(out, { mode, deadlineAt });
  const hooks = { log: ctx.log, onProgress: display.progress, onStatus: display.status };
  // Ctrl-C during start-all: launch nothing more, let the starts in flight finish and report.
  const abort = new AbortController();
  const onInterrupt = () => {
    abort.abort();
    display.status('interrupted: starting nothing more; waiting for starts in flight');
  };
  if (mode === 'boot') process.once('SIGINT', onInterrupt);
  try {
    return mode === 'boot'
      ? await runBoot(toolstack, plan, hooks, { parallelism: config.boot.parallelism, bootId, trigger, signal: abort.signal })
      : await runShutdown(toolstack, plan, hooks, {
          parallelism: config.shutdown.parallelism,
          deadlineAt: deadlineAt!,
          hardReserveMs: config.shutdown.hardReserve * 1000,
          bootId,
          trigger,
          hostUuid: plan.hostUuid,
          entryForLateGuest: (guest) => (host ? lateShutdownEntry(guest, host, config) : null),
        });
  } finally {
    process.removeListener('SIGINT', onInterrupt);
    display.finish();
  }
}

export async function runAll(name: Name, argv: string[]): Promise<number> {
  const mode: PlanMode = name === 'start-all' ? 'boot' : 'shutdown';
  return runCommand(name, help(name), argv, async () => {
    const { values, positionals } = parseCommandArgs(argv, OPTIONS, true);
    if (positionals.length) throw new UsageError(`${name} takes no arguments (got ${positionals.join(' ')}); it acts on every guest of this host by policy`);
    // The engine logs each guest's outcome for the journal; here the progress lines and the report
    // say the same to the person watching, so only errors are logged (on stderr).
    const ctx = await openContext(values, { jsonLogs: false, logLevel: 'error', originator: `xen-guests ${name}` });
    try {
      const toolstack = await ctx.toolstack();
      await toolstack.waitUntilReady({ deadline: deadlineIn(Math.min(CLI_WAIT_READY_MS, ctx.config.xapi.waitReady * 1000)) });
      const { plan, guests } = await makePlan(mode, toolstack, ctx.config, ctx.stateDir, ctx.log);
      if (values['dry-run']) {
        if (values.json) printJson(plan);
        else process.stdout.write(renderPlan(plan, guests));
        return EXIT_OK;
      }
      const state = await ctx.state();
      if (mode === 'shutdown') {
        const host = await toolstack.host();
        await state.writeSnapshot(buildSnapshot(guests, host, ctx.config, await readBootId().catch(() => 'unknown'), new Date().toISOString())).catch((err: unknown) => {
          process.stderr.write(`xen-guests ${name}: warning: could not write the metadata snapshot (${(err as Error).message}); stopping guests anyway\n`);
        });
      }
      const out: ProgressOutput = values.json ? process.stderr : process.stdout;
      const trigger = `${name} by ${whoAmI() || `someone@${hostname()}`}`;
      const report = await execute(mode, plan, toolstack, ctx, out, trigger);
      await state.writeReport(report).catch((err: unknown) => {
        process.stderr.write(`xen-guests ${name}: warning: could not record the run in ${ctx.stateDir} (${(err as Error).message})\n`);
      });
      if (values.json) printJson(report);
      else process.stdout.write('\n' + renderReport(report));
      if (report.exitCode !== EXIT_OK) process.stderr.write(`xen-guests ${name}: ${problemSummary(report)}\n`);
      return report.exitCode;
    } finally {
      await ctx.close();
    }
  });
}

export function run(argv: string[]): Promise<number> {
  return runAll('start-all', argv);
}
