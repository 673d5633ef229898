// A customer's rating of a conversation, as stored and as the API shows it.

export interface RatingRow {
  conversation_id: string;
  score: number;
  comment: string | null;
  agent_id: string | null;
  department: string | null;
  created_at: Date;
}

export interface Rating {
  score: number;
  comment: string | null;
  created_at: string;
}

export const toRating = (row: Pick<RatingRow, 'score' | 'comment' | 'created_at'>): Rating => ({
  score: Number(row.score),
  comment: row.comment,
  created_at: new Date(row.created_at).toISOString(),
});

/** Longest comment kept, in characters (the table checks it too). */
export const MAX_COMMENT = 1000;
