import mqtt, { type MqttClient } from 'mqtt';
import { StrictMode, useCallback, useEffect, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { createRoot } from 'react-dom/client';
import { api, errorText, isApiError, mqttUrl, parseJson, RECEIPT_MAX } from '../../shared/util';
import { formatTime, formatWait } from '../../shared/format';
import { activateLocale, pickLocale, t } from '../../shared/i18n';
import english from '../../i18n/widget/en.json';
import { Avatar, Greeting, useLook } from './look';
import { AttachmentView, useLinkRefresh, type ShownAttachment } from '../../shared/attachments';
import { SendFileButton } from './attachments';
import { RatingPrompt } from './rating';
import { PrechatForm, usePrechatForm, type Answers, type FieldProblem } from './prechat';
import { OfflineForm, useAvailability, type Availability } from './offline';
import { TranscriptOffer } from './transcript';
import { useTypingIndicator, useTypingSender } from '../../shared/typing';
import { tellUnseen, useShownByLoader } from './shown';
import { CLOSE } from '../../shared/frame-messages';
import './widget.css';

// The customer's side of a chat: name and email, then a session (POST
// /session) followed over MQTT on its session topic. The session lives in
// sessionStorage, so a reload resumes it; after a reconnect, what was missed
// is read back over HTTP. Only messages Switchboard stored (with an id) are
// shown, as text; files as pictures or download links (shared/attachments).
//
// Who the customer is: the id (and its hash) the host page signed, passed by
// the loader in this frame's fragment (data-customer-id, data-customer-hash),
// which makes a verified chat; otherwise a random visitor id kept in
// localStorage, so the same browser is the same (unverified) visitor across
// reloads and visits.

interface Session {
  sessionId: string;
  token: string;
  sessionTopic: string;
  keepAliveTTL: number;
  customerId: string;
  name: string;
  /** the address this chat started with (the form's or the pre-chat answer's): the transcript offer's */
  email?: string;
}

interface Msg {
  id: number;
  sender: string;
  text: string | null;
  attachments: ShownAttachment[];
  at: number;
  readAt: string | null;
}

type Phase = 'form' | 'connecting' | 'waiting' | 'chatting' | 'closed' | 'expired' | 'unavailable';

const SESSION_KEY = 'switchboard-session';
/** messages read back a page at a time: a shorter page is the last */
const PAGE = 100;
/** a session request refused for its budget is sent again after this, ms: by then the budget (src/realtime/message-rate.ts, one a second after its burst) has room again */
const SESSION_REQUEST_RETRY_MS = 10_000;
/** a read of the stored messages that has not answered in this long is given up, and tried again after READ_RETRY_MS */
const READ_TIMEOUT_MS = 15_000;
/** the first retry of a failed read, doubled at each failure up to READ_RETRY_MAX_MS (± 25 %) */
const READ_RETRY_MS = 2_000;
const READ_RETRY_MAX_MS = 30_000;
/** the longest wait a Retry-After (a 429 or 503, from the server or a proxy before it) may set; a hint heard later still waits for it */
const READ_RETRY_AFTER_MAX_MS = 300_000;
const PROFILE_KEY = 'switchboard-profile';
const VISITOR_KEY = 'switchboard-visitor-id';
const params = new URLSearchParams(location.search);
const title = () => params.get('title') || t('Chat with us');
const department = params.get('department');
const embedded = new URLSearchParams(location.hash.slice(1));
/** the host site's customer, when the embed names one */
const signedId = embedded.get('customer_id') || null;
const signedHash = signedId ? embedded.get('customer_hash') || null : null;

/** One page of the chat's stored messages after message `after`, oldest first. */
async function readPage(session: Session, after: number): Promise<Msg[]> {
  const rows = await api<{ id: number; sender: string; text: string | null; attachments: Msg['attachments']; created_at: string; read_at: string | null }[]>(
    'GET',
    `/api/v1/conversations/${session.sessionId}/messages?after=${after}&limit=${PAGE}`,
    session.token,
    undefined,
    typeof AbortSignal.timeout === 'function' ? AbortSignal.timeout(READ_TIMEOUT_MS) : undefined,
  );
  return rows.map((r) => ({ id: r.id, sender: r.sender, text: r.text, attachments: r.attachments, at: Date.parse(r.created_at), readAt: r.read_at }));
}

function load<T>(key: string): T | null {
  try {
    const raw = sessionStorage.getItem(key);
    return raw ? (JSON.parse(raw) as T) : null;
  } catch {
    return null;
  }
}
function save(key: string, value: unknown) {
  try {
    if (value === null) sessionStorage.removeItem(key);
    else sessionStorage.setItem(key, JSON.stringify(value));
  } catch {
    // private mode: the chat still works, a reload just starts over
  }
}

/**
 * A message's own id, so that the copy mqtt.js sends again after a reconnect (its PUBACK was lost)
 * is stored once: it resends the very packet, so one id made here is in every copy. Only outside a
 * secure context is there no crypto.randomUUID, and the server refuses an id that is not a UUID.
 */
const messageId = (): { clientMessageId?: string } => (typeof crypto.randomUUID === 'function' ? { clientMessageId: crypto.randomUUID() } : {});

const randomId = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`);

let pageVisitorId: string | undefined;
/** This browser's anonymous visitor id: made once, kept in localStorage across reloads and visits. */
function visitorId(): string {
  try {
    const kept = localStorage.getItem(VISITOR_KEY);
    if (kept) return kept;
    const id = `web-${randomId()}`;
    localStorage.setItem(VISITOR_KEY, id);
    return id;
  } catch {
    // storage disabled: an id for this page only (the same one each time it is asked)
    pageVisitorId ??= `web-${randomId()}`;
    return pageVisitorId;
  }
}

/** The customer this frame chats as: the host site's (with its hash), or the anonymous visitor. */
const customerIdentity = (): { id: string; hash?: string } => (signedId ? { id: signedId, ...(signedHash ? { hash: signedHash } : {}) } : { id: visitorId() });

/**
 * A stored session of another customer is not resumed: the host site's user
 * changed, or signed out (a page without a signed id chats as this browser's
 * anonymous visitor, never as the verified customer who was signed in). It
 * stays stored: back on a page signed for that customer, their chat goes on
 * (while its keep-alive lasts); a chat started meanwhile replaces it.
 */
function storedSession(): Session | null {
  const stored = load<Session>(SESSION_KEY);
  return stored && stored.customerId === customerIdentity().id ? stored : null;
}

/** The name and email last given in this browser, offered again only to the same customer (not after the host site's user changed or signed out). */
function storedProfile(): { name?: string; email?: string } | null {
  const stored = load<{ name?: string; email?: string; customerId?: string }>(PROFILE_KEY);
  return stored && stored.customerId === customerIdentity().id ? stored : null;
}

function Widget() {
  const [session, setSession] = useState<Session | null>(storedSession);
  const [phase, setPhase] = useState<Phase>(() => (session ? 'connecting' : 'form'));
  const [queue, setQueue] = useState<{ position: number | null; wait: number | null } | null>(null);
  const [agent, setAgent] = useState<string | null>(null);
  const [messages, setMessages] = useState<Msg[]>([]);
  const [linkUp, setLinkUp] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  // the resolved chat the customer may rate (kept only in memory: a reload does not ask again)
  const [rateFor, setRateFor] = useState<{ sessionId: string; token: string } | null>(null);
  const prechatFields = usePrechatForm();
  // asked again at each new chat: the hours may have ended meanwhile
  const [chats, setChats] = useState(0);
  const availability = useAvailability(department, chats);
  // the department chosen in the pre-chat form, when it is closed: its offline form instead of a chat
  const [closedChoice, setClosedChoice] = useState<{ department: string; availability: Availability; profile: { name: string; email: string } } | null>(null);
  const liveOffered = availability === 'unknown' || (availability !== null && availability.open);
  // the greeting only above a live chat's start form: outside the hours it waits for a later visit;
  // a chat going on (resumed in a greeting's hidden frame) is what the loader is to show instead.
  // 'connecting' is not yet a chat going on: a session kept in storage may have been resolved or
  // have expired while the visitor was away, and the loader must not pop the window open onto
  // that ended screen; only the server's word (queued or with an agent) makes it 'chat'.
  const chatGoing = phase === 'waiting' || phase === 'chatting';
  const ended = phase === 'closed' || phase === 'expired' || phase === 'unavailable';
  const look = useLook(
    chatGoing ? 'chat' : ended ? 'ended' : phase !== 'form' || prechatFields === null || availability === null ? 'other' : liveOffered ? 'form' : 'closed',
  );
  const [prechatProblem, setPrechatProblem] = useState<FieldProblem>(null);
  const clientRef = useRef<MqttClient | null>(null);
  const lastId = useRef(0);
  const receipted = useRef(new Set<number>());
  /** the agent's messages the customer has had on screen (the tab shown, the chat not minimised) */
  const seen = useRef(new Set<number>());
  // the customer's lines the agent has read (messages/viewed), by id: shown or still being read
  const readMarks = useRef(new Map<number, string>());
  const logRef = useRef<HTMLDivElement | null>(null);
  // the agent's typing, and the customer's own, throttled (shared/typing.ts)
  const agentTyping = useTypingIndicator('agent');
  const { heard: heardTyping, clear: clearTyping } = agentTyping;
  const [typingTopic, setTypingTopic] = useState<string | null>(null);
  const typing = useTypingSender(
    // `sender` for an external broker, which relays the payload as sent (the embedded one rebuilds it)
    typingTopic ? (on) => void clientRef.current?.publish(typingTopic, JSON.stringify({ typing: on, sender: 'customer' }), { qos: 0 }) : undefined,
  );

  const addMessages = useCallback((incoming: Msg[]) => {
    if (incoming.length === 0) return;
    for (const m of incoming) lastId.current = Math.max(lastId.current, m.id);
    setMessages((current) => {
      const byId = new Map(current.map((m) => [m.id, m]));
      for (const m of incoming) {
        const known = byId.get(m.id);
        // read is for good: a page read before the receipt does not take it back,
        // nor one read before the line came (a mark may come first)
        byId.set(m.id, { ...known, ...m, readAt: m.readAt ?? known?.readAt ?? (m.sender === 'customer' ? readMarks.current.get(m.id) : undefined) ?? null });
      }
      return [...byId.values()].sort((a, b) => a.id - b.id);
    });
  }, []);

  // Files' links expire while the chat stays open (shared/attachments.tsx):
  // the whole chat is read again for links signed now, and only the links
  // taken from it (the live feed adds what is newer). Not into another chat
  // started meanwhile.
  const shownSession = useRef(session);
  shownSession.current = session;
  const refreshLinks = useLinkRefresh(async () => {
    const from = session;
    if (!from) return [];
    const read: Msg[] = [];
    for (let after = 0; ; ) {
      const rows = await readPage(from, after);
      read.push(...rows);
      if (rows.length < PAGE) break;
      after = rows[rows.length - 1]!.id;
    }
    if (shownSession.current !== from) return [];
    const links = new Map(read.map((m) => [m.id, m.attachments]));
    setMessages((current) => current.map((m) => (links.has(m.id) ? { ...m, attachments: links.get(m.id)! } : m)));
    return read;
  });

  const finish = useCallback((next: Phase) => {
    setPhase(next);
    save(SESSION_KEY, null);
    clientRef.current?.end(true);
    clientRef.current = null;
  }, []);

  useEffect(() => {
    if (!session) return;
    const own = session.sessionTopic;
    const base = own.slice(0, own.lastIndexOf('/conversations/'));
    const client = mqtt.connect(mqttUrl(), {
      username: session.sessionId,
      password: session.token,
      // starts with the session's id: an external broker's authenticator refuses any other
      clientId: `${session.sessionId}-widget-${Math.random().toString(16).slice(2, 10)}`,
      protocolVersion: 4,
      reconnectPeriod: 2_000,
      connectTimeout: 10_000,
      clean: true,
    });
    clientRef.current = client;
    let stopped = false;

    // A reload starts from the chat's first message and a long outage can
    // miss more than a page: read on while pages come back full, each page
    // from the last id of the one before.
    const readPages = async () => {
      let after = lastId.current;
      for (;;) {
        const rows = await readPage(session, after);
        if (stopped) return;
        addMessages(rows);
        if (rows.length < PAGE) return;
        after = rows[rows.length - 1]!.id;
      }
    };
    // One read at a time: a message heard while one runs asks for one more
    // after it, and whoever asks gets the promise of the whole, settled once
    // the messages are read (a reconnect asks where the chat stands only
    // then). A read that fails (the network, a server restarting, a stalled
    // answer) is tried again, 2 s later and then less and less often: what
    // was heard must not stay off screen, nor every widget hit a server
    // coming back at once.
    let running: Promise<void> | null = null;
    let again = false;
    let readAgain: ReturnType<typeof setTimeout> | undefined;
    const catchUp = (): Promise<void> => {
      if (running) {
        again = true;
        return running;
      }
      running = (async () => {
        try {
          for (let failures = 0; ; failures++) {
            try {
              do {
                again = false;
                await readPages();
              } while (again && !stopped);
              return;
            } catch (error) {
              if (stopped) return;
              if (isApiError(error) && error.status === 401) return finish('expired');
              if (isApiError(error) && error.status < 500 && error.status !== 429) return;
              const backoff = Math.min(READ_RETRY_MAX_MS, READ_RETRY_MS * 2 ** failures) * (0.75 + Math.random() / 2);
              // a server that says how long to wait is asked no sooner (a widget on every page of a busy shop must not hammer it)
              const told = isApiError(error) && error.retryAfterSeconds !== undefined ? Math.min(READ_RETRY_AFTER_MAX_MS, error.retryAfterSeconds * 1000) : 0;
              const wait = Math.max(backoff, told);
              await new Promise<void>((resolve) => (readAgain = setTimeout(resolve, wait)));
              if (stopped) return;
            }
          }
        } finally {
          running = null;
        }
      })();
      return running;
    };

    const requestTopic = `${base}/server/sessions/request`;
    const askWhereWeStand = () =>
      client.publish(requestTopic, JSON.stringify({ sessionId: session.sessionId, sessionTopic: own, customerId: session.customerId, requestID: randomId() }), { qos: 1 });
    let askAgain: ReturnType<typeof setTimeout> | undefined;

    client.on('connect', () => {
      setLinkUp(true);
      setTypingTopic(`${own}/typing`);
      clearTimeout(askAgain);
      client.subscribe(`${own}/#`, { qos: 1 }, (error) => {
        if (error || stopped) return;
        void catchUp().then(() => {
          if (!stopped) askWhereWeStand();
        });
      });
    });
    client.on('offline', () => (setLinkUp(false), setTypingTopic(null)));
    client.on('close', () => (setLinkUp(false), setTypingTopic(null)));
    client.on('error', (error: Error & { code?: number }) => {
      // 4 bad credentials, 5 not authorized: the session is over
      if (error.code === 4 || error.code === 5) finish('expired');
    });
    client.on('message', (topic: string, payload: Uint8Array) => {
      const data = parseJson(payload);
      if (!data || typeof data !== 'object') return;
      if (topic === `${own}/client/control`) {
        const info = data.sessionInfo ?? {};
        switch (data.instruction) {
          case 'session/update':
            setPhase('waiting');
            setQueue({ position: info.queuePosition ?? null, wait: info.expectedWaitSeconds ?? null });
            break;
          case 'session/ready':
            setPhase('chatting');
            setAgent(typeof info.agent?.name === 'string' ? info.agent.name : t('An agent'));
            break;
          case 'session/closed':
            if (info.state === 'resolved') setRateFor({ sessionId: session.sessionId, token: session.token });
            finish('closed');
            break;
          case 'session/aborted/expired':
            finish('expired');
            break;
          case 'session/aborted/unavailableAttendants':
            finish('unavailable');
            break;
          case 'message/rejected':
            // The customer's other publishes are refused here too (docs/realtime.md), named by topic:
            // only a refused message is one the customer wrote and must write again.
            if (data.topic === `${own}/messages`) {
              setNotice(t('Your message was not sent: {reason}', { reason: data.error?.message ?? t('refused') }));
            } else if (data.topic === requestTopic && data.error?.code === 'SB_RATE_LIMITED') {
              // Unanswered, a new chat stays at "Connecting…" and a resumed one misses what changed
              // while it was away (an agent taking it, its end): ask again once the budget has
              // regained one request (one every 10 s), unless a reconnect asks first.
              clearTimeout(askAgain);
              askAgain = setTimeout(() => {
                if (!stopped && client.connected) askWhereWeStand();
              }, SESSION_REQUEST_RETRY_MS);
            }
            // A refused read receipt (…/messages/viewed) or typing signal is nothing the customer
            // wrote or can mend: the messages are on screen all the same. Its budget is spent only
            // by a flood of the other side's messages, whose read marks (a courtesy to the agent)
            // are then left for the next load of the page to send rather than repeated into it.
            break;
        }
      } else if (topic === `${own}/messages`) {
        const m = data.message;
        if (m && typeof m.id === 'number') {
          // the agent's message is here: they are no longer typing it
          if (m.sender !== 'customer') clearTyping();
          // A hint, not the message: what is shown is read from the server.
          // An external broker (EMQX) relays each publish on this topic as
          // it was sent, so a payload shown as it came would let a publisher
          // choose its id, sender and text, or break the page with a
          // malformed attachment list (as the console, web/console/src/chat.tsx).
          void catchUp();
        }
      } else if (topic === `${own}/messages/viewed` && Array.isArray(data.readMessages)) {
        // Only the customer's own messages carry a read mark here (the agent read them).
        const ids = new Set<unknown>(data.readMessages.map((m: unknown) => (typeof m === 'object' && m !== null ? (m as { id?: unknown }).id : m)));
        const readAt = typeof data.readAt === 'string' && !Number.isNaN(Date.parse(data.readAt)) ? data.readAt : new Date().toISOString();
        for (const id of ids) if (typeof id === 'number' && !readMarks.current.has(id)) readMarks.current.set(id, readAt);
        setMessages((current) => current.map((m) => (m.sender === 'customer' && ids.has(m.id) && !m.readAt ? { ...m, readAt } : m)));
      } else if (topic === `${own}/typing`) {
        heardTyping(data);
      }
    });

    const keepAlive = setInterval(() => {
      if (client.connected) client.publish(`${base}/server/sessions/online`, JSON.stringify({ sessionId: session.sessionId }), { qos: 0 });
    }, Math.max(1_000, Math.floor(session.keepAliveTTL / 2)));

    return () => {
      stopped = true;
      clearInterval(keepAlive);
      clearTimeout(askAgain);
      clearTimeout(readAgain);
      clearTyping();
      setTypingTopic(null);
      client.end(true);
    };
  }, [session, addMessages, finish, heardTyping, clearTyping]);

  // Read receipts for what the agent wrote, once it is on screen. A hidden
  // tab, or a chat the customer minimised (shown.ts), has seen nothing yet:
  // what came meanwhile is counted on the launcher, and marked when shown.
  const [visible, setVisible] = useState(() => document.visibilityState === 'visible');
  const shownByLoader = useShownByLoader();
  useEffect(() => {
    const onChange = () => setVisible(document.visibilityState === 'visible');
    document.addEventListener('visibilitychange', onChange);
    return () => document.removeEventListener('visibilitychange', onChange);
  }, []);
  useEffect(() => {
    // What was on screen was seen, whether or not a receipt can go now (the
    // link down, the chat over): it is not counted on the launcher again.
    if (visible && shownByLoader) for (const m of messages) if (m.sender !== 'customer') seen.current.add(m.id);
    const theirs = messages.filter((m) => m.sender !== 'customer' && !m.readAt);
    tellUnseen(session ? theirs.filter((m) => !seen.current.has(m.id)).length : 0);
    const client = clientRef.current;
    if (!session || !client?.connected) return;
    const unread = theirs.filter((m) => seen.current.has(m.id) && !receipted.current.has(m.id)).map((m) => m.id);
    if (unread.length === 0) return;
    for (const id of unread) receipted.current.add(id);
    // a longer receipt would be refused whole, and these ids are never offered again
    for (let i = 0; i < unread.length; i += RECEIPT_MAX) {
      client.publish(`${session.sessionTopic}/messages/viewed`, JSON.stringify({ readMessages: unread.slice(i, i + RECEIPT_MAX) }), { qos: 1 });
    }
  }, [messages, session, linkUp, visible, shownByLoader]);

  // The end when a new message comes, not when files' links are renewed: the
  // customer may be scrolled up to the picture that set it off.
  const scrolledTo = useRef<number | null>(null);
  useEffect(() => {
    const last = messages[messages.length - 1]?.id ?? 0;
    if (last === scrolledTo.current) return;
    scrolledTo.current = last;
    logRef.current?.scrollTo({ top: logRef.current.scrollHeight });
  }, [messages]);

  /** Starts the chat with the name and email form's answers, or (prechat) the pre-chat form's. */
  const start = async (name: string, email: string, prechat?: Answers) => {
    setNotice(null);
    setPrechatProblem(null);
    const identity = customerIdentity();
    const customerId = identity.id;
    if (!prechat) save(PROFILE_KEY, { name, email, customerId });
    setPhase('connecting');
    // The form's department replaces the page's (src/prechat/answers.ts): the
    // page's availability says nothing about it, so it is asked here; a
    // closed one gets its offline form rather than a chat waiting in a
    // closed queue. When the question fails, the chat starts (as at opening).
    const chosen = typeof prechat?.department === 'string' && prechat.department !== '' ? prechat.department : null;
    if (chosen) {
      const there = await api<Availability>('GET', `/api/v1/availability?department=${encodeURIComponent(chosen)}`).catch(() => null);
      if (there && !there.open) {
        setClosedChoice({ department: chosen, availability: there, profile: { name, email } });
        setPhase('form');
        return;
      }
    }
    try {
      const answer = await api<Omit<Session, 'customerId' | 'name'>>('POST', '/session', null, {
        customer: prechat ? identity : { ...identity, name, email },
        ...(department ? { department } : {}),
        ...(prechat ? { prechat } : {}),
      });
      const next = { ...answer, customerId, name, email: email.trim() };
      save(SESSION_KEY, next);
      lastId.current = 0;
      receipted.current.clear();
      seen.current.clear();
      readMarks.current.clear();
      setMessages([]);
      setSession(next);
      look.chatStarted();
    } catch (error) {
      setPhase('form');
      // an answer the server refused is shown at its field, not above the form
      const key = prechat && isApiError(error) && error.field?.startsWith('prechat.') ? error.field.slice('prechat.'.length) : null;
      if (key && prechatFields?.some((f) => f.key === key)) setPrechatProblem({ key, message: errorText(error) });
      else setNotice(key ? t('Could not start the chat: {reason} (the form has changed: reload this page)', { reason: errorText(error) }) : t('Could not start the chat: {reason}', { reason: errorText(error) }));
    }
  };

  const send = (text: string): boolean => {
    const client = clientRef.current;
    if (!session || !client) return false;
    typing.stop();
    client.publish(`${session.sessionTopic}/messages`, JSON.stringify({ message: { content: text, ...messageId() } }), { qos: 1 });
    return true;
  };

  /** An uploaded file (attachments.tsx) goes out as a message that refers to it. */
  const sendFile = (id: string): boolean => {
    const client = clientRef.current;
    if (!session || !client?.connected) return false;
    client.publish(`${session.sessionTopic}/messages`, JSON.stringify({ message: { attachments: [{ id }], ...messageId() } }), { qos: 1 });
    return true;
  };

  const endChat = async () => {
    if (!session) return;
    try {
      await api('DELETE', '/session', session.token);
      // left after an agent answered: the chat counts as resolved, and may be rated
      if (phase === 'chatting') setRateFor({ sessionId: session.sessionId, token: session.token });
    } catch {
      // already over: fine
    }
    finish('closed');
  };

  const restart = () => {
    setRateFor(null);
    setSession(null);
    setMessages([]);
    setQueue(null);
    setAgent(null);
    setNotice(null);
    setClosedChoice(null);
    setChats((n) => n + 1);
    setPhase('form');
  };

  return (
    <main className="widget">
      <header>
        <h1>{title()}</h1>
        <button type="button" className="icon" aria-label={t('Minimise the chat')} onClick={() => parent.postMessage(CLOSE, '*')}>
          –
        </button>
      </header>
      <div className="status" role="status" aria-live="polite" data-testid="status">
        {phase === 'connecting' && t('Connecting…')}
        {phase === 'waiting' && (
          <span data-testid="queue">
            {t('You are number {position} in line.', { position: queue?.position ?? '…' })} {t('Expected wait: {wait}.', { wait: formatWait(queue?.wait) })}
          </span>
        )}
        {phase === 'chatting' && (
          <span data-testid="agent">
            {look.showAvatars && agent && <Avatar name={agent} />}
            {t('You are chatting with {agent}.', { agent })}
          </span>
        )}
        {phase === 'closed' && <span data-testid="ended">{t('The chat has ended. Thank you!')}</span>}
        {phase === 'expired' && <span data-testid="ended">{t('The chat timed out.')}</span>}
        {phase === 'unavailable' && <span data-testid="ended">{t('Sorry, nobody is available right now. Please try again later.')}</span>}
        {session && !ended && phase !== 'connecting' && !linkUp && <span className="offline"> {t('Reconnecting…')}</span>}
      </div>
      {notice && (
        <p className="notice" role="alert">
          {notice}
        </p>
      )}
      {look.greeting && <Greeting message={look.greeting} />}
      {phase === 'form' ? (
        prechatFields === null || availability === null ? (
          <p className="start">{t('Loading…')}</p>
        ) : availability !== 'unknown' && !availability.open ? (
          <OfflineForm availability={availability} department={department} profile={storedProfile()} />
        ) : closedChoice ? (
          <>
            <OfflineForm key={closedChoice.department} availability={closedChoice.availability} department={closedChoice.department} profile={closedChoice.profile} />
            <div className="actions">
              <button type="button" className="secondary" onClick={() => setClosedChoice(null)}>
                {t('Choose another department')}
              </button>
            </div>
          </>
        ) : prechatFields.length > 0 ? (
          <PrechatForm fields={prechatFields} serverProblem={prechatProblem} onStart={(answers) => void start(String(answers.name ?? ''), String(answers.email ?? ''), answers)} />
        ) : (
          <StartForm onStart={start} />
        )
      ) : (
        <>
          <div className="log" role="log" aria-live="polite" aria-label={t('Messages')} ref={logRef} tabIndex={0}>
            {messages.map((m) => (
              <div key={m.id} className={`msg ${m.sender === 'customer' ? 'mine' : 'theirs'}`} data-testid="message">
                {look.showAvatars && m.sender === 'agent' && <Avatar name={agent ?? t('Agent')} />}
                {m.text !== null && <p>{m.text}</p>}
                {m.attachments.map((a, i) => (
                  <AttachmentView key={i} attachment={a} refresh={refreshLinks} />
                ))}
                <small>
                  {formatTime(m.at)}
                  {m.sender === 'customer' && ` · ${m.readAt ? t('Read') : t('Sent')}`}
                </small>
              </div>
            ))}
          </div>
          {phase === 'chatting' && agentTyping.shown && (
            <p className="typing" data-testid="typing" aria-live="polite">
              {t('{name} is typing…', { name: agentTyping.shown.name ?? agent ?? t('The agent') })}
            </p>
          )}
          {phase === 'closed' && rateFor && <RatingPrompt key={rateFor.sessionId} sessionId={rateFor.sessionId} token={rateFor.token} />}
          {/* offered once an agent has written: the server sends a customer's transcript only then */}
          {ended && session && phase === 'closed' && messages.some((m) => m.sender === 'agent') && (
            <TranscriptOffer conversationId={session.sessionId} token={session.token} email={session.email ?? ''} />
          )}
          {ended ? (
            <div className="actions">
              <button type="button" onClick={restart}>
                {t('Start a new chat')}
              </button>
            </div>
          ) : (
            <Composer
              onSend={send}
              onEnd={endChat}
              onKeystroke={typing.keystroke}
              disabled={phase === 'connecting'}
              extra={session && <SendFileButton conversationId={session.sessionId} token={session.token} disabled={phase === 'connecting' || !linkUp} onUploaded={sendFile} onProblem={setNotice} />}
            />
          )}
        </>
      )}
    </main>
  );
}

function StartForm({ onStart }: { onStart: (name: string, email: string) => void }) {
  const profile = storedProfile();
  const [name, setName] = useState(profile?.name ?? '');
  const [email, setEmail] = useState(profile?.email ?? '');
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (name.trim() && email.trim()) onStart(name.trim(), email.trim());
  };
  return (
    <form className="start" onSubmit={submit}>
      <p>{t('Tell us who you are and we will connect you with an agent.')}</p>
      <label>
        {t('Name')}
        <input name="name" autoComplete="name" required maxLength={200} value={name} onChange={(e) => setName(e.target.value)} />
      </label>
      <label>
        {t('Email')}
        <input name="email" type="email" autoComplete="email" required maxLength={254} value={email} onChange={(e) => setEmail(e.target.value)} />
      </label>
      <button type="submit">{t('Start chat')}</button>
    </form>
  );
}

function Composer({ onSend, onEnd, onKeystroke, disabled, extra }: { onSend: (text: string) => boolean; onEnd: () => void; onKeystroke: () => void; disabled: boolean; extra?: ReactNode }) {
  const [text, setText] = useState('');
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const value = text.trim();
    if (value && onSend(value)) setText('');
  };
  return (
    <form className="composer" onSubmit={submit}>
      <label className="visually-hidden" htmlFor="composer-input">
        {t('Your message')}
      </label>
      <textarea
        id="composer-input"
        name="message"
        rows={2}
        maxLength={10000}
        placeholder={t('Write a message…')}
        value={text}
        disabled={disabled}
        onChange={(e) => {
          setText(e.target.value);
          if (e.target.value.trim()) onKeystroke();
        }}
        onKeyDown={(e) => {
          // an Enter that confirms an input method's composition (229: Safari, once the composition has ended) is not a send
          if (e.nativeEvent.isComposing || e.keyCode === 229) return;
          if (e.key === 'Enter' && !e.shiftKey) submit(e);
        }}
      />
      <div className="actions">
        {extra}
        <button type="submit" disabled={disabled}>
          {t('Send')}
        </button>
        <button type="button" className="secondary" onClick={onEnd}>
          {t('End chat')}

        </button>
      </div>
    </form>
  );
}

// the other languages' texts, each a file of its own, loaded only by who reads it
const translated = import.meta.glob<{ default: unknown }>(['../../i18n/widget/*.json', '!../../i18n/widget/en.json']);
// the language: the host page's data-locale (passed by the loader), else the browser's
void activateLocale(pickLocale([params.get('locale'), ...navigator.languages]), [english], [(locale) => translated[`../../i18n/widget/${locale}.json`]!()]).then(() =>
  createRoot(document.getElementById('root')!).render(
    <StrictMode>
      <Widget />
    </StrictMode>,
  ),
);
