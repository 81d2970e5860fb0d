/**
 * TranscodeWorker in process, with the real ffmpeg/ffprobe (found by mediaTools()) behind spy wrappers that record
 * every run: results and their hashes, refusals that must not start ffmpeg, capacity, cancellation, time limits.
 */
import { randomBytes } from "node:crypto";

import { expect } from "chai";

import { type MediaTools, mediaTools } from "../../offchain/media/binaries";
import { PRESETS, type Rendition } from "../../offchain/media/ladder";
import { runProcess } from "../../offchain/media/run";
import { generateTestSegment } from "../../offchain/media/testsrc";
import { keccak256 } from "../../offchain/pm/crypto";
import type { Job, JobError, Result } from "../../offchain/transcoder/protocol";
import { type JobOutcome, TranscodeWorker, type WorkerOptions } from "../../offchain/transcoder/worker";
import { BinarySpy, isTranscode, processExists } from "../support/binarySpy";

const hashOf = (data: Uint8Array) => "0x" + keccak256(data).toString("hex");

let jobCounter = 0;
function job(renditions: unknown[], timeoutMs = 60_000): Job {
  return { type: "job", jobId: `job-${++jobCounter}`, renditions: renditions as Rendition[], timeoutMs };
}

function expectOk(outcome: JobOutcome): { header: Result; payload: Buffer[] } {
  if (!outcome.ok) expect.fail(`expected a result, got ${outcome.header.code}: ${outcome.header.message}`);
  return outcome;
}

function expectError(outcome: JobOutcome): JobError {
  if (outcome.ok) expect.fail(`expected an error, got a result with ${outcome.header.renditions.length} renditions`);
  return outcome.header;
}

describe("transcoder worker (real ffmpeg, in process)", function () {
  this.timeout(60_000);

  let real: MediaTools;
  let ffmpeg: BinarySpy;
  let ffprobe: BinarySpy;
  /** The real tools, with ffmpeg and ffprobe behind the spies. */
  let tools: MediaTools;
  /** 640x360, 30 fps, 2 s, H.264 + AAC. */
  let segment: Buffer;
  /** 320x180, 25 fps, 1 s, MPEG-2 video (not H.264: described by ffprobe, not from its own bytes). */
  let mpeg2: Buffer;

  const worker = (options: Partial<WorkerOptions> = {}) =>
    new TranscodeWorker(tools, { capacity: 2, preset: "veryfast", maxJobMs: 60_000, ...options });
  const processRuns = () => ffmpeg.runs().length + ffprobe.runs().length;

  before(async () => {
    real = await mediaTools();
    ffmpeg = new BinarySpy(real.ffmpeg.path, "ffmpeg");
    ffprobe = new BinarySpy(real.ffprobe.path, "ffprobe");
    tools = {
      ...real,
      ffmpeg: { ...real.ffmpeg, path: ffmpeg.path },
      ffprobe: { ...real.ffprobe, path: ffprobe.path },
    };
    segment = await generateTestSegment(real, { width: 640, height: 360, durationSec: 2 });
    const made = await runProcess(real.ffmpeg.path, {
      args: ["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25", "-t", "1"].concat([
        "-c:v",
        "mpeg2video",
        "-g",
        "25",
        "-f",
        "mpegts",
        "pipe:1",
      ]),
      timeoutMs: 30_000,
    });
    expect(made.code, made.stderrTail).to.equal(0);
    mpeg2 = made.stdout;
  });

  after(() => {
    ffmpeg?.dispose();
    ffprobe?.dispose();
  });

  describe("a good job", () => {
    const ladder = [
      PRESETS["360p30"],
      {
        name: "180p-det",
        width: 320,
        height: 180,
        fps: 15,
        bitrate: "300k",
        profile: "main",
        gop: 1,
        deterministic: true,
      },
    ];

    it("returns one payload buffer per rendition, whose keccak and size match the header", async () => {
      const w = worker();
      const before = ffmpeg.runs().filter(isTranscode).length;
      const { header, payload } = expectOk(await w.run(job(ladder), segment));
      expect(w.inFlight).to.equal(0);
      expect(header.type).to.equal("result");
      expect(header.jobId).to.equal(`job-${jobCounter}`);
      expect(header.device).to.equal("cpu");
      expect(header.renditions.map((r) => r.name)).to.deep.equal(["360p30", "180p-det"]);
      expect(payload).to.have.length(2);
      header.renditions.forEach((meta, i) => {
        expect(payload[i].length, meta.name).to.be.greaterThan(1000);
        expect(meta.bytes, meta.name).to.equal(payload[i].length);
        expect(meta.hash, meta.name).to.equal(hashOf(payload[i]));
        expect(payload[i][0], `${meta.name} is MPEG-TS`).to.equal(0x47);
        expect(meta.pixels).to.equal(meta.width * meta.height * meta.frames);
        expect(meta.codec).to.match(/^avc1\.[0-9a-f]{6}$/);
      });
      const [p360, p180] = header.renditions;
      expect([p360.width, p360.height, p360.frames]).to.deep.equal([640, 360, 60]);
      expect([p180.width, p180.height, p180.frames]).to.deep.equal([320, 180, 30]);
      expect(p360.durationMs).to.be.within(1900, 2100);
      expect(p180.codec.startsWith("avc1.4d"), "main profile").to.equal(true);
      expect(header.timings.totalMs).to.be.at.least(header.timings.transcodeMs);
      expect(ffmpeg.runs().filter(isTranscode).length - before, "one ffmpeg for the whole ladder").to.equal(1);
    });

    it("gives byte-identical deterministic renditions on every run", async () => {
      const w = worker();
      const [a, b] = [expectOk(await w.run(job(ladder), segment)), expectOk(await w.run(job(ladder), segment))];
      expect(a.header.renditions[1].hash).to.equal(b.header.renditions[1].hash);
      expect(a.payload[1].equals(b.payload[1])).to.equal(true);
    });

    it("accepts renditions given by preset name", async () => {
      const w = worker();
      const { header, payload } = expectOk(await w.run(job(["360p"]), segment));
      expect(header.renditions.map((r) => [r.name, r.width, r.height])).to.deep.equal([["360p30", 640, 360]]);
      expect(header.renditions[0].hash).to.equal(hashOf(payload[0]));
      const two = expectOk(await w.run(job(["240p", "360p30"]), segment)).header;
      expect(two.renditions.map((r) => [r.name, r.width, r.height])).to.deep.equal([
        ["240p30", 426, 240],
        ["360p30", 640, 360],
      ]);
      expect(w.inFlight).to.equal(0);
    });

    it("transcodes a non-H.264 source after probing it with ffprobe", async () => {
      const w = worker();
      const probes = ffprobe.runs().length;
      const { header } = expectOk(await w.run(job(["240p"]), mpeg2));
      expect(ffprobe.runs().length - probes).to.equal(1);
      expect(header.renditions.map((r) => [r.width, r.height, r.frames])).to.deep.equal([[320, 180, 25]]);
    });
  });

  describe("refusals", () => {
    it("an invalid ladder: LADDER_INVALID, not retryable, fast, and no ffmpeg or ffprobe started", async () => {
      const w = worker();
      const runs = processRuns();
      const started = performance.now();
      const ladders: unknown[][] = [
        [],
        ["999p"],
        [{ ...PRESETS["360p30"], width: 641 }],
        [{ ...PRESETS["360p30"], bitrate: 1 }],
        [PRESETS["360p30"], PRESETS["360p30"]],
        [{ ...PRESETS["360p30"], codec: "vp9" }],
        [null],
        Array.from({ length: 9 }, (_, i) => ({ ...PRESETS["240p30"], name: `r${i}` })),
      ];
      for (const ladder of ladders) {
        const error = expectError(await w.run(job(ladder), segment));
        expect(error.code, JSON.stringify(ladder)).to.equal("LADDER_INVALID");
        expect(error.retryable).to.equal(false);
        expect(error.jobId).to.equal(`job-${jobCounter}`);
        expect(error.message).to.match(/renditions|ladder|preset/i);
      }
      expect(performance.now() - started, "no process was started").to.be.below(500);
      expect(processRuns() - runs).to.equal(0);
      expect(w.inFlight).to.equal(0);
    });

    it("a segment that is not MPEG-TS: SEGMENT_NOT_MPEGTS, not retryable, no process started", async () => {
      const w = worker();
      const runs = processRuns();
      const noise = randomBytes(188 * 40);
      noise[0] = 0x00;
      for (const bytes of [
        noise,
        Buffer.from("#EXTM3U\n#EXT-X-VERSION:3\n".repeat(20)),
        Buffer.from([0x00, 0x00, 0x00, 0x20, 0x66, 0x74, 0x79, 0x70]),
      ]) {
        const error = expectError(await w.run(job(["360p"]), bytes));
        expect(error.code).to.equal("SEGMENT_NOT_MPEGTS");
        expect(error.retryable).to.equal(false);
      }
      expect(processRuns() - runs).to.equal(0);
      expect(w.inFlight).to.equal(0);
    });

    it("transport-stream-shaped garbage and oversized segments: SEGMENT_* errors, not retryable", async () => {
      // 188-byte packets on a PID no table announces, random payloads: no PAT, no PMT, no video.
      const garbage = randomBytes(188 * 40);
      for (let i = 0; i < garbage.length; i += 188) garbage.set([0x47, 0x01, 0x00, 0x10], i);
      const noVideo = expectError(await worker().run(job(["360p"]), garbage));
      expect(noVideo.code).to.match(/^SEGMENT_/);
      expect(noVideo.retryable).to.equal(false);
      const tooLarge = expectError(await worker({ limits: { maxBytes: 1000 } }).run(job(["360p"]), segment));
      expect(tooLarge.code).to.equal("SEGMENT_TOO_LARGE");
      expect(tooLarge.retryable).to.equal(false);
    });
  });

  describe("capacity", () => {
    it("at capacity, another job gets TRANSCODER_BUSY (retryable) at once, and the first still completes", async () => {
      const w = worker({ capacity: 1 });
      expect([w.capacity, w.inFlight, w.hasRoom]).to.deep.equal([1, 0, true]);
      let firstDone = false;
      const first = w.run(job(["360p"]), segment).then((outcome) => {
        firstDone = true;
        return outcome;
      });
      expect([w.inFlight, w.hasRoom], "the first job holds the only session").to.deep.equal([1, false]);
      const second = job(["360p"]);
      const busy = expectError(await w.run(second, segment));
      expect(firstDone, "the refusal did not wait for the first job").to.equal(false);
      expect(busy).to.deep.include({ jobId: second.jobId, code: "TRANSCODER_BUSY", retryable: true });
      expectOk(await first);
      expect([w.inFlight, w.hasRoom]).to.deep.equal([0, true]);
      expectOk(await w.run(job(["360p"]), segment)); // the session is free again
    });

    it("runs as many jobs at once as its capacity", async () => {
      const w = worker({ capacity: 2 });
      const both = [w.run(job(["240p"]), segment), w.run(job(["240p"]), segment)];
      expect(w.inFlight).to.equal(2);
      for (const outcome of await Promise.all(both)) expectOk(outcome);
      expect(w.inFlight).to.equal(0);
    });
  });

  describe("cancellation and time limits", () => {
    it("an already aborted signal: TRANSCODE_CANCELLED, retryable", async () => {
      const w = worker();
      const controller = new AbortController();
      controller.abort();
      const error = expectError(await w.run(job(["360p"]), segment, controller.signal));
      expect(error).to.deep.include({ code: "TRANSCODE_CANCELLED", retryable: true });
      expect(w.inFlight).to.equal(0);
    });

    it("aborting while ffmpeg runs kills it: TRANSCODE_CANCELLED, retryable", async () => {
      const w = worker({ preset: "slow" });
      const seen = new Set(ffmpeg.runs().map((r) => r.pid));
      const controller = new AbortController();
      const outcome = w.run(job(["360p", "240p"]), segment, controller.signal);
      const run = await ffmpeg.waitForRun((r) => isTranscode(r) && !seen.has(r.pid));
      expect(w.inFlight).to.equal(1);
      controller.abort();
      const error = expectError(await outcome);
      expect(error).to.deep.include({ code: "TRANSCODE_CANCELLED", retryable: true });
      expect(processExists(run.pid), "ffmpeg was killed and reaped").to.equal(false);
      expect(w.inFlight).to.equal(0);
    });

    // A source that is not H.264 is described by ffprobe first; a cancellation that lands then must read the same
    // as one during ffmpeg (the client hands back only TRANSCODE_CANCELLED jobs as TRANSCODER_SHUTTING_DOWN).
    it("an already aborted signal on a non-H.264 source (cancelled while probing): TRANSCODE_CANCELLED too", async () => {
      const w = worker();
      const controller = new AbortController();
      controller.abort();
      const error = expectError(await w.run(job(["240p"]), mpeg2, controller.signal));
      expect(error).to.deep.include({ code: "TRANSCODE_CANCELLED", retryable: true });
      expect(w.inFlight).to.equal(0);
    });

    it("the transcoder's own ceiling (maxJobMs) bounds a job whatever the orchestrator allows, and so does the job's timeout", async () => {
      const capped = expectError(await worker({ maxJobMs: 1 }).run(job(["360p"], 60_000), segment));
      expect(capped).to.deep.include({ code: "TRANSCODE_TIMEOUT", retryable: true });
      const w = worker();
      const short = expectError(await w.run(job(["360p"], 1), segment));
      expect(short).to.deep.include({ code: "TRANSCODE_TIMEOUT", retryable: true });
      expect(w.inFlight).to.equal(0);
    });
  });
});
