// A UUID as every id here is spelled (any version, either case): one rule,
// for the API's `format: "uuid"`, topics, payload schemas and the channels'
// ids alike.

/** The pattern as JSON Schema takes it (no flags: both cases spelled out). */
export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

export const UUID = new RegExp(UUID_PATTERN);
