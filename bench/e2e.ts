// `npm run bench:e2e`: the whole live path under load, against bare ffmpeg doing the same transcoding. One `hardhat
// node` with the suite deployed; two `streamflow orchestrator` processes (dev accounts 1 and 3, bonded, registered
// and active, service URIs on chain), each with its in-process transcoder; one `streamflow broadcaster` (RTMP ingest,
// ladder 480p30,360p30,240p30, --record) that finds both on chain and pays with tickets (dev account 2, 10 ETH deposit
// and 10 ETH reserve: a 2 s segment of this ladder costs ~4.5e7 wei at the default price, so a whole run spends less
// than 1e-7 ETH); N ffmpeg publishers, each pushing a 1280x720p30 stream to its own stream key in real time. For each
// N in BENCH_STREAMS, fresh daemons (the chain stays) and BENCH_DURATION seconds of publishing; then, side by side,
// N bare ffmpeg processes doing the transcoder's work (buildTranscodeArgs: one decode, the same filter graph and x264
// settings, three outputs) on the same source read in real time (-re).
//
// The source is one file made up front (testsrc2 + a tone, x264 veryfast zerolatency 2500k, a keyframe every 2 s:
// the encoding the e2e tests push with livePushArgs), read by every publisher (stream copy, so publishing costs
// almost nothing) and every bare ffmpeg. Streams start 2 s / N apart, as independent streams would, not in step.
//
// Figures, per N:
//   segments: every segment's record from the broadcaster's /api/status, read once a second (it lists each stream's
//     last 10 records, 20 s of stream; a record in flight is read again until settled), checked against its totals
//     and, once the streams have ended, against the recorded HLS playlists;
//   latency: the record's latencyMs, from the segmenter's hand-over to the renditions published (orchestrator choice,
//     tickets, POST /segment, transcode, verification with the decode check, HLS write); p50/p95 of settled segments;
//   overhead: latencyMs − transcodeMs per segment (the transcoder's own time as the orchestrator reports it);
//   late: settled segments whose latency exceeds their own duration (published after the next segment arrived);
//   lost: segments the broadcaster gave up on, or that the source playlist has and a rendition playlist lacks;
//     unobserved: segments the broadcaster counted whose final record the poll never saw (should be 0);
//   RSS: VmRSS of the broadcaster and of each orchestrator (the node processes) every 5 s while publishing: first,
//     last, max, the least-squares slope over the second half in MB/min (flat: about 0), and after the streams end;
//   CPU: cores' worth (1.0 = one core all the time) from /proc over the window from the first publisher's start to
//     1 s before the source's end: the machine, everything outside this bench ("others": the machine is shared), and
//     each daemon's process tree (with the ffmpeg it runs: segmenters, transcodes, decode checks). CPU per stream =
//     the three daemons' trees / N, i.e. CPU-seconds per second of video; for bare ffmpeg its processes' / N;
//   real time: Streamflow keeps up at N when nothing is lost, every publisher ended within 2 % + 1 s of the source's
//     duration (ingest kept pace) and latency p95 ≤ BENCH_LATENCY_BOUND_MS (default the segment duration: a stream
//     whose segments are out before the next arrives never piles up; p95, not max, since the broadcaster keeps up to
//     4 segments in flight and absorbs a rare stall). Bare ffmpeg keeps up when its lag (wall time since start −
//     frames out / fps, from -progress every 0.5 s) has its p95 and its final value within the same bound.
// Then the largest N that keeps up, for each, and CPU per stream Streamflow / bare. No timed assertions.
//
//   BENCH_STREAMS=1,4,8            concurrent streams, one configuration each
//   BENCH_DURATION=300             seconds of publishing per configuration (and per bare run)
//   BENCH_BARE=on|off              run the bare ffmpeg baseline (default on)
//   BENCH_TRANSCODER_SESSIONS=2    segments each orchestrator's in-process transcoder runs at once
//   BENCH_LATENCY_BOUND_MS=2000    the p95 bound for "real time"
//   BENCH_OUT=file                 the JSON's path (default bench/results/e2e.json; smoke runs: bench/out/...)
//   BENCH_LOGS=dir                 also keep every daemon's log there, one file per daemon and configuration
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { type MediaTools, mediaTools } from "../offchain/media/binaries";
import { ladderFromPresets } from "../offchain/media/ladder";
import { type SourceInfo, sourceInfoFromTransportStream } from "../offchain/media/probe";
import { logTail } from "../offchain/media/run";
import {
  type SegmentStatus,
  addSecondOrchestrator,
  broadcasterStatus,
  parseMasterPlaylist,
  parseMediaPlaylist,
  startBroadcasterOn,
  startOrchestratorOn,
  waitForStreamEnd,
} from "../test/support/broadcasterStack";
import { type OrchestratorChain, startOrchestratorChain } from "../test/support/orchestratorChain";
import { ProcessGroup, waitUntil } from "../test/support/orchestratorDaemon";
import type { LogRecord } from "../test/support/transcoderDaemon";
import { Child, killAll, repeat } from "./lib/children";
import {
  type LiveSource,
  type Progress,
  bareTranscodeArgs,
  makeLiveSource,
  progressReader,
  publishArgs,
} from "./lib/liveMedia";
import { codeState, machineInfo } from "./lib/machine";
import { type ProcSnapshot, commandLine, cpuByTree, rssMb, snapshot } from "./lib/procstat";
import { percentile, round2, slope } from "./lib/stats";

const ROOT = path.resolve(__dirname, "..");
const SEGMENT_MS = 2000;
const POLL_MS = 1000;
const SAMPLE_MS = 5000;
const LADDER = "480p30,360p30,240p30";

function positiveInts(name: string, fallback: string): number[] {
  const values = (process.env[name] ?? fallback).split(",").map((v) => Number(v.trim()));
  if (values.some((v) => !Number.isInteger(v) || v < 1)) throw new Error(`${name}: positive integers, comma-separated`);
  return values;
}
const STREAMS = positiveInts("BENCH_STREAMS", "1,4,8");
const [DURATION_S] = positiveInts("BENCH_DURATION", "300");
const BARE = (process.env.BENCH_BARE ?? "on") !== "off";
// "auto" would be cores / 2 = 1 session per orchestrator here, and --max-sessions auto follows it: each orchestrator
// would admit one stream and N = 4 would be turned away (ORCHESTRATOR_CAPPED), measuring the admission policy rather
// than the machine. Two each (four ffmpeg at most on two cores) keep the cores busy while a segment's ffmpeg starts
// or its answer travels; --max-sessions = the largest N, so that no stream is refused at the door.
const [SESSIONS] = positiveInts("BENCH_TRANSCODER_SESSIONS", "2");
const [LATENCY_BOUND_MS] = positiveInts("BENCH_LATENCY_BOUND_MS", String(SEGMENT_MS));
const SOURCE: LiveSource = {
  width: 1280,
  height: 720,
  fps: 30,
  bitrate: "2500k",
  startSec: 10,
  durationSec: DURATION_S,
};
const OUT = path.resolve(process.env.BENCH_OUT ?? path.join(ROOT, "bench", "results", "e2e.json"));
const LOGS_DIR = process.env.BENCH_LOGS && path.resolve(process.env.BENCH_LOGS);
const CORES = os.cpus().length;
/** The one warning an open-ingest broadcaster logs at start; expected here. */
const EXPECTED_WARNING = /no --stream-keys or --auth-webhook/;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------------------------
// Processes this bench starts itself, and the way out.

const groups = new Set<ProcessGroup>();
const cleanups: Array<() => unknown> = [];

let cleaning: Promise<void> | undefined;
/** Once, however many callers (the end of main and a signal may both ask): children, daemons, then the rest. */
const cleanUp = () => (cleaning ??= stopEverything());

async function stopEverything(): Promise<void> {
  await killAll();
  await Promise.all([...groups].map((g) => g.stopAll()));
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup();
    } catch (error) {
      console.error(`cleanup: ${(error as Error).message}`);
    }
  }
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping every process this bench started`);
    void cleanUp().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Both sides: n ffmpeg started a fraction of a segment apart, and the CPU over the window.

interface Window {
  procs: Child[];
  exits: Array<{ code: number | null; wallMs: number }>;
  from?: ProcSnapshot;
  to?: ProcSnapshot;
}

/** Starts n ffmpegs SEGMENT_MS / n apart; /proc snapshots at the first start and 1 s before the source ends. */
async function runWindow(n: number, start: (i: number) => Child): Promise<Window> {
  const from = snapshot();
  const end = sleep(DURATION_S * 1000 - 1000).then(snapshot);
  const procs: Child[] = [];
  for (let i = 0; i < n; i++) {
    if (i > 0) await sleep(SEGMENT_MS / n);
    procs.push(start(i));
  }
  const to = await end;
  return { procs, exits: await Promise.all(procs.map((p) => p.exited)), from, to };
}

/** cpuByTree over the window, rounded; undefined off Linux. */
function cpuFigures<K extends string>(window: Window, trees: Record<K, readonly number[]>) {
  if (!window.from || !window.to) return undefined;
  const cpu = cpuByTree(window.from, window.to, CORES, trees);
  return Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, round2(v as number)])) as typeof cpu;
}

/** p50, p95 and max; NaN (null in the JSON) for none. */
function spread(values: readonly number[]) {
  const max = values.length > 0 ? Math.max(...values) : NaN;
  return { p50: round2(percentile(values, 50)), p95: round2(percentile(values, 95)), max: round2(max) };
}

// ---------------------------------------------------------------------------------------------------------------
// One Streamflow configuration.

interface Context {
  tools: MediaTools;
  chain: OrchestratorChain;
  chainPid?: number;
  tempDir: string;
  sourceFile: string;
  source: SourceInfo;
}

type Segment = SegmentStatus & { stream: string };
const SEGMENT_COLUMNS = "stream seq durationMs status attempts latencyMs transcodeMs verifyMs orchestrator".split(
  " ",
) as Array<keyof Segment>;

/** One configuration: fresh daemons, n publishers, everything read back; the daemons stopped after. */
async function collectStreamflow(n: number, ctx: Context) {
  const dir = fs.mkdtempSync(path.join(ctx.tempDir, `streamflow-n${n}-`));
  const group = new ProcessGroup();
  groups.add(group);
  try {
    const orchestrators = await Promise.all(
      [1, 3].map((account) =>
        startOrchestratorOn(group, ctx.chain, {
          account,
          dataDir: path.join(dir, `orchestrator${account}`),
          register: true,
          args: ["--transcoder-sessions", String(SESSIONS), "--max-sessions", String(Math.max(...STREAMS))],
        }),
      ),
    );
    const broadcaster = await startBroadcasterOn(group, ctx.chain, {
      dataDir: path.join(dir, "broadcaster"),
      args: ["--renditions", LADDER, "--record"],
    });
    const urls = orchestrators.map((o) => o.url);
    await waitUntil(
      "the broadcaster to find both orchestrators on chain",
      async () => {
        const found = (await broadcasterStatus(broadcaster.url)).orchestrators.map((o) => o.url);
        return urls.every((url) => found.includes(url));
      },
      60_000,
      500,
    );
    const daemons = {
      broadcaster: broadcaster.daemon,
      orchestrator1: orchestrators[0].daemon,
      orchestrator2: orchestrators[1].daemon,
    };
    const ids = Array.from({ length: n }, (_, i) => `e2e-n${n}-s${i}`);

    // Every record, the latest state of each (a settled one no longer changes).
    const records = new Map<string, Segment>();
    const poller = repeat(POLL_MS, async () => {
      for (const stream of (await broadcasterStatus(broadcaster.url)).streams) {
        if (!ids.includes(stream.id)) continue;
        for (const r of stream.lastSegments) records.set(`${stream.id}/${r.seq}`, { ...r, stream: stream.id });
      }
    });
    const t0 = performance.now();
    const rss: Array<{ t: number } & Record<string, number>> = [];
    const readRss = () =>
      Object.fromEntries(Object.entries(daemons).map(([name, d]) => [name, round2(rssMb(d.pid) ?? NaN)]));
    const sampler = repeat(SAMPLE_MS, () => rss.push({ t: round2((performance.now() - t0) / 1000), ...readRss() }));

    const window = await runWindow(
      n,
      (i) => new Child(ctx.tools.ffmpeg.path, publishArgs(ctx.sourceFile, `${broadcaster.rtmpUrl}/${ids[i]}`)),
    );
    await sampler.stop();
    const notEnded: string[] = [];
    for (const id of ids) await waitForStreamEnd(broadcaster.url, id, 120_000).catch(() => notEnded.push(id));
    await poller.stop();
    const status = await broadcasterStatus(broadcaster.url);
    for (const stream of status.streams) {
      for (const r of stream.lastSegments) records.set(`${stream.id}/${r.seq}`, { ...r, stream: stream.id });
    }
    const rssAfterEnd = readRss();

    // The recorded playlists: every segment the source variant has must be in every rendition's.
    const missingInHls: Record<string, number[]> = {};
    for (const id of ids) {
      const masterUrl = `${broadcaster.url}/stream/${id}.m3u8`;
      const variants = parseMasterPlaylist(await (await fetch(masterUrl)).text());
      const seqs = new Map<string, Set<number>>();
      for (const v of variants) {
        const text = await (await fetch(new URL(v.uri, masterUrl))).text();
        seqs.set(path.posix.basename(v.uri, ".m3u8"), new Set(parseMediaPlaylist(text).segments.map((s) => s.seq)));
      }
      const source = [...(seqs.get("source") ?? [])];
      const missing = source.filter((seq) => [...seqs.values()].some((set) => !set.has(seq)));
      if (missing.length > 0) missingInHls[id] = missing;
    }
    const warnings = Object.entries(daemons).flatMap(([name, d]) =>
      d.logs
        .filter((r: LogRecord) => (r.level ?? 0) >= 40 && !EXPECTED_WARNING.test(String(r.msg)))
        .map((r) => ({ daemon: name, msg: r.msg, reason: r.reason ?? r.code ?? r.error })),
    );
    const cpu = cpuFigures(window, {
      broadcaster: [daemons.broadcaster.pid],
      orchestrator1: [daemons.orchestrator1.pid],
      orchestrator2: [daemons.orchestrator2.pid],
      chain: ctx.chainPid ? [ctx.chainPid] : [],
      publishers: window.procs.map((p) => p.pid),
    });
    if (LOGS_DIR) {
      fs.mkdirSync(LOGS_DIR, { recursive: true });
      for (const [name, d] of Object.entries(daemons))
        fs.writeFileSync(path.join(LOGS_DIR, `n${n}-${name}.log`), d.output);
    }
    const streams = status.streams.filter((s) => ids.includes(s.id));
    const pollErrors = poller.state;
    return {
      ids,
      urls,
      records: [...records.values()],
      streams,
      missingInHls,
      notEnded,
      window,
      cpu,
      rss,
      rssAfterEnd,
      warnings,
      pollErrors,
    };
  } finally {
    await group.stopAll();
    groups.delete(group);
    fs.rmSync(dir, { recursive: true, force: true }); // --record keeps every segment: GBs at 8 streams
  }
}

type Collected = Awaited<ReturnType<typeof collectStreamflow>>;

function rssFigures(series: Collected["rss"], daemon: string, afterEnd: number | undefined) {
  const points = series.filter((s) => Number.isFinite(s[daemon])).map((s) => ({ x: s.t, y: s[daemon] }));
  if (points.length === 0) return undefined;
  const half = points.filter((p) => p.x >= points.at(-1)!.x / 2);
  return {
    firstMb: round2(points[0].y),
    lastMb: round2(points.at(-1)!.y),
    maxMb: round2(Math.max(...points.map((p) => p.y))),
    slopeMbPerMin: round2(slope(half.map((p) => ({ x: p.x / 60, y: p.y })))),
    afterEndMb: afterEnd === undefined ? null : round2(afterEnd),
  };
}

function figuresOf(n: number, c: Collected) {
  const settled = c.records.filter((r) => r.status === "ok" && r.latencyMs !== undefined);
  const latency = settled.map((r) => r.latencyMs!);
  const transcode = settled.map((r) => r.transcodeMs ?? NaN);
  const failed = c.records.filter((r) => r.status === "failed");
  const counted = c.streams.reduce((t, s) => t + s.segmentsIn, 0);
  const missing = Object.values(c.missingInHls).reduce((t, m) => t + m.length, 0);
  const lostSeqs = new Set([
    ...failed.map((r) => `${r.stream}/${r.seq}`),
    ...Object.entries(c.missingInHls).flatMap(([id, seqs]) => seqs.map((s) => `${id}/${s}`)),
  ]);
  const late = settled.filter((r) => r.latencyMs! > r.durationMs).length;
  const publishers = c.window.exits.map((e, i) => ({
    stream: c.ids[i],
    code: e.code,
    wallS: round2(e.wallMs / 1000),
    ingestedS: round2(c.records.filter((r) => r.stream === c.ids[i]).reduce((t, r) => t + r.durationMs, 0) / 1000),
  }));
  const slowPublishers = publishers.filter((p) => p.code !== 0 || p.wallS > DURATION_S * 1.02 + 1).length;
  const p95 = percentile(latency, 95);
  const reasons = [
    ...(lostSeqs.size > 0 ? [`${lostSeqs.size} segments lost`] : []),
    ...(slowPublishers > 0 ? [`${slowPublishers} publishers failed or fell behind`] : []),
    ...(c.notEnded.length > 0 ? [`streams not ended: ${c.notEnded.join(", ")}`] : []),
    ...(!(p95 <= LATENCY_BOUND_MS) ? [`latency p95 ${Math.round(p95)} ms > ${LATENCY_BOUND_MS} ms`] : []),
  ];
  const daemonCores = c.cpu ? c.cpu.broadcaster + c.cpu.orchestrator1 + c.cpu.orchestrator2 : NaN;
  return {
    streams: n,
    orchestrators: c.urls,
    segments: {
      counted,
      observed: c.records.length,
      settled: settled.length,
      unobserved: Math.max(0, counted - c.records.length),
      lost: lostSeqs.size,
      lostByBroadcaster: failed.length,
      missingInHls: missing,
      late,
      latePercent: round2((100 * late) / Math.max(1, settled.length)),
      byOrchestrator: c.urls.map((url) => settled.filter((r) => r.orchestrator === url).length),
      retried: c.records.filter((r) => r.attempts > 1).length,
      lostErrors: [...new Set(failed.map((r) => r.error))].slice(0, 5),
    },
    latencyMs: spread(latency),
    transcodeMs: spread(transcode),
    overheadMs: spread(settled.map((r, i) => r.latencyMs! - transcode[i])),
    verifyMs: spread(settled.map((r) => r.verifyMs ?? NaN)),
    cpu: c.cpu && {
      ...c.cpu,
      daemons: round2(daemonCores),
      perStream: round2(daemonCores / n),
    },
    rss: Object.fromEntries(
      ["broadcaster", "orchestrator1", "orchestrator2"].map((d) => [d, rssFigures(c.rss, d, c.rssAfterEnd[d])]),
    ),
    realTime: reasons.length === 0,
    notRealTimeBecause: reasons,
    publishers,
    warnings: { count: c.warnings.length, first: c.warnings.slice(0, 10) },
    pollErrors: c.pollErrors,
    rssSeries: c.rss,
    segmentColumns: SEGMENT_COLUMNS,
    segmentList: c.records
      .sort((a, b) => a.stream.localeCompare(b.stream) || a.seq - b.seq)
      .map((r) => SEGMENT_COLUMNS.map((k) => r[k] ?? null)),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// One bare ffmpeg configuration.

async function runBare(n: number, ctx: Context) {
  const progress: Progress[][] = [];
  const args = bareTranscodeArgs(ctx.source, ladderFromPresets(LADDER), ctx.sourceFile);
  const window = await runWindow(n, (i) => {
    progress[i] = [];
    return new Child(ctx.tools.ffmpeg.path, args, progressReader(performance.now(), SOURCE.fps, progress[i]));
  });
  const processes = window.exits.map((e, i) => {
    const last = progress[i].at(-1);
    const lags = progress[i].map((p) => p.lagS);
    return {
      code: e.code,
      wallS: round2(e.wallMs / 1000),
      frames: last?.frames ?? 0,
      speed: round2((last?.frames ?? 0) / SOURCE.fps / (e.wallMs / 1000)),
      lagP95S: round2(percentile(lags, 95)),
      lagFinalS: round2(last?.lagS ?? NaN),
      error: e.code === 0 ? undefined : logTail(window.procs[i].stderr),
    };
  });
  const boundS = LATENCY_BOUND_MS / 1000;
  const behind = processes.filter((p) => p.code !== 0 || !(p.lagP95S <= boundS) || !(p.lagFinalS <= boundS));
  const cpu = cpuFigures(window, { ffmpeg: window.procs.map((p) => p.pid) });
  return {
    streams: n,
    lagP95S: round2(Math.max(...processes.map((p) => p.lagP95S))),
    lagFinalS: round2(Math.max(...processes.map((p) => p.lagFinalS))),
    speedMin: round2(Math.min(...processes.map((p) => p.speed))),
    cpu: cpu && { ...cpu, perStream: round2(cpu.ffmpeg / n) },
    realTime: behind.length === 0,
    notRealTimeBecause: behind.length > 0 ? [`${behind.length} of ${n} fell behind or failed`] : [],
    processes,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Report.

type StreamflowFigures = ReturnType<typeof figuresOf>;
type BareFigures = Awaited<ReturnType<typeof runBare>>;

const f = (v: number | undefined | null, digits = 0) =>
  v === undefined || v === null || Number.isNaN(v) ? "-" : v.toFixed(digits);

function printConfiguration(s: StreamflowFigures, bare?: BareFigures): void {
  const seg = s.segments;
  console.log(
    `\n${s.streams} stream(s), ${DURATION_S} s: ${seg.counted} segments, lost ${seg.lost} (given up ` +
      `${seg.lostByBroadcaster}, missing in HLS ${seg.missingInHls}), unobserved ${seg.unobserved}, retried ` +
      `${seg.retried}, late ${seg.late} (${f(seg.latePercent, 1)} %), per orchestrator ${seg.byOrchestrator.join("/")}`,
  );
  console.log(
    `  ms p50/p95: latency ${f(s.latencyMs.p50)}/${f(s.latencyMs.p95)}, transcode ${f(s.transcodeMs.p50)}/` +
      `${f(s.transcodeMs.p95)}, overhead ${f(s.overheadMs.p50)}/${f(s.overheadMs.p95)}, verify ` +
      `${f(s.verifyMs.p50)}/${f(s.verifyMs.p95)}`,
  );
  if (s.cpu) {
    console.log(
      `  cores: machine ${f(s.cpu.machine, 2)}, others ${f(s.cpu.others, 2)}; broadcaster ${f(s.cpu.broadcaster, 2)}, ` +
        `orchestrators ${f(s.cpu.orchestrator1, 2)} + ${f(s.cpu.orchestrator2, 2)}, chain ${f(s.cpu.chain, 2)}, ` +
        `publishers ${f(s.cpu.publishers, 2)}, this bench ${f(s.cpu.thisProcess, 2)}; per stream ` +
        `${f(s.cpu.perStream, 3)}`,
    );
  }
  for (const [daemon, r] of Object.entries(s.rss)) {
    if (!r) continue;
    console.log(
      `  RSS ${daemon.padEnd(13)} ${f(r.firstMb)} → ${f(r.lastMb)} MB (max ${f(r.maxMb)}, after end ` +
        `${f(r.afterEndMb)}), second-half slope ${f(r.slopeMbPerMin, 2)} MB/min`,
    );
  }
  console.log(`  real time: ${s.realTime ? "yes" : `no (${s.notRealTimeBecause.join("; ")})`}`);
  if (s.warnings.count > 0) console.log(`  daemon warnings/errors logged: ${s.warnings.count} (see the JSON)`);
  if (bare) {
    console.log(
      `  bare ffmpeg: lag p95 ${f(bare.lagP95S, 2)} s, final ${f(bare.lagFinalS, 2)} s, slowest speed ` +
        `${f(bare.speedMin, 2)}x; cores ${f(bare.cpu?.ffmpeg, 2)} (others ${f(bare.cpu?.others, 2)}), per stream ` +
        `${f(bare.cpu?.perStream, 3)}; real time: ${bare.realTime ? "yes" : `no (${bare.notRealTimeBecause[0]})`}`,
    );
  }
}

async function main(): Promise<void> {
  const began = Date.now();
  const loadAtStart = os.loadavg();
  const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), "streamflow-bench-e2e-"));
  cleanups.push(() => fs.rmSync(tempDir, { recursive: true, force: true }));
  try {
    const tools = await mediaTools();
    const sourceFile = path.join(tempDir, "source.ts");
    console.log(`making a ${DURATION_S} s ${SOURCE.width}x${SOURCE.height}p${SOURCE.fps} source...`);
    await makeLiveSource(tools, SOURCE, sourceFile);
    const source = sourceInfoFromTransportStream(fs.readFileSync(sourceFile));
    if (!source) throw new Error("the source has no H.264 video");

    console.log("starting the chain (hardhat node, deploy, two active orchestrators)...");
    const chain = await startOrchestratorChain("bench-e2e");
    cleanups.push(() => chain.stop());
    await addSecondOrchestrator(chain);
    const now = snapshot();
    const chainPid = [...(now?.processes ?? [])]
      .filter(([, p]) => p.ppid === process.pid)
      .map(([pid]) => pid)
      .find((pid) => /hardhat node --hostname/.test(commandLine(pid)));
    const ctx: Context = { tools, chain, chainPid, tempDir, sourceFile, source };

    const configurations: Array<{ streams: number; streamflow: StreamflowFigures; bare?: BareFigures }> = [];
    for (const n of STREAMS) {
      console.log(`\n${n} stream(s): Streamflow for ${DURATION_S} s...`);
      const streamflow = figuresOf(n, await collectStreamflow(n, ctx));
      let bare: BareFigures | undefined;
      if (BARE) {
        console.log(`${n} stream(s): bare ffmpeg for ${DURATION_S} s...`);
        bare = await runBare(n, ctx);
      }
      printConfiguration(streamflow, bare);
      configurations.push({ streams: n, streamflow, bare });
    }

    // ---- Summary ----
    const largest = (ok: (c: (typeof configurations)[number]) => boolean | undefined) =>
      Math.max(0, ...configurations.filter((c) => ok(c)).map((c) => c.streams));
    const ratio = (c: (typeof configurations)[number]) =>
      round2((c.streamflow.cpu?.perStream ?? NaN) / (c.bare?.cpu?.perStream ?? NaN));
    const summary = {
      sustainedStreamflow: largest((c) => c.streamflow.realTime),
      sustainedBare: BARE ? largest((c) => c.bare?.realTime) : null,
      cpuPerStreamRatio: Object.fromEntries(configurations.map((c) => [c.streams, ratio(c)])),
    };
    const widths = [8, 6, 7, 9, 9, 9, 9, 9, 9, 7, 8];
    const row = (cells: string[]) =>
      cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])));
    const head = [
      "streams",
      "lost",
      "late%",
      "lat p50",
      "lat p95",
      "ovh p50",
      "ovh p95",
      "cpu/str",
      "bare/str",
      "ratio",
      "others",
    ];
    console.log(`\n${row(head).join("")}  real time (Streamflow/bare)`);
    for (const c of configurations) {
      const s = c.streamflow;
      const cells = [
        String(c.streams),
        String(s.segments.lost),
        f(s.segments.latePercent, 1),
        f(s.latencyMs.p50),
        f(s.latencyMs.p95),
        f(s.overheadMs.p50),
        f(s.overheadMs.p95),
        f(s.cpu?.perStream, 3),
        f(c.bare?.cpu?.perStream, 3),
        f(ratio(c), 2),
        f(s.cpu?.others, 2),
      ];
      const yes = (ok?: boolean) => (ok === undefined ? "-" : ok ? "yes" : "no");
      console.log(`${row(cells).join("")}  ${yes(s.realTime)}/${yes(c.bare?.realTime)}`);
    }
    console.log(
      [
        "ms; lost = given up by the broadcaster or missing from a rendition playlist; late = latency > the segment's",
        "duration; ovh = latency − transcoder time; cpu/str = cores of the broadcaster + both orchestrators (with",
        "their ffmpeg) / streams; bare/str = the same for bare ffmpeg; ratio = cpu/str / bare/str; others = cores",
        "used by processes outside this bench during the Streamflow window (the machine is shared).",
      ].join("\n"),
    );
    console.log(
      `largest N run that keeps up in real time on ${CORES} cores: Streamflow ${summary.sustainedStreamflow}, ` +
        `bare ffmpeg ${summary.sustainedBare ?? "not run"} (of ${STREAMS.join(", ")})`,
    );

    const result = {
      measuredAt: new Date().toISOString(),
      machine: machineInfo(loadAtStart),
      ffmpeg: { version: tools.ffmpeg.version, source: tools.ffmpeg.source },
      code: codeState(ROOT),
      settings: {
        streams: STREAMS,
        durationS: DURATION_S,
        segmentMs: SEGMENT_MS,
        ladder: LADDER,
        source: { ...SOURCE, x264: "veryfast zerolatency, GOP 60", audio: "AAC 128k" },
        latencyBoundMs: LATENCY_BOUND_MS,
        transcoderSessionsPerOrchestrator: SESSIONS,
        maxSessionsPerOrchestrator: Math.max(...STREAMS),
        statusPollMs: POLL_MS,
        rssSampleMs: SAMPLE_MS,
        bare: BARE,
        bareArgs: bareTranscodeArgs(source, ladderFromPresets(LADDER), "<source.ts>"),
      },
      configurations,
      summary,
      benchSeconds: Math.round((Date.now() - began) / 1000),
    };
    fs.mkdirSync(path.dirname(OUT), { recursive: true });
    // Arrays of plain values on one line each: the segment list and the RSS series stay readable.
    const json = JSON.stringify(result, null, 2).replace(
      /\[\n\s+([^[\]{}]*?)\n\s+\]/g,
      (_, inner: string) => `[${inner.split(/,\n\s+/).join(", ")}]`,
    );
    fs.writeFileSync(OUT, json + "\n");
    console.log(`wrote ${path.relative(process.cwd(), OUT)} (${result.benchSeconds} s)`);
  } finally {
    await cleanUp();
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
