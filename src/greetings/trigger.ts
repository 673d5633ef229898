// When a greeting fires, as data and pure functions. The one copy of the
// rules: the server checks a trigger when an admin saves it, the loader
// (web/widget/loader.ts, in the visitor's page) evaluates it. No imports, no
// Node or DOM API: it compiles under both tsconfigs.

export interface Trigger {
  /** time on the page: fires once the visitor has been on it this many seconds (null: at once) */
  after_seconds: number | null;
  /** the page's path and query (`/pricing?plan=pro`) must match this glob: `*` is any run of characters (null: any page) */
  url_pattern: string | null;
  /** only during the visitor's first visit (their first browsing session on the site) */
  first_visit: boolean;
}

export const MAX_AFTER_SECONDS = 3600;
export const MAX_PATTERN = 200;
/** Longer addresses are judged by their first this-many characters: the matcher's work stays bounded. */
export const MAX_URL = 2000;

/** What is wrong with a pattern an admin typed, or null. */
export function checkPattern(pattern: string): string | null {
  if (pattern.length === 0 || pattern.length > MAX_PATTERN) return `must be 1 to ${MAX_PATTERN} characters`;
  if (/[\u0000-\u001f\s]/u.test(pattern)) return 'must not contain spaces or control characters (URLs have none)';
  if (!/^[*/]/.test(pattern)) return 'must start with / (a path, like /pricing*) or * (anywhere, like *checkout*)';
  return null;
}

/**
 * Whether `text` matches the glob `pattern` (`*` = any run of characters,
 * everything else literal, the whole text). A glob rather than an admin's
 * regular expression, and matched by the classic two-pointer walk that
 * backtracks only to the last `*`: at most pattern × text steps, so no
 * pattern can hang a visitor's page (no ReDoS).
 */
export function globMatch(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let resume = 0;
  while (t < text.length) {
    if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.length && pattern[p] === text[t]) {
      p++;
      t++;
    } else if (star >= 0) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/** Whether the page (its path and query) and the visit satisfy the trigger's conditions other than time. */
export function pageMatches(trigger: Trigger, page: { path: string; firstVisit: boolean }): boolean {
  if (trigger.first_visit && !page.firstVisit) return false;
  if (trigger.url_pattern === null) return true;
  const path = page.path.slice(0, MAX_URL);
  // browsers give the address percent-encoded (/pre%C3%A7os); an admin types it as people read it (/preços)
  const readable = readableAddress(path);
  return globMatch(trigger.url_pattern, path) || (readable !== path && globMatch(trigger.url_pattern, readable));
}

/** The address with its percent-escapes decoded (a space stays %20: patterns have none); as given when malformed. */
function readableAddress(path: string): string {
  try {
    return decodeURI(path.replace(/%20/gi, '%2520'));
  } catch {
    return path;
  }
}
