// Runs inside the container as a Type=notify service: the project's own notifier and host-state
// check against a real systemd 252. Prints one PROBE line per finding for the test to read.
import { execFileSync } from 'node:child_process';
import { createLogger } from '/opt/xen-guests/dist/src/log.js';
import { createNotifier } from '/opt/xen-guests/dist/src/systemd/notify.js';
import { isHostGoingDown } from '/opt/xen-guests/dist/src/systemd/host-state.js';

const log = createLogger({ json: true, name: 'probe' });
const notifier = createNotifier(log);
const say = (what, value) => console.log(`PROBE ${what} ${JSON.stringify(value)}`);
const raw = (args) => {
  try {
    return execFileSync('systemctl', args, { encoding: 'utf8' });
  } catch (err) {
    return String(err.stdout ?? '');
  }
};

notifier.status('probe: starting');
notifier.startWatchdog();
setTimeout(() => notifier.ready('probe: ready, 0 of 0 guests up'), 300);

process.once('SIGTERM', async () => {
  notifier.stopping('probe: deciding whether the host is going down');
  say('answer', await isHostGoingDown());
  say('raw-state', raw(['is-system-running']));
  say('raw-jobs', raw(['list-jobs', '--no-legend', '--no-pager', '--full']));
  for (let i = 1; i <= 3; i++) {
    notifier.extendTimeout(4000);
    notifier.status(`probe: stopping step ${i}/3`);
    await new Promise((r) => setTimeout(r, 900));
  }
  await notifier.close();
  say('exit', 0);
  process.exit(0);
});
setInterval(() => {}, 1 << 30);
