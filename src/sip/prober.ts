/**
 * sip/prober: the Prober of shared/health.ts: one OPTIONS with a fresh
 * branch, tag and Call-ID, through the instance's own transport and
 * transaction layer, reporting the final status and the round trip, or null
 * on timeout or transport error. May import: shared, sip/codec, sip/transport,
 * sip/transaction.
 */
import type { Clock } from '../shared/clock.js';
import type { ProbeResult, ProbeTarget, Prober } from '../shared/health.js';
import type { SipRequest } from './codec/codec.js';
import { newBranch, newCallId, newTag } from './codec/ids.js';
import { ownVia } from './codec/messages.js';
import type { TransactionLayer } from './transaction/layer.js';
import type { ListenAddress } from './transport/types.js';
import { hostForUri, transportParam } from './codec/uri.js';

export class SipProber implements Prober {
  constructor(
    private readonly layer: TransactionLayer,
    private readonly transport: { localFor(address: string): ListenAddress },
    private readonly clock: Clock,
    /** The From host (the pool FQDN). */
    private readonly fromHost: () => string,
  ) {}

  probe(target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
    return new Promise<ProbeResult>((resolve) => {
      const started = this.clock.now();
      let settled = false;
      const settle = (r: ProbeResult) => {
        if (settled) return;
        settled = true;
        this.clock.clearTimeout(timer);
        resolve(r);
      };
      const local = this.transport.localFor(target.address);
      const host = hostForUri(target.host);
      const req: SipRequest = {
        kind: 'request',
        method: 'OPTIONS',
        uri: `sip:${host}:${target.port}` + transportParam(target.transport),
        version: '2.0',
        headers: {
          via: [ownVia(target.transport, local.address, local.port, newBranch(), true)],
          'max-forwards': '70',
          from: { uri: `sip:srvproxy@${this.fromHost()}`, params: { tag: newTag() } },
          to: { uri: `sip:${host}:${target.port}`, params: {} },
          'call-id': newCallId(),
          cseq: { seq: 1, method: 'OPTIONS' },
          accept: 'application/sdp',
        },
        content: undefined,
      };
      const timer = this.clock.setTimeout(() => {
        ct?.abandon();
        settle({ status: null, rttMs: this.clock.now() - started, error: 'timeout' });
      }, timeoutMs);
      const ct = this.layer.sendRequest(req, { protocol: target.transport, address: target.address, port: target.port }, {
        onResponse: (res) => {
          if (res.status >= 200) settle({ status: res.status, rttMs: this.clock.now() - started });
        },
        onFailure: (cause, _ct, detail) => settle({ status: null, rttMs: this.clock.now() - started, error: detail ?? cause }),
      });
      if (!ct) settle({ status: null, rttMs: 0, error: 'transaction table full' });
    });
  }
}
