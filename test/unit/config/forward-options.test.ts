/** --forward and --forward-allow: parsing, defaults, and "both or neither". */
import { expect } from 'chai';
import { readConfigObject, resolveSettings } from '../../../src/config/validate.js';
import { ConfigError } from '../../../src/shared/errors.js';

const base = { self: 'proxy1.example.com', pair: ['tserver.example.com'] };

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('config: --forward, --forward-allow', () => {
  it('off by default', () => {
    const s = resolveSettings(base);
    expect([s.forward, s.forwardAllow]).to.deep.equal([undefined, undefined]);
  });

  it('upstreams as ADDRESS, ADDRESS:PORT, [IPV6]:PORT or IPV6 (port 53 unless given), in order', () => {
    const s = resolveSettings({ ...base, forward: ['127.0.0.53', '127.0.0.54:5353', '[::1]:5300', '2001:db8::53'], 'forward-allow': ['10.0.0.0/8', '::1/128', '127.0.0.1'] });
    expect(s.forward).to.deep.equal([
      { address: '127.0.0.53', port: 53 },
      { address: '127.0.0.54', port: 5353 },
      { address: '::1', port: 5300 },
      { address: '2001:db8::53', port: 53 },
    ]);
    expect(s.forwardAllow).to.deep.equal(['10.0.0.0/8', '::1/128', '127.0.0.1']);
  });

  it('from a config file too', () => {
    const file = readConfigObject({ forward: ['127.0.0.53'], forwardAllow: ['127.0.0.0/8'] }, 'c.json');
    expect(resolveSettings(base, file).forward).to.deep.equal([{ address: '127.0.0.53', port: 53 }]);
  });

  it('rejects bad values and one without the other, naming the flag', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ forward: ['resolver.example.com'], 'forward-allow': ['10.0.0.0/8'] }, /^--forward: 'resolver.example.com' is not ADDRESS\[:PORT\]/],
      [{ forward: ['127.0.0.1:0'], 'forward-allow': ['10.0.0.0/8'] }, /^--forward: 0 is out of range/],
      [{ forward: ['127.0.0.1'], 'forward-allow': ['10.0.0.0/33'] }, /^--forward-allow: '10.0.0.0\/33' is not a network/],
      [{ forward: ['127.0.0.1'], 'forward-allow': ['everyone'] }, /^--forward-allow: 'everyone' is not a network/],
      [{ forward: ['127.0.0.1'] }, /^--forward-allow: is required with --forward/],
      [{ 'forward-allow': ['10.0.0.0/8'] }, /^--forward: is required with --forward-allow/],
    ];
    for (const [flags, re] of cases) expect(message(() => resolveSettings({ ...base, ...flags })), JSON.stringify(flags)).to.match(re);
  });
});
