// Real systemd 252 in a container: the project's notifier and host-state check, in a Type=notify
// service, through a manual restart (not a shutdown) and a power-off (a shutdown).
//   npm run test:system   (root; builds/caches the rootfs on first use)

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cannotRun, createContainer, ensureRootfs, ensureTools, log, PROJECT, type Container } from './harness.js';

const FILES = join(import.meta.dirname, 'files');
const why = cannotRun();

describe.skipIf(why !== null)(`systemd probe in nspawn${why ? ` (skipped: ${why})` : ''}`, () => {
  let container: Container;
  let ok = false;
  beforeAll(async () => {
    ensureTools();
    const rootfs = await ensureRootfs();
    container = await createContainer(rootfs, 'xg-probe');
    for (const unit of ['xen-guests-probe.service', 'xen-guests-probe-driver.service']) {
      await container.put(`etc/systemd/system/${unit}`, await readFile(join(FILES, unit), 'utf8'));
      await container.enable(unit);
    }
  });
  afterAll(async () => {
    await container?.dispose(!ok);
  });

  it('tells READY/STATUS/STOPPING/EXTEND/WATCHDOG to systemd, and tells a restart from a power-off', async () => {
    const run = await container.boot({ binds: ['--bind-ro=/usr/bin/node', `--bind-ro=${PROJECT}:/opt/xen-guests`], timeoutMs: 120_000 });
    log(`container ran ${run.seconds.toFixed(1)} s, exit ${run.exitCode}`);
    const journal = container.journal(['-o', 'short-monotonic', '-u', 'xen-guests-probe.service', '-u', 'xen-guests-probe-driver.service']);
    log('journal of the probe and its driver:\n' + journal);

    const driver = journal.split('\n').filter((l) => l.includes('DRIVER '));
    const before = driver.find((l) => l.includes('before-restart')) ?? '';
    const after = driver.find((l) => l.includes('after-restart')) ?? '';
    for (const line of [before, after]) {
      expect(line).toContain('ActiveState=active');
      expect(line).toContain('SubState=running'); // reached only through READY=1 (Type=notify)
      expect(line).toContain('StatusText=probe: ready, 0 of 0 guests up');
    }

    const answers = journal
      .split('\n')
      .filter((l) => l.includes('PROBE answer '))
      .map((l) => JSON.parse(l.slice(l.indexOf('PROBE answer ') + 'PROBE answer '.length)) as { down: boolean; why: string });
    expect(answers).toHaveLength(2);
    expect(answers[0]!.down).toBe(false); // systemctl restart
    expect(answers[0]!.why).toMatch(/manager state is "(running|degraded|starting)" and no shutdown/);
    expect(answers[1]!.down).toBe(true); // systemctl poweroff
    expect(answers[1]!.why).toMatch(/stopping|poweroff\.target/);

    // Stop took longer than TimeoutStopSec=2 and still ended well: EXTEND_TIMEOUT_USEC was honoured.
    expect(journal).not.toMatch(/timed out|Killing process|watchdog timeout/i);
    expect(journal.match(/xen-guests-probe\.service: Deactivated successfully/g)?.length).toBe(2);
    expect(journal.match(/PROBE exit 0/g)?.length).toBe(2);
    ok = true;
  });
});
