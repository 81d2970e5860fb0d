/**
 * The HTTP side every daemon shares: a fastify app with `GET /healthz` (200 while healthy, 503 with the reasons
 * otherwise) and Prometheus `GET /metrics`, bound to an explicit address.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from "fastify";
import type { Registry } from "prom-client";

import type { Logger } from "./log";

export interface Health {
  ok: boolean;
  /** Anything an operator should see: state, counts, the reason it is not ok. */
  [key: string]: unknown;
}

export interface HttpOptions {
  registry: Registry;
  health: () => Health;
  log: Logger;
}

export function createHttpApp(options: HttpOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.log.child({ component: "http" }) as FastifyBaseLogger,
    // Health checks and metric scrapes every few seconds would drown the log.
    logController: new LogController({ disableRequestLogging: true }),
  });
  app.get("/healthz", async (_request, reply) => {
    const health = options.health();
    return reply.code(health.ok ? 200 : 503).send(health);
  });
  app.get("/metrics", async (_request, reply) => {
    return reply.type(options.registry.contentType).send(await options.registry.metrics());
  });
  return app;
}

/** "127.0.0.1:7936" → host and port; a bare port binds loopback (never 0.0.0.0 unless asked). */
export function parseListenAddress(address: string, flag: string): { host: string; port: number } {
  // [IPv6]:port, name-or-IPv4:port, or a bare port.
  const match = /^(?:(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):)?(\d{1,5})$/.exec(address.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) {
    throw new Error(`${flag} "${address}": expected host:port (e.g. 127.0.0.1:7936 or [::1]:7936) or a port`);
  }
  return { host: match[1] ?? match[2] ?? "127.0.0.1", port };
}

/** Starts listening and returns the URL actually bound (port 0 picks a free one). */
export async function listen(app: FastifyInstance, address: { host: string; port: number }): Promise<string> {
  await app.listen({ host: address.host, port: address.port });
  const bound = app.server.address();
  if (bound === null || typeof bound === "string") return `http://${address.host}:${address.port}`;
  const host = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
  return `http://${host}:${bound.port}`;
}
