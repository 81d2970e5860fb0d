/**
 * What the media and transcoder tests share: ffprobe as the independent reference for what a segment holds (never
 * the code under test), and a 1080p30 source description for the pure tests.
 */
import { expect } from "chai";

import type { MediaTools } from "../../offchain/media/binaries";
import type { SourceInfo } from "../../offchain/media/probe";
import { runProcess } from "../../offchain/media/run";

export type ProbedStream = Record<string, string | number | undefined>;

/** ffprobe's streams of an MPEG-TS held in memory, with packet counts. */
export async function ffprobeStreams(tools: MediaTools, bytes: Uint8Array): Promise<ProbedStream[]> {
  const result = await runProcess(tools.ffprobe.path, {
    args: ["-v", "error", "-count_packets", "-show_streams", "-of", "json", "-f", "mpegts", "-i", "pipe:0"],
    input: bytes,
    env: tools.probeEnv,
    timeoutMs: 20_000,
  });
  expect(result.code, result.stderrTail).to.equal(0);
  return JSON.parse(result.stdout.toString("utf8")).streams;
}

export interface ProbedVideo {
  codec: string;
  width: number;
  height: number;
  frames: number;
  startPts: number;
}

/** The first video stream as ffprobe sees it. */
export async function ffprobeVideo(tools: MediaTools, bytes: Uint8Array): Promise<ProbedVideo> {
  const video = (await ffprobeStreams(tools, bytes)).find((s) => s.codec_type === "video");
  expect(video, "ffprobe found no video stream").to.not.equal(undefined);
  return {
    codec: String(video!.codec_name),
    width: Number(video!.width),
    height: Number(video!.height),
    frames: Number(video!.nb_read_packets),
    startPts: Number(video!.start_pts),
  };
}

/** A 2 s 1080p30 H.264 source, as the pipeline would describe it. */
export function source1080(audio?: SourceInfo["audio"]): SourceInfo {
  return {
    format: "mpegts",
    durationMs: 2000,
    video: {
      codec: "h264",
      width: 1920,
      height: 1080,
      fps: 30,
      frames: 60,
      pixelFormat: "yuv420p",
      sampleAspect: 1,
      startTimeMs: 0,
    },
    audio,
  };
}
