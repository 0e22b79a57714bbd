/**
 * shared/log: the winston logger every plane writes through, and `logEvent`,
 * the one way to log an operational event with its code, which also keeps
 * it in the logger's RecentEvents when one is attached (`withRecentEvents`).
 * May import: shared/events, shared/recent-events.
 */
import winston from 'winston';
import { EVENTS, type EventName } from './events.js';
import type { RecentEvents } from './recent-events.js';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFormat = 'json' | 'text';
export type Logger = winston.Logger;

export function createLogger(level: LogLevel = 'info', format: LogFormat = 'text', silent = false): Logger {
  const fmt =
    format === 'json'
      ? winston.format.combine(winston.format.timestamp(), winston.format.json())
      : winston.format.combine(
          winston.format.timestamp(),
          winston.format.printf(({ timestamp, level: lv, message, ...rest }) => {
            const fields = Object.entries(rest)
              .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
              .join(' ');
            return `${String(timestamp)} ${lv} ${String(message)}${fields ? ' ' + fields : ''}`;
          }),
        );
  return winston.createLogger({
    level,
    format: fmt,
    silent,
    transports: [new winston.transports.Stream({ stream: process.stderr })],
  });
}

/** A logger that writes nothing (tests, library use). */
export const silentLogger: Logger = createLogger('error', 'json', true);

const LEVEL_OF: Partial<Record<EventName, LogLevel>> = {
  LISTEN_FAILED: 'error',
  INTERNAL_ERROR: 'error',
  ZONE_REJECTED: 'error',
  PAIR_OUT_OF_SERVICE: 'error',
  OWN_ADDRESS_NOT_IN_POOL: 'error',
  PEER_WITHDRAWN: 'warn',
  POOL_FAIL_OPEN: 'warn',
  PAIR_SWITCHOVER: 'warn',
  PAIR_FORCE_MODE: 'warn',
  SIP_OVERLOAD: 'warn',
  SIP_OVERLOAD_ADAPTIVE: 'warn',
  SIP_MEMBER_OC: 'warn',
  SIP_TCP_LIMIT: 'warn',
  DNS_ANSWERS_REBUILT: 'debug',
  ZONE_TRANSFER_REFUSED: 'warn',
  NOTIFY_FAILED: 'warn',
  TSIG_REFUSED: 'warn',
  NOTIFY_UNVERIFIED: 'warn',
};

const recent = new WeakMap<Logger, RecentEvents>();

/**
 * A logger that writes where `log` writes and keeps every event logged through
 * it (debug-level ones excepted: they are not transitions) in `events`.
 */
export function withRecentEvents(log: Logger, events: RecentEvents): Logger {
  const child = log.child({});
  recent.set(child, events);
  return child;
}

/** Log one operational event: `event` code, its text, and the fields that say which and why. */
export function logEvent(log: Logger, name: EventName, fields: Record<string, unknown> = {}): void {
  const e = EVENTS[name];
  const level = LEVEL_OF[name] ?? 'info';
  if (level !== 'debug') recent.get(log)?.record(name, fields);
  log.log(level, e.text, { event: e.code, ...fields });
}
