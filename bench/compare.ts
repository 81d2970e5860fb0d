// `npm run bench:compare`: where the dispute thresholds of offchain/media/compare.ts come from. For generated 2 s
// 720p30 sources (several patterns) and the ladder 480p30/360p30/240p30, each rendition is compared (SSIM, PSNR)
// with the verifier's own encode (x264 veryfast, the default) of:
//   honest: the same settings again, x264 ultrafast and medium, -30 % bitrate (also with ultrafast), another
//           scaler (bilinear, lanczos: a GPU or another ffmpeg scales differently);
//   cheats: a negated or blurred picture (the transcoder's fault injection), a black or gray picture, another picture,
//           the picture shifted by 1 or 3 frames, a tenth of the bitrate.
// Prints, per variant, the range over sources and renditions and how many were judged faults (and clear faults);
// writes bench/results/compare.json.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { type MediaTools, mediaTools } from "../offchain/media/binaries";
import {
  CLEAR_FAULT_THRESHOLDS,
  FAULT_THRESHOLDS,
  type QualityMeasure,
  compareSegment,
  judgeComparison,
} from "../offchain/media/compare";
import { type Rendition, ladderFromPresets } from "../offchain/media/ladder";
import { runProcess } from "../offchain/media/run";
import { type TestSegmentOptions, generateTestSegment } from "../offchain/media/testsrc";
import {
  DEFAULT_X264_PRESET,
  type EncodeSettings,
  type TranscodeResult,
  buildTranscodeArgs,
  transcodeSegment,
} from "../offchain/media/transcode";

const LADDER = "480p30,360p30,240p30";
const SIZE = { width: 1280, height: 720, fps: 30, durationSec: 2, startSec: 10 };
// From easy to hard for an encoder: a test card, a fractal zoom, and two kinds of fine noise-like motion.
const PATTERNS = [
  "testsrc2",
  "mandelbrot",
  "life=mold=10:ratio=0.3:life_color=#00ff00:death_color=#aa2020",
  "cellauto=rule=110",
];

type Kind = "honest" | "cheat";

interface Variant {
  name: string;
  kind: Kind;
  /** The rendition bytes this variant delivers for a source made with `pattern`. */
  encode(tools: MediaTools, pattern: string, source: Buffer, reference: TranscodeResult): Promise<Buffer[]>;
}

const ladder = ladderFromPresets(LADDER);
const scaled = (factor: number): Rendition[] => ladder.map((r) => ({ ...r, bitrate: Math.round(r.bitrate * factor) }));

async function segment(pattern: string, extra: Partial<TestSegmentOptions> = {}): Promise<Buffer> {
  return generateTestSegment(await mediaTools(), { ...SIZE, ...extra, pattern });
}

async function renditions(
  tools: MediaTools,
  source: Buffer,
  rungs: Rendition[],
  settings: Partial<EncodeSettings> = {},
): Promise<Buffer[]> {
  return (await transcodeSegment(tools, source, rungs, { settings })).renditions.map((r) => r.data);
}

/** The pipeline's own arguments with another scaler: what a GPU or another ffmpeg build does differently. */
async function withScaler(tools: MediaTools, source: Buffer, reference: TranscodeResult, flags: string) {
  const outputs = reference.fitted.map((_, i) => `pipe:${3 + i}`);
  const args = buildTranscodeArgs(reference.source, reference.fitted, { preset: DEFAULT_X264_PRESET }, outputs).map(
    (arg) => arg.replaceAll("flags=bicubic", `flags=${flags}`),
  );
  const result = await runProcess(tools.ffmpeg.path, {
    args,
    input: source,
    outputPipes: outputs.length,
    timeoutMs: 120_000,
  });
  if (result.code !== 0) throw new Error(`ffmpeg failed: ${result.stderrTail}`);
  return result.outputs;
}

const VARIANTS: Variant[] = [
  { name: "same settings", kind: "honest", encode: (t, _, s) => renditions(t, s, ladder) },
  { name: "x264 ultrafast", kind: "honest", encode: (t, _, s) => renditions(t, s, ladder, { preset: "ultrafast" }) },
  { name: "x264 medium", kind: "honest", encode: (t, _, s) => renditions(t, s, ladder, { preset: "medium" }) },
  { name: "-30 % bitrate", kind: "honest", encode: (t, _, s) => renditions(t, s, scaled(0.7)) },
  {
    name: "ultrafast, -30 % bitrate",
    kind: "honest",
    encode: (t, _, s) => renditions(t, s, scaled(0.7), { preset: "ultrafast" }),
  },
  { name: "bilinear scaler", kind: "honest", encode: (t, _, s, ref) => withScaler(t, s, ref, "bilinear") },
  { name: "lanczos scaler", kind: "honest", encode: (t, _, s, ref) => withScaler(t, s, ref, "lanczos") },
  { name: "negated", kind: "cheat", encode: (t, _, s) => renditions(t, s, ladder, { tamper: "negate" }) },
  { name: "blurred", kind: "cheat", encode: (t, _, s) => renditions(t, s, ladder, { tamper: "blur" }) },
  { name: "black", kind: "cheat", encode: async (t) => renditions(t, await segment("color=c=black"), ladder) },
  { name: "constant gray", kind: "cheat", encode: async (t) => renditions(t, await segment("color=c=gray"), ladder) },
  {
    name: "another picture",
    kind: "cheat",
    encode: async (t, p) => renditions(t, await segment(p === PATTERNS[0] ? PATTERNS[1] : PATTERNS[0]), ladder),
  },
  {
    name: "shifted 1 frame",
    kind: "cheat",
    encode: async (t, p) => renditions(t, await segment(p, { firstFrame: 1 }), ladder),
  },
  {
    name: "shifted 3 frames",
    kind: "cheat",
    encode: async (t, p) => renditions(t, await segment(p, { firstFrame: 3 }), ladder),
  },
  { name: "1/10 bitrate", kind: "cheat", encode: (t, _, s) => renditions(t, s, scaled(0.1)) },
];

interface Sample extends QualityMeasure {
  variant: string;
  kind: Kind;
  pattern: string;
  rendition: string;
  fault: boolean;
  clearFault: boolean;
}

const jsonNumber = (value: number) => (Number.isFinite(value) ? Math.round(value * 1e4) / 1e4 : "inf");

async function main(): Promise<void> {
  const tools = await mediaTools();
  const samples: Sample[] = [];
  for (const pattern of PATTERNS) {
    const source = await segment(pattern);
    const reference = await transcodeSegment(tools, source, ladder);
    for (const variant of VARIANTS) {
      const received = await variant.encode(tools, pattern, source, reference);
      const report = await compareSegment(tools, source, ladder, received, { reference });
      for (const r of report.renditions) {
        if (!r.quality) throw new Error(`${variant.name} ${r.name}: no quality (${r.decodeError ?? r.qualityError})`);
        samples.push({
          variant: variant.name,
          kind: variant.kind,
          pattern: pattern.split("=")[0],
          rendition: r.name,
          ...r.quality,
          fault: judgeComparison(r).verdict === "fault",
          clearFault: judgeComparison(r, CLEAR_FAULT_THRESHOLDS).verdict === "fault",
        });
      }
      process.stderr.write(".");
    }
  }
  process.stderr.write("\n");

  const range = (values: number[]) => {
    const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(v < 2 ? 4 : 2) : "inf");
    return `${fmt(Math.min(...values))}–${fmt(Math.max(...values))}`;
  };
  const rows = VARIANTS.map((variant) => {
    const of = samples.filter((s) => s.variant === variant.name);
    return {
      variant: variant.name,
      kind: variant.kind,
      ssim: range(of.map((s) => s.ssim)),
      minFrameSsim: range(of.map((s) => s.minFrameSsim)),
      psnrDb: range(of.map((s) => s.psnrDb)),
      minFramePsnrDb: range(of.map((s) => s.minFramePsnrDb)),
      faults: `${of.filter((s) => s.fault).length}/${of.length}`,
      clearFaults: `${of.filter((s) => s.clearFault).length}/${of.length}`,
    };
  });
  console.log("| variant | kind | SSIM | worst frame SSIM | PSNR dB | worst frame PSNR dB | fault | clear fault |");
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const r of rows) {
    console.log(
      `| ${r.variant} | ${r.kind} | ${r.ssim} | ${r.minFrameSsim} | ${r.psnrDb} | ${r.minFramePsnrDb} | ${r.faults} | ${r.clearFaults} |`,
    );
  }
  const worst = (kind: Kind, pick: (s: Sample) => number, best: boolean) => {
    const values = samples.filter((s) => s.kind === kind).map(pick);
    return best ? Math.max(...values) : Math.min(...values);
  };
  const bounds = {
    honestWorst: {
      ssim: worst("honest", (s) => s.ssim, false),
      minFrameSsim: worst("honest", (s) => s.minFrameSsim, false),
      psnrDb: worst("honest", (s) => s.psnrDb, false),
    },
    cheatBest: {
      ssim: worst("cheat", (s) => s.ssim, true),
      minFrameSsim: worst("cheat", (s) => s.minFrameSsim, true),
      psnrDb: worst("cheat", (s) => s.psnrDb, true),
    },
  };
  console.log(JSON.stringify(bounds));

  const file = path.join(__dirname, "results", "compare.json");
  const result = {
    measuredAt: new Date().toISOString(),
    machine: { cpu: os.cpus()[0]?.model.trim(), cores: os.cpus().length, node: process.version },
    ffmpeg: { version: tools.ffmpeg.version, source: tools.ffmpeg.source },
    source: SIZE,
    patterns: PATTERNS,
    ladder: LADDER.split(","),
    thresholds: { fault: FAULT_THRESHOLDS, clearFault: CLEAR_FAULT_THRESHOLDS },
    bounds,
    rows,
    samples,
  };
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(
    file,
    JSON.stringify(result, (_, value) => (typeof value === "number" ? jsonNumber(value) : value), 2) + "\n",
  );
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
