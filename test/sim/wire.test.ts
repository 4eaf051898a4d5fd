// Wire-level conformance of the real simulator process: envelopes, value encoding, HTTP rules,
// the error codes with xapi's parameters.

import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSim, XapiFailure, type SimHandle } from '../helpers/sim.js';

let sim: SimHandle;
let session: string;

function post(path: string, body: string, headers: Record<string, string | number> = {}, omitLength = false): Promise<{ status: number; type: string; body: string }> {
  const u = new URL(sim.url);
  return new Promise((ok, fail) => {
    const req = request({ host: u.hostname, port: u.port, path, method: 'POST', headers: { 'content-type': 'text/xml', ...(omitLength ? {} : { 'content-length': Buffer.byteLength(body) }), ...headers } }, (res) => {
      let data = '';
      res.on('data', (d: Buffer) => (data += d.toString()));
      res.on('end', () => ok({ status: res.statusCode!, type: String(res.headers['content-type']), body: data }));
    });
    req.on('error', fail);
    if (omitLength) req.setHeader('transfer-encoding', 'chunked');
    req.end(body);
  });
}

const call = (method: string, params: string) => `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${params}</params></methodCall>`;
const str = (s: string) => `<param><value><string>${s}</string></value></param>`;

async function failure(p: Promise<unknown>): Promise<XapiFailure> {
  try {
    await p;
  } catch (e) {
    if (e instanceof XapiFailure) return e;
    throw e;
  }
  throw new Error('expected a Failure');
}

beforeAll(async () => {
  sim = await spawnSim({ guests: 3, unix: true, password: 'secret' });
  session = await sim.login();
});
afterAll(async () => sim?.stop());

describe('envelopes and encoding', () => {
  it('answers compact text/xml with a Status/Value envelope and untyped strings', async () => {
    const r = await post('/', call('session.login_with_password', str('root') + str('secret')));
    expect(r.status).toBe(200);
    expect(r.type).toBe('text/xml');
    expect(r.body).toMatch(/^<\?xml version="1.0"\?><methodResponse><params><param><value><struct><member><name>Status<\/name><value>Success<\/value><\/member><member><name>Value<\/name><value>OpaqueRef:[0-9a-f-]{36}<\/value><\/member><\/struct><\/value><\/param><\/params><\/methodResponse>$/);
  });

  it('encodes int64 as untyped strings, bools as <boolean>, datetimes with Z, void as empty value', async () => {
    const vms = await post('/', call('VM.get_all', str(session)));
    const ref = /<value>(OpaqueRef:[^<]+)<\/value>/.exec(vms.body)![1]!;
    const rec = await post('/', call('VM.get_record', str(session) + str(ref)));
    expect(rec.body).toMatch(/<member><name>memory_static_max<\/name><value>\d+<\/value><\/member>/);
    expect(rec.body).toMatch(/<member><name>is_a_template<\/name><value><boolean>[01]<\/boolean><\/value><\/member>/);
    expect(rec.body).toMatch(/<member><name>snapshot_time<\/name><value><dateTime.iso8601>\d{8}T\d\d:\d\d:\d\dZ<\/dateTime.iso8601><\/value><\/member>/);
    expect(rec.body).not.toMatch(/<string>|<int>|<i4>|\n/);
    const set = await post('/', call('VM.set_order', str(session) + str(ref) + '<param><value><int>3</int></value></param>'));
    expect(set.body).toContain('<member><name>Value</name><value></value></member>');
    expect(await sim.call('VM.get_order', session, ref)).toBe('3');
  });

  it('returns system.listMethods bare, without the envelope', async () => {
    const r = await post('/', call('system.listMethods', ''));
    expect(r.body.startsWith('<?xml version="1.0"?><methodResponse><params><param><value><array><data>')).toBe(true);
    expect(r.body).toContain('<value>VM.get_all_records</value>');
    // As the recorded xapi: synchronous names only, the Async. forms are not listed.
    expect(r.body).toContain('<value>VM.clean_shutdown</value>');
    expect(r.body).not.toContain('<value>Async.');
  });

  it('routes any POST path but /jsonrpc to XML-RPC', async () => {
    const r = await post('/xmlrpc', call('session.login_with_password', str('root') + str('secret')));
    expect(r.body).toContain('<value>Success</value>');
  });

  it('answers HTTP 500 with HTML on malformed XML and on a methodCall without params', async () => {
    const bad = await post('/', '<methodCall><methodName>x</methodName><params>');
    expect(bad.status).toBe(500);
    expect(bad.type).toBe('text/html');
    const noParams = await post('/', '<?xml version="1.0"?><methodCall><methodName>VM.get_all</methodName></methodCall>');
    expect(noParams.status).toBe(500);
  });

  it('requires Content-Length', async () => {
    const r = await post('/', call('system.listMethods', ''), {}, true);
    expect(r.status).toBe(500);
    expect(r.body).toContain('content-length');
  });

  it('speaks JSON-RPC v2 and v1 on /jsonrpc', async () => {
    const ok = await post('/jsonrpc', JSON.stringify({ jsonrpc: '2.0', method: 'session.login_with_password', params: ['root', 'secret'], id: 7 }), { 'content-type': 'application/json' });
    expect(ok.type).toBe('application/json');
    const v = JSON.parse(ok.body);
    expect(v).toMatchObject({ jsonrpc: '2.0', id: 7 });
    expect(v.result).toMatch(/^OpaqueRef:/);
    const err = JSON.parse((await post('/jsonrpc', JSON.stringify({ jsonrpc: '2.0', method: 'VM.get_all', params: ['nope'], id: 1 }))).body);
    expect(err.error).toEqual({ code: 1, message: 'SESSION_INVALID', data: ['nope'] });
    const v1 = JSON.parse((await post('/jsonrpc', JSON.stringify({ method: 'VM.get_all', params: ['nope'], id: 2 }))).body);
    expect(v1.error).toEqual(['SESSION_INVALID', 'nope']);
    const mem = JSON.parse((await post('/jsonrpc', JSON.stringify({ jsonrpc: '2.0', method: 'host.get_all_records', params: [v.result], id: 3 }))).body);
    const host = Object.values(mem.result as Record<string, { memory_overhead: unknown }>)[0]!;
    expect(typeof host.memory_overhead).toBe('number');
  });
});

describe('errors with the parameters xapi sends', () => {
  it('MESSAGE_METHOD_UNKNOWN, checking the session first when params were given', async () => {
    expect((await failure(sim.call('VM.frobnicate'))).params).toEqual(['VM.frobnicate']);
    expect(await failure(sim.call('VM.frobnicate', 'OpaqueRef:bad'))).toMatchObject({ code: 'SESSION_INVALID', params: ['OpaqueRef:bad'] });
    expect(await failure(sim.call('VM.frobnicate', session))).toMatchObject({ code: 'MESSAGE_METHOD_UNKNOWN', params: ['VM.frobnicate'] });
  });

  it('MESSAGE_PARAMETER_COUNT_MISMATCH counts without the session and strips Async.', async () => {
    const vm = ((await sim.call('VM.get_all', session)) as string[])[0]!;
    expect(await failure(sim.call('VM.start', session, vm))).toMatchObject({ code: 'MESSAGE_PARAMETER_COUNT_MISMATCH', params: ['VM.start', '3', '1'] });
    expect(await failure(sim.call('Async.VM.clean_shutdown', session))).toMatchObject({ code: 'MESSAGE_PARAMETER_COUNT_MISMATCH', params: ['VM.clean_shutdown', '1', '0'] });
  });

  it('SESSION_AUTHENTICATION_FAILED over TCP, any credentials on the Unix socket', async () => {
    expect(await failure(sim.call('session.login_with_password', 'root', 'wrong'))).toMatchObject({ code: 'SESSION_AUTHENTICATION_FAILED', params: ['root', 'Authentication failure'] });
    const s = await sim.callUnix('session.login_with_password', 'anyone', 'anything');
    expect(s).toMatch(/^OpaqueRef:/);
    expect(await sim.callUnix('VM.get_all', s)).toBeInstanceOf(Array);
    // 3 and 4 arguments are accepted too.
    expect(await sim.call('session.login_with_password', 'root', 'secret', '1.0')).toMatch(/^OpaqueRef:/);
  });

  it('HANDLE_INVALID and UUID_INVALID', async () => {
    expect(await failure(sim.call('VM.get_record', session, 'OpaqueRef:nope'))).toMatchObject({ code: 'HANDLE_INVALID', params: ['VM', 'OpaqueRef:nope'] });
    expect(await failure(sim.call('task.get_status', session, 'OpaqueRef:nope'))).toMatchObject({ code: 'HANDLE_INVALID', params: ['task', 'OpaqueRef:nope'] });
    expect(await failure(sim.call('VM.get_by_uuid', session, '00000000-0000-0000-0000-000000000000'))).toMatchObject({ code: 'UUID_INVALID', params: ['VM', '00000000-0000-0000-0000-000000000000'] });
    expect(await failure(sim.call('host.get_by_uuid', session, 'x'))).toMatchObject({ code: 'UUID_INVALID', params: ['host', 'x'] });
  });

  it('INTERNAL_ERROR for a parameter of the wrong XML-RPC type', async () => {
    const vm = ((await sim.call('VM.get_all', session)) as string[])[0]!;
    const e = await failure(sim.call('VM.start', session, vm, 'false', false));
    // ocaml-rpc's text, as the recorded xapi answers it (shared/xapi-traces 05).
    expect(e.code).toBe('INTERNAL_ERROR');
    expect(e.params).toEqual([`Failure("Expected bool, got 'S(false)'")`]);
  });

  it('MAP_DUPLICATE_KEY carries the object ref', async () => {
    const vm = ((await sim.call('VM.get_all', session)) as string[])[0]!;
    await sim.call('VM.add_to_other_config', session, vm, 'k', 'v');
    expect(await failure(sim.call('VM.add_to_other_config', session, vm, 'k', 'w'))).toMatchObject({ code: 'MAP_DUPLICATE_KEY', params: ['VM', 'other_config', vm, 'k'] });
    await sim.call('VM.remove_from_other_config', session, vm, 'k');
    await sim.call('VM.remove_from_other_config', session, vm, 'k'); // missing key: no-op
  });

  it('rejects a bad simulator behaviour key with INVALID_VALUE naming key, value and what is allowed', async () => {
    const vm = ((await sim.call('VM.get_all', session)) as string[])[0]!;
    const e = await failure(sim.call('VM.add_to_other_config', session, vm, 'xen-guests-sim:shutdown', 'sometimes'));
    expect(e.code).toBe('INVALID_VALUE');
    expect(e.params[0]).toBe('other_config:xen-guests-sim:shutdown');
    expect(e.params[1]).toBe('sometimes');
    expect(e.params[2]).toContain('hung');
  });

  it('EVENT_FROM_TOKEN_PARSE_FAILURE', async () => {
    expect(await failure(sim.call('event.from', session, ['vm'], 'garbage', 0.1))).toMatchObject({ code: 'EVENT_FROM_TOKEN_PARSE_FAILURE', params: ['garbage'] });
  });

  it('get_all_records_where with the expressions clients use; INVALID_VALUE on a parse error', async () => {
    const recs = (await sim.call('VM.get_all_records_where', session, 'field "is_a_template" = "false" and field "is_control_domain" = "false" and not field "is_a_snapshot" = "true"')) as Record<string, { name_label: string }>;
    expect(Object.values(recs).map((r) => r.name_label).sort()).toEqual(['vm-001', 'vm-002', 'vm-003']);
    const one = (await sim.call('VM.get_all_records_where', session, 'field "name__label" = "vm-002"')) as object;
    expect(Object.keys(one)).toHaveLength(1);
    expect((await failure(sim.call('VM.get_all_records_where', session, 'field "x" ='))).code).toBe('INVALID_VALUE');
  });
});
