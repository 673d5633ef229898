// Ajv reports a failed anyOf (room_id: a string or an integer; an attachment:
// a URL or an object) as one issue per branch, then the anyOf itself. The
// branch that failed on something other than its type is the one the caller
// meant — '' is a string, just an empty one — and its issue says what is
// wrong; when every branch failed on its type, the caller sent another type.

// A branch that objects to a value inside what was sent (a file's `id` that
// is no uuid, or no string) beats one that only misses its own fields (a
// link's `type`): the caller wrote the fields of the first.

export interface Issue {
  schemaPath: string;
  keyword: string;
  instancePath?: string;
}

/** The telling branch issue of the first failed anyOf, or undefined (no anyOf, or only type mismatches). */
export function anyOfBranchIssue<T extends Issue>(issues: readonly T[]): T | undefined {
  const anyOf = issues.find((i) => i.keyword === 'anyOf');
  if (!anyOf) return undefined;
  const branches = issues.filter((i) => i.schemaPath.startsWith(`${anyOf.schemaPath}/`));
  const depth = (anyOf.instancePath ?? '').length;
  // inside what was sent, even a wrong type tells: {id: 123} is a file whose id is no string
  return branches.find((i) => (i.instancePath ?? '').length > depth) ?? branches.find((i) => i.keyword !== 'type');
}
