import { AppError } from '../errors.js';

// The email area's own errors; the codes are listed in docs/api.md.

/** 409, not 503: the server is fine, it has been told not to send email; an admin can change that. */
export const emailNotConfigured = () =>
  new AppError('SB_EMAIL_NOT_CONFIGURED', 'email is off on this server: an administrator sets SMTP_URL and EMAIL_FROM to turn it on', 409);

export const noRecipient = () =>
  new AppError('SB_VALIDATION', 'email is required: the conversation has no customer email to send the transcript to', 400, 'email');

export const notOneAddress = (to: string) =>
  new AppError(
    'SB_VALIDATION',
    `email: the conversation's customer email ${JSON.stringify(to)} is not one plain address (a channel or the API stored it as given); give email`,
    400,
    'email',
  );

export const customerAddressOnly = () =>
  new AppError(
    'SB_TRANSCRIPT_ADDRESS',
    "a customer's transcript goes only to the conversation's customer email; leave email out to use it",
    403,
    'email',
  );

/** No retry-after: the limit is the conversation's, for good; an agent can still send it. */
export const tooManyTranscripts = (max: number) =>
  new AppError('SB_RATE_LIMITED', `a customer may ask for the transcript of a conversation at most ${max} times; an agent can send it again`, 429);

export const transcriptUnserved = () =>
  new AppError(
    'SB_TRANSCRIPT_UNSERVED',
    'no agent has answered in this conversation yet: a customer may ask for its transcript once an agent has written in it (an agent can send it at any time)',
    409,
  );
