// Clients written elsewhere drive the simulator: Python's standard xmlrpc.client (TCP and Unix
// socket) and Xen Orchestra's npm `xen-api` (JSON-RPC on /jsonrpc, 2-argument login,
// pool.get_all_records, system.listMethods, event.inject).

import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSim, type SimHandle } from '../helpers/sim.js';

const run = promisify(execFile);
const SCRIPT = resolve(import.meta.dirname, 'python_client.py');
let sim: SimHandle;

beforeAll(async () => {
  sim = await spawnSim({ guests: 4, unix: true, timeScale: 0.002 });
});
afterAll(async () => sim?.stop());

describe("Python's xmlrpc.client", () => {
  for (const via of ['tcp', 'unix'] as const) {
    it(`lists guests and takes one through start → clean shutdown over ${via}`, async () => {
      const target = via === 'tcp' ? `${sim.url}/` : `unix:${sim.socketPath}`;
      const { stdout } = await run('python3', [SCRIPT, target], { timeout: 30_000 });
      const r = JSON.parse(stdout);
      expect(r.guests).toEqual(['vm-001', 'vm-002', 'vm-003', 'vm-004']);
      expect(r.started).toBe('Running');
      expect(r.halted).toBe('Halted');
      expect(r.bad).toEqual(['HANDLE_INVALID', 'VM', 'OpaqueRef:nope']);
      expect(r.created_type).toBe('DateTime');
      expect(r.created).toMatch(/^\d{8}T\d\d:\d\d:\d\dZ$/);
      expect(r.token).toMatch(/^\d{20},\d{20}$/);
      expect(r.events).toBeGreaterThan(4);
    });
  }
});

describe("Xen Orchestra's xen-api", () => {
  it('connects over JSON-RPC, lists guests, and runs a task through callAsync', async () => {
    const { createClient } = (await import('xen-api')) as any;
    const xapi = createClient({ url: sim.url, auth: { user: 'root', password: '' }, watchEvents: true, allowUnauthorized: true });
    try {
      await xapi.connect();
      expect(xapi.status).toBe('connected');
      expect(xapi.pool?.name_label).toBe('sim-pool');
      const vms = (await xapi.call('VM.get_all_records')) as Record<string, { name_label: string; is_a_template: boolean; is_control_domain: boolean; is_a_snapshot: boolean }>;
      const names = Object.values(vms).filter((v) => !v.is_a_template && !v.is_control_domain && !v.is_a_snapshot).map((v) => v.name_label).sort();
      expect(names).toEqual(['vm-001', 'vm-002', 'vm-003', 'vm-004']);
      const token = await xapi.call('event.inject', 'pool', xapi.pool.$ref);
      expect(token).toMatch(/^\d{20},\d{20}$/);
      const ref = Object.entries(vms).find(([, v]) => v.name_label === 'vm-002')![0];
      await xapi.callAsync('VM.start', ref, false, false);
      expect(await xapi.call('VM.get_power_state', ref)).toBe('Running');
      await xapi.callAsync('VM.hard_shutdown', ref);
      expect(await xapi.call('VM.get_power_state', ref)).toBe('Halted');
    } finally {
      await xapi.disconnect();
    }
  });
});
