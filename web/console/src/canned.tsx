import { useCallback, useEffect, useId, useMemo, useState, type AriaAttributes, type FormEvent, type KeyboardEvent, type ReactElement } from 'react';
import { api } from '../../shared/util';
import { FieldError, rich, slots, TableHead, useFormErrors } from './admin-kit';
import type { Agent, Conversation } from './types';
import { rankCanned } from './canned-rank';
import { t } from '../../shared/i18n';

// Canned responses in the console: typing "/" at the start of the composer
// opens a list filtered and ranked by what follows (canned-rank.ts); arrows
// move, Enter or a click inserts the response with its variables filled in,
// Escape closes. The "Canned responses" page manages them: shared ones
// (admins, supervisors) and the agent's own.

export interface Canned {
  id: string;
  scope: 'shared' | 'personal';
  owner_id: string | null;
  shortcut: string;
  text: string;
}

export const VARIABLES = ['customer.name', 'customer.email', 'agent.name'] as const;

/**
 * The text with its variables filled in. A known variable without a value
 * (a customer with no email) becomes empty; an unknown one is left as typed,
 * so the agent sees it in the composer and fixes it before sending.
 */
export function fillVariables(text: string, values: { customer: Pick<Conversation['customer'], 'name' | 'email'>; agent: Pick<Agent, 'name'> }): string {
  const known: Record<(typeof VARIABLES)[number], string> = {
    'customer.name': values.customer.name ?? '',
    'customer.email': values.customer.email ?? '',
    'agent.name': values.agent.name,
  };
  return text.replace(/\{\{\s*([a-z]+\.[a-z]+)\s*\}\}/gi, (whole, name: string) => (name in known ? known[name as keyof typeof known] : whole));
}

export function useCanned(token: string, onError: (e: unknown) => void): { items: Canned[]; reload: () => void } {
  const [items, setItems] = useState<Canned[]>([]);
  const reload = useCallback(() => void api<Canned[]>('GET', '/api/v1/canned-responses', token).then(setItems, onError), [token, onError]);
  useEffect(reload, [reload]);
  return { items, reload };
}

/**
 * The composer's "/" list. `onKeyDown` is called first by the composer's
 * textarea and answers whether it handled the key (then the composer must
 * not send). `list` is the element to render above the composer, and
 * `inputProps` go on the textarea: while the list is open it is a combobox
 * (ARIA's editable combobox with list autocomplete) whose active option a
 * screen reader reads out as the arrows move, the focus staying in the box.
 */
export function useCannedPicker(options: {
  text: string;
  setText: (text: string) => void;
  conversation: Conversation;
  me: Agent;
  token: string;
  onError: (e: unknown) => void;
}): { onKeyDown: (e: KeyboardEvent) => boolean; list: ReactElement | null; inputProps: ComboboxProps } {
  const { text, setText, conversation, me, token, onError } = options;
  const { items } = useCanned(token, onError);
  const [active, setActive] = useState(0);
  const [dismissed, setDismissed] = useState<string | null>(null);
  const query = /^\/(\S*)$/.exec(text)?.[1];
  const open = query !== undefined && dismissed !== text;
  const matches = useMemo(() => {
    if (query === undefined) return [];
    return rankCanned(items, query);
  }, [items, query]);
  useEffect(() => setActive(0), [query]);
  const listId = useId();
  const optionId = (i: number) => `${listId}-option-${i}`;
  /** the active option's index, -1 with none */
  const shown = open && matches.length > 0 ? Math.min(active, matches.length - 1) : -1;
  // The focus stays in the reply box, so the browser does not scroll the list
  // to the active option itself: past the list's height it moved out of sight.
  useEffect(() => {
    if (shown >= 0) document.getElementById(optionId(shown))?.scrollIntoView({ block: 'nearest' });
  }, [shown, listId]);

  const insert = (c: Canned) => setText(fillVariables(c.text, { customer: conversation.customer, agent: me }));
  const onKeyDown = (e: KeyboardEvent): boolean => {
    if (!open) return false;
    if (matches.length === 0) {
      // A mistyped shortcut must not reach the customer as "/refnd": Enter
      // waits while the list says nothing matches; Escape closes it, and the
      // Enter after that sends the text as typed.
      if (e.key === 'Escape' || (e.key === 'Enter' && !e.shiftKey)) {
        e.preventDefault();
        if (e.key === 'Escape') setDismissed(text);
        return true;
      }
      return false;
    }
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      setActive((i) => (i + (e.key === 'ArrowDown' ? 1 : matches.length - 1)) % matches.length);
      return true;
    }
    if ((e.key === 'Enter' && !e.shiftKey) || e.key === 'Tab') {
      e.preventDefault();
      insert(matches[shown]!);
      return true;
    }
    if (e.key === 'Escape') {
      e.preventDefault();
      setDismissed(text);
      return true;
    }
    return false;
  };

  const list = !open ? null : (
    <ul className="canned-list" id={listId} role="listbox" aria-label={t('Canned responses')} data-testid="canned-list">
      {matches.length === 0 && (
        <li className="empty">
          {t('No canned response matches “/{query}”.', { query })} {t('Esc, then Enter, sends it as typed.')}
        </li>
      )}
      {matches.map((c, i) => (
        <li
          key={c.id}
          id={optionId(i)}
          role="option"
          aria-selected={i === shown}
          className={i === shown ? 'active' : ''}
          // mousedown, not click: the textarea keeps the focus
          onMouseDown={(e) => {
            e.preventDefault();
            insert(c);
          }}
        >
          <strong>/{c.shortcut}</strong> <span className="hint">{c.scope === 'shared' ? t('shared') : t('mine')}</span>
          <span className="canned-text">{c.text}</span>
        </li>
      ))}
    </ul>
  );
  const inputProps: ComboboxProps = open
    ? { role: 'combobox', 'aria-autocomplete': 'list', 'aria-expanded': true, 'aria-controls': listId, ...(shown >= 0 ? { 'aria-activedescendant': optionId(shown) } : {}) }
    : {};
  return { onKeyDown, list, inputProps };
}

type ComboboxProps = { role?: 'combobox' } & Pick<AriaAttributes, 'aria-autocomplete' | 'aria-expanded' | 'aria-controls' | 'aria-activedescendant'>;

/** The page: shared canned responses (editable by admins and supervisors) and the agent's own. */
export function CannedPage({ token, me, onError }: { token: string; me: Agent; onError: (e: unknown) => void }) {
  const { items, reload } = useCanned(token, onError);
  const overseer = me.role !== 'agent';
  const [form, setForm] = useState({ shortcut: '', text: '', scope: 'personal' as Canned['scope'] });
  const errors = useFormErrors(onError, 'canned', ['shortcut', 'text', 'scope']);
  const create = async (event: FormEvent) => {
    event.preventDefault();
    errors.clear();
    try {
      await api('POST', '/api/v1/canned-responses', token, form);
      setForm({ shortcut: '', text: '', scope: form.scope });
      reload();
    } catch (e) {
      errors.fail(e);
    }
  };
  // the row being edited, and its new text
  const [editing, setEditing] = useState<{ id: string; text: string } | null>(null);
  const saveEdit = async (event: FormEvent) => {
    event.preventDefault();
    if (!editing) return;
    try {
      await api('PATCH', `/api/v1/canned-responses/${editing.id}`, token, { text: editing.text });
      setEditing(null);
      reload();
    } catch (e) {
      onError(e);
    }
  };
  const remove = async (c: Canned) => {
    if (!confirm(t('Delete /{shortcut}?', { shortcut: c.shortcut }))) return;
    try {
      await api('DELETE', `/api/v1/canned-responses/${c.id}`, token);
      reload();
    } catch (e) {
      onError(e);
    }
  };
  return (
    <main className="admin" aria-labelledby="canned-title">
      <h2 id="canned-title">{t('Canned responses')}</h2>
      <p className="hint">
        {rich(t('Type {slash} at the start of a reply to insert one. Variables: {variables}.', { ...slots('slash'), variables: VARIABLES.map((v) => `{{${v}}}`).join(', ') }), [<kbd key="slash">/</kbd>])}
      </p>
      <form className="stack-form" onSubmit={create} aria-label={t('New canned response')}>
        <label className="setting">
          {t('Shortcut')}
          <input required maxLength={50} value={form.shortcut} onChange={(e) => setForm({ ...form, shortcut: e.target.value })} {...errors.describe('shortcut')} />
          <FieldError errors={errors} field="shortcut" idPrefix="canned" />
        </label>
        <label className="setting">
          {t('Text')}
          <textarea required rows={3} maxLength={10000} value={form.text} onChange={(e) => setForm({ ...form, text: e.target.value })} {...errors.describe('text')} />
          <FieldError errors={errors} field="text" idPrefix="canned" />
        </label>
        {overseer && (
          <label className="setting">
            {t('For')}
            <select value={form.scope} onChange={(e) => setForm({ ...form, scope: e.target.value as Canned['scope'] })}>
              <option value="personal">{t('Me only')}</option>
              <option value="shared">{t('Everyone (shared)')}</option>
            </select>
          </label>
        )}
        {errors.general && (
          <p className="error" role="alert">
            {errors.general}
          </p>
        )}
        <button type="submit">{t('Add canned response')}</button>
      </form>
      <div className="table-wrap">
        <table data-testid="canned-table">
          <TableHead columns={[t('Shortcut'), t('Text'), t('For'), '']} />
          <tbody>
            {items.map((c) => (
              <tr key={c.id}>
                <td>/{c.shortcut}</td>
                <td className="wrap">
                  {editing?.id === c.id ? (
                    <form className="note-edit" onSubmit={saveEdit}>
                      <textarea aria-label={t('Text of /{shortcut}', { shortcut: c.shortcut })} rows={3} maxLength={10000} required value={editing.text} autoFocus onChange={(e) => setEditing({ id: c.id, text: e.target.value })} />
                      <button type="submit">{t('Save')}</button>
                      <button type="button" className="secondary" onClick={() => setEditing(null)}>
                        {t('Cancel')}
                      </button>
                    </form>
                  ) : (
                    c.text
                  )}
                </td>
                <td>{c.scope === 'shared' ? t('everyone') : t('me')}</td>

                <td className="row-actions">
                  {(c.scope === 'personal' || overseer) && (
                    <>
                      <button type="button" className="secondary" onClick={() => setEditing({ id: c.id, text: c.text })} aria-label={t('Edit /{shortcut}', { shortcut: c.shortcut })}>
                        {t('Edit')}
                      </button>
                      <button type="button" className="danger" onClick={() => void remove(c)} aria-label={t('Delete /{shortcut}', { shortcut: c.shortcut })}
>
                        {t('Delete')}
                      </button>
                    </>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </main>
  );
}
