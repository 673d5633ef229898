// Form-encoded Qiscus webhooks as Laravel-style scripts post them: nested
// fields in brackets read into the object a JSON body would be.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { formFields } from '../../src/channels/qiscus/form-body.js';

it('reads brackets as nested fields and [] as a list, as PHP does', () => {
  assert.deepEqual(formFields('room_id=7&service[room_id]=7&service[id]=12&latest_service[is_resolved]=1&tags[]=a&tags[]=b&a[b][c]=d'), {
    room_id: '7',
    service: { room_id: '7', id: '12' },
    latest_service: { is_resolved: '1' },
    tags: ['a', 'b'],
    a: { b: { c: 'd' } },
  });
});

it("names what Object.prototype has as fields of the form's own, and never touches a prototype", () => {
  assert.deepEqual(formFields('toString[x]=1&valueOf=2&constructor[a]=3&__proto__[polluted]=4&a[__proto__][b]=5'), { toString: { x: '1' }, valueOf: '2' });
  assert.equal(({} as { polluted?: unknown }).polluted, undefined);
});

it('refuses, naming the key, what is both a value and a group, a [ without its ], and text after the brackets; an empty key names nothing', () => {
  assert.throws(() => formFields('service=1&service[id]=2'), /service\[id\] is both a value and a group of fields \(service\)/);
  assert.throws(() => formFields('service[id]=2&service=1'), /service is both a value and a group of fields/);
  assert.throws(() => formFields('service[id=2'), /service\[id has a \[ without its \]/);
  assert.throws(() => formFields('service[id]x=2'), /service\[id\]x is not a field name/);
  assert.throws(() => formFields('tags[]=a&tags[x]=b'), /tags\[x\]/);
  assert.deepEqual(formFields('=x&a=1'), { a: '1' });
});
