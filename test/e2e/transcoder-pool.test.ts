/**
 * End to end: real `streamflow transcoder` processes (bin/streamflow.js) registered with the orchestrator's
 * TranscoderPool (offchain/orchestrator/transcoderPool.ts), served on a plain HTTP server on port 0. Capacity from
 * the daemons' hellos, least-loaded dispatch with real transcodes whose hashes check out, a full pool refusing at
 * once, a daemon killed mid-job (the job finishes on the other), a SIGTERM drain, and a bad segment.
 *
 * Each daemon runs ffmpeg through a spy wrapper of its own (FFMPEG_PATH), so a test knows when that daemon's
 * transcode has really started.
 */
import { randomBytes } from "node:crypto";
import { once } from "node:events";

import { expect } from "chai";

import { type MediaTools, mediaTools } from "../../offchain/media/binaries";
import { PRESETS, type Rendition } from "../../offchain/media/ladder";
import { generateTestSegment } from "../../offchain/media/testsrc";
import {
  PoolError,
  type PooledTranscoder,
  type TranscodedSegment,
  type TranscoderPool,
} from "../../offchain/orchestrator/transcoderPool";
import { rejectionOf } from "../support/assertions";
import { BinarySpy, isTranscode, processExists } from "../support/binarySpy";
import { hashOf } from "../support/fakeTranscoder";
import { ffprobeVideo } from "../support/media";
import { REGISTERED, type ServedPool, servePool, startPoolDaemon } from "../support/poolServer";
import { DaemonGroup, type TranscoderDaemon } from "../support/transcoderDaemon";

const SECRET = "e2e-pool-secret-" + randomBytes(6).toString("hex");
const LADDER: Rendition[] = [{ ...PRESETS["360p30"] }, { ...PRESETS["240p30"] }];
const JOB_MS = 30_000;

interface PoolMember {
  daemon: TranscoderDaemon;
  /** The id the pool gave it (from its "registered" log line). */
  id: string;
  spy: BinarySpy;
}

/** Every rendition's announced hash is the keccak of its bytes, and the ladder came back in order. */
function expectChecksOut(done: TranscodedSegment): void {
  const { result, renditions } = done;
  expect(result.renditions.map((r) => [r.name, r.width, r.height])).to.deep.equal([
    ["360p30", 640, 360],
    ["240p30", 426, 240],
  ]);
  expect(renditions).to.have.length(2);
  result.renditions.forEach((meta, i) => {
    expect(meta.hash, meta.name).to.equal(hashOf(renditions[i]));
    expect(meta.bytes, meta.name).to.equal(renditions[i].length);
    expect(meta.frames, meta.name).to.equal(30);
    expect(meta.pixels, meta.name).to.equal(meta.width * meta.height * meta.frames);
  });
}

async function poolErrorOf(promise: Promise<unknown>): Promise<PoolError> {
  const error = await rejectionOf(promise);
  expect(error).to.be.instanceOf(PoolError);
  return error as PoolError;
}

/** The promise, with its rejection marked as handled (a failing test may leave it behind). */
function started<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

describe("e2e: streamflow transcoder daemons in the orchestrator's TranscoderPool", function () {
  this.timeout(60_000);

  let tools: MediaTools;
  /** 1280x720, 30 fps, 1 s, H.264 + AAC. */
  let source: Buffer;
  const daemons = new DaemonGroup();
  const spies: BinarySpy[] = [];
  /** ffmpeg processes a SIGKILLed daemon left behind. */
  const orphans: number[] = [];

  before(async () => {
    tools = await mediaTools();
    source = await generateTestSegment(tools, { width: 1280, height: 720, durationSec: 1 });
  });

  /** Starts `streamflow transcoder --max-sessions 1` daemons at once; resolves when every one has registered. */
  async function startMembers(served: ServedPool, names: string[]): Promise<PoolMember[]> {
    const joined = new Promise<void>((resolve) => {
      let count = 0;
      const onJoined = () => {
        if (++count < names.length) return;
        served.pool.off("joined", onJoined);
        resolve();
      };
      served.pool.on("joined", onJoined);
    });
    const members = await Promise.all(
      names.map(async (name) => {
        const spy = new BinarySpy(tools.ffmpeg.path, "ffmpeg");
        spies.push(spy);
        const daemon = await startPoolDaemon(daemons, served, ["--max-sessions", "1", "--name", name], {
          FFMPEG_PATH: spy.path,
        });
        const registered = await daemon.waitForLog(REGISTERED);
        return { daemon, id: String(registered.transcoderId), spy };
      }),
    );
    await joined;
    return members;
  }

  async function cleanUp(): Promise<void> {
    await daemons.stopAll();
    for (const pid of orphans.splice(0)) if (processExists(pid)) process.kill(pid, "SIGKILL");
    for (const spy of spies.splice(0)) spy.dispose();
  }

  const inFlightOf = (pool: TranscoderPool) => Object.fromEntries(pool.transcoders.map((t) => [t.id, t.inFlight]));

  describe("two daemons with --max-sessions 1, kept through the tests", () => {
    let served: ServedPool;
    let members: PoolMember[];

    before(async () => {
      served = await servePool({ secret: SECRET });
      members = await startMembers(served, ["pool-a", "pool-b"]);
    });

    after(async () => {
      await cleanUp();
      await served?.close();
    });

    it("registers both (capacity 2); two concurrent jobs go to different transcoders and check out; a third is refused", async () => {
      const { pool } = served;
      expect(pool.capacity).to.equal(2);
      expect(pool.transcoders.map((t) => [t.id, t.name, t.capacity, t.inFlight, t.draining])).to.have.deep.members([
        [members[0].id, "pool-a", 1, 0, false],
        [members[1].id, "pool-b", 1, 0, false],
      ]);

      const jobs = [started(pool.transcode(source, LADDER, JOB_MS)), started(pool.transcode(source, LADDER, JOB_MS))];
      expect(pool.inFlight).to.equal(2);
      const third = await poolErrorOf(pool.transcode(source, LADDER, JOB_MS));
      expect(third).to.deep.include({ code: "NO_TRANSCODER_CAPACITY", inputError: false });

      const done = await Promise.all(jobs);
      expect(done.map((d) => d.transcoderId)).to.have.members(members.map((m) => m.id));
      for (const segment of done) {
        expect(segment.attempts).to.equal(1);
        expect(segment.result.device).to.equal("cpu");
        expectChecksOut(segment);
      }
      const probed = await ffprobeVideo(tools, done[0].renditions[1]);
      expect([probed.codec, probed.width, probed.height, probed.frames]).to.deep.equal(["h264", 426, 240, 30]);
      expect(pool.inFlight).to.equal(0);
    });

    it("refuses a bad segment as an input error without re-dispatching it, and both daemons keep serving", async () => {
      const { pool } = served;
      const events: { transcoderId: string; ok: boolean; code?: string }[] = [];
      const onJob = (event: (typeof events)[number]) => events.push(event);
      const left: PooledTranscoder[] = [];
      const onLeft = (view: PooledTranscoder) => left.push(view);
      pool.on("job", onJob);
      pool.on("left", onLeft);
      try {
        const noise = randomBytes(64 * 1024);
        noise[0] = 0;
        const error = await poolErrorOf(pool.transcode(noise, LADDER, JOB_MS));
        expect(error).to.deep.include({ code: "SEGMENT_NOT_MPEGTS", inputError: true });
        expect(events).to.have.length(1);
        expect(events[0]).to.deep.include({ ok: false, code: "SEGMENT_NOT_MPEGTS" });

        const done = await Promise.all([
          pool.transcode(source, LADDER, JOB_MS),
          pool.transcode(source, LADDER, JOB_MS),
        ]);
        expect(done.map((d) => d.transcoderId)).to.have.members(members.map((m) => m.id));
        done.forEach(expectChecksOut);
        expect(left).to.deep.equal([]);
        expect(pool.transcoders.map((t) => t.id)).to.have.members(members.map((m) => m.id));
        for (const { daemon } of members) expect(daemon.child.exitCode).to.equal(null);
      } finally {
        pool.off("job", onJob);
        pool.off("left", onLeft);
      }
    });
  });

  describe("daemons of their own", () => {
    let served: ServedPool;

    beforeEach(async () => {
      served = await servePool({ secret: SECRET });
    });

    afterEach(async () => {
      await cleanUp();
      await served.close();
    });

    it("finishes a job on the other transcoder (attempts 2) when its daemon is SIGKILLed mid-transcode", async () => {
      const { pool } = served;
      const members = await startMembers(served, ["victim-or-survivor-1", "victim-or-survivor-2"]);
      const transcoding = started(pool.transcode(source, LADDER, JOB_MS));
      const busy = inFlightOf(pool);
      const victim = members.find((m) => busy[m.id] === 1)!;
      const survivor = members.find((m) => m !== victim)!;
      expect(busy[survivor.id]).to.equal(0);

      const ffmpeg = await victim.spy.waitForRun(isTranscode);
      orphans.push(ffmpeg.pid);
      const left = once(pool, "left") as Promise<[PooledTranscoder]>;
      victim.daemon.signal("SIGKILL");

      const done = await transcoding;
      expect(done).to.deep.include({ transcoderId: survivor.id, attempts: 2 });
      expectChecksOut(done);
      expect(survivor.spy.runs().filter(isTranscode)).to.have.length(1);

      expect((await left)[0].id).to.equal(victim.id);
      expect(pool.capacity).to.equal(1);
      expect(pool.transcoders.map((t) => t.id)).to.deep.equal([survivor.id]);
      expect(await victim.daemon.exited).to.deep.equal({ code: null, signal: "SIGKILL" });
      expect(survivor.daemon.child.exitCode).to.equal(null);
    });

    it("a daemon sent SIGTERM while idle drains, then leaves; capacity excludes it from the drain on", async () => {
      const { pool } = served;
      const [leaving, staying] = await startMembers(served, ["leaving", "staying"]);
      expect(pool.capacity).to.equal(2);
      const seen: [string, number][] = [];
      const onDraining = (view: PooledTranscoder) => seen.push([view.id, pool.capacity]);
      pool.on("draining", onDraining);
      const left = once(pool, "left") as Promise<[PooledTranscoder]>;
      leaving.daemon.signal("SIGTERM");

      expect((await left)[0]).to.deep.include({ id: leaving.id, draining: true });
      pool.off("draining", onDraining);
      expect(seen, "draining came first, and capacity dropped with it").to.deep.equal([[leaving.id, 1]]);
      expect(pool.capacity).to.equal(1);
      expect(pool.transcoders.map((t) => t.id)).to.deep.equal([staying.id]);
      expect(await leaving.daemon.exited).to.deep.equal({ code: 0, signal: null });
    });
  });
});
