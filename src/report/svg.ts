// The run as a picture: one row per guest, a bar per step (a wait for storage, start / readiness at
// boot, clean / hard at shutdown) on a shared time axis, the order-group boundaries and the deadline. Self-contained SVG
// that a browser opens from disk; no scripts, no external fonts or styles.

import type { GuestReport, RunReport } from '../core/types.js';
import { formatMillis } from './format/units.js';
import { BAD_OUTCOMES, guestPhases, OUTCOME_TEXT, type Phase, type PhaseKind } from './phases.js';
import { el, escapeXml } from './xml.js';

const WIDTH = 1000;
const LABEL_WIDTH = 230;
const CHART_LEFT = LABEL_WIDTH + 10;
const CHART_RIGHT = WIDTH - 150;
const ROW_HEIGHT = 22;
const TOP = 78;
const NAME_MAX = 30;

export const PHASE_STYLE: Record<PhaseKind, { color: string; label: string }> = {
  storage: { color: '#edc948', label: 'waiting for its SR (named on the bar)' },
  start: { color: '#4e79a7', label: 'start (until the toolstack reports it started)' },
  ready: { color: '#76b7b2', label: 'readiness wait' },
  clean: { color: '#59a14f', label: 'clean shutdown (request until halted or timeout)' },
  hard: { color: '#e15759', label: 'hard shutdown' },
};

function truncate(name: string): string {
  const chars = [...name];
  return chars.length > NAME_MAX ? chars.slice(0, NAME_MAX - 1).join('') + '…' : name;
}

/** Round tick spacing so that the axis has about 6-10 labels. */
function tickStep(spanMs: number): number {
  const steps = [100, 250, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000];
  return steps.find((s) => spanMs / s <= 10) ?? 3_600_000;
}

interface Scale {
  t0: number;
  t1: number;
  x(t: number): number;
}

/** The deadline is drawn on the axis only when it is near the run; far away it would squash every bar. */
const DEADLINE_ON_SCALE = 1.5;

function scaleFor(report: RunReport): Scale {
  const times = [report.startedAt, report.endedAt, ...report.guests.flatMap((g) => [g.startedAt, g.endedAt])]
    .map((s) => (s ? Date.parse(s) : NaN))
    .filter(Number.isFinite);
  const t0 = Math.min(...times, Date.parse(report.startedAt) || 0);
  let t1 = Math.max(...times, t0 + 1000);
  const deadline = report.deadlineAt ? Date.parse(report.deadlineAt) : NaN;
  if (Number.isFinite(deadline) && deadline - t0 <= (t1 - t0) * DEADLINE_ON_SCALE) t1 = Math.max(t1, deadline);
  const x = (t: number) => CHART_LEFT + ((t - t0) / (t1 - t0)) * (CHART_RIGHT - CHART_LEFT);
  return { t0, t1, x };
}

function axis(scale: Scale, bottom: number): string {
  const step = tickStep(scale.t1 - scale.t0);
  const parts: string[] = [el('line', { x1: CHART_LEFT, y1: TOP - 8, x2: CHART_RIGHT, y2: TOP - 8, stroke: '#888' })];
  for (let t = 0; scale.t0 + t <= scale.t1; t += step) {
    const x = scale.x(scale.t0 + t).toFixed(1);
    parts.push(el('line', { x1: x, y1: TOP - 12, x2: x, y2: bottom, stroke: '#eee' }));
    parts.push(el('text', { x, y: TOP - 16, 'text-anchor': 'middle', class: 'tick' }, escapeXml(`+${formatMillis(t)}`)));
  }
  return parts.join('');
}

function groupLines(report: RunReport, scale: Scale, bottom: number): string {
  return report.groups
    .map((g) => {
      const t = Date.parse(g.startedAt);
      if (!Number.isFinite(t)) return '';
      const x = scale.x(t).toFixed(1);
      return el(
        'g',
        { class: 'group-boundary' },
        el('line', { x1: x, y1: TOP - 6, x2: x, y2: bottom, stroke: '#555', 'stroke-dasharray': '4 3' }) +
          el('text', { x: Number(x) + 3, y: TOP - 1, class: 'group' }, escapeXml(`order ${g.order}`)),
      );
    })
    .join('');
}

function deadlineLine(report: RunReport, scale: Scale, bottom: number): string {
  if (!report.deadlineAt) return '';
  const t = Date.parse(report.deadlineAt);
  if (!Number.isFinite(t)) return '';
  if (t > scale.t1) {
    // Off the scale: say where it is instead of drawing it.
    return el(
      'g',
      { class: 'deadline' },
      el('text', { x: WIDTH - 10, y: TOP - 16, 'text-anchor': 'end', fill: '#d00' }, escapeXml(`deadline at +${formatMillis(t - scale.t0)} →`)),
    );
  }
  const x = scale.x(t).toFixed(1);
  return el(
    'g',
    { class: 'deadline' },
    el('line', { x1: x, y1: TOP - 12, x2: x, y2: bottom, stroke: '#d00', 'stroke-width': 2 }) +
      el('text', { x: Number(x) + 4, y: bottom - 4, fill: '#d00' }, 'deadline'),
  );
}

/** Width of a label in the 10 px font, near enough to decide where it fits. */
const LABEL_CHAR_PX = 6;

/** "SR 'nfs-vms'": on the wait's bar when it fits, else just left of it, else over it anyway. */
function srLabel(p: Phase, x: number, w: number, y: number): string {
  const text = `SR ${(p.srs ?? []).map((sr) => `'${sr}'`).join(', ')}`;
  const textPx = [...text].length * LABEL_CHAR_PX;
  const left = textPx + 6 > w && x - textPx - 3 >= CHART_LEFT;
  return el('text', { x: (left ? x - 3 : x + 3).toFixed(1), y: y + 14, 'text-anchor': left ? 'end' : 'start', class: 'sr' }, escapeXml(text));
}

function phaseTitle(g: GuestReport, p: Phase): string {
  const took = formatMillis(p.to - p.from);
  if (p.kind !== 'storage') return `${g.guest.name}: ${p.kind} ${took}`;
  const srs = (p.srs ?? []).map((sr) => `'${sr}'`).join(', ');
  return `${g.guest.name}: waited ${took} for SR ${srs} to be plugged on this host${p.plugged ? ', then plugged' : ': never plugged, not started'}`;
}

function guestRow(g: GuestReport, index: number, report: RunReport, scale: Scale): string {
  const y = TOP + index * ROW_HEIGHT;
  const bad = BAD_OUTCOMES.has(g.outcome);
  const phases = guestPhases(g, report.mode);
  const bars = phases
    .map((p) => {
      const x = scale.x(p.from);
      const w = Math.max(1.5, scale.x(p.to) - x);
      // The instants drawn, in full, for whoever reads the picture with a program.
      const span = { 'data-from': new Date(p.from).toISOString(), 'data-to': new Date(p.to).toISOString() };
      const bar = el(
        'rect',
        { class: `bar ${p.kind}`, x: x.toFixed(1), y: y + 4, width: w.toFixed(1), height: ROW_HEIGHT - 8, fill: PHASE_STYLE[p.kind].color, ...span },
        el('title', {}, escapeXml(phaseTitle(g, p))),
      );
      return p.kind === 'storage' ? bar + srLabel(p, x, w, y) : bar;
    })
    .join('');
  const end = phases.length ? Math.max(...phases.map((p) => scale.x(p.to))) : CHART_LEFT;
  const tooltip = `${g.guest.name} (${g.guest.uuid}), order ${g.order}: ${OUTCOME_TEXT[g.outcome]}` + (g.reason ? ` — ${g.reason}` : '');
  return el(
    'g',
    { class: `guest${bad ? ' bad' : ''}`, 'data-uuid': g.guest.uuid },
    el('title', {}, escapeXml(tooltip)) +
      el('text', { x: LABEL_WIDTH, y: y + 15, 'text-anchor': 'end', class: 'name' }, escapeXml(truncate(g.guest.name))) +
      bars +
      el('text', { x: (end + 4).toFixed(1), y: y + 15, class: bad ? 'outcome bad' : 'outcome' }, escapeXml(OUTCOME_TEXT[g.outcome])),
  );
}

function legend(report: RunReport, y: number): string {
  const waited = report.guests.some((g) => g.storageWait);
  const kinds: PhaseKind[] = report.mode === 'boot' ? [...(waited ? (['storage'] as const) : []), 'start', 'ready'] : ['clean', 'hard'];
  let x = 20;
  const items: string[] = [];
  for (const kind of kinds) {
    items.push(el('rect', { x, y: y - 10, width: 14, height: 12, fill: PHASE_STYLE[kind].color }));
    items.push(el('text', { x: x + 20, y }, escapeXml(PHASE_STYLE[kind].label)));
    x += 40 + PHASE_STYLE[kind].label.length * 6.2;
  }
  items.push(el('line', { x1: x, y1: y - 4, x2: x + 18, y2: y - 4, stroke: '#555', 'stroke-dasharray': '4 3' }));
  items.push(el('text', { x: x + 24, y }, 'order group starts'));
  x += 150;
  if (report.deadlineAt) {
    items.push(el('line', { x1: x, y1: y - 4, x2: x + 18, y2: y - 4, stroke: '#d00', 'stroke-width': 2 }));
    items.push(el('text', { x: x + 24, y }, 'deadline'));
  }
  return el('g', { class: 'legend' }, items.join(''));
}

/** One row per guest the run acted on; skipped guests are counted in the subtitle. */
export function renderTimelineSvg(full: RunReport): string {
  const report = { ...full, guests: full.guests.filter((g) => g.action !== 'skip') };
  const skipped = full.guests.length - report.guests.length;
  const scale = scaleFor(report);
  const rows = report.guests.length;
  const bottom = TOP + Math.max(1, rows) * ROW_HEIGHT + 4;
  const height = bottom + 44;
  const title = `xen-guests ${report.mode} on host ${report.hostUuid}`;
  const subtitle = `${report.startedAt} → ${report.endedAt}, trigger: ${report.trigger}, exit ${report.exitCode}` + (skipped ? `, ${skipped} skipped (not shown)` : '');
  const style =
    'text{font-family:sans-serif;font-size:12px;fill:#222}.tick{font-size:10px;fill:#666}.group{font-size:10px;fill:#555}' +
    '.title{font-size:15px;font-weight:bold}.outcome{font-size:11px;fill:#444}.outcome.bad{fill:#c00;font-weight:bold}.sr{font-size:10px;fill:#222}';
  const body =
    el('title', {}, escapeXml(title)) +
    el('style', {}, style) +
    el('rect', { x: 0, y: 0, width: WIDTH, height, fill: '#fff' }) +
    el('text', { x: 20, y: 22, class: 'title' }, escapeXml(title)) +
    el('text', { x: 20, y: 40 }, escapeXml(subtitle)) +
    report.guests.map((_, i) => (i % 2 ? el('rect', { x: 0, y: TOP + i * ROW_HEIGHT, width: WIDTH, height: ROW_HEIGHT, fill: '#f5f5f5' }) : '')).join('') +
    axis(scale, bottom) +
    report.guests.map((g, i) => guestRow(g, i, report, scale)).join('') +
    groupLines(report, scale, bottom) +
    deadlineLine(report, scale, bottom) +
    (rows === 0 ? el('text', { x: CHART_LEFT, y: TOP + 15 }, 'No guests took part.') : '') +
    legend(report, height - 14);
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    el('svg', { xmlns: 'http://www.w3.org/2000/svg', width: WIDTH, height, viewBox: `0 0 ${WIDTH} ${height}` }, body) +
    '\n'
  );
}
