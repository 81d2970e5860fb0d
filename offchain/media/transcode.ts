/**
 * One segment in, every rendition out, with one ffmpeg process: the segment is decoded once, split, and each branch
 * scaled and encoded. Input comes on stdin and each rendition leaves on its own pipe (fd 3, 4, ...), so nothing
 * touches the disk. Timestamps are copied from the source, so the renditions of consecutive segments line up in HLS.
 */
import { keccak256 } from "../pm/crypto";
import type { MediaTools } from "./binaries";
import { MediaError } from "./errors";
import { avcCodecString } from "./h264";
import { type FittedRendition, type Rendition, fitLadder, validateLadder } from "./ladder";
import { checkTransportStream, inspectTransportStream, videoDurationMs } from "./mpegts";
import {
  DEFAULT_PROBE_LIMITS,
  type ProbeLimits,
  type SourceInfo,
  probeSegment,
  sourceInfoFromTransportStream,
} from "./probe";
import { logTail, runProcess } from "./run";

/** x264 settings every deterministic rendition uses, whatever the transcoder's own preset: honest runs must agree. */
export const DETERMINISTIC_X264_PRESET = "veryfast";
export const DEFAULT_X264_PRESET = "veryfast";
export const X264_PRESETS = [
  "ultrafast",
  "superfast",
  "veryfast",
  "faster",
  "fast",
  "medium",
  "slow",
  "slower",
  "veryslow",
];
export const DEFAULT_MAX_SEGMENT_BYTES = 64 * 1024 * 1024;

/** How one job uses an NVIDIA GPU: NVDEC decode + scale_cuda, and NVENC encode if the card has it. */
export interface HardwarePlan {
  gpu: number;
  decode: boolean;
  encode: boolean;
}

/**
 * Deliberate fault injection, for tests and the demo only: every rendition keeps its size, frames and duration and
 * decodes cleanly, but its picture is wrong, which only a quality comparison (compare.ts) can catch.
 */
export type Tamper = "negate" | "blur";
export const TAMPER_FILTERS: Readonly<Record<Tamper, string>> = { negate: "negate", blur: "gblur=sigma=8" };

export interface EncodeSettings {
  /** x264 preset for renditions that are not deterministic. */
  preset: string;
  /** Set when the job runs on a GPU (never for a ladder with a deterministic rendition). */
  hardware?: HardwarePlan;
  /** Fault injection for tests and the demo (see Tamper); never set by an honest transcoder. */
  tamper?: Tamper;
}

function sameRate(a: number, b: number): boolean {
  return Math.abs(a - b) < 0.01;
}

function rateStep(fromFps: number, toFps: number): string[] {
  return fromFps > 0 && toFps < fromFps && !sameRate(toFps, fromFps) ? [`fps=fps=${toFps}`] : [];
}

function scaleStep(fitted: FittedRendition, hardware?: HardwarePlan): string[] {
  if (hardware?.decode) return [`scale_cuda=w=${fitted.width}:h=${fitted.height}`];
  // Explicit bicubic and an explicit output format: the defaults have changed between ffmpeg releases.
  return [`scale=w=${fitted.width}:h=${fitted.height}:flags=bicubic`, "format=yuv420p"];
}

function downloadStep(hardware?: HardwarePlan): string[] {
  return hardware?.decode && !hardware.encode ? ["hwdownload", "format=nv12"] : [];
}

/**
 * The filter graph: the decoded source is scaled once to the largest rendition, and every rendition that fits inside
 * that one (size and frame rate) is scaled from it rather than from the source. Scaling runs on ffmpeg's one filter
 * thread, so shrinking 1080p four times would cost more than the decode; the cascade saves ~13% of a 1080p job.
 * Renditions that do not fit (a different aspect ratio, a higher rate) are scaled from the source. Output pad i is
 * `[v{i}]`; with `tamper`, each branch first goes through the fault-injection filter.
 */
export function buildFilterGraph(
  source: SourceInfo,
  fitted: readonly FittedRendition[],
  hardware?: HardwarePlan,
  tamper?: Tamper,
): string {
  if (tamper && hardware?.encode) throw new Error("fault injection needs the frames in CPU memory");
  const out = (i: number) => (tamper ? `[t${i}]` : `[v${i}]`);
  const area = (f: FittedRendition) => f.width * f.height;
  const base = fitted.reduce((best, f, i) => (area(f) > area(fitted[best]) ? i : best), 0);
  const top = fitted[base];
  const derived = fitted
    .map((_, i) => i)
    .filter(
      (i) => i !== base && fitted[i].width <= top.width && fitted[i].height <= top.height && fitted[i].fps <= top.fps,
    );
  const direct = fitted.map((_, i) => i).filter((i) => !derived.includes(i));
  const chains: string[] = [];
  const input = (i: number) => (direct.length === 1 ? "[0:v:0]" : `[s${i}]`);
  if (direct.length > 1) chains.push(`[0:v:0]split=${direct.length}${direct.map((i) => `[s${i}]`).join("")}`);
  for (const i of direct) {
    const steps = [...rateStep(source.video.fps, fitted[i].fps), ...scaleStep(fitted[i], hardware), "setsar=1"];
    if (i !== base || derived.length === 0) {
      chains.push(`${input(i)}${[...steps, ...downloadStep(hardware)].join(",")}${out(i)}`);
      continue;
    }
    const download = downloadStep(hardware);
    const own = download.length > 0 ? `[p${i}]` : out(i);
    chains.push(
      `${input(i)}${steps.join(",")},split=${derived.length + 1}${own}${derived.map((j) => `[d${j}]`).join("")}`,
    );
    if (download.length > 0) chains.push(`[p${i}]${download.join(",")}${out(i)}`);
  }
  for (const j of derived) {
    const steps = [
      ...rateStep(top.fps, fitted[j].fps),
      ...scaleStep(fitted[j], hardware),
      ...downloadStep(hardware),
      "setsar=1",
    ];
    chains.push(`[d${j}]${steps.join(",")}${out(j)}`);
  }
  if (tamper) fitted.forEach((_, i) => chains.push(`[t${i}]${TAMPER_FILTERS[tamper]}[v${i}]`));
  return chains.join(";");
}

/**
 * B-frames make a frame's decode time precede its presentation time by up to two frames; near timestamp zero that
 * would be negative and the muxer would shift the whole rendition off the source's timeline. The first segments of
 * a stream whose clock starts at zero are therefore encoded without B-frames.
 */
export const NO_B_FRAMES_BEFORE_MS = 1000;

function encoderArgs(fitted: FittedRendition, settings: EncodeSettings, source: SourceInfo): string[] {
  const r = fitted.rendition;
  const noReorder = source.video.startTimeMs < NO_B_FRAMES_BEFORE_MS ? ["-bf", "0"] : [];
  const rate = [`-b:v`, `${fitted.bitrate}`, "-maxrate", `${fitted.bitrate}`, "-bufsize", `${fitted.bitrate}`];
  const gop = ["-g", `${fitted.gopFrames}`, "-keyint_min", `${fitted.gopFrames}`];
  // The encoder's default time base is 1/fps, which rounds every timestamp to the frame grid; MPEG-TS's own 90 kHz
  // clock keeps the source's timestamps exactly, so the renditions stay aligned with the source and each other.
  const timeBase = ["-enc_time_base:v", "1:90000"];
  if (settings.hardware?.encode && !r.deterministic) {
    const hw = settings.hardware;
    return [
      "-c:v",
      "h264_nvenc",
      "-gpu",
      `${hw.gpu}`,
      "-preset",
      "fast",
      "-profile:v",
      r.profile,
      "-level",
      fitted.level.name,
      ...rate,
      ...gop,
      ...timeBase,
      "-forced-idr",
      "1",
      "-bf",
      "0",
    ];
  }
  return [
    "-c:v",
    "libx264",
    "-preset",
    r.deterministic ? DETERMINISTIC_X264_PRESET : settings.preset,
    "-profile:v",
    r.profile,
    "-level:v",
    fitted.level.name,
    ...rate,
    ...gop,
    "-sc_threshold",
    "0", // keyframes only on the GOP grid, the same in every rendition
    "-pix_fmt",
    "yuv420p",
    ...timeBase,
    ...noReorder,
    ...(r.deterministic ? ["-threads", "1"] : []),
  ];
}

/**
 * The ffmpeg arguments for one segment. `outputs[i]` is where rendition i goes ("pipe:3", a file, ...);
 * the input is read from `input` ("pipe:0" by default). Pure: the benchmark runs the same arguments bare.
 */
export function buildTranscodeArgs(
  source: SourceInfo,
  fitted: readonly FittedRendition[],
  settings: EncodeSettings,
  outputs: readonly string[],
  input = "pipe:0",
): string[] {
  if (outputs.length !== fitted.length) throw new Error("one output per rendition");
  const hw = settings.hardware;
  const args = ["-hide_banner", "-loglevel", "error", "-nostdin", "-copyts"];
  if (hw?.decode) {
    args.push("-hwaccel", "cuda", "-hwaccel_device", `${hw.gpu}`, "-hwaccel_output_format", "cuda");
  }
  args.push("-f", "mpegts", "-i", input);
  args.push("-filter_complex", buildFilterGraph(source, fitted, hw, settings.tamper));
  fitted.forEach((f, i) => {
    args.push("-map", `[v${i}]`);
    if (source.audio) args.push("-map", "0:a:0", "-c:a", "copy");
    args.push(...encoderArgs(f, settings, source), "-muxdelay", "0", "-f", "mpegts", outputs[i]);
  });
  return args;
}

export interface SegmentLimits extends ProbeLimits {
  maxBytes: number;
}

export const DEFAULT_SEGMENT_LIMITS: SegmentLimits = { ...DEFAULT_PROBE_LIMITS, maxBytes: DEFAULT_MAX_SEGMENT_BYTES };

export interface TranscodeOptions {
  settings?: Partial<EncodeSettings>;
  /** The whole segment (probe and transcode) must finish within this; default segmentTimeoutMs(duration). */
  timeoutMs?: number;
  limits?: Partial<SegmentLimits>;
  signal?: AbortSignal;
}

/** What a rendition is, measured from its bytes: the transcoder reports exactly this for each one. */
export interface RenditionMetadata {
  name: string;
  bytes: number;
  /** keccak256 of the bytes, 0x-hex. */
  hash: string;
  width: number;
  height: number;
  frames: number;
  /** width × height × frames: what the orchestrator charges for. */
  pixels: number;
  durationMs: number;
  /** RFC 6381 codec string read back from the output's SPS. */
  codec: string;
}

export interface RenditionOutput extends RenditionMetadata {
  data: Buffer;
}

export interface TranscodeResult {
  source: SourceInfo;
  fitted: FittedRendition[];
  renditions: RenditionOutput[];
  /** "cpu", or "gpu N (nvdec+nvenc)" / "gpu N (nvdec)". */
  device: string;
  timings: { probeMs: number; transcodeMs: number; totalMs: number };
}

/** Default per-segment limit: ten times the segment's duration, at least 20 s (a loaded machine must not fail). */
export function segmentTimeoutMs(durationMs: number): number {
  return Math.max(20_000, 10 * durationMs);
}

function describeDevice(hw?: HardwarePlan): string {
  if (!hw || (!hw.decode && !hw.encode)) return "cpu";
  return `gpu ${hw.gpu} (${[hw.decode && "nvdec", hw.encode && "nvenc"].filter(Boolean).join("+")})`;
}

function hexHash(data: Uint8Array): string {
  return "0x" + keccak256(data).toString("hex");
}

/** What the outputs actually are, read from their bytes (not what we asked for). */
export function describeOutput(name: string, data: Buffer, fps: number): RenditionOutput {
  const video = inspectTransportStream(data);
  if (video.frames === 0) throw new MediaError("TRANSCODE_NO_OUTPUT", `Rendition ${name} has no video frames.`);
  if (!video.sps) throw new MediaError("TRANSCODE_FAILED", `Rendition ${name} has no readable H.264 SPS.`);
  const { width, height } = video.sps;
  return {
    name,
    data,
    bytes: data.length,
    hash: hexHash(data),
    width,
    height,
    frames: video.frames,
    pixels: width * height * video.frames,
    durationMs: Math.round(videoDurationMs(video, fps)),
    codec: avcCodecString(video.sps),
  };
}

/**
 * The most bytes one rendition may write before ffmpeg is killed (a defence against decoder bombs): the larger of
 * 16 × the source and twice the biggest rendition's bitrate over the segment, plus 1 MiB of container slack.
 */
export function maxRenditionBytes(sourceBytes: number, fitted: readonly FittedRendition[], durationMs: number): number {
  const seconds = Math.max(1, durationMs / 1000);
  const byBitrate = Math.max(...fitted.map((f) => (2 * f.bitrate * seconds) / 8));
  return Math.ceil(Math.max(16 * sourceBytes, byBitrate)) + 1024 * 1024;
}

/** Transcodes one MPEG-TS segment into every rendition of the ladder. Throws MediaError, nothing else. */
export async function transcodeSegment(
  tools: MediaTools,
  segment: Uint8Array,
  ladder: readonly Rendition[],
  options: TranscodeOptions = {},
): Promise<TranscodeResult> {
  const started = performance.now();
  const limits = { ...DEFAULT_SEGMENT_LIMITS, ...options.limits };
  validateLadder([...ladder]);
  checkTransportStream(segment, limits.maxBytes);
  const budget = options.timeoutMs;
  // H.264 sources (nearly all) are described from their own bytes in microseconds; anything else costs an ffprobe.
  const source =
    sourceInfoFromTransportStream(segment, limits) ??
    (await probeSegment(tools, segment, { limits, timeoutMs: budget, signal: options.signal }));
  const probed = performance.now();
  const fitted = fitLadder(ladder, source.video);
  // Deterministic renditions must be reproducible by any verifier on any machine: the whole job stays on the CPU.
  // So does fault injection, whose filters want frames in CPU memory.
  const tamper = options.settings?.tamper;
  const cpuOnly = ladder.some((r) => r.deterministic) || tamper !== undefined;
  const hardware = cpuOnly ? undefined : options.settings?.hardware;
  const settings: EncodeSettings = { preset: options.settings?.preset ?? DEFAULT_X264_PRESET, hardware, tamper };
  const outputs = fitted.map((_, i) => `pipe:${3 + i}`);
  const timeoutMs = Math.max(1, (budget ?? segmentTimeoutMs(source.durationMs)) - (probed - started));
  const result = await runProcess(tools.ffmpeg.path, {
    args: buildTranscodeArgs(source, fitted, settings, outputs),
    input: segment,
    outputPipes: fitted.length,
    timeoutMs,
    signal: options.signal,
    maxOutputBytes: maxRenditionBytes(segment.length, fitted, source.durationMs),
  });
  if (result.timedOut) {
    throw new MediaError(
      "TRANSCODE_TIMEOUT",
      `Transcoding took longer than ${Math.round(timeoutMs)} ms and ffmpeg was stopped.`,
    );
  }
  if (result.aborted) throw new MediaError("TRANSCODE_CANCELLED", "Transcoding was cancelled.");
  if (result.overflowed)
    throw new MediaError("TRANSCODE_FAILED", "A rendition grew far beyond the source's size; ffmpeg was stopped.");
  if (result.code !== 0) {
    throw new MediaError(
      "TRANSCODE_FAILED",
      `ffmpeg failed (exit ${result.code ?? result.signal}): ${logTail(result.stderrTail) || "no log"}`,
    );
  }
  const transcoded = performance.now();
  const renditions = fitted.map((f, i) => describeOutput(f.rendition.name, result.outputs[i], f.fps));
  return {
    source,
    fitted,
    renditions,
    device: describeDevice(hardware),
    timings: { probeMs: probed - started, transcodeMs: transcoded - probed, totalMs: performance.now() - started },
  };
}
