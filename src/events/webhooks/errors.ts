import { AppError, invalid } from '../../errors.js';
import { SUBSCRIBABLE_EVENTS } from './catalog.js';

// The webhook API's own errors; the rest are the core's (SB_VALIDATION, SB_NOT_FOUND…).

export const targetPrivate = (message: string) => new AppError('SB_WEBHOOK_TARGET_PRIVATE', `url ${message}`, 400, 'url');

export const badUrl = (message: string) => invalid('url', message);

export const unknownEvent = (index: number, name: string) =>
  invalid(`events.${index}`, `${JSON.stringify(name)} is not an event; choose from ${SUBSCRIBABLE_EVENTS.join(', ')}`);

export const badSecret = (message: string) => invalid('secret', message);

export const endpointDisabled = (id: string) =>
  new AppError('SB_WEBHOOK_DISABLED', `webhook ${id} is disabled; enable it (PATCH {"enabled": true}) before sending to it`, 409);

export const rotationInGrace = (until: Date) =>
  new AppError(
    'SB_WEBHOOK_SECRET_IN_GRACE',
    `grace_seconds: the previous secret still signs until ${until.toISOString()}, and receivers may still hold it; a rotation with a grace now would drop it early. Wait until then, or rotate with grace_seconds: 0 to drop every old secret at once`,
    409,
    'grace_seconds',
  );
