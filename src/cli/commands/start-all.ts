// `xen-guests start-all` / `stop-all`: the daemon's boot or shutdown plan run by hand (before or
// after host maintenance), by the same engine, with live progress, and recorded in the state
// directory like a daemon run so that `report` shows it. stop-all.ts reuses this module.

import { hostname } from 'node:os';
import { openContext, type CommandContext } from '../context.js';
import { reachToolstack } from '../reach.js';
import type { Plan, PlanMode, RunReport } from '../../core/types.js';
import { buildSnapshot } from '../../core/snapshot.js';
import { deadlineIn, msLeft } from '../../core/clock.js';
import { lateShutdownEntry } from '../../core/plan.js';
import { runBoot, runShutdown } from '../../engine/index.js';
import { alertSinkFor, settleAlerts } from '../../engine/alerts.js';
import { readBootId } from '../../state/index.js';
import { LockBusyError, OPERATION_LOCK, tryLock, type HeldLock } from '../../state/lock.js';
import type { Toolstack } from '../../toolstack/types.js';
import { problemSummary, renderReport } from '../../report/text.js';
import { makePlan } from './plan.js';
import { whoAmI } from './maintenance.js';
import { renderPlan } from '../format/plan.js';
import { createProgressDisplay, type ProgressOutput } from '../format/progress.js';
import { ADMIN_OPTIONS, COMMON_HELP, nowWaitingFor, EXIT_OK, jsonAnswer, parseCommandArgs, printJson, runAnswer, runCommand, UsageError } from '../format/usage.js';
import { EXIT_BUSY } from '../../core/exit-codes.js';

type Name = 'start-all' | 'stop-all';

const OPTIONS = { ...ADMIN_OPTIONS, 'dry-run': { type: 'boolean' } } as const;

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
xen-guests report ${boot ? 'boot' : 'shutdown'} shows it. Like the daemon, it also writes what needs an admin
(${boot ? 'a start that failed, a guest skipped for maintenance or an unplugged SR' : 'a guest hard-stopped after its timeout, one that could not be stopped or was left running'})
as XenAPI messages naming this command, shown by Xen Orchestra and XenCenter (none with alerts = false).

  --dry-run        print the plan (as xen-guests plan ${boot ? 'boot' : 'shutdown'}) and do nothing

${COMMON_HELP}

Examples:
  xen-guests ${name} --dry-run
  xen-guests ${name}
  xen-guests ${name} --json > run.json      # progress on stderr, the run report on stdout

Ctrl-C: the first launches nothing more (no further ${boot ? 'start' : 'group'}), lets what is in flight end
(${boot ? 'starts, bounded by the toolstack call timeout' : 'each stop bounded by its timeout and the deadline'}), records the run marked INTERRUPTED and prints
the summary; a second Ctrl-C exits at once.

Exit status: 0 when everything went as planned; 1 when a guest failed${boot ? '' : ' or was left running'};
3 when ${boot ? 'a guest started but was not ready in time' : 'a guest was hard-stopped after its clean timeout, or had no clean path the plan had counted on (a hard stop the plan foresaw is as planned)'};
130 when interrupted by Ctrl-C; 2 on bad arguments; 78 a bad config file; 75 when the daemon's boot plan
or host shutdown, or another start-all/stop-all, is acting on this host right now (nothing is done).
The reason is printed on stderr.`;
}

/** 128 + SIGINT, as shells report a command ended by Ctrl-C. */
const EXIT_INTERRUPTED = 130;

/** What the report says about a run cut short, in the words of what happened. */
function interruptionNote(mode: PlanMode, report: RunReport, at: Date): string {
  const notAttempted = report.guests.filter((g) => g.outcome === 'not-attempted').length;
  const what = mode === 'boot' ? 'start' : 'group';
  return `Ctrl-C at ${at.toISOString()}: no further ${what} launched, what was in flight ran to its end; ${notAttempted} guest${notAttempted === 1 ? '' : 's'} not attempted`;
}

/** As the daemon bounds its wait for alerts: a Ctrl-C'd run is not held long, a stop-all never past its deadline. */
function alertWaitMs(deadlineAt: number | null, interrupted: boolean): number {
  if (interrupted) return 1_000;
  return deadlineAt === null ? Infinity : msLeft(deadlineAt);
}

/** `who`: the person who ran the command, as the trigger and the alerts name them. */
async function execute(name: Name, plan: Plan, toolstack: Toolstack, ctx: CommandContext, out: ProgressOutput, who: string): Promise<RunReport> {
  const mode: PlanMode = name === 'start-all' ? 'boot' : 'shutdown';
  const trigger = `${name} by ${who}`;
  const bootId = await readBootId().catch(() => 'unknown');
  const config = ctx.config;
  // A guest someone starts while stop-all runs is stopped by its own policy, as the daemon does.
  const host = mode === 'shutdown' ? await toolstack.host() : null;
  const deadlineAt = mode === 'shutdown' ? deadlineIn(config.shutdown.deadline * 1000) : null;
  const display = createProgressDisplay(out, { mode, deadlineAt, entries: plan.groups.flatMap((g) => g.entries) });
  const hooks = { log: ctx.log, onProgress: display.progress, onStatus: display.status };
  // What needs an admin goes where the daemon's alerts go (XenAPI messages), named as this command's.
  const alerts = alertSinkFor(config, toolstack, ctx.log, plan.hostUuid, mode, { name, by: who });
  // First Ctrl-C: launch nothing more, let what is in flight end, record and summarise. Second: go.
  const abort = new AbortController();
  let interruptedAt: Date | null = null;
  const onInterrupt = () => {
    if (interruptedAt) {
      process.stderr.write(`\nxen-guests: second Ctrl-C: exiting at once; the run is not recorded and what was in flight goes on in the toolstack\n`);
      process.exit(EXIT_INTERRUPTED);
    }
    interruptedAt = new Date();
    abort.abort();
    display.finish();
    process.stderr.write(
      `\nxen-guests: interrupted: launching nothing more; waiting for what is in flight to end, then recording the run (Ctrl-C again to exit at once)\n`,
    );
  };
  process.on('SIGINT', onInterrupt);
  try {
    const report = mode === 'boot'
      ? await runBoot(toolstack, plan, hooks, { parallelism: config.boot.parallelism, bootId, trigger, signal: abort.signal, ...(alerts ? { alerts } : {}) })
      : await runShutdown(toolstack, plan, hooks, {
          parallelism: config.shutdown.parallelism,
          deadlineAt: deadlineAt!,
          hardReserveMs: config.shutdown.hardReserve * 1000,
          bootId,
          trigger,
          hostUuid: plan.hostUuid,
          entryForLateGuest: (guest) => (host ? lateShutdownEntry(guest, host, config) : null),
          signal: abort.signal,
          // The host stays up after stop-all: a host disabled for migrations is enabled again.
          reenableHost: true,
          ...(alerts ? { alerts } : {}),
        });
    if (alerts) report.alerts = await settleAlerts(alerts, alertWaitMs(deadlineAt, interruptedAt !== null), ctx.log);
    return interruptedAt ? { ...report, interrupted: interruptionNote(mode, report, interruptedAt) } : report;
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
    let lock: HeldLock | null = null;
    try {
      const toolstack = await reachToolstack(ctx, values);
      // A run waits on events: its read is the event cache's sync (one whole-table read); a dry run reads plainly.
      const read = values['dry-run'] ? {} : { throughEvents: true };
      const { plan, guests, policies } = await makePlan(mode, toolstack, ctx.config, ctx.stateDir, ctx.log, read);
      if (values['dry-run']) {
        if (values.json) printJson(jsonAnswer(name, plan));
        else process.stdout.write(renderPlan(plan, guests));
        return EXIT_OK;
      }
      const state = await ctx.state();
      try {
        lock = await tryLock(ctx.stateDir, OPERATION_LOCK, `${name} by ${whoAmI() || `someone@${hostname()}`}`, await readBootId().catch(() => 'unknown'), ctx.log);
      } catch (err) {
        if (!(err instanceof LockBusyError)) throw err;
        process.stderr.write(`xen-guests ${name}: ${err.holder.what} (pid ${err.holder.pid}, since ${err.holder.since}) is starting or stopping guests on this host right now; nothing done, try again when it has ended\n`);
        return EXIT_BUSY;
      }
      let snapshotTakenAt: string | undefined;
      if (mode === 'shutdown') {
        const host = await toolstack.host();
        snapshotTakenAt = new Date().toISOString();
        await state.writeSnapshot(buildSnapshot(guests, host, ctx.config, await readBootId().catch(() => 'unknown'), snapshotTakenAt, policies)).catch((err: unknown) => {
          process.stderr.write(`xen-guests ${name}: warning: could not write the metadata snapshot (${(err as Error).message}); stopping guests anyway\n`);
        });
      }
      nowWaitingFor(null); // the progress display says what the run waits for from here on
      const out: ProgressOutput = values.json ? process.stderr : process.stdout;
      const report = await execute(name, plan, toolstack, ctx, out, whoAmI() || `someone@${hostname()}`);
      if (snapshotTakenAt) report.snapshotTakenAt = snapshotTakenAt;
      await state.writeReport(report).catch((err: unknown) => {
        process.stderr.write(`xen-guests ${name}: warning: could not record the run in ${ctx.stateDir} (${(err as Error).message})\n`);
      });
      if (values.json) printJson(runAnswer(name, report));
      else process.stdout.write('\n' + renderReport(report));
      if (report.interrupted) {
        process.stderr.write(`xen-guests ${name}: interrupted: ${report.interrupted}\n`);
        return EXIT_INTERRUPTED;
      }
      if (report.exitCode !== EXIT_OK) process.stderr.write(`xen-guests ${name}: ${problemSummary(report)}\n`);
      return report.exitCode;
    } finally {
      await lock?.release();
      await ctx.close();
    }
  });
}

export function run(argv: string[]): Promise<number> {
  return runAll('start-all', argv);
}
