/**
 * The HTTP side every daemon shares: a fastify app with `GET /healthz` (200 while healthy, 503 with the reasons
 * otherwise) and Prometheus `GET /metrics`, bound to an explicit address, with connection limits against slow-loris
 * clients and connection floods.
 */
import type { Server, Socket } from "node:net";

import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from "fastify";
import { Counter, type Registry } from "prom-client";

import type { Logger } from "./log";

export interface Health {
  ok: boolean;
  /** Anything an operator should see: state, counts, the reason it is not ok. */
  [key: string]: unknown;
}

/** What one client may hold of a daemon's HTTP port. */
export interface HttpLimits {
  /** The request line and headers must arrive within this (slow-loris: 408, then the socket is closed). */
  headersTimeoutMs: number;
  /** The whole request, body included, must arrive within this. Not the answer: a transcode may take longer. */
  requestTimeoutMs: number;
  /** Open connections in all; beyond it new ones are closed at once, so a flood cannot exhaust descriptors. */
  maxConnections: number;
  /** Open connections from one remote address, so that one flooding client cannot lock the others out. */
  maxConnectionsPerAddress: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  maxConnections: 2048,
  maxConnectionsPerAddress: 256,
};

/** Idle keep-alive connections are closed after this: long enough for a client's next segment or playlist poll. */
const KEEP_ALIVE_TIMEOUT_MS = 10_000;

export interface HttpOptions {
  registry: Registry;
  health: () => Health;
  log: Logger;
  limits?: HttpLimits;
}

export function createHttpApp(options: HttpOptions): FastifyInstance {
  const limits = options.limits ?? DEFAULT_HTTP_LIMITS;
  checkHttpLimits(limits);
  const app = Fastify({
    loggerInstance: options.log.child({ component: "http" }) as FastifyBaseLogger,
    // Health checks and metric scrapes every few seconds would drown the log.
    logController: new LogController({ disableRequestLogging: true }),
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      // Node checks both timeouts on this period (30 s by default): it bounds how late a slow client is cut off.
      connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
    },
  });
  guardConnections(app.server, limits, options.registry);
  app.get("/healthz", async (_request, reply) => {
    const health = options.health();
    return reply.code(health.ok ? 200 : 503).send(health);
  });
  app.get("/metrics", async (_request, reply) => {
    return reply.type(options.registry.contentType).send(await options.registry.metrics());
  });
  return app;
}

export function checkHttpLimits(limits: HttpLimits): void {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`HTTP limit ${name} must be a positive integer`);
  }
  // Node refuses a headers timeout longer than the request timeout.
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new Error("the HTTP headers timeout cannot be longer than the request timeout");
  }
  if (limits.maxConnectionsPerAddress > limits.maxConnections) {
    throw new Error("the HTTP connections per address cannot exceed the connections in all");
  }
}

/**
 * Enforces the connection caps, counting what was refused: the total through Node's own `maxConnections` (its
 * "drop" event), the per-address cap here, on the raw socket before any byte is parsed.
 */
function guardConnections(server: Server, limits: HttpLimits, registry: Registry): void {
  const refused = new Counter({
    name: "streamflow_http_connections_refused_total",
    help: "Connections closed on arrival, by the limit they hit",
    labelNames: ["limit"] as const,
    registers: [registry],
  });
  refused.inc({ limit: "total" }, 0);
  refused.inc({ limit: "per_address" }, 0);
  server.maxConnections = limits.maxConnections;
  server.on("drop", () => refused.inc({ limit: "total" }));
  const open = new Map<string, number>();
  server.on("connection", (socket: Socket) => {
    const address = socket.remoteAddress ?? "";
    const count = (open.get(address) ?? 0) + 1;
    if (count > limits.maxConnectionsPerAddress) {
      refused.inc({ limit: "per_address" });
      socket.destroy();
      return;
    }
    open.set(address, count);
    socket.once("close", () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left === 0) open.delete(address);
      else open.set(address, left);
    });
  });
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
