// Runs inside the real dom0 (node /opt/xen-guests/test/probe-xenstore.mjs): the project's xenstore
// client against the real xenstored, and the real guest's answer to control/shutdown.
// Prints "@@ probe ..." lines that run.mjs checks; exits non-zero on the first failure.
import { execFileSync } from 'node:child_process';
import { createXenstoreClient } from '/opt/xen-guests/dist/src/xenstore/client.js';

const say = (m) => console.log(`@@ probe ${m}`);
const fail = (m) => {
  say(`FAIL ${m}`);
  process.exit(1);
};
const cfg = process.argv[2] ?? '/etc/xen/probe.cfg';
const xs = createXenstoreClient({ requestTimeoutMs: 5000 });
try {
  const name0 = await xs.read('/local/domain/0/name');
  say(`dom0 name ${JSON.stringify(name0)} via ${xs.socketPath}`);
  const releases = [];
  await xs.watch('@releaseDomain', () => releases.push(Date.now()));
  const introduced = [];
  await xs.watch('@introduceDomain', () => introduced.push(Date.now()));
  execFileSync('xl', ['create', cfg], { stdio: 'inherit', timeout: 120_000 });
  const ids = await xs.directory('/local/domain');
  say(`domains ${ids.join(',')} after xl create`);
  const domid = ids.find((d) => d !== '0');
  if (!domid) fail('no guest domain in /local/domain');
  const home = `/local/domain/${domid}`;
  say(`guest ${await xs.read(`${home}/name`)} domid ${domid} vm ${await xs.readOrNull(`${home}/vm`)}`);
  say(`perms of ${home}/control/shutdown: ${JSON.stringify(await xs.getPerms(`${home}/control/shutdown`).catch((e) => e.code))}`);
  // The guest publishes data/ready once its init ran; wait for it through a watch, bounded.
  const ready = await new Promise((resolve) => {
    const t = setTimeout(() => resolve(null), 60_000);
    xs.watch(`${home}/data/ready`, async () => {
      const v = await xs.readOrNull(`${home}/data/ready`);
      if (v !== null) {
        clearTimeout(t);
        resolve(v);
      }
    });
  });
  const dump = (args) => {
    try {
      return execFileSync(args[0], args.slice(1), { encoding: 'utf8', timeout: 20_000 });
    } catch (e) {
      return String(e);
    }
  };
  for (const l of dump(['xenstore-ls', '-f', home]).split('\n')) say(`xs ${l}`);
  for (const l of dump(['xenstore-ls', '-f', `/libxl/${domid}`]).split('\n')) say(`xs ${l}`);
  for (const l of dump(['xl', 'list', '-l']).split('\n').slice(0, 60)) say(`xl-list-l ${l}`);
  for (const l of dump(['xl', 'list']).split('\n')) say(`xl-list ${l}`);
  for (const l of dump(['cat', '/var/log/xen/console/guest-probe.log']).split('\n')) say(`console ${l}`);
  if (ready === null) fail('guest never wrote data/ready');
  say(`guest wrote data/ready=${ready}`);
  const features = (await xs.directoryOrEmpty(`${home}/control`)).filter((k) => k.startsWith('feature-'));
  const values = await Promise.all(features.map(async (f) => `${f}=${await xs.readOrNull(`${home}/control/${f}`)}`));
  say(`control features: ${values.join(' ') || '(none)'}`);
  const n = await xs.transaction(async (tx) => {
    await tx.write('/local/domain/0/data/xen-guests-probe', 'tx');
    return (await tx.directory('/local/domain/0/data')).length;
  });
  say(`transaction committed (${n} keys under dom0 data)`);
  const before = releases.length;
  const acks = [];
  await xs.watch(`${home}/control/shutdown`, async () => acks.push(await xs.readOrNull(`${home}/control/shutdown`)));
  const t0 = Date.now();
  await xs.write(`${home}/control/shutdown`, 'poweroff');
  say('wrote control/shutdown=poweroff');
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if ((await xs.readOrNull(`${home}/name`)) === null) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  if ((await xs.readOrNull(`${home}/name`)) !== null) fail('guest still there 120 s after poweroff request');
  say(`guest gone ${((Date.now() - t0) / 1000).toFixed(1)} s after the request; @releaseDomain fired ${releases.length - before} time(s); control/shutdown values seen ${JSON.stringify(acks)}`);
  say('OK');
} catch (err) {
  fail(err.stack ?? String(err));
} finally {
  await xs.close();
}
