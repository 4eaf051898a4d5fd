// The streaming XML-RPC answer decoder on hand-written answers: every type xapi writes, entities,
// any chunk split (even inside a tag or an entity), and clear errors for what is not XML-RPC.
import { describe, expect, it } from 'vitest';
import { XmlAnswerError, createXmlAnswerDecoder, decodeXmlValue } from '../../src/xenapi/xml-answer.js';

const ANSWER =
  '<?xml version="1.0"?>\n<methodResponse>\n  <params><param><value><struct>' +
  '<member><name>Status</name><value>Success</value></member>' +
  '<member><name>Value</name><value><struct>' +
  '<member><name>OpaqueRef:1</name><value><struct>' +
  '<member><name>name_label</name><value>web &amp; db &lt;1&gt; &quot;x&quot; &apos;y&apos; &#233;&#x20AC;</value></member>' +
  '<member><name>power_state</name><value><string>Running</string></value></member>' +
  '<member><name>memory_static_max</name><value>17179869184</value></member>' +
  '<member><name>big</name><value><i8>9007199254740993</i8></value></member>' +
  '<member><name>order</name><value><int>-3</int></value></member>' +
  '<member><name>vcpus</name><value><i4>2</i4></value></member>' +
  '<member><name>ratio</name><value><double>1.5</double></value></member>' +
  '<member><name>is_a_template</name><value><boolean>0</boolean></value></member>' +
  '<member><name>ha</name><value><boolean>1</boolean></value></member>' +
  '<member><name>start_time</name><value><dateTime.iso8601>20261121T23:39:36Z</dateTime.iso8601></value></member>' +
  '<member><name>blob</name><value><base64>aGVs\nbG8=</base64></value></member>' +
  '<member><name>none</name><value><nil/></value></member>' +
  '<member><name>empty</name><value></value></member>' +
  '<member><name>empty2</name><value/></member>' +
  '<member><name>other_config</name><value><struct/></value></member>' +
  '<member><name>VBDs</name><value><array><data><value>OpaqueRef:a</value><value>OpaqueRef:b</value></data></array></value></member>' +
  '<member><name>nested</name><value><array><data><value><array><data/></array></value></data></array></value></member>' +
  '<member><name>spaced</name><value>  two  spaces  </value></member>' +
  '</struct></value></member>' +
  '</struct></value></member>' +
  '</struct></value></param></params>\n</methodResponse>\n';

const EXPECTED = {
  Status: 'Success',
  Value: {
    'OpaqueRef:1': {
      name_label: 'web & db <1> "x" \'y\' é€',
      power_state: 'Running',
      memory_static_max: '17179869184',
      big: '9007199254740993',
      order: -3,
      vcpus: 2,
      ratio: 1.5,
      is_a_template: false,
      ha: true,
      start_time: '20261121T23:39:36Z',
      blob: Buffer.from('hello'),
      none: null,
      empty: '',
      empty2: '',
      other_config: {},
      VBDs: ['OpaqueRef:a', 'OpaqueRef:b'],
      nested: [[]],
      spaced: '  two  spaces  ',
    },
  },
};

function decodeInPieces(text: string, size: number): unknown {
  const decoder = createXmlAnswerDecoder();
  for (let i = 0; i < text.length; i += size) decoder.write(text.slice(i, i + size));
  return decoder.end();
}

describe('XML-RPC answer decoder', () => {
  it('reads every type xapi writes', () => {
    expect(decodeInPieces(ANSWER, ANSWER.length)).toEqual(EXPECTED);
  });

  it('gives the same value however the answer is cut into chunks', () => {
    for (const size of [1, 2, 3, 7, 64, 1000]) expect(decodeInPieces(ANSWER, size), `chunks of ${size}`).toEqual(EXPECTED);
  });

  it('reads a bare value (system.listMethods) and a task result', () => {
    const bare = '<?xml version="1.0"?><methodResponse><params><param><value><array><data><value>VM.start</value></data></array></value></param></params></methodResponse>';
    expect(decodeInPieces(bare, 5)).toEqual(['VM.start']);
    expect(decodeXmlValue('<value>OpaqueRef:new</value>')).toBe('OpaqueRef:new');
  });

  it('a fault is an error with its code and string', () => {
    const fault =
      '<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>4</int></value></member>' +
      '<member><name>faultString</name><value>Too many parameters</value></member></struct></value></fault></methodResponse>';
    expect(() => decodeInPieces(fault, 9)).toThrow(/XML-RPC fault 4: Too many parameters/);
  });

  it('refuses what is not a complete XML-RPC answer, saying what it found', () => {
    const cases: [string, RegExp][] = [
      ['<html><body><h1>HTTP 500 internal server error</h1></body></html>', /unexpected element <html>/],
      ['<methodResponse><params><param><value>cut', /not a complete XML-RPC methodResponse/],
      ['<methodResponse><params><param><value><int>abc</int></value></param></params></methodResponse>', /<int> holds "abc", not an integer/],
      ['<methodResponse><params><param><value><boolean>true</boolean></value></param></params></methodResponse>', /<boolean> holds "true"; allowed: 0, 1/],
      ['<methodResponse><params><param><value>a &bogus; b</value></param></params></methodResponse>', /unknown entity "&bogus;"/],
      ['<!DOCTYPE x [<!ENTITY a "b">]><methodResponse/>', /unsupported XML construct/],
      ['<methodResponse><params><param><value><string>x</int></value></param></params></methodResponse>', /<\/int> does not close the open element <string>/],
      ['<methodResponse><params><param><value><struct><member><value>x</value></member></struct></value></param></params></methodResponse>', /member without a <name>/],
      ['<methodResponse><params></params></methodResponse>', /without a value/],
    ];
    for (const [text, message] of cases) {
      let caught: unknown = null;
      try {
        decodeInPieces(text, 4);
      } catch (err) {
        caught = err;
      }
      expect(caught, text).toBeInstanceOf(XmlAnswerError);
      expect((caught as Error).message, text).toMatch(message);
    }
  });
});
