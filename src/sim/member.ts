#!/usr/bin/env node
/**
 * sim/member: one member of the simulated SIP Server HA pair as its own
 * process, so that tests can SIGKILL or SIGSTOP it for real.
 *
 *   node dist/src/sim/member.js --address 127.0.0.21 --port 5060 --role primary \
 *        --sync-port 7001 --partner 127.0.0.22:7002 [--tcp] [--ring-ms N]
 *        [--initial active|standby] [--heartbeat-ms 50] [--takeover-ms 300] [--verbose]
 *
 * stdout: one JSON line per event: {"ev":"ready",...} once listening, then
 * {"ev":"state","state":"active"|"standby","cause":...,"epoch":N} on each change.
 * Signals: SIGUSR1 stands the member by (the partner takes over), SIGUSR2
 * makes it active (the partner stands by), SIGTERM/SIGINT stop it. It exits
 * when its stdin closes (the parent went away). Logs go to stderr with --verbose.
 * May import: sim, node.
 */
import { parseArgs } from 'node:util';
import { HaMember } from './ha-member.js';

function fail(msg: string): never {
  process.stderr.write(`sim member: ${msg}\n`);
  process.exit(2);
}

function hostPort(s: string, flag: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(s);
  if (!m) fail(`--${flag} must be ADDRESS:PORT, got "${s}"`);
  return { host: m[1]!, port: Number(m[2]) };
}

function int(v: string | undefined, flag: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535 * 1000) fail(`--${flag} must be a non-negative integer, got "${v}"`);
  return n;
}

let values: Record<string, string | boolean | undefined>;
try {
  ({ values } = parseArgs({
    options: {
      address: { type: 'string' },
      port: { type: 'string' },
      role: { type: 'string' },
      'sync-port': { type: 'string' },
      partner: { type: 'string' },
      initial: { type: 'string' },
      tcp: { type: 'boolean' },
      'ring-ms': { type: 'string' },
      'heartbeat-ms': { type: 'string' },
      'takeover-ms': { type: 'string' },
      verbose: { type: 'boolean' },
    },
    strict: true,
  }));
} catch (err) {
  fail(err instanceof Error ? err.message : String(err));
}

const address = (values.address as string | undefined) ?? fail('--address is required');
const role = values.role as string | undefined;
if (role !== 'primary' && role !== 'backup') fail('--role must be primary or backup');
const initial = values.initial as string | undefined;
if (initial !== undefined && initial !== 'active' && initial !== 'standby') fail('--initial must be active or standby');
const partner = hostPort((values.partner as string | undefined) ?? fail('--partner ADDRESS:SYNCPORT is required'), 'partner');
const verbose = values.verbose === true;
const log = verbose ? (line: string) => process.stderr.write(`[sim ${address}] ${line}\n`) : undefined;

function emit(o: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ ...o, at: Date.now() }) + '\n');
}

const member = new HaMember({
  address,
  port: int(values.port as string | undefined, 'port', 5060),
  role,
  initial,
  tcp: values.tcp === true,
  ringMs: int(values['ring-ms'] as string | undefined, 'ring-ms', 0),
  syncPort: values['sync-port'] === undefined ? fail('--sync-port is required') : int(values['sync-port'] as string, 'sync-port', 0),
  partnerSyncAddress: partner.host,
  partnerSyncPort: partner.port,
  heartbeatMs: int(values['heartbeat-ms'] as string | undefined, 'heartbeat-ms', 50),
  takeoverMs: int(values['takeover-ms'] as string | undefined, 'takeover-ms', 300),
  onPartner: (up) => emit({ ev: 'partner', up }),
  onState: (state, cause, epoch) => {
    emit({ ev: 'state', state, cause, epoch });
    log?.(`${state}: ${cause} (epoch ${epoch})`);
  },
  log,
});

function shutdown(): void {
  member.stop();
  process.exit(0);
}

process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
process.on('SIGUSR1', () => {
  if (member.state === 'active') member.demote('SIGUSR1');
});
process.on('SIGUSR2', () => {
  if (member.state !== 'active') member.promote('SIGUSR2');
});
process.stdin.on('end', shutdown);
process.stdin.on('error', shutdown);
process.stdin.resume();
process.on('uncaughtException', (err) => {
  process.stderr.write(`sim member ${address}: ${err.stack ?? String(err)}\n`);
});

member.start().then(
  () => emit({ ev: 'ready', address, state: member.state }),
  (err: unknown) => fail(`cannot start: ${err instanceof Error ? err.message : String(err)}`),
);
