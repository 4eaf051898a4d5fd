// The decoded values of an XML-RPC answer do not keep the answer's text alive. Judged by the heap
// itself (V8's heapUsed after full collections), not by the decoder's word: an answer of ~4 MB of
// text whose values are a few hundred kB is decoded from chunks made as a socket makes them
// (strings of their own), the chunks are dropped, and what the values retain is measured.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect, it } from 'vitest';
import { createXmlAnswerDecoder } from '../../src/xenapi/xml-answer.js';

setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

const VALUES = 4_000;
const PADDING = ' '.repeat(1_000);
const CHUNK_BYTES = 64 * 1024;

function heapAfterCollections(): number {
  collect();
  collect();
  return process.memoryUsage().heapUsed;
}

/** The answer as the transport hands it over: independent chunk strings, never views of one whole. */
function answerChunks(): { chunks: string[]; textLength: number } {
  const members: string[] = [];
  for (let i = 0; i < VALUES; i++) {
    // uuid-like values (36 characters: long enough that a slice would be a view), padded apart by
    // whitespace, which the decoder reads past.
    const uuid = `${String(i).padStart(8, '0')}-0000-4000-8000-000000000000`;
    members.push(`<value>${uuid}</value>${PADDING}`);
  }
  const text = `<?xml version="1.0"?><methodResponse><params><param><value><array><data>${members.join('')}</data></array></value></param></params></methodResponse>`;
  const bytes = Buffer.from(text, 'utf8');
  const chunks: string[] = [];
  for (let at = 0; at < bytes.length; at += CHUNK_BYTES) chunks.push(bytes.toString('utf8', at, Math.min(bytes.length, at + CHUNK_BYTES)));
  return { chunks, textLength: text.length };
}

/** Decodes in its own frame, so that nothing but the returned values outlives it. */
function decodeDroppingChunks(): { values: unknown; textLength: number } {
  const { chunks, textLength } = answerChunks();
  const decoder = createXmlAnswerDecoder();
  for (const chunk of chunks) decoder.write(chunk);
  return { values: decoder.end(), textLength };
}

it('decoded strings are copies: values kept after the answer do not pin its text', () => {
  const before = heapAfterCollections();
  const { values, textLength } = decodeDroppingChunks();
  const retained = heapAfterCollections() - before;

  expect(Array.isArray(values) && values.length).toBe(VALUES);
  expect((values as string[])[VALUES - 1]).toBe(`${String(VALUES - 1).padStart(8, '0')}-0000-4000-8000-000000000000`);
  // 4,000 strings of 36 characters and their array are ~0.3 MB; views into the chunks would hold
  // all ~4 MB of text.
  expect(textLength).toBeGreaterThan(4_000_000);
  expect(retained).toBeLessThan(textLength / 4);
});
