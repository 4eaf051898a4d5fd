// The conformance suite: every recorded scenario in ../shared/xapi-traces (beside the clone, or
// $XEN_GUESTS_TRACES_DIR) is replayed against the simulator as a real process and every answer is
// compared with the recording (compare.ts), after the normalisations of normalise.ts. Differences
// that stay are listed with why in known-differences.ts and docs/SIMULATOR.md. New recordings are
// picked up as they are dropped into the folder.

import { appendFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { justification, KNOWN_DIFFERENCES } from './known-differences.js';
import { describeOutcome, groupByDatabase, Replayer, startRecordedHost, type Outcome, type SimProcess } from './replay.js';
import { canonical, loadScenarios, MISSING_TRACES, missingTracesAreAnError, tracesDir, tracesPresent, typedFromJson, typedFromJsonBody, typedFromXmlResponse } from './traces.js';
import { jsonShape, shapeDifferences, xmlShape } from './wire.js';

const dir = tracesDir();
const present = tracesPresent(dir);

if (!present) {
  describe('conformance with recorded xapi traces', () => {
    if (missingTracesAreAnError()) {
      it('finds the traces that XEN_GUESTS_TRACES_DIR names', () => {
        throw new Error(MISSING_TRACES(dir));
      });
    } else it.skip(`SKIPPED: ${MISSING_TRACES(dir)}`, () => {});
  });
} else {
  const groups = groupByDatabase(loadScenarios(dir));
  const used = new Set<string>();
  const summaries: string[] = [];
  let scenariosDone = 0;
  const scenarioCount = groups.reduce((n, g) => n + g.length, 0);

  afterAll(() => {
    process.stdout.write(`\nxapi conformance (${dir}):\n${summaries.join('\n')}\n`);
  });

  for (const group of groups) {
    describe(`one xapi database: ${group.map((s) => s.file).join(', ')}`, () => {
      let sim: SimProcess;
      let replayer: Replayer;
      afterAll(async () => {
        await sim?.stop();
      });

      const groupOutcomes: Outcome[] = [];
      for (const [i, scenario] of group.entries()) {
        it(`${scenario.file}: every answer matches the recording or is a listed difference`, { timeout: 300_000 }, async () => {
          if (i === 0) {
            sim = await startRecordedHost();
            replayer = new Replayer(sim);
          }
          const outcomes: Outcome[] = [];
          for (const call of scenario.calls) outcomes.push(await replayer.replay(call));
          groupOutcomes.push(...outcomes);
          if (i < group.length - 1) await replayer.removeUnrecordedLeftovers(scenario, group.slice(i + 1));
          const unexplained: string[] = [];
          let listed = 0;
          for (const o of outcomes) {
            if (o.verdict !== 'differ') continue;
            const open = o.diffs.filter((d) => {
              const k = justification(o.call, d);
              if (k) used.add(k.id);
              return !k;
            });
            if (open.length === 0) listed++;
            else unexplained.push(describeOutcome({ ...o, diffs: open }));
          }
          // For working on the simulator: every open difference as JSON lines (never in the tree).
          const dump = process.env.XEN_GUESTS_CONFORMANCE_DUMP;
          if (dump) for (const o of outcomes) for (const d of o.diffs) if (!justification(o.call, d)) appendFileSync(dump, JSON.stringify({ file: o.call.file, line: o.call.line, call: o.call.call, ...d }) + '\n');
          const count = (v: Outcome['verdict']): number => outcomes.filter((o) => o.verdict === v).length;
          summaries.push(`  ${scenario.file}: ${outcomes.length} answers: ${count('matched')} matched, ${count('normalised')} normalised, ${count('differ')} differ (${listed} listed in docs/SIMULATOR.md, ${count('differ') - listed} not)`);
          scenariosDone++;
          expect(unexplained, `differences from the recorded xapi that no normalisation rule or listed difference covers:\n${unexplained.join('\n')}`).toEqual([]);
        });
      }
      it('raw/: the simulator writes the recorded answers as xapi does (encodings, field order, empty forms)', () => {
        const rawDir = join(dir, 'raw');
        if (!existsSync(rawDir)) return;
        const byAnswer = new Map(groupOutcomes.filter((o) => o.simBody !== undefined && typeof o.call.response === 'object').map((o) => [canonical(typedFromJson(o.call.response)), o]));
        const problems: string[] = [];
        let compared = 0;
        for (const file of readdirSync(rawDir).filter((f) => /\.(xml|json)$/.test(f) && !/\.request\./.test(f))) {
          const body = readFileSync(join(rawDir, file), 'utf8');
          const json = file.endsWith('.json');
          const outcome = byAnswer.get(canonical(json ? typedFromJsonBody(body) : typedFromXmlResponse(body)));
          if (!outcome) continue; // recorded in another database's scenarios, or not replayed
          compared++;
          const diffs = shapeDifferences(json ? jsonShape(body) : xmlShape(body), json ? jsonShape(outcome.simBody!) : xmlShape(outcome.simBody!));
          for (const d of diffs) problems.push(`raw/${file} (${outcome.call.file}:${outcome.call.line} ${outcome.call.call}): ${d}`);
        }
        summaries.push(`  raw/ answers of ${group.map((s) => s.file.replace(/_.*$/, '')).join('+')}: ${compared} compared byte-shape by byte-shape, ${problems.length} differences`);
        expect(problems).toEqual([]);
      });
    });
  }

  describe('the list of known differences', () => {
    it('has no entry that no recorded answer needs (after every scenario ran)', () => {
      expect(scenariosDone, 'every scenario was replayed').toBe(scenarioCount);
      expect(KNOWN_DIFFERENCES.filter((k) => !k.timing && !used.has(k.id)).map((k) => k.id)).toEqual([]);
    });
  });
}
