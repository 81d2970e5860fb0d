/** ffprobe of a source segment: what the pipeline needs to refuse bad input and fit the ladder. */
import type { MediaTools } from "./binaries";
import { MediaError } from "./errors";
import { inspectTransportStream } from "./mpegts";
import { logTail, runProcess } from "./run";

export interface SourceInfo {
  /** ffprobe's format name ("mpegts"). */
  format: string;
  durationMs: number;
  video: {
    codec: string;
    width: number;
    height: number;
    /** Frames per second from the stream's average (or nominal) rate; 0 if unknown. */
    fps: number;
    /** Video packets in the segment (one per frame). */
    frames: number;
    pixelFormat: string;
    /** Sample aspect ratio as a number (1 for square pixels). */
    sampleAspect: number;
    startTimeMs: number;
  };
  audio?: {
    codec: string;
    /** ffprobe's profile ("LC", "HE-AAC"), if any. */
    profile?: string;
    sampleRate: number;
    channels: number;
  };
}

export interface ProbeLimits {
  maxWidth: number;
  maxHeight: number;
  /** Per frame; the default is H.264 level 5.1's frame-size limit (36,864 macroblocks, 4096x2304). */
  maxPixels: number;
  maxFps: number;
}

export const DEFAULT_PROBE_LIMITS: ProbeLimits = {
  maxWidth: 4096,
  maxHeight: 4096,
  maxPixels: 36_864 * 256,
  maxFps: 120,
};
export const DEFAULT_PROBE_TIMEOUT_MS = 10_000;

/** "30000/1001" → 29.97; "0/0" → 0. */
export function parseRate(rate: string | undefined): number {
  if (!rate) return 0;
  const [numerator, denominator = "1"] = rate.split("/");
  const num = Number(numerator);
  const den = Number(denominator);
  if (!Number.isFinite(num) || !Number.isFinite(den) || den === 0) return 0;
  return num / den;
}

interface ProbeStream {
  codec_type?: string;
  codec_name?: string;
  profile?: string;
  width?: number;
  height?: number;
  pix_fmt?: string;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  sample_aspect_ratio?: string;
  start_time?: string;
  nb_read_packets?: string;
  sample_rate?: string;
  channels?: number;
}

/** Refuses frame sizes and rates beyond the limits, before anything decodes a frame (a defence against bombs). */
export function checkLimits(width: number, height: number, fps: number, limits: ProbeLimits): void {
  if (width > limits.maxWidth || height > limits.maxHeight || width * height > limits.maxPixels) {
    throw new MediaError(
      "SEGMENT_DIMENSIONS",
      `The video is ${width}x${height}; this transcoder accepts at most ${limits.maxWidth}x${limits.maxHeight} and ${limits.maxPixels} pixels per frame.`,
    );
  }
  if (fps > limits.maxFps) {
    throw new MediaError("SEGMENT_DIMENSIONS", `The video runs at ${fps} fps; the limit is ${limits.maxFps}.`);
  }
}

/**
 * SourceInfo read straight from the transport stream, without ffprobe: for H.264 with an SPS that gives the size and
 * a frame rate (from the VUI, else from the PTS span). Undefined when that is not enough; the caller then probes.
 */
export function sourceInfoFromTransportStream(
  bytes: Uint8Array,
  limits: ProbeLimits = DEFAULT_PROBE_LIMITS,
): SourceInfo | undefined {
  let video;
  try {
    video = inspectTransportStream(bytes);
  } catch (error) {
    if (error instanceof MediaError && error.code === "SEGMENT_NO_VIDEO") return undefined; // ffprobe knows more types
    throw error;
  }
  if (video.codec !== "h264" || !video.sps || video.frames === 0) return undefined;
  const { width, height } = video.sps;
  // The measured rate (frames over the PTS span) first; the VUI's fixed rate only for a one-frame segment.
  const span = video.minPts !== undefined && video.maxPts !== undefined ? video.maxPts - video.minPts : 0;
  let fps = video.frames > 1 && span > 0 ? Math.round(((video.frames - 1) * 90_000 * 1000) / span) / 1000 : 0;
  if (!(fps > 0)) fps = video.sps.fps ?? 0;
  if (!(fps > 0)) return undefined;
  checkLimits(width, height, fps, limits);
  return {
    format: "mpegts",
    durationMs: Math.round((video.frames / fps) * 1000),
    video: {
      codec: "h264",
      width,
      height,
      fps,
      frames: video.frames,
      pixelFormat: "unknown",
      sampleAspect: video.sps.sampleAspect ?? 1,
      startTimeMs: video.minPts === undefined ? 0 : Math.round(video.minPts / 90),
    },
    audio: video.audio && { codec: video.audio.codec, sampleRate: 0, channels: 0 },
  };
}

/** Turns ffprobe's JSON into SourceInfo, refusing what the pipeline must not decode. Exported for tests. */
export function sourceInfoFromProbe(json: string, limits: ProbeLimits = DEFAULT_PROBE_LIMITS): SourceInfo {
  let parsed: { streams?: ProbeStream[]; format?: { format_name?: string; duration?: string } };
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new MediaError("SEGMENT_UNREADABLE", "ffprobe gave no readable description of the segment.");
  }
  const streams = parsed.streams ?? [];
  const video = streams.find((s) => s.codec_type === "video" && s.codec_name);
  if (!video) throw new MediaError("SEGMENT_NO_VIDEO", "The segment has no decodable video stream.");
  const width = video.width ?? 0;
  const height = video.height ?? 0;
  if (width <= 0 || height <= 0) {
    throw new MediaError("SEGMENT_UNREADABLE", `The video stream (${video.codec_name}) has no frame size.`);
  }
  const fps = parseRate(video.avg_frame_rate) || parseRate(video.r_frame_rate);
  checkLimits(width, height, fps, limits);
  const audio = streams.find((s) => s.codec_type === "audio" && s.codec_name);
  const sar = parseRate(video.sample_aspect_ratio?.replace(":", "/"));
  const frames = Number(video.nb_read_packets ?? 0);
  // Read from a pipe, MPEG-TS has no container duration: the frame count at the stream's rate is exact for CFR.
  const containerMs = Math.round(Number(parsed.format?.duration ?? 0) * 1000);
  const durationMs = containerMs > 0 ? containerMs : fps > 0 ? Math.round((frames / fps) * 1000) : 0;
  return {
    format: parsed.format?.format_name ?? "unknown",
    durationMs,
    video: {
      codec: video.codec_name!,
      width,
      height,
      fps,
      frames,
      pixelFormat: video.pix_fmt ?? "unknown",
      sampleAspect: sar > 0 ? sar : 1,
      startTimeMs: Math.round(Number(video.start_time ?? 0) * 1000),
    },
    audio: audio && {
      codec: audio.codec_name!,
      profile: audio.profile,
      sampleRate: Number(audio.sample_rate ?? 0),
      channels: audio.channels ?? 0,
    },
  };
}

/** Probes an MPEG-TS segment held in memory (fed on stdin: nothing is written to disk). */
export async function probeSegment(
  tools: MediaTools,
  segment: Uint8Array,
  options: { limits?: ProbeLimits; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<SourceInfo> {
  const result = await runProcess(tools.ffprobe.path, {
    args: [
      "-v",
      "error",
      "-count_packets",
      "-show_streams",
      "-show_format",
      "-of",
      "json",
      "-f",
      "mpegts",
      "-i",
      "pipe:0",
    ],
    input: segment,
    timeoutMs: options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS,
    env: tools.probeEnv,
    signal: options.signal,
    maxOutputBytes: 4 * 1024 * 1024,
  });
  if (result.timedOut)
    throw new MediaError(
      "PROBE_TIMEOUT",
      `ffprobe took longer than ${options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS} ms and was stopped.`,
    );
  if (result.aborted) throw new MediaError("TRANSCODE_CANCELLED", "Probing was cancelled.");
  if (result.code !== 0) {
    throw new MediaError(
      "SEGMENT_UNREADABLE",
      `ffprobe could not read the segment: ${logTail(result.stderrTail) || `exit ${result.code ?? result.signal}`}`,
    );
  }
  return sourceInfoFromProbe(result.stdout.toString("utf8"), options.limits);
}
