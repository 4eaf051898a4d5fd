// Decoding of values as the xmlrpc package hands them over, and the parameter guard on the way out.
import { describe, expect, it } from 'vitest';
import { asDate, asInt, asRef, fieldsOf } from '../../src/xenapi/decode.js';
import { XenApiError } from '../../src/xenapi/errors.js';
import { decodeEventBatch, decodeTask, decodeVm } from '../../src/xenapi/records.js';
import { unwrapEnvelope } from '../../src/xenapi/session.js';
import { decodeTaskResult } from '../../src/xenapi/tasks.js';
import { encodeParams, normaliseFingerprint, parseEndpoint, redirectEndpoint } from '../../src/xenapi/transport.js';

const o = { call: 'VM.get_record', path: '' };

function vmRecord(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    uuid: '6b1d2e8a-0000-4000-8000-000000000001',
    name_label: 'web',
    name_description: '',
    power_state: 'Running',
    is_a_template: false,
    is_a_snapshot: false,
    is_control_domain: false,
    other_config: { auto_poweron: 'true' },
    xenstore_data: { 'vm-data/ready': '1' },
    resident_on: 'OpaqueRef:host1',
    affinity: 'OpaqueRef:NULL',
    domid: '7',
    current_operations: {},
    allowed_operations: ['clean_shutdown'],
    blocked_operations: {},
    guest_metrics: '',
    metrics: 'OpaqueRef:m1',
    order: '3',
    start_delay: '0',
    shutdown_delay: '10',
    memory_static_max: '4294967296',
    memory_static_min: '1073741824',
    memory_dynamic_max: '4294967296',
    memory_dynamic_min: '2147483648',
    memory_overhead: '33554432',
    domain_type: 'hvm',
    ...overrides,
  };
}

describe('primitive decoders', () => {
  it('turns int64 strings into numbers and refuses junk, naming the field', () => {
    expect(asInt(o, '4294967296')).toBe(4294967296);
    expect(asInt(o, 12)).toBe(12);
    expect(() => asInt({ call: 'VM.get_record', path: 'memory_overhead' }, 'lots')).toThrow(/VM.get_record.*memory_overhead: expected an integer/);
  });
  it('reads refs with OpaqueRef:NULL and "" as null', () => {
    expect(asRef(o, 'OpaqueRef:NULL')).toBeNull();
    expect(asRef(o, '')).toBeNull();
    expect(asRef(o, 'OpaqueRef:abc')).toBe('OpaqueRef:abc');
    expect(() => asRef(o, 'abc')).toThrow(XenApiError);
  });
  it('reads datetimes from Dates and compact strings, epoch as unset', () => {
    expect(asDate(o, new Date(Date.UTC(2024, 0, 2, 3, 4, 5)))?.toISOString()).toBe('2024-01-02T03:04:05.000Z');
    expect(asDate(o, '20240102T03:04:05Z')?.toISOString()).toBe('2024-01-02T03:04:05.000Z');
    expect(asDate(o, '20240102T03:04:05')?.toISOString()).toBe('2024-01-02T03:04:05.000Z');
    expect(asDate(o, '19700101T00:00:00Z')).toBeNull();
    expect(() => asDate(o, 'yesterday')).toThrow(/expected a datetime/);
  });
  it('names a missing required field', () => {
    const f = fieldsOf({ call: 'host.get_record', path: '' }, { uuid: 'x' });
    expect(() => f.str('name_label')).toThrow(/host.get_record.*name_label: expected the field to be present/);
    expect(f.str('hostname', '')).toBe('');
  });
});

describe('record decoders', () => {
  it('decodes a VM record into typed fields', () => {
    const vm = decodeVm(o, 'OpaqueRef:vm1', vmRecord());
    expect(vm).toMatchObject({
      ref: 'OpaqueRef:vm1',
      powerState: 'Running',
      residentOn: 'OpaqueRef:host1',
      affinity: null,
      guestMetrics: null,
      domid: 7,
      order: 3,
      shutdownDelay: 10,
      memoryStaticMax: 4294967296,
      memoryDynamicMin: 2147483648,
      memoryOverhead: 33554432,
      xenstoreData: { 'vm-data/ready': '1' },
    });
  });
  it('rejects an unknown power state, naming call and field', () => {
    expect(() => decodeVm({ call: 'VM.get_all_records', path: 'OpaqueRef:vm1' }, 'OpaqueRef:vm1', vmRecord({ power_state: 'running' })))
      .toThrow(/VM.get_all_records.*OpaqueRef:vm1.power_state: expected one of Halted\|Paused\|Running\|Suspended, got "running"/);
  });
  it('decodes a task record', () => {
    const t = decodeTask(o, 'OpaqueRef:t', {
      uuid: 'u', name_label: 'Async.VM.start', status: 'failure', progress: 1, result: '', error_info: ['VM_BAD_POWER_STATE', 'OpaqueRef:v', 'halted', 'running'],
      created: new Date(Date.UTC(2024, 0, 1)), finished: new Date(0), allowed_operations: [], resident_on: 'OpaqueRef:h', subtask_of: 'OpaqueRef:NULL', other_config: {},
    });
    expect(t.status).toBe('failure');
    expect(t.errorInfo[0]).toBe('VM_BAD_POWER_STATE');
    expect(t.finished).toBeNull();
    expect(t.subtaskOf).toBeNull();
  });
  it('decodes an event.from batch; del events carry no snapshot', () => {
    const b = decodeEventBatch('event.from', {
      events: [
        { id: '12', timestamp: '0.0', class: 'VM', operation: 'mod', ref: 'OpaqueRef:v', snapshot: vmRecord() },
        { id: '13', timestamp: '0.0', class: 'task', operation: 'del', ref: 'OpaqueRef:t' },
      ],
      valid_ref_counts: { vm: 4, task: 0 },
      token: '00000000000000000013,00000000000000000000',
    });
    expect(b.events.map((e) => [e.class, e.operation, 'snapshot' in e])).toEqual([['vm', 'mod', true], ['task', 'del', false]]);
    expect(b.validRefCounts).toEqual({ vm: 4, task: 0 });
    expect(() => decodeEventBatch('event.from', { events: 'none', token: 'x' })).toThrow(/event.from.*events: expected an array/);
  });
});

describe('envelope', () => {
  it('unwraps Success and turns Failure into XenApiError with code and params', () => {
    expect(unwrapEnvelope('VM.get_all', { Status: 'Success', Value: ['OpaqueRef:a'] })).toEqual(['OpaqueRef:a']);
    try {
      unwrapEnvelope('VM.start', { Status: 'Failure', ErrorDescription: ['VM_BAD_POWER_STATE', 'OpaqueRef:a', 'halted', 'running'] });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(XenApiError);
      expect((err as XenApiError).code).toBe('VM_BAD_POWER_STATE');
      expect((err as XenApiError).params).toEqual(['OpaqueRef:a', 'halted', 'running']);
      expect((err as XenApiError).method).toBe('VM.start');
    }
    expect(() => unwrapEnvelope('VM.get_all', 'bare')).toThrow(/XENAPI_BAD_RESPONSE.*Status, Value/);
    expect(() => unwrapEnvelope('VM.get_all', { Status: 'Failure', ErrorDescription: 'x' })).toThrow(/ErrorDescription/);
    expect(unwrapEnvelope('system.listMethods', ['a', 'b'])).toEqual(['a', 'b']);
  });
  it('decodes task results: void, ref, struct', async () => {
    expect(await decodeTaskResult('Async.VM.start', '<value></value>')).toBeUndefined();
    expect(await decodeTaskResult('Async.VM.start', '')).toBeUndefined();
    expect(await decodeTaskResult('Async.VM.clone', '<value>OpaqueRef:new</value>')).toBe('OpaqueRef:new');
    expect(await decodeTaskResult('x', '<value><struct><member><name>a</name><value>1</value></member></struct></value>')).toEqual({ a: '1' });
    await expect(decodeTaskResult('x', '<value><nonsense')).rejects.toThrow(/task result is not an XML-RPC value/);
  });
});

describe('parameters and endpoints', () => {
  it('sends integers as strings, refuses Dates and nils', () => {
    expect(encodeParams('VM.set_order', ['OpaqueRef:a', 5, 1.5, true, [7], { k: 8 }])).toEqual(['OpaqueRef:a', '5', 1.5, true, ['7'], { k: '8' }]);
    expect(() => encodeParams('VM.set_x', [new Date()])).toThrow(/parameter 1 is a Date/);
    expect(() => encodeParams('VM.set_x', ['a', null])).toThrow(/parameter 2 is null/);
  });
  it('parses endpoints and refuses plain http off loopback', () => {
    expect(parseEndpoint('unix:')).toEqual({ kind: 'unix', socketPaths: ['/var/lib/xcp/xapi', '/var/xapi/xapi'] });
    expect(parseEndpoint('unix:/tmp/s.sock')).toEqual({ kind: 'unix', socketPaths: ['/tmp/s.sock'] });
    expect(parseEndpoint('https://xcp1')).toMatchObject({ kind: 'https', host: 'xcp1', port: 443 });
    expect(parseEndpoint('http://127.0.0.1:8080')).toMatchObject({ kind: 'http', host: '127.0.0.1', port: 8080 });
    expect(() => parseEndpoint('http://10.0.0.1')).toThrow(/plain http is allowed only on loopback/);
    expect(() => parseEndpoint('ftp://x')).toThrow(/scheme "ftp:"/);
    expect(() => parseEndpoint('unix:relative')).toThrow(/must be absolute/);
  });
  it('follows HOST_IS_SLAVE addresses keeping scheme and port', () => {
    const ep = parseEndpoint('https://10.0.0.2:8443');
    expect(redirectEndpoint(ep, '10.0.0.1')).toMatchObject({ kind: 'https', host: '10.0.0.1', port: 8443 });
    expect(redirectEndpoint(parseEndpoint('http://127.0.0.1:1'), '127.0.0.1:2')).toMatchObject({ host: '127.0.0.1', port: 2 });
    expect(() => redirectEndpoint(parseEndpoint('http://127.0.0.1:1'), '10.1.1.1')).toThrow(/not loopback/);
  });
  it('normalises fingerprints and explains bad ones', () => {
    const hex = 'ab'.repeat(32);
    expect(normaliseFingerprint(hex)).toBe(Array(32).fill('AB').join(':'));
    expect(() => normaliseFingerprint('abc')).toThrow(/not a SHA-256 fingerprint/);
  });
});
