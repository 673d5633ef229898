import assert from 'node:assert/strict';

/**
 * Reads CSV as RFC 4180 writes it: CRLF line ends, quoted fields holding
 * commas, doubled quotes and line breaks; after the UTF-8 byte-order mark
 * Switchboard's downloads start with (so Excel reads them as UTF-8).
 */
export function parseCsv(withMark: string): string[][] {
  assert.ok(withMark.startsWith('\uFEFF'), 'the CSV starts with a UTF-8 byte-order mark');
  const text = withMark.slice(1);
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 1;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i += 1;
    } else cell += ch;
  }
  assert.equal(cell, '', 'the CSV ends with CRLF');
  assert.equal(quoted, false, 'every quote is closed');
  return rows;
}

/** CSV rows back as the report's JSON rows: text columns as text, the rest as numbers, empty cells as null. */
export function csvRecords(text: string, textColumns: readonly string[]): Record<string, string | number | null>[] {
  const [header, ...rows] = parseCsv(text);
  return rows.map((cells) => Object.fromEntries(header!.map((name, i) => [name, cells[i] === '' ? null : textColumns.includes(name) ? cells[i]! : Number(cells[i])])));
}
