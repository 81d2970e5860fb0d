/**
 * Fault: the chain's JSON-RPC endpoint is unreachable for 30 s. A TCP proxy in front of `hardhat node` resets every
 * connection while an orchestrator (with its own transcoder) and a broadcaster, both pointed at the proxy, carry a
 * live HTTP-pushed stream paid with tickets that all win. Both keep serving (every segment transcoded and published,
 * /healthz answers 503 naming the chain, no process exits), the winning tickets taken meanwhile wait in the store, and
 * once the chain is back each is redeemed exactly once, within a bounded time.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";

import { type MediaTools, mediaTools } from "../../offchain/media/binaries";
import { generateTestSegment } from "../../offchain/media/testsrc";
import { BondingManager__factory, TicketBroker__factory } from "../../typechain-types";
import {
  type BroadcasterProcess,
  EVERY_TICKET_WINS,
  type PutAnswer,
  TEST_RENDITIONS,
  broadcasterStatus,
  fetchBytes,
  missingSequences,
  parseMediaPlaylist,
  putSegment,
  startBroadcasterOn,
  startOrchestratorOn,
  streamOf,
} from "../support/broadcasterStack";
import { type OrchestratorChain, startOrchestratorChain } from "../support/orchestratorChain";
import {
  type OrchestratorProcess,
  type OrchestratorStatus,
  ProcessGroup,
  getJson,
  metricValue,
  status as orchestratorStatus,
  waitUntil,
} from "../support/orchestratorDaemon";
import { type TcpProxy, startTcpProxy } from "../support/tcpProxy";

/** How long the chain stays unreachable (the scenario). */
const OUTAGE_MS = 30_000;
/** Segments are pushed at the pace a live encoder produces them. */
const SEGMENT_MS = 2000;
/** Segments pushed before the outage and after it. */
const SEGMENTS_AROUND = 3;
/** Once the chain is back, the tickets held during the outage must be redeemed within this (2-core CI machines). */
const REDEEM_BOUND_MS = 60_000;
/**
 * wei per output pixel: a segment (~2e7 pixels of renditions) then costs more than a ticket's face value (100
 * redemptions' gas), so every segment carries fresh winning tickets instead of living on credit.
 */
const PRICE_PER_PIXEL = "5000000000";
const STREAM = "outage";
const VARIANTS = [...TEST_RENDITIONS, "source"];

interface Health {
  ok: boolean;
  problems: string[];
}

describe("faults: chain RPC unreachable for 30 s", function () {
  this.timeout(OUTAGE_MS + 240_000);

  let tools: MediaTools;
  let chain: OrchestratorChain;
  let proxy: TcpProxy;
  let orchestrator: OrchestratorProcess;
  let broadcaster: BroadcasterProcess;
  const processes = new ProcessGroup();
  const dirs: string[] = [];
  const newDir = (label: string) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `streamflow-outage-${label}-`));
    dirs.push(dir);
    return dir;
  };

  before(async () => {
    tools = await mediaTools();
    chain = await startOrchestratorChain("chain-outage");
    proxy = await startTcpProxy(chain.node.url);
    // A later --rpc-url wins: both daemons reach the chain only through the proxy.
    orchestrator = await startOrchestratorOn(processes, chain, {
      account: 1,
      dataDir: newDir("orch"),
      register: true,
      args: ["--rpc-url", proxy.url, "--ticket-ev", EVERY_TICKET_WINS, "--price-per-unit", PRICE_PER_PIXEL],
    });
    broadcaster = await startBroadcasterOn(processes, chain, {
      dataDir: newDir("bcast"),
      rtmp: false,
      args: ["--rpc-url", proxy.url, "--record"],
    });
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed") console.log(processes.output());
  });

  after(async () => {
    await processes.stopAll();
    await proxy?.close();
    await chain?.stop();
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  const daemons = () => [orchestrator, broadcaster].map((p) => ({ name: p.daemon.child.spawnargs[2], ...p }));
  /** Still running, nothing logged as fatal (an unhandled rejection would have ended the process). */
  const expectRunning = (when: string) => {
    for (const d of daemons()) {
      expect(d.daemon.child.exitCode, `${d.name} ${when}: exit code`).to.equal(null);
      expect(
        d.daemon.logs.filter((r) => (r.level ?? 0) >= 60),
        `${d.name} ${when}: fatal logs`,
      ).to.deep.equal([]);
    }
  };
  const health = (url: string) => getJson<Health>(`${url}/healthz`);
  const tickets = async () => (await orchestratorStatus(orchestrator.url)).tickets;
  const stored = (t: OrchestratorStatus["tickets"]) => t.pending + t.submitted + t.redeemed + t.failed + t.expired;
  /** Waits until every winning ticket stored so far is redeemed; returns the counts then. */
  const allRedeemed = (what: string, timeoutMs: number) =>
    waitUntil(
      what,
      async () => {
        const t = await tickets();
        return t.pending === 0 && t.submitted === 0 && t.redeemed > 0 && t;
      },
      timeoutMs,
      250,
    );

  /** Pushes one segment and checks that it was transcoded and published at once. */
  let nextSeq = 0;
  const pushSegment = async (phase: string) => {
    const seq = nextSeq++;
    const body = await generateTestSegment(tools, { width: 640, height: 360, durationSec: 2, startSec: seq * 2 });
    const answer = await putSegment<PutAnswer>(broadcaster.url, STREAM, seq, body);
    expect(answer.status, `${phase}: segment ${seq}: ${JSON.stringify(answer.body)}`).to.equal(200);
    expect(answer.body, `${phase}: segment ${seq}`).to.include({ seq, status: "ok", transcoded: true });
    expect(answer.body.orchestrator).to.equal(orchestrator.url);
    return seq;
  };

  it("both daemons keep serving, hold the winning tickets, and redeem each exactly once when the chain is back", async () => {
    const broker = TicketBroker__factory.connect(chain.record.contracts.TicketBroker, chain.provider);
    const bonding = BondingManager__factory.connect(chain.record.contracts.BondingManager, chain.provider);
    const [senderBefore, reserveBefore] = await broker.getSenderInfo(chain.broadcaster);
    const redeemedEvents = () =>
      broker.queryFilter(broker.filters.WinningTicketRedeemed(undefined, undefined, chain.orchestrator), 0);

    for (let i = 0; i < SEGMENTS_AROUND; i++) await pushSegment("before the outage");
    // Settled before the cut, so the tickets pending after it are exactly those taken during the outage.
    const settled = await allRedeemed("the tickets of the first segments redeemed", REDEEM_BOUND_MS);
    expect(proxy.connections, "the daemons reach the chain through the proxy").to.be.above(0);

    proxy.cut();
    const cutAt = Date.now();
    const outageEnd = cutAt + OUTAGE_MS;
    const during: number[] = [];
    let degraded = false;
    for (let slot = 1; Date.now() < outageEnd; slot++) {
      during.push(await pushSegment("during the outage"));
      // Documented: /healthz is 503 with the reason while the chain cannot be read (docs/orchestrator.md,
      // docs/broadcaster.md); each daemon notices at its next poll.
      if (!degraded) {
        const answers = await Promise.all(daemons().map((d) => health(d.url)));
        degraded = answers.every((a) => a.status === 503 && a.body.problems.some((p) => /chain unreachable/.test(p)));
      }
      const wait = Math.min(outageEnd, cutAt + SEGMENT_MS * slot) - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait)); // the outage itself: nothing to await
    }
    expect(degraded, "/healthz of both daemons reported the chain unreachable").to.equal(true);
    expect(during.length, "segments pushed during the outage").to.be.at.least(OUTAGE_MS / SEGMENT_MS / 2);
    expectRunning("during the outage");
    const held = await orchestratorStatus(orchestrator.url);
    expect(held.chain.lastError, "the orchestrator knows the chain is unreachable").to.be.a("string");
    // Every segment carried at least one winning ticket; none could be redeemed.
    expect(held.tickets).to.include({ redeemed: settled.redeemed, submitted: 0, failed: 0, expired: 0 });
    expect(held.tickets.pending, "winning tickets taken during the outage").to.be.at.least(during.length);
    expect(proxy.resets, "the daemons kept trying the chain").to.be.above(0);

    proxy.restore();
    const restoredAt = Date.now();
    const recovered = await allRedeemed("the tickets taken during the outage redeemed", REDEEM_BOUND_MS);
    console.log(`      ${held.tickets.pending} tickets redeemed ${Date.now() - restoredAt} ms after the restore`);
    expect(recovered.redeemed).to.equal(settled.redeemed + held.tickets.pending);
    await waitUntil(
      "both daemons healthy again",
      async () => (await Promise.all(daemons().map((d) => health(d.url)))).every((a) => a.status === 200),
      30_000,
      250,
    );

    for (let i = 0; i < SEGMENTS_AROUND; i++) await pushSegment("after the outage");
    const final = await allRedeemed("every ticket redeemed", REDEEM_BOUND_MS);
    expect(final).to.include({ failed: 0, expired: 0 });

    // No segment lost: every one pushed is in each playlist (--record keeps them all), and none counted as lost.
    const last = nextSeq - 1;
    for (const variant of VARIANTS) {
      const list = parseMediaPlaylist((await fetchBytes(`${broadcaster.url}/stream/${STREAM}/${variant}.m3u8`)).text);
      const seqs = list.segments.map((s) => s.seq);
      expect(missingSequences(seqs, 0, last), `${variant}: missing`).to.deep.equal([]);
      expect(seqs, variant).to.have.length(last + 1);
    }
    const s = await broadcasterStatus(broadcaster.url);
    expect(streamOf(s, STREAM)).to.include({ segmentsIn: last + 1, segmentsOut: last + 1, segmentsFailed: 0 });
    const metrics = (await fetchBytes(`${broadcaster.url}/metrics`)).text;
    expect(metricValue(metrics, 'streamflow_broadcaster_segments_total{outcome="lost"}') ?? 0).to.equal(0);
    // Every ticket wins: the orchestrator stored each ticket the broadcaster sent.
    expect(stored(final), "winning tickets stored").to.equal(s.totals.ticketsSent);

    // On chain: each stored ticket redeemed exactly once, and the broker's and the fee pool's books agree.
    const events = await redeemedEvents();
    const hashes = events.map((e) => e.args.ticketHash.toLowerCase());
    expect(new Set(hashes).size, "distinct tickets redeemed").to.equal(hashes.length);
    expect(hashes, "one redemption per stored ticket").to.have.length(final.redeemed);
    const paid = events.reduce((sum, e) => sum + e.args.amount, 0n);
    expect(String(paid)).to.equal(final.redeemedFaceValue);
    const fees = await bonding.queryFilter(bonding.filters.FeesCredited(chain.orchestrator), 0);
    expect(
      fees.reduce((sum, e) => sum + e.args.fees, 0n),
      "fees credited to the orchestrator",
    ).to.equal(paid);
    const [senderAfter, reserveAfter] = await broker.getSenderInfo(chain.broadcaster);
    const spent =
      senderBefore.deposit + reserveBefore.fundsRemaining - senderAfter.deposit - reserveAfter.fundsRemaining;
    expect(spent, "the broadcaster's deposit and reserve paid exactly that").to.equal(paid);
    expectRunning("after the outage");
  });
});
