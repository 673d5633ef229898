// ADMIN_EMAIL and ADMIN_PASSWORD make the first admin. The password is read
// only then (ensureAdmin), and judged then by the API's rules, so the admin
// can log in (the login caps a password at 200 characters) and the first
// start does not fail inside createAgent on a password the API calls weak.
// loadConfig checks only what holds for any use: at least 8 characters; a
// deployment whose admin exists keeps starting with the value it left set.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkAdminPassword, ConfigError, loadConfig } from '../../src/config.js';

const isConfigError = (variable: string, message: RegExp) => (e: unknown) =>
  e instanceof ConfigError && e.variable === variable && e.message.startsWith(variable) && message.test(e.message);
const refused = (env: Record<string, string>, variable: string, message: RegExp) =>
  assert.throws(() => loadConfig(env), isConfigError(variable, message), `${JSON.stringify(env).slice(0, 80)} refused as ${variable} ${message}`);
const judged = (password: string, email: string, message: RegExp) =>
  assert.throws(() => checkAdminPassword(password, email), isConfigError('ADMIN_PASSWORD', message), `${password.slice(0, 40)} judged ${message}`);

describe('configuration: the bootstrap admin', () => {
  it('refuses an ADMIN_PASSWORD under 8 characters at once (UTF-16 units, as always: a value that started a deployment still does)', () => {
    assert.equal(loadConfig({ ADMIN_PASSWORD: 'kq7-mv3p' }).adminPassword, 'kq7-mv3p');
    refused({ ADMIN_PASSWORD: 'kq7-mv3' }, 'ADMIN_PASSWORD', /at least 8 characters/);
    assert.equal(loadConfig({ ADMIN_PASSWORD: '🔑🔒🗝🔐' }).adminPassword, '🔑🔒🗝🔐'); // 8 UTF-16 units
    judged('🔑🔒🗝🔐', 'admin@localhost', /at least 8 characters/); // 4 characters: the API refuses it for a new admin
  });

  it('loads a weak or overlong ADMIN_PASSWORD: an existing deployment whose admin was made before these rules keeps starting', () => {
    for (const password of ['changeme', 'password1', 'switchboard', 'x'.repeat(250)]) assert.equal(loadConfig({ ADMIN_PASSWORD: password }).adminPassword, password);
  });

  it('judges the password the first admin is made with: at most 200 characters (what the login takes), code points', () => {
    judged('Long-admin-pass ' + 'abcdefghij'.repeat(20), 'admin@localhost', /at most 200 characters/);
    checkAdminPassword('ab'.repeat(100), 'admin@localhost');
    checkAdminPassword('🔑🔒'.repeat(100), 'admin@localhost'); // 400 UTF-16 units, 200 characters
  });

  it('judges it weak as the API does: common, one character repeated, the email', () => {
    judged('password1', 'admin@localhost', /most common passwords/);
    judged('Switchboard', 'admin@localhost', /most common passwords/);
    judged('zzzzzzzzzz', 'admin@localhost', /one character repeated/);
    judged('RootUser', 'rootuser@example.test', /email address/);
    judged('rootuser@example.test', 'rootuser@example.test', /email address/);
    judged('admin@localhost', 'admin@localhost', /email address/);
    checkAdminPassword('rootuser-2024!', 'rootuser@example.test');
  });

  it('refuses an ADMIN_EMAIL longer than 254 characters, as the API does', () => {
    const local = 'a'.repeat(64);
    const at254 = `${local}@${'b'.repeat(254 - 65 - 5)}.test`;
    assert.equal(at254.length, 254);
    assert.equal(loadConfig({ ADMIN_EMAIL: at254 }).adminEmail, at254);
    refused({ ADMIN_EMAIL: `${local}@${'b'.repeat(254 - 64 - 5)}.test` }, 'ADMIN_EMAIL', /at most 254 characters/);
  });
});
