import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, RateLimited } from '../errors.js';
import { anyOfBranchIssue } from './anyof-issue.js';
import { isLostConnection } from '../store/db.js';

export interface ErrorBody {
  error: { code: string; message: string; field?: string };
}

interface AjvIssue {
  instancePath: string;
  schemaPath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** `/customer/id` → `customer.id`, so the message names the field as the caller wrote it. */
function fieldName(issue: AjvIssue, context: string): string {
  const path = issue.instancePath.split('/').filter(Boolean);
  if (issue.keyword === 'required') path.push(String(issue.params.missingProperty));
  if (issue.keyword === 'additionalProperties') path.push(String(issue.params.additionalProperty));
  return path.length > 0 ? path.join('.') : context;
}

function describe(issue: AjvIssue): string {
  switch (issue.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return 'is not a known field';
    case 'type':
      return `must be of type ${String(issue.params.type)}`;
    default:
      return issue.message ?? 'is invalid';
  }
}

/** Fastify's and Switchboard's errors in one envelope: `{error: {code, message, field?}}`. */
export function errorHandler(error: FastifyError | AppError, request: FastifyRequest, reply: FastifyReply): void {
  if (error instanceof AppError) {
    if (error instanceof RateLimited) void reply.header('retry-after', String(error.retryAfterSeconds));
    const body: ErrorBody = { error: { code: error.code, message: error.message, ...(error.field ? { field: error.field } : {}) } };
    void reply.status(error.status).send(body);
    return;
  }
  const validation = (error as FastifyError).validation as AjvIssue[] | undefined;
  if (validation && validation.length > 0) {
    // a union (an attachment: a link or a file) names the branch the caller meant
    const issue = anyOfBranchIssue(validation) ?? validation[0]!;
    const context = (error as FastifyError).validationContext ?? 'body';
    const field = fieldName(issue, context);
    void reply.status(400).send({ error: { code: 'SB_VALIDATION', message: `${context === 'body' ? '' : `${context} `}${field} ${describe(issue)}`.trim(), field } });
    return;
  }
  const status = (error as FastifyError).statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    const code = (error as FastifyError).code;
    const known: Record<string, string> = {
      FST_ERR_CTP_INVALID_JSON_BODY: 'SB_INVALID_JSON',
      FST_ERR_CTP_EMPTY_JSON_BODY: 'SB_INVALID_JSON',
      FST_ERR_CTP_BODY_TOO_LARGE: 'SB_BODY_TOO_LARGE',
      FST_ERR_CTP_INVALID_MEDIA_TYPE: 'SB_UNSUPPORTED_MEDIA_TYPE',
      FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'SB_BAD_REQUEST',
    };
    void reply.status(status).send({ error: { code: known[code] ?? 'SB_BAD_REQUEST', message: error.message } });
    return;
  }
  if (isUnstorableInput(error)) {
    // Safety net behind assertStorableText: input the database cannot represent is the caller's mistake.
    void reply.status(400).send({ error: { code: 'SB_VALIDATION', message: `the request holds a value the database cannot store: ${error.message}` } });
    return;
  }
  if (isStoreUnavailable(error)) {
    request.log.error({ err: error }, 'store unavailable');
    void reply.status(503).header('retry-after', '5').send({ error: { code: 'SB_STORE_UNAVAILABLE', message: 'the database is not answering; try again shortly' } });
    return;
  }
  request.log.error({ err: error }, 'unhandled error');
  void reply.status(500).send({ error: { code: 'SB_INTERNAL', message: 'internal error; the server log has the details' } });
}

function isUnstorableInput(error: unknown): boolean {
  // 22021 character_not_in_repertoire, 22P05 untranslatable_character, 22P02 invalid_text_representation, 22003 numeric out of range
  return ['22021', '22P05', '22P02', '22003'].includes((error as { code?: string }).code ?? '');
}

/** Socket errors of a connection to the database that failed, broke or timed out. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);


/**
 * True when the database could not be reached or stopped answering, as
 * opposed to a statement it refused: the request may succeed if retried.
 * SQLSTATE classes 08 (connection exception) and 57P (operator
 * intervention: shutdown, crash recovery), 53300 (too many connections),
 * 57014 (statement timeout); a network error may come wrapped (`cause`) or,
 * for a host with several addresses, as an AggregateError.
 */
function isStoreUnavailable(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 3) return false;
  const { code, cause, errors } = error as { code?: unknown; cause?: unknown; errors?: unknown };
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || code.startsWith('08') || code.startsWith('57P') || code === '53300' || code === '57014')) return true;
  if (isLostConnection(error)) return true;
  if (Array.isArray(errors) && errors.some((e) => isStoreUnavailable(e, depth + 1))) return true;
  return cause !== undefined && isStoreUnavailable(cause, depth + 1);
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): void {
  void reply.status(404).send({ error: { code: 'SB_ROUTE_NOT_FOUND', message: `no route for ${request.method} ${request.url.split('?')[0]}` } });
}
