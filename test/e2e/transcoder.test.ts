/**
 * End to end: real `streamflow transcoder` processes (bin/streamflow.js) against a TranscoderHub, both on port 0.
 * Registration, job round trips read back with ffprobe, refusals, capacity, reconnects, cancellation, /healthz and
 * /metrics, SIGTERM drains, and the start-up errors an operator meets.
 *
 * Where a test must act while ffmpeg is transcoding, the daemon runs ffmpeg through a spy wrapper (FFMPEG_PATH) that
 * records each run's pid, so the test knows the transcode has started and can check afterwards that it was killed.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { once } from "node:events";

import { expect } from "chai";

import { type MediaTools, mediaTools } from "../../offchain/media/binaries";
import { generateTestSegment } from "../../offchain/media/testsrc";
import { keccak256 } from "../../offchain/pm/crypto";
import { PROTOCOL_VERSION, type Result } from "../../offchain/transcoder/protocol";
import { BinarySpy, isTranscode, processExists } from "../support/binarySpy";
import { ffprobeVideo } from "../support/media";
import { DaemonGroup, type LogRecord, type TranscoderDaemon } from "../support/transcoderDaemon";
import { type HubConnection, type JobReply, TranscoderHub } from "../support/transcoderHub";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const VERSION: string = require("../../package.json").version;
const SECRET = "e2e-orchestrator-secret-" + randomBytes(6).toString("hex");
const REGISTERED = "registered with the orchestrator";

const hashOf = (data: Uint8Array) => "0x" + keccak256(data).toString("hex");

function expectResult(reply: JobReply): { result: Result; renditions: Buffer[] } {
  if (!reply.ok) expect.fail(`expected a result, got ${reply.error.code}: ${reply.error.message}`);
  return reply;
}

function expectError(reply: JobReply) {
  if (reply.ok) expect.fail(`expected an error, got a result with ${reply.result.renditions.length} renditions`);
  return reply.error;
}

/** Every rendition's metadata agrees with its bytes. */
function expectConsistent({ result, renditions }: { result: Result; renditions: Buffer[] }): void {
  expect(renditions).to.have.length(result.renditions.length);
  result.renditions.forEach((meta, i) => {
    expect(meta.bytes, meta.name).to.equal(renditions[i].length);
    expect(meta.hash, meta.name).to.equal(hashOf(renditions[i]));
    expect(meta.pixels, meta.name).to.equal(meta.width * meta.height * meta.frames);
  });
}

function metricValue(metrics: string, series: string): number | undefined {
  const line = metrics.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const fatalOf = (daemon: TranscoderDaemon): LogRecord | undefined => daemon.logs.find((r) => r.level === 60);

describe("e2e: streamflow transcoder daemon", function () {
  this.timeout(60_000);

  let tools: MediaTools;
  /** 1280x720, 30 fps, 2 s, H.264 + AAC: a quick job. */
  let source720: Buffer;
  /** 1920x1080, 30 fps, 4 s: with --preset slow, a job that runs for many seconds (cut, cancelled or handed back). */
  let source1080: Buffer;
  let ffmpegSpy: BinarySpy;
  const spyEnv = () => ({ FFMPEG_PATH: ffmpegSpy.path });

  /** Resolves with the next transcode ffmpeg run that the spy sees (one not seen so far). */
  function nextTranscode() {
    const seen = new Set(ffmpegSpy.runs().map((r) => r.pid));
    return ffmpegSpy.waitForRun((r) => isTranscode(r) && !seen.has(r.pid));
  }

  before(async () => {
    tools = await mediaTools();
    [source720, source1080] = await Promise.all([
      generateTestSegment(tools, { width: 1280, height: 720, durationSec: 2 }),
      generateTestSegment(tools, { width: 1920, height: 1080, durationSec: 4, audio: false }),
    ]);
    ffmpegSpy = new BinarySpy(tools.ffmpeg.path, "ffmpeg");
  });

  after(() => ffmpegSpy?.dispose());

  describe("one registered daemon (--max-sessions 2 --name)", () => {
    const daemons = new DaemonGroup();
    let hub: TranscoderHub;
    let daemon: TranscoderDaemon;
    let connection: HubConnection;

    before(async () => {
      hub = await new TranscoderHub(SECRET).listen();
      const registered = hub.waitForTranscoder();
      daemon = await daemons.start(hub, ["--max-sessions", "2", "--name", "e2e-transcoder"]);
      connection = await registered;
    });

    after(async () => {
      await daemons.stopAll();
      await hub?.close();
    });

    it("registers with a hello that carries its capacity, capabilities, version and name", async () => {
      const { hello } = connection;
      expect(hello.protocol).to.equal(PROTOCOL_VERSION);
      expect(hello.capacity).to.equal(2);
      expect(hello.name).to.equal("e2e-transcoder");
      expect(hello.version).to.equal(VERSION);
      expect(hello.capabilities.decoders).to.include("h264");
      expect(hello.capabilities.encoders).to.deep.equal(["h264"]);
      expect(hello.capabilities.gpus).to.deep.equal([]);
      expect(hello.capabilities.deterministic).to.equal(true);
      const registered = await daemon.waitForLog(REGISTERED);
      expect(registered.transcoderId).to.equal(connection.id);
      expect(registered.capacity).to.equal(2);
      expect(daemon.output, "the secret is never logged").to.not.include(SECRET);
    });

    it("round-trips a job: each rendition's reported size, frames and hash match its bytes, and ffprobe agrees", async () => {
      const jobId = randomUUID();
      const reply = expectResult(await hub.submit(connection, source720, ["480p", "360p"], 30_000, jobId));
      const { result, renditions } = reply;
      expect(result.jobId).to.equal(jobId);
      expect(result.device).to.equal("cpu");
      expect(result.renditions.map((r) => [r.name, r.width, r.height, r.frames])).to.deep.equal([
        ["480p30", 854, 480, 60],
        ["360p30", 640, 360, 60],
      ]);
      expectConsistent(reply);
      for (const [i, meta] of result.renditions.entries()) {
        expect(meta.durationMs, meta.name).to.be.within(1900, 2100);
        expect(meta.codec, meta.name).to.match(/^avc1\.64/);
        const probed = await ffprobeVideo(tools, renditions[i]);
        expect([probed.codec, probed.width, probed.height, probed.frames], meta.name).to.deep.equal([
          "h264",
          meta.width,
          meta.height,
          meta.frames,
        ]);
      }
    });

    it("refuses a bad segment with a non-retryable error, then still completes a good job", async () => {
      const noise = randomBytes(64 * 1024);
      noise[0] = 0;
      const notTs = expectError(await hub.submit(connection, noise, ["360p"]));
      expect(notTs).to.deep.include({ code: "SEGMENT_NOT_MPEGTS", retryable: false });
      // 188-byte packets on a PID no table announces, random payloads: no PAT, no PMT, no video.
      const shaped = randomBytes(188 * 100);
      for (let i = 0; i < shaped.length; i += 188) shaped.set([0x47, 0x01, 0x00, 0x10], i);
      const garbage = expectError(await hub.submit(connection, shaped, ["360p"]));
      expect(garbage.code).to.match(/^SEGMENT_/);
      expect(garbage.retryable).to.equal(false);
      const badLadder = expectError(await hub.submit(connection, source720, [{ name: "huge", width: 99_999 }]));
      expect(badLadder).to.deep.include({ code: "LADDER_INVALID", retryable: false });

      const good = expectResult(await hub.submit(connection, source720, ["360p"]));
      expectConsistent(good);
      expect(hub.connections.get(connection.id), "still the same connection").to.equal(connection);
      expect(daemon.child.exitCode).to.equal(null);
    });
  });

  describe("daemons of their own", () => {
    const daemons = new DaemonGroup();
    let hub: TranscoderHub;
    let hubClosed: boolean;

    beforeEach(async () => {
      hub = await new TranscoderHub(SECRET).listen();
      hubClosed = false;
    });

    afterEach(async () => {
      await daemons.stopAll();
      if (!hubClosed) await hub.close();
    });

    it("with --max-sessions 1, two jobs sent at once get one result and one TRANSCODER_BUSY", async () => {
      await daemons.start(hub, ["--max-sessions", "1"]);
      const connection = await hub.waitForTranscoder();
      expect(connection.hello.capacity).to.equal(1);
      const [first, second] = [randomUUID(), randomUUID()];
      const replies = await Promise.all([
        hub.submit(connection, source720, ["360p"], 30_000, first),
        hub.submit(connection, source720, ["360p"], 30_000, second),
      ]);
      expectConsistent(expectResult(replies[0]));
      expect(expectError(replies[1])).to.deep.include({ jobId: second, code: "TRANSCODER_BUSY", retryable: true });
      expectResult(await hub.submit(connection, source720, ["240p"])); // the session is free again
    });

    it("re-registers after the connection is cut, without restarting; the job it carried is cancelled and its ffmpeg killed", async () => {
      const daemon = await daemons.start(hub, ["--max-sessions", "1", "--preset", "slow"], spyEnv());
      const first = await hub.waitForTranscoder();
      const jobId = randomUUID();
      const started = nextTranscode();
      const reply = hub.submit(first, source1080, ["1080p", "720p"], 60_000, jobId);
      const ffmpeg = await started;

      const again = once(hub, "transcoder") as Promise<[HubConnection]>;
      first.socket.terminate();
      expect(expectError(await reply).code, "the hub saw the connection go").to.equal("TRANSCODER_DISCONNECTED");

      const cancelled = await daemon.waitForLog((r) => r.jobId === jobId && r.code !== undefined);
      expect(cancelled).to.deep.include({ code: "TRANSCODE_CANCELLED", retryable: true });
      expect(processExists(ffmpeg.pid), "the job's ffmpeg was killed").to.equal(false);

      const [second] = await again;
      expect(second.id).to.not.equal(first.id);
      expect(second.hello.capacity).to.equal(1);
      const registered = await daemon.waitForNthLog(REGISTERED, 2);
      expect(registered.transcoderId).to.equal(second.id);
      expect(daemon.child.exitCode, "the same process").to.equal(null);
      expect(new Set(daemon.logs.map((r) => r.pid))).to.deep.equal(new Set([daemon.pid]));

      const metrics = await daemon.metrics();
      expect(metrics).to.match(/^streamflow_transcoder_jobs_total\{outcome="TRANSCODE_CANCELLED"\} 1$/m);
      expect(metricValue(metrics, "streamflow_transcoder_connected")).to.equal(1);
      expect(metricValue(metrics, "streamflow_transcoder_jobs_in_flight")).to.equal(0);
      const health = await daemon.health();
      expect(health.status).to.equal(200);
      expect(health.body).to.deep.include({ state: "connected", transcoderId: second.id });

      expectConsistent(expectResult(await hub.submit(second, source720, ["240p"])));
    });

    it("counts the redial after a lost connection in streamflow_transcoder_reconnects_total", async () => {
      const daemon = await daemons.start(hub, ["--max-sessions", "1"]);
      const first = await hub.waitForTranscoder();
      expect(metricValue(await daemon.metrics(), "streamflow_transcoder_reconnects_total")).to.equal(0);
      first.socket.terminate();
      await daemon.waitForNthLog(REGISTERED, 2);
      expect(metricValue(await daemon.metrics(), "streamflow_transcoder_reconnects_total")).to.equal(1);
    });

    it("a cancel from the orchestrator kills the job's ffmpeg and answers TRANSCODE_CANCELLED (retryable)", async () => {
      const daemon = await daemons.start(hub, ["--max-sessions", "1", "--preset", "slow"], spyEnv());
      const connection = await hub.waitForTranscoder();
      const jobId = randomUUID();
      const started = nextTranscode();
      const reply = hub.submit(connection, source1080, ["1080p", "720p"], 60_000, jobId);
      const ffmpeg = await started;
      hub.cancel(connection, jobId);
      expect(expectError(await reply)).to.deep.include({ jobId, code: "TRANSCODE_CANCELLED", retryable: true });
      expect(processExists(ffmpeg.pid)).to.equal(false);
      expect(hub.connections.has(connection.id), "the connection stays up").to.equal(true);
      expect(await daemon.metrics()).to.match(/^streamflow_transcoder_jobs_total\{outcome="TRANSCODE_CANCELLED"\} 1$/m);
    });

    it("serves /healthz (200 connected, 503 once the orchestrator is gone) and /metrics", async () => {
      const daemon = await daemons.start(hub, ["--max-sessions", "2"]);
      const connection = await hub.waitForTranscoder();
      expect(daemon.httpUrl).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(daemon.httpUrl).to.not.equal("http://127.0.0.1:0");

      const healthy = await daemon.health();
      expect(healthy.status).to.equal(200);
      expect(healthy.body).to.deep.include({
        ok: true,
        state: "connected",
        transcoderId: connection.id,
        capacity: 2,
        jobsInFlight: 0,
        orchestrator: hub.url,
      });
      expect(JSON.stringify(healthy.body)).to.not.include(SECRET);

      expectError(await hub.submit(connection, Buffer.from("not a segment"), ["360p"]));
      expectResult(await hub.submit(connection, source720, ["240p"]));
      const metrics = await daemon.metrics();
      for (const name of [
        "jobs_total",
        "capacity",
        "connected",
        "jobs_in_flight",
        "job_seconds",
        "pixels_total",
        "reconnects_total",
      ]) {
        expect(metrics, name).to.match(new RegExp(`^# TYPE streamflow_transcoder_${name} `, "m"));
      }
      expect(metrics).to.match(/^streamflow_transcoder_jobs_total\{outcome="SEGMENT_NOT_MPEGTS"\} 1$/m);
      expect(metrics).to.match(/^streamflow_transcoder_jobs_total\{outcome="ok"\} 1$/m);
      expect(metricValue(metrics, "streamflow_transcoder_capacity")).to.equal(2);
      expect(metricValue(metrics, "streamflow_transcoder_connected")).to.equal(1);
      expect(metricValue(metrics, "streamflow_transcoder_jobs_in_flight")).to.equal(0);
      expect(metricValue(metrics, "streamflow_transcoder_pixels_total")).to.equal(426 * 240 * 60);
      expect(metrics, "default process metrics, prefixed").to.match(
        /^streamflow_transcoder_process_cpu_seconds_total /m,
      );
      expect(metrics).to.not.include(SECRET);

      await hub.close();
      hubClosed = true;
      await daemon.waitForLog("disconnected from the orchestrator");
      const unhealthy = await daemon.health();
      expect(unhealthy.status).to.equal(503);
      expect(unhealthy.body.ok).to.equal(false);
      expect(unhealthy.body.state).to.be.oneOf(["waiting", "connecting"]);
      expect(metricValue(await daemon.metrics(), "streamflow_transcoder_connected")).to.equal(0);
    });

    it("on SIGTERM mid-job, sends draining, finishes the job, delivers it complete and exits 0", async () => {
      const daemon = await daemons.start(hub, ["--max-sessions", "2"], spyEnv());
      const connection = await hub.waitForTranscoder();
      const started = nextTranscode();
      const reply = hub.submit(connection, source720, ["720p", "480p"]);
      await started;
      daemon.signal("SIGTERM");

      const done = expectResult(await reply);
      expectConsistent(done);
      expect(done.result.renditions.map((r) => [r.width, r.height, r.frames])).to.deep.equal([
        [1280, 720, 60],
        [854, 480, 60],
      ]);
      expect(connection.messages, "draining came before the result").to.deep.equal(["hello", "draining", "result"]);
      expect(await daemon.exited).to.deep.equal({ code: 0, signal: null });
      const shuttingDown = daemon.logs.find((r) => r.msg === "shutting down");
      expect(shuttingDown).to.deep.include({ signal: "SIGTERM", jobsInFlight: 1 });
    });

    it("with --drain-timeout 0.2, SIGTERM during a long job hands it back as TRANSCODER_SHUTTING_DOWN (retryable) and exits 0", async () => {
      const daemon = await daemons.start(hub, ["--drain-timeout", "0.2", "--preset", "slow"], spyEnv());
      const connection = await hub.waitForTranscoder();
      const jobId = randomUUID();
      const started = nextTranscode();
      const reply = hub.submit(connection, source1080, ["1080p", "720p"], 60_000, jobId);
      const ffmpeg = await started;
      const draining = once(hub, "draining");
      daemon.signal("SIGTERM");
      await draining;

      const offered = expectError(await hub.submit(connection, source720, ["240p"]));
      expect(offered, "no new job while draining").to.deep.include({
        code: "TRANSCODER_SHUTTING_DOWN",
        retryable: true,
      });

      const handedBack = expectError(await reply);
      expect(handedBack).to.deep.include({ jobId, code: "TRANSCODER_SHUTTING_DOWN", retryable: true });
      expect(handedBack.message).to.match(/handed back/i);
      expect(await daemon.exited).to.deep.equal({ code: 0, signal: null });
      expect(processExists(ffmpeg.pid), "the job's ffmpeg was killed").to.equal(false);
      expect(connection.messages).to.deep.equal(["hello", "draining", "error", "error"]);
    });

    it("exits 2 when the orchestrator refuses the secret, and never logs the secret", async () => {
      const wrong = "wrong-secret-" + randomBytes(8).toString("hex");
      const daemon = daemons.spawn(hub, ["--log-level", "trace"], { STREAMFLOW_ORCH_SECRET: wrong });
      expect(await daemon.exited).to.deep.equal({ code: 2, signal: null });
      const fatal = fatalOf(daemon);
      expect(fatal?.msg, daemon.output).to.match(/refused the secret/);
      expect(daemon.output).to.not.include(wrong);
      expect(daemon.output).to.not.include(SECRET);
      expect(hub.connections.size).to.equal(0);
    });

    it("with --nvidia naming a GPU that fails its self-test, warns and transcodes on the CPU", async () => {
      // GPU 15 exists on no machine this suite runs on: the NVDEC/NVENC self-test runs for real and fails.
      const daemon = await daemons.start(hub, ["--nvidia", "15"]);
      const connection = await hub.waitForTranscoder();
      const failed = daemon.logs.find((r) => r.level === 40 && r.gpu === 15);
      expect(failed?.msg, daemon.output).to.match(/self-test failed/);
      const warning = daemon.logs.find((r) => r.level === 40 && r.nvidia === "15");
      expect(warning?.msg, daemon.output).to.match(/no usable NVIDIA GPU.*CPU/);
      expect(connection.hello.capabilities.gpus).to.deep.equal([]);
      const { result } = expectResult(await hub.submit(connection, source720, ["240p"]));
      expect(result.device).to.equal("cpu");
      expect((await daemon.health()).body.gpus).to.deep.equal([]);
    });

    it("exits 1 with a clear error for --nvidia zero", async () => {
      const daemon = daemons.spawn(hub, ["--nvidia", "zero"]);
      expect((await daemon.exited).code).to.equal(1);
      const fatal = fatalOf(daemon);
      expect(fatal?.msg, daemon.output).to.match(/--nvidia expects GPU indexes like "0,1" or "all" \(got "zero"\)/);
      expect(fatal?.code).to.equal("GPU_UNAVAILABLE");
      expect(daemon.logs.some((r) => r.msg === "http listening")).to.equal(false);
      expect(hub.connections.size).to.equal(0);
    });

    it("exits 1 without a secret, naming --orch-secret-file", async () => {
      const daemon = daemons.spawn(hub, [], { STREAMFLOW_ORCH_SECRET: undefined });
      expect((await daemon.exited).code).to.equal(1);
      expect(fatalOf(daemon)?.msg, daemon.output).to.match(/secret is required.*--orch-secret-file/);
      expect(hub.connections.size).to.equal(0);
    });

    it("exits 1 when FFMPEG_PATH points nowhere, naming FFMPEG_PATH", async () => {
      const daemon = daemons.spawn(hub, [], { FFMPEG_PATH: "/nonexistent" });
      expect((await daemon.exited).code).to.equal(1);
      const fatal = fatalOf(daemon);
      expect(fatal?.msg, daemon.output).to.include("FFMPEG_PATH=/nonexistent");
      expect(fatal?.code).to.equal("FFMPEG_NOT_FOUND");
    });

    it("`transcoder --help` exits 0 and lists its flags", async () => {
      const help = daemons.spawnStreamflow(["transcoder", "--help"]);
      expect(await help.exited).to.deep.equal({ code: 0, signal: null });
      for (const flag of [
        "--orch-addr",
        "--orch-secret-file",
        "--max-sessions",
        "--nvidia",
        "--drain-timeout",
        "--http-addr",
        "--preset",
      ]) {
        expect(help.output).to.include(flag);
      }
    });
  });
});
