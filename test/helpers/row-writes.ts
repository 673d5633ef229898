// Counts the row versions a routing call writes, by a row trigger the test
// lays on the table (the statistics views are no help: PostgreSQL 15
// reports a session's counts late, summed over several transactions).
import type { Db, Queryable } from '../../src/store/db.js';

export interface RowWrite {
  op: 'INSERT' | 'UPDATE';
  row_id: string;
}

/** Lays (again: re-runnable) a trigger on `table` recording each row it inserts or updates, by operation and row id. */
export async function recordRowWrites(db: Db, table: 'conversations' | 'agents'): Promise<void> {
  await db.exec(`
    create table if not exists test_row_writes (tbl text not null, op text not null, row_id uuid not null);
    create or replace function test_row_written() returns trigger language plpgsql as $$
    begin
      insert into test_row_writes values (tg_table_name, tg_op, new.id);
      return null;
    end
    $$;
    drop trigger if exists test_row_written on ${table};
    create trigger test_row_written after insert or update on ${table}
      for each row execute function test_row_written();`);
}

/** Runs `work` in `tx` and answers, beside its result, the rows it wrote to `table` (recordRowWrites laid on it). */
export async function rowWritesOf<T>(tx: Queryable, table: 'conversations' | 'agents', work: () => Promise<T>): Promise<{ result: T; writes: RowWrite[] }> {
  await tx.query('delete from test_row_writes');
  const result = await work();
  const writes = await tx.query<RowWrite>('select op, row_id from test_row_writes where tbl = $1', [table]);
  await tx.query('delete from test_row_writes');
  return { result, writes };
}
