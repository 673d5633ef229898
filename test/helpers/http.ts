// JSON over real HTTP to a running server, for the tests that start one
// (the others use app.inject): the status and the parsed body, null when empty.

export async function httpJson(baseUrl: string, method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/**
 * Until the server at `baseUrl` has heard the notice of a token change made
 * by SQL behind its back (migration 0047), which comes a moment after the
 * commit, as another process's change would: the token refused over HTTP,
 * whose lookup shares the MQTT re-check's cache. Fails after `ms`.
 */
export async function tokenChangeHeard(baseUrl: string, token: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while ((await httpJson(baseUrl, 'GET', '/api/v1/agents/me', undefined, token)).status !== 401) {
    if (Date.now() > deadline) throw new Error(`the token change was not heard within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
