// Units and scripts the system test adds to dom0 around the real xen-guests-xl.service:
//   xg-test-setup   before the daemon: policy set the way an admin would (the real CLI)
//   xg-test-driver  after the daemon is READY: waits for the guests, shows the host, powers off
//   xg-test-dump    stopped after the daemon: prints the reports and guest consoles to the console
// Lines for run.mjs start with "@@"; files go out base64-chunked ("@@F name i/n data") because
// kernel messages may interleave with long console lines.
import { existsSync } from 'node:fs';
import path from 'node:path';

const unit = (lines) => `${lines.join('\n')}\n`;

export function stageXenGuestsUnit(stage, repo) {
  const real = path.join(repo, 'units/xen-guests-xl.service');
  if (!existsSync(real)) throw new Error(`${real} is missing: the test installs the real unit for xl hosts`);
  stage.copy(real, 'etc/systemd/system/xen-guests-xl.service');
  stage.enable('xen-guests-xl.service');
  return 'units/xen-guests-xl.service';
}

/** @param {string[]} setupCommands shell lines run before the daemon starts */
export function stageSetup(stage, setupCommands) {
  stage.file(
    'usr/local/sbin/xg-test-setup',
    ['#!/bin/sh', 'exec >/dev/console 2>&1', 'echo "@@ setup: begin"', ...setupCommands, 'echo "@@ setup: done"', ''].join('\n'),
    0o755,
  );
  stage.file(
    'etc/systemd/system/xg-test-setup.service',
    unit([
      '[Unit]',
      'Description=xen-guests system test: policy set by the admin CLI before the daemon starts',
      'After=xen.service',
      'Requires=xen.service',
      'Before=xen-guests-xl.service',
      '[Service]',
      'Type=oneshot',
      'RemainAfterExit=yes',
      'Environment=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'ExecStart=/usr/local/sbin/xg-test-setup',
      '[Install]',
      'WantedBy=multi-user.target',
    ]),
  );
  stage.enable('xg-test-setup.service');
}

/**
 * @param {object} o
 * @param {string[]} o.waitReady   guest names whose console must say "DOMU READY" before power-off
 * @param {string[]} [o.extra]     shell lines run after that, before power-off
 */
export function stageDriver(stage, o) {
  stage.file(
    'usr/local/sbin/xg-test-driver',
    [
      '#!/bin/sh',
      'exec >/dev/console 2>&1',
      'up() { cut -d" " -f1 /proc/uptime; }',
      'echo "@@ driver: xen-guests-xl is $(systemctl is-active xen-guests-xl.service) ($(systemctl show -p StatusText --value xen-guests-xl.service))"',
      `for g in ${o.waitReady.join(' ')}; do`,
      '  n=0; while ! grep -q "DOMU READY" /var/log/xen/console/guest-$g.log 2>/dev/null; do n=$((n+1)); [ $n -gt 600 ] && break; sleep 0.5; done',
      '  echo "@@ driver: guest $g console: $(grep -h "DOMU" /var/log/xen/console/guest-$g.log 2>/dev/null | tr "\\n" " ")"',
      'done',
      'xl list | sed "s/^/@@ xl-list /"',
      ...(o.extra ?? []),
      'echo "@@ driver: systemctl poweroff at dom0 uptime $(up)"',
      'systemctl poweroff --no-block',
      '',
    ].join('\n'),
    0o755,
  );
  stage.file(
    'etc/systemd/system/xg-test-driver.service',
    unit([
      '[Unit]',
      'Description=xen-guests system test: check the boot, then power the host off',
      'After=xen-guests-xl.service',
      '[Service]',
      'Type=oneshot',
      'Environment=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'ExecStart=/usr/local/sbin/xg-test-driver',
      '[Install]',
      'WantedBy=multi-user.target',
    ]),
  );
  stage.enable('xg-test-driver.service');
}

export function stageDump(stage) {
  stage.file(
    'usr/local/sbin/xg-test-dump',
    [
      '#!/bin/sh',
      '# Runs when this unit stops: after xen-guests-xl.service has stopped, before xen.service stops.',
      'exec >/dev/console 2>&1',
      'echo "@@ dump: xen-guests-xl.service $(systemctl show -p ActiveState -p Result -p ExecMainStatus xen-guests-xl.service | tr "\\n" " ") at dom0 uptime $(cut -d" " -f1 /proc/uptime)"',
      'xl list | sed "s/^/@@ xl-list-after /"',
      'for f in /var/lib/xen-guests/*.json /var/lib/xen-guests/*.jsonl; do',
      '  [ -f "$f" ] || continue',
      '  b=$(basename "$f"); base64 -w 480 "$f" > /tmp/xg-chunks; n=$(wc -l < /tmp/xg-chunks); i=0',
      '  while IFS= read -r c; do i=$((i+1)); echo "@@F $b $i/$n $c"; done < /tmp/xg-chunks',
      'done',
      'for f in /var/log/xen/console/guest-*.log; do',
      '  [ -f "$f" ] || continue; g=$(basename "$f" .log); g=${g#guest-}',
      '  tr -d "\\r" < "$f" | grep -a . | sed "s/^/@@C $g /"',
      'done',
      'echo "@@ dump: done"',
      '',
    ].join('\n'),
    0o755,
  );
  stage.file(
    'etc/systemd/system/xg-test-dump.service',
    unit([
      '[Unit]',
      'Description=xen-guests system test: print reports and guest consoles once the daemon has stopped',
      'After=xen.service',
      'Before=xen-guests-xl.service',
      'DefaultDependencies=no',
      'Conflicts=shutdown.target',
      'Before=shutdown.target',
      '[Service]',
      'Type=oneshot',
      'RemainAfterExit=yes',
      'Environment=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'ExecStart=/bin/true',
      'ExecStop=/usr/local/sbin/xg-test-dump',
      'TimeoutStopSec=120',
      '[Install]',
      'WantedBy=multi-user.target',
    ]),
  );
  stage.enable('xg-test-dump.service');
}

/** Reassemble the files the dump printed; {name: text}. Incomplete files are left out. */
export function collectDumpedFiles(lines) {
  const parts = new Map();
  for (const l of lines) {
    const m = /@@F (\S+) (\d+)\/(\d+) (\S+)/.exec(l.text);
    if (!m) continue;
    const [, name, i, n, data] = m;
    const entry = parts.get(name) ?? { n: Number(n), chunks: new Map() };
    entry.chunks.set(Number(i), data);
    parts.set(name, entry);
  }
  const out = {};
  for (const [name, e] of parts) {
    if (e.chunks.size !== e.n) continue;
    const b64 = [...Array(e.n).keys()].map((k) => e.chunks.get(k + 1)).join('');
    out[name] = Buffer.from(b64, 'base64').toString('utf8');
  }
  return out;
}

/** Guest console lines the dump printed: {guest: [lines]}. */
export function collectConsoles(lines) {
  const out = {};
  for (const l of lines) {
    const m = /@@C (\S+) (.*)$/.exec(l.text);
    if (!m) continue;
    (out[m[1]] ??= []).push(m[2]);
  }
  return out;
}
