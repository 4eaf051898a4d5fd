// A strict well-formedness check for the SVG the report writes, with sax (a real XML parser):
// returns the parsed elements so tests can count rows, or throws on the first XML error.

import sax from 'sax';

export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  text: string;
}

export function parseXml(xml: string): XmlElement[] {
  const parser = sax.parser(true, { xmlns: false });
  const elements: XmlElement[] = [];
  const open: XmlElement[] = [];
  let error: Error | null = null;
  parser.onerror = (e) => {
    error ??= e;
    parser.resume();
  };
  parser.onopentag = (tag) => {
    const element: XmlElement = { name: tag.name, attributes: tag.attributes as Record<string, string>, text: '' };
    elements.push(element);
    open.push(element);
  };
  parser.onclosetag = () => void open.pop();
  parser.ontext = (text) => {
    const top = open[open.length - 1];
    if (top) top.text += text;
  };
  parser.write(xml).close();
  if (error) throw error;
  if (open.length) throw new Error(`unclosed elements: ${open.map((e) => e.name).join(', ')}`);
  return elements;
}
