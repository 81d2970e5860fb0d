/**
 * End to end: a real `streamflow broadcaster` process against a `hardhat node` with two registered, active
 * orchestrators (dev accounts 1 and 3, each a real `streamflow orchestrator` with its own transcoder), found through
 * the chain's pool and ServiceRegistry. RTMP pushed by stock ffmpeg comes out as HLS that ffprobe reads over HTTP,
 * numbered without gaps and paid for with tickets; HTTP push and its refusals; unknown RTMP keys; start-up errors;
 * SIGTERM.
 *
 * Faults (an orchestrator killed mid-stream, one returning wrong output) are in test/faults/orchestrator-failover.test.ts.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";

import { type MediaTools, mediaTools } from "../../offchain/media/binaries";
import { generateTestSegment } from "../../offchain/media/testsrc";
import {
  type BroadcasterProcess,
  type BroadcasterStatus,
  EVERY_TICKET_WINS,
  type ErrorAnswer,
  type Fetched,
  type PutAnswer,
  PublisherGroup,
  TEST_RENDITIONS,
  addSecondOrchestrator,
  announceSegment,
  broadcasterArgs,
  broadcasterStatus,
  fetchBytes,
  ffprobeUrl,
  missingSequences,
  parseMasterPlaylist,
  parseMediaPlaylist,
  putSegment,
  startBroadcasterOn,
  startOrchestratorOn,
  streamOf,
} from "../support/broadcasterStack";
import { type OrchestratorChain, startOrchestratorChain } from "../support/orchestratorChain";
import {
  type OrchestratorProcess,
  ProcessGroup,
  getJson,
  metricValue,
  status as orchestratorStatus,
  waitUntil,
} from "../support/orchestratorDaemon";
import { freePort } from "../support/processes";

/** Stream name → key, as given to --stream-keys. */
const KEYS = {
  cam: "rtmp-key-cam-0001",
  cam2: "rtmp-key-cam-0002",
  push: "http-key-push-0003",
} as const;
const PUSH_SECONDS = 10;
/** What the ladder fits to a 640x360 source. */
const FITTED: Record<string, { width: number; height: number }> = {
  "360p30": { width: 640, height: 360 },
  "240p30": { width: 426, height: 240 },
  source: { width: 640, height: 360 },
};
const VARIANTS = [...TEST_RENDITIONS, "source"];
const PLAYLIST_TYPE = "application/vnd.apple.mpegurl";
const MAX_SEGMENT_BYTES = 4_000_000;

function expectCors(response: Fetched, what: string): void {
  expect(response.headers.get("access-control-allow-origin"), `${what}: CORS`).to.equal("*");
}

describe("e2e: streamflow broadcaster with two orchestrators on a hardhat node", function () {
  this.timeout(120_000);

  let chain: OrchestratorChain;
  let tools: MediaTools;
  let orchestrators: Array<OrchestratorProcess & { account: number }>;
  /** The shared broadcaster: chain discovery, stream keys, every segment kept (--record). */
  let broadcaster: BroadcasterProcess;
  const dirs: string[] = [];
  /** The chain's daemons, for the whole describe. */
  const shared = new ProcessGroup();
  /** Daemons one test started. */
  const processes = new ProcessGroup();
  const publishers = new PublisherGroup();

  const newDir = (label: string) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `streamflow-bcast-${label}-`));
    dirs.push(dir);
    return dir;
  };

  before(async () => {
    tools = await mediaTools();
    chain = await startOrchestratorChain("bcast");
    await addSecondOrchestrator(chain);
    orchestrators = await Promise.all(
      [1, 3].map((account) =>
        startOrchestratorOn(shared, chain, {
          account,
          dataDir: newDir(`orch${account}`),
          register: true,
          // Sessions of ended streams stay open a while: room for every stream of this file.
          args: ["--ticket-ev", EVERY_TICKET_WINS, "--max-sessions", "16"],
        }),
      ),
    );
    broadcaster = await startBroadcasterOn(shared, chain, {
      dataDir: newDir("data"),
      args: [
        "--stream-keys",
        Object.entries(KEYS)
          .map(([name, key]) => `${name}:${key}`)
          .join(","),
        "--record",
        "--max-segment-bytes",
        String(MAX_SEGMENT_BYTES),
      ],
    });
  });

  afterEach(async function () {
    await publishers.killAll();
    if (this.currentTest?.state === "failed") console.log(processes.output(), shared.output());
    await processes.stopAll();
  });

  after(async () => {
    await publishers.killAll();
    await processes.stopAll();
    await shared.stopAll();
    await chain?.stop();
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("discovers both orchestrators from the chain's pool and their ServiceRegistry URIs", async () => {
    const s = await broadcasterStatus(broadcaster.url);
    expect(s.address).to.equal(chain.broadcaster);
    expect(s.chain, "the broadcaster follows the chain").to.not.equal(null);
    expect(BigInt(s.ticketFunds!.deposit) > 0n).to.equal(true);
    const found = Object.fromEntries(s.orchestrators.map((o) => [o.url, o.address]));
    expect(found).to.deep.equal({
      [orchestrators[0].url]: chain.orchestrator,
      [orchestrators[1].url]: (await chain.signer(3)).address.toLowerCase(),
    });
    const health = await getJson<{ ok: boolean }>(`${broadcaster.url}/healthz`);
    expect(health.status).to.equal(200);
  });

  it("RTMP from stock ffmpeg: every rendition plays over HTTP, numbered 0..N-1 without gaps, paid with tickets", async () => {
    const master = `${broadcaster.url}/stream/cam.m3u8`;
    expect((await fetchBytes(master)).status, "no master playlist before the first segment").to.equal(404);
    const publisher = publishers.start(tools, `${broadcaster.rtmpUrl}/${KEYS.cam}`, { seconds: PUSH_SECONDS });

    // Live: the master playlist appears once the first segment is in, while the publisher still pushes.
    const first = await waitUntil(
      "the master playlist",
      async () => {
        const r = await fetchBytes(master);
        return r.status === 200 && r;
      },
      30_000,
      200,
    );
    expect(publisher.child.exitCode, "the master playlist came only after the publisher stopped").to.equal(null);
    const live = streamOf(await broadcasterStatus(broadcaster.url), "cam")!;
    expect(live).to.include({ state: "live", source: "rtmp", ready: true });
    expect(first.headers.get("content-type")).to.match(new RegExp(`^${PLAYLIST_TYPE}`));
    expectCors(first, "master playlist");

    const exit = await publisher.exited;
    expect(exit.code, publisher.stderr).to.equal(0);
    // The publisher is gone: after the reconnect grace (1 s) the stream ends and every playlist is closed.
    const playlists: Record<string, ReturnType<typeof parseMediaPlaylist>> = {};
    for (const variant of VARIANTS) {
      playlists[variant] = await waitUntil(
        `${variant} playlist with EXT-X-ENDLIST`,
        async () => {
          const r = await fetchBytes(`${broadcaster.url}/stream/cam/${variant}.m3u8`);
          if (r.status !== 200) return false;
          expect(r.headers.get("content-type")).to.match(new RegExp(`^${PLAYLIST_TYPE}`));
          expectCors(r, `${variant} playlist`);
          const parsed = parseMediaPlaylist(r.text);
          return parsed.ended && parsed;
        },
        30_000,
        250,
      );
    }

    // The master playlist lists each rendition and the source, at the fitted sizes.
    const variants = parseMasterPlaylist((await fetchBytes(master)).text);
    expect(variants.map((v) => v.uri)).to.have.members(VARIANTS.map((v) => `cam/${v}.m3u8`));
    for (const v of variants) {
      const name = path.basename(v.uri, ".m3u8");
      expect(v.attributes.RESOLUTION, v.uri).to.equal(`${FITTED[name].width}x${FITTED[name].height}`);
      expect(Number(v.attributes.BANDWIDTH), v.uri).to.be.above(0);
    }

    // Every variant: sequence numbers 0..N-1, none missing, no discontinuity, each segment served as MPEG-TS.
    const n = playlists.source.segments.length;
    expect(n, "a 10 s push at 2 s segments").to.be.within(4, 6);
    for (const variant of VARIANTS) {
      const list = playlists[variant];
      const seqs = list.segments.map((s) => s.seq);
      expect(list.mediaSequence, variant).to.equal(0);
      expect(missingSequences(seqs, 0, n - 1), `${variant}: missing sequence numbers`).to.deep.equal([]);
      expect(seqs, variant).to.deep.equal([...Array(n).keys()]);
      expect(list.discontinuities, variant).to.equal(0);
      expect(list.playlistType, "--record: a finished stream is VOD").to.equal("VOD");
      const total = list.segments.reduce((sum, s) => sum + s.durationSec, 0);
      expect(total, `${variant}: listed duration`).to.be.closeTo(PUSH_SECONDS, 1);
      const segment = await fetchBytes(`${broadcaster.url}/stream/cam/${list.segments[0].uri}`);
      expect(segment.status).to.equal(200);
      expect(segment.headers.get("content-type")).to.equal("video/mp2t");
      expectCors(segment, `${variant} segment`);
      expect(segment.body[0], "MPEG-TS sync byte").to.equal(0x47);
    }
    const preflight = await fetchBytes(master, { method: "OPTIONS" });
    expect(preflight.status).to.equal(204);
    expectCors(preflight, "preflight");
    expect(preflight.headers.get("access-control-allow-methods")).to.contain("GET");

    // ffprobe, an independent reader, plays each media playlist over HTTP from start to end.
    for (const variant of VARIANTS) {
      const probed = await ffprobeUrl(tools, `${broadcaster.url}/stream/cam/${variant}.m3u8`);
      const video = probed.streams.find((s) => s.codec_type === "video");
      expect(video, `${variant}: video stream`).to.not.equal(undefined);
      expect(video!.codec_name, variant).to.equal("h264");
      expect({ width: video!.width, height: video!.height }, variant).to.deep.equal(FITTED[variant]);
      expect(Number(probed.format.duration), `${variant}: duration`).to.be.closeTo(PUSH_SECONDS, 1);
      // 30 fps for 10 s: every segment decodes its frames (a missing or broken one would cost 60).
      expect(Number(video!.nb_read_packets), `${variant}: frames`).to.be.within(270, 301);
      expect(
        probed.streams.some((s) => s.codec_type === "audio" && s.codec_name === "aac"),
        `${variant}: the source's audio is kept`,
      ).to.equal(true);
    }

    // /api/status agrees: every segment in, every one out, none lost; the totals are the sums.
    const s = await broadcasterStatus(broadcaster.url);
    const stream = streamOf(s, "cam")!;
    expect(stream).to.include({
      state: "ended",
      source: "rtmp",
      segmentsIn: n,
      segmentsOut: n,
      segmentsFailed: 0,
      inFlight: 0,
      playlist: "/stream/cam.m3u8",
    });
    expect(stream.renditions).to.deep.equal([...TEST_RENDITIONS]);
    expect(s.totals).to.include({ segmentsIn: n, segmentsOut: n, segmentsLost: 0, errors: 0 });
    const urls = orchestrators.map((o) => o.url);
    for (const seg of stream.lastSegments) {
      expect(seg.status, `segment ${seg.seq}`).to.equal("ok");
      expect(urls, `segment ${seg.seq}`).to.include(seg.orchestrator);
    }
    expect(
      s.orchestrators.reduce((sum, o) => sum + o.segments, 0),
      "orchestrator segment counts",
    ).to.equal(n);

    const metrics = (await fetchBytes(`${broadcaster.url}/metrics`)).text;
    expect(metricValue(metrics, 'streamflow_broadcaster_segments_in_total{ingest="rtmp"}')).to.equal(n);
    expect(metricValue(metrics, 'streamflow_broadcaster_segments_total{outcome="transcoded"}')).to.equal(n);
    expect(metricValue(metrics, "streamflow_broadcaster_tickets_sent_total")).to.equal(s.totals.ticketsSent);

    // Paid: tickets were sent, and each orchestrator holds exactly the winning tickets it was sent.
    await expectTicketsReceived(s);
  });

  /** Each orchestrator's /status and /metrics show the tickets the broadcaster says it sent it (every ticket wins). */
  async function expectTicketsReceived(s: BroadcasterStatus): Promise<void> {
    expect(s.totals.ticketsSent, "tickets sent").to.be.above(0);
    expect(BigInt(s.totals.ticketsEV) > 0n).to.equal(true);
    expect(BigInt(s.totals.fees) > 0n, "fees charged").to.equal(true);
    expect(s.orchestrators.reduce((sum, o) => sum + o.ticketsSent, 0)).to.equal(s.totals.ticketsSent);
    for (const o of orchestrators) {
      const entry = s.orchestrators.find((e) => e.url === o.url)!;
      const metrics = (await fetchBytes(`${o.url}/metrics`)).text;
      const accepted = metricValue(metrics, 'streamflow_orchestrator_tickets_received_total{outcome="accepted"}') ?? 0;
      expect(accepted, `${o.url}: tickets accepted`).to.equal(entry.ticketsSent);
      const t = (await orchestratorStatus(o.url)).tickets;
      expect(t.pending + t.submitted + t.redeemed + t.failed + t.expired, `${o.url}: winning tickets`).to.equal(
        entry.ticketsSent,
      );
    }
  }

  it("HTTP push: each PUT answers once published, playlists follow, refusals leave the daemon serving", async () => {
    const segments = await Promise.all(
      [0, 1, 2, 3].map((seq) =>
        generateTestSegment(tools, { width: 640, height: 360, durationSec: 2, startSec: seq * 2 }),
      ),
    );
    const urls = orchestrators.map((o) => o.url);
    const accepted = async (seq: number) => {
      const answer = await putSegment<PutAnswer>(broadcaster.url, "push", seq, segments[seq], { key: KEYS.push });
      expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
      expect(answer.body).to.include({ stream: "push", seq, status: "ok", transcoded: true });
      expect(urls).to.include(answer.body.orchestrator);
      expect(answer.body.attempts).to.equal(1);
      // Published when answered: the renditions list it at once.
      const list = parseMediaPlaylist((await fetchBytes(`${broadcaster.url}/stream/push/240p30.m3u8`)).text);
      expect(list.segments.map((x) => x.seq)).to.include(seq);
    };
    for (const seq of [0, 1, 2]) await accepted(seq);

    const refused = async (
      expected: { status: number; code: string },
      seq: number,
      body: Uint8Array,
      options: Parameters<typeof putSegment>[4],
    ) => {
      const answer = await putSegment<ErrorAnswer>(broadcaster.url, "push", seq, body, options);
      expect({ status: answer.status, code: answer.body.error?.code }, JSON.stringify(answer.body)).to.deep.equal(
        expected,
      );
      expect(answer.body.error.message.length, "a message for the publisher").to.be.above(0);
    };
    await refused({ status: 401, code: "STREAM_KEY_REQUIRED" }, 3, segments[3], {});
    await refused({ status: 403, code: "STREAM_KEY_REFUSED" }, 3, segments[3], { key: "not-a-key-at-all" });
    // cam's key publishes cam, not push.
    await refused({ status: 403, code: "STREAM_KEY_REFUSED" }, 3, segments[3], { key: KEYS.cam });
    await refused({ status: 400, code: "SEGMENT_NOT_MPEGTS" }, 3, randomBytes(188 * 50), { key: KEYS.push });
    await refused({ status: 400, code: "CONTENT_DURATION_REQUIRED" }, 3, segments[3], {
      key: KEYS.push,
      durationMs: null,
    });
    await refused({ status: 409, code: "SEGMENT_OUT_OF_ORDER" }, 1, segments[1], { key: KEYS.push });
    await refused({ status: 409, code: "SEGMENT_OUT_OF_ORDER" }, 2, segments[2], { key: KEYS.push });
    // None of that hurt the stream: the next segment goes through, and the daemon is healthy.
    await accepted(3);
    expect((await getJson(`${broadcaster.url}/healthz`)).status).to.equal(200);

    const ended = await fetchBytes(`${broadcaster.url}/live/push`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${KEYS.push}` },
    });
    expect(ended.status).to.equal(204);
    for (const variant of VARIANTS) {
      const r = await fetchBytes(`${broadcaster.url}/stream/push/${variant}.m3u8`);
      const list = parseMediaPlaylist(r.text);
      expect(list.ended, `${variant}: EXT-X-ENDLIST after DELETE`).to.equal(true);
      expect(
        list.segments.map((x) => x.seq),
        variant,
      ).to.deep.equal([0, 1, 2, 3]);
    }
    const probed = await ffprobeUrl(tools, `${broadcaster.url}/stream/push/240p30.m3u8`);
    const video = probed.streams.find((x) => x.codec_type === "video")!;
    expect({ width: video.width, height: video.height }).to.deep.equal(FITTED["240p30"]);
    expect(Number(probed.format.duration)).to.be.closeTo(8, 0.5);
    const stream = streamOf(await broadcasterStatus(broadcaster.url), "push")!;
    expect(stream).to.include({ state: "ended", source: "http", segmentsIn: 4, segmentsOut: 4, segmentsFailed: 0 });
  });

  it("HTTP push: a segment over --max-segment-bytes is refused with 413 in the documented error shape", async () => {
    // Refused from the Content-Length alone, before any of the body is sent (a client still writing a body the
    // server will not read sees the connection reset instead).
    const tooLarge = await announceSegment(`${broadcaster.url}/live/push/100.ts`, MAX_SEGMENT_BYTES + 1, {
      authorization: `Bearer ${KEYS.push}`,
      "content-duration": "2000",
    });
    expect(tooLarge.status, tooLarge.text).to.equal(413);
    // docs/broadcaster.md: refusals are {error: {code, message}}, 413 included.
    const body = JSON.parse(tooLarge.text) as Partial<ErrorAnswer>;
    expect(body.error?.code, `413 body: ${tooLarge.text}`).to.be.a("string");
    expect(body.error?.message, `413 body: ${tooLarge.text}`).to.be.a("string");
    expect((await getJson(`${broadcaster.url}/healthz`)).status).to.equal(200);
  });

  it("RTMP with an unknown key is refused, nothing is published, while a known key publishes", async () => {
    const bad = publishers.start(tools, `${broadcaster.rtmpUrl}/not-a-stream-key`, { seconds: 4 });
    const good = publishers.start(tools, `${broadcaster.rtmpUrl}/${KEYS.cam2}`, { seconds: 4 });
    const badExit = await bad.exited;
    expect(badExit.code, "ffmpeg's push with an unknown key must fail").to.not.equal(0);
    expect((await good.exited).code, good.stderr).to.equal(0);
    await broadcaster.daemon.waitForLog("RTMP publish refused: unknown stream key");
    await waitUntil(
      "cam2 to be published with renditions",
      async () => {
        const list = parseMediaPlaylist((await fetchBytes(`${broadcaster.url}/stream/cam2/360p30.m3u8`)).text);
        return list.ended && list.segments.length >= 1;
      },
      30_000,
      250,
    );
    const s = await broadcasterStatus(broadcaster.url);
    const ids = s.streams.map((x) => x.id);
    expect(ids).to.include("cam2");
    expect(ids.some((id) => id.includes("not-a-stream-key"))).to.equal(false);
    for (const id of ["not-a-stream-key", "s-not-a-stream-key"]) {
      expect((await fetchBytes(`${broadcaster.url}/stream/${id}.m3u8`)).status).to.equal(404);
    }
    expect(streamOf(s, "cam2")).to.include({ state: "ended", segmentsFailed: 0 });
    expect(streamOf(s, "cam2")!.segmentsOut).to.be.above(0);
    await expectTicketsReceived(s);
  });

  it("start-up errors: no ticket funds (names `npx hardhat fund`), an unreachable chain, and --help", async () => {
    const unfunded = processes.spawn(
      await broadcasterArgs(chain, { dataDir: newDir("unfunded"), account: 5, rtmp: false }),
    );
    const deadRpc = `http://127.0.0.1:${await freePort()}`;
    const unreachable = processes.spawn([
      ...(await broadcasterArgs(chain, { dataDir: newDir("unreachable"), rtmp: false })),
      "--rpc-url",
      deadRpc,
    ]);
    const help = processes.spawn(["broadcaster", "--help"]);

    const [unfundedExit, unreachableExit, helpExit] = await Promise.all(
      [unfunded, unreachable, help].map((d) => d.exited),
    );
    const account5 = (await chain.signer(5)).address.toLowerCase();
    expect(unfundedExit.code, unfunded.output).to.equal(1);
    expect(unfunded.output).to.contain("npx hardhat fund");
    expect(unfunded.output).to.contain(account5);
    expect(unfunded.logs.some((r) => r.msg === "broadcaster started")).to.equal(false);

    expect(unreachableExit.code, unreachable.output).to.equal(1);
    expect(unreachable.output).to.contain(`Cannot reach the chain at ${deadRpc}`);
    expect(unreachable.logs.some((r) => r.msg === "broadcaster started")).to.equal(false);

    expect(helpExit.code, help.output).to.equal(0);
    for (const flag of [
      "--rpc-url",
      "--deployment",
      "--dev-account",
      "--orchestrators",
      "--http-addr",
      "--rtmp-addr",
      "--stream-keys",
      "--auth-webhook",
      "--renditions",
      "--max-price-per-pixel",
      "--redundancy",
      "--max-attempts",
      "--retries-per-minute",
      "--data-dir",
      "--record",
      "--reconnect-grace",
    ]) {
      expect(help.output, flag).to.contain(flag);
    }
  });

  it("SIGTERM while a publisher is live: exits 0 promptly", async () => {
    const { daemon, url, rtmpUrl } = await startBroadcasterOn(processes, chain, {
      dataDir: newDir("sigterm"),
      orchestrators: orchestrators.map((o) => o.url),
    });
    const publisher = publishers.start(tools, `${rtmpUrl}/live-at-sigterm`, { seconds: 20 });
    await waitUntil(
      "the first segment to be published",
      async () => (streamOf(await broadcasterStatus(url), "live-at-sigterm")?.segmentsOut ?? 0) > 0,
      30_000,
      200,
    );
    expect(publisher.child.exitCode, "still publishing").to.equal(null);
    const started = Date.now();
    daemon.signal("SIGTERM");
    const exit = await daemon.exited;
    const tookMs = Date.now() - started;
    expect(exit.code, daemon.output).to.equal(0);
    expect(tookMs, "exit after SIGTERM").to.be.below(5_000);
    expect(daemon.logs.some((r) => r.msg === "stopped")).to.equal(true);
  });
});
