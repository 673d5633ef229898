// Small helpers both apps use.

export interface ApiError {
  status: number;
  code: string;
  message: string;
  /** the input at fault, when the server named one */
  field?: string;
  /** how long the server (or a proxy before it) asked to wait before trying again: Retry-After, in seconds */
  retryAfterSeconds?: number;
}

/** Retry-After as seconds: a number of them, or an HTTP date; undefined when absent or unreadable. */
function retryAfterOf(response: Response): number | undefined {
  const value = response.headers.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/** JSON over fetch; throws an ApiError with Switchboard's error envelope read. */
export async function api<T>(method: string, path: string, token?: string | null, body?: unknown, signal?: AbortSignal): Promise<T> {
  const response = await fetch(path, {
    method,
    ...(signal ? { signal } : {}),
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  // an error page from a proxy in front of the server is no JSON: its status still says what happened
  const data = text ? (response.ok ? (JSON.parse(text) as unknown) : parseOrNull(text)) : null;
  if (!response.ok) {
    const retryAfterSeconds = retryAfterOf(response);
    const error = (data as { error?: { code?: string; message?: string; field?: string } } | null)?.error;
    // (the Qiscus routes answer errors in their own envelope, {status, message})
    const message = error?.message ?? (data as { message?: unknown } | null)?.message;
    throw {
      status: response.status,
      code: error?.code ?? 'SB_HTTP',
      message: typeof message === 'string' ? message : response.statusText,
      ...(error?.field ? { field: error.field } : {}),
      ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
    } satisfies ApiError;
  }
  return data as T;
}

function parseOrNull(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

export const isApiError = (e: unknown): e is ApiError => typeof e === 'object' && e !== null && 'status' in e && 'code' in e;
export const errorText = (e: unknown): string => (isApiError(e) ? e.message : e instanceof Error ? e.message : String(e));

/**
 * The broker's WebSocket URL: MQTT_WS_URL, which the server writes into
 * <meta name="sb-mqtt-url"> (an external broker), else ws(s)://this host/mqtt,
 * the embedded broker.
 */
export function mqttUrl(): string {
  const configured = document.querySelector<HTMLMetaElement>('meta[name="sb-mqtt-url"]')?.content;
  return configured || `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/mqtt`;
}

export function baseTopic(): string {
  return document.querySelector<HTMLMetaElement>('meta[name="sb-base-topic"]')?.content || 'switchboard';
}

export function parseJson(payload: Uint8Array): any {
  try {
    return JSON.parse(new TextDecoder().decode(payload));
  } catch {
    return undefined;
  }
}

/** The most message ids one read receipt may carry: the server refuses a longer one whole (ReadReceipt, src/realtime/payloads.ts). */
export const RECEIPT_MAX = 500;
