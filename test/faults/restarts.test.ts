/**
 * Faults: daemons restarted mid-stream on the same port and data directory, with real processes on loopback. An
 * orchestrator SIGKILLed and restarted: no sequence number is missing from any rendition, the broadcaster uses it
 * again once its back-off has passed, and each winning ticket it stored before the kill is redeemed exactly once. A
 * broadcaster SIGKILLed (HTTP push) or stopped with SIGTERM (RTMP): the stream resumes where it was, what was
 * published before is still served unchanged, nothing is renumbered, and tickets keep being accepted.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import Database from "better-sqlite3";
import { expect } from "chai";

import { type MediaTools, mediaTools } from "../../offchain/media/binaries";
import { generateTestSegment } from "../../offchain/media/testsrc";
import { TicketBroker__factory } from "../../typechain-types";
import {
  EVERY_TICKET_WINS,
  type MediaPlaylist,
  type PutAnswer,
  PublisherGroup,
  TEST_RENDITIONS,
  addSecondOrchestrator,
  broadcasterArgs,
  broadcasterStatus,
  fetchBytes,
  missingSequences,
  parseMediaPlaylist,
  putSegment,
  startOrchestratorOn,
  streamOf,
} from "../support/broadcasterStack";
import { type OrchestratorChain, startOrchestratorChain } from "../support/orchestratorChain";
import { ProcessGroup, metricValue, status as orchestratorStatus, waitUntil } from "../support/orchestratorDaemon";
import type { TranscoderDaemon } from "../support/transcoderDaemon";

const VARIANTS = [...TEST_RENDITIONS, "source"];
/** A ceiling of 1 wei per gas, below any base fee: winning tickets wait in the store instead of being redeemed. */
const HOLD_REDEMPTIONS = ["--max-gas-price", "0.000000001"];

/** `args` without `flag` and its value. */
function withoutFlag(args: readonly string[], flag: string): string[] {
  const at = args.indexOf(flag);
  return at < 0 ? [...args] : [...args.slice(0, at), ...args.slice(at + 2)];
}

/** The sequence numbers that follow an EXT-X-DISCONTINUITY tag in a media playlist. */
function discontinuityAt(text: string): number[] {
  const lines = text.split("\n");
  const after: number[] = [];
  lines.forEach((line, i) => {
    if (line !== "#EXT-X-DISCONTINUITY") return;
    const uri = lines.slice(i).find((l) => l !== "" && !l.startsWith("#"));
    after.push(Number(/(\d+)\.ts$/.exec(uri ?? "")?.[1]));
  });
  return after;
}

describe("faults: daemons restarted mid-stream", function () {
  this.timeout(240_000);

  let chain: OrchestratorChain;
  let tools: MediaTools;
  let second: string;
  const dirs: string[] = [];
  const processes = new ProcessGroup();
  const publishers = new PublisherGroup();

  const newDir = (label: string) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `streamflow-restarts-${label}-`));
    dirs.push(dir);
    return dir;
  };

  /** Spawns a daemon with `args` and waits for its `ready` log lines (a restart reuses the first command line). */
  async function start(args: readonly string[], ready: string[]): Promise<TranscoderDaemon> {
    const daemon = processes.spawn(args);
    for (const msg of ready) await daemon.waitForLog(msg);
    return daemon;
  }

  const startBroadcaster = async (args: readonly string[]) => {
    const daemon = processes.spawn(args);
    const started = await daemon.waitForLog("broadcaster started");
    return { daemon, url: String(started.http), rtmpUrl: String(started.rtmp) };
  };

  /** Every variant's media playlist once it has EXT-X-ENDLIST, parsed, with its text. */
  const endedPlaylists = async (url: string, id: string) => {
    const lists: Record<string, MediaPlaylist & { text: string }> = {};
    for (const variant of VARIANTS) {
      lists[variant] = await waitUntil(
        `${variant} playlist with EXT-X-ENDLIST`,
        async () => {
          const { text } = await fetchBytes(`${url}/stream/${id}/${variant}.m3u8`);
          const list = parseMediaPlaylist(text);
          return list.ended && { ...list, text };
        },
        60_000,
        250,
      );
    }
    return lists;
  };

  /** Ticket outcomes at an orchestrator, from its /metrics. */
  const ticketOutcomes = async (url: string) => {
    const text = await (await fetch(`${url}/metrics`)).text();
    const outcome = (name: string) =>
      metricValue(text, `streamflow_orchestrator_tickets_received_total{outcome="${name}"}`) ?? 0;
    return { accepted: outcome("accepted"), replayed: outcome("TICKET_NONCE_REPLAYED") };
  };

  before(async () => {
    tools = await mediaTools();
    chain = await startOrchestratorChain("restarts");
    second = await addSecondOrchestrator(chain);
  });

  afterEach(async function () {
    await publishers.killAll();
    if (this.currentTest?.state === "failed") console.log(processes.output());
    await processes.stopAll();
  });

  after(async () => {
    await chain?.stop();
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("an orchestrator SIGKILLed mid-stream and restarted: no gap, used again, its tickets redeemed once", async () => {
    const pair = await Promise.all(
      [1, 3].map(async (account) => {
        const dataDir = newDir(`orch${account}`);
        const args = ["--max-sessions", "8", "--ticket-ev", EVERY_TICKET_WINS, ...HOLD_REDEMPTIONS];
        return { ...(await startOrchestratorOn(processes, chain, { account, dataDir, args })), dataDir };
      }),
    );
    const args = await broadcasterArgs(chain, {
      dataDir: newDir("bcast"),
      orchestrators: pair.map((o) => o.url),
      args: ["--live-window", "30"],
    });
    const { url, rtmpUrl } = await startBroadcaster(args);
    const id = "phoenix";
    const publisher = publishers.start(tools, `${rtmpUrl}/${id}`, { seconds: 40 });

    const inUse = await waitUntil(
      "two segments transcoded",
      async () => {
        const s = await broadcasterStatus(url);
        return (streamOf(s, id)?.segmentsOut ?? 0) >= 2 && s.orchestrators.find((o) => o.state === "in-use");
      },
      60_000,
    );
    const victim = pair.find((o) => o.url === inUse.url)!;
    const survivor = pair.find((o) => o !== victim)!;
    const victimAddress = victim.account === 1 ? chain.orchestrator : second;
    victim.daemon.signal("SIGKILL");
    await victim.daemon.exited;
    const killedAt = Date.now();
    await waitUntil("the killed orchestrator to be suspended", async () => {
      const entry = (await broadcasterStatus(url)).orchestrators.find((o) => o.url === victim.url);
      return entry?.state === "suspended";
    });

    const broker = TicketBroker__factory.connect(chain.record.contracts.TicketBroker, chain.provider);
    const redeemedFor = async (recipient: string) =>
      (await broker.queryFilter(broker.filters.WinningTicketRedeemed(), 0))
        .filter((e) => e.args.recipient.toLowerCase() === recipient)
        .map((e) => e.args.ticketHash.toLowerCase());
    expect(await redeemedFor(victimAddress), "redeemed before the kill").to.deep.equal([]);

    // Same command line (port, data dir with its recipient secret and ticket store), without the ceiling.
    const restarted = await start(withoutFlag(victim.daemon.child.spawnargs.slice(2), HOLD_REDEMPTIONS[0]), [
      "orchestrator started",
      "transcoder joined",
    ]);
    await waitUntil(
      "the restarted orchestrator's back-off to end",
      async () => (await broadcasterStatus(url)).orchestrators.find((o) => o.url === victim.url)?.state !== "suspended",
      60_000,
    );
    // A stream stays with an orchestrator that keeps up: taking the survivor down makes it come back.
    await survivor.daemon.stop();
    const inAtHandover = streamOf(await broadcasterStatus(url), id)!.segmentsIn;

    expect((await publisher.exited).code, publisher.stderr).to.equal(0);
    const lists = await endedPlaylists(url, id);
    const s = await broadcasterStatus(url);
    const stream = streamOf(s, id)!;
    const n = stream.segmentsIn;
    expect(n, "segments of a 40 s push").to.be.within(18, 22);
    for (const variant of VARIANTS) {
      const seqs = lists[variant].segments.map((x) => x.seq);
      expect(missingSequences(seqs, 0, n - 1), `${variant}: missing sequence numbers`).to.deep.equal([]);
      expect(seqs, variant).to.deep.equal([...Array(n).keys()]);
      expect(lists[variant].discontinuities, `${variant}: discontinuities`).to.equal(0);
    }
    expect(stream).to.include({ state: "ended", segmentsOut: n, segmentsFailed: 0 });
    expect(s.totals.segmentsLost).to.equal(0);

    // Back in use after the restart: the segments after the handover are the restarted orchestrator's.
    const byRestarted = stream.lastSegments.filter((x) => x.seq >= inAtHandover);
    expect(byRestarted.length, "segments after the handover").to.be.at.least(2);
    for (const seg of byRestarted) {
      expect(seg, `segment ${seg.seq}`).to.include({ status: "ok", orchestrator: victim.url });
    }
    const entry = s.orchestrators.find((o) => o.url === victim.url)!;
    expect(entry.failures, "failures of the killed orchestrator").to.be.at.least(1);

    // Every winning ticket in its store, those taken before the kill included, is redeemed exactly once.
    const done = await waitUntil(
      "the restarted orchestrator to redeem every stored ticket",
      async () => {
        const t = (await orchestratorStatus(victim.url)).tickets;
        return t.pending === 0 && t.submitted === 0 && t.redeemed > 0 && t;
      },
      90_000,
      250,
    );
    expect(done).to.include({ failed: 0, expired: 0 });
    await restarted.stop();
    const db = new Database(path.join(victim.dataDir, "tickets.sqlite"), { readonly: true });
    const rows = db.prepare("SELECT ticket_hash, status, received_at FROM winning_tickets").all() as Array<{
      ticket_hash: string;
      status: string;
      received_at: number;
    }>;
    db.close();
    const beforeKill = rows.filter((r) => r.received_at < killedAt).map((r) => r.ticket_hash.toLowerCase());
    expect(beforeKill.length, "winning tickets stored before the kill").to.be.at.least(1);
    expect(rows.every((r) => r.status === "redeemed")).to.equal(true);
    const redeemed = await redeemedFor(victimAddress);
    expect(new Set(redeemed).size, "a ticket redeemed twice").to.equal(redeemed.length);
    expect([...redeemed].sort()).to.deep.equal(rows.map((r) => r.ticket_hash.toLowerCase()).sort());
    expect(redeemed, "tickets stored before the kill, each redeemed once").to.include.members(beforeKill);
  });

  it("a broadcaster SIGKILLed with an HTTP-pushed segment in flight: the stream resumes after a restart", async () => {
    const orchestrator = await startOrchestratorOn(processes, chain, { account: 1, dataDir: newDir("orch") });
    const args = await broadcasterArgs(chain, {
      dataDir: newDir("bcast"),
      rtmp: false,
      orchestrators: [orchestrator.url],
      args: ["--record"],
    });
    const first = await startBroadcaster(args);
    const id = "resumed";
    const segments = await Promise.all(
      [...Array(7).keys()].map((seq) =>
        generateTestSegment(tools, { width: 640, height: 360, durationSec: 2, startSec: 2 * seq }),
      ),
    );
    for (const seq of [0, 1, 2]) {
      const answer = await putSegment<PutAnswer>(first.url, id, seq, segments[seq]);
      expect(answer.body, `segment ${seq}`).to.include({ status: "ok", transcoded: true });
    }
    const servedBefore = await fetchBytes(`${first.url}/stream/${id}/${TEST_RENDITIONS[0]}/0.ts`);
    expect(servedBefore.status).to.equal(200);
    const ticketsBefore = await ticketOutcomes(orchestrator.url);

    const inFlight = putSegment(first.url, id, 3, segments[3]).catch((error: Error) => error);
    await waitUntil("segment 3 in flight", async () => {
      const seg = streamOf(await broadcasterStatus(first.url), id)?.lastSegments[0];
      return seg?.seq === 3 && seg.status === "in-flight";
    });
    first.daemon.signal("SIGKILL");
    expect(await first.daemon.exited).to.deep.equal({ code: null, signal: "SIGKILL" });
    expect(await inFlight, "the publisher got no answer").to.be.instanceOf(Error);

    const { url } = await startBroadcaster(args);
    expect(url, "the same port").to.equal(first.url);
    // The publisher sends 3 again: its source was published before the kill, so that number is taken for good.
    const again = await putSegment(url, id, 3, segments[3]);
    expect(again.status, JSON.stringify(again.body)).to.equal(409);
    expect(again.body).to.have.nested.property("error.code", "SEGMENT_OUT_OF_ORDER");
    for (const seq of [4, 5, 6]) {
      const answer = await putSegment<PutAnswer>(url, id, seq, segments[seq]);
      expect(answer.body, `segment ${seq} after the restart`).to.include({ status: "ok", transcoded: true });
    }
    expect((await fetchBytes(`${url}/live/${id}`, { method: "DELETE" })).status).to.equal(204);

    const lists = await endedPlaylists(url, id);
    const stream = streamOf(await broadcasterStatus(url), id)!;
    // Segment 3 is published in every rendition (it came back before the kill) or counted lost, never just gone.
    const lost = stream.lastSegments.filter((x) => x.status === "failed");
    expect([[], [3]]).to.deep.include(lost.map((x) => x.seq));
    for (const x of lost) expect(x.error).to.match(/restart/);
    expect(stream).to.include({ segmentsOut: 3, segmentsFailed: lost.length, segmentsIn: 3 + lost.length });
    for (const variant of VARIANTS) {
      const want = [0, 1, 2, 3, 4, 5, 6].filter((seq) => variant === "source" || !lost.some((x) => x.seq === seq));
      expect(
        lists[variant].segments.map((x) => x.seq),
        variant,
      ).to.deep.equal(want);
      expect(lists[variant].mediaSequence, variant).to.equal(0);
      expect(discontinuityAt(lists[variant].text), `${variant}: where the restart shows`).to.deep.equal([4]);
    }
    // Published before the kill: still served, unchanged.
    const servedAfter = await fetchBytes(`${url}/stream/${id}/${TEST_RENDITIONS[0]}/0.ts`);
    expect(servedAfter.body.equals(servedBefore.body), "0.ts after the restart").to.equal(true);

    // Tickets after the restart: fresh parameters, so no nonce is reused; every one accepted.
    const tickets = await ticketOutcomes(orchestrator.url);
    expect(tickets.replayed, "TICKET_NONCE_REPLAYED refusals").to.equal(0);
    expect(tickets.accepted, "tickets accepted after the restart").to.be.above(ticketsBefore.accepted);
  });

  it("a broadcaster stopped with SIGTERM under an RTMP publish: the encoder reconnects and the stream resumes", async () => {
    const orchestrator = await startOrchestratorOn(processes, chain, { account: 1, dataDir: newDir("orch") });
    const args = await broadcasterArgs(chain, {
      dataDir: newDir("bcast"),
      orchestrators: [orchestrator.url],
      args: ["--record"],
    });
    const first = await startBroadcaster(args);
    const id = "encore";
    const encoder = publishers.start(tools, `${first.rtmpUrl}/${id}`, { seconds: 30 });
    await waitUntil(
      "three segments transcoded",
      async () => (streamOf(await broadcasterStatus(first.url), id)?.segmentsOut ?? 0) >= 3,
      60_000,
    );
    const servedBefore = await fetchBytes(`${first.url}/stream/${id}/${TEST_RENDITIONS[0]}/0.ts`);
    first.daemon.signal("SIGTERM");
    expect(await first.daemon.exited, "a graceful stop").to.deep.equal({ code: 0, signal: null });
    await encoder.kill();
    const ticketsBefore = await ticketOutcomes(orchestrator.url);

    const { url, rtmpUrl } = await startBroadcaster(args);
    expect(rtmpUrl, "the same RTMP port").to.equal(first.rtmpUrl);
    // A new encoder run on the same key: its timestamps start again from 0.
    const again = publishers.start(tools, `${rtmpUrl}/${id}`, { seconds: 8 });
    expect((await again.exited).code, again.stderr).to.equal(0);

    const lists = await endedPlaylists(url, id);
    const stream = streamOf(await broadcasterStatus(url), id)!;
    expect(stream).to.include({ state: "ended", segmentsFailed: 0, segmentsOut: stream.segmentsIn });
    const total = lists.source.segments.length;
    const resumedAt = total - stream.segmentsIn;
    expect(resumedAt, "segments published before the stop").to.be.at.least(3);
    expect(stream.segmentsIn, "segments of the second encoder run").to.be.within(3, 5);
    for (const variant of VARIANTS) {
      // Numbered on from where the first run stopped: nothing renumbered, no number used twice.
      expect(
        lists[variant].segments.map((x) => x.seq),
        variant,
      ).to.deep.equal([...Array(total).keys()]);
      expect(discontinuityAt(lists[variant].text), `${variant}: where the restart shows`).to.deep.equal([resumedAt]);
    }
    const servedAfter = await fetchBytes(`${url}/stream/${id}/${TEST_RENDITIONS[0]}/0.ts`);
    expect(servedAfter.body.equals(servedBefore.body), "0.ts after the restart").to.equal(true);

    const tickets = await ticketOutcomes(orchestrator.url);
    expect(tickets.replayed, "TICKET_NONCE_REPLAYED refusals").to.equal(0);
    expect(tickets.accepted, "tickets accepted after the restart").to.be.above(ticketsBefore.accepted);
  });
});
