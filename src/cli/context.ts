// The flags every command shares; everything else a command needs comes from the composition root
// (src/app/compose.ts), re-exported here so that commands have one place to import it from.

import type { ParseArgsConfig } from 'node:util';

export { loadEffectiveConfig, openContext, type CommandContext, type CommonValues, type ContextOptions } from '../app/compose.js';

export const COMMON_OPTIONS = {
  config: { type: 'string' },
  xapi: { type: 'string' },
  'state-dir': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;
