/**
 * TSIG at the edge (RFC 8945 §5.2), through real instances (the CLI, child
 * processes) on loopback, with raw signed packets from a Node socket: a
 * signed query to an instance without a key, an unknown key, a TSIG that is
 * not last or repeated, a bad MAC, a time outside the (capped) fudge, a
 * replayed Time Signed, and a signed UDP answer that must fit the client's
 * size with its TSIG.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildQuery, decode, tcpExchange, udpExchange } from '../../support/dns-wire.js';
import { readTsig, signQuery, tsigRecord, verifiesAsAnswer, type ClientKey } from '../../support/dns-tsig.js';
import { startPoolSite, type PoolSite } from '../../support/pool-site.js';

const NOTAUTH = '9';
const TSIG = { BADSIG: 16, BADKEY: 17, BADTIME: 18 };
const now = () => Math.floor(Date.now() / 1000);

/**
 * A long key name (143 octets), so that a TSIG record is large (218 octets)
 * and the size rule can be seen with a 512-octet client.
 */
const KEY: ClientKey = { name: `${'k'.repeat(63)}.${'e'.repeat(63)}.xfr-key.example`, secret: Buffer.alloc(32, 0x5a) };

function keyFile(dir: string): string {
  const file = path.join(dir, 'xfr.key');
  fs.writeFileSync(file, `key "${KEY.name}" {\n\talgorithm hmac-sha256;\n\tsecret "${KEY.secret.toString('base64')}";\n};\n`);
  return file;
}

/** A message with `records` appended to the additional section. */
function withAdditional(msg: Buffer, ...records: Buffer[]): Buffer {
  const out = Buffer.concat([msg, ...records]);
  out.writeUInt16BE(out.readUInt16BE(10) + records.length, 10);
  return out;
}

const OPT = (() => {
  const opt = Buffer.alloc(11);
  opt.writeUInt16BE(41, 1);
  opt.writeUInt16BE(1232, 3);
  return opt;
})();

describe('e2e dns: TSIG refusals and limits through a real instance', function () {
  this.timeout(40_000);
  let keyed: PoolSite;
  let unkeyed: PoolSite;
  let at: string;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srvproxy-tsig-'));

  before(async () => {
    unkeyed = await startPoolSite({ instances: 1 });
    keyed = await startPoolSite({ instances: 1, args: ['--allow-transfer', '127.0.0.0/8', '--tsig-key', keyFile(dir)] });
    at = keyed.instances[0]!.address;
  });
  after(async () => {
    await keyed?.stop();
    await unkeyed?.stop();
    for (const s of [keyed, unkeyed]) if (s) fs.rmSync(s.zoneDir, { recursive: true, force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const ask = async (site: PoolSite, msg: Buffer): Promise<Buffer> => {
    const r = await udpExchange(site.dnsPort, msg, 2000, site.instances[0]!.address);
    if (!r) throw new Error('no answer');
    return r;
  };

  it('a signed query to an instance with no key: NOTAUTH, TSIG error BADKEY, empty MAC, OPT kept (was: an unsigned NOERROR answer)', async () => {
    const q = signQuery(buildQuery('example.com', 'SOA', { edns: 1232 }), KEY, now());
    const r = await ask(unkeyed, q.message);
    const d = decode(r);
    expect(d.rcode).to.equal(NOTAUTH);
    expect(d.answer).to.deep.equal([]);
    expect(d.opt).to.deep.include({ udpSize: 1232, version: 0 });
    const t = readTsig(r);
    expect(t).to.deep.include({ keyName: KEY.name, error: TSIG.BADKEY });
    expect(t!.mac.length).to.equal(0);
    expect(unkeyed.instances[0]!.proc!.output).to.include('SRV-20023');
  });

  it('a key name the instance does not know: NOTAUTH/BADKEY', async () => {
    const other = { name: 'other-key', secret: KEY.secret };
    const r = await ask(keyed, signQuery(buildQuery('example.com', 'SOA'), other, now()).message);
    expect(decode(r).rcode).to.equal(NOTAUTH);
    expect(readTsig(r)).to.deep.include({ keyName: 'other-key', error: TSIG.BADKEY });
  });

  it('a TSIG that is not the last record, or two TSIGs: FORMERR, unsigned (was: a normal answer)', async () => {
    const plain = buildQuery('example.com', 'SOA', { id: 7 });
    const signed = signQuery(plain, KEY, now());
    const tsig = signed.message.subarray(plain.length);
    // TSIG, then OPT after it.
    const notLast = withAdditional(plain, tsig, OPT);
    const r1 = await ask(keyed, notLast);
    expect(decode(r1)).to.deep.include({ id: 7, rcode: 'FORMERR', answer: [] });
    expect(readTsig(r1)).to.equal(undefined);
    // The same TSIG twice.
    const twice = withAdditional(plain, tsig, tsig);
    const r2 = await ask(keyed, twice);
    expect(decode(r2)).to.deep.include({ rcode: 'FORMERR', answer: [] });
    expect(readTsig(r2)).to.equal(undefined);
  });

  it('a wrong MAC: NOTAUTH/BADSIG', async () => {
    const r = await ask(keyed, signQuery(buildQuery('example.com', 'SOA'), { ...KEY, secret: Buffer.alloc(32, 1) }, now()).message);
    expect(decode(r).rcode).to.equal(NOTAUTH);
    expect(readTsig(r)).to.deep.include({ error: TSIG.BADSIG });
  });

  it('outside the fudge: BADTIME; a fudge above 300 s counts as 300 (was: accepted)', async () => {
    const stale = signQuery(buildQuery('example.com', 'SOA'), KEY, now() - 400, 300);
    const r1 = await ask(keyed, stale.message);
    expect(decode(r1).rcode).to.equal(NOTAUTH);
    expect(readTsig(r1)).to.deep.include({ error: TSIG.BADTIME });
    // The same time with a fudge of an hour: still 100 s outside the capped window.
    const wide = signQuery(buildQuery('example.com', 'SOA'), KEY, now() - 400, 3600);
    const r2 = await ask(keyed, wide.message);
    expect(decode(r2).rcode).to.equal(NOTAUTH);
    const t = readTsig(r2)!;
    expect(t.error).to.equal(TSIG.BADTIME);
    // BADTIME is signed, with the server's time in Other Data (§5.2.3).
    expect(verifiesAsAnswer(r2, KEY, wide.mac)).to.equal(true);
    expect(t.other.length).to.equal(6);
    // Within the window: answered and signed.
    const fresh = signQuery(buildQuery('example.com', 'SOA'), KEY, now() - 200, 3600);
    const r3 = await ask(keyed, fresh.message);
    expect(decode(r3).rcode).to.equal('NOERROR');
    expect(verifiesAsAnswer(r3, KEY, fresh.mac)).to.equal(true);
  });

  it('replay: a Time Signed older than the last accepted is BADTIME, over UDP and for a transfer over TCP (was: accepted)', async () => {
    const t0 = now();
    const first = signQuery(buildQuery('example.com', 'SOA', { id: 1 }), KEY, t0);
    expect(decode(await ask(keyed, first.message)).rcode).to.equal('NOERROR');
    // The very same message again: its Time Signed is not older, so it is taken (a retry).
    expect(decode(await ask(keyed, first.message)).rcode).to.equal('NOERROR');
    const older = signQuery(buildQuery('example.com', 'SOA', { id: 2 }), KEY, t0 - 30);
    const r = await ask(keyed, older.message);
    expect(decode(r).rcode).to.equal(NOTAUTH);
    expect(readTsig(r)).to.deep.include({ error: TSIG.BADTIME });
    const axfr = signQuery(buildQuery('example.com', 'AXFR', { id: 3, flags: 0 }), KEY, t0 - 30);
    const [viaTcp] = await tcpExchange(keyed.dnsPort, [axfr.message], 1, 3000, at);
    expect(decode(viaTcp!).rcode).to.equal(NOTAUTH);
    expect(readTsig(viaTcp!)).to.deep.include({ error: TSIG.BADTIME });
    // A newer time is served again.
    const newer = signQuery(buildQuery('example.com', 'AXFR', { id: 4, flags: 0 }), KEY, now());
    const [ok] = await tcpExchange(keyed.dnsPort, [newer.message], 1, 3000, at);
    expect(decode(ok!).answer[0]).to.match(/ SOA /);
    expect(verifiesAsAnswer(ok!, KEY, newer.mac)).to.equal(true);
  });

  it('a signed UDP answer fits the client size with its TSIG: truncated (TC) and still signed (was: 512 + the TSIG)', async () => {
    // A 250-octet question name: question + TSIG fit in 512, the negative answer's SOA does not.
    const name = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(44)}.example.com`;
    const tsigLen = tsigRecord(KEY, 0, 0, 300, Buffer.alloc(32)).length;
    const unsigned = await ask(keyed, buildQuery(name, 'A'));
    expect(decode(unsigned).rcode).to.equal('NXDOMAIN');
    expect(unsigned.length + tsigLen, 'the case is meaningful: answer + TSIG exceed 512').to.be.greaterThan(512);
    const q = signQuery(buildQuery(name, 'A'), KEY, now());
    const r = await ask(keyed, q.message);
    expect(r.length).to.be.at.most(512);
    const d = decode(r);
    expect(d.tc).to.equal(true);
    expect(d.rcode).to.equal('NXDOMAIN');
    expect(verifiesAsAnswer(r, KEY, q.mac)).to.equal(true);
    // Over TCP the same query gets the whole answer, signed.
    const [full] = await tcpExchange(keyed.dnsPort, [q.message], 1, 3000, at);
    expect(decode(full!).tc).to.equal(false);
    expect(decode(full!).authority[0]).to.match(/ SOA /);
    expect(verifiesAsAnswer(full!, KEY, q.mac)).to.equal(true);
  });
});
