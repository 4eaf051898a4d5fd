// Lives with the reports (src/report/format/units.ts), which use it too; commands import it from here.
export * from '../../report/format/units.js';
