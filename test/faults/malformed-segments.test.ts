/**
 * Faults: malformed segment bodies on both ports that take one, against real processes on loopback: the
 * broadcaster's HTTP push (`PUT /live/<stream>/<seq>.ts`) and the orchestrator's `POST /segment` (authenticated and
 * paid, so that the body alone is what is refused). Each class of bad body gets its own 4xx and code within a bounded
 * time, costs the sender nothing, publishes nothing, and leaves the daemon serving other streams meanwhile. A 1 GiB
 * body (declared, then chunked) is streamed lazily and must be refused long before it is sent, without the
 * daemon's memory growing by more than a bounded amount.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import { Wallet, parseEther } from "ethers";

import { type MediaTools, mediaTools } from "../../offchain/media/binaries";
import { PRESETS, type Rendition } from "../../offchain/media/ladder";
import { DEFAULT_PROBE_LIMITS } from "../../offchain/media/probe";
import { DEFAULT_MAX_SEGMENT_BYTES } from "../../offchain/media/transcode";
import { generateTestSegment } from "../../offchain/media/testsrc";
import { OrchestratorClient, OrchestratorError, checkSegmentResponse } from "../../offchain/orchestrator/client";
import { estimateOutputPixels, feeFor } from "../../offchain/orchestrator/pricing";
import { HEADERS, type OrchestratorInfo, encodePayment } from "../../offchain/orchestrator/wire";
import { TicketSender } from "../../offchain/pm/sender";
import type { SignedTicket } from "../../offchain/pm/ticket";
import { TicketBroker__factory } from "../../typechain-types";
import { rejectionOf } from "../support/assertions";
import {
  type BroadcasterProcess,
  type ErrorAnswer,
  type PutAnswer,
  TEST_RENDITIONS,
  broadcasterStatus,
  fetchBytes,
  parseMediaPlaylist,
  putSegment,
  startBroadcasterOn,
  startOrchestratorOn,
  streamOf,
} from "../support/broadcasterStack";
import { type OrchestratorChain, devKey, startOrchestratorChain } from "../support/orchestratorChain";
import { type OrchestratorProcess, ProcessGroup, metricValue, segmentHeaders } from "../support/orchestratorDaemon";
import { ONE_GIB, type UploadOutcome, streamUpload } from "../support/streams";

const LADDER: Rendition[] = TEST_RENDITIONS.map((name) => ({ ...PRESETS[name] }));
/** A 2 s 640x360 segment of LADDER at the default price (1 wei per pixel). */
const SEGMENT_FEE = feeFor(estimateOutputPixels(LADDER, 2000, { width: 640, height: 360, fps: 30 }), {
  pricePerUnit: 1n,
  pixelsPerUnit: 1n,
});
/** Dev accounts funded here: the broadcaster daemon, a sender of bad bodies, a bystander served meanwhile. */
const ACCOUNTS = { broadcaster: 20, payer: 21, bystander: 22 } as const;
/** Every refusal, on a shared 2-core machine, answers within this. */
const REFUSAL_MS = 10_000;
/** How much a daemon's peak resident memory may grow while it refuses a 1 GiB upload. */
const MAX_RSS_GROWTH = 200 * 1024 * 1024;

interface BadBody {
  name: string;
  status: number;
  code: string;
  body: () => Buffer;
}

/** One way of sending 1 GiB: declared up front (refusable from the headers) or chunked (only by counting). */
const HUGE_UPLOADS = [
  { mode: "declared", contentLength: ONE_GIB, maxSent: DEFAULT_MAX_SEGMENT_BYTES },
  { mode: "chunked", contentLength: undefined, maxSent: 2 * DEFAULT_MAX_SEGMENT_BYTES },
] as const;

/** Peak and current resident memory of a process, in bytes (Linux). */
function memoryOf(pid: number): { rss: number; peak: number } {
  const text = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)?.[1]) * 1024;
  return { rss: kib("VmRSS"), peak: kib("VmHWM") };
}

/**
 * A huge upload was refused as too large, quickly, long before it was all sent: 413 SEGMENT_TOO_LARGE, or the
 * connection closed. A client still writing can see the close (EPIPE, ECONNRESET) before it reads the 413: the
 * daemon closes without reading the rest, and the reset may overtake the answer.
 */
function expectTooLarge(outcome: UploadOutcome, maxSent: number): void {
  const seen = JSON.stringify({ ...outcome, text: outcome.text?.slice(0, 300) });
  if (outcome.status === undefined) {
    expect(outcome.error, `neither an answer nor a close: ${seen}`).to.be.oneOf(["EPIPE", "ECONNRESET"]);
  } else {
    expect(outcome.status, seen).to.equal(413);
    expect((JSON.parse(outcome.text!) as ErrorAnswer).error.code, seen).to.equal("SEGMENT_TOO_LARGE");
  }
  expect(outcome.ms, seen).to.be.below(REFUSAL_MS);
  expect(outcome.bytesSent, seen).to.be.below(maxSent);
}

/** Funds dev account `index` (beyond the node's 20 unlocked ones) with ETH, a deposit and a reserve. */
async function fundOwnBroadcaster(chain: OrchestratorChain, index: number): Promise<void> {
  const wallet = new Wallet(devKey(index), chain.provider);
  const deployer = await chain.signer(0);
  await (await deployer.sendTransaction({ to: wallet.address, value: parseEther("25") })).wait();
  const broker = TicketBroker__factory.connect(chain.record.contracts.TicketBroker, wallet);
  const amount = parseEther("10");
  await (await broker.fundDepositAndReserve(amount, amount, { value: 2n * amount })).wait();
}

async function metricsOf(url: string): Promise<string> {
  const response = await fetchBytes(`${url}/metrics`);
  expect(response.status).to.equal(200);
  return response.text;
}

describe("faults: malformed segment bodies on the broadcaster's HTTP push and the orchestrator's POST /segment", function () {
  this.timeout(300_000);

  let chain: OrchestratorChain;
  let tools: MediaTools;
  /** Consecutive 2 s 640x360 segments (timestamps 0 s and 2 s). */
  let good: Buffer[];
  /** A genuine H.264 MPEG-TS whose SPS says 8192x64: beyond DEFAULT_PROBE_LIMITS.maxWidth. */
  let absurd: Buffer;
  let badBodies: BadBody[];
  let orchestrator: OrchestratorProcess;
  let broadcaster: BroadcasterProcess;
  const processes = new ProcessGroup();
  const dirs: string[] = [];

  const newDir = (label: string) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `streamflow-faults-malformed-${label}-`));
    dirs.push(dir);
    return dir;
  };

  before(async () => {
    tools = await mediaTools();
    good = await Promise.all(
      [0, 1].map((i) => generateTestSegment(tools, { width: 640, height: 360, durationSec: 2, startSec: 2 * i })),
    );
    // Cheap to make (a black picture, 5 frames) yet a real encoder's SPS, so no byte patching is needed.
    absurd = await generateTestSegment(tools, {
      width: 8192,
      height: 64,
      fps: 10,
      durationSec: 0.5,
      audio: false,
      pattern: "color=c=black",
    });
    expect(8192).to.be.above(DEFAULT_PROBE_LIMITS.maxWidth);
    const noise = randomBytes(512 * 1024);
    if (noise[0] === 0x47) noise[0] = 0; // 1 in 256: a leading sync byte would make it "truncated" instead
    badBodies = [
      { name: "zero bytes", status: 400, code: "SEGMENT_EMPTY", body: () => Buffer.alloc(0) },
      { name: "512 KiB of random bytes", status: 400, code: "SEGMENT_NOT_MPEGTS", body: () => noise },
      {
        name: "a real segment cut mid-packet",
        status: 400,
        code: "SEGMENT_TRUNCATED",
        body: () => good[0].subarray(0, good[0].length - 100),
      },
      { name: "H.264 at 8192x64", status: 400, code: "SEGMENT_DIMENSIONS", body: () => absurd },
    ];

    chain = await startOrchestratorChain("faults-malformed");
    for (const index of Object.values(ACCOUNTS)) await fundOwnBroadcaster(chain, index);
    // One ticket pays for exactly one segment: a refused request that charged anything would show as a 402 later.
    orchestrator = await startOrchestratorOn(processes, chain, {
      account: 1,
      dataDir: newDir("orch"),
      args: ["--ticket-ev", String(SEGMENT_FEE + 1n), "--max-sessions", "64"],
    });
    broadcaster = await startBroadcasterOn(processes, chain, {
      dataDir: newDir("bcast"),
      account: ACCOUNTS.broadcaster,
      rtmp: false,
      orchestrators: [orchestrator.url],
      args: ["--record"],
    });
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed") console.log(processes.output());
  });

  after(async () => {
    await processes.stopAll();
    await chain?.stop();
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  describe("the broadcaster's PUT /live/<stream>/<seq>.ts", () => {
    const published = async (stream: string, seq: number, body: Buffer) => {
      const answer = await putSegment<PutAnswer>(broadcaster.url, stream, seq, body);
      expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
      expect(answer.body).to.include({ stream, seq, status: "ok", transcoded: true });
    };
    const segmentsIn = async () =>
      metricValue(await metricsOf(broadcaster.url), 'streamflow_broadcaster_segments_in_total{ingest="http"}') ?? 0;
    const refusals = async (code: string) =>
      metricValue(await metricsOf(broadcaster.url), `streamflow_broadcaster_pushes_refused_total{code="${code}"}`) ?? 0;

    it("refuses each bad body with its 4xx in bounded time, publishes none, while another stream publishes", async () => {
      const inBefore = await segmentsIn();
      const refusedBefore = await Promise.all(badBodies.map((bad) => refusals(bad.code)));
      await published("bad", 0, good[0]);
      const beside = published("beside", 0, good[0]); // transcoded while the refusals come in
      for (const [i, bad] of badBodies.entries()) {
        const started = performance.now();
        const answer = await putSegment<ErrorAnswer>(broadcaster.url, "bad", i + 1, bad.body());
        const ms = performance.now() - started;
        const seen = `${bad.name}: ${JSON.stringify(answer.body)}`;
        expect({ status: answer.status, code: answer.body.error?.code }, seen).to.deep.equal({
          status: bad.status,
          code: bad.code,
        });
        expect(ms, seen).to.be.below(REFUSAL_MS);
      }
      await beside;
      // The stream goes on after them; a gap in sequence numbers is the publisher's business.
      const last = badBodies.length + 1;
      await published("bad", last, good[1]);

      for (const variant of [...TEST_RENDITIONS, "source"]) {
        const playlist = parseMediaPlaylist((await fetchBytes(`${broadcaster.url}/stream/bad/${variant}.m3u8`)).text);
        expect(
          playlist.segments.map((s) => s.seq),
          variant,
        ).to.deep.equal([0, last]);
      }
      const stream = streamOf(await broadcasterStatus(broadcaster.url), "bad")!;
      expect(stream).to.include({ segmentsIn: 2, segmentsOut: 2, segmentsFailed: 0 });
      // Refusals are not ingested segments: only bad/0, beside/0 and bad/<last> are counted in.
      expect((await segmentsIn()) - inBefore).to.equal(3);
      for (const [i, bad] of badBodies.entries()) {
        expect((await refusals(bad.code)) - refusedBefore[i], `refusals counted as ${bad.code}`).to.equal(1);
      }
      expect((await fetchBytes(`${broadcaster.url}/healthz`)).status).to.equal(200);
    });

    it("refuses an unauthorised push from its headers alone: a chunked 1 GiB body is not read", async () => {
      const before = await refusals("STREAM_KEY_REFUSED");
      const outcome = await streamUpload(`${broadcaster.url}/live/keyed/0.ts`, {
        method: "PUT",
        // Open mode: the stream id is the key, so another key may not publish it.
        headers: { "content-type": "video/mp2t", "content-duration": "2000", authorization: "Bearer another-key" },
        totalBytes: ONE_GIB,
        timeoutMs: 3 * REFUSAL_MS,
      });
      const seen = JSON.stringify({ ...outcome, text: outcome.text?.slice(0, 300) });
      // The 403, or the close that may overtake it while the client is still writing (see expectTooLarge).
      if (outcome.status !== undefined) expect(outcome.status, seen).to.equal(403);
      else expect(outcome.error, seen).to.be.oneOf(["EPIPE", "ECONNRESET"]);
      // Socket buffers only: far below the segment limit the body would have been read up to.
      expect(outcome.bytesSent, seen).to.be.below(DEFAULT_MAX_SEGMENT_BYTES / 4);
      expect(await refusals("STREAM_KEY_REFUSED")).to.equal(before + 1);
    });

    for (const { mode, contentLength, maxSent } of HUGE_UPLOADS) {
      it(`refuses a 1 GiB body (${mode}) 413 (or a close) long before it is sent, memory bounded, others served`, async () => {
        const before = memoryOf(broadcaster.daemon.pid);
        const beside = published(`beside-${mode}`, 0, good[0]);
        const outcome = await streamUpload(`${broadcaster.url}/live/huge-${mode}/0.ts`, {
          method: "PUT",
          headers: { "content-type": "video/mp2t", "content-duration": "2000" },
          contentLength,
          totalBytes: ONE_GIB,
          timeoutMs: 3 * REFUSAL_MS,
        });
        await beside;
        const after = memoryOf(broadcaster.daemon.pid);
        expectTooLarge(outcome, maxSent);
        expect(after.peak - before.peak, `VmHWM ${before.peak} -> ${after.peak}`).to.be.below(MAX_RSS_GROWTH);
        expect(after.rss - before.rss, `VmRSS ${before.rss} -> ${after.rss}`).to.be.below(MAX_RSS_GROWTH);
        const huge = streamOf(await broadcasterStatus(broadcaster.url), `huge-${mode}`);
        expect(huge?.segmentsIn ?? 0, "nothing ingested").to.equal(0);
        expect((await fetchBytes(`${broadcaster.url}/stream/huge-${mode}.m3u8`)).status).to.equal(404);
      });
    }
  });

  describe("the orchestrator's POST /segment, authenticated and paid", () => {
    interface Sender {
      key: string;
      client: OrchestratorClient;
      tickets: TicketSender;
    }
    let payer: Sender;
    let bystander: Sender;

    before(async () => {
      const sender = async (index: number): Promise<Sender> => {
        const client = new OrchestratorClient(orchestrator.url, devKey(index));
        const info = await client.info();
        const domain = { chainId: info.chainId, verifyingContract: info.ticketBroker };
        return { key: devKey(index), client, tickets: new TicketSender({ privateKey: devKey(index), domain }) };
      };
      payer = await sender(ACCOUNTS.payer);
      bystander = await sender(ACCOUNTS.bystander);
    });

    const request = (streamId: string, seq: number, body: Buffer, tickets: SignedTicket[]) => ({
      streamId,
      seq,
      body,
      durationMs: 2000,
      renditions: LADDER,
      tickets,
    });
    const receiptDomain = (info: OrchestratorInfo) => ({
      chainId: info.chainId,
      verifyingContract: chain.record.contracts.DisputeManager,
    });
    /** A paid good segment from another sender: served in full. Resolves with its fee. */
    const served = async (streamId: string): Promise<bigint> => {
      const info = await bystander.client.info();
      const tickets = bystander.tickets.createTickets(info.ticketParams, 1);
      const response = await bystander.client.segment(info, request(streamId, 0, good[0], tickets));
      expect(checkSegmentResponse(response, info, receiptDomain(info))).to.equal(undefined);
      return BigInt(response.result.fee);
    };
    const metric = async (sample: string) => metricValue(await metricsOf(orchestrator.url), sample) ?? 0;
    const FEES = "streamflow_orchestrator_fees_wei_total";
    const outcome = (code: string) => `streamflow_orchestrator_segments_total{outcome="${code}"}`;

    it("refuses each bad body with its 4xx in bounded time, charges nothing for it, while another sender is served", async () => {
      const info = await payer.client.info();
      // The payer's whole budget: one ticket, worth one segment, attached to every request below.
      const budget = payer.tickets.createTickets(info.ticketParams, 1);
      const feesBefore = await metric(FEES);
      const countsBefore = await Promise.all(badBodies.map((bad) => metric(outcome(bad.code))));
      const beside = served("beside"); // transcoded while the refusals come in

      for (const [seq, bad] of badBodies.entries()) {
        const started = performance.now();
        const error = await rejectionOf(payer.client.segment(info, request("bad", seq, bad.body(), budget)));
        const ms = performance.now() - started;
        expect(error, `${bad.name}: ${String(error)}`).to.be.instanceOf(OrchestratorError);
        const { status, code, message } = error as OrchestratorError;
        expect({ status, code }, `${bad.name}: ${message}`).to.deep.equal({ status: bad.status, code: bad.code });
        expect(ms, bad.name).to.be.below(REFUSAL_MS);
      }
      const besideFee = await beside;

      // The same budget still pays for one good segment, and for no more: the refusals took none of it.
      const paid = await payer.client.segment(info, request("bad", badBodies.length, good[0], budget));
      expect(checkSegmentResponse(paid, info, receiptDomain(info))).to.equal(undefined);
      const spent = await rejectionOf(
        payer.client.segment(info, request("bad", badBodies.length + 1, good[0], budget)),
      );
      expect((spent as OrchestratorError).status, String(spent)).to.equal(402);

      expect(BigInt(await metric(FEES)) - BigInt(feesBefore), "fees debited").to.equal(
        besideFee + BigInt(paid.result.fee),
      );
      for (const [i, bad] of badBodies.entries()) {
        expect((await metric(outcome(bad.code))) - countsBefore[i], `refusals counted as ${bad.code}`).to.equal(1);
      }
      expect((await fetchBytes(`${orchestrator.url}/healthz`)).status).to.equal(200);
    });

    for (const { mode, contentLength, maxSent } of HUGE_UPLOADS) {
      it(`refuses a 1 GiB body (${mode}) 413 (or a close) long before it is sent, memory bounded, others served`, async () => {
        const info = await payer.client.info();
        const tickets = payer.tickets.createTickets(info.ticketParams, 1);
        // The metadata names a hash: the body is refused by size before anyone could hash it.
        const headers = {
          ...segmentHeaders(info, payer.key, request(`huge-${mode}`, 0, Buffer.from("never hashed"), tickets)),
          [HEADERS.payment]: encodePayment(payer.client.address, info.ticketParams, tickets),
        };
        const tooLargeBefore = await metric(outcome("SEGMENT_TOO_LARGE"));
        const before = memoryOf(orchestrator.daemon.pid);
        const beside = served(`beside-${mode}`);
        const upload = await streamUpload(`${orchestrator.url}/segment`, {
          method: "POST",
          headers,
          contentLength,
          totalBytes: ONE_GIB,
          timeoutMs: 3 * REFUSAL_MS,
        });
        await beside;
        const after = memoryOf(orchestrator.daemon.pid);
        expectTooLarge(upload, maxSent);
        expect(after.peak - before.peak, `VmHWM ${before.peak} -> ${after.peak}`).to.be.below(MAX_RSS_GROWTH);
        expect(after.rss - before.rss, `VmRSS ${before.rss} -> ${after.rss}`).to.be.below(MAX_RSS_GROWTH);
        expect((await metric(outcome("SEGMENT_TOO_LARGE"))) - tooLargeBefore).to.equal(1);
      });
    }
  });
});
