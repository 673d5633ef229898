import { conflict, forbidden } from '../errors.js';

// Why a rating is refused. All are 409s a customer cannot fix by changing the
// body, except the 403s for the wrong token; docs/api.md lists every code.

export const ratingExists = (id: string) =>
  conflict('SB_RATING_EXISTS', `conversation ${id} was already rated; a conversation is rated once`);

export const notResolved = (id: string, state: string) =>
  conflict(
    'SB_NOT_RESOLVED',
    state === 'abandoned'
      ? `conversation ${id} was abandoned, not resolved: only a conversation an agent served to the end can be rated`
      : `conversation ${id} is ${state}; it can be rated once it is resolved`,
  );

export const csatDisabled = () =>
  conflict('SB_CSAT_DISABLED', 'customer satisfaction ratings are turned off (setting csat_enabled); nothing was stored');

export const notYourConversation = () => forbidden("a session token rates only its own conversation");

export const customerOnly = () =>
  forbidden("only the conversation's customer rates it: send their session token (from POST /session) as Bearer, not an agent's token");
