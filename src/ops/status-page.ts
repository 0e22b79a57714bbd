/**
 * ops/status-page: GET / — the operator's status page, one self-contained
 * HTML document (no external assets). The server renders the tables from the
 * /status document on each request, so the page reads as plain tables with
 * JavaScript off; a small inline script re-renders them from /status every
 * second with the same function (`renderStatusBody` is sent to the browser
 * as its own source text, so it must use nothing outside its body).
 * Drain and undrain are plain POST forms (a confirm() when JavaScript is on).
 * Every value is HTML-escaped. May import: ops.
 */
import type { StatusDocument } from './status.js';

/** The refreshed part of the page. Self-contained: also runs in the browser. */
export function renderStatusBody(s: StatusDocument): string {
  const esc = (v: unknown): string => String(v).replace(/[&<>"']/g, (c) => '&#' + c.charCodeAt(0) + ';');
  const now = Date.parse(s.time);
  const ago = (t: string): string => {
    let sec = Math.max(0, Math.round((now - Date.parse(t)) / 1000));
    if (sec < 60) return sec + 's';
    const d = Math.floor(sec / 86400);
    const h = Math.floor((sec % 86400) / 3600);
    const m = Math.floor((sec % 3600) / 60);
    sec = sec % 60;
    return d > 0 ? d + 'd ' + h + 'h' : h > 0 ? h + 'h ' + m + 'm' : m + 'm ' + sec + 's';
  };
  const when = (t: string): string => '<span title="' + esc(t) + '">' + esc(ago(t)) + ' ago</span>';
  const rtt = (ms: number | null): string => (ms === null ? '–' : esc(ms < 10 ? ms.toFixed(1) : Math.round(ms)) + ' ms');
  const badge = (cls: string, text: string): string => '<span class="badge ' + cls + '">' + esc(text) + '</span>';
  const out: string[] = [];

  out.push(
    '<p class="summary">',
    s.draining ? badge('warn', 'DRAINING') : badge('ok', 'SERVING'),
    ' ',
    s.overload.active ? badge('bad', 'OVERLOAD: shedding new requests') : badge('ok', 'no overload'),
    s.pool.failOpen ? ' ' + badge('bad', 'FAIL-OPEN: every member withdrawn') : '',
    '</p>',
  );

  out.push('<h2>Pool ', esc(s.pool.name), '</h2>');
  out.push('<table class="pool"><thead><tr><th>member</th><th>address</th><th>state</th><th>last probe RTT</th><th>since</th></tr></thead><tbody>');
  for (const m of s.pool.members) {
    const state = m.healthy ? 'up' : m.self && s.draining ? 'draining' : 'withdrawn';
    out.push(
      '<tr class="', m.healthy ? 'ok' : 'bad', '" data-member="', esc(m.target), '" data-state="', esc(state), '">',
      '<td>', esc(m.target), m.self ? ' <em>(this instance)</em>' : '', '</td>',
      '<td>', esc(m.addresses.join(', ')), ':', esc(m.port), '</td>',
      '<td class="state">', esc(state.toUpperCase()), '</td>',
      '<td>', m.self ? '<em>self</em>' : rtt(m.rttMs), '</td>',
      '<td>', when(m.since), '</td></tr>',
    );
  }
  out.push('</tbody></table>');

  for (const p of s.pairs) {
    const state = p.inService ? 'in service' : p.mode === 'force' && p.active === null ? 'out of service / switching' : 'out of service';
    out.push(
      '<h2 data-pair="', esc(p.name), '">Pair ', esc(p.name), p.serving ? ' <em>(serving pair)</em>' : '', '</h2>',
      '<table class="pair"><tbody>',
      '<tr class="', p.inService ? 'ok' : 'bad', '" data-pair-state="', esc(p.inService ? 'in-service' : 'out-of-service'), '">',
      '<th>state</th><td class="state">', esc(state.toUpperCase()), ' — ', esc(p.mode), ' mode, since ', when(p.since), '</td></tr>',
      '<tr><th>active</th><td>', p.active === null ? '<strong>none</strong>' : esc(p.active), '</td></tr>',
      '<tr><th>last switchover</th><td>',
      p.lastSwitchover
        ? esc(p.lastSwitchover.from ?? '?') + ' → ' + esc(p.lastSwitchover.to) + ', ' + when(p.lastSwitchover.at)
        : 'none since start',
      ' (', esc(p.switchovers), ' in all)</td></tr>',
      '</tbody></table>',
      '<table class="members"><thead><tr><th>member</th><th>role</th><th>address</th><th>answers</th><th>last probe RTT</th></tr></thead><tbody>',
    );
    for (const m of p.members) {
      const active = m.target === p.active;
      out.push(
        '<tr class="', active ? 'ok' : p.active === null ? 'bad' : '', '" data-pair-member="', esc(m.target), '">',
        '<td>', esc(m.target), '</td><td>', esc(m.role), '</td><td>', esc(m.address), ':', esc(m.port), '</td>',
        '<td class="state">', active ? 'ACTIVE' : 'standby', '</td><td>', rtt(m.rttMs), '</td></tr>',
      );
    }
    out.push('</tbody></table>');
  }

  out.push(
    '<h2>Overload</h2><p>',
    s.overload.dialogRate > 0 ? 'overload-ctrl-dialog-rate ' + esc(s.overload.dialogRate) + '/s' : 'overload-ctrl-dialog-rate off',
    ', ', esc(s.overload.rejections), ' new requests rejected since start</p>',
  );
  const a = s.overload.adaptive;
  out.push(
    '<p data-adaptive="', esc(a.state), '">',
    a.state === 'off'
      ? 'adaptive control off'
      : 'adaptive control ' + esc(a.state) + (a.rate === null ? '' : ' at ' + esc(a.rate) + '/s') + ', lateness ' + esc(a.latenessMs) + ' ms (target ' + esc(a.targetMs) + ' ms, event loop ' + esc(a.loopDelayMs) + ' ms' + (a.utilization === null ? '' : ', ' + esc(Math.round(a.utilization * 100)) + '% busy') + '), ' + esc(a.shed) + ' shed, ' + esc(a.admitted) + ' admitted',
    '</p>',
  );

  const f = s.flows;
  out.push(
    '<h2>Flows</h2><p data-flows="', esc(f.held.udp + f.held.tcp + f.held.tls), '">',
    esc(f.held.udp), ' UDP, ', esc(f.held.tcp), ' TCP, ', esc(f.held.tls), ' TLS flows held; ',
    esc(f.requests), ' requests sent down flows, ', esc(f.failed), ' answered 430, ', esc(f.tokenFailures), ' bad tokens</p>',
  );

  out.push('<h2>Last events</h2>');
  if (s.events.length === 0) out.push('<p>none</p>');
  else {
    out.push('<table class="events"><thead><tr><th>when</th><th>code</th><th>event</th><th>detail</th></tr></thead><tbody>');
    for (const e of s.events) {
      out.push('<tr><td>', when(e.at), '</td><td><code>', esc(e.code), '</code></td><td>', esc(e.text), '</td><td class="detail">', esc(e.detail), '</td></tr>');
    }
    out.push('</tbody></table>');
  }
  out.push('<p class="foot">', esc(s.self), ' · up since ', esc(s.startedAt), ' · page time ', esc(s.time), '</p>');
  return out.join('');
}

const STYLE = `
body{font:20px/1.35 system-ui,sans-serif;margin:0 1.2em 2em;background:#fafafa;color:#111}
h1{font-size:1.6em;margin:.6em 0 .2em}
h2{font-size:1.25em;margin:1em 0 .3em}
table{border-collapse:collapse;min-width:60%;margin-bottom:.4em}
th,td{text-align:left;padding:.25em .6em;border-bottom:1px solid #ccc}
thead th{font-size:.8em;color:#555}
tr.ok td.state{background:#2e7d32;color:#fff;font-weight:700}
tr.bad td,tr.bad th{background:#c62828;color:#fff;font-weight:700}
.badge{display:inline-block;padding:.15em .6em;border-radius:.3em;font-weight:700;color:#fff}
.badge.ok{background:#2e7d32}.badge.warn{background:#ef6c00}.badge.bad{background:#c62828}
.summary{font-size:1.3em}
form{display:inline}
button{font-size:1em;padding:.3em 1em;margin-right:.5em;border:2px solid #555;border-radius:.3em;background:#fff;cursor:pointer}
#drain{border-color:#ef6c00;color:#b34700}
.events td:nth-child(-n+2){white-space:nowrap}
.detail{font-size:.8em;color:#333}
tr.bad .detail{color:#fff}
.foot{font-size:.75em;color:#666}
#stale{background:#c62828;color:#fff;padding:.2em .6em}
`;

/** A JavaScript string literal that can sit in an HTML attribute. */
function jsString(text: string): string {
  return JSON.stringify(text).replace(/[&<>"']/g, (c) => '&#' + c.charCodeAt(0) + ';');
}

/** The whole page, server-rendered from `s`. */
export function renderStatusPage(s: StatusDocument): string {
  const esc = (v: string): string => v.replace(/[&<>"']/g, (c) => '&#' + c.charCodeAt(0) + ';');
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>srvproxy ${esc(s.self)}</title>`,
    `<style>${STYLE}</style></head><body>`,
    `<h1>srvproxy ${esc(s.self)}</h1>`,
    '<p class="controls">',
    `<form method="post" action="drain" onsubmit="return confirm(${jsString(`Drain ${s.self}? It withdraws itself from DNS answers and answers OPTIONS 503.`)})"><button type="submit" id="drain">Drain</button></form>`,
    `<form method="post" action="undrain" onsubmit="return confirm(${jsString(`Undrain ${s.self}? It serves again.`)})"><button type="submit" id="undrain">Undrain</button></form>`,
    '<span id="stale" hidden></span>',
    '</p>',
    '<noscript><p>JavaScript is off: this page shows the state when it was loaded; reload it to refresh.</p></noscript>',
    `<main id="status">${renderStatusBody(s)}</main>`,
    '<script>',
    '"use strict";',
    // As an expression: a bundler may rename the declaration, never this variable.
    `var render = ${renderStatusBody.toString()};`,
    `(function () {
  var main = document.getElementById('status');
  var stale = document.getElementById('stale');
  function tick() {
    fetch('status', { cache: 'no-store' })
      .then(function (r) { if (!r.ok) throw new Error('/status answered ' + r.status); return r.json(); })
      .then(function (s) { main.innerHTML = render(s); stale.hidden = true; })
      .catch(function (e) { stale.textContent = 'not refreshed: ' + e.message; stale.hidden = false; })
      .then(function () { setTimeout(tick, 1000); });
  }
  setTimeout(tick, 1000);
})();`,
    '</script>',
    '</body></html>',
    '',
  ].join('\n');
}
