/**
 * offchain/media's transcoder with the real ffmpeg: a 1080p segment through the default ladder, read back with
 * inspectTransportStream and ffprobe; no upscaling, frame-rate caps, byte-identical deterministic renditions; the
 * ffmpeg arguments (CPU and GPU plans); every refusal of bad input, quickly; time limits, cancellation and output
 * caps, with no ffmpeg child left behind.
 */
import { expect } from "chai";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import {
  type FittedRendition,
  type HardwarePlan,
  MediaError,
  type MediaTools,
  type Rendition,
  type SourceInfo,
  type TranscodeResult,
  buildTranscodeArgs,
  fitLadder,
  generateTestSegment,
  ladderFromJson,
  ladderFromPresets,
  mediaTools,
  segmentTimeoutMs,
  transcodeSegment,
} from "../../offchain/media";
import { inspectTransportStream } from "../../offchain/media/mpegts";
import { parseRate, probeSegment, sourceInfoFromProbe } from "../../offchain/media/probe";
import { runProcess } from "../../offchain/media/run";
import { buildFilterGraph, maxRenditionBytes } from "../../offchain/media/transcode";
import { keccak256 } from "../../offchain/pm/crypto";
import { rejectionOf, thrownBy } from "../support/assertions";
import { BinarySpy, isTranscode, processExists } from "../support/binarySpy";
import { type ProbedStream, ffprobeStreams, source1080 } from "../support/media";

/** ffmpeg with lavfi sources, output on stdout. */
async function ffmpegOut(tools: MediaTools, args: string[]): Promise<Buffer> {
  const result = await runProcess(tools.ffmpeg.path, {
    args: ["-hide_banner", "-loglevel", "error", ...args, "pipe:1"],
    timeoutMs: 30_000,
  });
  expect(result.code, result.stderrTail).to.equal(0);
  return result.stdout;
}

/** The MediaError a transcode rejects with, which must have `code` and come within ten seconds. */
async function transcodeError(run: () => Promise<unknown>, code: string): Promise<MediaError> {
  const started = performance.now();
  const error = await rejectionOf(run());
  const elapsed = performance.now() - started;
  expect(error, String(error)).to.be.instanceOf(MediaError);
  expect((error as MediaError).code, error.message).to.equal(code);
  expect(elapsed, `${code} took ${Math.round(elapsed)} ms`).to.be.below(10_000);
  return error as MediaError;
}

/** ffmpeg or ffprobe processes whose parent is this test process, running or zombie ("pid state name"). */
function mediaChildren(): string[] {
  let table: Array<[pid: string, ppid: string, state: string, name: string]>;
  if (fs.existsSync("/proc/self/stat")) {
    table = [];
    for (const entry of fs.readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      let stat: string;
      try {
        stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      } catch {
        continue; // exited meanwhile
      }
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split at the last ")".
      const close = stat.lastIndexOf(")");
      const [state, ppid] = stat.slice(close + 2).split(" ");
      table.push([entry, ppid, state, stat.slice(stat.indexOf("(") + 1, close)]);
    }
  } else {
    const out = execFileSync("ps", ["-A", "-o", "pid=,ppid=,stat=,comm="], { encoding: "utf8" });
    table = out
      .split("\n")
      .filter((line) => line.trim())
      .map((line) => line.trim().split(/\s+/) as [string, string, string, string]);
  }
  return table
    .filter(([, ppid, , name]) => ppid === String(process.pid) && /ffmpeg|ffprobe/.test(path.basename(name)))
    .map(([pid, , state, name]) => `${pid} ${state} ${name}`);
}

const hexKeccak = (data: Uint8Array) => "0x" + keccak256(data).toString("hex");

const SOURCE_1080: SourceInfo = source1080({ codec: "aac", profile: "LC", sampleRate: 48000, channels: 1 });

describe("media transcode: a 1080p segment through the default ladder", function () {
  const ladder = ladderFromPresets("720p,480p,360p,240p");
  let tools: MediaTools;
  let source: Buffer;
  let result: TranscodeResult;
  let outputs: ProbedStream[][];

  before(async () => {
    tools = await mediaTools();
    source = await generateTestSegment(tools, { width: 1920, height: 1080, durationSec: 2, startSec: 10 });
    result = await transcodeSegment(tools, source, ladder);
    outputs = await Promise.all(result.renditions.map((o) => ffprobeStreams(tools, o.data)));
  });

  it("describes the source as ffprobe does", async () => {
    expect(result.source.format).to.equal("mpegts");
    expect(result.source.durationMs).to.be.closeTo(2000, 34);
    expect(result.source.video).to.include({ codec: "h264", width: 1920, height: 1080, fps: 30, frames: 60 });
    expect(result.source.video.startTimeMs).to.equal(10_000);
    expect(result.source.audio?.codec).to.equal("aac");
    const probed = await probeSegment(tools, source);
    const { codec, width, height, fps, frames, sampleAspect, startTimeMs } = probed.video;
    expect(result.source.video).to.include({ codec, width, height, fps, frames, sampleAspect, startTimeMs });
    expect(result.source.durationMs).to.be.closeTo(probed.durationMs, 34); // ffprobe may count the audio's span
    expect(result.source.audio?.codec).to.equal(probed.audio?.codec);
    expect(result.device).to.equal("cpu");
    expect(result.timings.totalMs).to.be.at.least(result.timings.probeMs + result.timings.transcodeMs - 1);
  });

  it("encodes each rendition at its fitted size, as ffprobe reads it back", () => {
    expect(result.fitted.map((f) => `${f.width}x${f.height}`)).to.deep.equal([
      "1280x720",
      "854x480",
      "640x360",
      "426x240",
    ]);
    result.renditions.forEach((o, i) => {
      const video = outputs[i].find((s) => s.codec_type === "video")!;
      expect(o.name).to.equal(ladder[i].name);
      expect([o.width, o.height]).to.deep.equal([result.fitted[i].width, result.fitted[i].height]);
      expect([video.width, video.height], o.name).to.deep.equal([o.width, o.height]);
      expect(video.codec_name).to.equal("h264");
      expect(video.pix_fmt).to.equal("yuv420p");
    });
  });

  it("has every frame: 60 in 2 s, each rendition", () => {
    result.renditions.forEach((o, i) => {
      const video = outputs[i].find((s) => s.codec_type === "video")!;
      expect(o.frames, o.name).to.equal(60);
      expect(Number(video.nb_read_packets), o.name).to.equal(60);
      expect(o.durationMs, o.name).to.be.closeTo(2000, 34);
    });
  });

  it("reports pixels, bytes and hash from the bytes themselves", () => {
    for (const o of result.renditions) {
      expect(o.pixels).to.equal(o.width * o.height * o.frames);
      expect(o.bytes).to.equal(o.data.length);
      expect(o.hash).to.equal(hexKeccak(o.data));
      expect(o.data.length % 188).to.equal(0);
    }
    expect(new Set(result.renditions.map((o) => o.hash)).size).to.equal(4);
  });

  it("writes the profile and level the ladder fitted (codec string read from the SPS)", () => {
    result.renditions.forEach((o, i) => {
      expect(o.codec, o.name).to.equal(result.fitted[i].codec);
      const sps = inspectTransportStream(o.data).sps!;
      expect(sps.levelIdc).to.equal(result.fitted[i].level.idc);
      expect(sps.profileIdc).to.equal(100);
    });
  });

  it("copies the source's audio into every rendition", () => {
    outputs.forEach((streams, i) => {
      const audio = streams.filter((s) => s.codec_type === "audio");
      expect(audio, result.renditions[i].name).to.have.length(1);
      expect(audio[0].codec_name).to.equal("aac");
      expect(Number(audio[0].sample_rate)).to.equal(48000);
    });
  });

  it("keeps the source's timestamps", () => {
    const original = inspectTransportStream(source);
    expect(original.minPts).to.equal(10 * 90_000);
    for (const o of result.renditions) {
      const video = inspectTransportStream(o.data);
      expect([video.minPts, video.maxPts], o.name).to.deep.equal([original.minPts, original.maxPts]);
    }
  });

  it("gives up at the time limit with TRANSCODE_TIMEOUT, leaving no ffmpeg behind", async () => {
    // The four renditions take seconds; an H.264 source is described from its own bytes, in well under 50 ms.
    const error = await transcodeError(
      () => transcodeSegment(tools, source, ladder, { timeoutMs: 50 }),
      "TRANSCODE_TIMEOUT",
    );
    expect(error.message).to.match(/^Transcoding took longer than \d+ ms and ffmpeg was stopped\.$/);
    expect(error.isInputError).to.equal(false);
    expect(mediaChildren()).to.deep.equal([]);
  });
});

describe("media transcode: sizes, frame rates and timestamps", () => {
  let tools: MediaTools;

  before(async () => {
    tools = await mediaTools();
  });

  it("does not upscale a 720p source into a 1080p rendition", async () => {
    const source = await generateTestSegment(tools, { width: 1280, height: 720, durationSec: 1, audio: false });
    const result = await transcodeSegment(tools, source, ladderFromPresets("1080p,360p"));
    expect(result.renditions.map((o) => `${o.width}x${o.height}`)).to.deep.equal(["1280x720", "640x360"]);
    expect(result.fitted[0].bitrate).to.equal(Math.round(5_000_000 * ((1280 * 720) / (1920 * 1080))));
    expect(result.renditions[0].codec).to.equal(result.fitted[0].codec);
    // No audio in the source, none in the renditions.
    const streams = await ffprobeStreams(tools, result.renditions[0].data);
    expect(streams.map((s) => s.codec_type)).to.deep.equal(["video"]);
  });

  it("turns a 60 fps source into 30 frames per second", async () => {
    const source = await generateTestSegment(tools, { width: 640, height: 360, fps: 60, durationSec: 1, startSec: 4 });
    const result = await transcodeSegment(tools, source, ladderFromPresets("360p,240p"));
    expect(result.source.video.fps).to.equal(60);
    expect(result.source.video.frames).to.equal(60);
    for (const [i, o] of result.renditions.entries()) {
      expect(result.fitted[i].fps).to.equal(30);
      expect(o.frames, o.name).to.equal(30);
      expect(o.durationMs).to.be.closeTo(1000, 17);
      const video = inspectTransportStream(o.data);
      expect(video.maxPts! - video.minPts!).to.equal(29 * 3000); // evenly spaced at 30 fps
      const streams = await ffprobeStreams(tools, o.data);
      expect(parseRate(String(streams.find((s) => s.codec_type === "video")!.avg_frame_rate))).to.be.closeTo(30, 0.01);
    }
  });

  it("reads the frame rate of a source whose VUI timing is a 90 kHz clock, not a frame rate", async () => {
    // fixed_frame_rate_flag 0: time_scale / num_units_in_tick is only a clock (E.2.1); the frames come 30 a second.
    const source = await ffmpegOut(tools, [
      ...["-f", "lavfi", "-i", "testsrc2=s=320x180:r=30:d=1", "-c:v", "libx264", "-preset", "ultrafast"],
      ...["-bsf:v", "h264_metadata=tick_rate=90000:fixed_frame_rate_flag=0", "-f", "mpegts"],
    ]);
    expect((await probeSegment(tools, source)).video.fps).to.equal(30); // what ffprobe makes of it
    const result = await transcodeSegment(tools, source, ladderFromPresets("240p"));
    expect(result.source.video.fps).to.equal(30);
    expect(result.renditions[0].frames).to.equal(30);
  });

  it("keeps a 25 fps source at 25 fps", async () => {
    const source = await generateTestSegment(tools, { width: 320, height: 180, fps: 25, durationSec: 1, audio: false });
    const result = await transcodeSegment(tools, source, ladderFromPresets("240p"));
    expect(result.fitted[0].fps).to.equal(25);
    expect(result.renditions[0].frames).to.equal(25);
    expect(result.renditions[0].durationMs).to.equal(1000);
  });

  it("keeps the timestamps of a stream's first segment (video from PTS 0)", async () => {
    const source = await generateTestSegment(tools, { width: 320, height: 180, durationSec: 1, audio: false });
    const original = inspectTransportStream(source);
    expect(original.minPts).to.equal(0);
    const result = await transcodeSegment(tools, source, ladderFromPresets("240p"));
    const video = inspectTransportStream(result.renditions[0].data);
    expect([video.minPts, video.maxPts]).to.deep.equal([original.minPts, original.maxPts]);
  });
});

describe("media transcode: deterministic renditions", () => {
  const deterministicLadder = ladderFromJson(
    JSON.stringify([
      { preset: "360p", name: "d360", deterministic: true },
      { preset: "240p", name: "d240", deterministic: true },
    ]),
  );
  const mixedLadder = ladderFromJson(
    JSON.stringify([
      { preset: "360p", name: "fast360" },
      { preset: "240p", name: "d240", deterministic: true },
    ]),
  );
  let tools: MediaTools;
  let source: Buffer;

  before(async () => {
    tools = await mediaTools();
    source = await generateTestSegment(tools, { width: 640, height: 360, durationSec: 1, startSec: 6 });
  });

  it("gives byte-identical outputs in two runs", async () => {
    const [a, b] = [
      await transcodeSegment(tools, source, deterministicLadder),
      await transcodeSegment(tools, source, deterministicLadder),
    ];
    expect(a.renditions.map((o) => o.hash)).to.deep.equal(b.renditions.map((o) => o.hash));
    for (const [i, o] of a.renditions.entries()) expect(o.data.equals(b.renditions[i].data), o.name).to.equal(true);
  });

  it("gives the same bytes next to a non-deterministic rendition, and whatever preset the transcoder uses", async () => {
    const alone = await transcodeSegment(tools, source, deterministicLadder);
    const mixed1 = await transcodeSegment(tools, source, mixedLadder);
    const mixed2 = await transcodeSegment(tools, source, mixedLadder, { settings: { preset: "ultrafast" } });
    expect(mixed1.renditions[1].hash).to.equal(mixed2.renditions[1].hash);
    expect(mixed1.renditions[1].hash).to.equal(alone.renditions[1].hash);
    // The transcoder's own preset does reach the other rendition.
    expect(mixed2.renditions[0].hash).not.to.equal(mixed1.renditions[0].hash);
  });

  it("ignores a GPU plan when any rendition is deterministic: the job stays on the CPU", async () => {
    const hardware: HardwarePlan = { gpu: 0, decode: true, encode: true };
    const result = await transcodeSegment(tools, source, mixedLadder, { settings: { hardware } });
    expect(result.device).to.equal("cpu");
    expect(result.renditions.map((o) => o.frames)).to.deep.equal([30, 30]);
    const cpu = await transcodeSegment(tools, source, mixedLadder);
    expect(result.renditions[1].hash).to.equal(cpu.renditions[1].hash);
  });
});

describe("media transcode: ffmpeg arguments", () => {
  const fitted = (ladder: Rendition[], source = SOURCE_1080): FittedRendition[] => fitLadder(ladder, source.video);
  const four = fitted(ladderFromPresets("720p,480p,360p,240p"));
  const outputs = (n: number) => Array.from({ length: n }, (_, i) => `pipe:${3 + i}`);
  const count = (args: string[], value: string) => args.filter((a) => a === value).length;
  /** The arguments of each output: from its -map [vN] up to and including its output name. */
  const perOutput = (args: string[]): string[][] => {
    const starts = args.flatMap((a, i) => (a === "-map" && args[i + 1].startsWith("[v") ? [i] : []));
    return starts.map((start, k) => args.slice(start, k + 1 < starts.length ? starts[k + 1] : args.length));
  };

  it("decodes once, scales to the largest rendition, cascades the rest from it and writes each to its pipe", () => {
    const args = buildTranscodeArgs(SOURCE_1080, four, { preset: "veryfast" }, outputs(4));
    expect(count(args, "-i")).to.equal(1);
    expect(args[args.indexOf("-i") + 1]).to.equal("pipe:0");
    expect(args[args.indexOf("-i") - 1]).to.equal("mpegts");
    expect(args).to.include("-copyts");
    expect(args.indexOf("-copyts")).to.be.below(args.indexOf("-i"));
    const graph = args[args.indexOf("-filter_complex") + 1];
    expect(graph.match(/split=/g)).to.have.length(1);
    expect(graph).to.match(
      /^\[0:v:0\]scale=w=1280:h=720:flags=bicubic,format=yuv420p,setsar=1,split=4\[v0\]\[d1\]\[d2\]\[d3\];/,
    );
    expect(graph).to.contain("[d1]scale=w=854:h=480:flags=bicubic,format=yuv420p,setsar=1[v1]");
    expect(graph).not.to.contain("fps="); // 30 fps source, 30 fps renditions
    const per = perOutput(args);
    expect(per).to.have.length(4);
    per.forEach((o, i) => {
      expect(o.at(-1)).to.equal(`pipe:${3 + i}`);
      expect(o.at(-2)).to.equal("mpegts");
      expect(o[o.indexOf("-c:v") + 1]).to.equal("libx264");
      expect(o[o.indexOf("-b:v") + 1]).to.equal(String(four[i].bitrate));
      expect(o[o.indexOf("-level:v") + 1]).to.equal(four[i].level.name);
      expect(o[o.indexOf("-g") + 1]).to.equal("60");
    });
    // One rendition: no split.
    const single = buildTranscodeArgs(SOURCE_1080, four.slice(0, 1), { preset: "fast" }, ["out.ts"], "in.ts");
    expect(single[single.indexOf("-filter_complex") + 1]).to.equal(
      "[0:v:0]scale=w=1280:h=720:flags=bicubic,format=yuv420p,setsar=1[v0]",
    );
    expect(single[single.indexOf("-i") + 1]).to.equal("in.ts");
    expect(single[single.indexOf("-preset") + 1]).to.equal("fast");
    expect(() => buildTranscodeArgs(SOURCE_1080, four, { preset: "fast" }, outputs(3))).to.throw(
      "one output per rendition",
    );
  });

  it("scales from the source every rendition that does not fit inside the largest one", () => {
    // A 60 fps 360p cannot come from a 30 fps 720p: it gets its own branch from the source.
    const sixty = { ...SOURCE_1080, video: { ...SOURCE_1080.video, fps: 60 } };
    const ladder = ladderFromJson(JSON.stringify(["720p", { preset: "360p", fps: 60 }, "240p"]));
    const graph = buildFilterGraph(sixty, fitted(ladder, sixty));
    expect(graph).to.match(/^\[0:v:0\]split=2\[s0\]\[s1\];/);
    expect(graph).to.contain("[s0]fps=fps=30,scale=w=1280:h=720:flags=bicubic,format=yuv420p,setsar=1,split=2[v0][d2]");
    expect(graph).to.contain("[s1]scale=w=640:h=360:flags=bicubic,format=yuv420p,setsar=1[v1]");
    expect(graph).to.contain("[d2]scale=w=426:h=240:flags=bicubic,format=yuv420p,setsar=1[v2]");
  });

  it("adds -threads 1 and the fixed preset only to deterministic outputs", () => {
    const ladder = ladderFromJson(
      JSON.stringify([
        { preset: "720p", deterministic: true },
        "480p",
        { preset: "360p", name: "d", deterministic: true },
      ]),
    );
    const args = buildTranscodeArgs(SOURCE_1080, fitted(ladder), { preset: "medium" }, outputs(3));
    const per = perOutput(args);
    expect(count(args, "-threads")).to.equal(2);
    expect(per.map((o) => o.includes("-threads"))).to.deep.equal([true, false, true]);
    for (const i of [0, 2]) expect(per[i][per[i].indexOf("-threads") + 1]).to.equal("1");
    expect(per.map((o) => o[o.indexOf("-preset") + 1])).to.deep.equal(["veryfast", "medium", "veryfast"]);
  });

  it("maps and copies audio only when the source has it", () => {
    const withAudio = buildTranscodeArgs(SOURCE_1080, four, { preset: "veryfast" }, outputs(4));
    for (const o of perOutput(withAudio)) {
      expect(o.join(" ")).to.contain("-map 0:a:0 -c:a copy");
    }
    const silent = buildTranscodeArgs({ ...SOURCE_1080, audio: undefined }, four, { preset: "veryfast" }, outputs(4));
    expect(silent).not.to.include("0:a:0");
    expect(silent).not.to.include("-c:a");
  });

  it("adds an fps filter only where the rendition is slower than the source", () => {
    const sixty = { ...SOURCE_1080, video: { ...SOURCE_1080.video, fps: 60 } };
    const args = buildTranscodeArgs(
      sixty,
      fitted(ladderFromPresets("720p,360p"), sixty),
      { preset: "veryfast" },
      outputs(2),
    );
    const graph = args[args.indexOf("-filter_complex") + 1];
    // Once, before the largest scale: the 360p rendition cascades from the 30 fps 720p output.
    expect(graph.match(/fps=fps=30,scale/g)).to.have.length(1);
    expect(graph).to.match(/^\[0:v:0\]fps=fps=30,scale=w=1280/);
    const sixtyAndThirty = buildFilterGraph(
      sixty,
      fitted(ladderFromJson(JSON.stringify(["360p", { preset: "720p", fps: 60 }])), sixty),
    );
    // The 60 fps 720p is the largest; the 30 fps 360p derives from it and drops frames itself.
    expect(sixtyAndThirty).to.contain("[d0]fps=fps=30,scale=w=640:h=360");
    expect(sixtyAndThirty).to.match(/^\[0:v:0\]scale=w=1280/);
    const ntsc = { ...SOURCE_1080, video: { ...SOURCE_1080.video, fps: 29.97 } };
    const ntscArgs = buildTranscodeArgs(ntsc, fitted(ladderFromPresets("720p"), ntsc), { preset: "veryfast" }, ["o"]);
    expect(ntscArgs.join(" ")).not.to.contain("fps=");
  });

  it("decodes with NVDEC and scales with scale_cuda on the planned GPU, downloading for x264", () => {
    const hardware: HardwarePlan = { gpu: 1, decode: true, encode: false };
    const args = buildTranscodeArgs(SOURCE_1080, four, { preset: "veryfast", hardware }, outputs(4));
    const joined = args.join(" ");
    expect(joined).to.contain("-hwaccel cuda -hwaccel_device 1 -hwaccel_output_format cuda");
    expect(args.indexOf("-hwaccel")).to.be.below(args.indexOf("-i"));
    const graph = args[args.indexOf("-filter_complex") + 1];
    expect(graph).to.contain("[0:v:0]scale_cuda=w=1280:h=720,setsar=1,split=4[p0][d1][d2][d3]");
    expect(graph).to.contain("[p0]hwdownload,format=nv12[v0]");
    expect(graph).to.contain("[d1]scale_cuda=w=854:h=480,hwdownload,format=nv12,setsar=1[v1]");
    expect(graph.match(/hwdownload/g)).to.have.length(4);
    expect(graph).not.to.contain("flags=bicubic");
    expect(count(args, "libx264")).to.equal(4);
    expect(joined).not.to.contain("nvenc");
  });

  it("encodes with NVENC on the planned GPU when the plan says so, keeping frames on the GPU", () => {
    const hardware: HardwarePlan = { gpu: 1, decode: true, encode: true };
    const args = buildTranscodeArgs(SOURCE_1080, four, { preset: "veryfast", hardware }, outputs(4));
    const graph = args[args.indexOf("-filter_complex") + 1];
    expect(graph).not.to.contain("hwdownload");
    expect(graph).to.contain("scale_cuda=w=426:h=240,setsar=1");
    const per = perOutput(args);
    for (const o of per) expect(o.join(" ")).to.contain("-c:v h264_nvenc -gpu 1");
    expect(args).not.to.include("libx264");
    // NVENC alone (CPU decode and scale).
    const encodeOnly = buildTranscodeArgs(
      SOURCE_1080,
      four,
      { preset: "veryfast", hardware: { gpu: 0, decode: false, encode: true } },
      outputs(4),
    );
    expect(encodeOnly).not.to.include("-hwaccel");
    expect(encodeOnly.join(" ")).to.contain("scale=w=1280:h=720:flags=bicubic,format=yuv420p");
    expect(count(encodeOnly, "h264_nvenc")).to.equal(4);
  });

  it("sets a default time limit of ten times the segment, at least 20 s", () => {
    expect(segmentTimeoutMs(2000)).to.equal(20_000);
    expect(segmentTimeoutMs(6000)).to.equal(60_000);
    expect(segmentTimeoutMs(0)).to.equal(20_000);
  });

  it("caps each rendition's bytes by the source's size or the ladder's bitrate, whichever allows more", () => {
    const MiB = 1024 * 1024;
    // 1 MB source, 720p at 3 Mbit/s over 2 s: 16 MB from the source wins over 1.5 MB from the bitrate.
    expect(maxRenditionBytes(1_000_000, four, 2000)).to.equal(16_000_000 + MiB);
    // A tiny (static) source of 10 kB into 3 Mbit/s for 10 s: the bitrate allows 2 × 3.75 MB.
    expect(maxRenditionBytes(10_000, four, 10_000)).to.equal(7_500_000 + MiB);
    // Durations under a second count as one second.
    expect(maxRenditionBytes(0, four, 0)).to.equal(750_000 + MiB);
  });
});

describe("media transcode: refusing bad input, quickly", () => {
  const ladder = ladderFromPresets("240p");
  let tools: MediaTools;
  let small: Buffer;
  /** MPEG-2 video: not H.264, so the transcoder asks ffprobe about it. */
  let mpeg2: Buffer;

  before(async () => {
    tools = await mediaTools();
    small = await generateTestSegment(tools, { width: 640, height: 360, durationSec: 1 });
    mpeg2 = await ffmpegOut(tools, [
      ...["-f", "lavfi", "-i", "testsrc2=s=320x180:r=30:d=1", "-c:v", "mpeg2video", "-b:v", "1M"],
      ...["-f", "mpegts", "-muxdelay", "0", "-output_ts_offset", "2"],
    ]);
  });

  it("transcodes a source that is not H.264, through ffprobe", async () => {
    const result = await transcodeSegment(tools, mpeg2, ladderFromPresets("240p,360p"));
    expect(result.source.video).to.include({ codec: "mpeg2video", width: 320, height: 180, fps: 30, frames: 30 });
    expect(result.renditions.map((o) => `${o.width}x${o.height}:${o.frames}`)).to.deep.equal([
      "320x180:30",
      "320x180:30",
    ]);
  });

  it("zero bytes: SEGMENT_EMPTY", async () => {
    await transcodeError(() => transcodeSegment(tools, new Uint8Array(0), ladder), "SEGMENT_EMPTY");
  });

  it("random bytes: SEGMENT_NOT_MPEGTS", async () => {
    const noise = Buffer.alloc(188 * 50);
    for (let i = 0, x = 7; i < noise.length; i++) noise[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
    noise[0] = 0x12;
    await transcodeError(() => transcodeSegment(tools, noise, ladder), "SEGMENT_NOT_MPEGTS");
  });

  it("a truncated segment: SEGMENT_TRUNCATED", async () => {
    await transcodeError(
      () => transcodeSegment(tools, small.subarray(0, small.length - 50), ladder),
      "SEGMENT_TRUNCATED",
    );
  });

  it("Matroska and fragmented MP4: SEGMENT_NOT_MPEGTS", async () => {
    const video = ["-f", "lavfi", "-i", "testsrc2=s=320x180:r=30:d=1", "-c:v", "libx264", "-preset", "ultrafast"];
    const mkv = await ffmpegOut(tools, [...video, "-f", "matroska"]);
    const mp4 = await ffmpegOut(tools, [...video, "-f", "mp4", "-movflags", "frag_keyframe+empty_moov"]);
    for (const bytes of [mkv, mp4]) {
      const error = await transcodeError(() => transcodeSegment(tools, bytes, ladder), "SEGMENT_NOT_MPEGTS");
      expect(error.isInputError).to.equal(true);
    }
  });

  it("an audio-only transport stream: SEGMENT_NO_VIDEO", async () => {
    const audio = await ffmpegOut(tools, [
      ...["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "1"],
      ...["-c:a", "aac", "-f", "mpegts"],
    ]);
    await transcodeError(() => transcodeSegment(tools, audio, ladder), "SEGMENT_NO_VIDEO");
  });

  it("a segment over any configured limit: SEGMENT_DIMENSIONS or SEGMENT_TOO_LARGE", async () => {
    for (const limits of [{ maxWidth: 638 }, { maxHeight: 358 }, { maxPixels: 640 * 360 - 1 }, { maxFps: 25 }]) {
      const error = await transcodeError(
        () => transcodeSegment(tools, small, ladder, { limits }),
        "SEGMENT_DIMENSIONS",
      );
      expect(error.message, JSON.stringify(limits)).to.match(/640x360|30 fps/);
    }
    await transcodeError(
      () => transcodeSegment(tools, small, ladder, { limits: { maxBytes: small.length - 188 } }),
      "SEGMENT_TOO_LARGE",
    );
    // Exactly at every limit is fine.
    const exact = { maxWidth: 640, maxHeight: 360, maxPixels: 640 * 360, maxFps: 30, maxBytes: small.length };
    expect((await transcodeSegment(tools, small, ladder, { limits: exact })).renditions).to.have.length(1);
  });

  it("a real source wider than 4096 pixels: SEGMENT_DIMENSIONS with the default limits", async () => {
    const wide = await generateTestSegment(tools, { width: 4112, height: 240, durationSec: 0.04, audio: false });
    const error = await transcodeError(() => transcodeSegment(tools, wide, ladder), "SEGMENT_DIMENSIONS");
    expect(error.message).to.contain("4112x240");
  });

  it("an invalid ladder: LADDER_INVALID before any process runs", async () => {
    const bad = [{ ...ladder[0], width: 641 }];
    await transcodeError(() => transcodeSegment(tools, new Uint8Array(0), bad), "LADDER_INVALID");
    await transcodeError(() => transcodeSegment(tools, small, []), "LADDER_INVALID");
  });

  it("an encoder setting ffmpeg refuses: TRANSCODE_FAILED with ffmpeg's words", async () => {
    const error = await transcodeError(
      () => transcodeSegment(tools, small, ladder, { settings: { preset: "no-such-preset" } }),
      "TRANSCODE_FAILED",
    );
    expect(error.message).to.match(/^ffmpeg failed \(exit \d+\): \S/);
    expect(error.isInputError).to.equal(false);
  });

  it("a time limit too short for the probe: PROBE_TIMEOUT, leaving no ffprobe behind", async () => {
    await transcodeError(() => transcodeSegment(tools, mpeg2, ladder, { timeoutMs: 1 }), "PROBE_TIMEOUT");
    expect(mediaChildren()).to.deep.equal([]);
  });

  it("cancelled while ffmpeg runs: TRANSCODE_CANCELLED, the process killed and reaped", async () => {
    const spy = new BinarySpy(tools.ffmpeg.path, "ffmpeg");
    try {
      const controller = new AbortController();
      const spied = { ...tools, ffmpeg: { ...tools.ffmpeg, path: spy.path } };
      const running = transcodeSegment(spied, small, ladderFromPresets("360p,240p"), {
        signal: controller.signal,
        settings: { preset: "veryslow" },
      });
      const run = await spy.waitForRun(isTranscode);
      controller.abort();
      const error = await transcodeError(() => running, "TRANSCODE_CANCELLED");
      expect(error.message).to.equal("Transcoding was cancelled.");
      expect(error.isInputError).to.equal(false);
      expect(processExists(run.pid)).to.equal(false);
      expect(mediaChildren()).to.deep.equal([]);
    } finally {
      spy.dispose();
    }
  });

  it("cancelled before it starts: TRANSCODE_CANCELLED, whatever the source", async () => {
    for (const source of [small, mpeg2]) {
      await transcodeError(
        () => transcodeSegment(tools, source, ladder, { signal: AbortSignal.abort() }),
        "TRANSCODE_CANCELLED",
      );
    }
    expect(mediaChildren()).to.deep.equal([]);
  });

  it("cancelled while ffprobe runs: TRANSCODE_CANCELLED too", async () => {
    const spy = new BinarySpy(tools.ffprobe.path, "ffprobe");
    try {
      const controller = new AbortController();
      const spied = { ...tools, ffprobe: { ...tools.ffprobe, path: spy.path } };
      const running = transcodeSegment(spied, mpeg2, ladder, { signal: controller.signal });
      const run = await spy.waitForRun(() => true);
      controller.abort();
      await transcodeError(() => running, "TRANSCODE_CANCELLED");
      expect(processExists(run.pid)).to.equal(false);
    } finally {
      spy.dispose();
    }
  });
});

describe("media run: output caps", () => {
  let tools: MediaTools;
  const raw = ["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=s=320x240:r=30:d=10"];
  const rawOut = ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"];

  before(async () => {
    tools = await mediaTools();
  });

  it("kills a process that writes more than maxOutputBytes and says so", async () => {
    const result = await runProcess(tools.ffmpeg.path, {
      args: [...raw, ...rawOut],
      timeoutMs: 20_000,
      maxOutputBytes: 100_000,
    });
    expect(result.overflowed).to.equal(true);
    expect(result.signal).to.equal("SIGKILL");
    expect(result.code).to.equal(null);
    expect(result.timedOut).to.equal(false);
    expect(result.aborted).to.equal(false);
    expect(result.stdout.length).to.be.at.most(100_000);
    expect(result.wallMs).to.be.below(10_000);
    expect(mediaChildren()).to.deep.equal([]);
  });

  it("keeps only bytes the process wrote, a prefix of its output", async () => {
    const full = await runProcess(tools.ffmpeg.path, {
      args: [...raw.slice(0, -1), "testsrc=s=320x240:r=30:d=1", ...rawOut],
      timeoutMs: 20_000,
    });
    expect(full.code).to.equal(0);
    const capped = await runProcess(tools.ffmpeg.path, {
      args: [...raw, ...rawOut],
      timeoutMs: 20_000,
      maxOutputBytes: 100_000,
    });
    expect(capped.overflowed).to.equal(true);
    const kept = capped.stdout;
    expect(kept.equals(full.stdout.subarray(0, kept.length)), "the kept bytes are not what ffmpeg wrote").to.equal(
      true,
    );
  });

  it("caps each extra output pipe too", async () => {
    const result = await runProcess(tools.ffmpeg.path, {
      args: [...raw, "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:3"],
      outputPipes: 1,
      timeoutMs: 20_000,
      maxOutputBytes: 50_000,
    });
    expect(result.overflowed).to.equal(true);
    expect(result.signal).to.equal("SIGKILL");
    expect(result.outputs[0].length).to.be.at.most(50_000);
  });

  it("is seen running as our child until aborted, then reaped (what the no-child checks rely on)", async () => {
    const controller = new AbortController();
    const running = runProcess(tools.ffmpeg.path, {
      args: ["-hide_banner", "-loglevel", "error", "-re", ...raw.slice(3), "-f", "null", "-"],
      timeoutMs: 20_000,
      signal: controller.signal,
    });
    const seen = mediaChildren();
    expect(seen).to.have.length(1);
    expect(seen[0]).to.match(/^\d+ [RSD] ffmpeg$/);
    controller.abort();
    const result = await running;
    expect(result).to.include({ aborted: true, timedOut: false, signal: "SIGKILL" });
    expect(result.wallMs).to.be.below(10_000);
    expect(mediaChildren()).to.deep.equal([]);
  });

  it("rejects when the binary cannot be started", async () => {
    const error = await rejectionOf(runProcess("/nonexistent/ffmpeg", { args: [], timeoutMs: 5000 }));
    expect(error.message).to.contain("ENOENT");
  });
});

describe("media probe: reading ffprobe's description", () => {
  const probeJson = (video: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      streams: [
        { codec_type: "video", codec_name: "h264", width: 1280, height: 720, avg_frame_rate: "30/1", ...video },
      ],
      format: { format_name: "mpegts" },
      ...extra,
    });

  it("reads frame rates written as fractions or whole numbers", () => {
    expect(parseRate("30000/1001")).to.be.closeTo(29.97, 0.001);
    expect(parseRate("30/1")).to.equal(30);
    expect(parseRate("0/0")).to.equal(0);
    expect(parseRate(undefined)).to.equal(0);
    expect(parseRate("25")).to.equal(25);
  });

  it("refuses what the pipeline must not decode", () => {
    const code = (json: string) => thrownBy(MediaError, () => sourceInfoFromProbe(json)).code;
    expect(code("not json")).to.equal("SEGMENT_UNREADABLE");
    expect(code(JSON.stringify({ streams: [{ codec_type: "audio", codec_name: "aac" }] }))).to.equal(
      "SEGMENT_NO_VIDEO",
    );
    expect(code(probeJson({ width: 0 }))).to.equal("SEGMENT_UNREADABLE");
    expect(code(probeJson({ width: 4098 }))).to.equal("SEGMENT_DIMENSIONS");
    expect(code(probeJson({ avg_frame_rate: "240/1" }))).to.equal("SEGMENT_DIMENSIONS");
    const info = sourceInfoFromProbe(
      probeJson({ avg_frame_rate: "0/0", r_frame_rate: "25/1", sample_aspect_ratio: "4:3", nb_read_packets: "50" }),
    );
    expect(info.video).to.include({ fps: 25, frames: 50, sampleAspect: 4 / 3 });
    expect(info.durationMs).to.equal(2000); // no container duration: frames at the stream's rate
  });
});
