import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { useTypingIndicator, useTypingSender } from '../../shared/typing';
import { useCannedPicker } from './canned';
import { AttachmentView, useLinkRefresh } from '../../shared/attachments';
import { api, RECEIPT_MAX } from '../../shared/util';
import { t } from '../../shared/i18n';
import { reasonName, senderName, stateName } from './states';
import { formatTime } from '../../shared/format';
import { AttachFileButton, PendingFiles, useComposerFiles } from './attachments';
import { CustomerStatistics, ExternalMessage, IdentityBadge, PastConversations, unverifiedNote } from './customer';
import { LabelEditor } from './labels';
import { CustomerFields } from './prechat-answers';
import type { Live } from './live';
import { NoteActions, NoteHeading, useLiveNotes } from './notes';
import { SendTranscript } from './transcript';
import { EraseConversation } from './erase';
import { RatingView } from './ratings';
import { readHistory, useConversationEvents } from './chat-reads';
import { isChannelQueue, servedDepartments, skillsText, type Agent, type Conversation, type Message } from './types';

/** GET /api/v1/agents/directory: what any agent may know of colleagues, for transfers. */
interface Colleague {
  id: string;
  name: string;
  status: Agent['status'];
  departments: string[];
  has_room: boolean;
}

// One conversation: history then live messages, read ticks both ways, and
// the customer panel with the customer's statistics, resolve, transfer and
// "send external message".

/** Stands in for the conversation while it loads: hooks run on every render, before the early returns. */
const PLACEHOLDER: Conversation = {
  id: '', channel: '', customer: { id: '', name: null, email: null, phone: null, fields: {} }, department: null, priority: 0, state: 'queued', agent_id: null, customer_verified: false,
  created_at: '', queued_at: null, assigned_at: null, resolved_at: null, resolve_reason: null, note: null,
};

interface Props {
  id: string;
  me: Agent;
  token: string;
  live: Live | null;
  /** bumps when the lists were re-read: the conversation may have changed */
  version: number;
  /**
   * Bumps each time the realtime link comes (back) up: what it carried while
   * down never arrived. Only for a chat off the desk: the desk re-reads its
   * lists then and bumps `version`, so the chat there would read twice.
   */
  linkUps?: number;
  onError: (e: unknown) => void;
  onClose: () => void;
  /** a message to scroll to and mark (a search hit) instead of the end */
  highlight?: number | undefined;
  /** the caller's unread count of this conversation is now 0 (POST /read answered) */
  onRead?: (conversationId: string) => void;
}

export function ChatView({ id, me, token, live, version, linkUps, onError, onClose, highlight, onRead }: Props) {
  const [conversation, setConversation] = useState<Conversation | null>(null);
  const [messages, setMessages] = useState<Message[]>([]);
  const [forbidden, setForbidden] = useState<string | null>(null);
  const [text, setText] = useState('');
  // a link to send along (files are uploaded: see attachments.tsx)
  const [link, setLink] = useState<string | null>(null);
  // the composer writes a private note instead of a reply (notes.tsx)
  const [noteChosen, setNoteChosen] = useState(false);
  const files = useComposerFiles(id, token, onError);
  const logRef = useRef<HTMLDivElement | null>(null);
  const receipted = useRef(new Set<number>());
  const customerTyping = useTypingIndicator('customer');
  const { heard: heardTyping, clear: clearTyping } = customerTyping;

  const merge = useCallback((incoming: Message[]) => {
    setMessages((current) => {
      const byId = new Map(current.map((m) => [m.id, m]));
      for (const m of incoming) {
        const known = byId.get(m.id);
        // read is for good: an answer or a page read before the receipt (the send's own answer, a reload) does not take it back
        byId.set(m.id, { ...known, ...m, read_at: m.read_at ?? known?.read_at ?? null });
      }
      return [...byId.values()].sort((a, b) => a.id - b.id);
    });
  }, []);

  const removeMessage = useCallback((messageId: number) => setMessages((current) => current.filter((m) => m.id !== messageId)), []);
  useLiveNotes(live, id, merge, removeMessage);

  const fail = useCallback(
    (e: unknown) => {
      const status = (e as { status?: number }).status;
      if (status === 403 || status === 404) setForbidden(status === 403 ? t('This conversation is not yours.') : t('No such conversation.'));
      else onError(e);
    },
    [onError],
  );

  // The newest message read from the server: the next read starts after it.
  // Not the newest shown: the agent's own reply, shown from its send's
  // answer, may be newer than a customer's message stored just before it and
  // not read yet, which a read after the reply would never fetch (found by review).
  const newest = useRef(0);
  const load = useCallback(async () => {
    try {
      setConversation(await api<Conversation>('GET', `/api/v1/conversations/${id}`, token));
      // at once, all of it: a search hit is then there to scroll to, and pages merged one by one would each look like a new message
      const read = await readHistory(id, token);
      newest.current = Math.max(newest.current, read[read.length - 1]?.id ?? 0);
      merge(read);
      setForbidden(null);
    } catch (e) {
      fail(e);
    }
  }, [id, token, merge, fail]);

  // Files' links expire while the chat stays open (shared/attachments.tsx):
  // the history is read again for links signed now. Only the links are
  // taken from it: a note edited or deleted while the read was on its way
  // stays as it is now, and messages newer than those shown are the live
  // feed's to add.
  const refreshLinks = useLinkRefresh(async () => {
    const read = await readHistory(id, token);
    const links = new Map(read.map((m) => [m.id, m.attachments]));
    setMessages((current) => current.map((m) => (links.has(m.id) ? { ...m, attachments: links.get(m.id)! } : m)));
    return read;
  });

  // Its messages come live; what an event changes (its state, agent, labels) is read again, wherever the chat is shown.
  // A chat that was not the caller's may have come back: then its messages too.
  const readConversation = useCallback(async () => {
    try {
      setConversation(await api<Conversation>('GET', `/api/v1/conversations/${id}`, token));
    } catch (e) {
      fail(e);
    }
  }, [id, token, fail]);
  useConversationEvents(live, id, forbidden ? load : readConversation);

  useEffect(() => {
    void load();
  }, [load, version, linkUps]);

  // The messages after the newest read, as the server has them; one read
  // at a time, and one more if more were heard meanwhile.
  const reading = useRef({ running: false, again: false });
  const readNew = useCallback(async () => {
    const state = reading.current;
    if (state.running) {
      state.again = true;
      return;
    }
    state.running = true;
    try {
      do {
        state.again = false;
        const read = await readHistory(id, token, newest.current);
        newest.current = Math.max(newest.current, read[read.length - 1]?.id ?? 0);
        merge(read);
      } while (state.again);
    } catch (e) {
      fail(e);
    } finally {
      state.running = false;
    }
  }, [id, token, merge, fail]);

  // live messages and receipts
  useEffect(() => {
    if (!live || forbidden) return;
    const topic = `${live.base}/conversations/${id}`;
    live.subscribe(`${topic}/messages`);
    live.subscribe(`${topic}/messages/viewed`);
    live.subscribe(`${topic}/typing`);
    const off = live.on((heard, data) => {
      if (heard === `${topic}/typing`) {
        heardTyping(data);
      } else if (heard === `${topic}/messages` && typeof data.message?.id === 'number') {
        // the customer's message is here: they are no longer typing it
        if (data.message.sender === 'customer') clearTyping();
        // A hint, not the message: the stored messages are read from the
        // server. On an external broker (EMQX) the customer's own publish on
        // this topic reaches the console as they wrote it — id, sender and
        // text theirs to choose — so a payload shown as it came let them
        // rewrite an agent's line or add a "system" one (found by review).
        void readNew();
      } else if (heard === `${topic}/messages/viewed` && Array.isArray(data.readMessages)) {
        const ids = new Set(data.readMessages.map((r: number | { id: number }) => (typeof r === 'number' ? r : r.id)));
        setMessages((current) => current.map((m) => (ids.has(m.id) && !m.read_at ? { ...m, read_at: data.readAt ?? new Date().toISOString() } : m)));
      }
    });
    return () => {
      off();
      live.unsubscribe(`${topic}/messages`);
      live.unsubscribe(`${topic}/messages/viewed`);
      live.unsubscribe(`${topic}/typing`);
    };
  }, [live, id, forbidden, readNew, heardTyping, clearTyping]);

  // Seen on screen: the caller's own unread count goes to 0 (a supervisor's
  // reading leaves the holder's). A hidden tab has seen nothing yet: it
  // marks when it is shown again.
  const markedUpTo = useRef(0);
  const [visible, setVisible] = useState(() => document.visibilityState === 'visible');
  useEffect(() => {
    const onChange = () => setVisible(document.visibilityState === 'visible');
    document.addEventListener('visibilitychange', onChange);
    return () => document.removeEventListener('visibilitychange', onChange);
  }, []);
  useEffect(() => {
    const last = messages[messages.length - 1]?.id ?? 0;
    if (!conversation || forbidden || !visible || last <= markedUpTo.current) return;
    markedUpTo.current = last;
    api('POST', `/api/v1/conversations/${id}/read`, token, { up_to: last }).then(
      () => onRead?.(id),
      () => (markedUpTo.current = 0),
    );
  }, [messages, conversation, forbidden, visible, id, token, onRead]);

  // Only the holder of an assigned conversation may publish typing: the
  // broker disconnects anyone else who tries (docs/realtime.md).
  const holder = conversation?.state === 'assigned' && conversation.agent_id === me.id;
  // `sender` and `name` for an external broker, which relays the payload as sent (the embedded one rebuilds it)
  const typing = useTypingSender(holder && live ? (on) => live.publish(`${live.base}/conversations/${id}/typing`, { typing: on, sender: 'agent', name: me.name }) : undefined);

  // what the customer wrote, now seen: tell them (only the holder marks read).
  // Not from a hidden tab, which has seen nothing yet: the customer would be
  // told their messages were read, and the agent's unread count cleared
  // everywhere (markReadUpTo), while nobody looked (found by review).
  useEffect(() => {
    if (!live || !conversation || !visible || conversation.agent_id !== me.id || conversation.state !== 'assigned') return;
    const unread = messages.filter((m) => m.sender === 'customer' && !m.read_at && !receipted.current.has(m.id)).map((m) => m.id);
    if (unread.length === 0) return;
    for (const m of unread) receipted.current.add(m);
    for (let i = 0; i < unread.length; i += RECEIPT_MAX) {
      live.publish(`${live.base}/conversations/${id}/messages/viewed`, { readMessages: unread.slice(i, i + RECEIPT_MAX), from: me.id });
    }
  }, [messages, live, conversation, visible, me.id, id]);

  // With a highlighted message: that message once it is there. Then the end
  // only when a new message comes: not when one is marked read, nor when
  // files' links are renewed, which an agent scrolled up to a picture set off.
  const shownLast = useRef<number | null>(null);
  useEffect(() => {
    const last = messages[messages.length - 1]?.id ?? 0;
    if (highlight !== undefined && shownLast.current === null) {
      const hit = logRef.current?.querySelector(`[data-message-id="${highlight}"]`);
      if (!hit) return;
      hit.scrollIntoView({ block: 'center' });
      shownLast.current = last;
      return;
    }
    if (last === shownLast.current) return;
    shownLast.current = last;
    logRef.current?.scrollTo({ top: logRef.current.scrollHeight });
  }, [messages, highlight]);

  const picker = useCannedPicker({ text, setText, conversation: conversation ?? PLACEHOLDER, me, token, onError });

  if (forbidden) {
    return (
      <section className="chat" data-testid="chat-forbidden">
        <p className="error" role="alert">
          {forbidden}
        </p>
        <button type="button" onClick={onClose}>
          {t('Back')}
        </button>
      </section>
    );
  }
  if (!conversation) return <section className="chat">{t('Loading…')}</section>;

  const open = conversation.state === 'assigned' || conversation.state === 'queued';
  const mayAct = conversation.agent_id === me.id || me.role !== 'agent';
  const mayWrite = open && mayAct;
  // Notes may be written in any state, after the resolve too (a follow-up for
  // colleagues), but not on a conversation only offered to the agent: as the API says.
  const mayNote = mayAct && (conversation.state !== 'offered' || me.role !== 'agent');
  const notesOnly = mayNote && !mayWrite;
  const noteMode = noteChosen || notesOnly;
  const closed = conversation.state === 'resolved' || conversation.state === 'abandoned';
  const closedText = `${t('Closed ({reason})', { reason: conversation.resolve_reason === null ? stateName(conversation.state) : reasonName(conversation.resolve_reason) })}${conversation.note ? `: ${conversation.note}` : ''}`;
  const send = async (event: FormEvent) => {
    event.preventDefault();
    const value = text.trim();
    const url = link?.trim() ?? '';
    const attachments = [...files.ready, ...(url ? [{ type: 'link', url }] : [])];
    if ((!value && attachments.length === 0) || files.uploading) return;
    try {
      if (noteMode) {
        if (!value) return;
        merge([await api<Message>('POST', `/api/v1/conversations/${id}/notes`, token, { text: value })]);
        setText('');
        return;
      }
      typing.stop();
      const body = { ...(value ? { text: value } : {}), ...(attachments.length > 0 ? { attachments } : {}) };
      merge([await api<Message>('POST', `/api/v1/conversations/${id}/messages`, token, body)]);
      setText('');
      setLink(null);
      files.clear();
    } catch (e) {
      onError(e);
    }
  };

  return (
    <>
      <section
        className={`chat${files.dragging ? ' dropping' : ''}`}
        aria-label={t('Chat with {name}', { name: conversation.customer.name ?? t('customer') })}
        {...(mayWrite ? files.dropZone : {})}
      >
        <header className="chat-head">
          <button type="button" className="secondary back" onClick={onClose} aria-label={t('Back to the lists')}>
            ←
          </button>
          <h2 title={conversation.customer.name ?? conversation.customer.id}>{conversation.customer.name ?? conversation.customer.id}</h2>
          <IdentityBadge verified={conversation.customer_verified} />
          <span className={`state ${conversation.state}`} data-testid="conversation-state">
            {stateName(conversation.state)}
          </span>
        </header>
        <div className="log" role="log" aria-live="polite" aria-label={t('Messages')} ref={logRef} tabIndex={0}>
          {messages.map((m) => (
            <div
              key={m.id}
              className={`msg ${m.private ? 'note' : m.sender === 'customer' ? 'theirs' : 'mine'}${m.id === highlight ? ' hit' : ''}`}
              data-testid={m.private ? 'note' : 'message'}
              data-message-id={m.id}
              {...(m.id === highlight ? { 'data-highlighted': 'true', 'aria-current': 'true' as const } : {})}
            >
              {m.private && <NoteHeading note={m} authorName={m.sender_id === me.id ? t('you') : t('a colleague')} />}
              {m.text !== null && <p>{m.text}</p>}
              {m.private && m.sender_id === me.id && <NoteActions note={m} token={token} onSaved={(n) => merge([n])} onDeleted={removeMessage} onError={onError} />}
              {m.attachments.map((a, i) => (
                <AttachmentView key={i} attachment={a} refresh={refreshLinks} />
              ))}
              <small>
                {m.sender !== 'customer' && `${senderName(m.sender)} · `}
                {formatTime(m.created_at)}
                {m.sender !== 'customer' && !m.private && (
                  <span className="ticks" aria-label={m.read_at ? t('read') : t('sent')} data-testid={m.read_at ? 'read' : 'sent'}>
                    {m.read_at ? ' ✓✓' : ' ✓'}
                  </span>
                )}
              </small>
            </div>
          ))}
        </div>
        {customerTyping.shown && conversation.state === 'assigned' && (
          <p className="typing" data-testid="customer-typing" aria-live="polite">
            {t('{name} is typing…', { name: conversation.customer.name ?? t('The customer') })}
          </p>
        )}
        {notesOnly && <p className="closed-note">{closed ? closedText : t('Read only.')}</p>}
        {mayNote ? (
          <form className={`composer ${noteMode ? 'note-mode' : ''}`} onSubmit={send}>
            {picker.list}
            <PendingFiles files={files} />
            <label className="visually-hidden" htmlFor="reply">
              {noteMode ? t('Private note') : t('Reply')}
            </label>
            <textarea
              id="reply"
              data-shortcut="reply"
              {...picker.inputProps}
              rows={2}
              maxLength={10000}
              placeholder={noteMode ? t('Private note — only agents see it…') : t('Reply… (/ for canned responses)')}
              value={text}
              onChange={(e) => {
                setText(e.target.value);
                // a note is for colleagues: the customer is not told about it
                if (!noteMode && e.target.value.trim() && !e.target.value.startsWith('/')) typing.keystroke();
              }}
              onPaste={noteMode ? undefined : files.onPaste}
              onKeyDown={(e) => {
                // the Enter (or arrow) that picks and confirms what an input method composes is the input method's
                if (e.nativeEvent.isComposing || e.keyCode === 229) return;
                if (picker.onKeyDown(e)) return;
                if (e.key === 'Enter' && !e.shiftKey) void send(e);
              }}
            />
            {!notesOnly && (
              <label className="check note-toggle">
                <input type="checkbox" checked={noteMode} onChange={(e) => setNoteChosen(e.target.checked)} />
                {t('Private note')}
              </label>
            )}
            {!noteMode && <AttachFileButton files={files} />}
            {noteMode ? null : link === null ? (
              <button type="button" className="secondary" onClick={() => setLink('')}>
                {t('Attach link')}
              </button>
            ) : (
              <input
                type="url"
                aria-label={t('Link to send')}
                className="attach"
                placeholder="https://…"
                maxLength={2000}
                value={link}
                autoFocus
                onChange={(e) => setLink(e.target.value)}
                onKeyDown={(e) => {
                  if (e.key === 'Escape') setLink(null);
                }}
              />
            )}
            <button type="submit">{noteMode ? t('Add note') : t('Send')}</button>
          </form>
        ) : (
          <p className="closed-note">{closed ? closedText : t('Read only.')}</p>
        )}
      </section>
      <CustomerPanel conversation={conversation} me={me} token={token} live={live} onChanged={load} onGone={onClose} onError={onError} />
    </>
  );
}

interface PanelProps {
  conversation: Conversation;
  me: Agent;
  token: string;
  live: Live | null;
  onChanged: () => void;
  /** the conversation left the caller's hands (an agent transferred it away) */
  onGone: () => void;
  onError: (e: unknown) => void;
}

function CustomerPanel({ conversation, me, token, live, onChanged, onGone, onError }: PanelProps) {
  const [note, setNote] = useState('');
  const [target, setTarget] = useState('');
  const [agents, setAgents] = useState<Colleague[]>([]);
  const [requeueing, setRequeueing] = useState(false);
  // the requeue's own answer gave it straight back to the caller (the drain's pick): said, not hidden
  const [cameBack, setCameBack] = useState(false);
  const c = conversation;
  const open = c.state === 'assigned' || c.state === 'queued';
  // only an assigned conversation goes back to the queue (409 SB_NOT_ASSIGNED otherwise); an agent only their own (403)
  const mayRequeue = c.state === 'assigned' && (me.role !== 'agent' || c.agent_id === me.id);

  // again after a transfer: whoever took it has less room now
  useEffect(() => {
    void api<Colleague[]>('GET', '/api/v1/agents/directory', token).then(setAgents, () => undefined);
  }, [c.agent_id, token]);

  const resolve = async (event: FormEvent) => {
    event.preventDefault();
    try {
      await api('POST', `/api/v1/conversations/${c.id}/resolve`, token, note.trim() ? { note: note.trim() } : {});
      setNote('');
      onChanged();
    } catch (e) {
      onError(e);
    }
  };
  const transfer = async (event: FormEvent) => {
    event.preventDefault();
    if (!target) return;
    const body = target.startsWith('agent:') ? { agent_id: target.slice(6) } : { department: target.slice(5) || null };
    setCameBack(false);
    try {
      const moved = await api<Conversation>('POST', `/api/v1/conversations/${c.id}/transfer`, token, body);
      setTarget('');
      // an agent may not read a conversation that is no longer theirs
      if (me.role === 'agent' && moved.agent_id !== me.id) onGone();
      else onChanged();
    } catch (e) {
      onError(e);
    }
  };
  const requeue = async (event: FormEvent) => {
    event.preventDefault();
    setRequeueing(true);
    setCameBack(false);
    try {
      // the answer is the conversation after the queue was drained: queued, someone else's, or the caller's again
      const moved = await api<Conversation>('POST', `/api/v1/conversations/${c.id}/requeue`, token, {});
      if (me.role === 'agent' && moved.agent_id !== me.id) onGone();
      else {
        setCameBack(moved.state === 'assigned' && moved.agent_id === me.id);
        onChanged();
      }
    } catch (e) {
      onError(e);
      // a refusal means what is shown is out of date (closed or requeued meanwhile): show what is true now
      onChanged();
    } finally {
      setRequeueing(false);
    }
  };
  // a channel's own queue only for its own rooms: back there is how a Qiscus room leaves a person's hands
  const served = servedDepartments([...agents, me]);
  const departments = c.department !== null && isChannelQueue(c.department) ? [c.department, ...served] : served;

  return (
    <aside className="panel" aria-label={t('Customer')}>
      <h3>{t('Customer')}</h3>
      <dl>
        <dt>{t('Name')}</dt>
        <dd>{c.customer.name ?? '—'}</dd>
        <dt>{t('Email')}</dt>
        <dd>{c.customer.email ?? '—'}</dd>
        {c.customer.phone && (
          <>
            <dt>{t('Phone')}</dt>
            <dd>{c.customer.phone}</dd>
          </>
        )}
        <dt>{t('Customer id')}</dt>
        <dd>{c.customer.id}</dd>
        <dt>{t('Channel')}</dt>
        <dd>{c.channel}</dd>
        <dt>{t('Department')}</dt>
        <dd>{c.department ?? '—'}</dd>
        {Object.keys(c.required_skills ?? {}).length > 0 && (
          <>
            <dt>{t('Required skills')}</dt>
            <dd data-testid="required-skills">{skillsText(c.required_skills)}</dd>
          </>
        )}
        <CustomerFields fields={c.customer.fields} />
      </dl>
      <LabelEditor conversation={c} token={token} onChanged={onChanged} onError={onError} />
      {c.customer_verified ? (
        <CustomerStatistics customerId={c.customer.id} token={token} />
      ) : (
        <p className="stats-note" data-testid="unverified-note">
          {unverifiedNote(c.channel)}
        </p>
      )}
      {c.state === 'resolved' && <RatingView rating={c.rating} />}
      {open && (
        <>
          <form onSubmit={resolve} className="stack">
            <label>
              {t('Resolution note')}
              <textarea rows={2} maxLength={5000} value={note} onChange={(e) => setNote(e.target.value)} />
            </label>
            <button type="submit" data-testid="resolve" data-shortcut="resolve" aria-keyshortcuts="Alt+E">
              {t('Resolve')}
            </button>
          </form>
          <form onSubmit={transfer} className="stack">
            <label>
              {t('Transfer to')}
              <select value={target} onChange={(e) => setTarget(e.target.value)} data-shortcut="transfer" aria-keyshortcuts="Alt+T">
                <option value="">{t('Choose…')}</option>
                <optgroup label={t('Agents')}>
                  {agents
                    .filter((a) => a.id !== c.agent_id)
                    .map((a) => (
                      <option key={a.id} value={`agent:${a.id}`} disabled={!a.has_room}>
                        {a.name} ({a.has_room ? t('has room') : a.status === 'online' ? t('full') : a.status === 'away' ? t('away') : t('offline')})
                      </option>
                    ))}
                </optgroup>
                <optgroup label={t('Departments')}>
                  <option value="dept:">{t('General queue')}</option>
                  {departments.map((d) => (
                    <option key={d} value={`dept:${d}`}>
                      {d}
                    </option>
                  ))}
                </optgroup>
              </select>
            </label>
            <button type="submit" disabled={!target}>
              {t('Transfer')}

            </button>
          </form>
        </>
      )}
      {mayRequeue && (
        <form onSubmit={requeue} className="stack">
          <button type="submit" className="secondary" data-testid="requeue" disabled={requeueing}>
            {t('Return to queue')}
          </button>
          {cameBack && c.agent_id === me.id && (
            <p className="notice" role="status" data-testid="requeue-came-back">
              {t('Returned to the queue, and given straight back to you: you are still the best choice for it.')}
            </p>
          )}
        </form>
      )}
      <ExternalMessage conversationId={c.id} token={token} />
      <SendTranscript key={c.id} conversationId={c.id} customerEmail={c.customer.email} token={token} />
      {c.customer_verified && <PastConversations customerId={c.customer.id} conversationId={c.id} token={token} live={live} />}
      {!open && me.role === 'admin' && <EraseConversation key={c.id} conversationId={c.id} token={token} onErased={onGone} />}
    </aside>
  );
}
