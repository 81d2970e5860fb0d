/**
 * Generated test media (lavfi sources, made on the spot): what tests, benchmarks and the demo feed the pipeline,
 * so no binary fixtures are checked in. The output looks like a live encoder's segment: H.264 with a keyframe at
 * the start, optional AAC, and timestamps starting at `startSec`.
 */
import type { MediaTools } from "./binaries";
import { MediaError } from "./errors";
import { logTail, runProcess } from "./run";

export interface TestSegmentOptions {
  width: number;
  height: number;
  fps?: number;
  durationSec?: number;
  /** A sine tone as AAC alongside the video (default true). */
  audio?: boolean;
  /** Presentation time of the first frame, in seconds (consecutive segments: seq × duration). */
  startSec?: number;
  /** Keyframe interval in frames (default: one GOP per segment). */
  gopFrames?: number;
  /** The x264 preset for the source itself (default ultrafast: test sources should be cheap to make). */
  preset?: string;
  /** The lavfi video source, to which the size and rate are added: testsrc2 (default), mandelbrot, color=c=black... */
  pattern?: string;
  /** Skip this many frames of the pattern: the same timestamps with the picture shifted in time (default 0). */
  firstFrame?: number;
  timeoutMs?: number;
}

/** A synthetic MPEG-TS segment (testsrc2 pattern by default, moving, so the encoder has real work to do). */
export async function generateTestSegment(tools: MediaTools, options: TestSegmentOptions): Promise<Buffer> {
  const fps = options.fps ?? 30;
  const duration = options.durationSec ?? 2;
  const gop = options.gopFrames ?? Math.round(fps * duration);
  const pattern = options.pattern ?? "testsrc2";
  const shift = options.firstFrame ? `,trim=start_frame=${options.firstFrame},setpts=PTS-STARTPTS` : "";
  const args = [
    "-hide_banner",
    "-loglevel",
    "error",
    "-f",
    "lavfi",
    "-i",
    `${pattern}${pattern.includes("=") ? ":" : "="}s=${options.width}x${options.height}:r=${fps}${shift}`,
  ];
  if (options.audio ?? true) args.push("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000");
  args.push("-t", `${duration}`, "-c:v", "libx264", "-preset", options.preset ?? "ultrafast", "-pix_fmt", "yuv420p");
  args.push("-g", `${gop}`, "-keyint_min", `${gop}`, "-sc_threshold", "0");
  if (options.audio ?? true) args.push("-c:a", "aac", "-b:a", "96k");
  args.push("-output_ts_offset", `${options.startSec ?? 0}`, "-muxdelay", "0", "-f", "mpegts", "pipe:1");
  const result = await runProcess(tools.ffmpeg.path, { args, timeoutMs: options.timeoutMs ?? 120_000 });
  if (result.code !== 0)
    throw new MediaError("TRANSCODE_FAILED", `Could not generate a test segment: ${logTail(result.stderrTail)}`);
  return result.stdout;
}

export interface LivePushOptions {
  url: string;
  durationSec: number;
  width?: number;
  height?: number;
  /** Video bitrate, e.g. "2500k". */
  bitrate?: string;
}

/**
 * ffmpeg arguments for a live test stream pushed like a camera's encoder would: a moving pattern and a tone, encoded
 * in real time (-re), a keyframe every 2 s exactly (the broadcaster cuts segments on keyframes), sent as FLV to an
 * RTMP URL. The demo and the end-to-end tests push with these.
 */
export function livePushArgs(options: LivePushOptions): string[] {
  const size = `${options.width ?? 1280}x${options.height ?? 720}`;
  return [
    ["-hide_banner", "-nostats", "-nostdin", "-loglevel", "error"],
    ["-re", "-f", "lavfi", "-i", `testsrc2=size=${size}:rate=30`],
    ["-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"],
    ["-t", String(options.durationSec)],
    ["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-pix_fmt", "yuv420p"],
    ["-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-b:v", options.bitrate ?? "2500k"],
    ["-c:a", "aac", "-b:a", "128k", "-f", "flv", options.url],
  ].flat();
}
