// Journald priorities (src/log.ts): a real process whose stdout is the "journal stream" (its
// JOURNAL_STREAM names its own stdout, as systemd sets it) prefixes each JSON line with <N>; one
// whose stdout is not that stream (a redirected child inheriting the variable) does not.

import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

const LOG_JS = resolve(import.meta.dirname, '../../../dist/src/log.js');

function run(journal: 'own stdout' | 'another stream'): Promise<string[]> {
  const script = `
    const { fstatSync } = await import('node:fs');
    const st = fstatSync(1);
    process.env.JOURNAL_STREAM = ${journal === 'own stdout' ? '`${st.dev}:${st.ino}`' : "'1:1'"};
    const { createLogger } = await import(${JSON.stringify(LOG_JS)});
    const log = createLogger({ level: 'debug' });
    log.fatal('f'); log.error('e'); log.warn('w'); log.info('i'); log.debug('d');`;
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', fail);
    child.on('exit', () => ok(out.trim().split('\n')));
  });
}

describe('journald priority prefix', () => {
  it('prefixes every line with the syslog priority of its level on the journal stream', async () => {
    const lines = await run('own stdout');
    expect(lines.map((l) => /^<(\d)>\{/.exec(l)?.[1])).toEqual(['2', '3', '4', '6', '7']);
    expect(lines.map((l) => (JSON.parse(l.slice(3)) as { msg: string }).msg)).toEqual(['f', 'e', 'w', 'i', 'd']);
  });

  it('writes plain JSON when stdout is not the journal stream', async () => {
    const lines = await run('another stream');
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['f', 'e', 'w', 'i', 'd']);
  });
});
