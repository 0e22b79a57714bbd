/**
 * cli/control: `srvproxy status|drain|undrain|reload`, clients of the HTTP
 * plane of a running instance. Returns exit codes: 0 done, 1 the instance
 * refused or failed, 2 --http is not an http:// URL, 3 the instance is not reachable.
 * May import: ops (types only), node.
 */
import http from 'node:http';
import type { StatusDocument } from '../ops/status.js';

function base(url: string): string {
  return url.replace(/\/+$/, '');
}

/**
 * One HTTP request with node:http rather than fetch(): fetch refuses a list of
 * "bad ports" (5060 and 6000 among them) that an operator may well pick for --http.
 */
function request(url: string, method: 'GET' | 'POST', timeoutMs = 5000): Promise<{ status: number; body: string } | string> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const req = http.request(u, { method, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= 16 << 20) chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (e) => resolve(`cannot reach srvproxy at ${url}: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', (e) => resolve(`cannot reach srvproxy at ${url}: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    req.end();
  });
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

function renderStatus(s: StatusDocument): string {
  const out: string[] = [];
  out.push(`instance ${s.self}${s.draining ? '  (DRAINING)' : ''}`);
  out.push('', `pool ${s.pool.name}`);
  out.push(
    table([
      ['MEMBER', 'PORT', 'ADDRESSES', 'HEALTH', ''],
      ...s.pool.members.map((m) => [m.target, String(m.port), m.addresses.join(','), m.healthy ? 'up' : 'WITHDRAWN', m.self ? 'self' : '']),
    ]),
  );
  for (const p of s.pairs) {
    out.push('', `pair ${p.name}${p.serving ? ' (serving)' : ''}: ${p.inService ? 'in service' : 'OUT OF SERVICE'}, mode ${p.mode}, active ${p.active ?? '-'}`);
    out.push(
      table([
        ['MEMBER', 'ROLE', 'ADDRESS', 'PORT', ''],
        ...p.members.map((m) => [m.target, m.role, m.address, String(m.port), m.target === p.active ? 'active' : '']),
      ]),
    );
  }
  return out.join('\n') + '\n';
}

/** A usage error for a --http value that is not an http:// URL (exit 2), else undefined. */
function badUrl(url: string): number | undefined {
  let u: URL | undefined;
  try {
    u = new URL(url);
  } catch {
    u = undefined;
  }
  if (u?.protocol === 'http:') return undefined;
  process.stderr.write(`srvproxy: --http: '${url}' is not an http:// URL (e.g. http://127.0.0.1:8053)\n`);
  return 2;
}

export async function statusCommand(url: string, json: boolean): Promise<number> {
  const bad = badUrl(url);
  if (bad !== undefined) return bad;
  const r = await request(`${base(url)}/status`, 'GET');
  if (typeof r === 'string') {
    process.stderr.write(`srvproxy: ${r}\n`);
    return 3;
  }
  if (r.status !== 200) {
    process.stderr.write(`srvproxy: ${url}/status answered ${r.status}: ${r.body.trim()}\n`);
    return 1;
  }
  if (json) {
    process.stdout.write(r.body.endsWith('\n') ? r.body : r.body + '\n');
    return 0;
  }
  let doc: StatusDocument;
  try {
    doc = JSON.parse(r.body) as StatusDocument;
  } catch {
    process.stderr.write(`srvproxy: ${url}/status did not return JSON\n`);
    return 1;
  }
  process.stdout.write(renderStatus(doc));
  return 0;
}

export async function controlCommand(url: string, action: 'drain' | 'undrain' | 'reload'): Promise<number> {
  const bad = badUrl(url);
  if (bad !== undefined) return bad;
  const r = await request(`${base(url)}/${action}`, 'POST');
  if (typeof r === 'string') {
    process.stderr.write(`srvproxy: ${r}\n`);
    return 3;
  }
  const text = r.body.trim();
  (r.status === 200 ? process.stdout : process.stderr).write(`${action}: ${text || r.status}\n`);
  return r.status === 200 ? 0 : 1;
}
