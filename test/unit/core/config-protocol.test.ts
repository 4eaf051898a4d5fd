// xapi.protocol: the XenAPI wire protocol, xml-rpc by default.
import { describe, expect, it } from 'vitest';
import { configAsToml, defaultConfig, parseConfig } from '../../../src/core/config.js';

describe('xapi.protocol', () => {
  it('defaults to xml-rpc and accepts json-rpc', () => {
    expect(defaultConfig().xapi.protocol).toBe('xml-rpc');
    expect(parseConfig('[xapi]\nprotocol = "json-rpc"\n', '/etc/xen-guests/config.toml').xapi.protocol).toBe('json-rpc');
    expect((configAsToml(parseConfig('[xapi]\nprotocol = "json-rpc"\n', 'c.toml'))['xapi'] as Record<string, unknown>)['protocol']).toBe('json-rpc');
  });

  it('refuses anything else, naming the key, the value and what is allowed', () => {
    expect(() => parseConfig('[xapi]\nprotocol = "soap"\n', 'c.toml')).toThrow(/xapi\.protocol = "soap" in c\.toml: .*xml-rpc.*json-rpc/);
  });
});
