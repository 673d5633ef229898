// /widget.js: one <script src="https://your-switchboard/widget.js"> on any page
// adds a chat launcher; the chat itself runs in an iframe served by
// Switchboard (/widget/frame), so the host page's styles and scripts cannot
// reach it, and it talks to its own origin with no CORS to set up. The look
// (colour, position, launcher text, title) and the proactive greetings come
// from GET /api/v1/widget-settings, as an admin set them in the console; the
// attributes below override the look for one page.
//
// Options, as data- attributes of the script tag:
//   data-title       the chat window's title and the launcher's text
//   data-launcher-text  the launcher's text only
//   data-department  route chats to this department
//   data-color       the launcher's and the chat's colour (#rrggbb; another CSS colour: the launcher's only)
//   data-position    bottom-right or bottom-left
//   data-open        "true": open the chat when the page loads
//   data-locale      the widget's language: en, id, pt-BR or es (default: the browser's)
//   data-customer-id    the signed-in customer's id on your site
//   data-customer-hash  HMAC-SHA256(WIDGET_IDENTITY_SECRET, customer id), lowercase
//                       hex, computed by your server: the chat is then verified
//                       (docs/identity-verification.md). Without an id the widget
//                       uses a random visitor id kept in this browser.
//   data-customer-name, data-customer-email, data-customer-phone
//                    prefill the pre-chat form's name, email and phone
//                    fields, when it has them (the customer can still edit)
import { HEX_COLOR, textColorOn } from '../../src/appearance/contrast';
import { pickLocale, type Locale } from '../shared/locale';
import { armGreetings, forgetGreeting, visitor, type LoaderGreeting } from './loader-greetings';
import { CLOSE, FRAME_READY, greetingAnswer, HIDDEN, SHOWN, TOLD_PARAM, unseenCount } from '../shared/frame-messages';

interface WidgetSettings {
  color: string;
  text_color: string;
  position: 'bottom-right' | 'bottom-left';
  launcher_text: string;
  title: string;
  greetings: LoaderGreeting[];
}

// The launcher's own words: a table, not the i18n library, to keep widget.js small.
// The default title and launcher text are translated; an admin's own words are shown as written.
// `unseen`: the launcher's badge, read out with its text, for the agent's messages that came while the chat was minimised.
const WORDS: Record<Locale, { chat: string; close: string; unseen: (count: number) => string }> = {
  en: { chat: 'Chat with us', close: 'Close chat', unseen: (n) => (n === 1 ? '1 new message' : `${n} new messages`) },
  id: { chat: 'Chat dengan kami', close: 'Tutup chat', unseen: (n) => `${n} pesan baru` },
  'pt-BR': { chat: 'Fale conosco', close: 'Fechar chat', unseen: (n) => (n === 1 ? '1 nova mensagem' : `${n} novas mensagens`) },
  es: { chat: 'Chatea con nosotros', close: 'Cerrar chat', unseen: (n) => (n === 1 ? '1 mensaje nuevo' : `${n} mensajes nuevos`) },
};

// How long a greeting's hidden frame has to answer before the loader gives up on it (see greet below).
const GREETING_ANSWER_MS = 15_000;

const DEFAULTS: WidgetSettings = { color: '#2457c5', text_color: '#ffffff', position: 'bottom-right', launcher_text: 'Chat with us', title: 'Chat with us', greetings: [] };

(() => {
  const script = document.currentScript as HTMLScriptElement | null;
  if (!script || (window as unknown as { __switchboardWidget?: boolean }).__switchboardWidget) return;
  (window as unknown as { __switchboardWidget?: boolean }).__switchboardWidget = true;
  const origin = new URL(script.src, location.href).origin;
  const data = script.dataset;
  const me = visitor();
  // The identity rides in the fragment, which browsers never send to a server
  // or in a Referer: the hash vouches for the customer and stays in the frame.
  const identity = new URLSearchParams();
  if (script.dataset.customerId) identity.set('customer_id', script.dataset.customerId);
  if (script.dataset.customerId && script.dataset.customerHash) identity.set('customer_hash', script.dataset.customerHash);
  // (personal details stay out of the frame's URL query, so out of logs, like the identity)
  for (const part of ['name', 'email', 'phone'] as const) {
    const value = script.dataset[`customer${part[0]!.toUpperCase()}${part.slice(1)}`];
    if (value) identity.set(`customer_${part}`, value);
  }
  // the visitor id greetings are counted by (POST /api/v1/greetings/:id/events, from the frame)
  identity.set('visitor', me.id);
  const OPEN_KEY = 'switchboard-widget-open';

  const start = (settings: WidgetSettings) => {
    const saved = HEX_COLOR.test(settings.color) && HEX_COLOR.test(settings.text_color) ? settings : DEFAULTS;
    // data-color: a hex colour gets its readable text colour and colours the chat too; any
    // other CSS colour (as before the look was a setting) colours the launcher, with white text
    const hex = HEX_COLOR.test(data.color ?? '') ? data.color!.toLowerCase() : null;
    const css = !hex && /^[#a-zA-Z0-9(),.\s%]+$/.test(data.color ?? '') ? data.color! : null;
    const color = hex ?? css ?? saved.color;
    const textColor = hex ? textColorOn(hex) : css ? '#ffffff' : saved.text_color;
    const position = data.position === 'bottom-left' || data.position === 'bottom-right' ? data.position : settings.position;
    const locale = pickLocale([data.locale, ...navigator.languages]);
    const words = WORDS[locale];
    const translated = (text: string) => (text === WORDS.en.chat ? words.chat : text);
    const title = data.title || translated(settings.title);
    const launcherText = data.launcherText || data.title || translated(settings.launcher_text);
    const side = position === 'bottom-left' ? 'left' : 'right';
    // this loader tells the frame when it shows and hides it (src/shown.ts)
    const params = new URLSearchParams({ title, locale, [TOLD_PARAM.name]: TOLD_PARAM.value });
    if (script.dataset.department) params.set('department', script.dataset.department);
    if (hex) params.set('color', hex);

    const host = document.createElement('div');
    host.setAttribute('data-switchboard-widget', '');
    const shadow = host.attachShadow({ mode: 'open' });
    const style = document.createElement('style');
    style.textContent = `
      .launcher { position: fixed; ${side}: 20px; bottom: 20px; z-index: 2147483646; border: 0; border-radius: 28px;
        padding: 14px 20px; font: 600 15px/1 system-ui, sans-serif; color: ${textColor}; background: ${color}; cursor: pointer;
        box-shadow: 0 4px 14px rgba(0,0,0,.25); }
      .launcher:focus-visible { outline: 3px solid #ffbf47; outline-offset: 2px; }
      .badge { display: inline-block; min-width: 20px; margin-left: 8px; padding: 3px 6px; border-radius: 10px; box-sizing: border-box;
        font: 700 12px/14px system-ui, sans-serif; color: #fff; background: #c62828; text-align: center; }
      .badge[hidden] { display: none; }
      iframe { position: fixed; ${side}: 20px; bottom: 80px; z-index: 2147483647; width: 370px; height: min(580px, calc(100vh - 100px));
        border: 0; border-radius: 12px; box-shadow: 0 8px 30px rgba(0,0,0,.3); background: #fff; }
      iframe[hidden] { display: none; }
      @media (max-width: 480px) { iframe { ${side}: 0; bottom: 0; width: 100vw; height: calc(100vh - 70px); border-radius: 0; }
        .launcher { ${side}: 12px; bottom: 12px; } }`;
    const button = document.createElement('button');
    button.className = 'launcher';
    button.type = 'button';
    const label = document.createElement('span');
    const badge = document.createElement('span');
    badge.className = 'badge';
    // (the button's own label says it, in words)
    badge.setAttribute('aria-hidden', 'true');
    button.append(label, badge);
    button.setAttribute('data-position', position);
    button.setAttribute('aria-expanded', 'false');
    button.setAttribute('aria-controls', 'switchboard-chat');
    let frame: HTMLIFrameElement | undefined;
    // a greeting's frame, loaded hidden until it says whether it drew the greeting
    let pendingGreeting: LoaderGreeting | undefined;
    // the visitor opened or closed the chat while that answer was awaited: the window is theirs to open from then on
    let touched = false;
    // the agent's messages the frame says the customer has not seen (src/shown.ts)
    let unseen = 0;

    const drawLauncher = () => {
      const open = button.getAttribute('aria-expanded') === 'true';
      label.textContent = open ? words.close : launcherText;
      const count = open ? 0 : unseen;
      badge.hidden = count === 0;
      badge.textContent = count === 0 ? '' : count > 99 ? '99+' : String(count);
      if (count > 0) button.setAttribute('aria-label', `${launcherText} (${words.unseen(count)})`);
      else button.removeAttribute('aria-label');
    };
    // the frame said it listens (FRAME_READY): told before, a message would go to its blank first page
    let frameReady = false;
    // The frame cannot tell it is hidden (its document stays visible): told whenever it changes, and once it is ready.
    const tellFrame = () => {
      if (frame?.contentWindow && frameReady) frame.contentWindow.postMessage(frame.hidden ? HIDDEN : SHOWN, origin);
    };

    const makeFrame = (greeting?: LoaderGreeting) => {
      frame = document.createElement('iframe');
      frameReady = false;
      frame.id = 'switchboard-chat';
      frame.title = title;
      frame.hidden = true;
      if (greeting) params.set('greeting', greeting.id);
      else params.delete('greeting');
      const fragment = identity.toString();
      frame.src = `${origin}/widget/frame?${params}${fragment ? `#${fragment}` : ''}`;
      shadow.appendChild(frame);
    };

    /**
     * `focus`: the visitor asked (the launcher): the chat takes the keyboard.
     * Opened by itself (a greeting, a chat left open on the previous page)
     * it does not: focus jumping into the chat would swallow what the
     * visitor is typing in the page.
     */
    const setOpen = (open: boolean, focus = false) => {
      if (open && !frame) makeFrame();
      if (frame) frame.hidden = !open;
      button.setAttribute('aria-expanded', String(open));
      drawLauncher();
      tellFrame();
      try {
        sessionStorage.setItem(OPEN_KEY, open ? '1' : '0');
      } catch {
        // storage may be disabled; the launcher still works
      }
      if (open && focus) frame?.focus();
    };

    /**
     * A greeting: the frame loads hidden and answers once whether it drew
     * the greeting (src/look.tsx). Drawn (a live chat is offered): the chat
     * opens. Outside the hours, or when the frame could not read it, the
     * greeting is neither reported nor kept as greeted, so a later page view
     * can still greet; the hidden frame goes (unless the visitor opened it
     * meanwhile) and nothing pops open. With a chat going on, the window
     * shows that chat, once, as a greeting always did before it waited for
     * the frame (a hidden frame would hold the chat where the visitor cannot
     * see the agent's messages); it is not reported shown.
     *
     * Once the visitor opened or closed the chat with the launcher before the
     * answer, the answer no longer opens the window (it would reopen a chat
     * the visitor just closed); the greeting is still kept or forgotten as
     * the answer says (drawn in the window the visitor opened: shown).
     *
     * A frame that never answers (its page failed, a CSP refused it, a
     * stalled request) would otherwise stay hidden for the page view with the
     * greeting spent: after GREETING_ANSWER_MS the greeting is forgotten (a
     * later page view may greet) and the frame, still hidden, goes.
     */
    const greet = (greeting: LoaderGreeting) => {
      makeFrame(greeting);
      pendingGreeting = greeting;
      touched = false;
      const waited = frame;
      setTimeout(() => {
        if (pendingGreeting !== greeting || frame !== waited) return;
        pendingGreeting = undefined;
        forgetGreeting(greeting.id);
        if (frame && frame.hidden) {
          frame.remove();
          frame = undefined;
          unseen = 0;
          drawLauncher();
        }
      }, GREETING_ANSWER_MS);
    };

    button.addEventListener('click', () => {
      touched = true;
      setOpen(button.getAttribute('aria-expanded') !== 'true', true);
    });
    window.addEventListener('message', (event) => {
      if (event.origin !== origin) return;
      const unseenNow = unseenCount(event.data);
      const answer = greetingAnswer(event.data);
      if (event.data === CLOSE) {
        touched = true;
        setOpen(false);
        button.focus();
      } else if (event.data === FRAME_READY && frame && event.source === frame.contentWindow) {
        frameReady = true;
        tellFrame();
      } else if (unseenNow !== undefined && frame && event.source === frame.contentWindow) {
        unseen = unseenNow;
        drawLauncher();
      } else if (answer && frame && event.source === frame.contentWindow && pendingGreeting) {
        const greeting = pendingGreeting;
        pendingGreeting = undefined;
        // A chat going on popped open once, as a drawn greeting does: kept as greeted, or every page view would open it again.
        if (answer === 'closed' || answer === 'skipped') forgetGreeting(greeting.id);
        if (answer === 'shown' || answer === 'chat') {
          // (the visitor's own open or close, made meanwhile, stands)
          if (!touched) setOpen(true);
        } else if (frame.hidden) {
          // (a chat the visitor opened meanwhile stays)
          frame.remove();
          frame = undefined;
          unseen = 0;
          drawLauncher();
        }
      }
    });
    drawLauncher();
    shadow.append(style, button);
    const mount = () => {
      document.body.appendChild(host);
      let reopen = script.dataset.open === 'true';
      try {
        reopen ||= sessionStorage.getItem(OPEN_KEY) === '1';
      } catch {
        // ignore
      }
      if (reopen) setOpen(true);
      // greetings only for a visitor who has not opened the chat in this page
      armGreetings(settings.greetings, { path: location.pathname + location.search, firstVisit: me.firstVisit }, () => !frame, greet);
    };
    if (document.body) mount();
    else document.addEventListener('DOMContentLoaded', mount);
  };

  // Without the settings (server unreachable, an old server) the widget still works, with the default look and no greetings.
  fetch(`${origin}/api/v1/widget-settings?visitor=${encodeURIComponent(me.id)}`, { credentials: 'omit' })
    .then((res) => (res.ok ? (res.json() as Promise<WidgetSettings>) : DEFAULTS))
    .catch(() => DEFAULTS)
    .then((settings) => start({ ...DEFAULTS, ...settings }));
})();
