// Ajv reports a failed anyOf (room_id: a string or an integer; an attachment:
// a URL or an object) as one issue per branch, then the anyOf itself. The
// branch that failed on something other than its type is the one the caller
// meant — '' is a string, just an empty one — and its issue says what is
// wrong; when every branch failed on its type, the caller sent another type.

// Among branches that failed otherwise, one that objects to a value inside
// what was sent (a file's `id` that is no uuid) beats one that only misses
// its own fields (a link's `type`): the caller wrote the fields of the first.

export interface Issue {
  schemaPath: string;
  keyword: string;
  instancePath?: string;
}

/** The telling branch issue of the first failed anyOf, or undefined (no anyOf, or only type mismatches). */
export function anyOfBranchIssue<T extends Issue>(issues: readonly T[]): T | undefined {
  const anyOf = issues.find((i) => i.keyword === 'anyOf');
  if (!anyOf) return undefined;
  const telling = issues.filter((i) => i.schemaPath.startsWith(`${anyOf.schemaPath}/`) && i.keyword !== 'type');
  const depth = (anyOf.instancePath ?? '').length;
  return telling.find((i) => (i.instancePath ?? '').length > depth) ?? telling[0];
}
