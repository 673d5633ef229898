import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions, FastifyChildLoggerFactory } from 'fastify/types/logger.js';

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** `logger[level](...args)`, as pino's methods need (`this` is the logger). */
function log(logger: FastifyBaseLogger, level: Level, args: unknown[]): void {
  (logger[level] as (...args: unknown[]) => void).apply(logger, args);
}

/**
 * A request's logger (`request.log`, `reply.log`): the child of the app's
 * logger that carries the request's id, made when the request first logs.
 * Fastify makes that child for every request before routing it, and pino
 * copies and redacts its bindings each time (≈ 10 µs of the server's CPU a
 * new conversation costs, bench/creates-http.ts); below debug, requests are
 * not logged (src/http/app.ts), so most never use it.
 */
class RequestLogger implements FastifyBaseLogger {
  #made: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  get #child(): FastifyBaseLogger {
    return (this.#made ??= this.parent.child(this.bindings, this.options));
  }

  get level(): string {
    return this.#made?.level ?? this.options.level ?? this.parent.level;
  }

  set level(level: string) {
    this.#child.level = level;
  }

  fatal(...args: unknown[]): void {
    log(this.#child, 'fatal', args);
  }
  error(...args: unknown[]): void {
    log(this.#child, 'error', args);
  }
  warn(...args: unknown[]): void {
    log(this.#child, 'warn', args);
  }
  info(...args: unknown[]): void {
    log(this.#child, 'info', args);
  }
  debug(...args: unknown[]): void {
    log(this.#child, 'debug', args);
  }
  trace(...args: unknown[]): void {
    log(this.#child, 'trace', args);
  }
  silent(...args: unknown[]): void {
    log(this.#child, 'silent', args);
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#child.child(bindings, options);
  }
}

export const requestLogger: FastifyChildLoggerFactory = (logger, bindings, options) => new RequestLogger(logger, bindings, options);
