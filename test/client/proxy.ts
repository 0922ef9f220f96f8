import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';

/**
 * A TCP relay in front of a server that counts the connections clients open through
 * it, so a test can see a client's pool from the outside: how many sockets it opened,
 * and when the last of them closed.
 */
export interface CountingProxy {
  readonly port: number;
  /** Connections opened since start (or the last reset). */
  opened(): number;
  /** Connections open now. */
  open(): number;
  /** Connections the client side ended first (a client closing its pool), not the server. */
  endedByClient(): number;
  /** Resolves once no connection is open (at once when none is). */
  drained(): Promise<void>;
  resetCount(): void;
  close(): Promise<void>;
}

export async function countingProxy(targetPort: number): Promise<CountingProxy> {
  const live = new Set<Socket>();
  let opened = 0;
  let byClient = 0;
  let waiters: (() => void)[] = [];
  const settle = (): void => {
    if (live.size > 0) return;
    for (const w of waiters) w();
    waiters = [];
  };
  const server: Server = createServer((client) => {
    opened++;
    live.add(client);
    const upstream = connect(targetPort, '127.0.0.1');
    let first: 'client' | 'server' | undefined;
    client.once('end', () => {
      first ??= 'client';
      if (first === 'client') byClient++;
    });
    upstream.once('end', () => {
      first ??= 'server';
    });
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => client.destroy());
    client.on('close', () => {
      upstream.destroy();
      live.delete(client);
      settle();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    opened: () => opened,
    open: () => live.size,
    endedByClient: () => byClient,
    drained: () =>
      new Promise<void>((resolve) => {
        waiters.push(resolve);
        settle();
      }),
    resetCount: () => {
      opened = 0;
      byClient = 0;
    },
    close: async () => {
      for (const s of live) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
