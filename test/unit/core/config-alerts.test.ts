// The top-level `alerts` switch (issue 14 item 5): on by default, `alerts = false` turns it off,
// anything else is refused with the key, the value and what is allowed.

import { describe, expect, it } from 'vitest';
import { ConfigError, defaultConfig, formatConfig, parseConfig } from '../../../src/core/config.js';

describe('config: alerts', () => {
  it('is on by default and off with alerts = false; the effective config shows it', () => {
    expect(defaultConfig().alerts).toBe(true);
    expect(parseConfig('', 'c.toml').alerts).toBe(true);
    const off = parseConfig('alerts = false\n[boot]\nparallelism = 2\n', 'c.toml');
    expect(off.alerts).toBe(false);
    expect(parseConfig(formatConfig(off), 'again.toml').alerts).toBe(false);
  });

  it('refuses a value that is not a boolean, naming it', () => {
    try {
      parseConfig('alerts = "no"\n', '/etc/xen-guests/config.toml');
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems.map((p) => p.message)).toEqual(['alerts = "no" in /etc/xen-guests/config.toml: must be true or false (no quotes)']);
    }
  });
});
