// A real server (HTTP on a port, its embedded MQTT broker over WebSocket) on
// the store of a describeEachStore block, for the suites that talk to it as
// clients do: started once for the block, the store emptied and the last
// test's MQTT clients ended before each test.
import { after, before, beforeEach } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { startServer, type Running } from '../../src/server.js';
import { httpJson } from './http.js';
import { connectMqtt, type TestMqttClient } from './mqtt.js';
import type { TestStore } from './stores.js';

export interface RealServer {
  /** JSON over HTTP to the server */
  http(method: string, path: string, body?: unknown, token?: string): ReturnType<typeof httpJson>;
  /** an MQTT client of the embedded broker, ended before the next test */
  connect(token: string, options?: Parameters<typeof connectMqtt>[2]): Promise<TestMqttClient>;
}

/** Registers the server's start and stop in the describe it is called from; `made` hands the test the server and its broker's URL. */
export function realServerForBlock(store: () => TestStore, made: (started: { server: Running; wsUrl: string }) => void): RealServer {
  let server: Running | undefined;
  let wsUrl = '';
  const clients: TestMqttClient[] = [];
  const endClients = () => Promise.all(clients.splice(0).map((c) => c.end().catch(() => undefined)));
  before(async () => {
    server = await startServer(
      loadConfig({ PORT: '0', LOG_LEVEL: 'silent', ADMIN_EMAIL: 'admin@example.test', ADMIN_PASSWORD: 'admin password', SWEEP_INTERVAL: '60000' }),
      { db: store().db, keepDb: true },
    );
    wsUrl = `${server.url.replace('http', 'ws')}/mqtt`;
    made({ server, wsUrl });
  });
  after(async () => {
    await endClients();
    await server?.close();
  });
  beforeEach(async () => {
    await endClients();
    await store().reset();
  });
  return {
    http: (method, path, body, token) => httpJson(server!.url, method, path, body, token),
    async connect(token, options = {}) {
      const client = await connectMqtt(wsUrl, token, options);
      clients.push(client);
      return client;
    },
  };
}
