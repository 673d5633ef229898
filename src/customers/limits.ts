// How long a customer id may be. No imports, so src/http/schemas.ts can use
// it without a cycle.

/** An id given by a client that opens a conversation through the API. */
export const CUSTOMER_ID_MAX = 200;
/**
 * The longest id a channel stores: a Qiscus room's customer is its e-mail,
 * kept whole up to 500 characters (channels/qiscus/text-limits.ts), and a
 * RapidPro contact without a uuid is `rapidpro:<ticketer>:<token>` (up to
 * 300). Everything that looks a customer up by id takes this many, or such
 * customers could be stored but never asked about.
 */
export const STORED_CUSTOMER_ID_MAX = 500;
