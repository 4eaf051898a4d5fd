import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEffectiveConfig } from '../../../src/app/compose.js';

describe('composition root: the effective config', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'xg-compose-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('takes a relative --state-dir from the working directory and applies the other flags over the file', async () => {
    const file = join(dir, 'c.toml');
    await writeFile(file, 'state_dir = "/srv/from-file"\n[shutdown]\non_sigterm = "auto"\n');
    const c = await loadEffectiveConfig({ config: file, 'state-dir': 'rel/state', 'on-sigterm': 'leave-guests', xapi: 'http://127.0.0.1:9' });
    expect(c.stateDir).toBe(join(process.cwd(), 'rel', 'state'));
    expect(c.stateDir).toBe(resolve('rel/state'));
    expect(c.shutdown.onSigterm).toBe('leave-guests');
    expect(c.xapi.url).toBe('http://127.0.0.1:9');
    expect(c.source).toBe(file);
  });

  it('an empty --state-dir is refused by name, not resolved to the working directory', async () => {
    const file = join(dir, 'empty.toml');
    await writeFile(file, '');
    await expect(loadEffectiveConfig({ config: file, 'state-dir': '' })).rejects.toThrow(/--state-dir "": must be a directory path/);
  });
});
