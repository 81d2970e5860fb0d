// `npm run bench:broadcaster`: what the broadcaster (offchain/broadcaster, started in this process with
// startBroadcaster) adds to each segment on top of the orchestrator's round trip. One `hardhat node` with the suite
// deployed, one `streamflow orchestrator` process with its in-process transcoder (one session, real ffmpeg), a set of
// pre-generated 2 s 1280x720p30 source segments and the ladder 360p30 + 240p30. Three ways, side by side:
//
//   (a) baseline: OrchestratorClient directly, as the broadcaster uses it (GET /info once per round, then per segment
//       the fee estimate, TicketSender.ticketsFor on the credit the orchestrator last reported, and POST /segment),
//       nothing checked: wall time per segment;
//   (b) the broadcaster with the decode check off (`decodeCheck: false`): PUT /live/<id>/<seq>.ts over HTTP
//       (Content-Duration 2000), wall time of the PUT, which answers once the renditions are published;
//   (c) the broadcaster as it ships (decode check on: every rendition decoded by ffmpeg before publishing);
//   (d) the broadcaster with `--verify-rate 1`: every result also re-encoded here and compared (SSIM/PSNR) before
//       publishing, the most a dispute-ready broadcaster can spend (a rate of r costs about r times the difference).
//
// One stream per way and round (a fresh stream id each), segments sent one after another (each waits for the
// previous answer). Each round sends segment i to all four ways before segment i+1, the ways' order rotating from
// segment to segment, so that noise on the machine (ffmpeg, other processes) hits all four alike. Reported per way:
// p50/p95 latency, the p50 overhead over (a) in ms and as a ratio, and the broadcaster's own figures from its segment
// records (the same records /api/status lists under lastSegments): verifyMs (our checks), latencyMs (from the
// request to the orchestrator until published), transcodeMs (the transcoder's, as reported); and, to see where the
// rest goes, the wall time of OrchestratorClient.segment itself in all four ways (timed by wrapping the class's
// method in this process: the pipeline's client is the same class). Then the broadcaster's verification alone in a
// loop, on a stored answer: verifySegment without and with the decoder, and its parts. Also recorded: this process's
// garbage-collection pauses within each segment (the bench's client and both broadcasters share the process), and
// whether the machine was busy (the CPU that processes outside this bench's process tree used during the rounds, from
// /proc, beside the load average). Prints a table; writes bench/results/broadcaster.json. No timed assertions: the
// figures are for reading.
//
//   BENCH_SEGMENTS=N      segments per stream (default 20)
//   BENCH_ROUNDS=N        rounds, each a fresh stream per way (default 3)
//   BENCH_VERIFY_CALLS=N  verifySegment calls without the decoder in the loop (default 100)
//   BENCH_DECODE_CALLS=N  verifySegment calls with the decoder in the loop (default 10)
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { PerformanceObserver, constants as perfConstants } from "node:perf_hooks";

import pino from "pino";

import { type RunningBroadcaster, startBroadcaster } from "../offchain/broadcaster/daemon";
import { OrchestratorLink } from "../offchain/broadcaster/link";
import type { SegmentRecord } from "../offchain/broadcaster/pipeline";
import { type VerifyRequest, verifySegment } from "../offchain/broadcaster/verify";
import { type MediaTools, mediaTools } from "../offchain/media/binaries";
import { type FittedRendition, fitLadder, ladderFromPresets } from "../offchain/media/ladder";
import { checkTransportStream } from "../offchain/media/mpegts";
import { type SourceInfo, sourceInfoFromTransportStream } from "../offchain/media/probe";
import { runProcess } from "../offchain/media/run";
import { generateTestSegment } from "../offchain/media/testsrc";
import { DEFAULT_MAX_SEGMENT_BYTES, describeOutput } from "../offchain/media/transcode";
import { OrchestratorClient, type SegmentResponse, checkSegmentResponse } from "../offchain/orchestrator/client";
import type { OrchestratorInfo } from "../offchain/orchestrator/wire";
import { TicketSender, keccak256, nativeCrypto } from "../offchain/pm";
import { type OrchestratorProcess, ProcessGroup } from "../test/support/orchestratorDaemon";
import { BROADCASTER_KEY, type OrchestratorChain, startOrchestratorChain } from "../test/support/orchestratorChain";
import { type ProcSnapshot, coresBetween, machineCores, snapshot, treeTicks } from "./lib/procstat";
import { percentile, round2 } from "./lib/stats";

const SEGMENTS = Number(process.env.BENCH_SEGMENTS ?? 20);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const VERIFY_CALLS = Number(process.env.BENCH_VERIFY_CALLS ?? 100);
const DECODE_CALLS = Number(process.env.BENCH_DECODE_CALLS ?? 10);
const WARM_SEGMENTS = 2;

const SOURCE = { width: 1280, height: 720, fps: 30, durationSec: 2 };
const CONTENT_DURATION_MS = SOURCE.durationSec * 1000;
const LADDER_PRESETS = "360p30,240p30";
const LADDER = ladderFromPresets(LADDER_PRESETS);
/** The orchestrator's transcoder: one segment at a time, as the brief of this bench asks (one stream, sequential). */
const TRANSCODER_SESSIONS = 1;
/** Every round opens fresh streams: the orchestrator must admit more streams than it has transcoder sessions. */
const ORCHESTRATOR_MAX_SESSIONS = 32;

const ROOT = path.resolve(__dirname, "..");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const VERSION: string = require("../package.json").version;

type Way = "a" | "b" | "c" | "d";
type BroadcasterWay = Exclude<Way, "a">;
const WAYS: readonly Way[] = ["a", "b", "c", "d"];
const LABELS: Record<Way, string> = {
  a: "(a) OrchestratorClient direct",
  b: "(b) broadcaster, decode check off",
  c: "(c) broadcaster, default",
  d: "(d) broadcaster, --verify-rate 1",
};

interface Prepared {
  data: Buffer;
  source: SourceInfo;
}

interface Sample {
  round: number;
  seq: number;
  wallMs: number;
  /** OrchestratorClient.segment's own wall time for this segment (the POST /segment round trip), in any way. */
  roundTripMs: number;
  /** performance.now() at the start and the end of the wall time (for the garbage collections in between). */
  startedAt: number;
  endedAt: number;
  /** The transcoder's own time, as the orchestrator reports it. */
  transcodeMs: number;
  /** (b)–(d): the broadcaster's segment record. */
  record?: SegmentRecord;
}

// ---------------------------------------------------------------------------------------------------------------
// Figures.

function spread(values: readonly number[]) {
  return {
    p50: round2(percentile(values, 50)),
    p95: round2(percentile(values, 95)),
    min: round2(Math.min(...values)),
    max: round2(Math.max(...values)),
  };
}

/** Runs `fn` `calls` times one after another; the per-call times in ms. */
async function loop(calls: number, fn: () => unknown): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < calls; i++) {
    const started = performance.now();
    await fn();
    times.push(performance.now() - started);
  }
  return times;
}

// ---------------------------------------------------------------------------------------------------------------
// Was the machine busy? CPU time of the whole machine (/proc/stat) against that of this bench's process tree (this
// process, the hardhat node, the orchestrator and their ffmpeg children): the difference is everyone else's. Linux
// only; elsewhere the load average alone is reported.

/** Cores' worth of CPU used between two snapshots by processes outside this bench, and by the bench itself. */
function cpuBetween(from: ProcSnapshot | undefined, to: ProcSnapshot | undefined, cores: number) {
  if (!from || !to) return undefined;
  const bench = coresBetween(from, to, cores, (snap) => treeTicks(snap, process.pid));
  return { benchCores: round2(bench), otherCores: round2(Math.max(0, machineCores(from, to, cores) - bench)) };
}

// ---------------------------------------------------------------------------------------------------------------
// The four ways of sending a segment.

/**
 * Times every OrchestratorClient.segment call in this process, the baseline's and the broadcasters' alike (the
 * pipeline's client is the same class), by `<streamId>/<seq>`: the part of a broadcaster's time that is the very
 * round trip (a) makes. Measurement only, nothing else changes; returns the undo.
 */
function timeRoundTrips(into: Map<string, number>): () => void {
  const original = OrchestratorClient.prototype.segment;
  OrchestratorClient.prototype.segment = async function (this: OrchestratorClient, info, request, options) {
    const started = performance.now();
    try {
      return await original.call(this, info, request, options);
    } finally {
      into.set(`${request.streamId}/${request.seq}`, performance.now() - started);
    }
  };
  return () => {
    OrchestratorClient.prototype.segment = original;
  };
}
const roundTrips = new Map<string, number>();
const roundTripOf = (streamId: string, seq: number) => roundTrips.get(`${streamId}/${seq}`) ?? NaN;

/** Keep-alive connections for the PUTs, reused from segment to segment as a pushing encoder would. */
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

/** PUT /live/<streamId>/<seq>.ts; resolves with the answer's status and JSON once it is all in. */
function put(base: string, streamId: string, seq: number, body: Buffer) {
  return new Promise<{ status: number; json: unknown }>((resolve, reject) => {
    const request = http.request(
      `${base}/live/${streamId}/${seq}.ts`,
      {
        method: "PUT",
        agent,
        headers: {
          "content-type": "video/mp2t",
          "content-duration": String(CONTENT_DURATION_MS),
          "content-length": String(body.length),
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json: unknown = text;
          try {
            json = JSON.parse(text);
          } catch {
            // keep the text for the error message
          }
          resolve({ status: response.statusCode ?? 0, json });
        });
        response.on("error", reject);
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}

/** (b) and (c): one pushed segment, timed from the PUT's start until its answer (published) is read. */
async function pushSegment(
  broadcaster: RunningBroadcaster,
  streamId: string,
  seq: number,
  segment: Prepared,
  round: number,
): Promise<Sample> {
  const started = performance.now();
  const { status, json } = await put(broadcaster.url, streamId, seq, segment.data);
  const endedAt = performance.now();
  const wallMs = endedAt - started;
  const record = json as SegmentRecord & { transcoded?: boolean };
  if (status !== 200 || record.status !== "ok") {
    throw new Error(`PUT ${streamId}/${seq}.ts: HTTP ${status} ${JSON.stringify(json)}`);
  }
  if (record.attempts !== 1) throw new Error(`${streamId}/${seq}: ${record.attempts} attempts (a retry is no sample)`);
  return {
    round,
    seq,
    wallMs,
    roundTripMs: roundTripOf(streamId, seq),
    startedAt: started,
    endedAt,
    transcodeMs: record.transcodeMs ?? NaN,
    record,
  };
}

/** (a): what the broadcaster's OrchestratorLink does per segment, with nothing around it and no checks. */
class DirectClient {
  readonly client: OrchestratorClient;
  private readonly senders = new Map<string, TicketSender>();
  /** What the orchestrator last said it holds for us, as the link keeps it. */
  private credit = 0n;
  info?: OrchestratorInfo;
  /** The last answer and what it was for (for the verification loop). */
  last?: { streamId: string; seq: number; segment: Prepared; response: SegmentResponse; info: OrchestratorInfo };

  constructor(url: string) {
    this.client = new OrchestratorClient(url, BROADCASTER_KEY, 30_000);
  }

  async refreshInfo(): Promise<void> {
    this.info = await this.client.info();
  }

  private sender(info: OrchestratorInfo): TicketSender {
    const key = `${info.chainId}:${info.ticketBroker.toLowerCase()}`;
    let sender = this.senders.get(key);
    if (!sender) {
      sender = new TicketSender({
        privateKey: BROADCASTER_KEY,
        domain: { chainId: info.chainId, verifyingContract: info.ticketBroker },
      });
      this.senders.set(key, sender);
    }
    return sender;
  }

  async send(streamId: string, seq: number, segment: Prepared, round: number): Promise<Sample> {
    const info = this.info!;
    const durationMs = segment.source.durationMs;
    const started = performance.now();
    const required = OrchestratorLink.estimate(info, {
      streamId,
      seq,
      body: segment.data,
      durationMs,
      ladder: LADDER,
      source: segment.source.video,
    });
    const tickets = this.sender(info).ticketsFor(info.ticketParams, required, this.credit > 0n ? this.credit : 0n);
    const response = await this.client.segment(info, {
      streamId,
      seq,
      body: segment.data,
      durationMs,
      renditions: LADDER,
      tickets,
    });
    const endedAt = performance.now();
    const wallMs = endedAt - started;
    this.credit = BigInt(response.result.balance);
    this.last = { streamId, seq, segment, response, info };
    return {
      round,
      seq,
      wallMs,
      roundTripMs: roundTripOf(streamId, seq),
      startedAt: started,
      endedAt,
      transcodeMs: response.result.timings.transcodeMs,
    };
  }
}

// ---------------------------------------------------------------------------------------------------------------

/** The commit measured, and the files under offchain/ that differ from it (uncommitted work changes the figures). */
function codeState(): { commit: string; uncommittedOffchain: string[] } | null {
  try {
    const git = (...args: string[]) => execFileSync("git", args, { cwd: ROOT, encoding: "utf8" });
    // Porcelain lines are "XY path": keep the columns (no trimming), the path starts at the fourth character.
    const changed = git("status", "--porcelain", "--", "offchain")
      .split("\n")
      .filter((line) => line.length > 3);
    return { commit: git("rev-parse", "HEAD").trim(), uncommittedOffchain: changed.map((line) => line.slice(3)) };
  } catch {
    return null;
  }
}

/** Open ingest on loopback: the one warning a clean start logs, expected here. */
const EXPECTED_WARNING = /no --stream-keys or --auth-webhook/;

/** A logger for the in-process broadcasters: warnings and errors only, kept (a clean run has none but the above). */
function countingLogger(into: string[]) {
  return pino(
    { name: "streamflow-broadcaster", level: "warn", base: { role: "broadcaster (bench)" } },
    {
      write: (line: string) => {
        if (EXPECTED_WARNING.test(line)) return;
        into.push(line.trim());
        process.stderr.write(line);
      },
    },
  );
}

interface StatusBody {
  streams: Array<{ id: string; lastSegments: SegmentRecord[] }>;
}

async function apiStatus(broadcaster: RunningBroadcaster): Promise<StatusBody> {
  const response = await fetch(`${broadcaster.url}/api/status`);
  if (!response.ok) throw new Error(`/api/status answered ${response.status}`);
  return (await response.json()) as StatusBody;
}

async function main(): Promise<void> {
  const began = Date.now();
  const loadAtStart = os.loadavg();
  const cleanups: Array<() => unknown> = [];
  const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), "streamflow-bench-bcast-"));
  cleanups.push(() => fs.rmSync(tempDir, { recursive: true, force: true }));
  cleanups.push(() => agent.destroy());
  cleanups.push(timeRoundTrips(roundTrips));
  // Garbage collections in this process (the bench's client and the broadcasters share it), to see which way pays.
  const collections: Array<{ at: number; ms: number; kind: string }> = [];
  const gcKinds: Record<number, string> = {
    [perfConstants.NODE_PERFORMANCE_GC_MINOR]: "minor",
    [perfConstants.NODE_PERFORMANCE_GC_MAJOR]: "major",
    [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
    [perfConstants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb",
  };
  const gcObserver = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as unknown as { detail?: { kind?: number } }).detail?.kind ?? -1;
      collections.push({ at: entry.startTime, ms: entry.duration, kind: gcKinds[kind] ?? String(kind) });
    }
  });
  gcObserver.observe({ entryTypes: ["gc"] });
  cleanups.push(() => gcObserver.disconnect());
  const warnings: string[] = [];
  try {
    // ---- Setup: media, chain, orchestrator, broadcasters ----
    const tools: MediaTools = await mediaTools();
    const segments: Prepared[] = [];
    for (let i = 0; i < SEGMENTS; i += 2) {
      // Two at a time on a machine with a couple of cores.
      const pair = await Promise.all(
        [i, i + 1]
          .filter((k) => k < SEGMENTS)
          .map((k) => generateTestSegment(tools, { ...SOURCE, startSec: k * SOURCE.durationSec })),
      );
      for (const data of pair) {
        const source = sourceInfoFromTransportStream(data);
        if (!source) throw new Error("a generated segment has no H.264 video the broadcaster can read");
        segments.push({ data, source });
      }
    }
    const fitted: FittedRendition[] = fitLadder(LADDER, segments[0].source.video);

    const chain: OrchestratorChain = await startOrchestratorChain("bench-broadcaster");
    cleanups.push(() => chain.stop());
    const contracts = chain.record.contracts as Record<string, string | undefined>;

    const group = new ProcessGroup();
    cleanups.push(() => group.stopAll());
    const orch: OrchestratorProcess = await group.startOrchestrator(chain, {
      dataDir: path.join(tempDir, "orchestrator"),
      args: ["--transcoder-sessions", String(TRANSCODER_SESSIONS), "--max-sessions", String(ORCHESTRATOR_MAX_SESSIONS)],
    });

    const startOne = async (name: string, decodeCheck: boolean, verifyRate = 0) => {
      const running = await startBroadcaster(
        {
          rpcUrl: chain.node.url,
          deployment: chain.deploymentFile,
          devAccount: 2,
          orchestrators: [orch.url],
          httpAddr: "127.0.0.1:0",
          rtmpAddr: undefined,
          ladder: LADDER,
          redundancy: 1,
          maxAttempts: 3,
          retriesPerMinute: 60,
          dataDir: path.join(tempDir, name),
          record: false,
          liveWindow: 6,
          segmentSeconds: 2,
          reconnectGraceMs: 5000,
          httpIdleMs: 30_000,
          discoveryIntervalMs: 60_000,
          maxSegmentBytes: DEFAULT_MAX_SEGMENT_BYTES,
          decodeCheck,
          verifyRate,
          version: VERSION,
        },
        countingLogger(warnings),
      );
      cleanups.push(() => running.shutdown());
      return running;
    };
    const broadcasters: Record<BroadcasterWay, RunningBroadcaster> = {
      b: await startOne("broadcaster-nodecode", false),
      c: await startOne("broadcaster-default", true),
      d: await startOne("broadcaster-verify-rate-1", true, 1),
    };
    const direct = new DirectClient(orch.url);

    const send = (way: Way, streamId: string, seq: number, round: number): Promise<Sample> =>
      way === "a"
        ? direct.send(streamId, seq, segments[seq % segments.length], round)
        : pushSegment(broadcasters[way], streamId, seq, segments[seq % segments.length], round);

    // Warm-up (JIT, connections, each side's first /info), untimed.
    await direct.refreshInfo();
    for (let seq = 0; seq < WARM_SEGMENTS; seq++) {
      for (const way of WAYS) await send(way, `warm-${way}`, seq, 0);
    }

    // ---- The rounds ----
    const samples: Record<Way, Sample[]> = { a: [], b: [], c: [], d: [] };
    let statusChecked = 0;
    const statusVerifyMs: Record<BroadcasterWay, number[]> = { b: [], c: [], d: [] };
    const roundStarted = Date.now();
    const cpuAtRounds = snapshot();
    for (let round = 1; round <= ROUNDS; round++) {
      await direct.refreshInfo(); // info once per stream, untimed (the broadcaster keeps its own until it is stale)
      const streamOf = (way: Way) => `bench-r${round}-${way}`;
      for (let seq = 0; seq < SEGMENTS; seq++) {
        const shift = (seq + round) % WAYS.length;
        for (const way of [...WAYS.slice(shift), ...WAYS.slice(0, shift)]) {
          samples[way].push(await send(way, streamOf(way), seq, round));
        }
      }
      // The same records, as the status page shows them (its last 10 per stream).
      for (const way of ["b", "c", "d"] as const) {
        const status = await apiStatus(broadcasters[way]);
        const stream = status.streams.find((s) => s.id === streamOf(way));
        if (!stream) throw new Error(`/api/status of (${way}) does not list ${streamOf(way)}`);
        for (const record of stream.lastSegments) {
          const pushed = samples[way].find((s) => s.round === round && s.seq === record.seq)?.record;
          if (pushed?.verifyMs !== record.verifyMs || pushed?.latencyMs !== record.latencyMs) {
            throw new Error(`/api/status of (${way}) disagrees with the PUT answer on segment ${record.seq}`);
          }
          statusVerifyMs[way].push(record.verifyMs ?? NaN);
          statusChecked++;
        }
      }
    }
    const roundsSeconds = (Date.now() - roundStarted) / 1000;
    const cpuDuringRounds = cpuBetween(cpuAtRounds, snapshot(), os.cpus().length);

    // ---- Verification alone, on a stored answer ----
    const stored = direct.last!;
    const request: VerifyRequest = {
      broadcaster: chain.broadcaster,
      streamId: stored.streamId,
      seq: stored.seq,
      source: stored.segment.data,
      durationMs: stored.segment.source.durationMs,
      sourceFrames: stored.segment.source.video.frames,
      sourceFps: stored.segment.source.video.fps,
      ladder: LADDER,
      fitted,
    };
    const receiptDomain = { chainId: stored.info.chainId, verifyingContract: contracts.DisputeManager };
    // Must pass as it is: a loop of failures would time the wrong thing.
    await verifySegment(request, stored.response, stored.info, receiptDomain, tools);
    const verifyTimes = await loop(VERIFY_CALLS, () =>
      verifySegment(request, stored.response, stored.info, receiptDomain),
    );
    const decodeTimes = await loop(DECODE_CALLS, () =>
      verifySegment(request, stored.response, stored.info, receiptDomain, tools),
    );
    const checkTimes = await loop(VERIFY_CALLS, () => {
      if (checkSegmentResponse(stored.response, stored.info, receiptDomain)) throw new Error("the answer fails");
    });
    const sourceHashTimes = await loop(VERIFY_CALLS, () => keccak256(stored.segment.data));
    const describeTimes = await loop(VERIFY_CALLS, () =>
      fitted.forEach((f, i) => describeOutput(f.rendition.name, stored.response.renditions[i], f.fps)),
    );
    const spawnTimes = await loop(DECODE_CALLS, async () => {
      const run = await runProcess(tools.ffmpeg.path, { args: ["-hide_banner", "-version"], timeoutMs: 20_000 });
      if (run.code !== 0) throw new Error("ffmpeg -version failed");
    });
    const parseTimes = await loop(VERIFY_CALLS, () => {
      checkTransportStream(stored.segment.data, DEFAULT_MAX_SEGMENT_BYTES);
      const source = sourceInfoFromTransportStream(stored.segment.data)!;
      fitLadder(LADDER, source.video);
    });

    await new Promise((resolve) => setImmediate(resolve)); // the last garbage-collection entries
    const loadAtEnd = os.loadavg();
    const orchWarnings = orch.daemon.logs.filter((r) => (r.level ?? 0) >= 40);

    // ---- Figures ----
    const wall = (way: Way) => samples[way].map((s) => s.wallMs);
    const aP50 = percentile(wall("a"), 50);
    const within = (s: Sample) => collections.filter((c) => c.at >= s.startedAt && c.at < s.endedAt);
    const column = (way: Way) => {
      const list = samples[way];
      const records = list.map((s) => s.record).filter((r): r is SegmentRecord => r !== undefined);
      const paired = list.map((s) => {
        const base = samples.a.find((x) => x.round === s.round && x.seq === s.seq)!;
        return s.wallMs - base.wallMs;
      });
      const p50 = percentile(wall(way), 50);
      return {
        label: LABELS[way],
        segments: list.length,
        wallMs: spread(wall(way)),
        overheadP50Ms: way === "a" ? 0 : round2(p50 - aP50),
        /** Median of the per-segment differences to (a) for the same round and segment (interleaved, so paired). */
        pairedOverheadP50Ms: way === "a" ? 0 : round2(percentile(paired, 50)),
        overAOfP50: round2(p50 / aP50),
        transcodeMs: spread(list.map((s) => s.transcodeMs)),
        ...(records.length > 0
          ? {
              verifyMs: spread(records.map((r) => r.verifyMs ?? NaN)),
              /** The broadcaster's latencyMs: from its request to the orchestrator until the renditions are out. */
              pipelineLatencyMs: spread(records.map((r) => r.latencyMs ?? NaN)),
              /** PUT wall − latencyMs: the ingest hop, TS parse, source write and answer. */
              ingestMs: spread(list.map((s) => s.wallMs - (s.record?.latencyMs ?? NaN))),
            }
          : {}),
        /** This process's garbage-collection pauses within each segment's wall time. */
        gcMs: spread(list.map((s) => within(s).reduce((t, c) => t + c.ms, 0))),
        /** The same pauses by kind, summed over the way's segments: count and ms. */
        gcByKind: Object.fromEntries(
          [...new Set(collections.map((c) => c.kind))].sort().map((kind) => {
            const of = list.flatMap((s) => within(s).filter((c) => c.kind === kind));
            return [kind, { count: of.length, ms: round2(of.reduce((t, c) => t + c.ms, 0)) }];
          }),
        ),
        /** OrchestratorClient.segment's wall time: POST /segment, the orchestrator, the transcoder, the answer. */
        roundTripMs: spread(list.map((s) => s.roundTripMs)),
        /** The round trip less the transcoder's own time: HTTP both ways and the orchestrator's work. */
        aroundTranscodeMs: spread(list.map((s) => s.roundTripMs - s.transcodeMs)),
        /**
         * What is left, per segment: (a) wall − round trip (fee estimate, tickets); (b)–(d) the record's latencyMs
         * − round trip − verifyMs (picking the orchestrator, fee estimate, tickets, hashing the source where the
         * pipeline does it before the request, writing the renditions and the playlists, bookkeeping; the record's
         * ms are whole, so ±1).
         */
        restMs: spread(
          list.map((s) =>
            s.record
              ? (s.record.latencyMs ?? NaN) - s.roundTripMs - (s.record.verifyMs ?? NaN)
              : s.wallMs - s.roundTripMs,
          ),
        ),
      };
    };
    const columns = { a: column("a"), b: column("b"), c: column("c"), d: column("d") };
    const verifyAlone = {
      verifySegmentNoDecoder: { calls: VERIFY_CALLS, ms: spread(verifyTimes) },
      verifySegmentWithDecoder: { calls: DECODE_CALLS, ms: spread(decodeTimes) },
      decodeOnlyP50Ms: round2(percentile(decodeTimes, 50) - percentile(verifyTimes, 50)),
      checkSegmentResponse: { calls: VERIFY_CALLS, ms: spread(checkTimes) },
      sourceKeccak: { calls: VERIFY_CALLS, ms: spread(sourceHashTimes) },
      describeRenditions: { calls: VERIFY_CALLS, ms: spread(describeTimes) },
      ffmpegStartup: { calls: DECODE_CALLS, ms: spread(spawnTimes) },
      sourceParse: { calls: VERIFY_CALLS, ms: spread(parseTimes) },
      sourceBytes: stored.segment.data.length,
      renditionBytes: stored.response.renditions.map((r) => r.length),
    };

    // ---- Report ----
    const cores = os.cpus().length;
    const cpu = os.cpus()[0]?.model ?? "unknown";
    // The load average at the end includes this bench's own ffmpeg and daemons: only the start's, and the CPU others
    // used during the rounds, say whether something else was running.
    // (The load average decays over minutes: a run just before this one shows in it.)
    const code = codeState();
    const busy = cpuDuringRounds ? cpuDuringRounds.otherCores >= 0.2 : loadAtStart[0] > cores / 2;
    console.log(
      `\nbroadcaster (in-process, HTTP push) vs OrchestratorClient direct, one orchestrator process with its own ` +
        `transcoder (${TRANSCODER_SESSIONS} session), hardhat node; ${cores} cores (${cpu}), node ${process.version}, ` +
        `native crypto: ${nativeCrypto() ? "yes" : "NO"}; ` +
        `load average at start ${loadAtStart.map((l) => l.toFixed(2)).join(" ")}, at end ` +
        `${loadAtEnd.map((l) => l.toFixed(2)).join(" ")} (with this bench's own load)` +
        (cpuDuringRounds
          ? `; during the rounds this bench used ${cpuDuringRounds.benchCores} cores, other processes ` +
            `${cpuDuringRounds.otherCores}`
          : "") +
        (busy ? " (machine busy)" : ""),
    );
    console.log(
      `source ${SOURCE.width}x${SOURCE.height}p${SOURCE.fps}, ${SOURCE.durationSec} s, ${segments.length} segments ` +
        `(~${Math.round(segments.reduce((n, s) => n + s.data.length, 0) / segments.length / 1000)} KB) → ` +
        `${LADDER_PRESETS}; ${ROUNDS} rounds × ${SEGMENTS} segments per way, sequential, interleaved` +
        (code
          ? `; code ${code.commit.slice(0, 10)}` +
            (code.uncommittedOffchain.length > 0
              ? ` with uncommitted changes in ${code.uncommittedOffchain.join(", ")}`
              : "")
          : "") +
        "\n",
    );
    const f = (v: number | undefined, digits = 1) => (v === undefined || Number.isNaN(v) ? "-" : v.toFixed(digits));
    console.log(
      `${"way".padEnd(36)}${"n".padStart(4)}${"p50".padStart(8)}${"p95".padStart(8)}${"+p50".padStart(8)}` +
        `${"paired".padStart(8)}${"ratio".padStart(7)}${"ingest".padStart(8)}${"trip".padStart(8)}` +
        `${"verify".padStart(8)}${"rest".padStart(7)}${"gc".padStart(6)}${"transcode".padStart(10)}`,
    );
    for (const way of WAYS) {
      const c = columns[way] as ReturnType<typeof column>;
      console.log(
        `${c.label.padEnd(36)}${String(c.segments).padStart(4)}${f(c.wallMs.p50).padStart(8)}` +
          `${f(c.wallMs.p95).padStart(8)}${(way === "a" ? "-" : f(c.overheadP50Ms)).padStart(8)}` +
          `${(way === "a" ? "-" : f(c.pairedOverheadP50Ms)).padStart(8)}${(c.overAOfP50.toFixed(2) + "x").padStart(7)}` +
          `${f(c.ingestMs?.p50).padStart(8)}${f(c.roundTripMs.p50).padStart(8)}${f(c.verifyMs?.p50).padStart(8)}` +
          `${f(c.restMs.p50).padStart(7)}${f(c.gcMs.p50).padStart(6)}${f(c.transcodeMs.p50).padStart(10)}`,
      );
    }
    console.log(
      [
        "ms, p50 unless said. +p50 = p50 − p50 of (a); paired = median over segments of (this − (a)) for the same " +
          "round and segment; ratio = p50 / p50 of (a).",
        "Where the time goes (each a p50 of per-segment parts, so they need not add up exactly): ingest = PUT wall " +
          "− the record's latencyMs (the HTTP hop with the source, TS parse, source written, the answer);",
        "trip = OrchestratorClient.segment's wall time (the same call in all four ways: the metadata signed, " +
          "with the source's hash unless the caller passes it, POST /segment, the answer read);",
        "verify = the broadcaster's verifyMs (its segment records, as /api/status lastSegments lists them: " +
          `${statusChecked} cross-checked);`,
        "rest = (a) wall − trip (fee estimate, tickets); (b)–(d) latencyMs − trip − verifyMs (pick, estimate, " +
          "tickets, any source hashing done up front, renditions and playlists written, bookkeeping);",
        "gc = this process's garbage-collection pauses within the segment; transcode = the transcoder's own time, " +
          "as reported.\n",
      ].join("\n"),
    );
    console.log(`verification alone, on a stored answer (${SOURCE.width}x${SOURCE.height} source, ${LADDER_PRESETS})`);
    const line = (what: string, calls: number, ms: ReturnType<typeof spread>) =>
      console.log(
        `${what.padEnd(66)}${String(calls).padStart(6)}${f(ms.p50, 2).padStart(9)}${f(ms.p95, 2).padStart(9)}`,
      );
    console.log(`${"call".padEnd(66)}${"calls".padStart(6)}${"p50".padStart(9)}${"p95".padStart(9)}`);
    line(
      "verifySegment, no decoder (hashes, receipt, TS structure)",
      VERIFY_CALLS,
      verifyAlone.verifySegmentNoDecoder.ms,
    );
    line(
      "verifySegment with the decoder (+ one ffmpeg per rendition)",
      DECODE_CALLS,
      verifyAlone.verifySegmentWithDecoder.ms,
    );
    line(
      "  of which checkSegmentResponse (rendition hashes, signature)",
      VERIFY_CALLS,
      verifyAlone.checkSegmentResponse.ms,
    );
    line("  of which keccak256 of the source (receipt's sourceHash)", VERIFY_CALLS, verifyAlone.sourceKeccak.ms);
    line(
      "  of which describeOutput of each rendition (TS, SPS, frames)",
      VERIFY_CALLS,
      verifyAlone.describeRenditions.ms,
    );
    line(
      "ffmpeg start-up alone (`ffmpeg -version`; the check starts one per rendition)",
      DECODE_CALLS,
      verifyAlone.ffmpegStartup.ms,
    );
    line("ingest: checkTransportStream + sourceInfo + fitLadder (source)", VERIFY_CALLS, verifyAlone.sourceParse.ms);
    console.log(`decode check alone ≈ ${f(verifyAlone.decodeOnlyP50Ms, 1)} ms per segment (p50 difference)`);
    const noisy = [...warnings, ...orchWarnings.map((r) => String(r.msg))];
    if (noisy.length > 0) console.log(`warnings logged during the run: ${noisy.length} (see the JSON)`);

    const file = path.join(ROOT, "bench", "results", "broadcaster.json");
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const result = {
      measuredAt: new Date().toISOString(),
      machine: {
        cpu,
        cores,
        node: process.version,
        nativeCrypto: nativeCrypto(),
        loadavgAtStart: loadAtStart.map(round2),
        /** Includes this bench's own load. */
        loadavgAtEnd: loadAtEnd.map(round2),
        /** Cores' worth of CPU during the rounds: this bench's process tree, and every other process. */
        cpuDuringRounds: cpuDuringRounds ?? null,
        busy,
        note: busy
          ? "something else was running (other processes used 0.2 cores or more during the rounds; without " +
            "/proc: load average at start above half the cores): compare ratios and paired differences, not " +
            "absolute times"
          : "quiet: other processes used less than 0.2 cores during the rounds",
      },
      ffmpeg: { version: tools.ffmpeg.version, source: tools.ffmpeg.source },
      code,
      settings: {
        segments: SEGMENTS,
        rounds: ROUNDS,
        warmupSegmentsPerWay: WARM_SEGMENTS,
        order: "per segment, the four ways one after another, order rotating; each way its own stream per round",
        source: { ...SOURCE, meanBytes: Math.round(segments.reduce((n, s) => n + s.data.length, 0) / segments.length) },
        ladder: LADDER_PRESETS,
        contentDurationMs: CONTENT_DURATION_MS,
        orchestrator: {
          process: "streamflow orchestrator (bin/streamflow.js)",
          transcoderSessions: TRANSCODER_SESSIONS,
          maxSessions: ORCHESTRATOR_MAX_SESSIONS,
        },
        broadcaster: "startBroadcaster in this process, CLI defaults, --orchestrators <url>, no RTMP",
        verifyCalls: VERIFY_CALLS,
        decodeCalls: DECODE_CALLS,
      },
      columns,
      verifyMsFromApiStatus: {
        records: statusChecked,
        b: spread(statusVerifyMs.b),
        c: spread(statusVerifyMs.c),
        d: spread(statusVerifyMs.d),
      },
      verifyAlone,
      warnings: { broadcaster: warnings, orchestrator: orchWarnings.map((r) => r.msg) },
      roundsSeconds: Math.round(roundsSeconds),
      benchSeconds: Math.round((Date.now() - began) / 1000),
    };
    fs.writeFileSync(file, JSON.stringify(result, null, 2) + "\n");
    console.log(`wrote ${path.relative(process.cwd(), file)} (${result.benchSeconds} s)`);
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        console.error(`cleanup: ${(error as Error).message}`);
      }
    }
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
