// Lives with the reports (src/report/format/table.ts), which use it too; commands import it from here.
export * from '../../report/format/table.js';
