import { expect } from 'chai';
import { readConfigObject, resolveSettings } from '../../../src/config/validate.js';
import { ConfigError } from '../../../src/shared/errors.js';

const base = { self: 'proxy1.example.com', pair: ['tserver.example.com'] };

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('config: resolveSettings', () => {
  it('applies the DESIGN.md defaults', () => {
    const s = resolveSettings(base);
    expect(s).to.include({ self: 'proxy1.example.com', dnsPort: 53, oosCheck: 5, oosForce: 5, peerInterval: 1, peerDownAfter: 3, peerUpAfter: 3, overloadCtrlDialogRate: 0, overloadTargetDelayMs: 250, hopTimeoutMs: 500, logLevel: 'info', logFormat: 'text' });
    expect(s.pairs).to.deep.equal(['tserver.example.com']);
    expect(s.zones).to.deep.equal(['zones']);
    expect(s.http).to.deep.equal({ host: '127.0.0.1', port: 8053 });
  });

  it('canonicalises names (case, trailing dot)', () => {
    const s = resolveSettings({ self: 'Proxy1.Example.COM.', pair: ['TServer.example.com.'] });
    expect(s.self).to.equal('proxy1.example.com');
    expect(s.pairs).to.deep.equal(['tserver.example.com']);
  });

  it('--resolver: flag, else config file, else SRVPROXY_RESOLVER (comma-separated), else none (resolv.conf)', () => {
    const env = { SRVPROXY_RESOLVER: '127.0.0.1:5353, [::1]:53' };
    expect(resolveSettings(base, {}, {}).resolver).to.equal(undefined);
    expect(resolveSettings(base, {}, env).resolver).to.deep.equal([{ address: '127.0.0.1', port: 5353 }, { address: '::1', port: 53 }]);
    expect(resolveSettings(base, { resolver: ['127.0.0.2'] }, env).resolver).to.deep.equal([{ address: '127.0.0.2', port: 53 }]);
    expect(resolveSettings({ ...base, resolver: ['127.0.0.3:54'] }, {}, env).resolver).to.deep.equal([{ address: '127.0.0.3', port: 54 }]);
    expect(errorOf(() => resolveSettings(base, {}, { SRVPROXY_RESOLVER: 'dns.example.com' })).message).to.match(/^--resolver: 'dns.example.com' is not ADDRESS\[:PORT\]/);
  });

  it('flags win over the config file, the file over defaults', () => {
    const file = readConfigObject({ 'oos-check': 2, oosForce: 3, self: 'proxy2.example.com' }, 'c.json');
    const s = resolveSettings({ ...base, 'oos-check': '1' }, file);
    expect(s.oosCheck).to.equal(1);
    expect(s.oosForce).to.equal(3);
    expect(s.self).to.equal('proxy1.example.com');
  });

  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['missing --self', { pair: ['p.example.com'] }, /^--self: is required/],
    ['missing --pair', { self: 'a.example.com' }, /^--pair: at least one/],
    ['non-numeric --oos-check', { ...base, 'oos-check': 'abc' }, /^--oos-check: 'abc' is not a number/],
    ['zero --oos-force', { ...base, 'oos-force': '0' }, /^--oos-force: 0 is out of range/],
    ['port out of range', { ...base, 'dns-port': '70000' }, /^--dns-port: 70000 is out of range/],
    ['fractional count', { ...base, 'peer-down-after': '1.5' }, /^--peer-down-after: '1.5' is not a whole number/],
    ['bad address', { ...base, listen: ['300.1.1.1'] }, /^--listen: '300.1.1.1' is not an IP address/],
    ['bad --http', { ...base, http: 'localhost' }, /^--http: 'localhost' is not HOST:PORT/],
    ['bad name', { ...base, self: 'bad_na me' }, /^--self: 'bad_na me' is not a valid domain name/],
    ['bad log level', { ...base, 'log-level': 'loud' }, /^--log-level: 'loud' is not one of/],
    ['non-numeric --overload-target-delay', { ...base, 'overload-target-delay': 'fast' }, /^--overload-target-delay: 'fast' is not a number/],
    ['negative --overload-target-delay', { ...base, 'overload-target-delay': '-5' }, /^--overload-target-delay: -5 is out of range/],
    ['--overload-target-delay under the loop-delay resolution', { ...base, 'overload-target-delay': '5' }, /^--overload-target-delay: 5 ms is below 10 ms/],
  ];
  for (const [what, flags, re] of bad) {
    it(`rejects ${what} naming the flag`, () => {
      expect(errorOf(() => resolveSettings(flags)).message).to.match(re);
    });
  }

  it('--overload-target-delay 0 turns the adaptive overload control off', () => {
    expect(resolveSettings({ ...base, 'overload-target-delay': '0' }).overloadTargetDelayMs).to.equal(0);
    expect(resolveSettings({ ...base, 'overload-target-delay': '250' }).overloadTargetDelayMs).to.equal(250);
  });

  it('accepts IPv6 in --http', () => {
    expect(resolveSettings({ ...base, http: '[::1]:9000' }).http).to.deep.equal({ host: '::1', port: 9000 });
  });
});

describe('config: readConfigObject', () => {
  it('rejects an unknown key naming it', () => {
    expect(errorOf(() => readConfigObject({ 'oos-chek': 1 }, 'x.json')).message).to.equal("--config: x.json: unknown key 'oos-chek'");
  });
  it('rejects a non-object', () => {
    expect(errorOf(() => readConfigObject([1], 'x.json')).message).to.match(/must hold a JSON object/);
  });
});
