/**
 * ops/http: the operator's HTTP plane: GET / (the status page), /status,
 * /metrics, /healthz and POST /drain, /undrain, /reload. Listens on loopback
 * unless told otherwise. May import: ops.
 */
import http from 'node:http';
import { renderStatusPage } from './status-page.js';
import type { StatusDocument } from './status.js';

/** What the HTTP plane needs from a running instance. */
export interface InstanceControl {
  status(): StatusDocument;
  metrics(): Promise<{ contentType: string; body: string }>;
  /** True while the instance serves (not stopping). */
  serving(): boolean;
  setDraining(draining: boolean): void;
  /** Re-read the zones; ok false keeps the old zones and says why (file:line lines). */
  reload(): Promise<{ ok: boolean; message: string }> | { ok: boolean; message: string };
}

type Handler = (res: http.ServerResponse, req: http.IncomingMessage) => void | Promise<void>;

/** A browser's form post (the status page's buttons): answered with a redirect back to the page. */
function fromForm(req: http.IncomingMessage): boolean {
  return (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
}

function backToPage(res: http.ServerResponse): void {
  res.writeHead(303, { location: './', 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end('see ./\n');
}

function send(res: http.ServerResponse, code: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

export class HttpPlane {
  private server: http.Server | undefined;
  private readonly routes: Record<string, Handler>;

  constructor(private readonly ctl: InstanceControl) {
    this.routes = {
      'GET /': (res) => send(res, 200, renderStatusPage(this.ctl.status()), 'text/html; charset=utf-8'),
      'GET /status': (res) => send(res, 200, JSON.stringify(this.ctl.status(), null, 2) + '\n', 'application/json'),
      'GET /metrics': async (res) => {
        const m = await this.ctl.metrics();
        send(res, 200, m.body, m.contentType);
      },
      'GET /healthz': (res) => (this.ctl.serving() ? send(res, 200, 'ok\n') : send(res, 503, 'stopping\n')),
      'POST /drain': (res, req) => {
        this.ctl.setDraining(true);
        if (fromForm(req)) backToPage(res);
        else send(res, 200, 'draining\n');
      },
      'POST /undrain': (res, req) => {
        this.ctl.setDraining(false);
        if (fromForm(req)) backToPage(res);
        else send(res, 200, 'serving\n');
      },
      'POST /reload': async (res) => {
        const r = await this.ctl.reload();
        send(res, r.ok ? 200 : 422, r.message + '\n');
      },
    };
  }

  listen(host: string, port: number): Promise<void> {
    const server = http.createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      const route = this.routes[`${req.method} ${path}`];
      req.resume();
      if (!route) {
        const known = Object.keys(this.routes).some((k) => k.endsWith(' ' + path));
        send(res, known ? 405 : 404, known ? 'method not allowed\n' : 'not found\n');
        return;
      }
      Promise.resolve()
        .then(() => route(res, req))
        .catch((e: Error) => send(res, 500, `error: ${e.message}\n`));
    });
    server.headersTimeout = 5000;
    server.requestTimeout = 10000;
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  address(): { host: string; port: number } | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? { host: a.address, port: a.port } : undefined;
  }

  close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return Promise.resolve();
    s.closeAllConnections();
    return new Promise((resolve) => s.close(() => resolve()));
  }
}
