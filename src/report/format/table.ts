// Plain-text tables for terminals and logs: left-aligned columns separated by two spaces, a header
// row, no borders (so the output survives copy/paste into a ticket or grep).

export interface Column {
  header: string;
  /** Numbers read better right-aligned. */
  align?: 'left' | 'right';
}

/** Visible width: counts code points, so names with accents or symbols do not skew the columns. */
export function textWidth(text: string): number {
  return [...text].length;
}

function pad(text: string, width: number, align: 'left' | 'right'): string {
  const fill = ' '.repeat(Math.max(0, width - textWidth(text)));
  return align === 'right' ? fill + text : text + fill;
}

/** Control characters in guest names would break the layout or the terminal; show them escaped. */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export function renderTable(columns: Column[], rows: string[][], indent = ''): string {
  const cells = rows.map((row) => columns.map((_, i) => printable(row[i] ?? '')));
  const widths = columns.map((c, i) => Math.max(textWidth(c.header), ...cells.map((r) => textWidth(r[i] ?? ''))));
  const line = (row: string[]) =>
    indent +
    row
      .map((cell, i) => pad(cell, widths[i] ?? 0, columns[i]?.align ?? 'left'))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n');
}
