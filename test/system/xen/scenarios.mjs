// Scenarios of the real-Xen system test. Each stages what dom0 needs, says which serial lines are
// worth showing live, and checks the outcome from the serial log.
import { guestConfig } from './guests.mjs';
import { guestScenario } from './guest-scenario.mjs';

const xenPoweredOff = (lines) => lines.some((l) => /Entering ACPI S5 state|Hardware Dom0 shutdown|reboot: Power down/.test(l.text));

function probeScenario() {
  return {
    title: "the project's xenstore client against the real xenstored, and a real guest's control/shutdown",
    timeoutSec: 600,
    stage(stage, { here }) {
      stage.copy(`${here}/probe-xenstore.mjs`, 'opt/xen-guests/test/probe-xenstore.mjs');
      stage.file('etc/xen/probe.cfg', guestConfig({ name: 'probe', readyKey: 'ready', delay: 1 }));
      stage.file(
        'etc/systemd/system/xen-probe.service',
        [
          '[Unit]',
          'Description=xen-guests system test: xenstore client probe',
          'Requires=xen.service',
          'After=xen.service',
          '[Service]',
          'Type=oneshot',
          'Environment=PATH=/usr/sbin:/usr/bin:/sbin:/bin',
          `ExecStart=/bin/sh -c '/usr/bin/node /opt/xen-guests/test/probe-xenstore.mjs /etc/xen/probe.cfg; echo "@@ probe exit $?"; xl list; systemctl poweroff --no-block'`,
          'StandardOutput=journal+console',
          'StandardError=journal+console',
          '[Install]',
          'WantedBy=multi-user.target',
          '',
        ].join('\n'),
      );
      stage.enable('xen-probe.service');
    },
    showLive: (text) => text.includes('@@') || /Started|Reached target|Power down|ACPI S5|xen\.service/.test(text),
    check(lines, { timedOut }) {
      const probe = lines.filter((l) => l.text.includes('@@ probe'));
      const checks = [
        { name: 'QEMU ended by itself (no timeout)', ok: !timedOut },
        { name: 'probe ran every step against the real xenstored', ok: probe.some((l) => l.text.includes('@@ probe OK')), detail: probe.find((l) => l.text.includes('FAIL'))?.text },
        { name: 'Xen reached power-off', ok: xenPoweredOff(lines) },
      ];
      return { story: probe.map((l) => `[${l.t.toFixed(1)}] ${l.text.replace(/^.*@@ /, '')}`), checks };
    },
  };
}

export const SCENARIOS = {
  default: guestScenario('default'),
  full: guestScenario('full'),
  probe: probeScenario(),
};
