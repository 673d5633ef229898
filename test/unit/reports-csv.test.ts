// The report's CSV and period rules, without a database
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reportCsv, reportFilename } from '../../src/reports/csv.js';
import { parsePeriod } from '../../src/reports/period.js';
import type { Figures, Report } from '../../src/reports/query.js';
import { AppError } from '../../src/errors.js';
import { parseCsv } from '../helpers/csv.js';

const none: Figures = {
  conversations: 1,
  responded: 0,
  first_response_s: null,
  first_response_median_s: null,
  first_response_p90_s: null,
  resolution_s: 12.5,
  resolution_median_s: 12.5,
  resolution_p90_s: 12.5,
  messages: 0,
  messages_total: 0,
};

const byDepartment = (names: (string | null)[]): Report => ({
  group: 'department',
  from: '2026-01-01T00:00:00.000Z',
  to: '2026-02-01T00:00:00.000Z',
  rows: names.map((department) => ({ department, ...none })),
  total: none,
});

describe('report CSV', () => {
  it('quotes commas, quotes and line breaks, and reads back to the same text', () => {
    const names = ['plain', 'a, b', 'say "hi"', 'two\nlines', 'cr\r\nlf', null];
    const rows = parseCsv(reportCsv(byDepartment(names)));
    assert.deepEqual(rows[0], ['department', ...Object.keys(none)]);
    assert.deepEqual(rows.slice(1).map((r) => r[0]), ['plain', 'a, b', 'say "hi"', 'two\nlines', 'cr\r\nlf', '']);
    assert.deepEqual(rows[1]!.slice(1), ['1', '0', '', '', '', '12.5', '12.5', '12.5', '0', '0']);
  });

  it('puts an apostrophe before text a spreadsheet would run as a formula, and only there', () => {
    const names = ['=1+1', '+33 sales', '-support', '@team', '\tx', 'a=b', 'x-y'];
    const cells = parseCsv(reportCsv(byDepartment(names))).slice(1).map((r) => r[0]);
    assert.deepEqual(cells, ["'=1+1", "'+33 sales", "'-support", "'@team", "'\tx", 'a=b', 'x-y']);
  });

  it('looks past leading spaces and control characters for the formula character', () => {
    // a spreadsheet drops them and runs what follows; an anonymous customer chooses a department's text
    const names = [' =HYPERLINK("https://evil.example","x")', '\n=1+1', '  +1', '\u00a0-2', '\u200b@x', '\u0000=1', '\r\n@sum', ' plain', '\nnot a formula', 'a =b'];
    const cells = parseCsv(reportCsv(byDepartment(names))).slice(1).map((r) => r[0]);
    assert.deepEqual(cells, [
      '\' =HYPERLINK("https://evil.example","x")',
      "'\n=1+1",
      "'  +1",
      "'\u00a0-2",
      "'\u200b@x",
      "'\u0000=1",
      "'\r\n@sum",
      ' plain',
      '\nnot a formula',
      'a =b',
    ]);
  });

  it('writes figures as numbers, negative ones too, and only text gets the apostrophe', () => {
    const report = byDepartment(['-']);
    report.rows[0] = { ...report.rows[0]!, resolution_s: -1.5, messages: -0 };
    const [, row] = parseCsv(reportCsv(report));
    assert.deepEqual(row!.slice(0, 1), ["'-"]);
    assert.equal(row![6], '-1.5');
    assert.equal(row![9], '0');
  });

  it('names the file after the group and the period, in UTC days when they are whole', () => {
    assert.equal(reportFilename(byDepartment([])), 'switchboard-report-department-2026-01-01-2026-02-01.csv');
    assert.equal(
      reportFilename({ ...byDepartment([]), group: 'agent', from: '2026-01-05T09:30:00.000Z', to: '2026-01-05T10:00:00.250Z' }),
      'switchboard-report-agent-2026-01-05T093000Z-2026-01-05T100000250Z.csv',
    );
  });
});

describe('report period', () => {
  const refused = (from: string, to: string, field: string, message: RegExp) =>
    assert.throws(() => parsePeriod(from, to), (e: unknown) => e instanceof AppError && e.status === 400 && e.field === field && message.test(e.message));

  it('reads dates as midnight UTC and date-times with their offset, half-open', () => {
    assert.deepEqual(parsePeriod('2026-01-01', '2026-02-01'), { from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-02-01T00:00:00Z') });
    assert.deepEqual(parsePeriod('2026-01-01T07:00:00+07:00', '2026-01-01T00:00:00.5Z'), { from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-01-01T00:00:00.500Z') });
    assert.deepEqual(parsePeriod('2024-02-29', '2025-02-28').to, new Date('2025-02-28T00:00:00Z'));
  });

  it('refuses what is not a real instant, an empty or backwards period, and more than 366 days', () => {
    refused('2026-1-1', '2026-02-01', 'from', /must be a date \(2026-01-31\) or a date-time/);
    refused('2026-01-01T00:00Z', '2026-02-01', 'from', /must be a date/);
    refused('2026-01-01', '2026-02-29', 'to', /not a real date/);
    refused('2026-01-01T24:00:00Z', '2026-02-01', 'from', /not a real date or time/);
    refused('1969-12-31', '1970-01-02', 'from', /out of range/);
    refused('2026-01-01', '2026-01-01', 'to', /must be after from/);
    refused('2026-01-01T10:00:00+01:00', '2026-01-01T09:00:00Z', 'to', /must be after from/);
    refused('2025-01-01', '2026-01-03', 'to', /at most 366 days/);
  });
});
