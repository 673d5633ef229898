import { useCallback, useEffect, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { api, isApiError } from '../../shared/util';
import { formatDate, formatTime } from '../../shared/format';
import { stateName } from './states';

import { opensElsewhere } from './app-link';
import { ChatView } from './chat';
import { useLabels } from './labels';
import type { Live } from './live';
import type { Agent, Conversation, Message } from './types';
import './search.css';
import { t } from '../../shared/i18n';

// The Search page (/search?q=…): a search field and filters, the hits newest
// first (GET /api/v1/search), and the conversation of the chosen hit beside
// them, scrolled to the message that matched and marked.

interface Hit {
  conversation: Conversation;
  message: Message | null;
}

interface Colleague {
  id: string;
  name: string;
}

interface Filters {
  q: string;
  state: string;
  agent: string;
  department: string;
  /** a label name (labels.tsx) */
  label: string;
  /** yyyy-mm-dd, the browser's day */
  from: string;
  to: string;
}

const PAGE = 20;
const EMPTY: Filters = { q: '', state: '', agent: '', department: '', label: '', from: '', to: '' };

/** The filters in the page's address, so a search can be reloaded, bookmarked and gone back to. */
function filtersFromAddress(): Filters {
  const params = new URLSearchParams(location.search);
  return Object.fromEntries(Object.keys(EMPTY).map((key) => [key, params.get(key) ?? ''])) as unknown as Filters;
}

/** A day in the browser's time zone, as the instant it starts. */
const startOfDay = (day: string, plusDays = 0) => {
  const [y, m, d] = day.split('-').map(Number);
  return new Date(y!, m! - 1, d! + plusDays).toISOString();
};

/** `pin`: the end of the later pages of a search (pinOf), before the "to" day's end. */
function queryOf(f: Filters, offset: number, pin?: string): string {
  const params = new URLSearchParams({ q: f.q.trim(), limit: String(PAGE), offset: String(offset) });
  if (f.state) params.set('state', f.state);
  if (f.agent) params.set('agent', f.agent);
  if (f.department.trim()) params.set('department', f.department.trim());
  if (f.label) params.set('label', f.label);
  if (f.from) params.set('from', startOfDay(f.from));
  // the "to" day is included: the range ends when the next day starts
  const to = f.to ? startOfDay(f.to, 1) : undefined;
  // both are toISOString()'s, so the earlier is the smaller string
  const end = pin !== undefined && (to === undefined || pin < to) ? pin : to;
  if (end) params.set('to', end);
  return params.toString();
}

/**
 * Where the later pages of a search end: a millisecond after its first hit,
 * the newest (times in the API are to the millisecond). The server pages
 * with an offset over the hits as they are at each request, so a hit that
 * arrived after the first page would push the next one down and repeat its
 * last hit; with `to` there, it stays off them (docs/api.md, search). A
 * new search shows it.
 */
function pinOf(first: Hit | undefined): string | undefined {
  if (first === undefined) return undefined;
  return new Date(Date.parse(first.message?.created_at ?? first.conversation.created_at) + 1).toISOString();
}

const keyOf = (h: Hit) => `${h.conversation.id}:${h.message?.id ?? 'customer'}`;

/** The words of the question, without web-search syntax, to mark in the snippets. */
function wordsOf(q: string): string[] {
  return q
    .toLowerCase()
    .split(/[\s"]+/)
    .filter((w) => w && w !== 'or' && !w.startsWith('-'))
    .map((w) => w.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, ''))
    .filter(Boolean);
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** About 140 characters of `text` around the first matching word, the words marked. */
function Snippet({ text, words }: { text: string; words: string[] }) {
  if (words.length === 0) return <>{text.slice(0, 140)}</>;
  const pattern = new RegExp(`(${words.map(escapeRegExp).join('|')})`, 'giu');
  const first = text.search(pattern);
  const start = Math.max(0, first - 50);
  const part = text.slice(start, start + 140);
  const pieces: ReactNode[] = part.split(pattern).map((piece, i) => (i % 2 === 1 ? <mark key={i}>{piece}</mark> : piece));
  return (
    <>
      {start > 0 && '…'}
      {pieces}
      {start + 140 < text.length && '…'}
    </>
  );
}

interface Props {
  me: Agent;
  token: string;
  live: Live | null;
  version: number;
  /** bumps each time the realtime link comes (back) up (main.tsx) */
  linkUps: number;
  onError: (e: unknown) => void;
}

export function SearchPage({ me, token, live, version, linkUps, onError }: Props) {
  const [filters, setFilters] = useState<Filters>(filtersFromAddress);
  /** the question shown, where its later pages end, and the offset of the next one */
  const [asked, setAsked] = useState<{ filters: Filters; pin: string | undefined; next: number } | null>(null);
  const [hits, setHits] = useState<Hit[] | null>(null);
  const [more, setMore] = useState(false);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<{ field?: string; message: string } | null>(null);
  const [chosen, setChosen] = useState<{ conversation: string; message: number | undefined } | null>(null);
  const [agents, setAgents] = useState<Colleague[]>([]);
  const { labels } = useLabels(token, onError);
  // the answer to the latest question only: an older, slower one is dropped
  const ticket = useRef(0);

  useEffect(() => {
    void api<Colleague[]>('GET', '/api/v1/agents/directory', token).then(setAgents, () => undefined);
  }, [token]);

  const run = useCallback(
    async (f: Filters, offset: number, pinned?: string) => {
      const mine = ++ticket.current;
      setBusy(true);
      try {
        const answer = await api<{ results: Hit[] }>('GET', `/api/v1/search?${queryOf(f, offset, pinned)}`, token);
        if (mine !== ticket.current) return;
        // a hit shown already (its conversation came into the filters between two pages, say) is not shown twice
        setHits((current) => {
          if (offset === 0) return answer.results;
          const shown = new Set((current ?? []).map(keyOf));
          return [...(current ?? []), ...answer.results.filter((h) => !shown.has(keyOf(h)))];
        });
        setMore(answer.results.length === PAGE && offset + PAGE <= 1000);
        setAsked({ filters: f, pin: offset === 0 ? pinOf(answer.results[0]) : pinned, next: offset + answer.results.length });
        setProblem(null);
      } catch (e) {
        if (mine !== ticket.current) return;
        if (isApiError(e) && e.status === 400) setProblem({ ...(e.field ? { field: e.field } : {}), message: e.message });
        else onError(e);
      } finally {
        if (mine === ticket.current) setBusy(false);
      }
    },
    [token, onError],
  );

  // a search in the address (a reload, a bookmark) runs at once
  useEffect(() => {
    const initial = filtersFromAddress();
    if (initial.q.trim()) void run(initial, 0);
  }, [run]);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!filters.q.trim()) {
      setProblem({ field: 'q', message: t('Type something to search for.') });
      return;
    }
    const params = new URLSearchParams(Object.entries(filters).filter(([, v]) => v !== ''));
    history.replaceState(null, '', `/search?${params.toString()}`);
    setChosen(null);
    void run(filters, 0);
  };
  const set = (key: keyof Filters) => (e: { target: { value: string } }) => setFilters((f) => ({ ...f, [key]: e.target.value }));
  const words = wordsOf(asked?.filters.q ?? '');
  const invalid = (field: string) => (problem?.field === field ? { 'aria-invalid': true as const, 'aria-describedby': 'search-problem' } : {});

  return (
    <div className={`desk search ${chosen ? 'has-chat' : ''}`}>
      <aside className="lists" aria-label={t('Search')}>
        <form className="search-form" role="search" onSubmit={submit}>
          <label className="search-field">
            <span className="visually-hidden">{t('Search messages and customers')}</span>
            <input type="search" name="q" placeholder={t('Search messages, names, emails, ids…')} maxLength={500} value={filters.q} onChange={set('q')} autoFocus {...invalid('q')} />
          </label>
          <details className="search-filters" open={Boolean(filters.state || filters.agent || filters.department || filters.label || filters.from || filters.to)}>
            <summary>{t('Filters')}</summary>
            <label>
              {t('State')}
              <select value={filters.state} onChange={set('state')} {...invalid('state')}>
                <option value="">{t('Any')}</option>
                <option value="queued">{t('Queued')}</option>
                <option value="assigned">{t('Assigned')}</option>
                <option value="resolved">{t('Resolved')}</option>
                <option value="abandoned">{t('Abandoned')}</option>
              </select>
            </label>
            <label>
              {t('Agent')}
              <select value={filters.agent} onChange={set('agent')} {...invalid('agent')}>
                <option value="">{t('Anyone')}</option>
                {agents.map((a) => (
                  <option key={a.id} value={a.id}>
                    {a.name}
                  </option>
                ))}
              </select>
            </label>
            <label>
              {t('Department')}
              <input value={filters.department} maxLength={100} onChange={set('department')} {...invalid('department')} />
            </label>
            <label>
              {t('Label')}
              <select value={filters.label} onChange={set('label')} {...invalid('label')}>
                <option value="">{t('Any')}</option>
                {labels.map((l) => (
                  <option key={l.id} value={l.name}>
                    {l.name}
                  </option>
                ))}
              </select>
            </label>
            <label>
              {t('From')}
              <input type="date" value={filters.from} onChange={set('from')} {...invalid('from')} />
            </label>
            <label>
              {t('To')}
              <input type="date" value={filters.to} onChange={set('to')} {...invalid('to')} />
            </label>
          </details>
          <button type="submit" disabled={busy}>
            {t('Search')}
          </button>
          {problem && (
            <p className="field-error" id="search-problem" role="alert">
              {problem.message}
            </p>
          )}
          {me.role === 'agent' && <p className="hint">{t('Only conversations you hold or held.')}</p>}
        </form>
        {hits && (
          <ul className="items" data-testid="search-results" aria-label={t('Results')}>
            {hits.length === 0 && <li className="empty">{t('Nothing found.')}</li>}
            {hits.map((h) => {
              const key = keyOf(h);
              const current = chosen?.conversation === h.conversation.id && chosen.message === h.message?.id;
              return (
                <li key={key}>
                  <a
                    href={`/conversations/${h.conversation.id}`}
                    className={`item ${current ? 'current' : ''}`}
                    aria-current={current ? 'true' : undefined}
                    data-testid="search-result"
                    onClick={(e) => {
                      if (opensElsewhere(e)) return;
                      e.preventDefault();
                      setChosen({ conversation: h.conversation.id, message: h.message?.id });
                    }}
                  >
                    <strong>{h.conversation.customer.name ?? h.conversation.customer.email ?? h.conversation.customer.id}</strong>
                    {h.message ? (
                      <span className="snippet">
                        <Snippet text={h.message.text ?? ''} words={words} />
                      </span>
                    ) : (
                      <span className="snippet">{t('customer {who}', { who: h.conversation.customer.email ?? h.conversation.customer.id })}</span>
                    )}
                    <span>
                      {stateName(h.conversation.state)}
                      {h.conversation.department ? ` · ${h.conversation.department}` : ''} · {formatDate(h.message?.created_at ?? h.conversation.created_at)}{' '}
                      {formatTime(h.message?.created_at ?? h.conversation.created_at)}
                    </span>
                  </a>
                </li>
              );
            })}
            {more && (
              <li className="empty">
                <button type="button" className="secondary" disabled={busy} onClick={() => asked && void run(asked.filters, asked.next, asked.pin)}>
                  {t('More results')}
                </button>
              </li>
            )}
          </ul>
        )}
      </aside>
      {chosen ? (
        <ChatView
          key={`${chosen.conversation}:${chosen.message ?? ''}`}
          id={chosen.conversation}
          highlight={chosen.message}
          me={me}
          token={token}
          live={live}
          version={version}
          linkUps={linkUps}
          onError={onError}
          onClose={() => setChosen(null)}
        />
      ) : (
        <section className="placeholder">
          <p>{hits && hits.length > 0 ? t('Pick a result to open its conversation at the message.') : t('Search the text of messages and customers’ names, emails and ids.')}
</p>
        </section>
      )}
    </div>
  );
}
