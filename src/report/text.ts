// The last run as a table a person reads: per guest which step ended it, how long each step took and
// the toolstack's errors; then the totals and what was left running.

import type { GuestReport, Outcome, RunReport } from '../core/types.js';
import { skipsNotAGuest } from '../core/plan.js';
import { foreseenHardStop } from '../core/exit-codes.js';
import { renderTable } from './format/table.js';
import { formatMillis, shortUuid, spanMillis } from './format/units.js';
import { BAD_OUTCOMES, guestPhases, OUTCOME_TEXT, phaseMillis } from './phases.js';

function cell(ms: number | null): string {
  return ms === null ? '-' : formatMillis(ms);
}

export function formatError(error: string[]): string {
  const [code, ...params] = error;
  return params.length ? `${code} [${params.join(', ')}]` : (code ?? '');
}

/** `srWait`: the run had guests waiting for storage, so the table has a column for that wait. */
function guestRow(g: GuestReport, mode: RunReport['mode'], srWait: boolean): string[] {
  const phases = guestPhases(g, mode);
  const [first, second] = mode === 'boot' ? (['start', 'ready'] as const) : (['clean', 'hard'] as const);
  return [
    String(g.order),
    g.guest.name,
    shortUuid(g.guest.uuid),
    g.action,
    (BAD_OUTCOMES.has(g.outcome) ? '! ' : '') + OUTCOME_TEXT[g.outcome],
    ...(srWait ? [cell(phaseMillis(phases, 'storage'))] : []),
    cell(phaseMillis(phases, first)),
    cell(phaseMillis(phases, second)),
    cell(spanMillis(g.startedAt, g.endedAt)),
  ];
}

/** "db-01 (uuid): SR 'nfs-vms' not plugged on this host at …; plugged after 31.2s". */
function storageLine(g: GuestReport): string {
  const w = g.storageWait!;
  const waited = spanMillis(w.startedAt, w.endedAt);
  const srs = w.srs.map((sr) => `'${sr}'`).join(', ');
  const end = w.plugged ? `plugged after ${cell(waited)}` : `still not plugged after ${cell(waited)}: not started`;
  return `  ${g.guest.name} (${g.guest.uuid}): SR ${srs} not plugged on this host at ${w.startedAt}; ${end}`;
}

/** Where an on_stop=migrate guest went and how long it took, or why it stayed and what happened to it then. */
function migrationLine(g: GuestReport): string {
  const m = g.migration!;
  const who = `  ${g.guest.name} (${g.guest.uuid}): `;
  if (m.failed === null && m.to) return `${who}to ${m.to.name} (${m.to.uuid}) in ${m.seconds} s`;
  return `${who}not moved after ${m.seconds} s (${m.failed}); then ${OUTCOME_TEXT[g.outcome]}`;
}

/** Skips grouped by reason, one line per reason, naming up to a few guests. */
function skippedSummary(skipped: GuestReport[]): string[] {
  const byReason = new Map<string, string[]>();
  for (const g of skipped) {
    const reason = g.reason ?? 'skipped';
    byReason.set(reason, [...(byReason.get(reason) ?? []), g.guest.name]);
  }
  return [...byReason]
    .map(([reason, names]) => `  ${reason}: ${names.length <= 4 ? names.join(', ') : `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`}`);
}

function totalsLine(report: RunReport): string {
  const parts = Object.entries(report.totals)
    .filter(([, n]) => n > 0)
    .map(([outcome, n]) => `${n} ${outcome}`);
  const notGuests = report.guests.filter((g) => g.outcome === 'skipped' && skipsNotAGuest(g.skipCode)).length;
  const also = notGuests ? ` (plus ${notGuests} VM${notGuests === 1 ? '' : 's'} that are not guests: templates, snapshots, the control domain)` : '';
  return `Totals: ${parts.length ? parts.join(', ') : 'no guests'}${also}`;
}

export function renderReport(report: RunReport): string {
  const took = spanMillis(report.startedAt, report.endedAt);
  const lines = [
    `Last ${report.mode} on host ${report.hostUuid} (boot id ${report.bootId}), trigger: ${report.trigger}`,
    `  ${report.startedAt} → ${report.endedAt}${took === null ? '' : ` (${formatMillis(took)})`}`,
  ];
  if (report.interrupted) lines.push(`  INTERRUPTED: ${report.interrupted}`);
  if (report.deadlineAt) {
    const margin = spanMillis(report.endedAt, report.deadlineAt);
    lines.push(
      `  deadline ${report.deadlineAt}` +
        (margin === null ? '' : margin >= 0 ? ` (finished ${formatMillis(margin)} before it)` : ` (overran it by ${formatMillis(-margin)})`),
    );
  }
  lines.push('');
  const acted = report.guests.filter((g) => g.action !== 'skip');
  const skipped = report.guests.filter((g) => g.action === 'skip');
  const storage = acted.filter((g) => g.storageWait);
  if (acted.length === 0) {
    lines.push(`No guest was ${report.mode === 'boot' ? 'started' : 'shut down'}.`);
  } else {
    const [first, second] = report.mode === 'boot' ? ['START', 'READY'] : ['CLEAN', 'HARD'];
    // START counts from the end of a wait for storage: the wait has its own column.
    const srWait = storage.length > 0 && report.mode === 'boot';
    lines.push(
      renderTable(
        [
          { header: 'ORDER', align: 'right' },
          { header: 'GUEST' },
          { header: 'UUID' },
          { header: 'ACTION' },
          { header: 'ENDED BY' },
          ...(srWait ? [{ header: 'SR WAIT', align: 'right' as const }] : []),
          { header: first, align: 'right' },
          { header: second, align: 'right' },
          { header: 'TOTAL', align: 'right' },
        ],
        acted.map((g) => guestRow(g, report.mode, srWait)),
      ),
    );
  }
  const withProblems = acted.filter((g) => g.errors.length > 0 || BAD_OUTCOMES.has(g.outcome) || (g.reason && g.outcome !== 'started' && g.outcome !== 'clean'));
  if (withProblems.length) {
    lines.push('', 'Details:');
    for (const g of withProblems) {
      const what = [g.reason, ...g.errors.map(formatError)].filter(Boolean).join('; ');
      lines.push(`  ${g.guest.name} (${g.guest.uuid}): ${what || OUTCOME_TEXT[g.outcome]}`);
    }
  }
  if (storage.length) lines.push('', `Waited for storage (${storage.length}):`, ...storage.map(storageLine));
  const migrations = acted.filter((g) => g.migration);
  if (migrations.length) lines.push('', `Migrations (on_stop=migrate, ${migrations.length}):`, ...migrations.map(migrationLine));
  // Counted as the totals count: templates, snapshots and the control domain are listed, not counted as guests.
  const skippedGuests = skipped.filter((g) => !skipsNotAGuest(g.skipCode)).length;
  if (skipped.length) lines.push('', `Skipped (${skippedGuests}):`, ...skippedSummary(skipped));
  lines.push('', totalsLine(report));
  if (report.leftRunning.length) lines.push(`Left running: ${report.leftRunning.map((g) => `${g.name} (${g.uuid})`).join(', ')}`);
  else if (report.mode === 'shutdown') lines.push('Left running: none');
  if (report.alerts) lines.push(alertsLine(report.alerts));
  lines.push(resultLine(report));
  return lines.filter((l, i, all) => !(l === '' && all[i - 1] === '')).join('\n') + '\n';
}

/**
 * The last line. An interrupted run's exit code is the command's (130 after Ctrl-C), not the one the
 * guests' outcomes would give, so it names no code: it says the run was cut short and what went wrong before.
 */
function resultLine(report: RunReport): string {
  if (report.interrupted) return `Result: interrupted before the end (see INTERRUPTED above)${report.exitCode === 0 ? '' : `; before that: ${problemSummary(report)}`}.`;
  return report.exitCode === 0 ? 'Result: everything went as planned.' : `Result: exit ${report.exitCode}: ${problemSummary(report)}`;
}

/** One line saying what went wrong, for stderr and for the exit reason. */
/** The XenAPI messages the run wrote, so an admin knows what XO/XenCenter show and what was folded. */
export function alertsLine(a: NonNullable<RunReport['alerts']>): string {
  const folded = a.folded > 0 ? `, ${a.folded} more folded into one summary message` : '';
  const failed = a.failed > 0 ? `, ${a.failed} could not be written (see the journal)` : '';
  return `Alerts: ${a.sent} written as XenAPI messages (Xen Orchestra / XenCenter)${folded}${failed}`;
}

export function problemSummary(report: RunReport): string {
  // A hard stop the plan foresaw is no problem of this run (see foreseenHardStop).
  const bad = report.guests.filter((g) => BAD_OUTCOMES.has(g.outcome) && !foreseenHardStop(g));
  const parts: string[] = [];
  if (bad.length) {
    const byOutcome = new Map<Outcome, string[]>();
    for (const g of bad) byOutcome.set(g.outcome, [...(byOutcome.get(g.outcome) ?? []), g.guest.name]);
    for (const [outcome, names] of byOutcome) parts.push(`${OUTCOME_TEXT[outcome]}: ${names.join(', ')}`);
  }
  if (report.leftRunning.length) parts.push(`left running: ${report.leftRunning.map((g) => g.name).join(', ')}`);
  if (parts.length === 0) return report.exitCode === 0 ? 'everything went as planned' : `the run ended with exit code ${report.exitCode}`;
  return parts.join('; ');
}
