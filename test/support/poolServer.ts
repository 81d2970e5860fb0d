/**
 * The orchestrator's TranscoderPool served the way the orchestrator serves it (`pool.attach` on an HTTP server), on a
 * plain `http.createServer()` at 127.0.0.1, port 0; and `streamflow transcoder` daemons pointed at it with the pool's
 * secret. (The TranscoderDaemon helpers take a TranscoderHub, of which they use only the port and the secret.)
 */
import http from "node:http";
import type net from "node:net";

import { type PoolOptions, TranscoderPool } from "../../offchain/orchestrator/transcoderPool";
import { TRANSCODERS_PATH } from "../../offchain/transcoder/protocol";
import type { DaemonGroup, LogPredicate, TranscoderDaemon } from "./transcoderDaemon";

export const REGISTERED = "registered with the orchestrator";

export class ServedPool {
  readonly pool: TranscoderPool;
  readonly server: http.Server;
  port = 0;
  private readonly sockets = new Set<net.Socket>();
  private closing: Promise<void> | undefined;

  constructor(readonly options: PoolOptions) {
    this.pool = new TranscoderPool(options);
    this.server = http.createServer((_request, response) => response.writeHead(404).end());
    this.server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
    this.pool.attach(this.server);
  }

  get secret(): string {
    return this.options.secret;
  }

  /** ws://127.0.0.1:<port>/transcoders */
  get url(): string {
    return `ws://127.0.0.1:${this.port}${TRANSCODERS_PATH}`;
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  /** Closes the pool (its connections get 1001), then the HTTP server and any socket still open. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.pool.close();
      for (const socket of this.sockets) socket.destroy();
      if (this.server.listening) await new Promise<void>((resolve) => this.server.close(() => resolve()));
    })();
    return this.closing;
  }
}

/** A pool on 127.0.0.1, port 0, listening. */
export function servePool(options: PoolOptions): Promise<ServedPool> {
  return new ServedPool(options).listen();
}

/**
 * Spawns `streamflow transcoder --orch-addr 127.0.0.1:<pool port> --http-addr 127.0.0.1:0 <args>` with the pool's
 * secret (tracked by `daemons`, so stopAll stops it) and waits until it logs `waitFor` (by default: registered).
 */
export async function startPoolDaemon(
  daemons: DaemonGroup,
  served: ServedPool,
  args: readonly string[] = [],
  env: NodeJS.ProcessEnv = {},
  waitFor: LogPredicate = REGISTERED,
): Promise<TranscoderDaemon> {
  const daemon = daemons.spawnStreamflow(
    ["transcoder", "--orch-addr", `127.0.0.1:${served.port}`, "--http-addr", "127.0.0.1:0", ...args],
    { STREAMFLOW_ORCH_SECRET: served.secret, ...env },
  );
  await daemon.waitForLog("http listening");
  await daemon.waitForLog(waitFor);
  return daemon;
}
