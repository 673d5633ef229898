import type { Queryable } from '../store/db.js';

// Conversations per label for the dashboard: how many carry it now while
// open (queued, offered or assigned), and in all. One statement over the GIN index of
// conversations.labels, so every figure comes from the same snapshot; labels
// nobody uses are listed with zeros.

export interface LabelCount {
  name: string;
  color: string;
  open: number;
  total: number;
}

export const LABEL_COUNTS_SQL = /* sql */ `
  select l.name, l.color,
         count(c.id) filter (where c.state in ('queued', 'offered', 'assigned'))::int as open,
         count(c.id)::int as total
    from labels l
    left join conversations c on c.labels @> array[l.name]
   group by l.id, l.name, l.color
   order by lower(l.name)`;

export async function labelCounts(db: Queryable): Promise<LabelCount[]> {
  return db.query<LabelCount>(LABEL_COUNTS_SQL);
}
