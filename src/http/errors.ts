import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, RateLimited } from '../errors.js';
import { anyOfBranchIssue } from './anyof-issue.js';
import { isLostConnection } from '../store/db.js';
import { ONE_LINE_OR_EMPTY_PATTERN, ONE_LINE_PATTERN } from './schemas.js';

export interface ErrorBody {
  error: { code: string; message: string; field?: string };
}

interface AjvIssue {
  instancePath: string;
  schemaPath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
  /** set when the issue is a key's (propertyNames: a StringMap's key schema) */
  propertyName?: string;
}

/** `/customer/id` → `customer.id`, so the message names the field as the caller wrote it. */
function fieldName(issue: AjvIssue, context: string): string {
  // JSON Pointer escapes (RFC 6901): a key "a/b" is "a~1b" in instancePath
  const path = issue.instancePath
    .split('/')
    .filter(Boolean)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (issue.keyword === 'required') path.push(String(issue.params.missingProperty));
  if (issue.keyword === 'additionalProperties') path.push(String(issue.params.additionalProperty));
  if (issue.propertyName !== undefined) path.push(issue.propertyName);
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
    case 'pattern':
      // the department rule, among others: its pattern says nothing to a reader
      if (issue.params.pattern === ONE_LINE_PATTERN || issue.params.pattern === ONE_LINE_OR_EMPTY_PATTERN) return 'must be one line of text, without control characters';
      return issue.message ?? 'is invalid';
    default:
      return issue.message ?? 'is invalid';
  }
}

/** What the caller hears: the field, then what is wrong; a key at fault is quoted (it may hold a line break). */
function validationMessage(issue: AjvIssue, context: string, field: string): string {
  const where = context === 'body' ? '' : `${context} `;
  if (issue.propertyName === undefined) return `${where}${field} ${describe(issue)}`.trim();
  const map = fieldName({ ...issue, propertyName: undefined }, context);
  return `${where}${map} has the key ${quote(issue.propertyName)}, which ${describe(issue)}`;
}

/**
 * A key refused by a keyword of our own (notBlank: a blank department in
 * business hours) carries no propertyName, as ajv's own keywords' do; the
 * propertyNames issue reported after it names the key.
 */
function withKey(issue: AjvIssue, all: readonly AjvIssue[]): AjvIssue {
  if (issue.propertyName !== undefined || !issue.schemaPath.includes('/propertyNames/')) return issue;
  const names = all.find((other) => other.keyword === 'propertyNames' && other.instancePath === issue.instancePath);
  return names === undefined ? issue : { ...issue, propertyName: String(names.params.propertyName) };
}

/** JSON's quoting, and the line breaks it leaves as they are (U+0085, U+2028, U+2029) escaped too: the message stays one line. */
const quote = (text: string) => JSON.stringify(text).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** The parts of a registered route frameworkErrors needs to name a path parameter. */
export interface RouteShape {
  method: string;
  url: string;
  schema?: { params?: unknown };
}

/**
 * A path parameter longer than the router's maxParamLength
 * (FST_ERR_MAX_PARAM_LENGTH): 400 SB_VALIDATION naming it, as the params
 * schema names one a little too long — not Fastify's own 414 body. The
 * router says only the path, so the parameter is found by matching it to
 * the routes: its over-long segment is the parameter at that place.
 */
export function paramTooLong(method: string, url: string, routes: readonly RouteShape[], maxParamLength: number): AppError {
  const decode = (segment: string) => {
    try {
      return decodeURIComponent(segment);
    } catch {
      return segment;
    }
  };
  const segments = (url.split('?')[0] ?? '').split('/');
  const at = segments.findIndex((segment) => decode(segment).length > maxParamLength);
  const route = routes.find((r) => {
    const parts = r.url.split('/');
    return r.method === method && parts.length === segments.length && parts.every((part, i) => part === segments[i] || (part.startsWith(':') && segments[i] !== ''));
  });
  const part = route?.url.split('/')[at];
  if (at < 0 || !part?.startsWith(':')) return new AppError('SB_VALIDATION', `params: a path segment is longer than ${maxParamLength} characters`, 400, 'params');
  const name = part.slice(1);
  const declared = (route!.schema?.params as { properties?: Record<string, { maxLength?: number }> } | undefined)?.properties?.[name]?.maxLength;
  return new AppError('SB_VALIDATION', `params ${name} ${declared === undefined ? 'is too long' : `must NOT have more than ${declared} characters`}`, 400, name);
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
    const issue = withKey(anyOfBranchIssue(validation) ?? validation[0]!, validation);
    const context = (error as FastifyError).validationContext ?? 'body';
    const field = fieldName(issue, context);
    void reply.status(400).send({ error: { code: 'SB_VALIDATION', message: validationMessage(issue, context, field), field } });
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
