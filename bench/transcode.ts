// `npm run bench:transcode`: one 2 s segment into the default ladder (720p/480p/360p/240p, x264 veryfast), three ways
// side by side on the same generated 1080p30 and 720p30 sources, interleaved so that machine noise hits all three:
//   (a) ours, end to end: the `streamflow transcoder` daemon gets the segment over its WebSocket and returns the
//       renditions with their metadata (probe, one ffmpeg, frame counts, SPS, keccak hashes);
//   (b) the bare equivalent: the same ffmpeg arguments run directly on a file, writing files;
//   (c) one ffmpeg per rendition, one after the other (each decodes the source itself); also reported: the same
//       processes all started at once (c∥), the kindest case for that approach.
// Prints throughput, a/b (target ≥ 0.95), c/a (target ≥ 1.5) and the realtime factor; writes
// bench/results/transcode.json.
//
// Throughput is one segment over the median time of that way.
//
//   BENCH_SEGMENTS=N   timed segments per source and way (default 8)
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { type MediaTools, mediaTools } from "../offchain/media/binaries";
import { DEFAULT_LADDER, type FittedRendition, fitLadder, ladderFromPresets } from "../offchain/media/ladder";
import { type SourceInfo, probeSegment } from "../offchain/media/probe";
import { runProcess } from "../offchain/media/run";
import { generateTestSegment } from "../offchain/media/testsrc";
import { DEFAULT_X264_PRESET, type EncodeSettings, buildTranscodeArgs } from "../offchain/media/transcode";
import { TranscoderHub } from "../test/support/transcoderHub";

const SEGMENTS = Number(process.env.BENCH_SEGMENTS ?? 8);
const SEGMENT_SECONDS = 2;
const TARGET_A_OVER_B = 0.95;
const TARGET_C_OVER_A = 1.5;
const ROOT = path.resolve(__dirname, "..");

const ladder = ladderFromPresets(DEFAULT_LADDER.join(","));
const settings: EncodeSettings = { preset: DEFAULT_X264_PRESET };

async function bare(tools: MediaTools, args: string[]): Promise<number> {
  const result = await runProcess(tools.ffmpeg.path, { args: ["-y", ...args], timeoutMs: 120_000 });
  if (result.code !== 0) throw new Error(`ffmpeg failed: ${result.stderrTail}`);
  return result.wallMs;
}

function startDaemon(hub: TranscoderHub): ChildProcess {
  return spawn(
    process.execPath,
    [
      path.join(ROOT, "bin", "streamflow.js"),
      "transcoder",
      "--orch-addr",
      `127.0.0.1:${hub.port}`,
      "--http-addr",
      "127.0.0.1:0",
      "--max-sessions",
      "1",
      "--log-level",
      "warn",
    ],
    { env: { ...process.env, STREAMFLOW_ORCH_SECRET: hub.secret }, stdio: ["ignore", "ignore", "inherit"] },
  );
}

interface Way {
  name: string;
  ms: number[];
}

async function main(): Promise<void> {
  const tools = await mediaTools();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "streamflow-bench-"));
  const hub = await new TranscoderHub("bench-secret").listen();
  const daemon = startDaemon(hub);
  try {
    const transcoder = await hub.waitForTranscoder();
    const rows = [];
    for (const [label, width, height] of [
      ["1080p30", 1920, 1080],
      ["720p30", 1280, 720],
    ] as const) {
      const segment = await generateTestSegment(tools, {
        width,
        height,
        fps: 30,
        durationSec: SEGMENT_SECONDS,
        preset: "veryfast",
      });
      const input = path.join(dir, `${label}.ts`);
      fs.writeFileSync(input, segment);
      const source: SourceInfo = await probeSegment(tools, segment);
      const fitted: FittedRendition[] = fitLadder(ladder, source.video);
      const outputs = fitted.map((f) => path.join(dir, `${label}-${f.rendition.name}.ts`));
      const together = buildTranscodeArgs(source, fitted, settings, outputs, input);
      const separate = fitted.map((f, i) => buildTranscodeArgs(source, [f], settings, [outputs[i]], input));
      const ours: Way = { name: "ours", ms: [] };
      const bareWay: Way = { name: "bare", ms: [] };
      const perRendition: Way = { name: "per-rendition", ms: [] };
      const perRenditionParallel: Way = { name: "per-rendition-parallel", ms: [] };
      const runOurs = async () => {
        const started = performance.now();
        const reply = await hub.submit(transcoder, segment, ladder, 120_000);
        if (!reply.ok) throw new Error(`transcoder: ${reply.error.code} ${reply.error.message}`);
        return performance.now() - started;
      };
      const runSeparate = async () => {
        const started = performance.now();
        for (const args of separate) await bare(tools, args);
        return performance.now() - started;
      };
      const runSeparateParallel = async () => {
        const started = performance.now();
        await Promise.all(separate.map((args) => bare(tools, args)));
        return performance.now() - started;
      };
      // One untimed warm-up of each (page cache, daemon JIT), then interleaved timed runs.
      await runOurs();
      await bare(tools, together);
      await runSeparate();
      // Each round runs the four ways in a rotated order, so that none always follows the same neighbour.
      const ways: Array<[Way, () => Promise<number>]> = [
        [ours, runOurs],
        [bareWay, () => bare(tools, together)],
        [perRendition, runSeparate],
        [perRenditionParallel, runSeparateParallel],
      ];
      for (let i = 0; i < SEGMENTS; i++) {
        for (let k = 0; k < ways.length; k++) {
          const [way, run] = ways[(i + k) % ways.length];
          way.ms.push(await run());
        }
      }
      // Medians, not means: one segment slowed by something else on the machine must not decide a ratio.
      const median = (way: Way) => {
        const sorted = [...way.ms].sort((a, b) => a - b);
        const mid = Math.floor(sorted.length / 2);
        return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
      };
      const throughput = (way: Way) => 1000 / median(way); // segments per second
      rows.push({
        source: label,
        renditions: fitted.map((f) => `${f.width}x${f.height}`),
        segmentsPerSecond: {
          ours: Number(throughput(ours).toFixed(3)),
          bare: Number(throughput(bareWay).toFixed(3)),
          perRendition: Number(throughput(perRendition).toFixed(3)),
          perRenditionParallel: Number(throughput(perRenditionParallel).toFixed(3)),
        },
        medianMs: {
          ours: Math.round(median(ours)),
          bare: Math.round(median(bareWay)),
          perRendition: Math.round(median(perRendition)),
          perRenditionParallel: Math.round(median(perRenditionParallel)),
        },
        aOverB: Number((throughput(ours) / throughput(bareWay)).toFixed(3)),
        cOverA: Number((median(perRendition) / median(ours)).toFixed(3)),
        cParallelOverA: Number((median(perRenditionParallel) / median(ours)).toFixed(3)),
        realtimeFactor: Number((throughput(ours) * SEGMENT_SECONDS).toFixed(2)),
      });
    }

    console.log(
      `one ${SEGMENT_SECONDS} s segment → ${ladder.map((r) => r.name).join(", ")} (x264 ${settings.preset}), ${SEGMENTS} timed segments per way, ${os.cpus().length} cores`,
    );
    console.log(`ffmpeg ${tools.ffmpeg.version} (${tools.ffmpeg.source})\n`);
    const header = [
      "source",
      "(a) ours seg/s",
      "(b) bare seg/s",
      "(c) seg/s",
      "(c∥) seg/s",
      "a/b",
      "c/a",
      "c∥/a",
      "realtime",
    ];
    console.log(header.map((h, i) => (i === 0 ? h.padEnd(9) : h.padStart(i < 5 ? 16 : 9))).join(""));
    for (const row of rows) {
      const { ours: a, bare: b, perRendition: c, perRenditionParallel: cp } = row.segmentsPerSecond;
      const cells = [a, b, c, cp].map((v) => v.toFixed(3));
      cells.push(
        row.aOverB.toFixed(3),
        row.cOverA.toFixed(2) + "x",
        row.cParallelOverA.toFixed(2) + "x",
        row.realtimeFactor.toFixed(2) + "x",
      );
      console.log(row.source.padEnd(9) + cells.map((cell, i) => cell.padStart(i < 4 ? 16 : 9)).join(""));
    }
    const worstAB = Math.min(...rows.map((r) => r.aOverB));
    const worstCA = Math.min(...rows.map((r) => r.cOverA));
    console.log(
      `\na/b (ours vs bare ffmpeg) target >= ${TARGET_A_OVER_B}: ${worstAB >= TARGET_A_OVER_B ? "met" : "NOT met"} (worst ${worstAB.toFixed(3)})`,
    );
    console.log(
      `c/a (per-rendition ffmpeg vs ours) target >= ${TARGET_C_OVER_A}: ${worstCA >= TARGET_C_OVER_A ? "met" : "NOT met"} (worst ${worstCA.toFixed(2)}x)`,
    );

    const file = path.join(__dirname, "results", "transcode.json");
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const result = {
      measuredAt: new Date().toISOString(),
      machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version },
      ffmpeg: { version: tools.ffmpeg.version, source: tools.ffmpeg.source },
      ladder: ladder.map((r) => r.name),
      preset: settings.preset,
      segmentSeconds: SEGMENT_SECONDS,
      segmentsPerWay: SEGMENTS,
      target: { aOverB: TARGET_A_OVER_B, cOverA: TARGET_C_OVER_A },
      rows,
    };
    fs.writeFileSync(file, JSON.stringify(result, null, 2) + "\n");
    console.log(`wrote ${path.relative(process.cwd(), file)}`);
  } finally {
    daemon.kill("SIGTERM");
    await new Promise((resolve) => (daemon.exitCode !== null ? resolve(null) : daemon.once("exit", resolve)));
    await hub.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
