/**
 * A TCP proxy on a free loopback port in front of another server (the `hardhat node` JSON-RPC), for fault tests:
 * `cut()` resets every open connection and every new one, `restore()` lets traffic through again. The port stays
 * bound while cut, so clients fail at once with ECONNRESET (a node that is down) instead of hanging, and nothing else
 * can take the port before `restore()`.
 */
import net from "node:net";
import type { AddressInfo } from "node:net";

export interface TcpProxy {
  /** http://127.0.0.1:<port>: the target's URL with the proxy's address. */
  url: string;
  /** Connections passed on to the target so far. */
  readonly connections: number;
  /** Connections reset because the proxy was cut (open ones at `cut()` and new ones since). */
  readonly resets: number;
  readonly isCut: boolean;
  cut(): void;
  restore(): void;
  /** Resets everything and stops listening. */
  close(): Promise<void>;
}

export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const upstream = new URL(target);
  const state = { connections: 0, resets: 0, cut: false };
  const open = new Set<{ client: net.Socket; server: net.Socket }>();

  const reset = (pair: { client: net.Socket; server: net.Socket }) => {
    open.delete(pair);
    state.resets++;
    // A TCP RST, as from a peer that went away, rather than an orderly FIN.
    if (!pair.client.destroyed) pair.client.resetAndDestroy();
    pair.server.destroy();
  };

  const proxy = net.createServer((client) => {
    client.on("error", () => {}); // the client's own resets are expected here
    if (state.cut) {
      state.resets++;
      client.resetAndDestroy();
      return;
    }
    state.connections++;
    const server = net.connect(Number(upstream.port), upstream.hostname);
    const pair = { client, server };
    open.add(pair);
    const close = () => {
      open.delete(pair);
      client.destroy();
      server.destroy();
    };
    server.on("error", close);
    client.on("close", close);
    server.on("close", close);
    client.pipe(server);
    server.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    proxy.once("error", reject);
    proxy.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = proxy.address() as AddressInfo;

  const cut = () => {
    state.cut = true;
    for (const pair of [...open]) reset(pair);
  };
  return {
    url: `${upstream.protocol}//127.0.0.1:${port}`,
    get connections() {
      return state.connections;
    },
    get resets() {
      return state.resets;
    },
    get isCut() {
      return state.cut;
    },
    cut,
    restore: () => {
      state.cut = false;
    },
    close: () => {
      cut();
      return new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}
