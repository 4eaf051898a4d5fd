// The alert sink: raising never waits for message.create, one alert per guest and kind, at most
// ALERTS_PER_RUN per run with the rest folded into one summary, and settling is bounded — a
// message.create that fails or never answers cannot hold a run.

import { describe, expect, it } from 'vitest';
import { ALERTS_PER_RUN, type Alert } from '../../src/core/alerts.js';
import { createAlertSink } from '../../src/engine/alerts.js';
import { silentLogger } from '../../src/log.js';

const HOST = '11111111-1111-4111-8111-111111111111';
const guest = (i: number) => ({ uuid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, name: `vm-${i}`, ref: `OpaqueRef:${i}` });

function recorder() {
  const sent: Alert[] = [];
  return { sent, send: async (a: Alert) => void sent.push(a) };
}

describe('alert sink', () => {
  it('one per guest and kind; past the bound, folded into one Host summary that counts them', async () => {
    const r = recorder();
    const sink = createAlertSink({ send: r.send, log: silentLogger(), hostUuid: HOST, mode: 'boot' });
    for (let i = 0; i < 200; i++) sink.raise('start-failed', guest(i), 'VM_REQUIRES_SR');
    sink.raise('start-failed', guest(0), 'again'); // a repeat is never written twice
    const tally = await sink.settle(10_000);
    expect(tally).toEqual({ sent: ALERTS_PER_RUN + 1, folded: 200 - ALERTS_PER_RUN, failed: 0 });
    expect(r.sent).toHaveLength(ALERTS_PER_RUN + 1);
    const perGuest = r.sent.slice(0, ALERTS_PER_RUN);
    expect(new Set(perGuest.map((a) => a.objUuid)).size).toBe(ALERTS_PER_RUN);
    expect(perGuest.every((a) => a.cls === 'VM' && a.name === 'XEN_GUESTS_START_FAILED' && a.priority === 2)).toBe(true);
    expect(r.sent[ALERTS_PER_RUN]).toMatchObject({ name: 'XEN_GUESTS_ALERTS_FOLDED', cls: 'Host', objUuid: HOST });
    expect(r.sent[ALERTS_PER_RUN]!.body).toContain(`${200 - ALERTS_PER_RUN} more alerts of this host boot run`);
    expect(r.sent[ALERTS_PER_RUN]!.body).toContain(`${200 - ALERTS_PER_RUN} XEN_GUESTS_START_FAILED`);
  });

  it('raise returns before message.create answers, and a failing message.create is counted, not thrown', async () => {
    let release!: () => void;
    const gate = new Promise<void>((ok) => (release = ok));
    let calls = 0;
    const sink = createAlertSink({
      send: async () => {
        calls += 1;
        await gate;
        throw new Error('INTERNAL_ERROR database is read-only');
      },
      log: silentLogger(),
      hostUuid: HOST,
      mode: 'shutdown',
    });
    sink.raise('hard-stopped', guest(1), 'clean shutdown timed out after 3 s');
    sink.raise('left-running', guest(2), '');
    // Both raised while the first send is still blocked: nothing waited.
    release();
    expect(await sink.settle(10_000)).toEqual({ sent: 0, folded: 0, failed: 2 });
    expect(calls).toBe(2);
  });

  it('settle gives up at its bound when message.create never answers, and counts what is unsent as failed', async () => {
    const sink = createAlertSink({ send: () => new Promise<void>(() => undefined), log: silentLogger(), hostUuid: HOST, mode: 'shutdown' });
    sink.raise('hard-stopped', guest(1), '');
    sink.raise('hard-stopped', guest(2), '');
    expect(await sink.settle(50)).toEqual({ sent: 0, folded: 0, failed: 2 });
  });

  it('names the run the alert comes from: the daemon at host boot or shutdown, or the command an admin ran', async () => {
    const r = recorder();
    const daemon = createAlertSink({ send: r.send, log: silentLogger(), hostUuid: HOST, mode: 'shutdown' });
    daemon.raise('hard-stopped', guest(1), '');
    daemon.raise('left-running', guest(2), '');
    await daemon.settle(10_000);
    const byHand = createAlertSink({ send: r.send, log: silentLogger(), hostUuid: HOST, mode: 'shutdown', command: { name: 'stop-all', by: 'ops@h1' } });
    byHand.raise('hard-stopped', guest(1), '');
    byHand.raise('left-running', guest(2), '');
    await byHand.settle(10_000);
    expect(r.sent.map((a) => a.body.replace(/\. See .*$/, ''))).toEqual([
      'xen-guests: guest "vm-1" was powered off (hard) at host shutdown after its clean shutdown did not finish in time',
      'xen-guests: guest "vm-2" was still running when the host shutdown deadline passed',
      'xen-guests: guest "vm-1" was powered off (hard) by `xen-guests stop-all` (run by ops@h1) after its clean shutdown did not finish in time',
      'xen-guests: guest "vm-2" was still running when the `xen-guests stop-all` deadline passed',
    ]);
  });
});
