// Small helpers both apps use.

export interface ApiError {
  status: number;
  code: string;
  message: string;
  /** the input at fault, when the server named one */
  field?: string;
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
  const data = text ? (JSON.parse(text) as unknown) : null;
  if (!response.ok) {
    const error = (data as { error?: { code?: string; message?: string; field?: string } } | null)?.error;
    // (the Qiscus routes answer errors in their own envelope, {status, message})
    const message = error?.message ?? (data as { message?: unknown } | null)?.message;
    throw {
      status: response.status,
      code: error?.code ?? 'SB_HTTP',
      message: typeof message === 'string' ? message : response.statusText,
      ...(error?.field ? { field: error.field } : {}),
    } satisfies ApiError;
  }
  return data as T;
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
