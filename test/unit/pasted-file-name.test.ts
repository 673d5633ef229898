// The name the console and the widget give a pasted file the browser left
// unnamed: its type's extension, so the server's check of names against
// types (attachments_allowed_types) lets a pasted JPEG in.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { uploadName } from '../../web/shared/file-name.js';
import { isAllowed } from '../../src/files/limits.js';

it('an unnamed file is named after its type', () => {
  assert.equal(uploadName('', 'image/jpeg'), 'pasted-image.jpg');
  assert.equal(uploadName('', 'image/png'), 'pasted-image.png');
  assert.equal(uploadName('', 'image/gif'), 'pasted-image.gif');
  assert.equal(uploadName('', 'image/webp'), 'pasted-image.webp');
  assert.equal(uploadName('', 'IMAGE/JPEG'), 'pasted-image.jpg');
  assert.equal(uploadName('', 'image/bmp'), 'pasted-image');
  assert.equal(uploadName('', 'text/plain'), 'pasted-file');
  assert.equal(uploadName('', ''), 'pasted-file');
});

it('a named file keeps its name', () => {
  assert.equal(uploadName('photo.png', 'image/jpeg'), 'photo.png');
});

it('with the default allowed types, every pasted picture passes', () => {
  const defaults = ['image/*', 'application/pdf', 'text/plain', 'text/csv', '.pdf', '.txt', '.csv', '.docx', '.xlsx', '.pptx', '.odt', '.ods', '.zip'];
  for (const type of ['image/jpeg', 'image/png', 'image/gif', 'image/webp', 'image/bmp', 'image/heic']) {
    assert.equal(isAllowed(defaults, type, uploadName('', type)), true, type);
  }
});
