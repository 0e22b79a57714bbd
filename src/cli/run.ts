/**
 * cli/run: `srvproxy run`. Reads --config, validates every setting, starts
 * one instance and wires the signals: SIGHUP reloads zones, SIGTERM/SIGINT
 * drain gracefully and exit 0.
 * May import: config, site, shared.
 */
import fs from 'node:fs';
import { readConfigObject, resolveSettings } from '../config/validate.js';
import type { RunOptionName } from '../config/options.js';
import { ConfigError, SiteError, SrvError, ZoneError } from '../shared/errors.js';
import { createLogger, logEvent } from '../shared/log.js';
import { startInstance } from '../site/instance.js';

function readConfigFile(file: string): Partial<Record<RunOptionName, unknown>> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`--config: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`--config: ${file} is not valid JSON: ${(e as Error).message}`);
  }
  return readConfigObject(obj, file);
}

export async function runCommand(
  flags: Partial<Record<RunOptionName, unknown>>,
  configFile: string | undefined,
  usageError: (message: string) => never,
): Promise<void> {
  let settings;
  try {
    settings = resolveSettings(flags, configFile ? readConfigFile(configFile) : {});
  } catch (e) {
    if (e instanceof ConfigError) usageError(e.message);
    throw e;
  }
  const log = createLogger(settings.logLevel, settings.logFormat);
  let instance;
  try {
    instance = await startInstance(settings, log);
  } catch (e) {
    // Zone and site errors are configuration errors: say what and where, exit 2.
    if (e instanceof ZoneError) {
      for (const p of e.problems) process.stderr.write(`srvproxy: ${p.file}:${p.line}: ${p.message}\n`);
      process.exit(2);
    }
    if (e instanceof SiteError) {
      // One line with the code; OwnAddressNotInPoolError also carries its event code (SRV-40000).
      const event = (e as { event?: string }).event;
      usageError(`${e.code}: ${event ? `${event} ` : ''}${e.message}`);
    }
    if (e instanceof ConfigError) usageError(e.message);
    if (e instanceof SrvError) {
      process.stderr.write(`srvproxy: ${e.code}: ${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
  // A network server must not die of one bad packet: log, count, keep serving.
  process.on('uncaughtException', (err) => logEvent(log, 'INTERNAL_ERROR', { error: err.stack ?? String(err) }));
  process.on('unhandledRejection', (err) => logEvent(log, 'INTERNAL_ERROR', { error: String(err) }));
  process.on('SIGHUP', () => void instance.reload());
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    instance.stop(signal).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
