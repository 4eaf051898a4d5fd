// xapi.protocol: the XenAPI wire protocol, auto by default (JSON-RPC when the host answers it, else XML-RPC).
import { describe, expect, it } from 'vitest';
import { configAsToml, defaultConfig, parseConfig } from '../../../src/core/config.js';

describe('xapi.protocol', () => {
  it('defaults to auto and accepts xml-rpc and json-rpc', () => {
    expect(defaultConfig().xapi.protocol).toBe('auto');
    expect(parseConfig('[xapi]\nprotocol = "xml-rpc"\n', '/etc/xen-guests/config.toml').xapi.protocol).toBe('xml-rpc');
    expect(parseConfig('[xapi]\nprotocol = "json-rpc"\n', '/etc/xen-guests/config.toml').xapi.protocol).toBe('json-rpc');
    expect((configAsToml(parseConfig('[xapi]\nprotocol = "json-rpc"\n', 'c.toml'))['xapi'] as Record<string, unknown>)['protocol']).toBe('json-rpc');
  });

  it('refuses anything else, naming the key, the value and what is allowed', () => {
    expect(() => parseConfig('[xapi]\nprotocol = "soap"\n', 'c.toml')).toThrow(/xapi\.protocol = "soap" in c\.toml: .*auto.*xml-rpc.*json-rpc/);
  });
});
