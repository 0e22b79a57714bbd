/**
 * The status page (ops/status-page) from a /status document: every value
 * HTML-escaped, red rows for what is withdrawn or out of service, plain POST
 * forms for drain/undrain, no external assets; and the inline script's copy
 * of the renderer, run as the browser runs it, renders what the server did.
 */
import { expect } from 'chai';
import { renderStatusBody, renderStatusPage } from '../../../src/ops/status-page.js';
import type { StatusDocument } from '../../../src/ops/status.js';

const EVIL = '<img src=x onerror="alert(1)">&\'';

function doc(o: Partial<StatusDocument> = {}): StatusDocument {
  return {
    self: 'proxy1.example.com',
    draining: false,
    pool: {
      name: 'sipproxy.example.com',
      failOpen: false,
      members: [
        { target: 'proxy1.example.com', port: 5060, addresses: ['127.0.0.11'], healthy: true, self: true, rttMs: null, since: '2026-12-03T01:00:00.000Z' },
        { target: 'proxy2.example.com', port: 5060, addresses: ['127.0.0.12'], healthy: false, self: false, rttMs: 0.42, since: '2026-12-03T01:59:30.000Z' },
      ],
    },
    pairs: [
      {
        name: 'tserver.example.com', serving: true, inService: true, mode: 'check', active: 'sips-b.example.com',
        members: [
          { target: 'sips-a.example.com', port: 5060, address: '127.0.0.21', role: 'primary', rttMs: null },
          { target: 'sips-b.example.com', port: 5060, address: '127.0.0.22', role: 'backup', rttMs: 12.6 },
        ],
        since: '2026-12-03T01:58:00.000Z', switchovers: 1,
        lastSwitchover: { at: '2026-12-03T01:58:00.000Z', from: 'sips-a.example.com', to: 'sips-b.example.com' },
      },
    ],
    overload: { dialogRate: 0, active: false, rejections: 0, adaptive: { state: 'open', targetMs: 100, rate: null, latenessMs: 0.4, loopDelayMs: 0.1, utilization: 0.12, admitted: 12, shed: 0 } },
    flows: { held: { udp: 3, tcp: 2, tls: 1 }, requests: 40, failed: 2, tokenFailures: 1 },
    time: '2026-12-03T02:00:00.000Z',
    startedAt: '2026-12-03T01:00:00.000Z',
    events: [{ code: 'SRV-40001', name: 'PEER_WITHDRAWN', at: '2026-12-03T01:59:30.000Z', text: 'peer withdrawn from answers', detail: 'peer=proxy2.example.com' }],
    ...o,
  };
}

describe('ops/status-page', () => {
  it('renders members with state, RTT and since; a withdrawn member is a red row', () => {
    const html = renderStatusBody(doc());
    expect(html).to.include('<tr class="ok" data-member="proxy1.example.com" data-state="up">');
    expect(html).to.include('<tr class="bad" data-member="proxy2.example.com" data-state="withdrawn">');
    expect(html).to.include('0.4 ms');
    expect(html).to.include('30s ago');
    expect(html).to.include('sips-a.example.com → sips-b.example.com, <span title="2026-12-03T01:58:00.000Z">2m 0s ago</span>');
    expect(html).to.include('<code>SRV-40001</code>');
    expect(html).to.include('13 ms'); // 12.6 rounded
    expect(html).to.include('<p data-flows="6">3 UDP, 2 TCP, 1 TLS flows held; 40 requests sent down flows, 2 answered 430, 1 bad tokens</p>');
  });

  it('an out-of-service pair, draining, overload and fail-open show red (or orange) badges', () => {
    const d = doc({ draining: true, overload: { dialogRate: 50, active: true, rejections: 7, adaptive: { state: 'limiting', targetMs: 100, rate: 812.5, latenessMs: 140, loopDelayMs: 3, utilization: 0.97, admitted: 900, shed: 5 } } });
    d.pool.failOpen = true;
    d.pool.members[0]!.healthy = false;
    Object.assign(d.pairs[0]!, { inService: false, mode: 'force', active: null });
    const html = renderStatusBody(d);
    expect(html).to.include('<span class="badge warn">DRAINING</span>');
    expect(html).to.include('<span class="badge bad">OVERLOAD: shedding new requests</span>');
    expect(html).to.include('FAIL-OPEN');
    expect(html).to.include('data-member="proxy1.example.com" data-state="draining"');
    expect(html).to.include('<tr class="bad" data-pair-state="out-of-service">');
    expect(html).to.include('overload-ctrl-dialog-rate 50/s, 7 new requests rejected');
    expect(html).to.include('adaptive control limiting at 812.5/s, lateness 140 ms (target 100 ms, event loop 3 ms, 97% busy), 5 shed, 900 admitted');
  });

  it('escapes every value', () => {
    const d = doc({ self: EVIL });
    d.pool.name = EVIL;
    d.pool.members[1]!.target = EVIL;
    d.pool.members[1]!.addresses = [EVIL];
    d.pairs[0]!.name = EVIL;
    d.pairs[0]!.members[0]!.target = EVIL;
    d.pairs[0]!.lastSwitchover!.from = EVIL;
    d.events[0]!.detail = EVIL;
    d.events[0]!.text = EVIL;
    const page = renderStatusPage(d);
    expect(page).not.to.include('<img');
    expect(page).not.to.include('onerror="');
    expect(page).to.include('&#60;img src=x onerror=&#34;alert(1)&#34;&#62;&#38;&#39;');
    // the confirm() text is a JavaScript string inside an attribute: JSON, then HTML-escaped
    expect(page).to.match(/onsubmit="return confirm\(&#34;Drain &#60;img src=x onerror=\\&#34;alert\(1\)\\&#34;&#62;&#38;&#39;\? /);
  });

  it('is one document: no external assets, drain and undrain as plain POST forms, a noscript note', () => {
    const page = renderStatusPage(doc());
    expect(page.startsWith('<!doctype html>')).to.equal(true);
    expect(page).not.to.match(/\b(src|href)=/);
    expect(page).not.to.match(/<link|@import|url\(/);
    expect(page).to.match(/<form method="post" action="drain" onsubmit="return confirm\([^"]*"><button type="submit" id="drain">Drain<\/button><\/form>/);
    expect(page).to.match(/<form method="post" action="undrain" onsubmit="return confirm\([^"]*"><button type="submit" id="undrain">Undrain<\/button><\/form>/);
    expect(page).to.include('<noscript>');
    expect(page).to.include(`<main id="status">${renderStatusBody(doc())}</main>`);
  });

  it("the inline script's renderer is self-contained and renders what the server rendered", () => {
    const page = renderStatusPage(doc());
    const script = /<script>\n([\s\S]*?)<\/script>/.exec(page)![1]!;
    const start = script.indexOf('var render = function');
    const end = script.indexOf('(function () {');
    expect(start).to.be.greaterThan(-1);
    // Only the function's own text, in a scope with nothing from this module.
    // eslint-disable-next-line @typescript-eslint/no-implied-eval, @typescript-eslint/no-unsafe-call -- evaluates the page's own inline renderer, the point of the test
    const fn = new Function(`"use strict"; ${script.slice(start, end)}; return render;`)() as typeof renderStatusBody;
    const d = doc();
    d.pool.members[1]!.target = EVIL;
    expect(fn(d)).to.equal(renderStatusBody(d));
  });
});
