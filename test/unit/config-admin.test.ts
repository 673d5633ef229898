// ADMIN_EMAIL and ADMIN_PASSWORD make the first admin: the configuration
// takes only what the API takes, so that admin can log in (the login caps a
// password at 200 characters, an email at 254) and the first start does not
// fail inside createAgent on a password the API would call weak.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';

const refused = (env: Record<string, string>, variable: string, message: RegExp) =>
  assert.throws(
    () => loadConfig(env),
    (e: unknown) => e instanceof ConfigError && e.variable === variable && e.message.startsWith(variable) && message.test(e.message),
    `${JSON.stringify(env).slice(0, 80)} refused as ${variable} ${message}`,
  );

describe('configuration: the bootstrap admin', () => {
  it('refuses an ADMIN_PASSWORD longer than the login takes (200 characters)', () => {
    refused({ ADMIN_PASSWORD: 'Long-admin-pass ' + 'abcdefghij'.repeat(20) }, 'ADMIN_PASSWORD', /at most 200 characters/);
    refused({ ADMIN_PASSWORD: 'x'.repeat(150) + 'y'.repeat(51) }, 'ADMIN_PASSWORD', /8–200 characters|at most 200/);
  });

  it('takes 8 and 200 characters, counted as the API counts them (code points)', () => {
    assert.equal(loadConfig({ ADMIN_PASSWORD: 'kq7-mv3p' }).adminPassword, 'kq7-mv3p');
    const longest = 'ab'.repeat(100);
    assert.equal(loadConfig({ ADMIN_PASSWORD: longest }).adminPassword, longest);
    const emoji = '🔑🔒'.repeat(100); // 400 UTF-16 units, 200 characters
    assert.equal(loadConfig({ ADMIN_PASSWORD: emoji }).adminPassword, emoji);
    refused({ ADMIN_PASSWORD: '🔑🔒🗝🔐' }, 'ADMIN_PASSWORD', /at least 8 characters/); // 8 UTF-16 units, 4 characters
  });

  it('refuses a weak ADMIN_PASSWORD as the API does: common, one character repeated, the email', () => {
    refused({ ADMIN_PASSWORD: 'password1' }, 'ADMIN_PASSWORD', /most common passwords/);
    refused({ ADMIN_PASSWORD: 'Switchboard' }, 'ADMIN_PASSWORD', /most common passwords/);
    refused({ ADMIN_PASSWORD: 'zzzzzzzzzz' }, 'ADMIN_PASSWORD', /one character repeated/);
    refused({ ADMIN_EMAIL: 'rootuser@example.test', ADMIN_PASSWORD: 'RootUser' }, 'ADMIN_PASSWORD', /email address/);
    refused({ ADMIN_EMAIL: 'rootuser@example.test', ADMIN_PASSWORD: 'rootuser@example.test' }, 'ADMIN_PASSWORD', /email address/);
    // without ADMIN_EMAIL the admin is admin@localhost
    refused({ ADMIN_PASSWORD: 'admin@localhost' }, 'ADMIN_PASSWORD', /email address/);
    assert.equal(loadConfig({ ADMIN_EMAIL: 'rootuser@example.test', ADMIN_PASSWORD: 'rootuser-2024!' }).adminPassword, 'rootuser-2024!');
  });

  it('refuses an ADMIN_EMAIL longer than 254 characters, as the API does', () => {
    const local = 'a'.repeat(64);
    const at254 = `${local}@${'b'.repeat(254 - 65 - 5)}.test`;
    assert.equal(at254.length, 254);
    assert.equal(loadConfig({ ADMIN_EMAIL: at254 }).adminEmail, at254);
    refused({ ADMIN_EMAIL: `${local}@${'b'.repeat(254 - 64 - 5)}.test` }, 'ADMIN_EMAIL', /at most 254 characters/);
  });
});
