/**
 * sip/transport/tls: SIP over TLS (RFC 3261 §26.2, the `_sips._tcp` SRV of
 * the pool) with node:tls. TLS connections live in the TCP connection table
 * (sip/transport/tcp) beside plain ones: same framing, limits and idle
 * timeout; this file only makes the sockets. The server presents
 * --tls-cert/--tls-key; connections to pair members verify the member's
 * certificate chain against --tls-ca (default: Node's CA store) and refuse
 * it otherwise. The member is addressed by IP address (the zone's A/AAAA),
 * so the chain is what is verified, not a host name. Files are read once at
 * start. May import: shared, zone/types.
 */
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { ConfigError } from '../../shared/errors.js';
import type { ZoneSet } from '../../zone/types.js';

export interface TlsConfig {
  /** PEM certificate (chain) and private key presented by the listener. */
  cert: string | Buffer;
  key: string | Buffer;
  /** PEM CA bundle that peers' certificates must chain to; default Node's CA store. */
  ca?: string | Buffer;
  /** Port of the TLS listener on every listen address (0: any free port, tests). */
  port: number;
  /** A TLS handshake that takes longer is dropped (ms, default 5000). */
  handshakeTimeoutMs?: number;
}

export interface TlsPaths {
  cert: string;
  key: string;
  ca?: string;
}

/** Reads the PEM files named by --tls-cert/--tls-key/--tls-ca; a ConfigError naming the flag and file when one cannot be read or used. */
export function loadTlsConfig(paths: TlsPaths, port: number): TlsConfig {
  const read = (flag: string, file: string): Buffer => {
    try {
      return fs.readFileSync(file);
    } catch (e) {
      throw new ConfigError(`--${flag}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  const cfg: TlsConfig = { cert: read('tls-cert', paths.cert), key: read('tls-key', paths.key), port };
  if (paths.ca) cfg.ca = read('tls-ca', paths.ca);
  try {
    tls.createSecureContext({ cert: cfg.cert, key: cfg.key, ca: cfg.ca });
  } catch (e) {
    throw new ConfigError(`--tls-cert/--tls-key: ${(e as Error).message}`);
  }
  return cfg;
}

/** A TLS server whose `secureConnection` sockets go to `onSocket`; failed handshakes are counted by `onClientError`. */
export function createTlsServer(cfg: TlsConfig, onSocket: (s: net.Socket) => void, onClientError: () => void): net.Server {
  const server = tls.createServer({
    cert: cfg.cert,
    key: cfg.key,
    ca: cfg.ca,
    minVersion: 'TLSv1.2',
    handshakeTimeout: cfg.handshakeTimeoutMs ?? 5000,
  });
  server.on('secureConnection', onSocket);
  server.on('tlsClientError', (_err, socket) => {
    onClientError();
    socket.destroy();
  });
  return server;
}

/** Opens a TLS connection to a peer, verifying its certificate chain against the configured CA. */
export function connectTls(cfg: TlsConfig, address: string, port: number, localAddress: string | undefined): tls.TLSSocket {
  // tls.connect passes localAddress to its TCP socket (Node's types omit it)
  const opts: tls.ConnectionOptions & { localAddress?: string } = {
    host: address,
    port,
    localAddress,
    ca: cfg.ca,
    minVersion: 'TLSv1.2',
    rejectUnauthorized: true,
    // peers are reached by IP address from the zone: the chain is verified, not a host name
    checkServerIdentity: () => undefined,
  };
  return tls.connect(opts);
}

/** The port of `self` in the pool's `_sips._tcp` SRV records, if it has one. */
export function sipsPortOf(zones: ZoneSet, pool: string, self: string): number | undefined {
  const name = '_sips._tcp.' + pool;
  const rr = zones.findZone(name)?.lookup(name, 'SRV').find((r) => r.data.target === self);
  return rr?.data.port;
}
