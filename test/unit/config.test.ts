import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('configuration', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({});
    assert.equal(config.port, 3000);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.databaseUrl, undefined);
    assert.equal(config.dataDir, './data');
    assert.equal(config.maxCustomers, 2);
    assert.equal(config.attendantKeepAliveMs, 30_000);
    assert.equal(config.agentOfflineGraceMs, 60_000);
    assert.equal(config.offlinePolicy, 'requeue');
    assert.equal(config.logLevel, 'info');
    assert.deepEqual([config.databaseConnectTimeoutMs, config.databaseStatementTimeoutMs], [5_000, 30_000]);
    assert.equal(config.deliveryLogDays, 30);
    assert.deepEqual(config.realtime.messageRate, { perSecond: 5, burst: 50 });
    assert.deepEqual(config.realtime.requestRate, { perSecond: 1, burst: 30 });
  });

  it('reads every variable', () => {
    const config = loadConfig({
      PORT: '8080',
      HOST: '0.0.0.0',
      DATABASE_URL: 'postgres://u@db:5432/sb',
      DATA_DIR: '/var/lib/sb',
      MAX_CUSTOMERS: '5',
      ATTENDANT_KEEP_ALIVE_TIME: '10000',
      AGENT_OFFLINE_GRACE: '0',
      OFFLINE_CONVERSATIONS: 'keep',
      SWEEP_INTERVAL: '500',
      TOKEN_TTL: '3600',
      ADMIN_EMAIL: 'boss@example.com',
      ADMIN_PASSWORD: 'long enough',
      LOG_LEVEL: 'warn',
      DATABASE_POOL_SIZE: '25',
      DATABASE_CONNECT_TIMEOUT: '2000',
      DATABASE_STATEMENT_TIMEOUT: '0',
      MQTT_URL: 'mqtt://broker:1883',
      MQTT_BASE_TOPIC: 'acme/support',
      SESSION_KEEP_ALIVE_TIME: '20000',
      MQTT_WS_URL: 'wss://broker.example.com:8084/mqtt',
      STATISTICS_BASE_ENDPOINT: 'https://crm.example.com/api/',
      STATISTICS_TIMEOUT: '1500',
      STATISTICS_CACHE_TTL: '0',
      WIDGET_IDENTITY_SECRET: 'the-current-identity-secret',
      WIDGET_IDENTITY_SECRET_PREVIOUS: 'the-previous-identity-secret',
      WIDGET_IDENTITY_SECRET_PREVIOUS_UNTIL: '2026-12-01T00:00:00Z',
      METRICS_TOKEN: 'scrape-7f3c1a9e5b2d4c68',
      DELIVERY_LOG_DAYS: '0',
      MQTT_MESSAGE_RATE: '0',
      MQTT_MESSAGE_BURST: '7',
      MQTT_REQUEST_RATE: '6',
      MQTT_REQUEST_BURST: '2',
    });
    assert.equal(config.deliveryLogDays, 0, 'DELIVERY_LOG_DAYS=0 keeps the delivery logs for ever');
    assert.equal(config.metricsToken, 'scrape-7f3c1a9e5b2d4c68');
    assert.equal(loadConfig({}).metricsToken, undefined, 'the metrics are open unless a token is set');
    assert.deepEqual(
      [config.databasePoolSize, config.realtime],
      [25, { mqttUrl: 'mqtt://broker:1883', mqttWsUrl: 'wss://broker.example.com:8084/mqtt', mqttTcpPort: undefined, baseTopic: 'acme/support', sessionKeepAliveMs: 20_000, messageRate: { perSecond: 0, burst: 7 }, requestRate: { perSecond: 0.1, burst: 2 } }],
    );
    assert.deepEqual([config.databaseConnectTimeoutMs, config.databaseStatementTimeoutMs], [2_000, 0]);
    assert.deepEqual(config.customers, {
      statisticsBaseEndpoint: 'https://crm.example.com/api',
      statisticsTimeoutMs: 1500,
      statisticsCacheMs: 0,
      identity: { secret: 'the-current-identity-secret', previousSecret: 'the-previous-identity-secret', previousUntil: new Date('2026-12-01T00:00:00Z') },
    });
    assert.deepEqual(
      [config.port, config.host, config.databaseUrl, config.dataDir, config.maxCustomers, config.attendantKeepAliveMs, config.agentOfflineGraceMs],
      [8080, '0.0.0.0', 'postgres://u@db:5432/sb', '/var/lib/sb', 5, 10_000, 0],
    );
    assert.deepEqual(
      [config.offlinePolicy, config.sweepIntervalMs, config.tokenTtlSeconds, config.adminEmail, config.adminPassword, config.logLevel],
      ['keep', 500, 3600, 'boss@example.com', 'long enough', 'warn'],
    );
  });

  const rejects: [Record<string, string>, string, RegExp][] = [
    [{ PORT: 'eighty' }, 'PORT', /whole number/],
    [{ PORT: '70000' }, 'PORT', /between 0 and 65535/],
    [{ MAX_CUSTOMERS: '0' }, 'MAX_CUSTOMERS', /between 1 and/],
    [{ MAX_CUSTOMERS: '2.5' }, 'MAX_CUSTOMERS', /whole number/],
    [{ ATTENDANT_KEEP_ALIVE_TIME: '-1' }, 'ATTENDANT_KEEP_ALIVE_TIME', /whole number/],
    [{ AGENT_OFFLINE_GRACE: 'soon' }, 'AGENT_OFFLINE_GRACE', /whole number/],
    [{ AGENT_OFFLINE_GRACE: '1000000000000000' }, 'AGENT_OFFLINE_GRACE', /between 0 and 2592000000/],
    [{ ATTENDANT_KEEP_ALIVE_TIME: '2592000001' }, 'ATTENDANT_KEEP_ALIVE_TIME', /between 1000 and 2592000000/],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL', /postgres:\/\//],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL', /one of fatal, error, warn, info, debug, trace, silent/],
    [{ OFFLINE_CONVERSATIONS: 'drop' }, 'OFFLINE_CONVERSATIONS', /requeue, keep/],
    [{ ADMIN_EMAIL: 'not-an-email' }, 'ADMIN_EMAIL', /email address/],
    [{ ADMIN_PASSWORD: 'short' }, 'ADMIN_PASSWORD', /at least 8/],
    [{ DATABASE_POOL_SIZE: '0' }, 'DATABASE_POOL_SIZE', /between 1 and 1000/],
    [{ DATABASE_CONNECT_TIMEOUT: '10' }, 'DATABASE_CONNECT_TIMEOUT', /between 100 and 600000/],
    [{ DATABASE_STATEMENT_TIMEOUT: '-5' }, 'DATABASE_STATEMENT_TIMEOUT', /whole number/],
    [{ MQTT_URL: 'http://broker' }, 'MQTT_URL', /mqtt:\/\//],
    [{ MQTT_BASE_TOPIC: 'sb/#' }, 'MQTT_BASE_TOPIC', /without wildcards/],
    [{ SESSION_KEEP_ALIVE_TIME: '10' }, 'SESSION_KEEP_ALIVE_TIME', /between 1000 and/],
    [{ MQTT_WS_URL: 'mqtt://broker:1883' }, 'MQTT_WS_URL', /ws:\/\/ or wss:\/\//],
    [{ MQTT_WS_URL: 'wss://user:secret@broker/mqtt' }, 'MQTT_WS_URL', /without credentials/],
    [{ STATISTICS_BASE_ENDPOINT: 'crm.example.com' }, 'STATISTICS_BASE_ENDPOINT', /http:\/\/ or https:\/\//],
    [{ STATISTICS_BASE_ENDPOINT: 'https://crm.example.com/?key=1' }, 'STATISTICS_BASE_ENDPOINT', /without a query/],
    [{ STATISTICS_TIMEOUT: '10' }, 'STATISTICS_TIMEOUT', /between 100 and 60000/],
    [{ SESSION_RATE_LIMIT: 'many' }, 'SESSION_RATE_LIMIT', /whole number/],
    [{ MQTT_REQUEST_RATE: '0' }, 'MQTT_REQUEST_RATE', /between 1 and 100000/],
    [{ TOKEN_TTL: '10000000000000' }, 'TOKEN_TTL', /between 60 and 31536000/],
    [{ SESSION_MAX_OPEN_PER_ADDRESS: '-1' }, 'SESSION_MAX_OPEN_PER_ADDRESS', /whole number/],
    [{ QISCUS_ALLOW_UNSIGNED_WEBHOOKS: 'maybe' }, 'QISCUS_ALLOW_UNSIGNED_WEBHOOKS', /true or false/],
    [{ METRICS_TOKEN: 'short' }, 'METRICS_TOKEN', /at least 16/],
    [{ METRICS_TOKEN: 'has a space in the middle' }, 'METRICS_TOKEN', /without spaces/],
    [{ TRUST_PROXY: 'the load balancer' }, 'TRUST_PROXY', /a number of proxies/],
  ];

  it('reads TRUST_PROXY as a number of proxies, a list of their addresses, or true', () => {
    assert.equal(loadConfig({}).trustProxy, false);
    assert.equal(loadConfig({ TRUST_PROXY: '0' }).trustProxy, false);
    // a count, not a yes: true would believe what a client wrote to the left of the proxies' entries
    assert.equal(loadConfig({ TRUST_PROXY: '1' }).trustProxy, 1);
    assert.equal(loadConfig({ TRUST_PROXY: ' 2 ' }).trustProxy, 2);
    assert.equal(loadConfig({ TRUST_PROXY: 'true' }).trustProxy, true);
    assert.deepEqual(loadConfig({ TRUST_PROXY: '10.0.0.1, 10.1.0.0/16' }).trustProxy, ['10.0.0.1', '10.1.0.0/16']);
  });

  it('limits anonymous chat sessions and closes the Qiscus webhooks by default (#16)', () => {
    const config = loadConfig({});
    assert.deepEqual(config.sessionLimits, { perMinute: 20, maxOpen: 20 });
    assert.equal(config.qiscus.allowUnsignedWebhooks, false);
    const set = loadConfig({ SESSION_RATE_LIMIT: '0', SESSION_MAX_OPEN_PER_ADDRESS: '3', QISCUS_ALLOW_UNSIGNED_WEBHOOKS: 'true' });
    assert.deepEqual(set.sessionLimits, { perMinute: 0, maxOpen: 3 });
    assert.equal(set.qiscus.allowUnsignedWebhooks, true);
  });
  for (const [env, variable, message] of rejects) {
    it(`refuses ${variable}=${Object.values(env)[0]} naming the variable and what is allowed`, () => {
      assert.throws(
        () => loadConfig(env),
        (e: unknown) => e instanceof ConfigError && e.variable === variable && message.test(e.message) && e.message.startsWith(variable),
      );
    });
  }

  it('stops `switchboard serve` before start-up with that message and exit code 2', () => {
    const result = spawnSync(process.execPath, ['bin/switchboard.js', 'serve'], {
      env: { ...process.env, MAX_CUSTOMERS: 'lots', DATABASE_URL: '' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /MAX_CUSTOMERS: must be a whole number between 1 and 10000, got "lots"/);
  });

  it('names an unknown command', () => {
    const result = spawnSync(process.execPath, ['bin/switchboard.js', 'serv'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /unknown command "serv"/);
  });
});
