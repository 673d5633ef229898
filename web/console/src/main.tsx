import { StrictMode, useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import { AppLink } from './app-link';
import { createRoot } from 'react-dom/client';
import { api, errorText, isApiError } from '../../shared/util';
import { formatWait } from '../../shared/format';
import { ADMIN_PAGES, adminPageAt } from './admin';
import { CannedPage } from './canned';
import { ChatView } from './chat';
import { LanguagePicker, startLanguage, useLocale } from './language';
import { t } from '../../shared/i18n';
import { stateName } from './states';

import { CustomersList } from './customers-list';
import { Dashboard } from './dashboard';
import { LabelChips, LabelFilter, useLabelFilter, useLabelled, useLabels } from './labels';
import { connectLive, type Live } from './live';
import { NotificationsPage, useDeskNotifications, usePreferences } from './notifications';
import { useLatestAnswer } from './latest-answer';
import { OffersPanel, PickButton, useDepartmentModes } from './offers';
import { SearchPage } from './search';
import { chatControl, ShortcutHelp, startCannedSearch, useShortcuts } from './shortcuts';
import { SlaTimer } from './sla';
import type { Agent, Conversation, Status, Waiting } from './types';
import './console.css';

// The agents' back office: login, presence, the live lists (waiting, mine,
// all for supervisors), one conversation at a time, and admin pages.

const AUTH_KEY = 'switchboard-console';
/** the shell's useLatestAnswer key: unlike a page's filter, what the shell reads never changes */
const SHELL = 'shell';

interface Auth {
  token: string;
  agent: Agent;
}

function loadAuth(): Auth | null {
  try {
    const raw = localStorage.getItem(AUTH_KEY);
    return raw ? (JSON.parse(raw) as Auth) : null;
  } catch {
    return null;
  }
}

/** The console's routes: /, /conversations/:id, /search, /dashboard, /admin/…. */
function usePath(): [string, (path: string) => void] {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const onPop = () => setPath(location.pathname);
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  const go = useCallback((next: string) => {
    if (next !== location.pathname) history.pushState(null, '', next);
    setPath(next);
  }, []);
  return [path, go];
}

function App() {
  const [auth, setAuth] = useState<Auth | null>(loadAuth);
  const logout = useCallback(async (token?: string) => {
    if (token) await api('POST', '/api/v1/auth/logout', token).catch(() => undefined);
    localStorage.removeItem(AUTH_KEY);
    setAuth(null);
  }, []);
  if (!auth) {
    return (
      <Login
        onLogin={(next) => {
          localStorage.setItem(AUTH_KEY, JSON.stringify(next));
          setAuth(next);
        }}
      />
    );
  }
  return <Shell auth={auth} onLogout={logout} />;
}

function Login({ onLogin }: { onLogin: (auth: Auth) => void }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const answer = await api<{ token: string; agent: Agent }>('POST', '/api/v1/auth/login', null, { email, password });
      onLogin({ token: answer.token, agent: answer.agent });
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="login">
      <form onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">Switchboard</h1>
        <label>
          {t('Email')}
          <input name="email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <label>
          {t('Password')}
          <input name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {t('Log in')}
        </button>
      </form>
      <LanguagePicker />
    </main>
  );
}

/** The console's one clock: waits shown on the desk and the dashboard grow between reads. */
function useTick(ms: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

type QueueEntry = { conversation: Conversation; position: number; expected_wait_seconds: number | null };

/** as many as the live list on events/queue holds (its waiting list, 1,000 by default) */
const WAITING_SHOWN = 1000;
const QUEUE_PAGE = 500;

/**
 * The head of the queue, as the live list shows it: GET /api/v1/queue pages
 * (500 at most a page), so the first pages until a short one, or enough.
 */
async function readWaiting(token: string): Promise<QueueEntry[]> {
  const waiting: QueueEntry[] = [];
  for (let offset = 0; ; offset += QUEUE_PAGE) {
    const page = await api<QueueEntry[]>('GET', `/api/v1/queue?limit=${QUEUE_PAGE}&offset=${offset}`, token);
    // the queue may move between pages: an entry seen on the last one is not listed twice
    const seen = new Set(waiting.map((w) => w.conversation.id));
    waiting.push(...page.filter((w) => !seen.has(w.conversation.id)));
    if (page.length < QUEUE_PAGE || waiting.length >= WAITING_SHOWN) return waiting;
  }
}

function Shell({ auth, onLogout }: { auth: Auth; onLogout: (token?: string) => void }) {
  const { token } = auth;
  const [me, setMe] = useState<Agent>(auth.agent);
  const [live, setLive] = useState<Live | null>(null);
  const [linkUp, setLinkUp] = useState(false);
  /** how many times the link came up: each time, what it carried while down was missed */
  const [linkUps, setLinkUps] = useState(0);
  const [waiting, setWaiting] = useState<Waiting[]>([]);
  const [mine, setMine] = useState<Conversation[]>([]);
  const [offers, setOffers] = useState<Conversation[]>([]);
  const [pickNote, setPickNote] = useState<string | null>(null);
  const [all, setAll] = useState<Conversation[]>([]);
  const [tab, setTab] = useState<'mine' | 'waiting' | 'all' | 'customers'>('mine');
  const [error, setError] = useState<string | null>(null);
  const [path, go] = usePath();
  const [version, setVersion] = useState(0);
  const now = useTick(1000);
  const overseer = me.role !== 'agent';
  const openId = /^\/conversations\/([0-9a-f-]{36})$/i.exec(path)?.[1];
  const onDashboard = path === '/dashboard' && overseer;
  const onSearch = path === '/search';
  const onCanned = path === '/canned';
  const onNotifications = path === '/notifications';
  const AdminPage = me.role === 'admin' ? adminPageAt(path)?.Page : undefined;
  // only the desk shows the lists; every view's header shows the agent's own status and load
  const atDesk = !onDashboard && !AdminPage && !onSearch && !onCanned && !onNotifications;

  const guard = useCallback(
    (e: unknown) => {
      if (isApiError(e) && e.status === 401) onLogout();
      else setError(errorText(e));
    },
    [onLogout],
  );

  // Re-reads overlap (live events, the link coming back, coming back to the desk) and may answer out
  // of order: a slow one would put back older lists. The header's re-read takes a ticket too, as it
  // also sets `me`.
  const latest = useLatestAnswer(SHELL);

  /** `announce`: bump `version`, for the views already shown to read again what they show */
  const refresh = useCallback(async (announce: boolean) => {
    const fresh = latest(SHELL);
    try {
      const [self, own, offered, queue] = await Promise.all([
        api<Agent>('GET', '/api/v1/agents/me', token),
        api<Conversation[]>('GET', `/api/v1/conversations?state=assigned&agent=${me.id}&limit=100`, token),
        api<Conversation[]>('GET', `/api/v1/conversations?state=offered&agent=${me.id}&limit=100`, token),
        readWaiting(token),
      ]);
      if (!fresh()) return;
      setMe(self);
      setMine(own);
      setOffers(offered);
      setWaiting(
        queue.map((q) => ({
          id: q.conversation.id,
          name: q.conversation.customer.name,
          department: q.conversation.department,
          queuedAt: q.conversation.queued_at,
          position: q.position,
          expected: q.expected_wait_seconds,
          sla: { dueAt: q.conversation.sla_due_at, firstResponseAt: q.conversation.first_response_at, breachedAt: q.conversation.sla_breached_at },
        })),
      );
      if (overseer) {
        const everyone = await api<Conversation[]>('GET', '/api/v1/conversations?limit=100', token);
        // asked again: a later re-read may have been applied while this one read all conversations
        if (!fresh()) return;
        setAll(everyone);
      }
      if (announce) setVersion((v) => v + 1);
    } catch (e) {
      if (fresh()) guard(e);
    }
  }, [token, me.id, overseer, guard, latest]);

  const readMe = useCallback(async () => {
    const fresh = latest(SHELL);
    try {
      const self = await api<Agent>('GET', '/api/v1/agents/me', token);
      if (fresh()) setMe(self);
    } catch (e) {
      if (fresh()) guard(e);
    }
  }, [token, guard, latest]);

  // one connection for the whole session
  useEffect(() => {
    const connection = connectLive(auth.agent, token, (up) => {
      setLinkUp(up);
      if (up) setLinkUps((n) => n + 1);
    });
    setLive(connection);
    return () => connection.close();
  }, [auth.agent, token]);

  // live lists: the queue comes whole; anything else about conversations re-reads the lists at the
  // desk. Elsewhere only the header is shown, and the agent's status and load change with their own events.
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => {
    if (!live) return;
    const own = [`${live.base}/agents/${me.id}/events`, `${live.base}/client/attendants/assign/${me.id}`];
    const off = live.on((topic, data) => {
      if (topic === `${live.base}/events/queue` && Array.isArray(data.waiting)) {
        setWaiting(
          data.waiting.map((w: any) => ({
            id: w.id,
            name: w.customer?.name ?? null,
            department: w.department,
            queuedAt: w.queued_at,
            position: w.position,
            expected: w.expected_wait_seconds,
            sla: { dueAt: w.sla_due_at, firstResponseAt: w.first_response_at, breachedAt: w.sla_breached_at },
          })),
        );
        return;
      }
      if (topic.endsWith('/messages') || topic.endsWith('/messages/viewed') || topic.endsWith('/client/control') || topic.endsWith('/typing')) return;
      if (!atDesk && !own.includes(topic)) return;
      clearTimeout(pending.current);
      pending.current = setTimeout(() => void (atDesk ? refresh(true) : readMe()), 150);
    });
    return () => {
      off();
      // a read planned for the view left behind: the next view reads what it shows itself (below)
      clearTimeout(pending.current);
    };
  }, [live, me.id, atDesk, refresh, readMe]);

  // when the link comes (back) up, and on coming back to the desk, whose lists went stale meanwhile.
  // The views that appear with the desk (the open chat, the Customers tab) read for themselves: told
  // of this re-read as well, they would read twice. Views shown while the link was down are told; off
  // the desk nothing is re-read here, so the Search page's chat reads itself again on `linkUps`.
  const wasAtDesk = useRef(false);
  useEffect(() => {
    const arriving = atDesk && !wasAtDesk.current;
    wasAtDesk.current = atDesk;
    void (atDesk ? refresh(!arriving) : readMe());
  }, [linkUp, atDesk, refresh, readMe]);

  const setStatus = async (status: Status) => {
    try {
      setMe(await api<Agent>('PATCH', '/api/v1/agents/me', token, { status }));
    } catch (e) {
      guard(e);
    }
  };

  // REST heartbeats too, for when the MQTT link is down
  useEffect(() => {
    const timer = setInterval(() => {
      if (!linkUp) void api('POST', '/api/v1/agents/me/heartbeat', token).catch(() => undefined);
    }, 10_000);
    return () => clearInterval(timer);
  }, [linkUp, token]);

  // sound and desktop notifications while the tab is hidden (notifications.tsx)
  const [prefs, savePrefs] = usePreferences(token, guard);
  useDeskNotifications(live, me, prefs, offers, go);

  // the open conversation was read: its count goes at once, before the next re-read of the lists
  const onRead = useCallback((conversationId: string) => {
    const seen = (list: Conversation[]) => list.map((c) => (c.id === conversationId && c.unread ? { ...c, unread: 0 } : c));
    setMine(seen);
    setAll(seen);
  }, []);
  const unreadOf = (c: Conversation) => (c.id === openId ? 0 : (c.unread ?? 0));

  // the desk's label filter (labels.tsx): over the lists as read, which carry each conversation's labels
  // again on each re-read of the lists and each page change: an admin may just have added one
  const { labels } = useLabels(token, guard, `${version}:${path}`);
  const [labelFilter, setLabelFilter] = useLabelFilter(labels);
  const labelled = useLabelled(token, labelFilter, overseer && tab === 'all', labels, guard);
  const lists = useMemo(() => {
    const keep = (c: Conversation) => !labelFilter || (c.labels ?? []).includes(labelFilter);
    return { mine: mine.filter(keep), all: labelled ?? all.filter(keep) };
  }, [mine, all, labelled, labelFilter]);

  // manual-pick departments show a Pick button on their waiting conversations (offers.tsx)
  const modes = useDepartmentModes(token, waiting.flatMap((w) => (w.department ? [w.department] : [])), version);
  const pickable = (w: Waiting) => w.department !== null && modes.get(w.department)?.mode === 'manual' && me.departments.includes(w.department);

  const [help, setHelp] = useState(false);
  useShortcuts((action) => {
    if (action === 'help') return setHelp(true);
    if (action === 'search') {
      if (onSearch) document.querySelector<HTMLInputElement>('input[name="q"]')?.focus();
      else go('/search');
      return;
    }
    if (action === 'next' || action === 'previous') {
      // the list on screen, as its label filter shows it: a conversation filtered out is not "next".
      // On the Waiting and Customers tabs, which list no chats to open this way, the agent's own.
      const list = tab === 'all' || tab === 'mine' ? lists[tab] : mine;
      const at = list.findIndex((c) => c.id === openId);
      const to = at === -1 ? (action === 'next' ? 0 : list.length - 1) : Math.min(Math.max(at + (action === 'next' ? 1 : -1), 0), list.length - 1);
      if (list[to] && list[to].id !== openId) go(`/conversations/${list[to].id}`);
      return;
    }
    const control = chatControl(action === 'canned' ? 'reply' : action);
    if (!control) return;
    if (action === 'resolve') {
      // two keys end a chat: one pressed by mistake mid-sentence leaves the reply unsent in a closed chat
      const reply = chatControl('reply');
      if (reply instanceof HTMLTextAreaElement && reply.value.trim() && !confirm(t('Resolve this conversation? What you are writing in the reply box has not been sent.'))) return;
      return control.click();
    }
    control.focus();
    if (action === 'canned') startCannedSearch(control);
  });

  return (
    <div className="shell">
      <header className="top">
        <AppLink to="/" go={go} className="brand">
          Switchboard
        </AppLink>
        <nav aria-label={t('Pages')}>
          <AppLink to="/search" go={go} current={path === '/search'}>
            {t('Search')}
          </AppLink>
          {overseer && (
            <AppLink to="/dashboard" go={go} current={path === '/dashboard'}>
              {t('Dashboard')}
            </AppLink>
          )}
          {me.role === 'admin' &&
            ADMIN_PAGES.map((p) => (
              <AppLink key={p.path} to={p.path} go={go} current={path === p.path}>
                {p.label}
              </AppLink>
            ))}
          <AppLink to="/canned" go={go} current={onCanned}>
            {t('Canned responses')}
          </AppLink>
          <AppLink to="/notifications" go={go} current={onNotifications}>
            {t('Notifications')}
          </AppLink>
          <a href="/docs" target="_blank" rel="noreferrer">
            {t('API docs')}
          </a>
        </nav>
        <span className={`link ${linkUp ? 'up' : 'down'}`} title={linkUp ? t('Live') : t('Reconnecting')}>
          {linkUp ? `● ${t('live')}` : `○ ${t('reconnecting')}`}
        </span>
        <label className="presence">
          <span className="visually-hidden">{t('Presence')}</span>
          <select data-testid="presence" value={me.status} onChange={(e) => void setStatus(e.target.value as Status)}>
            <option value="online">{t('Online')}</option>
            <option value="away">{t('Away')}</option>
            <option value="offline">{t('Offline')}</option>
          </select>
        </label>
        <span className="who">
          {me.name} · {me.load}/{me.effective_capacity}
        </span>
        <button type="button" className="secondary" onClick={() => setHelp(true)} aria-label={t('Keyboard shortcuts')} title={t('Keyboard shortcuts (?)')}>
          ?
        </button>
        <LanguagePicker />
        <button type="button" className="secondary" onClick={() => onLogout(token)}>
          {t('Log out')}
        </button>
      </header>
      <ShortcutHelp open={help} onClose={() => setHelp(false)} />
      {error && (
        <p className="error" role="alert">
          {error}{' '}
          <button type="button" className="link-button" onClick={() => setError(null)}>
            {t('Dismiss')}
          </button>
        </p>
      )}
      {onNotifications ? (
        <NotificationsPage prefs={prefs} save={savePrefs} onError={guard} />
      ) : onCanned ? (
        <CannedPage token={token} me={me} onError={guard} />
      ) : onDashboard ? (
        <Dashboard token={token} live={live} linkUp={linkUp} now={now} onError={guard} />
      ) : onSearch ? (
        <SearchPage me={me} token={token} live={live} version={version} linkUps={linkUps} onError={guard} />
      ) : AdminPage ? (
        <AdminPage token={token} onError={guard} go={go} />
      ) : (
        <div className={`desk ${openId ? 'has-chat' : ''}`}>
          <aside className="lists" aria-label={t('Conversations')}>
            <OffersPanel token={token} offers={offers} now={now} onAccepted={(id) => go(`/conversations/${id}`)} onChanged={() => void refresh(true)} onError={guard} />
            <div role="tablist" className="tabs">
              {(['mine', 'waiting', ...(overseer ? (['all'] as const) : []), 'customers'] as const).map((name) => (
                <button key={name} role="tab" type="button" aria-selected={tab === name} className={tab === name ? 'active' : ''} onClick={() => setTab(name)} data-testid={`tab-${name}`}>
                  {name === 'mine' ? t('Mine ({count})', { count: mine.length }) : name === 'waiting' ? t('Waiting ({count})', { count: waiting.length }) : name === 'all' ? t('All') : t('Customers')}
                </button>
              ))}
            </div>
            {tab === 'waiting' && (
              <ul className="items" data-testid="waiting">
                {waiting.length === 0 && <li className="empty">{t('Nobody is waiting.')}</li>}
                {pickNote && (
                  <li className="note" role="status">
                    {pickNote}
                  </li>
                )}
                {waiting.map((w) => (
                  <li key={w.id} data-testid={pickable(w) ? 'pick-entry' : undefined}>
                    <div className="item">
                      <strong>
                        #{w.position} {w.name ?? t('Customer')}
                      </strong>
                      <span>
                        {t('waiting {wait}', { wait: formatWait(w.queuedAt ? (now - Date.parse(w.queuedAt)) / 1000 : null) })}
                        {w.department ? ` · ${w.department}` : ''} · {t('expected {wait}', { wait: formatWait(w.expected) })}
                        <SlaTimer sla={w.sla} now={now} />
                      </span>
                      {pickable(w) && (
                        <PickButton
                          token={token}
                          waiting={w}
                          onPicked={(id) => {
                            setPickNote(null);
                            go(`/conversations/${id}`);
                          }}
                          onChanged={() => void refresh(true)}
                          onRefused={setPickNote}
                        />
                      )}
                    </div>
                  </li>
                ))}
              </ul>
            )}
            {tab === 'customers' && <CustomersList token={token} version={version} openId={openId} now={now} onOpen={go} onError={guard} />}
            {(tab === 'mine' || tab === 'all') && <LabelFilter labels={labels} value={labelFilter} onChange={setLabelFilter} />}
            {(tab === 'mine' || tab === 'all') && (
              <ul className="items" data-testid={`list-${tab}`}>
                {lists[tab].length === 0 && <li className="empty">{labelFilter ? t('No conversation labelled {label}.', { label: labelFilter }) : tab === 'mine' ? t('No conversation assigned to you.') : t('No conversations.')}</li>}
                {lists[tab].map((c) => (
                  <li key={c.id}>
                    <AppLink to={`/conversations/${c.id}`} go={go} className={`item ${openId === c.id ? 'current' : ''}`} current={openId === c.id}>
                      <strong>
                        {c.customer.name ?? c.customer.id}
                        {unreadOf(c) > 0 && (
                          <span className="unread" data-testid="unread" aria-label={t('{count} unread', { count: unreadOf(c) })}>
                            {unreadOf(c)}
                          </span>
                        )}
                      </strong>
                      <span>
                        {c.channel} · {stateName(c.state)}
                        {c.department ? ` · ${c.department}` : ''}
                        {(c.state === 'queued' || c.state === 'assigned') && (
                          <SlaTimer sla={{ dueAt: c.sla_due_at, firstResponseAt: c.first_response_at, breachedAt: c.sla_breached_at }} now={now} />
                        )}
                      </span>
                      <LabelChips names={c.labels ?? []} labels={labels} />
                    </AppLink>
                  </li>
                ))}
              </ul>
            )}
          </aside>
          {openId ? (
            <ChatView key={openId} id={openId} me={me} token={token} live={live} version={version} onError={guard} onClose={() => go('/')} onRead={onRead} />
          ) : (
            <section className="placeholder">
              <p>{me.status === 'online' ? t('Pick a conversation. New ones are assigned to you automatically.') : t('You are not online: no conversation will be assigned to you.')}</p>
            </section>
          )}
        </div>
      )}
    </div>
  );
}

/** Re-renders the whole console, state anew, in the language the agent picks. */
function Localized() {
  return <App key={useLocale()} />;
}

void startLanguage().then(() =>
  createRoot(document.getElementById('root')!).render(
    <StrictMode>
      <Localized />
    </StrictMode>,
  ),
);
