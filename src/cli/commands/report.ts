// `xen-guests report [boot|shutdown] [--svg FILE]`: the last run the daemon (or start-all /
// stop-all) recorded, per guest: which step ended it, timings and errors; optionally as a timeline.

import { writeFile } from 'node:fs/promises';
import { openContext } from '../context.js';
import type { PlanMode, RunReport } from '../../core/types.js';
import { readStateView } from '../../report/load.js';
import { renderTimelineSvg } from '../../report/svg.js';
import { problemSummary, renderReport } from '../../report/text.js';
import { parseMode } from './plan.js';
import { CommandFailure, EXIT_FAILED, EXIT_OK, parseCommandArgs, printJson, runAnswer, runCommand, stringOption, UsageError } from '../format/usage.js';

const HELP = `Usage: xen-guests report [boot|shutdown] [--svg FILE] [options]

The last boot or shutdown run (default: whichever ended last), from the state directory: per
guest the action, which step ended it (clean shutdown, hard stop after the clean timeout, started
and ready, start failed…), how long each step took and the toolstack's errors; the totals; the
deadline; guests left running.

  --svg FILE       also write a timeline picture (one row per guest, bars for a wait for storage
                   (SR named) / start / readiness or clean / hard, order-group boundaries, the
                   deadline); open it in a browser

Options:
  --config FILE    config file (for state_dir; default /etc/xen-guests/config.toml, else built-in defaults)
  --state-dir DIR  the daemon's state directory, overriding state_dir
  --json           the report as JSON on stdout
  -h, --help       this help
(report reads only the state directory: it takes no --xapi or --wait.)

Examples:
  xen-guests report
  xen-guests report shutdown --svg /tmp/shutdown.svg
  xen-guests report boot --json | jq '.guests[] | select(.outcome != "started")'

Exit status: 0 when the run went as planned; otherwise the run's own code (1 failed or left a guest
running, 3 hard-stopped after a timeout or without the clean path the plan counted on / not ready
in time; a hard stop the plan foresaw is as planned), with the reason on stderr; 1 when
there is no report; 2 on bad arguments.`;

const OPTIONS = {
  config: { type: 'string' },
  'state-dir': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  svg: { type: 'string' },
} as const;

function latest(a: RunReport | null, b: RunReport | null): RunReport | null {
  if (!a || !b) return a ?? b;
  return Date.parse(a.endedAt) >= Date.parse(b.endedAt) ? a : b;
}

export async function run(argv: string[]): Promise<number> {
  return runCommand('report', HELP, argv, async () => {
    const { values, positionals } = parseCommandArgs(argv, OPTIONS, true);
    if (positionals.length > 1) throw new UsageError(`report takes at most one mode, got: ${positionals.join(' ')}; allowed: boot, shutdown`);
    const mode: PlanMode | null = positionals[0] === undefined ? null : parseMode(positionals[0]);
    const svgPath = stringOption(values, 'svg');
    if (svgPath !== undefined && svgPath.trim() === '') throw new UsageError('--svg needs a file name, e.g. --svg /tmp/timeline.svg');

    const ctx = await openContext(values, { jsonLogs: false, logLevel: 'warn', originator: 'xen-guests report' });
    try {
      const view = await readStateView(ctx.stateDir, ctx.log, { reports: mode ? [mode] : ['boot', 'shutdown'] });
      if (view.missing) throw new CommandFailure(view.missing, EXIT_FAILED);
      const report = mode ? view[mode] : latest(view.boot, view.shutdown);
      if (!report) {
        throw new CommandFailure(
          `no ${mode ?? 'boot or shutdown'} report in ${ctx.stateDir} yet: the daemon writes one after each run (start-all / stop-all too)`,
          EXIT_FAILED,
        );
      }
      if (svgPath !== undefined) {
        try {
          await writeFile(svgPath, renderTimelineSvg(report));
        } catch (err) {
          throw new CommandFailure(`cannot write the timeline to ${svgPath}: ${err instanceof Error ? err.message : String(err)}`, EXIT_FAILED);
        }
      }
      if (values.json) printJson(runAnswer('report', report));
      else process.stdout.write(renderReport(report) + (svgPath ? `Timeline written to ${svgPath}\n` : ''));
      if (report.exitCode !== EXIT_OK) {
        process.stderr.write(`xen-guests report: the last ${report.mode} did not go as planned: ${problemSummary(report)}\n`);
      }
      return report.exitCode;
    } finally {
      await ctx.close();
    }
  });
}
