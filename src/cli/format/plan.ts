// The dry run as a person reads it: per order group what will happen to each guest, every skip with
// its reason, the warnings, the totals and, for shutdown, how the deadline is shared out.

import type { Plan, PlanEntry, ShutdownBudget } from '../../core/types.js';
import type { Guest } from '../../toolstack/types.js';
import { renderTable } from './table.js';
import { describeTools } from './tools.js';
import { formatBytes, formatMillis, formatReady, formatSeconds, shortUuid } from './units.js';

/** Why the guest stands where it does in its group: its time in the last run of this kind. */
function lastTimeCell(e: PlanEntry): string {
  const t = e.lastRun;
  if (!t) return '';
  if (t.seconds !== null) return `${formatMillis(t.seconds * 1000)} ${t.outcome!}`;
  const why = t.outcome === null ? 'not in it' : `${t.outcome}: no duration`;
  return `? (${why}; ranked as ${formatMillis(t.rankedBy * 1000)})`;
}

function actionRows(entries: PlanEntry[], mode: Plan['mode']): string[][] {
  return entries.map((e) => {
    const timeout = e.action === 'hard-shutdown' ? '-' : formatSeconds(e.timeout);
    const check = mode === 'boot' ? formatReady(e.ready) : '';
    // on_stop=migrate: the migration comes first, the action is what happens if the guest cannot move.
    const action = e.migrate ? `migrate, else ${e.action}` : e.action;
    return [e.guest.name, shortUuid(e.guest.uuid), action, timeout, check, lastTimeCell(e), e.reason ?? ''];
  });
}

/** One line on how the guests inside each group are ordered, and from which run. */
export function withinGroupLine(plan: Plan): string | null {
  const w = plan.withinGroup;
  if (!w) return null;
  const key = `${plan.mode}.order_within_group`;
  const kind = plan.mode === 'boot' ? 'boot' : 'shutdown';
  if (w.rule === 'name') return `Within each group: by name (${key} = name).`;
  if (!w.lastRun) return `Within each group: by name for now — longest first (${key}) learns from the last ${kind} report, and there is none for this host yet.`;
  const span = plan.mode === 'boot' ? 'from its start to ready' : 'from its request to halted';
  return `Within each group: longest first, by how long each guest took ${span} in the last ${kind} (${w.lastRun.startedAt}, ${w.lastRun.trigger}); LAST TIME says it.`;
}

function groupSection(plan: Plan): string[] {
  if (plan.groups.length === 0) return ['Nothing to do: no guest will be ' + (plan.mode === 'boot' ? 'started.' : 'shut down.')];
  const direction = plan.mode === 'boot' ? 'ascending' : 'descending';
  const within = withinGroupLine(plan);
  const lines = [`Order groups, in execution order (${direction} VM.order):`, ...(within ? [within] : [])];
  const headers =
    plan.mode === 'boot'
      ? ['GUEST', 'UUID', 'ACTION', 'TIMEOUT', 'READY WHEN', 'LAST TIME', 'NOTE']
      : ['GUEST', 'UUID', 'ACTION', 'CLEAN TIMEOUT', '', 'LAST TIME', 'NOTE'];
  plan.groups.forEach((group, i) => {
    const n = group.entries.length;
    lines.push('', `Group ${i + 1}/${plan.groups.length}: order ${group.order} (${n} guest${n === 1 ? '' : 's'})`);
    const rows = actionRows(group.entries, plan.mode);
    const keep = headers.map((h, c) => (h !== '' && h !== 'LAST TIME') || rows.some((r) => r[c]));
    lines.push(
      renderTable(
        headers.filter((_, c) => keep[c]).map((header) => ({ header, align: header.includes('TIMEOUT') ? ('right' as const) : ('left' as const) })),
        rows.map((r) => r.filter((_, c) => keep[c])),
        '  ',
      ),
    );
    if (group.delayAfter) lines.push(`  then waits ${formatSeconds(group.delayAfter)} (VM.shutdown_delay) after its last guest stopped before the next group`);
  });
  return lines;
}

/** Never guests at all: counted in one line so that dozens of templates do not bury the real skips. */
const NOT_GUESTS: Record<string, string> = { 'control-domain': 'control domain', template: 'template', snapshot: 'snapshot' };

function skippedSection(plan: Plan): string[] {
  if (plan.skipped.length === 0) return [];
  const guests = plan.skipped.filter((e) => !(e.skipCode && e.skipCode in NOT_GUESTS));
  const others = plan.skipped.length - guests.length;
  // The heading counts guests only, as the totals do; the VMs that are not guests get their own line.
  const lines = ['', `Skipped (${guests.length}):`];
  if (guests.length) {
    const rows = guests.map((e) => [e.guest.name, shortUuid(e.guest.uuid), e.powerState, e.skipCode ?? '', e.reason ?? '']);
    lines.push(renderTable([{ header: 'GUEST' }, { header: 'UUID' }, { header: 'POWER' }, { header: 'WHY' }, { header: 'DETAIL' }], rows, '  '));
  }
  if (others) {
    const counts = new Map<string, number>();
    for (const e of plan.skipped) if (e.skipCode && e.skipCode in NOT_GUESTS) counts.set(NOT_GUESTS[e.skipCode]!, (counts.get(NOT_GUESTS[e.skipCode]!) ?? 0) + 1);
    const parts = [...counts].map(([what, n]) => `${n} ${what}${n === 1 ? '' : 's'}`);
    lines.push(`  and ${parts.join(', ')}: not guests, never started or stopped (listed with --json)`);
  }
  return lines;
}

function warningSection(plan: Plan): string[] {
  if (plan.warnings.length === 0) return [];
  // Most messages name their guest already; add the name only where one does not.
  const named = (w: Plan['warnings'][number]) => (w.guest && !w.message.includes(w.guest.uuid) ? `${w.guest.name} (${w.guest.uuid}): ` : '');
  return ['', `Warnings (${plan.warnings.length}):`, ...plan.warnings.map((w) => `  ! ${named(w)}${w.message}`)];
}

/** Guests that will be hard-stopped for lack of a clean path, with their guest-tools state (seed 002). */
function toolsSection(plan: Plan, guests: readonly Guest[]): string[] {
  if (plan.mode !== 'shutdown') return [];
  const byUuid = new Map(guests.map((g) => [g.uuid, g]));
  const lines = plan.groups
    .flatMap((g) => g.entries)
    .map((e) => byUuid.get(e.guest.uuid))
    .filter((g): g is Guest => g !== undefined && !g.cleanShutdown.able && g.powerState === 'Running')
    .map((g) => `  ${g.name} (${g.uuid}): ${g.cleanShutdown.reason}; guest tools: ${describeTools(g.tools)}`);
  return lines.length ? ['', 'No clean shutdown possible (hard stop at once):', ...lines] : [];
}

/** The deadline arithmetic in words, so an admin can see why a guest gets less time than configured. */
export function describeBudget(budget: ShutdownBudget): string[] {
  const lines = [
    `Deadline: ${formatSeconds(budget.deadline)} for the whole shutdown; ${formatSeconds(budget.hardReserve)} kept for hard stops,`,
    budget.delays > 0
      ? `  ${formatSeconds(budget.delays)} waited between groups for VM.shutdown_delay, ${formatSeconds(budget.cleanBudget)} shared by the clean phases of the groups in turn.`
      : `  ${formatSeconds(budget.cleanBudget)} shared by the clean phases of the groups in turn.`,
    `Requested: ${formatSeconds(budget.requested)} (sum over groups of the longest clean timeout).`,
  ];
  lines.push(
    budget.cut
      ? `Cut: the requested time does not fit, so clean timeouts were shortened to fit ${formatSeconds(budget.cleanBudget)}` +
          ` (raise shutdown.deadline in the config, or lower xen-guests:shutdown_timeout).`
      : `Fits: no clean timeout had to be cut.`,
  );
  return lines;
}

/** What holds for the whole host (maintenance mode, HA, dueling managers), above everything else. */
export function noticeLines(notices: readonly string[] | undefined): string[] {
  return (notices ?? []).map((n) => `** ${n}`);
}

/** `guests` (optional) adds the guest-tools state of guests that cannot shut down cleanly. */
export function renderPlan(plan: Plan, guests: readonly Guest[] = []): string {
  const t = plan.totals;
  const memory =
    plan.mode === 'boot'
      ? plan.groups.flatMap((g) => g.entries).reduce((sum, e) => sum + (e.action === 'start' ? e.memoryRequired : 0), 0)
      : 0;
  const lines = [
    `${plan.mode === 'boot' ? 'Boot' : 'Shutdown'} plan for host ${plan.hostUuid} (dry run, nothing was changed)`,
    ...noticeLines(plan.notices),
    '',
    ...groupSection(plan),
    ...skippedSection(plan),
    ...warningSection(plan),
    ...toolsSection(plan, guests),
    '',
    ...(plan.budget ? [...describeBudget(plan.budget), ''] : []),
    `Totals: ${t.guests} guest${t.guests === 1 ? '' : 's'}: ${t.acting} to ${plan.mode === 'boot' ? 'start' : 'shut down'} in ${t.groups} group${t.groups === 1 ? '' : 's'}, ${t.skipped} skipped` +
      (t.notGuests ? ` (plus ${t.notGuests} VM${t.notGuests === 1 ? '' : 's'} that are not guests: templates, snapshots, the control domain)` : '') +
      (plan.mode === 'boot' && memory > 0 ? `; ${formatBytes(memory)} of memory needed` : ''),
  ];
  return lines.join('\n') + '\n';
}
