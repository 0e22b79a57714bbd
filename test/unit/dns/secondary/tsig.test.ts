/**
 * TSIG (RFC 8945, hmac-sha256): the key file as tsig-keygen writes it, and
 * signatures checked against a known vector — an AXFR query signed by BIND's
 * `dig -y hmac-sha256:xfr-key:...` (with EDNS and a cookie), captured off the
 * wire — both ways: srvproxy verifies dig's MAC, and signing the same
 * message at the same time gives dig's exact bytes.
 */
import { expect } from 'chai';
import { ConfigError } from '../../../../src/shared/errors.js';
import { findTsig, MAX_FUDGE, parseKeyFile, sign, tsigLength, TSIG_ERROR, unsignedError, verify, verifyResponse, type TsigKey } from '../../../../src/dns/secondary/tsig.js';

/** `tsig-keygen -a hmac-sha256 xfr-key` */
const KEY_FILE = `key "xfr-key" {
\talgorithm hmac-sha256;
\tsecret "sLcCy7iZH4GsmR4pP/+FulJv0Y+0MZFcA/fGt9b//xs=";
};
`;

/** dig 9.18 -y hmac-sha256:xfr-key:<secret> example.com AXFR, the TCP payload without its length prefix. */
const DIG_AXFR = Buffer.from(
  '604400200001000000000002076578616d706c6503636f6d0000fc000100002904d000000000000c000a0008a2b55ffd9482cce8' +
    '077866722d6b65790000fa00ff00000000003d0b686d61632d7368613235360000006b071c97012c00205e6211231a22c104d328' +
    'efd2896cd48e67c3c45cdbf057276322265e1d8ca160604400000000',
  'hex',
);
const DIG_TIME = 1795628183;

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('dns/secondary/tsig', () => {
  const key: TsigKey = parseKeyFile(KEY_FILE, 'xfr.key');

  it('reads the key file tsig-keygen writes (and comments, unquoted names, trailing dots)', () => {
    expect(key.name).to.equal('xfr-key');
    expect(key.algorithm).to.equal('hmac-sha256');
    expect(key.secret.toString('base64')).to.equal('sLcCy7iZH4GsmR4pP/+FulJv0Y+0MZFcA/fGt9b//xs=');
    const k2 = parseKeyFile('# a key\nkey Transfer.Example. { // inline\n algorithm HMAC-SHA256; /* c */ secret "AAAA"; };', 'k');
    expect(k2).to.deep.include({ name: 'transfer.example', algorithm: 'hmac-sha256' });
  });

  it('rejects a bad key file with the file, the line and the reason', () => {
    expect(configError(() => parseKeyFile('', 'k.key'))).to.equal('--tsig-key: k.key:1: no key in the file');
    expect(configError(() => parseKeyFile('key "k" {\n algorithm hmac-md5;\n secret "AAAA";\n};', 'k.key'))).to.match(/k\.key:1: algorithm 'hmac-md5' is not supported/);
    expect(configError(() => parseKeyFile('key "k" {\n algorithm hmac-sha256;\n secret "not base64!";\n};', 'k.key'))).to.match(/k\.key:3: secret is not base64/);
    expect(configError(() => parseKeyFile('key "k" {\n algorithm hmac-sha256;\n};', 'k.key'))).to.match(/k\.key:1: no secret/);
    expect(configError(() => parseKeyFile('key "k" {\n algorithm hmac-sha256;\n secret "AAAA"\n};', 'k.key'))).to.match(/k\.key:4: expected ';'/);
    expect(configError(() => parseKeyFile('key "k" { algorithm hmac-sha256; secret "AAAA"; };\nkey "j" { };', 'k.key'))).to.match(/k\.key:2: one key per file/);
    expect(configError(() => parseKeyFile('key "k" { colour blue; };', 'k.key'))).to.match(/unknown statement 'colour'/);
  });

  it("finds dig's TSIG record", () => {
    const r = findTsig(DIG_AXFR);
    if (!r || r === 'malformed') throw new Error('no TSIG');
    expect(r).to.deep.include({ keyName: 'xfr-key', algorithm: 'hmac-sha256', timeSigned: DIG_TIME, fudge: 300, originalId: 0x6044, error: 0 });
    expect(r.mac).to.have.length(32);
  });

  it("verifies dig's signature, and rejects it after any change, with another key, or out of time", () => {
    const r = findTsig(DIG_AXFR) as Exclude<ReturnType<typeof findTsig>, null | 'malformed'>;
    expect(verify(DIG_AXFR, r, key, DIG_TIME).error).to.equal(TSIG_ERROR.NONE);
    expect(verify(DIG_AXFR, r, key, DIG_TIME + 300).error).to.equal(TSIG_ERROR.NONE);
    expect(verify(DIG_AXFR, r, key, DIG_TIME + 301).error).to.equal(TSIG_ERROR.BADTIME);
    expect(verify(DIG_AXFR, r, { ...key, name: 'other' }, DIG_TIME).error).to.equal(TSIG_ERROR.BADKEY);
    expect(verify(DIG_AXFR, r, undefined, DIG_TIME).error).to.equal(TSIG_ERROR.BADKEY);
    expect(verify(DIG_AXFR, r, { ...key, secret: Buffer.alloc(32) }, DIG_TIME).error).to.equal(TSIG_ERROR.BADSIG);
    const changed = Buffer.from(DIG_AXFR);
    changed[13] ^= 0x20; // "Example.com": covered by the MAC
    expect(verify(changed, r, key, DIG_TIME).error).to.equal(TSIG_ERROR.BADSIG);
  });

  it("signs like dig: the same message at the same time gives dig's exact bytes", () => {
    const r = findTsig(DIG_AXFR) as Exclude<ReturnType<typeof findTsig>, null | 'malformed'>;
    const unsigned = Buffer.from(DIG_AXFR.subarray(0, r.start));
    unsigned.writeUInt16BE(unsigned.readUInt16BE(10) - 1, 10);
    const s = sign(unsigned, key, { timeSigned: DIG_TIME, fudge: 300 });
    expect(s.message.toString('hex')).to.equal(DIG_AXFR.toString('hex'));
    expect(s.mac.equals(r.mac)).to.equal(true);
  });

  it('chains a response stream: first over the request MAC, later ones over the prior MAC and timers', () => {
    const req = findTsig(DIG_AXFR) as Exclude<ReturnType<typeof findTsig>, null | 'malformed'>;
    const m1 = sign(Buffer.from('604484000000000000000000', 'hex'), key, { timeSigned: DIG_TIME }, { requestMac: req.mac });
    const m2 = sign(Buffer.from('604484000000000000000000', 'hex'), key, { timeSigned: DIG_TIME + 1 }, { priorMac: m1.mac });
    expect(verifyResponse(m1.message, key, { requestMac: req.mac })).to.deep.equal(m1.mac);
    expect(verifyResponse(m2.message, key, { priorMac: m1.mac })).to.deep.equal(m2.mac);
    expect(verifyResponse(m2.message, key, { priorMac: req.mac })).to.equal(null);
    expect(verifyResponse(m1.message, key, {})).to.equal(null);
  });

  it('an error answer carries the TSIG error with an empty MAC', () => {
    const req = findTsig(DIG_AXFR) as Exclude<ReturnType<typeof findTsig>, null | 'malformed'>;
    const out = unsignedError(Buffer.from('604484090000000000000000', 'hex'), req, TSIG_ERROR.BADSIG);
    const r = findTsig(out);
    expect(r).to.deep.include({ keyName: 'xfr-key', error: TSIG_ERROR.BADSIG, originalId: 0x6044 });
    expect((r as { mac: Buffer }).mac).to.have.length(0);
  });

  it('a TSIG anywhere but last is malformed', () => {
    const r = findTsig(DIG_AXFR) as Exclude<ReturnType<typeof findTsig>, null | 'malformed'>;
    // Move the OPT record behind the TSIG one.
    const head = DIG_AXFR.subarray(0, 12 + 13 + 4);
    const opt = DIG_AXFR.subarray(12 + 13 + 4, r.start);
    const tsig = DIG_AXFR.subarray(r.start);
    expect(findTsig(Buffer.concat([head, tsig, opt]))).to.equal('malformed');
    expect(findTsig(DIG_AXFR.subarray(0, DIG_AXFR.length - 3))).to.equal('malformed');
  });

  it('caps the fudge at 300 s: a request asking for an hour is BADTIME 301 s off (as BIND)', () => {
    expect(MAX_FUDGE).to.equal(300);
    const msg = Buffer.from('123400000001000000000000076578616d706c6503636f6d0000060001', 'hex');
    const wide = sign(msg, key, { timeSigned: DIG_TIME, fudge: 3600 }).message;
    const r = findTsig(wide) as Exclude<ReturnType<typeof findTsig>, null | 'malformed'>;
    expect(r.fudge).to.equal(3600);
    expect(verify(wide, r, key, DIG_TIME + 300).error).to.equal(TSIG_ERROR.NONE);
    expect(verify(wide, r, key, DIG_TIME - 301).error).to.equal(TSIG_ERROR.BADTIME);
    expect(verify(wide, r, key, DIG_TIME + 1800).error).to.equal(TSIG_ERROR.BADTIME);
    // A narrower fudge than the cap is honoured as given.
    const narrow = sign(msg, key, { timeSigned: DIG_TIME, fudge: 10 }).message;
    const n = findTsig(narrow) as Exclude<ReturnType<typeof findTsig>, null | 'malformed'>;
    expect(verify(narrow, n, key, DIG_TIME + 11).error).to.equal(TSIG_ERROR.BADTIME);
  });

  it('tsigLength is the length of the record sign() appends', () => {
    const msg = Buffer.from('604484000000000000000000', 'hex');
    for (const k of [key, { ...key, name: 'a.much.longer.key.name.example' }]) {
      expect(sign(msg, k, { timeSigned: DIG_TIME }).message.length - msg.length).to.equal(tsigLength(k));
    }
  });

  it('two TSIG records are malformed', () => {
    const r = findTsig(DIG_AXFR) as Exclude<ReturnType<typeof findTsig>, null | 'malformed'>;
    const twice = Buffer.concat([DIG_AXFR, DIG_AXFR.subarray(r.start)]);
    twice.writeUInt16BE(twice.readUInt16BE(10) + 1, 10);
    expect(findTsig(twice)).to.equal('malformed');
  });
});
