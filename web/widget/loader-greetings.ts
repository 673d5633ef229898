import { pageMatches, type Trigger } from '../../src/greetings/trigger.js';

// Proactive greetings in the visitor's page: which of the greetings the
// server sent fire here, and when. Once per visitor per greeting: the ids
// greeted are kept in this site's localStorage (and the server leaves out
// those it recorded as shown to this visitor id). One greeting per page
// view, and none once the visitor opened the chat themselves.

export interface LoaderGreeting {
  id: string;
  message: string;
  trigger: Trigger;
}

const VISITOR_KEY = 'switchboard-greeting-visitor';
const GREETED_KEY = 'switchboard-greeted';
const FIRST_VISIT_KEY = 'switchboard-first-visit';

const randomId = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now().toString(16)}-${Math.random().toString(16).slice(2)}`);

/**
 * This browser's visitor id on this site, and whether this is their first
 * visit: the browsing session in which the id was made (kept in
 * sessionStorage, so later pages of that session are still the first visit).
 */
export function visitor(): { id: string; firstVisit: boolean } {
  try {
    let id = localStorage.getItem(VISITOR_KEY);
    if (!id) {
      id = `v-${randomId()}`;
      localStorage.setItem(VISITOR_KEY, id);
      sessionStorage.setItem(FIRST_VISIT_KEY, '1');
    }
    return { id, firstVisit: sessionStorage.getItem(FIRST_VISIT_KEY) === '1' };
  } catch {
    // storage disabled: no way to greet only once, so no greeting (firstVisit false and an id the server never saw)
    return { id: `v-${randomId()}`, firstVisit: false };
  }
}

function greeted(): string[] {
  try {
    const list = JSON.parse(localStorage.getItem(GREETED_KEY) ?? '[]') as unknown;
    return Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

/** Records the greeting as shown to this browser; false when storage is unavailable (then it is not shown: it could not stay "once"). */
function markGreeted(id: string): boolean {
  try {
    localStorage.setItem(GREETED_KEY, JSON.stringify([...greeted().filter((g) => g !== id), id].slice(-100)));
    return true;
  } catch {
    return false;
  }
}

/**
 * Takes back the mark of a greeting that was not shown after all: the frame
 * draws it only while a live chat is offered, so outside the hours it stays
 * armed for a later page view. (The mark goes first, before the frame
 * answers, so that two tabs of the site never both greet.)
 */
export function forgetGreeting(id: string): void {
  try {
    localStorage.setItem(GREETED_KEY, JSON.stringify(greeted().filter((g) => g !== id)));
  } catch {
    // nothing was kept either
  }
}

/**
 * Arms the greetings that apply to this page: each fires after its time on
 * the page, and `show` opens the chat with the first to fire, unless
 * `canGreet` says the visitor is already in the chat.
 */
export function armGreetings(greetings: readonly LoaderGreeting[], page: { path: string; firstVisit: boolean }, canGreet: () => boolean, show: (greeting: LoaderGreeting) => void): void {
  const done = new Set(greeted());
  let fired = false;
  for (const greeting of greetings) {
    if (done.has(greeting.id) || !pageMatches(greeting.trigger, page)) continue;
    setTimeout(() => {
      if (fired || !canGreet() || greeted().includes(greeting.id)) return;
      if (!markGreeted(greeting.id)) return;
      fired = true;
      show(greeting);
    }, 1000 * (greeting.trigger.after_seconds ?? 0));
  }
}
