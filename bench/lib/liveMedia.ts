/**
 * Media for live benchmarks: a long source file made up front, publishing it in real time, and the transcoder's own
 * ffmpeg work on it, bare (buildTranscodeArgs), with its progress read back.
 */
import type { MediaTools } from "../../offchain/media/binaries";
import { type Rendition, fitLadder } from "../../offchain/media/ladder";
import type { SourceInfo } from "../../offchain/media/probe";
import { logTail, runProcess } from "../../offchain/media/run";
import { DEFAULT_X264_PRESET, buildTranscodeArgs } from "../../offchain/media/transcode";

export interface LiveSource {
  width: number;
  height: number;
  fps: number;
  bitrate: string;
  /** Timestamp of the first frame: a stream already running, as the broadcaster's segments are. */
  startSec: number;
  durationSec: number;
}

/**
 * The source as MPEG-TS: what livePushArgs encodes (testsrc2 and a tone, x264 veryfast zerolatency, a keyframe every
 * 2 s, AAC), without -re.
 */
export async function makeLiveSource(tools: MediaTools, source: LiveSource, file: string): Promise<void> {
  const result = await runProcess(tools.ffmpeg.path, {
    args: [
      ...["-hide_banner", "-loglevel", "error", "-nostdin", "-y"],
      ...["-f", "lavfi", "-i", `testsrc2=size=${source.width}x${source.height}:rate=${source.fps}`],
      ...["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", String(source.durationSec)],
      ...["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-pix_fmt", "yuv420p"],
      ...["-g", String(2 * source.fps), "-keyint_min", String(2 * source.fps), "-sc_threshold", "0"],
      ...["-b:v", source.bitrate, "-c:a", "aac", "-b:a", "128k"],
      ...["-output_ts_offset", String(source.startSec), "-muxdelay", "0", "-f", "mpegts", file],
    ],
    timeoutMs: 60_000 + source.durationSec * 2000,
  });
  if (result.code !== 0) throw new Error(`could not make the source: ${logTail(result.stderrTail)}`);
}

/** ffmpeg pushing the file to an RTMP URL in real time, stream copy: an encoder's output at almost no CPU. */
export function publishArgs(file: string, url: string): string[] {
  return [
    ...["-hide_banner", "-nostats", "-nostdin", "-loglevel", "error", "-re", "-i", file],
    ...["-c", "copy", "-bsf:a", "aac_adtstoasc", "-f", "flv", url],
  ];
}

/** The transcoder's own arguments on the whole file, read in real time, outputs discarded, progress on stdout. */
export function bareTranscodeArgs(source: SourceInfo, ladder: readonly Rendition[], file: string): string[] {
  const fitted = fitLadder([...ladder], source.video);
  const outputs = fitted.map(() => "/dev/null");
  const args = buildTranscodeArgs(source, fitted, { preset: DEFAULT_X264_PRESET }, outputs, file);
  // -copyts would make -re wait out the source's start offset before reading; timestamps do not change the work.
  args.splice(args.indexOf("-copyts"), 1);
  args.splice(args.indexOf("-i"), 0, "-re");
  return ["-y", "-progress", "pipe:1", ...args];
}

export interface Progress {
  /** Wall seconds since the start. */
  wallS: number;
  frames: number;
  /** How far the output is behind real time: wallS − frames / fps. */
  lagS: number;
}

/** Reads ffmpeg's -progress blocks (every 0.5 s) into `into`; feed it the process's stdout. */
export function progressReader(startedAt: number, fps: number, into: Progress[]): (text: string) => void {
  let pending = "";
  let frames = 0;
  return (text) => {
    const lines = (pending + text).split("\n");
    pending = lines.pop()!;
    for (const line of lines) {
      if (line.startsWith("frame=")) frames = Number(line.slice("frame=".length));
      else if (line.startsWith("progress=")) {
        const wallS = (performance.now() - startedAt) / 1000;
        into.push({ wallS, frames, lagS: wallS - frames / fps });
      }
    }
  };
}
