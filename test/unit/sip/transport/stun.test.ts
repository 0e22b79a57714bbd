import { expect } from 'chai';
import {
  bindingSuccess,
  readXorMappedAddress,
  STUN_ATTR_FINGERPRINT,
  STUN_ATTR_XOR_MAPPED_ADDRESS,
  STUN_BINDING_SUCCESS,
  stunKind,
} from '../../../../src/sip/transport/stun.js';

const TXID = Buffer.from('0102030405060708090a0b0c', 'hex');

/** A Binding Request written by hand: type 0x0001, length, magic cookie, transaction id, `attrs`. */
function request(attrs = Buffer.alloc(0), type = 0x0001): Buffer {
  const b = Buffer.alloc(20 + attrs.length);
  b.writeUInt16BE(type, 0);
  b.writeUInt16BE(attrs.length, 2);
  b.writeUInt32BE(0x2112a442, 4);
  TXID.copy(b, 8);
  attrs.copy(b, 20);
  return b;
}

/** RFC 5769 §2.1, the sample request: SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME, MESSAGE-INTEGRITY, FINGERPRINT. */
const RFC5769_REQUEST = Buffer.from(
  '000100582112a442b7e7a701bc34d686fa87dfae802200105354554e20746573' +
    '7420636c69656e74002400046e0001ff80290008932ff9b151263b3600060009' +
    '6576746a3a6836765920202000080014' + '9aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2' + '80280004e57a3bcf',
  'hex',
);

describe('sip/transport/stun (RFC 5389)', () => {
  it('a Binding Request built by hand is one; other STUN classes are recognised to be ignored', () => {
    expect(stunKind(request())).to.equal('binding-request');
    expect(stunKind(request(Buffer.from('0006000475736572', 'hex')))).to.equal('binding-request'); // USERNAME "user"
    expect(stunKind(request(Buffer.alloc(0), 0x0011))).to.equal('other'); // Binding Indication
    expect(stunKind(request(Buffer.alloc(0), 0x0101))).to.equal('other'); // Binding Success Response
    expect(stunKind(request(Buffer.alloc(0), 0x0111))).to.equal('other'); // Binding Error Response
  });

  it('the RFC 5769 sample request: a Binding Request whose FINGERPRINT checks; one bit changed, it does not', () => {
    expect(stunKind(RFC5769_REQUEST)).to.equal('binding-request');
    const bad = Buffer.from(RFC5769_REQUEST);
    bad[30] ^= 1; // inside SOFTWARE
    expect(stunKind(bad)).to.equal('not-stun');
  });

  it('not STUN: a wrong cookie, a length that is not a multiple of 4 or not the datagram, the first two bits set, too short, attributes that overrun', () => {
    const wrongCookie = request();
    wrongCookie.writeUInt32BE(0x2112a443, 4);
    expect(stunKind(wrongCookie)).to.equal('not-stun');
    const odd = Buffer.concat([request(Buffer.alloc(4)), Buffer.alloc(2)]);
    odd.writeUInt16BE(6, 2);
    expect(stunKind(odd)).to.equal('not-stun');
    const longer = Buffer.concat([request(), Buffer.alloc(4)]); // length says 0, the datagram carries 4 more
    expect(stunKind(longer)).to.equal('not-stun');
    const claims = request(Buffer.alloc(8));
    claims.writeUInt16BE(12, 2); // length beyond the datagram
    expect(stunKind(claims)).to.equal('not-stun');
    const topBits = request();
    topBits[0] = 0x40;
    expect(stunKind(topBits)).to.equal('not-stun');
    expect(stunKind(request().subarray(0, 19))).to.equal('not-stun');
    expect(stunKind(request(Buffer.from('0006000875736572', 'hex')))).to.equal('not-stun'); // a value of 8 in 4 bytes
    expect(stunKind(request(Buffer.from('80280004deadbeef', 'hex')))).to.equal('not-stun'); // a wrong FINGERPRINT
    expect(stunKind(Buffer.from('OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n'))).to.equal('not-stun');
    expect(stunKind(Buffer.from('\r\n\r\nOPTIONS sip:x SIP/2.0\r\n\r\n'))).to.equal('not-stun');
  });

  it('Binding Success Response for IPv4: same transaction id, XOR-MAPPED-ADDRESS as RFC 5389 §15.2 computes it, FINGERPRINT', () => {
    const r = bindingSuccess(request(), '127.0.0.1', 5060)!;
    expect(r.length).to.equal(20 + 12 + 8);
    expect(r.readUInt16BE(0)).to.equal(STUN_BINDING_SUCCESS);
    expect(r.readUInt16BE(2)).to.equal(20);
    expect(r.readUInt32BE(4)).to.equal(0x2112a442);
    expect(r.subarray(8, 20).equals(TXID)).to.equal(true);
    expect(r.readUInt16BE(20)).to.equal(STUN_ATTR_XOR_MAPPED_ADDRESS);
    expect(r.readUInt16BE(22)).to.equal(8);
    expect(r[25]).to.equal(0x01);
    expect(r.readUInt16BE(26)).to.equal(5060 ^ 0x2112);
    expect(r.readUInt32BE(28)).to.equal((0x7f000001 ^ 0x2112a442) >>> 0);
    expect(r.readUInt16BE(32)).to.equal(STUN_ATTR_FINGERPRINT);
    // the response is itself valid STUN (its FINGERPRINT checks), and not a request
    expect(stunKind(r)).to.equal('other');
    expect(readXorMappedAddress(r)).to.deep.equal({ address: '127.0.0.1', port: 5060 });
  });

  it('XOR-MAPPED-ADDRESS round-trips for ::1 (xored with cookie and transaction id) and for IPv4 edge values', () => {
    const r = bindingSuccess(request(), '::1', 65535)!;
    expect(r.length).to.equal(20 + 24 + 8);
    expect(r[25]).to.equal(0x02);
    // ::1 is fifteen zeros and a 1: the X-Address is the cookie and transaction id, the last byte xored with 1
    expect(r.subarray(28, 44).toString('hex')).to.equal('2112a442' + '0102030405060708090a0b0d');
    expect(stunKind(r)).to.equal('other');
    expect(readXorMappedAddress(r)).to.deep.equal({ address: '::1', port: 65535 });
    expect(readXorMappedAddress(bindingSuccess(request(), '127.255.0.9', 1)!)).to.deep.equal({ address: '127.255.0.9', port: 1 });
    expect(readXorMappedAddress(bindingSuccess(RFC5769_REQUEST, '127.0.0.2', 40000)!)).to.deep.equal({ address: '127.0.0.2', port: 40000 });
    expect(bindingSuccess(request(), 'not-an-address', 5060)).to.equal(undefined);
  });
});
