/**
 * Free ports on loopback for tests: a port is taken by binding UDP and TCP
 * on port 0, then released for the process under test.
 */
import dgram from 'node:dgram';
import net from 'node:net';

const handedOut = new Set<number>();

async function tryPort(address: string): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, address, () => resolve());
  });
  const port = (srv.address() as net.AddressInfo).port;
  const udp = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
  const ok = await new Promise<boolean>((resolve) => {
    udp.once('error', () => resolve(false));
    udp.bind(port, address, () => resolve(true));
  });
  udp.close();
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return ok && !handedOut.has(port) ? port : 0;
}

/** A port free for both UDP and TCP on `address`. */
export async function freePort(address = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = await tryPort(address);
    if (p) {
      handedOut.add(p);
      return p;
    }
  }
  throw new Error(`no free port on ${address}`);
}
