#!/usr/bin/env node
import pino from 'pino';
import { ConfigError, loadConfig } from './config.js';
import { startServer } from './server.js';
import { migrate } from './store/migrate.js';
import { openStore } from './store/open.js';

const USAGE = `usage: switchboard <command>

commands:
  serve     run the HTTP API, the allocation engine and its sweeper (default)
  migrate   apply database migrations and exit
  simulate  replay traffic through the allocation engine on a virtual clock
  plan      find the smallest team that meets a service-level target
  export-trace  write conversation history as a trace for simulate --trace

Each of simulate, plan and export-trace takes --help.

Configuration comes from environment variables; see README.md.`;

async function main(argv: string[]): Promise<number> {
  const command = argv[0] ?? 'serve';
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`switchboard: invalid configuration: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const log = pino({ level: config.logLevel });

  switch (command) {
    case 'serve': {
      let server;
      try {
        server = await startServer(config, { logger: log });
      } catch (error) {
        // ADMIN_PASSWORD is judged when the first admin is made (ensureAdmin)
        if (error instanceof ConfigError) {
          process.stderr.write(`switchboard: invalid configuration: ${error.message}\n`);
          return 2;
        }
        throw error;
      }
      const stop = (signal: string) => {
        log.info({ signal }, 'shutting down');
        server.close().then(
          () => process.exit(0),
          (err) => {
            log.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
      return -1;
    }
    case 'migrate': {
      const db = await openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
      const applied = await migrate(db);
      await db.close();
      log.info({ applied }, applied.length > 0 ? 'migrations applied' : 'schema is up to date');
      return 0;
    }
    case 'simulate':
    case 'plan':
    case 'export-trace': {
      // Loaded on demand: the server never needs the simulator.
      const { runSimulationCommand } = await import('./simulate/cli.js');
      return runSimulationCommand(command, argv.slice(1), { databaseUrl: config.databaseUrl, dataDir: config.dataDir });
    }
    default:
      process.stderr.write(`switchboard: unknown command ${JSON.stringify(command)}\n\n${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (error) => {
    process.stderr.write(`switchboard: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
