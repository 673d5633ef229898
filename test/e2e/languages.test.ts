import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, it } from 'node:test';
import { browserServer, haveChromium, noteMissingChromium, signIn } from '../helpers/browser.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { httpJson } from '../helpers/http.js';
import { describeEachStore } from '../helpers/stores.js';

// Languages (docs/web.md, "Languages"): the widget reads the host page's
// data-locale, else the browser's languages; the console the browser's, until
// the agent picks another, which it remembers. Times go through Intl.

noteMissingChromium('test/e2e/languages.test.ts');

describeEachStore('languages in a real browser', (store) => {
  let host: Server;
  let snippet = '';
  before(async () => {
    if (!haveChromium) return;
    // the shop: another origin, its page carrying the widget's snippet
    host = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Shop</title></head><body><h1>Shop</h1>${snippet}</body></html>`);
    });
    await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    if (host) await new Promise((resolve) => host.close(resolve));
  });
  const hostUrl = () => `http://127.0.0.1:${(host.address() as AddressInfo).port}/`;
  const suite = browserServer(store);
  const http = (method: string, path: string, body?: unknown, token?: string) => httpJson(suite.server.url, method, path, body, token);

  it('the widget speaks the host page\'s data-locale (Indonesian), its times formatted by Intl, whatever the browser\'s language', { skip: !haveChromium }, async () => {
    const agent = await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, name: 'Sari' });
    const login = await http('POST', '/api/v1/auth/login', { email: agent.email, password: PASSWORD });
    assert.equal(login.status, 200);
    snippet = `<script src="${suite.server.url}/widget.js" data-locale="id"></script>`;

    const { page: shop, problems } = await suite.openPage({ width: 390, height: 780 }, { locale: 'en-US', timezoneId: 'UTC' });
    await shop.goto(hostUrl());
    await shop.getByRole('button', { name: 'Chat dengan kami' }).click();
    const widget = shop.frameLocator('iframe[title="Chat dengan kami"]');
    await widget.getByText('Beri tahu kami siapa Anda dan kami akan menghubungkan Anda dengan agen.').waitFor();
    assert.equal(await widget.locator('html').getAttribute('lang'), 'id');
    assert.equal(await shop.getByRole('button', { name: 'Tutup chat' }).count(), 1, 'the launcher closes in Indonesian');
    await widget.getByLabel('Nama').fill('Budi');
    await widget.getByLabel('Email').fill('budi@example.test');
    await widget.getByRole('button', { name: 'Mulai chat' }).click();
    await widget.getByTestId('agent').filter({ hasText: 'Anda sedang chat dengan Sari.' }).waitFor();

    // the agent answers; the widget shows the message's time as Intl writes it in Indonesian (14.05, not 2:05 PM)
    const mine = await http('GET', `/api/v1/conversations?state=assigned&agent=${agent.id}`, undefined, login.body.token);
    const conversation = mine.body[0];
    const sent = await http('POST', `/api/v1/conversations/${conversation.id}/messages`, { text: 'Halo Budi' }, login.body.token);
    assert.equal(sent.status, 201);
    const time = new Intl.DateTimeFormat('id', { hour: '2-digit', minute: '2-digit', timeZone: 'UTC' }).format(new Date(sent.body.created_at));
    assert.match(time, /^\d\d\.\d\d$/);
    const message = widget.getByTestId('message').filter({ hasText: 'Halo Budi' });
    await message.waitFor();
    assert.equal((await message.locator('small').textContent())?.trim(), time);
    await widget.getByLabel('Pesan Anda').fill('Terima kasih');
    await widget.getByRole('button', { name: 'Kirim' }).click();
    await widget.getByTestId('message').filter({ hasText: 'Terima kasih' }).getByText(/Terkirim|Dibaca/).waitFor();
    assert.deepEqual(problems, []);
  });

  it('without data-locale the widget follows the browser (es-ES reads Spanish)', { skip: !haveChromium }, async () => {
    await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, name: 'Lucía' });
    snippet = `<script src="${suite.server.url}/widget.js"></script>`;
    const { page: shop, problems } = await suite.openPage({ width: 390, height: 780 }, { locale: 'es-ES' });
    await shop.goto(hostUrl());
    await shop.getByRole('button', { name: 'Chatea con nosotros' }).click();
    const widget = shop.frameLocator('iframe[title="Chatea con nosotros"]');
    await widget.getByText('Dinos quién eres y te conectaremos con un agente.').waitFor();
    assert.equal(await widget.locator('html').getAttribute('lang'), 'es');
    await widget.getByLabel('Nombre').fill('Mateo');
    await widget.getByLabel('Correo electrónico').fill('mateo@example.test');
    await widget.getByRole('button', { name: 'Iniciar chat' }).click();
    await widget.getByTestId('agent').filter({ hasText: 'Estás chateando con Lucía.' }).waitFor();
    await widget.getByRole('button', { name: 'Terminar chat' }).waitFor();
    assert.deepEqual(problems, []);
  });

  it('the console follows a pt-BR browser; the agent picks English, which stays after a reload', { skip: !haveChromium }, async () => {
    const agent = await makeAgent(suite.server.ctx, { status: 'online', name: 'Joana' });
    const { page: desk, problems } = await suite.openPage(undefined, { locale: 'pt-BR' });
    await desk.goto(`${suite.server.url}/`);
    // set once the catalog is loaded, which may come after the load event on a busy machine
    await desk.locator('html[lang="pt-BR"]').waitFor({ state: 'attached' });
    await desk.getByLabel('E-mail').fill(agent.email);
    await desk.getByLabel('Senha').fill(PASSWORD);
    await desk.getByRole('button', { name: 'Entrar' }).click();
    await desk.getByText('● ao vivo').waitFor();
    const nav = desk.getByRole('navigation', { name: 'Páginas' });
    await nav.getByRole('link', { name: 'Buscar' }).waitFor();
    await nav.getByRole('link', { name: 'Respostas prontas' }).waitFor();
    await nav.getByRole('link', { name: 'Notificações' }).waitFor();
    await desk.getByTestId('tab-mine').filter({ hasText: 'Minhas (0)' }).waitFor();
    await desk.getByRole('button', { name: 'Sair' }).waitFor();

    await desk.getByLabel('Idioma').selectOption('en');
    await desk.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Canned responses' }).waitFor();
    assert.equal(await desk.locator('html').getAttribute('lang'), 'en');
    await desk.reload();
    await desk.getByText('● live').waitFor();
    await desk.getByTestId('tab-mine').filter({ hasText: 'Mine (0)' }).waitFor();
    await desk.getByRole('button', { name: 'Log out' }).waitFor();
    assert.equal(await desk.locator('html').getAttribute('lang'), 'en');
    assert.equal(await desk.getByLabel('Language').inputValue(), 'en');
    assert.deepEqual(problems, []);
  });

  it('signIn still works in English when the browser is English', { skip: !haveChromium }, async () => {
    const agent = await makeAgent(suite.server.ctx, { status: 'online', name: 'Ellen' });
    const { page: desk } = await suite.openPage(undefined, { locale: 'en-GB' });
    await signIn(desk, suite.server.url, agent.email);
    assert.equal(await desk.locator('html').getAttribute('lang'), 'en');
  });
  it('a pre-chat form\'s errors read in the customer\'s language (pt-BR from data-locale), and nothing starts', { skip: !haveChromium }, async () => {
    const admin = await makeAgent(suite.server.ctx, { role: 'admin', name: 'Root' });
    await makeAgent(suite.server.ctx, { status: 'online', capacity: 2, name: 'Ana' });
    const token = (await http('POST', '/api/v1/auth/login', { email: admin.email, password: PASSWORD })).body.token as string;
    const form = {
      fields: [
        { key: 'email', label: 'E-mail', type: 'email', required: true },
        { key: 'phone', label: 'Telefone', type: 'phone', required: false },
        { key: 'order', label: 'Pedido', type: 'text', required: true },
      ],
    };
    assert.equal((await http('PUT', '/api/v1/prechat-form', form, token)).status, 200);
    snippet = `<script src="${suite.server.url}/widget.js" data-locale="pt-BR"></script>`;
    const { page: shop, problems } = await suite.openPage({ width: 390, height: 780 }, { locale: 'en-US' });
    await shop.goto(hostUrl());
    await shop.getByRole('button', { name: 'Fale conosco' }).click();
    const widget = shop.frameLocator('iframe[title="Fale conosco"]');
    await widget.getByLabel('E-mail').fill('ana@example');
    await widget.getByLabel('Telefone').fill('12');
    await widget.getByRole('button', { name: 'Iniciar chat' }).click();
    await widget.locator('#prechat-order-error').waitFor();
    assert.equal(await widget.locator('#prechat-order-error').textContent(), 'Pedido é obrigatório.');
    assert.equal(await widget.locator('#prechat-email-error').textContent(), 'E-mail deve ser um endereço de e-mail, como nome@exemplo.com.');
    assert.match((await widget.locator('#prechat-phone-error').textContent()) ?? '', /^Telefone deve ser um número de telefone: de 5 a 20 dígitos/);
    assert.equal((await suite.server.db.query('select id from conversations')).length, 0, 'nothing started');
    assert.deepEqual(problems, []);
  });
});
