/**
 * The HTTP limits every daemon shares: which combinations are refused at start-up, and that createHttpApp hands them
 * to Node's server (the fault suite, test/faults/http-limits.test.ts, shows them holding against real clients).
 */
import { expect } from "chai";
import { Registry } from "prom-client";

import { DEFAULT_HTTP_LIMITS, type HttpLimits, checkHttpLimits, createHttpApp } from "../../offchain/common/http";
import { createLogger } from "../../offchain/common/log";
import { thrownBy } from "../support/assertions";

describe("common/http: limits", () => {
  it("the defaults are consistent", () => {
    expect(() => checkHttpLimits(DEFAULT_HTTP_LIMITS)).not.to.throw();
  });

  const bad: Array<[string, Partial<HttpLimits>, RegExp]> = [
    ["a headers timeout above the request timeout", { headersTimeoutMs: 61_000 }, /headers timeout cannot be longer/],
    ["more per address than in all", { maxConnectionsPerAddress: 4096 }, /per address cannot exceed/],
    ["zero connections", { maxConnections: 0 }, /maxConnections must be a positive integer/],
    ["a fractional timeout", { requestTimeoutMs: 1.5 }, /requestTimeoutMs must be a positive integer/],
  ];
  for (const [what, change, message] of bad) {
    it(`refuses ${what}`, () => {
      expect(thrownBy(Error, () => checkHttpLimits({ ...DEFAULT_HTTP_LIMITS, ...change })).message).to.match(message);
    });
  }

  it("createHttpApp sets them on the server and registers the refusal counter at zero", async () => {
    const registry = new Registry();
    const limits: HttpLimits = {
      headersTimeoutMs: 3000,
      requestTimeoutMs: 7000,
      maxConnections: 50,
      maxConnectionsPerAddress: 5,
    };
    const app = createHttpApp({ registry, health: () => ({ ok: true }), log: createLogger("test", "silent"), limits });
    try {
      await app.ready();
      expect(app.server.headersTimeout).to.equal(3000);
      expect(app.server.requestTimeout).to.equal(7000);
      expect(app.server.maxConnections).to.equal(50);
      const metrics = await registry.metrics();
      expect(metrics).to.include('streamflow_http_connections_refused_total{limit="per_address"} 0');
      expect(metrics).to.include('streamflow_http_connections_refused_total{limit="total"} 0');
    } finally {
      await app.close();
    }
  });
});
