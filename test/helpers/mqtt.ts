import mqtt, { type MqttClient } from 'mqtt';

// Real MQTT clients for the real-time tests, with an inbox that remembers
// every message so a test can wait for one that may already have arrived.

export interface Received {
  topic: string;
  payload: any;
}

export interface TestMqttClient {
  client: MqttClient;
  received: Received[];
  /** resolves with the first message (already received or coming) on `topic` matching `match` */
  next(topic: string, match?: (payload: any) => boolean, timeoutMs?: number): Promise<any>;
  /** subscribes and returns the granted QoS per filter (128 = refused) */
  subscribe(...filters: string[]): Promise<number[]>;
  publish(topic: string, payload: unknown): Promise<void>;
  end(): Promise<void>;
}

export async function connectMqtt(
  url: string,
  password: string,
  options: { username?: string; protocolVersion?: 4 | 5; /** default: mqtt.js's random one */ clientId?: string; /** default true */ clean?: boolean } = {},
): Promise<TestMqttClient> {
  const client = await mqtt.connectAsync(url, {
    username: options.username ?? 'switchboard',
    password,
    protocolVersion: options.protocolVersion ?? 4,
    ...(options.clientId !== undefined ? { clientId: options.clientId } : {}),
    clean: options.clean ?? true,
    reconnectPeriod: 0,
    connectTimeout: 5_000,
  });
  const received: Received[] = [];
  const waiters = new Set<() => void>();
  client.on('message', (topic, payload) => {
    let body: unknown;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      body = payload.toString('utf8');
    }
    received.push({ topic, payload: body });
    for (const wake of waiters) wake();
  });
  return {
    client,
    received,
    next(topic, match = () => true, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = received.find((r) => r.topic === topic && match(r.payload));
          if (!found) return false;
          waiters.delete(check as () => void);
          clearTimeout(timer);
          resolve(found.payload);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check as () => void);
          reject(new Error(`no message on ${topic} within ${timeoutMs} ms; got ${JSON.stringify(received.map((r) => [r.topic, r.payload]).slice(-10))}`));
        }, timeoutMs);
        if (!check()) waiters.add(check as () => void);
      });
    },
    async subscribe(...filters) {
      // One at a time: mqtt.js rejects a whole SUBACK with a refused filter in it.
      const granted: number[] = [];
      for (const filter of filters) {
        granted.push(await client.subscribeAsync(filter, { qos: 1 }).then((g) => g[0]!.qos, () => 128));
      }
      return granted;
    },
    async publish(topic, payload) {
      await client.publishAsync(topic, typeof payload === 'string' ? payload : JSON.stringify(payload), { qos: 1 });
    },
    async end() {
      await client.endAsync(true);
    },
  };
}
