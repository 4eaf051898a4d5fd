// Reading what the config names from disk: the config file itself and the XenAPI password file.
// The core parses and judges the text and the file mode (src/core/config.ts); this module only
// does the reading, so that the core stays free of I/O.

import { readFile, stat } from 'node:fs/promises';
import { ConfigError, DEFAULT_CONFIG_PATH, defaultConfig, fileProblem, parseConfig, passwordFileModeProblem } from '../core/config.js';
import type { Config } from '../core/types.js';

/** Read the config file; with null, the default path if it exists, else the built-in defaults. */
export async function loadConfigFile(path: string | null): Promise<Config> {
  const file = path ?? DEFAULT_CONFIG_PATH;
  let content: string;
  try {
    content = await readFile(file, 'utf8');
  } catch (err) {
    const code = errorCode(err);
    if (path === null && code === 'ENOENT') return defaultConfig();
    throw new ConfigError(file, [fileProblem(file, '', '', `cannot read the config file (${code})`)]);
  }
  return parseConfig(content, file);
}

/**
 * The XenAPI password from xapi.password_file: refused when group or others have any access,
 * since anyone who reads it owns every guest on the pool. One trailing newline is dropped.
 */
export async function readPasswordFile(path: string, configSource = ''): Promise<string> {
  // The problem is the config key that names the file, so it is reported against the config file.
  const where = configSource || 'the configuration';
  const refuse = (allowed: string): never => {
    throw new ConfigError(where, [fileProblem(where, 'xapi.password_file', JSON.stringify(path), allowed)]);
  };
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    return refuse(`cannot be read (${errorCode(err)})`);
  }
  const modeProblem = passwordFileModeProblem(where, path, info.isFile(), info.mode);
  if (modeProblem) throw new ConfigError(where, [modeProblem]);
  const content = (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
  if (content === '') refuse('is empty; it must hold the password of xapi.user');
  return content;
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
}
