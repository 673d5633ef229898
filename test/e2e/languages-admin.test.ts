import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Page } from 'playwright-core';
import { browserServer, haveChromium, noteMissingChromium } from '../helpers/browser.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { httpJson } from '../helpers/http.js';
import { describeEachStore } from '../helpers/stores.js';

// The console's admin and report pages in the browser's language
// (docs/web.md, "Languages"): an admin whose browser speaks Spanish or
// Indonesian sees the admin navigation, the business hours, the attachment
// limits and the dashboard's reports in it, with dates and numbers written
// by Intl as that language writes them.

noteMissingChromium('test/e2e/languages-admin.test.ts');

describeEachStore('the admin and report pages in other languages', (store) => {
  const suite = browserServer(store);

  /** An admin's console in a browser set to `locale`, signed in through the API (the sign-in form is the desk's, tested there). */
  async function adminConsole(locale: string, path: string): Promise<{ page: Page; problems: string[] }> {
    const admin = await makeAgent(suite.server.ctx, { role: 'admin', capacity: 0, name: 'Root' });
    const login = await httpJson(suite.server.url, 'POST', '/api/v1/auth/login', { email: admin.email, password: PASSWORD });
    const { page, problems } = await suite.openPage(undefined, { locale });
    await page.addInitScript((auth) => localStorage.setItem('switchboard-console', auth), JSON.stringify({ token: login.body.token, agent: login.body.agent }));
    await page.goto(`${suite.server.url}${path}`);
    return { page, problems };
  }

  it('in Spanish: the admin navigation, business hours, attachment limits and reports, with Intl dates and numbers', { skip: !haveChromium }, async () => {
    const { page, problems } = await adminConsole('es-ES', '/admin/hours');
    await page.getByRole('heading', { name: 'Horario de atención', level: 2 }).waitFor();
    assert.equal(await page.locator('html').getAttribute('lang'), 'es');
    for (const name of ['Agentes', 'Ajustes', 'Adjuntos', 'Formulario previo al chat', 'Horario de atención', 'Correo']) {
      await page.getByRole('link', { name, exact: true }).waitFor();
    }

    // the days are Intl's names of the weekdays in Spanish
    await page.getByLabel('Usar horario de atención (sin marcar: siempre abierto)').check();
    await page.getByLabel('Lunes (predeterminado)').fill('09:00-17:00');
    await page.getByLabel('Domingo (predeterminado)').waitFor();
    await page.getByRole('button', { name: 'Guardar horario de atención' }).click();
    await page.getByRole('status').filter({ hasText: 'Guardado. El widget y las esperas previstas siguen el nuevo horario de inmediato.' }).waitFor();
    await page.getByRole('heading', { name: 'Cuándo muestra el widget el formulario fuera de línea' }).waitFor();

    // a size in bytes, grouped as Spanish groups digits
    await page.getByRole('link', { name: 'Adjuntos', exact: true }).click();
    await page.getByLabel('Archivo más grande (MB)').waitFor();
    await page.getByText(`${new Intl.NumberFormat('es').format(10 * 1024 * 1024)} bytes.`).waitFor();
    await page.getByLabel('Archivo más grande (MB)').fill('0');
    await page.getByRole('button', { name: 'Guardar límites' }).click();
    await page.locator('#attachments-attachments_max_bytes-error').filter({ hasText: 'El archivo más grande debe ser un número de MB mayor que 0 y de 100 como máximo.' }).waitFor();

    // the reports: headings, columns, and the period's days as Spanish dates
    await page.goto(`${suite.server.url}/dashboard`);
    const reports = page.getByRole('region', { name: 'Informes' });
    await reports.getByRole('button', { name: 'Descargar CSV' }).waitFor();
    await reports.getByRole('button', { name: 'Por departamento' }).click();
    const table = reports.getByTestId('report-table');
    await table.getByRole('columnheader', { name: 'Primera respuesta (mediana)' }).waitFor();
    await table.getByRole('columnheader', { name: 'Departamento' }).waitFor();
    const from = await reports.getByTestId('report-from').inputValue();
    const to = await reports.getByTestId('report-to').inputValue();
    const day = (iso: string) => new Intl.DateTimeFormat('es', { dateStyle: 'medium' }).format(new Date(`${iso}T00:00:00`));
    assert.equal(await table.locator('caption').textContent(), `Informe por departamento, del ${day(from)} al ${day(to)}`);
    await reports.getByText('No se resolvió ninguna conversación en este período.').waitFor();
    // the dashboard's clock: a Spanish time
    assert.match((await page.locator('.updated').textContent()) ?? '', /^Actualizado a las \d{1,2}:\d{2}:\d{2}$/);
    await page.getByRole('heading', { name: 'Asignaciones y resoluciones' }).waitFor();
    assert.match((await page.getByTestId('activity-chart').getAttribute('aria-label')) ?? '', /0 asignaciones y 0 resoluciones en total\.$/);

    // the refused save of 0 MB was the page's own check: nothing reached the server
    assert.deepEqual(problems, []);
  });

  it('in Indonesian: the admin navigation and the business hours, with the weekdays named by Intl', { skip: !haveChromium }, async () => {
    const { page, problems } = await adminConsole('id-ID', '/admin/hours');
    await page.getByRole('heading', { name: 'Jam kerja', level: 2 }).waitFor();
    assert.equal(await page.locator('html').getAttribute('lang'), 'id');
    for (const name of ['Agen', 'Pengaturan', 'Lampiran', 'Formulir pra-obrolan', 'Jam kerja']) {
      await page.getByRole('link', { name, exact: true }).waitFor();
    }
    await page.getByLabel('Gunakan jam kerja (tidak dicentang: selalu buka)').check();
    await page.getByLabel('Senin (bawaan)').waitFor();
    await page.getByLabel('Minggu (bawaan)').waitFor();
    await page.getByRole('link', { name: 'Agen', exact: true }).click();
    await page.getByRole('heading', { name: 'Agen baru' }).waitFor();
    await page.getByRole('columnheader', { name: 'Beban / kapasitas' }).waitFor();
    assert.deepEqual(problems, []);
  });
});
