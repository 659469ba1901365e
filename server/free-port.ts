/**
 * A free TCP port on 127.0.0.1, found by listening on port 0 and closing again. Another process could take it in
 * between; the callers (serve with `--port 0`, whose threads then listen with SO_REUSEPORT, and the crash test,
 * which restarts a server on one port) take that small risk for a port they can name before anything listens.
 */
import { createServer } from 'node:net';

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address !== null ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}
