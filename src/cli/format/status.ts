// `status` views: a table of every guest of this host with the source of each policy part marked,
// and a detail view per guest that spells out every source, maintenance, guest tools and the last
// runs. The data is gathered by the command; these functions only lay it out.

import type { EffectivePolicy, GuestReport, PlanEntry, Provenance, RunReport } from '../../core/types.js';
import { describeProvenance } from '../../core/policy.js';
import type { CleanShutdownAbility, GuestTools, HostInfo, PowerState } from '../../toolstack/types.js';
import { OUTCOME_TEXT } from '../../report/phases.js';
import { renderTable } from './table.js';
import { noticeLines } from './plan.js';
import { describeTools, toolsCell } from './tools.js';
import { formatReady, formatSeconds, shortUuid, spanMillis, formatMillis } from './units.js';
import type { GuestMigration, MigrationsView } from '../../engine/status-migrations.js';

export interface StatusEntry {
  uuid: string;
  name: string;
  powerState: PowerState;
  residentOn: string | null;
  affinity: string | null;
  policy: EffectivePolicy;
  /** What the daemon would do with it now, at boot and at shutdown (the plan entries). */
  atBoot: PlanEntry | null;
  atShutdown: PlanEntry | null;
  tools: GuestTools;
  cleanShutdown: CleanShutdownAbility;
  startBlocked: string | null;
  lastBoot: GuestReport | null;
  lastShutdown: GuestReport | null;
}

export interface StatusView {
  host: HostInfo;
  configSource: string;
  stateDir: string;
  stateMissing: string | null;
  /** xapi.protocol as configured (XenAPI hosts); host.protocol is what the connection uses. */
  xapiProtocol?: string;
  lastBoot: RunSummary | null;
  lastShutdown: RunSummary | null;
  /** What holds for the whole host (maintenance mode, HA, dueling managers), shown first. */
  notices?: string[];
  /** on_stop=migrate guests of the shutdown under way (live), else of the last one; null when none. */
  migrations: MigrationsView | null;
  guests: StatusEntry[];
}

export interface RunSummary {
  startedAt: string;
  endedAt: string;
  trigger: string;
  exitCode: number;
  totals: RunReport['totals'];
  /** XenAPI messages the run wrote; absent when alerts were off. */
  alerts?: RunReport['alerts'];
}

export function summarizeRun(report: RunReport | null): RunSummary | null {
  if (!report) return null;
  const summary: RunSummary = { startedAt: report.startedAt, endedAt: report.endedAt, trigger: report.trigger, exitCode: report.exitCode, totals: report.totals };
  if (report.alerts) summary.alerts = report.alerts;
  return summary;
}

const TAG: Record<Provenance['from'], string> = { key: 'k', native: 'n', config: 'c', default: 'd' };

function tagged(value: string, p: Provenance): string {
  return `${value} [${TAG[p.from]}]`;
}

/** xapi drops a guest's metrics at start and has none while it is down: "none" would be a guess. */
function toolsKnown(g: StatusEntry): boolean {
  return g.powerState === 'Running' || g.powerState === 'Paused' || g.tools.pvDrivers || g.tools.agentLive;
}

function planCell(e: PlanEntry | null): string {
  if (!e) return '-';
  if (e.action === 'skip') return `skip: ${e.skipCode ?? '?'}`;
  if (e.action === 'start') return `start (order ${e.order})`;
  return e.action === 'clean-shutdown' ? `clean, ${formatSeconds(e.timeout)}` : 'hard';
}

function lastCell(r: GuestReport | null): string {
  return r ? r.outcome : '-';
}

function runLine(label: string, run: RunSummary | null): string {
  if (!run) return `${label}: none recorded`;
  const parts = Object.entries(run.totals)
    .filter(([, n]) => n > 0)
    .map(([o, n]) => `${n} ${o}`);
  const alerts = run.alerts ? `; alerts: ${run.alerts.sent} sent${run.alerts.folded ? `, ${run.alerts.folded} folded` : ''}${run.alerts.failed ? `, ${run.alerts.failed} failed` : ''}` : '';
  return `${label}: ${run.startedAt} (${run.trigger}), exit ${run.exitCode}${parts.length ? `: ${parts.join(', ')}` : ''}${alerts}`;
}

/** "; XenAPI over json-rpc (xapi.protocol = auto)": what the connection speaks and what was asked. */
function protocolPart(view: StatusView): string {
  if (!view.host.protocol) return '';
  return `; XenAPI over ${view.host.protocol}${view.xapiProtocol ? ` (xapi.protocol = ${view.xapiProtocol})` : ''}`;
}

export function renderStatusTable(view: StatusView): string {
  const h = view.host;
  const lines = [
    `Host ${h.name} (${h.uuid}), ${h.poolSize === 1 ? 'one-host pool' : `pool of ${h.poolSize} hosts`}; pool auto_poweron ${h.poolAutoPoweron ? 'ON (xapi also autostarts)' : 'off'}${protocolPart(view)}`,
    ...noticeLines(view.notices),
    `Config: ${view.configSource || 'built-in defaults'}; state: ${view.stateMissing ?? view.stateDir}`,
    runLine('Last boot run', view.lastBoot),
    runLine('Last shutdown run', view.lastShutdown),
    '',
  ];
  if (view.guests.length === 0) {
    lines.push('No guests on this host.');
    return lines.join('\n') + '\n';
  }
  const rows = view.guests.map((g) => [
    g.name,
    shortUuid(g.uuid),
    g.powerState,
    tagged(g.policy.onStart, g.policy.sources.onStart),
    tagged(g.policy.onStop, g.policy.sources.onStop),
    tagged(String(g.policy.order), g.policy.sources.order),
    tagged(formatSeconds(g.policy.shutdownTimeout), g.policy.sources.shutdownTimeout),
    tagged(formatReady(g.policy.ready), g.policy.sources.ready),
    g.policy.maintenance ? 'YES' : '-',
    toolsKnown(g) ? toolsCell(g.tools) : '-',
    planCell(g.atBoot),
    planCell(g.atShutdown),
    lastCell(g.lastBoot),
    lastCell(g.lastShutdown),
  ]);
  lines.push(
    renderTable(
      ['GUEST', 'UUID', 'POWER', 'ON_START', 'ON_STOP', 'ORDER', 'TIMEOUT', 'READY', 'MAINT', 'TOOLS', 'AT BOOT', 'AT SHUTDOWN', 'LAST BOOT', 'LAST SHUTDOWN'].map((header) => ({ header })),
      rows,
    ),
    'Sources: [k] other_config key, [n] native VM field, [c] config file, [d] built-in default.  Details: xen-guests status VM…',
  );
  const inMaintenance = view.guests.filter((g) => g.policy.maintenance);
  if (inMaintenance.length) {
    lines.push('', 'In maintenance:');
    for (const g of inMaintenance) {
      const m = g.policy.maintenance!;
      lines.push(`  ${g.name} (${g.uuid}): "${m.reason}" since ${m.since ?? '?'} by ${m.by ?? '?'}${g.startBlocked ? '; start blocked in xapi' : ''}`);
    }
  }
  lines.push(...migrationsBlock(view.migrations));
  const problems = view.guests.flatMap((g) => g.policy.problems);
  if (problems.length) {
    lines.push('', 'Policy problems (each guest uses the fallback shown):');
    for (const p of problems) lines.push(`  ! ${p.message}`);
  }
  return lines.join('\n') + '\n';
}

/** "; waited 31.2s for SR 'nfs-vms' (then plugged)": a start held up by storage, from the boot report. */
function storageWaitText(r: GuestReport): string {
  const w = r.storageWait;
  if (!w) return '';
  const waited = spanMillis(w.startedAt, w.endedAt);
  return `; waited ${waited === null ? '' : `${formatMillis(waited)} `}for SR ${w.srs.map((sr) => `'${sr}'`).join(', ')} (${w.plugged ? 'then plugged' : 'never plugged'})`;
}

function reportLine(r: GuestReport | null, run: RunSummary | null): string {
  if (!r) return run ? 'not part of that run' : 'no run recorded';
  const took = spanMillis(r.startedAt, r.endedAt);
  const when = r.endedAt ?? r.startedAt ?? run?.startedAt ?? '?';
  const errors = r.errors.length ? `; errors: ${r.errors.map((e) => e.join(' ')).join('; ')}` : '';
  return `${OUTCOME_TEXT[r.outcome]} at ${when}${took === null ? '' : ` (${formatMillis(took)})`}${r.reason ? ` — ${r.reason}` : ''}${storageWaitText(r)}${errors}`;
}

export function renderStatusDetail(view: StatusView): string {
  const blocks = view.guests.map((g) => {
    const p = g.policy;
    const m = p.maintenance;
    const rows: [string, string, string][] = [
      ['on_start', p.onStart, describeProvenance(p.sources.onStart)],
      ['on_stop', p.onStop, describeProvenance(p.sources.onStop)],
      ['order', String(p.order), describeProvenance(p.sources.order)],
      ['shutdown_timeout', formatSeconds(p.shutdownTimeout), describeProvenance(p.sources.shutdownTimeout)],
      ['ready', formatReady(p.ready), describeProvenance(p.sources.ready)],
      ['maintenance', m ? `"${m.reason}" since ${m.since ?? '?'} by ${m.by ?? '?'}` : 'no', describeProvenance(p.sources.maintenance)],
      ['start_delay', formatSeconds(p.startDelay), 'VM.start_delay (waited once before the next boot group)'],
      ['shutdown_delay', formatSeconds(p.shutdownDelay), 'VM.shutdown_delay (the next shutdown group waits it after this one)'],
    ];
    if (p.selfManagedPoweroff) rows.push(['auto_poweroff', 'present', 'other_config:auto_poweroff: left alone at host shutdown']);
    const lines = [
      `${g.name} (${g.uuid})`,
      `  power state      ${g.powerState}${g.residentOn ? ` on ${g.residentOn}` : ''}${g.affinity ? `, affinity ${g.affinity}` : ''}`,
      renderTable([{ header: 'POLICY' }, { header: 'VALUE' }, { header: 'FROM' }], rows, '  '),
      `  start blocked    ${g.startBlocked === null ? 'no' : `yes: "${g.startBlocked}"`}`,
      `  guest tools      ${toolsKnown(g) ? describeTools(g.tools) : 'unknown while not running (the guest tools report only from a running guest)'}`,
      `  clean shutdown   ${cleanShutdownLine(g)}`,
      `  at next boot     ${g.atBoot ? (g.atBoot.action === 'skip' ? `skipped: ${g.atBoot.reason ?? g.atBoot.skipCode}` : planCell(g.atBoot)) : '-'}`,
      `  at shutdown      ${g.atShutdown ? (g.atShutdown.action === 'skip' ? `skipped: ${g.atShutdown.reason ?? g.atShutdown.skipCode}` : `${planCell(g.atShutdown)}${g.atShutdown.reason ? ` (${g.atShutdown.reason})` : ''}`) : '-'}`,
      `  last boot        ${reportLine(g.lastBoot, view.lastBoot)}`,
      `  last shutdown    ${reportLine(g.lastShutdown, view.lastShutdown)}`,
      ...guestMigrationLine(view.migrations, g.uuid),
      ...p.problems.map((x) => `  ! ${x.message}`),
    ];
    return lines.join('\n');
  });
  const notices = noticeLines(view.notices);
  return (notices.length ? notices.join('\n') + '\n\n' : '') + blocks.join('\n\n') + '\n';
}

/** Where an on_stop=migrate guest is now (shutdown under way) or went (last shutdown). */
export function migrationText(m: GuestMigration): string {
  const to = m.to ? `${m.to.name} (${m.to.uuid})` : null;
  switch (m.state) {
    case 'waiting':
      return 'waiting for its turn (still running here)';
    case 'migrating':
      return to ? `migrating to ${to}` : 'migrating (xapi is checking the destination)';
    case 'migrated':
      return m.seconds === null ? `migrated: runs on ${to ?? '?'} now` : `to ${to ?? '?'} in ${m.seconds} s`;
    case 'stopping-here':
      return 'not moved: being shut down here';
    case 'stopped-here':
      return 'not moved: halted here';
    case 'gone':
      return 'no longer exists';
    case 'not-moved':
      return `not moved after ${m.seconds ?? '?'} s (${m.why ?? '?'}); then ${m.then ? OUTCOME_TEXT[m.then] : '?'}`;
  }
}

function migrationsHeading(v: MigrationsView): string {
  return v.run === 'under-way' ? `Migrations (host shutdown under way since ${v.since}; where each guest is now):` : `Migrations at the last shutdown (${v.since}):`;
}

function migrationsBlock(v: MigrationsView | null): string[] {
  if (!v) return [];
  return ['', migrationsHeading(v), ...v.guests.map((m) => `  ${m.name} (${m.uuid}): ${migrationText(m)}`)];
}

function guestMigrationLine(v: MigrationsView | null, uuid: string): string[] {
  const m = v?.guests.find((x) => x.uuid === uuid);
  if (!m || !v) return [];
  return [`  ${v.run === 'under-way' ? 'migration now ' : 'last migration'}   ${migrationText(m)}`];
}

/** A halted guest has nothing to shut down: saying its clean shutdown is "impossible" would read as a defect of the guest. */
function cleanShutdownLine(g: Pick<StatusEntry, 'powerState' | 'cleanShutdown'>): string {
  if (g.powerState === 'Halted' || g.powerState === 'Suspended') return `- (${g.powerState}: nothing to shut down; checked while it runs)`;
  return `${g.cleanShutdown.able ? 'possible' : 'impossible'}: ${g.cleanShutdown.reason}`;
}
