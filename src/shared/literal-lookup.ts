/**
 * shared/literal-lookup: the `lookup` of a socket whose destinations are
 * always IP literals (a packet's source, a configured or resolved address).
 * Without it, dgram's send (and net.connect) pass every address through
 * dns.lookup, which answers an IP literal a tick later: a deferred call per
 * packet on the DNS and SIP hot paths. May import: nothing.
 */
export type LiteralLookup = (address: string, options: unknown, cb: (err: Error | null, address: string, family: number) => void) => void;

/** Answers the address itself, of the socket's family, at once. */
export function literalLookup(family: 4 | 6): LiteralLookup {
  return (address, _options, cb) => cb(null, address, family);
}
