// One error type for every mistake a caller can make. `code` is stable and
// documented (docs/api.md), `status` is the HTTP status, `field` names the
// input at fault when there is one.

export class AppError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

/** 429: the caller must wait; the error handler sends `retryAfterSeconds` as the retry-after header. */
export class RateLimited extends AppError {
  constructor(
    code: string,
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(code, message, 429);
  }
}

export const notFound = (what: string, id: string) => new AppError('SB_NOT_FOUND', `${what} ${JSON.stringify(id)} does not exist`, 404);

export const invalid = (field: string, message: string) => new AppError('SB_VALIDATION', `${field} ${message}`, 400, field);

export const conflict = (code: string, message: string) => new AppError(code, message, 409);

export const unauthorized = (message = 'a valid token is required: send Authorization: Bearer <token>') =>
  new AppError('SB_UNAUTHORIZED', message, 401);

export const forbidden = (message: string) => new AppError('SB_FORBIDDEN', message, 403);
