import { ConfigError, integer, optional, type Env } from '../env.js';
import { MESSAGE_BURST, MESSAGES_PER_SECOND, REQUEST_LIMITS } from './message-rate.js';

export interface RealtimeConfig {
  /** an external broker every process shares; unset = the embedded one */
  mqttUrl: string | undefined;
  /** the broker's WebSocket URL as browsers reach it (given to the web apps); unset = ws(s)://<the page's host>/mqtt */
  mqttWsUrl: string | undefined;
  /** plain MQTT on this TCP port besides WebSocket at /mqtt (embedded broker only) */
  mqttTcpPort: number | undefined;
  /** prefix of every topic, without a trailing slash */
  baseTopic: string;
  /** a customer session silent for this long is abandoned, ms */
  sessionKeepAliveMs: number;
  /** chat messages a customer's session may publish per second, per process, after a burst; perSecond 0 = no limit */
  messageRate: { perSecond: number; burst: number };
  /** session and channel requests a customer's session may publish, per process: a burst, then perSecond (set per minute) */
  requestRate: { perSecond: number; burst: number };
}

export function loadRealtimeConfig(env: Env): RealtimeConfig {
  const mqttUrl = optional(env, 'MQTT_URL');
  if (mqttUrl !== undefined && !/^(mqtts?|wss?|tcp):\/\//.test(mqttUrl)) {
    throw new ConfigError('MQTT_URL', `must be an mqtt://, mqtts://, ws:// or wss:// URL, got ${JSON.stringify(mqttUrl)}`);
  }
  const mqttWsUrl = optional(env, 'MQTT_WS_URL');
  // Every browser sees it: credentials have no place in it (the apps log in with tokens).
  if (mqttWsUrl !== undefined && (!/^wss?:\/\/[^/?#@]+(\/[^?#]*)?$/.test(mqttWsUrl))) {
    throw new ConfigError('MQTT_WS_URL', `must be a ws:// or wss:// URL without credentials, query or fragment, got ${JSON.stringify(mqttWsUrl)}`);
  }
  const baseTopic = optional(env, 'MQTT_BASE_TOPIC') ?? 'switchboard';
  // Wildcards or empty levels in the prefix would make every ACL decision wrong.
  if (!/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/.test(baseTopic)) {
    throw new ConfigError('MQTT_BASE_TOPIC', 'must be topic levels of letters, digits, "_", "." or "-" separated by "/", without wildcards');
  }
  return {
    mqttUrl,
    mqttWsUrl,
    mqttTcpPort: env.MQTT_TCP_PORT ? integer(env, 'MQTT_TCP_PORT', 0, 0, 65535) : undefined,
    baseTopic,
    sessionKeepAliveMs: integer(env, 'SESSION_KEEP_ALIVE_TIME', 60_000, 1_000),
    messageRate: {
      perSecond: integer(env, 'MQTT_MESSAGE_RATE', MESSAGES_PER_SECOND, 0, 100_000),
      burst: integer(env, 'MQTT_MESSAGE_BURST', MESSAGE_BURST, 1, 100_000),
    },
    requestRate: {
      // per minute: a rate under one a second is a whole number there
      perSecond: integer(env, 'MQTT_REQUEST_RATE', REQUEST_LIMITS.perSecond * 60, 1, 100_000) / 60,
      burst: integer(env, 'MQTT_REQUEST_BURST', REQUEST_LIMITS.burst, 1, 100_000),
    },
  };
}
