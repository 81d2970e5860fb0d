/**
 * Fault suite: slow-loris clients and connection floods against the HTTP port of each of the four daemons, run for
 * real with short limits (`--http-headers-timeout 1 --http-request-timeout 2 --http-max-connections 100
 * --http-max-connections-per-ip 40`). The misbehaving clients connect from 127.0.0.2 and up, the well-behaved one from
 * 127.0.0.1: the limits must cut the former off while the latter is served throughout.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";

import { startBroadcasterOn } from "../support/broadcasterStack";
import { type OrchestratorChain, startOrchestratorChain } from "../support/orchestratorChain";
import { ProcessGroup, metricValue, waitUntil } from "../support/orchestratorDaemon";
import { type RawEnd, RawFlood, type Trickle } from "../support/rawClients";
import type { TranscoderDaemon } from "../support/transcoderDaemon";
import { giveLpt, startVerifierOn } from "../support/verifierDaemon";

const LIMIT_ARGS = [
  "--http-headers-timeout",
  "1",
  "--http-request-timeout",
  "2",
  "--http-max-connections",
  "100",
  "--http-max-connections-per-ip",
  "40",
];
const PER_ADDRESS = 40;
const IN_ALL = 100;
/** Node checks the timeouts once a second; a cut-off is due by the limit plus that period, and this much slack. */
const CHECK_PERIOD_MS = 1000;
const SLACK_MS = 1500;
const SECRET = "faults-http-limits-secret";

interface Target {
  url: string;
  /** A request whose body the daemon reads (or, where it has none, refuses only once it is all there). */
  slowBody: Extract<Trickle, { kind: "body" }>;
}

const DAEMONS = ["orchestrator", "transcoder", "broadcaster", "verifier"] as const;
type Daemon = (typeof DAEMONS)[number];

/** What a well-behaved client gets meanwhile: the metrics page, 200, and its body. */
async function served(url: string): Promise<string> {
  const response = await fetch(`${url}/metrics`);
  expect(response.status, `GET ${url}/metrics`).to.equal(200);
  return response.text();
}

async function refusedCount(url: string, limit: "total" | "per_address"): Promise<number> {
  return metricValue(await served(url), `streamflow_http_connections_refused_total{limit="${limit}"}`) ?? NaN;
}

function expectTimedOut(ends: RawEnd[], limitMs: number, what: string): void {
  for (const end of ends) {
    expect(end.openMs, `${what}: held ${end.openMs} ms`).to.be.lessThan(limitMs + CHECK_PERIOD_MS + SLACK_MS);
    expect(end.openMs, `${what}: closed before its limit`).to.be.gte(limitMs - 50);
  }
}

describe("faults: slow and flooding HTTP clients against every daemon", function () {
  this.timeout(120_000);

  let chain: OrchestratorChain;
  let transcoder: TranscoderDaemon;
  const targets = new Map<Daemon, Target>();
  const processes = new ProcessGroup();
  const floods: RawFlood[] = [];
  const dirs: string[] = [];

  const newDir = (label: string) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `streamflow-http-limits-${label}-`));
    dirs.push(dir);
    return dir;
  };
  const flood = (url: string, from: string, count: number, trickle: Trickle) => {
    const f = new RawFlood(url, from, count, trickle);
    floods.push(f);
    return f;
  };
  const otherBody = (method: string): Target["slowBody"] => ({
    kind: "body",
    everyMs: 200,
    method,
    path: "/upload",
    contentType: "application/octet-stream",
  });

  before(async () => {
    chain = await startOrchestratorChain("http-limits");
    await giveLpt(chain, [5]);
    const orchestrator = await processes.startOrchestrator(chain, {
      dataDir: newDir("orch"),
      transcoder: false,
      args: LIMIT_ARGS,
      env: { STREAMFLOW_ORCH_SECRET: SECRET },
    });
    transcoder = processes.spawn(
      [
        "transcoder",
        "--orch-addr",
        orchestrator.url,
        "--http-addr",
        "127.0.0.1:0",
        "--max-sessions",
        "1",
        ...LIMIT_ARGS,
      ],
      { STREAMFLOW_ORCH_SECRET: SECRET },
    );
    await transcoder.waitForLog("registered with the orchestrator");
    const broadcaster = await startBroadcasterOn(processes, chain, {
      dataDir: newDir("bcast"),
      rtmp: false,
      orchestrators: [orchestrator.url],
      args: LIMIT_ARGS,
    });
    const verifier = await startVerifierOn(processes, chain, {
      account: 5,
      dataDir: newDir("verifier"),
      stake: "100",
      args: LIMIT_ARGS,
    });
    const segmentBody = (method: string, p: string): Target["slowBody"] => ({
      kind: "body",
      everyMs: 200,
      method,
      path: p,
      contentType: "video/mp2t",
    });
    targets.set("orchestrator", { url: orchestrator.url, slowBody: segmentBody("POST", "/segment") });
    targets.set("transcoder", { url: String(transcoder.httpUrl), slowBody: otherBody("POST") });
    targets.set("broadcaster", { url: broadcaster.url, slowBody: segmentBody("PUT", "/live/loris/0.ts") });
    targets.set("verifier", { url: verifier.url, slowBody: otherBody("POST") });
  });

  afterEach(function () {
    for (const f of floods.splice(0)) f.destroyAll();
    if (this.currentTest?.state === "failed") console.log(processes.output());
  });

  after(async () => {
    await processes.stopAll();
    await chain?.stop();
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const name of DAEMONS) {
    describe(name, () => {
      it("slow-loris clients (headers or body a trickle) are cut off at the limits; others are served meanwhile", async () => {
        const { url, slowBody } = targets.get(name)!;
        const headers = flood(url, "127.0.0.2", 20, { kind: "headers", everyMs: 200 });
        const bodies = flood(url, "127.0.0.3", 10, slowBody);
        for (let i = 0; i < 3; i++) await served(url);
        expect(
          headers.open() + bodies.open(),
          "the slow clients were still connected while others were served",
        ).to.equal(30);

        const headerEnds = await headers.ends();
        expectTimedOut(headerEnds, 1000, "a header trickle");
        for (const end of headerEnds) expect(end.statusLine).to.equal("HTTP/1.1 408 Request Timeout");
        expectTimedOut(await bodies.ends(), 2000, "a body trickle");
        await served(url);
      });

      it("a flood from one address: the excess is closed on arrival and counted, others served, the rest timed out", async () => {
        const { url } = targets.get(name)!;
        const before = await refusedCount(url, "per_address");
        const silent = flood(url, "127.0.0.4", 3 * PER_ADDRESS, { kind: "silent" });
        await waitUntil(
          "the per-address refusals to be counted",
          async () => (await refusedCount(url, "per_address")) - before >= 2 * PER_ADDRESS,
          10_000,
          100,
        );
        expect(await refusedCount(url, "per_address")).to.equal(before + 2 * PER_ADDRESS);
        expect(silent.open(), "the connections held while others are served").to.equal(PER_ADDRESS);

        const ends = await silent.ends();
        const refused = ends.filter((e) => e.statusLine === undefined);
        const timedOut = ends.filter((e) => e.statusLine === "HTTP/1.1 408 Request Timeout");
        expect([refused.length, timedOut.length]).to.deep.equal([2 * PER_ADDRESS, PER_ADDRESS]);
        expectTimedOut(timedOut, 1000, "a silent connection");
        await served(url);
      });
    });
  }

  describe("in all and afterwards", () => {
    it("beyond --http-max-connections in all, the excess is dropped and counted; service resumes as idle ones time out", async () => {
      const { url } = targets.get("broadcaster")!;
      const before = await refusedCount(url, "total");
      const floods3 = ["127.0.0.5", "127.0.0.6", "127.0.0.7"].map((from) =>
        flood(url, from, PER_ADDRESS, { kind: "silent" }),
      );
      const ends = (await Promise.all(floods3.map((f) => f.ends()))).flat();
      const dropped = ends.filter((e) => e.statusLine === undefined).length;
      // Connections of the well-behaved client (keep-alive) and ones still closing may hold some of the places.
      expect(dropped).to.be.gte(3 * PER_ADDRESS - IN_ALL);
      expect(3 * PER_ADDRESS - dropped, "connections held at once").to.be.lte(IN_ALL);
      expect(await refusedCount(url, "total")).to.equal(before + dropped);
      expectTimedOut(
        ends.filter((e) => e.statusLine !== undefined),
        1000,
        "a silent connection",
      );
      await served(url);
    });

    it("the transcoder's WebSocket to the orchestrator outlived every HTTP timeout above", async () => {
      expect(transcoder.logs.filter((r) => r.msg === "registered with the orchestrator")).to.have.length(1);
      const health = await fetch(`${transcoder.httpUrl}/healthz`);
      expect(health.status).to.equal(200);
    });
  });
});
