// Which canned responses the composer's "/" list shows, and in what order.
// Kept apart from the React code, with no imports, so it can be tested in
// plain Node. Enter inserts the first: a response whose shortcut is what the
// agent typed must come before any whose text merely mentions it, however
// many of those sort before it alphabetically.

/** How many responses the list shows. */
export const SHOWN = 8;

/** 0 the shortcut is the query, 1 it starts with it, 2 it holds it, 3 the text holds it; undefined no match. */
function rank(item: { shortcut: string; text: string }, q: string): number | undefined {
  const shortcut = item.shortcut.toLowerCase();
  if (shortcut === q) return 0;
  if (shortcut.startsWith(q)) return 1;
  if (shortcut.includes(q)) return 2;
  if (item.text.toLowerCase().includes(q)) return 3;
  return undefined;
}

/**
 * The responses matching `query` (what follows the "/", any case), best
 * first, at most `limit`. Within a rank they keep the order given (the
 * API's, by shortcut).
 */
export function rankCanned<T extends { shortcut: string; text: string }>(items: readonly T[], query: string, limit = SHOWN): T[] {
  const q = query.toLowerCase();
  const ranked: { item: T; rank: number }[] = [];
  for (const item of items) {
    const r = rank(item, q);
    if (r !== undefined) ranked.push({ item, rank: r });
  }
  // Array.prototype.sort is stable: equal ranks keep the given order
  return ranked
    .sort((a, b) => a.rank - b.rank)
    .slice(0, limit)
    .map((r) => r.item);
}
