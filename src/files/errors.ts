import { AppError, invalid, RateLimited } from '../errors.js';
import { LARGEST_FILES_WORTH, UNSENT_MESSAGES_WORTH } from './quota.js';

// The mistakes an upload or a download can make. Each names the setting it
// ran into, so an admin knows which one to change.

export const fileTooLarge = (max: number) =>
  new AppError('SB_ATTACHMENT_TOO_LARGE', `file is larger than attachments_max_bytes (${max} bytes); send a smaller file`, 413, 'file');

export const fileTypeRefused = (type: string, name: string, allowed: readonly string[], extension?: string) =>
  new AppError(
    'SB_ATTACHMENT_TYPE',
    extension
      ? `file ${JSON.stringify(name)}: its extension ${extension} is not among attachments_allowed_types (${allowed.join(', ') || 'none'}) nor an extension of its type ${type}; rename the file, or list ${extension} in attachments_allowed_types`
      : `file ${JSON.stringify(name)} of type ${type} is not among attachments_allowed_types (${allowed.join(', ') || 'none'})`,
    422,
    'file',
  );

export const tooManyFiles = (count: number, max: number) =>
  new AppError('SB_ATTACHMENT_LIMIT', `attachments carries ${count} uploaded files; attachments_max_files allows ${max} per message`, 422, 'attachments');

export const fileMissing = () => invalid('file', 'is required: send multipart/form-data with the file in a part named file');

export const multipartMalformed = (reason: string) =>
  invalid('file', `could not be read: the multipart/form-data body is malformed (${reason}); send the whole body, with the boundary its content-type names`);

export const notMultipart = () =>
  new AppError('SB_UNSUPPORTED_MEDIA_TYPE', 'an upload is multipart/form-data with the file in a part named file', 415, 'file');

export const unknownAttachment = (index: number) => invalid(`attachments.${index}.id`, 'is not a file uploaded to this conversation');

export const fileIdInvalid = (index: number) => invalid(`attachments.${index}.id`, 'must be the id (a uuid such as 9b2f3c1e-0d4a-4c6e-8f00-3a5b7c9d1e2f) of a file uploaded to this conversation');

export const qiscusAgentUpload = (conversationId: string) =>
  new AppError(
    'SB_QISCUS_AGENT_MESSAGE',
    `conversation ${conversationId} is a Qiscus room: its agent replies, files included, in Qiscus's own dashboard, and Switchboard, which only allocates Qiscus rooms, could never send a file uploaded here`,
    409,
  );

export const linkInvalid = () =>
  new AppError('SB_LINK_INVALID', 'the signed link is expired or its signature is wrong; fetch the message again for a fresh link', 403);

export const filesUnavailable = () => new AppError('SB_FILES_UNAVAILABLE', 'file storage is not set up in this process', 503);

export const bucketNotConfigured = (id: string) =>
  new AppError(
    'SB_FILES_UNAVAILABLE',
    `file ${id} is kept in the S3-compatible bucket, and this process has no S3_BUCKET: every process needs the S3_* settings while any file is kept there`,
    503,
  );

/** 429: a place frees up as the customer sends their files, or when the oldest unsent one is removed (retry-after). */
export const tooManyUnsentFiles = (unsent: number, max: number, perMessage: number, retryAfterSeconds: number) =>
  Object.assign(
    new RateLimited(
      'SB_ATTACHMENT_UNSENT_LIMIT',
      `${unsent} files uploaded to this conversation are not sent in a message yet; at most ${max} may wait (${UNSENT_MESSAGES_WORTH} × attachments_max_files, ${perMessage}): send them before uploading more`,
      retryAfterSeconds,
    ),
    { field: 'file' },
  );

export const customerFilesFull = (held: number, size: number, max: number, largest: number) =>
  new AppError(
    'SB_ATTACHMENT_QUOTA',
    `with this file (${size} bytes) the files uploaded to this conversation would come to ${held + size} bytes; at most ${max} bytes may be uploaded to one conversation (${LARGEST_FILES_WORTH} × attachments_max_bytes, ${largest})`,
    413,
    'file',
  );

export const uploadsBusy = (atOnce: number) =>
  Object.assign(new RateLimited('SB_ATTACHMENT_BUSY', `${atOnce} files are being uploaded to this conversation already; send this one once they are done`, 1), { field: 'file' });

/** RateLimited's retry-after, as a 503: the process is at its bound, not the caller over theirs. */
class ServerBusy extends RateLimited {
  override readonly status = 503;
}

export const downloadsBusy = (atOnce: number) =>
  new ServerBusy('SB_ATTACHMENT_DOWNLOADS_BUSY', `this server process is sending ${atOnce} files already, its most at once; try again in a moment`, 1);
