#!/usr/bin/env node
import { anchorMonotonicClockToBoot } from '../app/boot-clock.js';
import { main } from './main.js';

// Before anything reads the clock: deadlines stored by one process must mean the same to the next.
anchorMonotonicClockToBoot();

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`xen-guests: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
