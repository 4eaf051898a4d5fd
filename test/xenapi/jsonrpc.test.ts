// JSON-RPC answers → the envelope the session layer reads, and the number rules JSON brings.
import { describe, expect, it } from 'vitest';
import { asInt } from '../../src/xenapi/decode.js';
import { envelopeOf, jsonBody } from '../../src/xenapi/jsonrpc.js';
import { unwrapEnvelope } from '../../src/xenapi/session.js';
import { XenApiError } from '../../src/xenapi/errors.js';
import { createTransport } from '../../src/xenapi/transport.js';

function failure(method: string, answer: unknown): XenApiError {
  try {
    unwrapEnvelope(method, envelopeOf(method, answer));
  } catch (err) {
    expect(err).toBeInstanceOf(XenApiError);
    return err as XenApiError;
  }
  throw new Error('expected a failure');
}

describe('JSON-RPC envelopes', () => {
  it('a v2 result is the value; a v2 error is [message, ...data] with the code and params as sent', () => {
    expect(unwrapEnvelope('VM.get_all', envelopeOf('VM.get_all', { jsonrpc: '2.0', result: ['OpaqueRef:a'], id: 1 }))).toEqual(['OpaqueRef:a']);
    const err = failure('VM.start', { jsonrpc: '2.0', error: { code: 1, message: 'VM_BAD_POWER_STATE', data: ['OpaqueRef:a', 'halted', 'running'] }, id: 2 });
    expect(err.code).toBe('VM_BAD_POWER_STATE');
    expect(err.params).toEqual(['OpaqueRef:a', 'halted', 'running']);
  });

  it('v1 errors (an array) are read too; a void result stays the empty string', () => {
    expect(failure('VM.start', { result: null, error: ['SESSION_INVALID', 'OpaqueRef:s'], id: 3 }).code).toBe('SESSION_INVALID');
    expect(unwrapEnvelope('VM.set_order', envelopeOf('VM.set_order', { jsonrpc: '2.0', result: '', id: 4 }))).toBe('');
  });

  it('answers that are not JSON-RPC are XENAPI_BAD_RESPONSE naming the method', () => {
    expect(() => envelopeOf('VM.get_all', [1, 2])).toThrow(/VM.get_all.*expected a JSON-RPC answer object/);
    expect(() => envelopeOf('VM.get_all', { id: 1 })).toThrow(/without result or error/);
    expect(failure('VM.get_all', { error: { code: 1 } }).code).toBe('XENAPI_BAD_RESPONSE');
  });

  it('requests are JSON-RPC 2.0 with the params as given', () => {
    const body = JSON.parse(jsonBody('event.from', [['vm'], '', 30.5])) as Record<string, unknown>;
    expect(body).toMatchObject({ jsonrpc: '2.0', method: 'event.from', params: [['vm'], '', 30.5] });
    expect(typeof body['id']).toBe('number');
  });

  it('an unknown protocol is refused with the allowed ones', () => {
    expect(() => createTransport('http://127.0.0.1:1', {}, 'soap' as never)).toThrow(/"soap".*allowed: auto, xml-rpc, json-rpc/);
  });
});

describe('int64 as JSON numbers', () => {
  const o = { call: 'VM.get_record', path: 'memory_static_max' };
  it('whole numbers up to 2^53 are read; past that JSON has already rounded them, so they are refused', () => {
    expect(asInt(o, 2147483648)).toBe(2147483648);
    expect(() => asInt(o, 2 ** 60)).toThrow(/memory_static_max: expected an integer within ±2\^53/);
    expect(() => asInt(o, 1.5)).toThrow(/expected an integer/);
  });
});

describe('db_filter literals', () => {
  it('quote and escape backslash and double quote, so a value cannot end the string', async () => {
    const { quoteLiteral } = await import('../../src/xenapi/filter.js');
    expect(quoteLiteral('OpaqueRef:abc')).toBe('"OpaqueRef:abc"');
    expect(quoteLiteral('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(quoteLiteral('" or true or "')).toBe('"\\" or true or \\""');
  });
});
