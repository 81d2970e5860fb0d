/**
 * Is an orchestrator's rendition of a source segment a fault? The check a verifier makes in a dispute and the
 * broadcaster makes on its `--verify-rate` sample: the received bytes against the ladder fitted to the source
 * (decodes, size, frames, duration), and against the checker's own encode of the same source with the same ladder
 * (SSIM and PSNR; the exact bytes for deterministic renditions). Measuring (compareSegment: ffmpeg) is kept apart
 * from judging (judgeComparison: pure), so thresholds are tested and tuned on reports. Method and measured figures:
 * docs/media.md, "Comparing renditions".
 */
import { keccak256 } from "../pm/crypto";
import type { MediaTools } from "./binaries";
import { MediaError } from "./errors";
import type { FittedRendition, Rendition } from "./ladder";
import type { SourceInfo } from "./probe";
import { logTail, runProcess } from "./run";
import { type RenditionOutput, type TranscodeResult, describeOutput, transcodeSegment } from "./transcode";

/** Frames a rendition at `fps` should have for a source segment of `frames` at `sourceFps` (fps filter rounding). */
export function expectedFrames(frames: number, sourceFps: number, fps: number): number {
  if (fps >= sourceFps - 0.01) return frames;
  return Math.round((frames * fps) / sourceFps);
}

/**
 * How far a rendition's duration may be from the source's: two frames or 100 ms, whichever is more (millisecond
 * rounding of both figures, timestamp jitter). The broadcaster's check and the verifiers' use this one rule, so a
 * result the broadcaster published is never a fault on duration alone.
 */
export function durationToleranceMs(fps: number): number {
  return Math.max(100, 2000 / fps);
}

/** The received rendition against the own encode, frame for frame. */
export interface QualityMeasure {
  /** SSIM "All" (Y, U and V weighted by their sizes), averaged over frames: 1 is identical. */
  ssim: number;
  /** The worst frame's SSIM All. */
  minFrameSsim: number;
  /** PSNR over all planes (weighted by size) of the mean squared error over all frames, dB; Infinity if identical. */
  psnrDb: number;
  /** The worst frame's PSNR, dB. */
  minFramePsnrDb: number;
  /** Frames compared. */
  frames: number;
}

export interface RenditionComparison {
  name: string;
  deterministic: boolean;
  /** What the ladder fitted to the source asks for. */
  expected: { width: number; height: number; fps: number; frames: number; durationMs: number };
  /** What the received bytes hold; undefined when they are not a readable H.264 transport stream. */
  measured?: { width: number; height: number; frames: number; durationMs: number };
  /** keccak256 of the received bytes and of the own encode's, 0x-hex. */
  hash: string;
  referenceHash: string;
  /** Deterministic renditions only: whether the bytes are exactly the own encode's. */
  hashMatches?: boolean;
  decodes: boolean;
  /** Why it does not decode (decoder messages, or why the bytes are unreadable). */
  decodeError?: string;
  /** Set when the size matches and it decodes. */
  quality?: QualityMeasure;
  /** Why quality could not be measured although the rendition decodes with the right size. */
  qualityError?: string;
}

export interface SegmentComparison {
  source: SourceInfo;
  /** How many renditions were received (the ladder's length when complete). */
  received: number;
  /** One per rendition of the ladder, in ladder order (a missing one compares as zero bytes). */
  renditions: RenditionComparison[];
}

export interface CompareOptions {
  /** The own encode of the source with the same ladder (transcodeSegment's result), to share it between checks. */
  reference?: TranscodeResult;
  /** Per ffmpeg process (decode check, comparison); default 60 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const DEFAULT_TIMEOUT_MS = 60_000;

const hexHash = (data: Uint8Array) => "0x" + keccak256(data).toString("hex");

function cancelled(): never {
  throw new MediaError("TRANSCODE_CANCELLED", "The comparison was cancelled.");
}

/**
 * Decodes the video with `-xerror` as broadcaster/verify.ts does (the two must agree on what decodes); any decoder
 * message is a failure. Returns the problem, or undefined when it decodes cleanly.
 */
export async function decodeProblem(
  tools: MediaTools,
  data: Uint8Array,
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<string | undefined> {
  const args = ["-hide_banner", "-nostdin", "-v", "error", "-xerror", "-f", "mpegts", "-i", "pipe:0"];
  const result = await runProcess(tools.ffmpeg.path, {
    args: [...args, "-map", "0:v:0", "-f", "null", "-"],
    input: data,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    signal: options.signal,
  });
  if (result.aborted) cancelled();
  if (result.timedOut) return `decoding took longer than ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`;
  if (result.code !== 0 || result.stderrTail.trim() !== "") return logTail(result.stderrTail) || `exit ${result.code}`;
  return undefined;
}

/** The `stats_file` lines of the ssim and psnr filters → QualityMeasure. Exported for tests. */
export function parseQualityStats(stats: string): QualityMeasure {
  const ssims: number[] = [];
  const mses: number[] = [];
  for (const line of stats.split("\n")) {
    const ssim = /^n:\d+ Y:\S+ U:\S+ V:\S+ All:(-?[\d.]+)/.exec(line);
    if (ssim) ssims.push(Number(ssim[1]));
    const psnr = /^n:\d+ mse_avg:([\d.]+)/.exec(line);
    if (psnr) mses.push(Number(psnr[1]));
  }
  if (ssims.length === 0 || ssims.length !== mses.length) {
    throw new MediaError("TRANSCODE_FAILED", `ssim/psnr gave ${ssims.length}/${mses.length} frames`);
  }
  // 8-bit planes: the peak is 255. The mean MSE first, then dB, as the psnr filter's own summary does.
  const psnr = (mse: number) => (mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse));
  return {
    ssim: ssims.reduce((a, b) => a + b, 0) / ssims.length,
    minFrameSsim: Math.min(...ssims),
    psnrDb: psnr(mses.reduce((a, b) => a + b, 0) / mses.length),
    minFramePsnrDb: psnr(Math.max(...mses)),
    frames: ssims.length,
  };
}

/**
 * SSIM and PSNR of `received` against `reference`, both H.264 transport streams of the same size, in one ffmpeg
 * process: `received` on stdin, `reference` on fd 3, per-frame figures back on stdout. Both encodes copy the source's
 * timestamps; each is moved to start at zero so the filters, which pair frames by timestamp, compare frame n with
 * frame n even if one stream's clock is offset.
 */
export async function measureQuality(
  tools: MediaTools,
  received: Uint8Array,
  reference: Uint8Array,
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<QualityMeasure> {
  const prepare = "setpts=PTS-STARTPTS,format=yuv420p,split";
  const graph = [
    `[0:v:0]${prepare}[r0][r1]`,
    `[1:v:0]${prepare}[o0][o1]`,
    `[r0][o0]ssim=stats_file=-[s]`,
    `[r1][o1]psnr=stats_file=-[p]`,
  ].join(";");
  const inputs = ["-f", "mpegts", "-i", "pipe:0", "-f", "mpegts", "-i", "pipe:3"];
  const outputs = ["-map", "[s]", "-map", "[p]", "-f", "null", "-"];
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const result = await runProcess(tools.ffmpeg.path, {
    args: ["-hide_banner", "-nostdin", "-v", "error", ...inputs, "-filter_complex", graph, ...outputs],
    input: received,
    inputPipes: [reference],
    timeoutMs,
    signal: options.signal,
    maxOutputBytes: 16 * 1024 * 1024,
  });
  if (result.aborted) cancelled();
  if (result.timedOut) throw new MediaError("TRANSCODE_TIMEOUT", `The comparison took longer than ${timeoutMs} ms.`);
  if (result.code !== 0) {
    throw new MediaError(
      "TRANSCODE_FAILED",
      `ffmpeg could not compare: ${logTail(result.stderrTail) || `exit ${result.code}`}`,
    );
  }
  return parseQualityStats(result.stdout.toString("utf8"));
}

/** One received rendition against the fitted rendition, the source, and the own encode of it. */
export async function compareRendition(
  tools: MediaTools,
  source: SourceInfo,
  fitted: FittedRendition,
  received: Buffer,
  reference: RenditionOutput,
  options: CompareOptions = {},
): Promise<RenditionComparison> {
  const report: RenditionComparison = {
    name: fitted.rendition.name,
    deterministic: fitted.rendition.deterministic,
    expected: {
      width: fitted.width,
      height: fitted.height,
      fps: fitted.fps,
      frames: expectedFrames(source.video.frames, source.video.fps, fitted.fps),
      durationMs: source.durationMs,
    },
    hash: hexHash(received),
    referenceHash: reference.hash,
    decodes: false,
  };
  if (report.deterministic) report.hashMatches = report.hash === report.referenceHash;
  try {
    const { width, height, frames, durationMs } = describeOutput(report.name, received, fitted.fps);
    report.measured = { width, height, frames, durationMs };
  } catch (error) {
    report.decodeError = `not a readable H.264 transport stream: ${(error as Error).message}`;
    return report;
  }
  report.decodeError = await decodeProblem(tools, received, options);
  report.decodes = report.decodeError === undefined;
  if (!report.decodes || report.measured.width !== reference.width || report.measured.height !== reference.height) {
    return report; // a failure already; and the filters need two pictures of one size
  }
  if (report.hash === report.referenceHash) {
    const frames = report.measured.frames;
    report.quality = { ssim: 1, minFrameSsim: 1, psnrDb: Infinity, minFramePsnrDb: Infinity, frames };
    return report; // the same bytes: nothing to measure
  }
  try {
    report.quality = await measureQuality(tools, received, reference.data, options);
  } catch (error) {
    // A timeout or a cancel says nothing about the rendition: the caller retries or abstains, it does not judge.
    if (error instanceof MediaError && error.code !== "TRANSCODE_FAILED") throw error;
    report.qualityError = (error as Error).message;
  }
  return report;
}

/**
 * Every received rendition of one source segment (ladder order) against the ladder and the own encode, which is made
 * here unless `options.reference` has it. The renditions are checked in parallel.
 */
export async function compareSegment(
  tools: MediaTools,
  source: Uint8Array,
  ladder: readonly Rendition[],
  received: readonly Buffer[],
  options: CompareOptions = {},
): Promise<SegmentComparison> {
  const reference = options.reference ?? (await transcodeSegment(tools, source, ladder, { signal: options.signal }));
  const names = reference.fitted.map((f) => f.rendition.name);
  if (names.join(",") !== ladder.map((r) => r.name).join(",")) {
    throw new Error(`the own encode is of ladder ${names.join(",")}, not ${ladder.map((r) => r.name).join(",")}`);
  }
  const renditions = await Promise.all(
    reference.fitted.map((fitted, i) =>
      compareRendition(
        tools,
        reference.source,
        fitted,
        received[i] ?? Buffer.alloc(0),
        reference.renditions[i],
        options,
      ),
    ),
  );
  return { source: reference.source, received: received.length, renditions };
}

export interface FaultThresholds {
  /** Mean SSIM (All) against the own encode below this is a fault. */
  ssim: number;
  /** PSNR (all planes, over the segment) against the own encode below this, in dB, is a fault. */
  psnrDb: number;
  /** A deterministic rendition whose bytes differ from the own encode's is a fault. */
  exactHash: boolean;
  /** A rendition that decodes, with the right size, but that ffmpeg could not compare is a fault. */
  unmeasurable: boolean;
}

// Measured with `npm run bench:compare` (docs/media.md has the table): 2 s 720p30 sources from easy (test card) to
// hard (noise-like motion), ladder 480p/360p/240p, against the own x264 veryfast encode. Honest encodes (same
// settings, ultrafast, medium, -30 % bitrate, both at once, bilinear or lanczos scaling) at worst: SSIM 0.45, PSNR
// 15.1 dB (both on noise-like content, ultrafast at -30 %; on the test card ultrafast scores 0.95 / 24 dB). Wrong
// pictures (negated, black, another picture): each one below SSIM 0.29 or PSNR 11.5 dB. Subtler cheats (blur, a
// tenth of the bitrate, frames shifted by 1-3, a gray picture) overlap honest encodes of hard content on both
// measures, so no threshold catches them without also faulting an honest encoder somewhere.
export const FAULT_SSIM = 0.35;
export const FAULT_PSNR_DB = 13;

export const FAULT_THRESHOLDS: Readonly<FaultThresholds> = {
  ssim: FAULT_SSIM,
  psnrDb: FAULT_PSNR_DB,
  exactHash: true,
  unmeasurable: true,
};

/**
 * What a broadcaster needs before it spends a dispute bond: far below anything an honest encoder gave (SSIM 0.25 and
 * PSNR 5 dB, a 3× larger error, under the worst honest case), whatever its preset, machine or GPU. A deterministic
 * hash mismatch alone is not enough: another ffmpeg/x264 build writes other bytes (x264 puts its version in the
 * stream), and the broadcaster cannot know the committee's builds. Nor is a rendition its own ffmpeg could not
 * compare.
 */
export const CLEAR_FAULT_SSIM = 0.2;
export const CLEAR_FAULT_PSNR_DB = 10;

export const CLEAR_FAULT_THRESHOLDS: Readonly<FaultThresholds> = {
  ssim: CLEAR_FAULT_SSIM,
  psnrDb: CLEAR_FAULT_PSNR_DB,
  exactHash: false,
  unmeasurable: false,
};

export interface Judgement {
  verdict: "fault" | "ok";
  reasons: string[];
}

function renditionFaults(r: RenditionComparison, t: FaultThresholds): string[] {
  const at = `rendition ${r.name}`;
  if (!r.measured || !r.decodes) return [`${at} does not decode: ${r.decodeError ?? "unknown"}`];
  const reasons: string[] = [];
  const { expected, measured } = r;
  if (measured.width !== expected.width || measured.height !== expected.height) {
    reasons.push(`${at} is ${measured.width}x${measured.height}, not ${expected.width}x${expected.height}`);
  }
  if (Math.abs(measured.frames - expected.frames) > 1) {
    reasons.push(`${at} has ${measured.frames} frames, not ${expected.frames}`);
  }
  const tolerance = durationToleranceMs(expected.fps);
  if (Math.abs(measured.durationMs - expected.durationMs) > tolerance) {
    reasons.push(`${at} lasts ${measured.durationMs} ms, not ${expected.durationMs} ms (±${Math.round(tolerance)})`);
  }
  if (t.exactHash && r.hashMatches === false) {
    reasons.push(`${at} is deterministic but its bytes differ from the own encode's`);
  }
  if (reasons.length > 0) return reasons;
  const q = r.quality;
  if (!q) return t.unmeasurable ? [`${at}: quality could not be measured: ${r.qualityError ?? "unknown"}`] : [];
  if (q.ssim < t.ssim) reasons.push(`${at} SSIM ${q.ssim.toFixed(4)} < ${t.ssim}`);
  if (q.psnrDb < t.psnrDb) reasons.push(`${at} PSNR ${q.psnrDb.toFixed(2)} dB < ${t.psnrDb} dB`);
  return reasons;
}

/** The verdict on a comparison (one rendition or a whole segment): pure, so it can be re-run on a stored report. */
export function judgeComparison(
  report: SegmentComparison | RenditionComparison,
  thresholds: FaultThresholds = FAULT_THRESHOLDS,
): Judgement {
  const reasons: string[] = [];
  if ("renditions" in report) {
    if (report.received !== report.renditions.length) {
      reasons.push(`${report.received} renditions for a ladder of ${report.renditions.length}`);
    }
    for (const r of report.renditions) reasons.push(...renditionFaults(r, thresholds));
  } else {
    reasons.push(...renditionFaults(report, thresholds));
  }
  return { verdict: reasons.length > 0 ? "fault" : "ok", reasons };
}

/** Whether a broadcaster should dispute: a fault even under CLEAR_FAULT_THRESHOLDS. */
export function isClearFault(report: SegmentComparison | RenditionComparison): boolean {
  return judgeComparison(report, CLEAR_FAULT_THRESHOLDS).verdict === "fault";
}
