import { AppError, invalid, notFound, unauthorized } from '../../errors.js';

// The RapidPro channel's errors. Mailroom shows the message of an error in
// RapidPro's HTTP log, so each says what was wrong with the request.

export const unknownTicketer = (uuid: string) => notFound('ticketer', uuid);

export const badToken = (uuid: string, sent: boolean) =>
  unauthorized(
    sent
      ? `the token does not match ticketer ${uuid}: send Authorization: Token <the secret set for this ticketer>`
      : `send Authorization: Token <secret> with the secret of ticketer ${uuid}`,
  );

/** Wording as the original app's, which RapidPro users may search for. */
export const noRoom = (token: string) => new AppError('SB_RAPIDPRO_NO_ROOM', `Could not find a room for visitor token: ${token}`, 404);

export const ticketElsewhere = (ticketId: string) =>
  new AppError('SB_RAPIDPRO_TICKET_CONFLICT', `ticket ${ticketId} already has an open conversation that is not this ticketer's`, 409);

export const emptyMessage = () => invalid('text', 'or attachments is required: the message has neither');
