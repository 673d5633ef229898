import mqtt, { type MqttClient } from 'mqtt';
import { baseTopic, mqttUrl, parseJson } from '../../shared/util';
import type { Agent } from './types';

// The console's one MQTT connection: the agent's inbox and events, the
// waiting list, (supervisors) every conversation, and heartbeats that keep
// the agent online while the console is open.

export type Listener = (topic: string, payload: any) => void;

export interface Live {
  base: string;
  client: MqttClient;
  on(listener: Listener): () => void;
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  publish(topic: string, payload: unknown): void;
  close(): void;
}

export function connectLive(agent: Agent, token: string, onLink: (up: boolean) => void, heartbeatMs = 10_000): Live {
  const base = baseTopic();
  // The client id starts with the agent's id: an external broker's authenticator
  // refuses any other (docs/realtime.md), so nobody else can take this session.
  const clientId = `${agent.id}-console-${Math.random().toString(16).slice(2, 10)}`;
  const client = mqtt.connect(mqttUrl(), { username: agent.id, password: token, clientId, protocolVersion: 4, reconnectPeriod: 2_000, connectTimeout: 10_000, clean: true });
  const listeners = new Set<Listener>();
  const topics = new Set<string>([`${base}/client/attendants/assign/${agent.id}`, `${base}/agents/${agent.id}/events`, `${base}/events/queue`]);
  if (agent.role !== 'agent') {
    topics.add(`${base}/events/conversations`);
    topics.add(`${base}/events/agents`);
  }
  const beat = () => {
    // the per-agent topic: an external broker's ACL lets only this agent publish
    // on it, so Switchboard can trust whose heartbeat it is (docs/realtime.md)
    if (client.connected) client.publish(`${base}/server/attendants/online/${agent.id}`, '{}', { qos: 0 });
  };
  client.on('connect', () => {
    onLink(true);
    // a clean session forgets subscriptions: take them all again
    if (topics.size > 0) client.subscribe([...topics], { qos: 1 });
    beat();
  });
  client.on('offline', () => onLink(false));
  client.on('close', () => onLink(false));
  client.on('message', (topic: string, payload: Uint8Array) => {
    const data = parseJson(payload);
    if (data === undefined) return;
    for (const listener of listeners) listener(topic, data);
  });
  const timer = setInterval(beat, heartbeatMs);
  return {
    base,
    client,
    on(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    subscribe(topic) {
      topics.add(topic);
      if (client.connected) client.subscribe(topic, { qos: 1 });
    },
    unsubscribe(topic) {
      topics.delete(topic);
      if (client.connected) client.unsubscribe(topic);
    },
    publish(topic, payload) {
      client.publish(topic, JSON.stringify(payload), { qos: 1 });
    },
    close() {
      clearInterval(timer);
      client.end(true);
    },
  };
}
