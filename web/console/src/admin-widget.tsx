import { useEffect, useState, type FormEvent } from 'react';
import { AA_RATIO, contrastRatio, HEX_COLOR, textColorOn } from '../../../src/appearance/contrast';
import { api } from '../../shared/util';
import { FieldError, FormFooter, LoadingPage, useFormErrors, type AdminProps } from './admin-kit';
import { GreetingsAdmin } from './admin-greetings';
import './widget-look.css';
import { formatNumber } from '../../shared/format';
import { t } from '../../shared/i18n';

// Admin: the widget's look (PUT /api/v1/widget-settings) with a live preview
// drawn from the draft as it is edited — the text colour on the chosen colour
// picked by the same WCAG rule the widget uses (src/appearance/contrast.ts) —
// the snippet to paste into a site, and the proactive greetings.

type Position = 'bottom-right' | 'bottom-left';

interface Look {
  color: string;
  position: Position;
  launcher_text: string;
  title: string;
  show_agent_avatars: boolean;
}

const FIELDS = ['color', 'position', 'launcher_text', 'title', 'show_agent_avatars'] as const;
const ID = 'widget-look';
const pick = (s: Look): Look => ({ color: s.color, position: s.position, launcher_text: s.launcher_text, title: s.title, show_agent_avatars: s.show_agent_avatars });

export function WidgetAdmin(props: AdminProps) {
  const { token, onError } = props;
  const [draft, setDraft] = useState<Look | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const errors = useFormErrors(onError, ID, FIELDS);

  useEffect(() => {
    api<Look>('GET', '/api/v1/widget-settings', token).then((s) => setDraft(pick(s)), errors.fail);
  }, [token]);

  if (!draft) {
    // a failed first read says why here (errors.general), rather than loading for ever
    return <LoadingPage title={t('Widget')} problem={errors.general} />;
  }

  const save = async (event: FormEvent) => {
    event.preventDefault();
    errors.clear();
    setNotice(null);
    setBusy(true);
    try {
      setDraft(pick(await api<Look>('PUT', '/api/v1/widget-settings', token, draft)));
      setNotice(t('Saved. Pages with the widget show it from their next load.'));
    } catch (e) {
      errors.fail(e);
    } finally {
      setBusy(false);
    }
  };
  const text = (key: 'launcher_text' | 'title', max: number) => ({
    id: `${ID}-${key}`,
    name: key,
    maxLength: max,
    value: draft[key],
    onChange: (e: { target: { value: string } }) => setDraft({ ...draft, [key]: e.target.value }),
    ...errors.describe(key),
  });
  const snippet = `<script src="${location.origin}/widget.js" async></script>`;

  return (
    <main className="admin widget-admin">
      <h2>{t('Widget')}</h2>
      <div className="widget-look">
        <form className="settings-form" onSubmit={save} noValidate aria-labelledby="widget-appearance-title">
          <h3 id="widget-appearance-title">{t('Appearance')}</h3>
          <div className="setting">
            <label htmlFor={`${ID}-color`}>{t('Colour')}</label>
            <span className="color-row">
              <input
                type="color"
                aria-label={t('Colour picker')}
                value={HEX_COLOR.test(draft.color) ? draft.color.toLowerCase() : '#000000'}
                onChange={(e) => setDraft({ ...draft, color: e.target.value })}
              />
              <input id={`${ID}-color`} name="color" className="hex" maxLength={7} value={draft.color} onChange={(e) => setDraft({ ...draft, color: e.target.value.trim() })} {...errors.describe('color')} />
            </span>
            <FieldError errors={errors} field="color" idPrefix={ID} />
          </div>
          <fieldset className="setting">
            <legend>{t('Position')}</legend>
            {(['bottom-right', 'bottom-left'] as const).map((p) => (
              <label key={p} className="check">
                <input type="radio" name="position" value={p} checked={draft.position === p} onChange={() => setDraft({ ...draft, position: p })} />
                {p === 'bottom-right' ? t('Bottom right') : t('Bottom left')}
              </label>
            ))}
            <FieldError errors={errors} field="position" idPrefix={ID} />
          </fieldset>
          <div className="setting">
            <label htmlFor={`${ID}-launcher_text`}>{t('Launcher text')}</label>
            <input {...text('launcher_text', 40)} />
            <FieldError errors={errors} field="launcher_text" idPrefix={ID} />
          </div>
          <div className="setting">
            <label htmlFor={`${ID}-title`}>{t('Title')}</label>
            <input {...text('title', 60)} />
            <FieldError errors={errors} field="title" idPrefix={ID} />
          </div>
          <div className="setting">
            <label className="check">
              <input type="checkbox" name="show_agent_avatars" checked={draft.show_agent_avatars} onChange={(e) => setDraft({ ...draft, show_agent_avatars: e.target.checked })} />
              {t("Show agents' avatars (their initials) beside their messages")}
            </label>
          </div>
          <FormFooter errors={errors} notice={notice} busy={busy} save={t('Save appearance')} />
        </form>
        <Preview look={draft} />
      </div>
      <h3>{t('Add the widget to your site')}</h3>
      <p className="hint">{t('Paste this before the closing </body> tag of every page that should show the chat. The look and the greetings set here apply without changing it.')}</p>
      <SnippetBox snippet={snippet} />
      <GreetingsAdmin {...props} />
    </main>
  );
}

/** The widget as a visitor would see it with the draft, redrawn at each edit (an invalid colour keeps the last good one). */
const oneDecimal = (n: number) => formatNumber(n, { minimumFractionDigits: 1, maximumFractionDigits: 1 });

function Preview({ look }: { look: Look }) {
  const [color, setColor] = useState(HEX_COLOR.test(look.color) ? look.color : '#2457c5');
  useEffect(() => {
    if (HEX_COLOR.test(look.color)) setColor(look.color.toLowerCase());
  }, [look.color]);
  const text = textColorOn(color);
  const ratio = contrastRatio(color, text);
  const accent = { background: color, color: text };
  return (
    <section className="widget-preview-box" aria-labelledby="widget-preview-title">
      <h3 id="widget-preview-title">{t('Preview')}</h3>
      <div className={`widget-preview ${look.position}`} data-testid="widget-preview" data-position={look.position}>
        <div className="preview-window">
          <div className="preview-header" style={accent} data-testid="preview-header">
            {look.title.trim() || ' '}
          </div>
          <div className="preview-log">
            <div className="preview-msg theirs">
              {look.show_agent_avatars && (
                <span className="preview-avatar" style={accent} data-testid="preview-avatar" aria-hidden="true">
                  AL
                </span>
              )}
              {t('Hello! How can we help?')}
            </div>
            <div className="preview-msg mine" style={accent}>
              {t('I have a question about my order.')}
            </div>
          </div>
          <div className="preview-actions">
            <span className="preview-button" style={accent}>
              {t('Send')}
            </span>
          </div>
        </div>
        <span className="preview-launcher" style={accent} data-testid="preview-launcher">
          {look.launcher_text.trim() || ' '}
        </span>
      </div>
      <p className="hint" data-testid="preview-contrast">
        {ratio >= AA_RATIO
          ? t('Text on this colour: {text}, contrast {ratio}:1 (meets WCAG AA).', { text: text === '#ffffff' ? t('white') : t('black'), ratio: oneDecimal(ratio) })
          : t('Text on this colour: {text}, contrast {ratio}:1 (below WCAG AA).', { text: text === '#ffffff' ? t('white') : t('black'), ratio: oneDecimal(ratio) })}
      </p>
    </section>
  );
}

function SnippetBox({ snippet }: { snippet: string }) {
  const [copied, setCopied] = useState<string | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(snippet);
      setCopied(t('Copied to the clipboard.'));
    } catch {
      setCopied(t('Copying is not allowed here: select the text and copy it.'));
    }
  };
  return (
    <div className="snippet">
      <label htmlFor="widget-snippet" className="visually-hidden">
        {t('Widget snippet')}
      </label>
      <textarea id="widget-snippet" readOnly rows={2} value={snippet} onFocus={(e) => e.target.select()} data-testid="widget-snippet" />
      <div className="actions">
        <button type="button" onClick={() => void copy()}>
          {t('Copy snippet')}
        </button>
        <span role="status">{copied}</span>
      </div>
    </div>
  );
}
