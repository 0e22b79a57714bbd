import { expect } from 'chai';
import sip from 'sip';
import { encode } from '../../../../src/sip/codec/codec.js';
import type { Transport } from '../../../../src/sip/codec/message.js';
import { ownVia } from '../../../../src/sip/codec/messages.js';
import { defaultPort, namedTransport, parseUriText, transportFor, transportParam } from '../../../../src/sip/codec/uri.js';

describe('sip/codec/uri: the transport and default port of a target, in one place', () => {
  const cases: [string, Transport | undefined, Transport, number][] = [
    ['sip:a@127.0.0.1', undefined, 'udp', 5060],
    ['sip:a@127.0.0.1;transport=udp', 'udp', 'udp', 5060],
    ['sip:a@127.0.0.1;transport=tcp', 'tcp', 'tcp', 5060],
    ['sip:a@127.0.0.1;transport=TCP', 'tcp', 'tcp', 5060],
    ['sip:a@127.0.0.1;transport=tls', 'tls', 'tls', 5061],
    ['sips:a@127.0.0.1', 'tls', 'tls', 5061],
    ['sips:a@127.0.0.1;transport=tcp', 'tls', 'tls', 5061], // TLS over TCP (RFC 3261 §26.2.2)
    ['sip:a@127.0.0.1;transport=sctp', undefined, 'udp', 5060], // not spoken here: the default
    ['sip:a@127.0.0.1;transport', undefined, 'udp', 5060],
  ];
  for (const [uri, named, chosen, port] of cases) {
    it(`${uri}: names ${named ?? 'none'}, reached over ${chosen}, default port ${port}`, () => {
      const u = parseUriText(uri)!;
      expect(namedTransport(u)).to.equal(named);
      expect(transportFor(u)).to.equal(chosen);
      expect(defaultPort(transportFor(u))).to.equal(port);
    });
  }

  it('a URI written for a transport reads back as that transport', () => {
    for (const t of ['udp', 'tcp', 'tls'] as const) expect(transportFor(parseUriText('sip:127.0.0.21:5060' + transportParam(t))!)).to.equal(t);
    expect(transportParam('udp')).to.equal('');
  });

  it('ownVia: transport in upper case, IPv6 sent-by in brackets, the given branch, rport only when asked', () => {
    expect(ownVia('tls', '::1', 5061, 'z9hG4bKa')).to.deep.equal({ version: '2.0', protocol: 'TLS', host: '[::1]', port: 5061, params: { branch: 'z9hG4bKa' } });
    expect(ownVia('udp', '127.0.0.11', 5060, 'z9hG4bKb', true).params).to.deep.equal({ branch: 'z9hG4bKb', rport: null });
    const text = encode({
      kind: 'request', method: 'OPTIONS', uri: 'sip:127.0.0.21', version: '2.0', content: undefined,
      headers: { via: [ownVia('tcp', '127.0.0.11', 5060, 'z9hG4bKc', true)], from: { uri: 'sip:a@x', params: { tag: '1' } }, to: { uri: 'sip:b@y', params: {} }, 'call-id': 'v1', cseq: { seq: 1, method: 'OPTIONS' } },
    }).toString('latin1');
    expect(text).to.contain('\r\nVia: SIP/2.0/TCP 127.0.0.11:5060;branch=z9hG4bKc;rport\r\n');
    expect(sip.parse(text)!.headers.via![0]).to.include({ protocol: 'TCP', host: '127.0.0.11', port: 5060 });
  });
});
