/**
 * GET / end to end, without a browser: two real instances (the CLI as child
 * processes) in front of the simulated HA pair. The page is one HTML
 * document rendered by the server on each request: both pool members and
 * the pair in its tables, drain and undrain as plain POST forms that work
 * with JavaScript off (303 back to the page), values escaped (a rejected
 * reload quoting markup), and a withdrawn peer shown red on the next load.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { startSimPair, type SimPair } from '../../../src/sim/ha-pair.js';
import { freePort } from '../../support/ports.js';
import { eventually, startSrvproxy, stopAll, type Proc } from '../../support/processes.js';
import { writeSiteZone, type SiteZoneSpec } from '../../support/site-zone.js';

const P1 = '127.0.0.65';
const P2 = '127.0.0.66';
const SA = '127.0.0.75';
const SB = '127.0.0.76';
const TIMERS = ['--oos-check', '1', '--oos-force', '0.5', '--peer-interval', '0.2', '--peer-down-after', '2', '--peer-up-after', '2'];

async function page(url: string): Promise<string> {
  const r = await fetch(`${url}/`, { signal: AbortSignal.timeout(2000) });
  expect(r.status).to.equal(200);
  expect(r.headers.get('content-type')).to.equal('text/html; charset=utf-8');
  expect(r.headers.get('cache-control')).to.equal('no-store');
  return r.text();
}

/** What a browser with JavaScript off sends when a form's button is pressed. */
function formPost(url: string): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: '',
    redirect: 'manual',
    signal: AbortSignal.timeout(2000),
  });
}

describe('e2e: the status page (GET /), server-rendered', function () {
  this.timeout(30_000);
  let pair: SimPair | undefined;
  let b: Proc;
  let httpA = '';
  let zoneDirA = '';

  before(async () => {
    const sipPort = await freePort(P1);
    const pairPort = await freePort(SA);
    const dnsPort = await freePort(P1);
    const [hA, hB] = [await freePort(), await freePort()];
    httpA = `http://127.0.0.1:${hA}`;
    const spec: SiteZoneSpec = {
      proxies: [
        { name: 'proxy1', address: P1, port: sipPort },
        { name: 'proxy2', address: P2, port: sipPort },
      ],
      pairs: { tserver: [{ name: 'sips-a', address: SA, port: pairPort }, { name: 'sips-b', address: SB, port: pairPort }] },
    };
    pair = await startSimPair({ primary: { address: SA, port: pairPort }, backup: { address: SB, port: pairPort } });
    const common = ['--pair', 'tserver.example.com', '--dns-port', String(dnsPort), ...TIMERS];
    [, b] = await Promise.all([
      startSrvproxy(['--self', 'proxy1.example.com', '--zones', (zoneDirA = writeSiteZone(spec)), ...common], hA, 'proxy1'),
      startSrvproxy(['--self', 'proxy2.example.com', '--zones', writeSiteZone(spec), ...common], hB, 'proxy2'),
    ]);
    // both members up, and the peer's first probe answered (its RTT shown)
    await eventually(async () => {
      const html = await page(httpA);
      return html.match(/data-state="up"/g)?.length === 2 && /<td>127\.0\.0\.66:\d+<\/td><td class="state">UP<\/td><td>[\d.]+ ms<\/td>/.test(html);
    }, 5000, 'both members up on the page, the peer probed');
  });

  after(async () => {
    await stopAll();
    await pair?.stop();
  });

  it('serves one HTML document with both members up and the pair in service, every table server-rendered', async () => {
    const html = await page(httpA);
    expect(html.startsWith('<!doctype html>')).to.equal(true);
    expect(html).to.include('<title>srvproxy proxy1.example.com</title>');
    expect(html).to.include('<tr class="ok" data-member="proxy1.example.com" data-state="up">');
    expect(html).to.include('<tr class="ok" data-member="proxy2.example.com" data-state="up">');
    expect(html).to.match(/<td>127\.0\.0\.66:\d+<\/td><td class="state">UP<\/td><td>[\d.]+ ms<\/td>/);
    expect(html).to.include('<h2>Pool sipproxy.example.com</h2>');
    expect(html).to.include('<tr class="ok" data-pair-state="in-service">');
    expect(html).to.include('<tr><th>active</th><td>sips-a.example.com</td></tr>');
    expect(html).to.include('<span class="badge ok">SERVING</span>');
    expect(html).to.include('<code>SRV-10000</code>'); // STARTED among the last events
    // no external assets: nothing loaded from anywhere
    expect(html).not.to.match(/\b(src|href)=/);
  });

  it('drain and undrain are plain POST forms: a form post (JavaScript off) drains and redirects back to the page', async () => {
    const html = await page(httpA);
    expect(html).to.match(/<form method="post" action="drain"[^>]*><button type="submit" id="drain">Drain<\/button><\/form>/);
    expect(html).to.match(/<form method="post" action="undrain"[^>]*><button type="submit" id="undrain">Undrain<\/button><\/form>/);
    const r = await formPost(`${httpA}/drain`);
    expect(r.status).to.equal(303);
    expect(r.headers.get('location')).to.equal('./');
    let after = await page(httpA);
    expect(after).to.include('<span class="badge warn">DRAINING</span>');
    expect(after).to.include('<tr class="bad" data-member="proxy1.example.com" data-state="draining">');
    expect(after).to.include('<code>SRV-10010</code>');
    const u = await formPost(`${httpA}/undrain`);
    expect(u.status).to.equal(303);
    after = await page(httpA);
    expect(after).to.include('<span class="badge ok">SERVING</span>');
    expect(after).to.include('data-member="proxy1.example.com" data-state="up"');
    // the CLI's plain POST still gets the text answer
    const c = await fetch(`${httpA}/drain`, { method: 'POST', signal: AbortSignal.timeout(2000) });
    expect([c.status, await c.text()]).to.deep.equal([200, 'draining\n']);
    await fetch(`${httpA}/undrain`, { method: 'POST', signal: AbortSignal.timeout(2000) });
  });

  it('escapes every value: a rejected reload whose error quotes markup shows it as text', async () => {
    const file = path.join(zoneDirA, 'example.com.zone');
    const good = fs.readFileSync(file, 'utf8');
    const evil = "<img/src=x/onerror=alert`1`>&'"; // no zone-file specials: ( ) ; " or blanks
    try {
      fs.writeFileSync(file, `${good}evil A ${evil}\n`);
      const r = await fetch(`${httpA}/reload`, { method: 'POST', signal: AbortSignal.timeout(2000) });
      expect(r.status).to.equal(422);
      expect(await r.text()).to.include(evil);
      const html = await page(httpA);
      expect(html).to.include('<code>SRV-20002</code>');
      expect(html).to.include('&#60;img/src=x/onerror=alert`1`&#62;&#38;&#39;');
      expect(html).not.to.include('<img');
    } finally {
      fs.writeFileSync(file, good);
    }
  });

  it('a killed peer is a red WITHDRAWN row on the next load', async () => {
    await b.kill();
    await eventually(async () => (await page(httpA)).includes('<tr class="bad" data-member="proxy2.example.com" data-state="withdrawn">'), 5000, 'proxy2 withdrawn on the page');
    expect(await page(httpA)).to.include('<code>SRV-40001</code>');
  });
});
