// The guest scenarios of the real-Xen test: busybox PV guests with policies, xen-guests as the real
// unit, a host power-off, and checks of what happened from the serial log and the reports.
import { collectConsoles, collectDumpedFiles, stageDriver, stageDump, stageSetup, stageXenGuestsUnit } from './dom0-units.mjs';
import { guestConfig } from './guests.mjs';

/**
 * A guest of a scenario.
 *  where: 'auto' = /etc/xen/auto/NAME (xendomains' start-at-boot directory), 'named' = /etc/xen/NAME.cfg
 *  table: its [guests."NAME"] table in /etc/xen-guests/config.toml
 *  overlay: per-guest keys already in the state directory (as `xen-guests` commands leave them)
 *  maintenance: reason given to `xen-guests maintenance on` before the daemon starts
 *  vm: behaviour of the busybox guest (guests.mjs)
 *  expect: outcomes in the boot and shutdown reports
 */
const BASE_GUESTS = [
  {
    name: 'db',
    where: 'auto',
    table: { order: 1, ready: 'vm-data/ready' },
    vm: { readyKey: 'ready', delay: 3 },
    expect: { boot: 'started', shutdown: 'clean' },
    role: 'order 1, ready when it writes data/ready (3 s after its init runs)',
  },
  {
    name: 'app',
    where: 'named',
    table: { order: 2, on_start: 'start' },
    overlay: { 'xen-guests:on_stop': 'suspend' },
    expect: { boot: 'started', shutdown: 'clean' },
    role: 'order 2, config in /etc/xen/app.cfg, on_stop=suspend (must be refused: shut down instead)',
  },
  {
    name: 'web',
    where: 'auto',
    table: { order: 2 },
    expect: { boot: 'started', shutdown: 'clean' },
    role: 'order 2, ready when running',
  },
  {
    name: 'hung',
    where: 'auto',
    table: { order: 3, ready: 'vm-data/ready', shutdown_timeout: 15 },
    vm: { readyKey: 'ready', hang: true },
    expect: { boot: 'started', shutdown: 'hard-after-timeout', cleanTimeout: 15 },
    role: 'order 3, takes the shutdown request but never powers off; 15 s clean timeout',
  },
  {
    name: 'maint',
    where: 'auto',
    table: { order: 2 },
    maintenance: 'disk migration',
    expect: { boot: 'skipped', shutdown: null, neverStarted: true },
    role: 'in /etc/xen/auto but in maintenance: never started',
  },
];

const FULL_EXTRA = [
  {
    name: 'batch',
    where: 'auto',
    table: { order: 3, on_stop: 'poweroff' },
    expect: { boot: 'started', shutdown: 'hard-by-policy' },
    role: 'order 3, on_stop=poweroff: destroyed at once',
  },
  {
    name: 'spare',
    where: 'auto',
    table: { order: 1, on_start: 'ignore' },
    expect: { boot: 'skipped', shutdown: null, neverStarted: true },
    role: 'in /etc/xen/auto but on_start=ignore',
  },
  {
    name: 'broken',
    where: 'auto',
    table: { order: 2 },
    vm: { brokenKernel: true },
    expect: { boot: 'start-failed', shutdown: null, neverStarted: true },
    role: 'order 2, its kernel file is missing: xl create fails, the others go on',
  },
  {
    name: 'late',
    where: 'named',
    table: { order: 4, on_start: 'start', ready: 'vm-data/ready' },
    vm: { readyKey: 'ready', delay: 5 },
    expect: { boot: 'started', shutdown: 'clean' },
    role: 'order 4, ready 5 s after its init',
  },
];

const toml = (v) => (typeof v === 'number' ? String(v) : JSON.stringify(v));

function configToml(guests) {
  const lines = [
    '# written by test/system/xen for the real-Xen system test',
    'state_dir = "/var/lib/xen-guests"',
    '[toolstack]',
    'kind = "xl"',
    '[boot]',
    'parallelism = 4',
    'ready = "running"',
    'ready_timeout = 240',
    '[shutdown]',
    'guest_timeout = 60',
    'deadline = 300',
    'hard_reserve = 30',
    '[log]',
    'level = "info"',
  ];
  for (const g of guests) {
    lines.push(`[guests.${JSON.stringify(g.name)}]`);
    for (const [k, v] of Object.entries(g.table ?? {})) lines.push(`${k} = ${toml(v)}`);
  }
  return `${lines.join('\n')}\n`;
}

function guestFile(g) {
  const text = guestConfig({ name: g.name, readyKey: g.vm?.readyKey, delay: g.vm?.delay, hang: g.vm?.hang });
  return g.vm?.brokenKernel ? text.replace('/var/lib/xen-test/vmlinux', '/var/lib/xen-test/no-such-kernel') : text;
}

// ------------------------------------------------------------------ reading the run

const iso = (s) => (s ? Date.parse(s) : null);
const secs = (ms) => (ms === null || ms === undefined ? '—' : `${(ms / 1000).toFixed(1)} s`);

function findLine(lines, re) {
  return lines.find((l) => re.test(l.text)) ?? null;
}

function indexOf(lines, re) {
  return lines.findIndex((l) => re.test(l.text));
}

function parseJson(text) {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

function bootStory(report, guests, t0) {
  const out = ['boot (report-boot.json; times from the boot run start, dom0 clock):'];
  if (!report) return [...out, '  (no boot report)'];
  for (const r of [...report.guests].sort((a, b) => a.order - b.order || a.guest.name.localeCompare(b.guest.name))) {
    const rel = (x) => (x ? `+${secs(iso(x) - t0)}` : '—');
    out.push(
      `  order ${String(r.order).padStart(2)}  ${r.guest.name.padEnd(7)} ${r.outcome.padEnd(16)} start ${rel(r.startedAt).padStart(8)}  ready ${rel(r.phase2At).padStart(8)}${r.reason ? `  (${r.reason})` : ''}`,
    );
  }
  return out;
}

function shutdownStory(report, t0) {
  const out = ['shutdown (report-shutdown.json; times from the shutdown run start):'];
  if (!report) return [...out, '  (no shutdown report)'];
  for (const r of report.guests) {
    const rel = (x) => (x ? `+${secs(iso(x) - t0)}` : '—');
    out.push(
      `  order ${String(r.order).padStart(2)}  ${r.guest.name.padEnd(7)} ${r.outcome.padEnd(19)} request ${rel(r.phase1EndAt).padStart(8)}  hard ${rel(r.phase2At).padStart(8)}  gone ${rel(r.endedAt).padStart(8)}${r.reason ? `  (${r.reason})` : ''}`,
    );
  }
  return out;
}

export function guestScenario(kind) {
  const guests = kind === 'full' ? [...BASE_GUESTS, ...FULL_EXTRA] : BASE_GUESTS;
  const started = guests.filter((g) => g.expect.boot === 'started');
  return {
    title:
      kind === 'full'
        ? `${guests.length} PV guests in 4 order groups, maintenance, suspend refused, poweroff policy, a failing start, a daemon restart, a hung guest`
        : `${guests.length} PV guests in 3 order groups: readiness by vm-data key, maintenance, suspend refused, a hung guest`,
    timeoutSec: kind === 'full' ? 1500 : 900,
    stage(stage, { repo }) {
      this.unitSource = stageXenGuestsUnit(stage, repo);
      stage.file('etc/xen-guests/config.toml', configToml(guests));
      for (const g of guests) {
        const where = g.where === 'auto' ? `etc/xen/auto/${g.name}` : `etc/xen/${g.name}.cfg`;
        stage.file(where, guestFile(g));
      }
      // Keys as `xen-guests` commands leave them in the state directory. The full scenario sets the
      // maintenance mark with the real CLI in dom0 instead (node under TCG costs half a minute).
      const overlay = { version: 1, guests: {} };
      for (const g of guests) {
        const keys = { ...(g.overlay ?? {}) };
        if (g.maintenance && kind !== 'full') {
          Object.assign(keys, { 'xen-guests:maintenance': g.maintenance, 'xen-guests:maintenance_since': '2026-01-01T00:00:00.000Z', 'xen-guests:maintenance_by': 'root@dom0' });
        }
        if (Object.keys(keys).length) overlay.guests[g.name] = { otherConfig: keys, blockedOperations: {} };
      }
      stage.file('var/lib/xen-guests/xl-guests.json', `${JSON.stringify(overlay, null, 2)}\n`);
      if (kind === 'full') {
        stageSetup(
          stage,
          guests
            .filter((g) => g.maintenance)
            .map((g) => `xen-guests maintenance on ${g.name} --reason ${JSON.stringify(g.maintenance)} && echo "@@ setup: ${g.name} in maintenance" || echo "@@ setup: FAILED to put ${g.name} in maintenance"`),
        );
      }
      const extra =
        kind === 'full'
          ? [
              'before=$(xl list | awk \'NR>1{print $1":"$2}\' | sort | tr "\\n" " ")',
              'echo "@@ driver: restarting xen-guests-xl.service (not a host shutdown: no guest may start or stop)"',
              'systemctl restart xen-guests-xl.service; sleep 3',
              'after=$(xl list | awk \'NR>1{print $1":"$2}\' | sort | tr "\\n" " ")',
              '[ "$before" = "$after" ] && echo "@@ driver: restart kept every domain: $after" || echo "@@ driver: restart CHANGED domains: before $before after $after"',
            ]
          : [];
      stageDriver(stage, { waitReady: started.map((g) => g.name), extra });
      stageDump(stage);
    },
    showLive(text) {
      if (text.startsWith('@@F ') || text.startsWith('@@C ')) return false;
      return (
        text.includes('@@') ||
        /xen-guests-xl\.service|xen\.service|Reached target (multi-user|poweroff)|Power down|ACPI S5|Freed \d+kB init memory|Run \/sbin\/init/.test(text) ||
        /node\[\d+\]: .*"msg"/.test(text)
      );
    },
    check(lines, { timedOut }) {
      const files = collectDumpedFiles(lines);
      const consoles = collectConsoles(lines);
      const boot = parseJson(files['report-boot.json']);
      const shutdown = parseJson(files['report-shutdown.json']);
      const bootOf = (n) => boot?.guests.find((r) => r.guest.name === n) ?? null;
      const downOf = (n) => shutdown?.guests.find((r) => r.guest.name === n) ?? null;
      const checks = [];
      const check = (name, ok, detail) => checks.push({ name, ok: Boolean(ok), detail: ok ? undefined : detail });

      check('QEMU ended by itself (no timeout)', !timedOut, 'killed at the timeout');
      check(`the real unit ran (${this.unitSource})`, findLine(lines, /Starting xen-guests-xl\.service/), 'no "Starting xen-guests-xl.service"');
      if (kind === 'full') {
        const set = guests.filter((g) => g.maintenance).every((g) => findLine(lines, new RegExp(`@@ setup: ${g.name} in maintenance`)));
        check('the maintenance mark was set with the real CLI (xen-guests maintenance on) before boot', set, findLine(lines, /@@ setup: FAILED/)?.text ?? 'no "@@ setup" line');
      }
      const readyLine = indexOf(lines, /Started xen-guests-xl\.service/);
      check('READY sent (systemd: Started xen-guests-xl.service)', readyLine >= 0, 'no "Started xen-guests-xl.service"');
      check('boot report written', boot, `files dumped: ${Object.keys(files).join(', ') || 'none'}`);
      check('shutdown report written', shutdown, `files dumped: ${Object.keys(files).join(', ') || 'none'}`);

      for (const g of guests) {
        const b = bootOf(g.name);
        check(`boot: ${g.name} ${g.expect.boot}`, b?.outcome === g.expect.boot, `report says ${b ? `${b.outcome} (${b.reason})` : 'nothing'}`);
        if (g.expect.shutdown) {
          const d = downOf(g.name);
          check(`shutdown: ${g.name} ${g.expect.shutdown}`, d?.outcome === g.expect.shutdown, `report says ${d ? `${d.outcome} (${d.reason})` : 'nothing'}`);
        }
        if (g.expect.neverStarted) {
          const created = findLine(lines, new RegExp(`xl create \\S*/${g.name}(\\.cfg)?\\b`));
          check(`${g.name} never ran`, !consoles[g.name]?.some((l) => l.includes('DOMU READY')) && (g.expect.boot === 'start-failed' || !created), created?.text ?? 'its console shows it booted');
        }
      }
      const maint = guests.find((g) => g.maintenance);
      if (maint) {
        const b = bootOf(maint.name);
        check(`${maint.name} skipped for its maintenance reason`, b?.reason?.includes(maint.maintenance), `reason: ${b?.reason}`);
      }

      // Boot order: each group starts only after the previous group is ready.
      if (boot) {
        const groups = [...new Set(boot.guests.filter((r) => r.outcome === 'started').map((r) => r.order))].sort((a, b) => a - b);
        for (let i = 1; i < groups.length; i++) {
          const prev = boot.guests.filter((r) => r.order === groups[i - 1] && r.outcome === 'started');
          const next = boot.guests.filter((r) => r.order === groups[i] && r.outcome === 'started');
          const prevReady = Math.max(...prev.map((r) => iso(r.phase2At) ?? Infinity));
          const nextStart = Math.min(...next.map((r) => iso(r.startedAt) ?? -Infinity));
          check(
            `boot order: group ${groups[i]} (${next.map((r) => r.guest.name).join(', ')}) started after group ${groups[i - 1]} (${prev.map((r) => r.guest.name).join(', ')}) was ready`,
            prevReady <= nextStart,
            `last ready ${new Date(prevReady).toISOString()} vs first start ${new Date(nextStart).toISOString()}`,
          );
        }
        const db = bootOf('db');
        check('db counted as ready only after it wrote data/ready (its 3 s delay)', db && iso(db.phase2At) - iso(db.startedAt) >= 3000, `start→ready ${db ? secs(iso(db.phase2At) - iso(db.startedAt)) : '—'}`);
      }

      // Shutdown order: descending groups, each after the previous one ended.
      if (shutdown) {
        const acted = shutdown.guests.filter((r) => r.startedAt && r.action !== 'skip');
        const orders = [...new Set(acted.map((r) => r.order))].sort((a, b) => b - a);
        for (let i = 1; i < orders.length; i++) {
          const prevEnd = Math.max(...acted.filter((r) => r.order === orders[i - 1]).map((r) => iso(r.endedAt)));
          const nextStart = Math.min(...acted.filter((r) => r.order === orders[i]).map((r) => iso(r.startedAt)));
          check(`shutdown order: group ${orders[i]} after group ${orders[i - 1]} ended`, prevEnd <= nextStart, `${secs(nextStart - prevEnd)} apart`);
        }
        for (const g of guests.filter((x) => x.expect.cleanTimeout)) {
          // The clean phase starts when the guest's turn comes (sending the request is part of it).
          const d = downOf(g.name);
          const phase = d ? iso(d.phase2At) - iso(d.startedAt) : null;
          const afterRequest = d ? iso(d.phase2At) - iso(d.phase1EndAt) : null;
          check(
            `${g.name} destroyed only after its ${g.expect.cleanTimeout} s clean phase (${secs(phase)}; ${secs(afterRequest)} after the request reached xenstore)`,
            phase !== null && phase >= g.expect.cleanTimeout * 1000,
            `hard stop ${secs(phase)} into its clean phase`,
          );
        }
        check('no guest left running (report)', Array.isArray(shutdown.leftRunning) && shutdown.leftRunning.length === 0, JSON.stringify(shutdown.leftRunning));
      }
      for (const g of guests.filter((x) => x.expect.shutdown === 'clean')) {
        check(`${g.name} halted by its own shutdown (its console shows rcK)`, consoles[g.name]?.some((l) => l.includes('DOMU rcK')), (consoles[g.name] ?? ['no console captured']).slice(-3).join(' | '));
      }
      for (const g of guests.filter((x) => x.vm?.hang)) {
        check(`${g.name} took the request and stayed up (its console)`, consoles[g.name]?.some((l) => l.includes('poweroff requested but I am hung')), (consoles[g.name] ?? ['no console captured']).slice(-3).join(' | '));
      }
      const suspendRefused = findLine(lines, /suspend is refused/);
      check('on_stop=suspend refused with a message naming the guest', suspendRefused && /app/.test(suspendRefused.text), 'no "suspend is refused" line naming app');
      const suspended = findLine(lines, /xl (save|suspend)|Saving domain|Freezing user space|suspending xenstore/i);
      check('nothing suspended', !suspended, suspended?.text);
      if (kind === 'full') {
        const restart = findLine(lines, /@@ driver: restart (kept|CHANGED)/);
        check('a daemon restart started and stopped no guest', restart?.text.includes('kept'), restart?.text ?? 'no restart line');
      }

      // The host's shutdown begins at the driver's power-off (the full scenario restarts the unit before).
      const poweroffAt = Math.max(0, indexOf(lines, /@@ driver: systemctl poweroff/));
      const after = (re) => {
        const i = lines.slice(poweroffAt).findIndex((l) => re.test(l.text));
        return i < 0 ? -1 : poweroffAt + i;
      };
      const deactivated = after(/xen-guests-xl\.service: Deactivated successfully/);
      const failed = findLine(lines, /xen-guests-xl\.service: (Failed|Main process exited, code=(exited|killed), status=[1-9])/);
      const xenStopping = after(/Stopping xen\.service/);
      check('the unit deactivated successfully', deactivated >= 0 && !failed, failed?.text ?? 'no "Deactivated successfully"');
      check('… before the Xen daemons (xen.service: xenstored, xenconsoled) were stopped', deactivated >= 0 && xenStopping >= 0 && deactivated < xenStopping, `deactivated at line ${deactivated}, xen.service stopping at line ${xenStopping}`);
      check('Xen reached power-off', findLine(lines, /Entering ACPI S5 state|Hardware Dom0 shutdown/), 'no "Entering ACPI S5 state"');

      // ---------------------------------------------------------- the story for a person
      const at = (re) => findLine(lines, re);
      const atAfterPoweroff = (re) => lines.slice(poweroffAt).find((l) => re.test(l.text)) ?? null;
      const t = (l) => (l ? `[${l.t.toFixed(1).padStart(6)}]` : '[     —]');
      const bootT0 = iso(boot?.startedAt);
      const downT0 = iso(shutdown?.startedAt);
      const story = [
        'the guests:',
        ...guests.map((g) => `  ${g.name.padEnd(7)} ${g.role}${g.maintenance ? (kind === 'full' ? ' (set with `xen-guests maintenance on` in dom0 before the daemon starts)' : ' (key in the state directory)') : ''}`),
        '',
        'what happened (seconds since QEMU started):',
        `  ${t(at(/Freed \d+kB init memory/))} Xen up, dom0 kernel starting`,
        `  ${t(at(/systemd\[1\]: /))} systemd (PID 1 in dom0) logging`,
        `  ${t(at(/Started xen\.service/))} xen.service up (xenstored, xenconsoled)`,
        `  ${t(at(/Starting xen-guests-xl\.service/))} xen-guests-xl.service starting`,
        `  ${t(at(/Started xen-guests-xl\.service/))} xen-guests-xl.service READY (boot plan done)`,
        `  ${t(at(/@@ driver: systemctl poweroff/))} systemctl poweroff`,
        `  ${t(atAfterPoweroff(/Stopping xen-guests-xl\.service/))} xen-guests-xl.service stopping: guests shut down`,
        `  ${t(atAfterPoweroff(/xen-guests-xl\.service: Deactivated successfully/))} xen-guests-xl.service deactivated`,
        `  ${t(atAfterPoweroff(/Stopping xen\.service/))} xen.service stopping`,
        `  ${t(at(/Entering ACPI S5 state/))} Xen powers the machine off`,
        '',
        ...bootStory(boot, guests, bootT0),
        '',
        ...shutdownStory(shutdown, downT0),
      ];
      return { story, checks };
    },
  };
}
