import { describe, expect, it } from 'vitest';
import { renderTable } from '../../src/cli/format/table.js';
import { formatMillis, formatSeconds } from '../../src/cli/format/units.js';
import { renderPlan } from '../../src/cli/format/plan.js';
import { describeTools } from '../../src/cli/format/tools.js';
import { renderReport, problemSummary } from '../../src/report/text.js';
import { renderTimelineSvg } from '../../src/report/svg.js';
import { escapeXml } from '../../src/report/xml.js';
import { guestPhases } from '../../src/report/phases.js';
import { at, entry, guestReport, samplePlan, shutdownReport } from './fixtures.js';
import { parseXml } from './xml-check.js';

describe('table', () => {
  it('aligns columns by the widest cell and trims trailing blanks', () => {
    const out = renderTable([{ header: 'NAME' }, { header: 'N', align: 'right' }, { header: 'NOTE' }], [
      ['a', '5', ''],
      ['longer-name', '120', 'x'],
    ]);
    expect(out.split('\n')).toEqual(['NAME           N  NOTE', 'a              5', 'longer-name  120  x']);
  });

  it('escapes control characters so a guest name cannot rewrite the terminal', () => {
    const out = renderTable([{ header: 'NAME' }], [['evil\u001b[2Jname']]);
    expect(out).toContain('evil\\x1b[2Jname');
    expect(out).not.toContain('\u001b');
  });
});

describe('units', () => {
  it('writes seconds the way people read them', () => {
    expect([formatSeconds(0), formatSeconds(45), formatSeconds(90), formatSeconds(3600), formatSeconds(3725)]).toEqual(['0s', '45s', '1m30s', '1h', '1h2m5s']);
    expect(formatMillis(1234)).toBe('1.2s');
    expect(formatMillis(125_000)).toBe('2m5s');
  });
});

describe('plan view', () => {
  it('shows groups in order with action, timeout and readiness, every skip with its reason, warnings and totals', () => {
    const plan = samplePlan();
    const text = renderPlan(plan);
    const lines = text.split('\n');
    const db = lines.findIndex((l) => l.includes('db '));
    const web = lines.findIndex((l) => l.includes('web-1'));
    expect(db).toBeGreaterThan(0);
    expect(web).toBeGreaterThan(db);
    expect(text).toMatch(/Group 1\/2: order 0 \(1 guest\)/);
    expect(text).toMatch(/Group 2\/2: order 10 \(2 guests\)/);
    expect(lines[db]).toMatch(/start\s+5m\s+vm-data\/ready/);
    expect(text).toMatch(/web-2 .*agent/);
    expect(text).toMatch(/old .*maintenance .*disk swap/);
    expect(text).toMatch(/img .*Suspended .*suspended-needs-admin/);
    expect(text).toContain('! old (');
    expect(text).toContain('on_stop=suspend is refused');
    expect(text).toContain('Totals: 5 guests: 3 to start in 2 groups, 2 skipped; 3.0 GiB of memory needed');
    expect(text).not.toContain('Deadline');
  });

  it('explains the shutdown deadline arithmetic, and says when timeouts were cut', () => {
    const plan = samplePlan({
      mode: 'shutdown',
      groups: [{ order: 10, entries: [entry('web', { action: 'clean-shutdown', timeout: 100, ready: null }), entry('nodrv', { action: 'hard-shutdown', reason: 'no PV drivers', ready: null })] }],
      budget: { deadline: 300, hardReserve: 60, cleanBudget: 240, delays: 0, requested: 400, cut: true },
    });
    const text = renderPlan(plan);
    expect(text).toContain('Deadline: 5m for the whole shutdown; 1m kept for hard stops');
    expect(text).toContain('4m shared by the clean phases');
    expect(text).toContain('Requested: 6m40s');
    expect(text).toMatch(/Cut: .*shortened to fit 4m/);
    expect(text).toMatch(/nodrv .*hard-shutdown\s+-\s+no PV drivers/);
    expect(text).not.toContain('READY WHEN');
    const fits = renderPlan({ ...plan, budget: { ...plan.budget!, requested: 200, cut: false } });
    expect(fits).toContain('Fits: no clean timeout had to be cut.');
  });

  it('shows the wait for VM.shutdown_delay after a group and sets it aside in the arithmetic', () => {
    const plan = samplePlan({
      mode: 'shutdown',
      groups: [
        { order: 10, delayAfter: 30, entries: [entry('db', { action: 'clean-shutdown', timeout: 100, ready: null })] },
        { order: 0, entries: [entry('web', { action: 'clean-shutdown', timeout: 100, ready: null })] },
      ],
      budget: { deadline: 300, hardReserve: 60, cleanBudget: 210, delays: 30, requested: 200, cut: false },
    });
    const lines = renderPlan(plan).split('\n');
    const wait = lines.findIndex((l) => l.includes('then waits 30s (VM.shutdown_delay) after its last guest stopped before the next group'));
    expect(wait).toBeGreaterThan(lines.findIndex((l) => l.includes('db ')));
    expect(wait).toBeLessThan(lines.findIndex((l) => l.startsWith('Group 2/2')));
    expect(lines.join('\n')).toContain('30s waited between groups for VM.shutdown_delay, 3m30s shared by the clean phases');
  });

  it('says when there is nothing to do', () => {
    const text = renderPlan(samplePlan({ groups: [], skipped: [], warnings: [], totals: { guests: 0, acting: 0, skipped: 0, notGuests: 0, groups: 0 } }));
    expect(text).toContain('Nothing to do: no guest will be started.');
  });
});

describe('guest tools (seed 002 terms)', () => {
  it('names drivers, version, freshness, agent and features', () => {
    expect(describeTools({ pvDrivers: false, version: null, agentLive: false, upToDate: null, features: [] })).toBe('no guest tools (no PV drivers, no agent reporting)');
    const stale = describeTools({ pvDrivers: true, version: '6.2.0', agentLive: true, upToDate: false, features: ['shutdown'] });
    expect(stale).toContain('PV drivers 6.2.0, out of date');
    expect(stale).toContain('PVAddons/NotUpgradable');
    expect(stale).toContain('features: shutdown');
  });
});

describe('report text', () => {
  it('shows per guest which step ended it and the timings, errors, totals and result', () => {
    const report = shutdownReport([
      guestReport('db', { order: 0, startedAt: at(20), phase1EndAt: at(20.1), endedAt: at(30) }),
      guestReport('hung', {
        order: 10,
        outcome: 'hard-after-timeout',
        phase2At: at(15),
        endedAt: at(16),
        reason: 'clean timeout 15s ran out',
        errors: [['VM_FAILED_SHUTDOWN_ACKNOWLEDGMENT', 'OpaqueRef:x']],
      }),
    ]);
    const text = renderReport(report);
    expect(text).toMatch(/db .*clean-shutdown +clean shutdown +10\.0s +- +10\.0s/);
    expect(text).toMatch(/hung .*! hard stop after clean timeout +15\.0s +1\.0s +16\.0s/);
    expect(text).toContain('VM_FAILED_SHUTDOWN_ACKNOWLEDGMENT [OpaqueRef:x]');
    expect(text).toContain('Totals: 1 clean, 1 hard-after-timeout');
    expect(text).toContain('finished 20.0s before it');
    expect(text).toContain('Result: exit 1: hard stop after clean timeout: hung');
    expect(problemSummary(report)).toBe('hard stop after clean timeout: hung');
  });

  it('derives boot phases from start and readiness times', () => {
    const g = guestReport('a', { action: 'start', outcome: 'started', startedAt: at(0), phase1EndAt: at(2), phase2At: at(5), endedAt: at(5) });
    expect(guestPhases(g, 'boot').map((p) => [p.kind, p.to - p.from])).toEqual([
      ['start', 2000],
      ['ready', 3000],
    ]);
    const byPolicy = guestReport('b', { outcome: 'hard-by-policy', phase1EndAt: null, phase2At: at(1), endedAt: at(2) });
    expect(guestPhases(byPolicy, 'shutdown').map((p) => p.kind)).toEqual(['hard']);
  });
});

describe('SVG timeline', () => {
  const nasty = `<script>&"'x</script>`;
  const report = shutdownReport([
    guestReport(nasty, { order: 10 }),
    guestReport('web', { order: 10, outcome: 'hard-after-timeout', phase2At: at(15), endedAt: at(17) }),
    guestReport('db', { order: 0, startedAt: at(20), phase1EndAt: at(20.1), endedAt: at(35) }),
    guestReport('off', { order: 0, action: 'skip', outcome: 'skipped', startedAt: null, phase1EndAt: null, endedAt: null }),
  ]);

  it('is well-formed XML with one row per guest, group boundaries, the deadline and a legend', () => {
    const svg = renderTimelineSvg(report);
    const elements = parseXml(svg);
    expect(elements[0]?.name).toBe('svg');
    expect(elements[0]?.attributes.xmlns).toBe('http://www.w3.org/2000/svg');
    const rows = elements.filter((e) => e.name === 'g' && e.attributes.class?.split(' ').includes('guest'));
    // One row per guest the run acted on; the skipped one is counted in the subtitle, not drawn.
    expect(rows.map((r) => r.attributes['data-uuid'])).toEqual(report.guests.slice(0, 3).map((g) => g.guest.uuid));
    expect(elements.some((e) => e.name === 'text' && e.text.includes('1 skipped (not shown)'))).toBe(true);
    expect(elements.filter((e) => e.name === 'g' && e.attributes.class === 'group-boundary')).toHaveLength(2);
    expect(elements.filter((e) => e.name === 'g' && e.attributes.class === 'deadline')).toHaveLength(1);
    expect(elements.filter((e) => e.attributes.class === 'bar hard')).toHaveLength(1);
    expect(elements.filter((e) => e.attributes.class === 'bar clean')).toHaveLength(3);
    expect(elements.some((e) => e.name === 'g' && e.attributes.class === 'legend')).toBe(true);
    // The hostile name comes back as text, not as markup.
    expect(elements.some((e) => e.name === 'script')).toBe(false);
    expect(elements.some((e) => e.name === 'text' && e.text === nasty)).toBe(true);
  });

  it('escapes every XML special character and drops characters XML cannot carry', () => {
    expect(escapeXml(`a<b>&"'\u0001`)).toBe('a&lt;b&gt;&amp;&quot;&apos;\ufffd');
  });

  it('the checker itself rejects broken XML', () => {
    expect(() => parseXml('<svg><g></svg>')).toThrow();
    expect(() => parseXml('<svg><text>a & b</text></svg>')).toThrow();
  });
});

describe('boot timeline and policy sources', () => {
  it('draws start and readiness bars for a boot run, and no deadline line', () => {
    const boot = shutdownReport(
      [
        guestReport('a', { action: 'start', outcome: 'started', startedAt: at(0), phase1EndAt: at(2), phase2At: at(5), endedAt: at(5) }),
        guestReport('b', { action: 'start', outcome: 'start-failed', startedAt: at(5), phase1EndAt: null, phase2At: null, endedAt: at(6), errors: [['VM_BOOT_FAILED']] }),
      ],
      { mode: 'boot', deadlineAt: null },
    );
    const elements = parseXml(renderTimelineSvg(boot));
    expect(elements.filter((e) => e.attributes.class === 'bar start')).toHaveLength(2);
    expect(elements.filter((e) => e.attributes.class === 'bar ready')).toHaveLength(1);
    expect(elements.filter((e) => e.attributes.class === 'deadline')).toHaveLength(0);
    expect(elements.find((e) => e.attributes['data-uuid'] === boot.guests[1]!.guest.uuid)?.attributes.class).toBe('guest bad');
  });
});

describe('a wait for storage in the boot report', () => {
  const waited = guestReport('app-nfs', {
    action: 'start',
    outcome: 'started',
    startedAt: at(0),
    phase1EndAt: at(7),
    phase2At: at(9),
    endedAt: at(9),
    storageWait: { srs: ['nfs-vms'], startedAt: at(0), endedAt: at(6), plugged: true },
  });
  const never = guestReport('stuck', {
    action: 'start',
    outcome: 'start-failed',
    startedAt: at(0),
    phase1EndAt: null,
    endedAt: at(12),
    reason: "SR 'iscsi' not plugged on this host within 12 s",
    storageWait: { srs: ['iscsi'], startedAt: at(0), endedAt: at(12), plugged: false },
  });
  const plain = guestReport('web', { action: 'start', outcome: 'started', startedAt: at(0), phase1EndAt: at(1), phase2At: at(2), endedAt: at(2) });
  const boot = shutdownReport([waited, never, plain], { mode: 'boot', deadlineAt: null });

  it('is a step of its own: the start counts from its end, and a guest whose SR never came has no start step', () => {
    expect(guestPhases(waited, 'boot').map((p) => [p.kind, p.to - p.from])).toEqual([
      ['storage', 6000],
      ['start', 1000],
      ['ready', 2000],
    ]);
    expect(guestPhases(never, 'boot').map((p) => [p.kind, p.to - p.from, p.plugged])).toEqual([['storage', 12_000, false]]);
  });

  it('the SVG draws it as a segment with the SR named on it, and the legend explains it', () => {
    const elements = parseXml(renderTimelineSvg(boot));
    const bars = elements.filter((e) => e.attributes.class === 'bar storage');
    expect(bars.map((b) => Date.parse(b.attributes['data-to']!) - Date.parse(b.attributes['data-from']!))).toEqual([6000, 12_000]);
    expect(elements.filter((e) => e.attributes.class === 'sr').map((e) => e.text)).toEqual(["SR 'nfs-vms'", "SR 'iscsi'"]);
    expect(elements.some((e) => e.name === 'title' && e.text === "stuck: waited 12.0s for SR 'iscsi' to be plugged on this host: never plugged, not started")).toBe(true);
    expect(elements.some((e) => e.name === 'text' && e.text.startsWith('waiting for its SR'))).toBe(true);
    // A run without such a wait keeps its legend as it was.
    const none = parseXml(renderTimelineSvg(shutdownReport([plain], { mode: 'boot', deadlineAt: null })));
    expect(none.some((e) => e.name === 'text' && e.text.startsWith('waiting for its SR'))).toBe(false);
  });

  it('the text has an SR WAIT column, START without the wait, and a line per guest naming the SR', () => {
    const text = renderReport(boot);
    expect(text).toMatch(/ENDED BY +SR WAIT +START +READY +TOTAL/);
    expect(text).toMatch(/app-nfs .*started and ready +6\.0s +1\.0s +2\.0s +9\.0s/);
    expect(text).toMatch(/stuck .*! start failed +12\.0s +- +- +12\.0s/);
    expect(text).toMatch(/web .*started and ready +- +1\.0s +1\.0s +2\.0s/);
    expect(text).toContain("SR 'nfs-vms' not plugged on this host at " + at(0) + '; plugged after 6.0s');
    expect(text).toContain("SR 'iscsi' not plugged on this host at " + at(0) + '; still not plugged after 12.0s: not started');
    expect(renderReport(shutdownReport([plain], { mode: 'boot', deadlineAt: null }))).not.toContain('SR WAIT');
  });
});

