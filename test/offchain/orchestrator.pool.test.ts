/**
 * The orchestrator's TranscoderPool (offchain/orchestrator/transcoderPool.ts, docs/transcoder-protocol.md "The
 * orchestrator's pool"), in process: checkResult on its own, then the pool served on a plain HTTP server with fake
 * transcoders (test/support/fakeTranscoder.ts) that inject every fault the pool must survive: refused secrets and
 * protocols, least-loaded dispatch, a full pool, retryable and non-retryable errors, results that do not check out,
 * silence past the deadline, late answers, missed pings, disconnects, and closing.
 */
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { performance } from "node:perf_hooks";

import { expect } from "chai";

import { PRESETS, type Rendition } from "../../offchain/media/ladder";
import {
  MAX_ATTEMPTS,
  PoolError,
  type PoolOptions,
  type PooledTranscoder,
  type TranscodedSegment,
  type TranscoderPool,
  checkResult,
} from "../../offchain/orchestrator/transcoderPool";
import { PROTOCOL_VERSION, encodeFrame } from "../../offchain/transcoder/protocol";
import { rejectionOf } from "../support/assertions";
import {
  CPU_CAPABILITIES,
  type DialEnd,
  FakeTranscoder,
  dial,
  endOf,
  fakeResult,
  hashOf,
} from "../support/fakeTranscoder";
import { type ServedPool, servePool } from "../support/poolServer";

const SECRET = "pool-test-secret-" + randomBytes(6).toString("hex");
const LADDER: Rendition[] = [{ ...PRESETS["360p30"] }, { ...PRESETS["240p30"] }];
/** Long enough that no test meets it unless it means to. */
const LONG_MS = 20_000;

interface JobEvent {
  transcoderId: string;
  ok: boolean;
  code?: string;
  attempts: number;
}

const segment = (n: number) => Buffer.from(`source segment ${n}`);

/** The promise, with its rejection marked as handled (a test awaits it later, or a failing test leaves it behind). */
function started<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/** Whether `promise` has settled before the event loop gets to its next turn (so: without waiting for anything). */
async function settlesAtOnce(promise: Promise<unknown>): Promise<boolean> {
  const pending = Symbol("pending");
  const turn = new Promise((resolve) => setImmediate(() => resolve(pending)));
  const settled = promise.then(
    () => "settled",
    () => "settled",
  );
  const first = await Promise.race([settled, turn]);
  return first !== pending;
}

async function poolErrorOf(promise: Promise<unknown>): Promise<PoolError> {
  const error = await rejectionOf(promise);
  expect(error).to.be.instanceOf(PoolError);
  return error as PoolError;
}

function recordJobs(pool: TranscoderPool): JobEvent[] {
  const events: JobEvent[] = [];
  pool.on("job", (event: JobEvent) => events.push(event));
  return events;
}

const inFlightOf = (pool: TranscoderPool) =>
  Object.fromEntries(pool.transcoders.map((t) => [t.name ?? t.id, t.inFlight]));

describe("orchestrator: checkResult", () => {
  const job = { jobId: "job-1", renditions: LADDER };

  it("accepts a result with one rendition per requested one, in order, each hashing to its bytes", () => {
    const { header, renditions } = fakeResult(job);
    expect(checkResult(LADDER, header, renditions)).to.equal(undefined);
  });

  it("refuses too few or too many renditions", () => {
    const { header, renditions } = fakeResult(job);
    const fewer = { ...header, renditions: header.renditions.slice(0, 1) };
    expect(checkResult(LADDER, fewer, renditions.slice(0, 1))).to.equal("1 renditions returned for 2 requested");
    const extra = fakeResult({ jobId: "job-1", renditions: [...LADDER, { ...PRESETS["720p30"] }] });
    expect(checkResult(LADDER, extra.header, extra.renditions)).to.equal("3 renditions returned for 2 requested");
  });

  it("refuses a rendition under another name, or the right renditions in another order", () => {
    const renamed = fakeResult(job);
    renamed.header.renditions[1].name = "720p30";
    expect(checkResult(LADDER, renamed.header, renamed.renditions)).to.equal('rendition 1 is "720p30", not "240p30"');
    const { header, renditions } = fakeResult(job);
    const reordered = { ...header, renditions: [...header.renditions].reverse() };
    expect(checkResult(LADDER, reordered, [...renditions].reverse())).to.equal('rendition 0 is "240p30", not "360p30"');
  });

  it("refuses a rendition whose bytes do not hash to its announced hash (one byte flipped, or bytes swapped)", () => {
    const flipped = fakeResult(job);
    flipped.renditions[1][3] ^= 0x01;
    expect(checkResult(LADDER, flipped.header, flipped.renditions)).to.equal(
      "rendition 240p30 does not match its hash",
    );
    const swapped = fakeResult(job);
    expect(checkResult(LADDER, swapped.header, [swapped.renditions[1], swapped.renditions[0]])).to.equal(
      "rendition 360p30 does not match its hash",
    );
  });

  it("refuses a rendition whose pixels are not width x height x frames", () => {
    const { header, renditions } = fakeResult(job);
    header.renditions[0].pixels += 1;
    expect(checkResult(LADDER, header, renditions)).to.equal("rendition 360p30 miscounts its pixels");
    const more = fakeResult(job);
    more.header.renditions[1].frames += 1; // more frames claimed than the pixels charged for
    expect(checkResult(LADDER, more.header, more.renditions)).to.equal("rendition 240p30 miscounts its pixels");
  });
});

describe("orchestrator: TranscoderPool with fake transcoders", function () {
  this.timeout(15_000);

  const pools: ServedPool[] = [];
  const fakes: FakeTranscoder[] = [];

  async function usePool(options: Partial<PoolOptions> = {}): Promise<ServedPool> {
    const served = await servePool({ secret: SECRET, graceMs: 100, ...options });
    pools.push(served);
    return served;
  }

  /** A fake that has been welcomed, and whose "joined" the pool has emitted. */
  async function connectFake(served: ServedPool, capacity: number, name?: string): Promise<FakeTranscoder> {
    const joined = once(served.pool, "joined") as Promise<[PooledTranscoder]>;
    const fake = await FakeTranscoder.connect(served.url, { secret: SECRET, capacity, name });
    fakes.push(fake);
    const [view] = await joined;
    expect(view.id).to.equal(fake.transcoderId);
    return fake;
  }

  function dialed(served: ServedPool, options: Parameters<typeof dial>[1] = { secret: SECRET }) {
    const socket = dial(served.url, options);
    return { socket, end: endOf(socket) };
  }

  afterEach(async () => {
    await Promise.all(pools.splice(0).map((served) => served.close()));
    for (const fake of fakes.splice(0)) fake.terminate();
  });

  describe("who may connect", () => {
    it("refuses a wrong or missing secret with HTTP 401 before the upgrade, and emits refused", async () => {
      const served = await usePool();
      const { pool } = served;
      const refused: unknown[] = [];
      pool.on("refused", (address) => refused.push(address));
      const attempts: (string | undefined)[] = ["wrong-secret", undefined, SECRET + "x", SECRET.slice(0, -1) + "!"];
      for (const secret of attempts) {
        const end = await dialed(served, { secret }).end;
        expect(end, `secret ${secret}`).to.deep.equal({ kind: "http", status: 401 } satisfies DialEnd);
      }
      expect(refused).to.deep.equal(attempts.map(() => "127.0.0.1"));
      expect(pool.transcoders).to.deep.equal([]);
      expect(pool.capacity).to.equal(0);
    });

    it("closes a connection without the subprotocol (or with another one) with 4002", async () => {
      const served = await usePool();
      let joined = 0;
      served.pool.on("joined", () => joined++);
      expect(await dialed(served, { secret: SECRET, subprotocol: null }).end).to.deep.include({
        kind: "close",
        code: 4002,
      });
      const other = await dialed(served, { secret: SECRET, subprotocol: "streamflow-transcoder.v2" }).end;
      expect(other).to.deep.include({ kind: "close", code: 4002 });
      expect((other as { reason: string }).reason).to.include("streamflow-transcoder.v1");
      expect(joined).to.equal(0);
    });

    it("closes with 4002 on a hello for a protocol version other than 1", async () => {
      const served = await usePool();
      let joined = 0;
      served.pool.on("joined", () => joined++);
      for (const protocol of [PROTOCOL_VERSION + 1, 0]) {
        const { socket, end } = dialed(served);
        await once(socket, "open");
        socket.send(encodeFrame({ type: "hello", protocol, capacity: 2, capabilities: CPU_CAPABILITIES }));
        expect(await end, `protocol ${protocol}`).to.deep.include({ kind: "close", code: 4002 });
      }
      expect(joined).to.equal(0);
      expect(served.pool.capacity).to.equal(0);
    });

    it("lets nothing that follows a refused first message join: the connection is on its way out", async () => {
      // BUG (transcoderPool.ts, the "message" handler in accept()): after closing with 4002 (or 4000) because of the
      // first message, the pool still handles the frames already on their way; a second hello registers a
      // transcoder on the closing socket ("joined", capacity counts it) and jobs are dispatched to it, failing with
      // TRANSCODER_DISCONNECTED ("WebSocket is not open: readyState 2 (CLOSING)") instead of a 503 at once.
      const served = await usePool();
      let joined = 0;
      served.pool.on("joined", () => joined++);
      const hello = (protocol: number) =>
        encodeFrame({ type: "hello", protocol, capacity: 3, capabilities: CPU_CAPABILITIES });
      const cases: [string, Buffer, number][] = [
        ["a hello for protocol 2", hello(PROTOCOL_VERSION + 1), 4002],
        ["draining before hello", encodeFrame({ type: "draining" }), 4000],
      ];
      for (const [what, first, code] of cases) {
        const { socket, end } = dialed(served);
        await once(socket, "open");
        socket.send(first);
        socket.send(hello(PROTOCOL_VERSION)); // sent before the pool's close can arrive
        expect(await end, what).to.deep.include({ kind: "close", code });
        // One TCP stream, in order: the pool read the second hello before the close handshake ended.
        expect(joined, `${what}, then a good hello: joined`).to.equal(0);
      }
      const refused = await poolErrorOf(served.pool.transcode(segment(1), LADDER, 1_000));
      expect(refused.code).to.equal("NO_TRANSCODER_CAPACITY");
    });

    it("closes with 4000 on a text frame, garbage, or a first message that is not hello", async () => {
      const served = await usePool();
      let joined = 0;
      served.pool.on("joined", () => joined++);
      const notJson = Buffer.concat([Buffer.from([0, 0, 0, 5]), Buffer.from("{{{{{")]);
      const hugeHeader = Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
      const cases: [string, string | Buffer, RegExp][] = [
        ["a text frame", "hello", /binary frames only/],
        ["a header that is not JSON", notJson, /not JSON/],
        ["a bad header length", hugeHeader, /header length/],
        ["three bytes", Buffer.from([1, 2, 3]), /shorter/],
        ["draining before hello", encodeFrame({ type: "draining" }), /first message must be hello/],
      ];
      for (const [what, frame, reason] of cases) {
        const { socket, end } = dialed(served);
        await once(socket, "open");
        socket.send(frame);
        const closed = await end;
        expect(closed, what).to.deep.include({ kind: "close", code: 4000 });
        expect((closed as { reason: string }).reason, what).to.match(reason);
      }
      expect(joined).to.equal(0);
    });

    it("drops a registered transcoder that breaks the protocol (4000), and only its job moves to another", async () => {
      const served = await usePool();
      const { pool } = served;
      const rude = await connectFake(served, 1, "rude");
      const polite = await connectFake(served, 2, "polite");
      const events = recordJobs(pool);
      const first = started(pool.transcode(segment(1), LADDER, LONG_MS)); // rude: longest connected
      const second = started(pool.transcode(segment(2), LADDER, LONG_MS)); // polite
      await Promise.all([rude.job(1), polite.job(1)]);
      const left = once(pool, "left") as Promise<[PooledTranscoder]>;
      rude.socket.send("a text frame after welcome");
      expect(await rude.closed).to.deep.equal({ code: 4000, reason: "binary frames only" });
      expect((await left)[0].id).to.equal(rude.transcoderId);
      const moved = await polite.job(2);
      expect(moved.segment).to.deep.equal(segment(1));
      polite.answer(polite.jobs[0]);
      polite.answer(moved);
      expect((await first).attempts).to.equal(2);
      expect((await second).attempts).to.equal(1);
      expect(events.filter((e) => !e.ok)).to.deep.equal([
        { transcoderId: rude.transcoderId, ok: false, code: "TRANSCODER_DISCONNECTED", attempts: 1 },
      ]);
      expect(pool.inFlight).to.equal(0);
    });
  });

  describe("capacity and dispatch", () => {
    it("has the sum of the hellos' capacities, less a transcoder that drains or disconnects", async () => {
      const served = await usePool();
      const { pool } = served;
      expect(pool.capacity).to.equal(0);
      const two = await connectFake(served, 2, "two");
      const three = await connectFake(served, 3, "three");
      const one = await connectFake(served, 1, "one");
      expect(pool.capacity).to.equal(6);
      expect(pool.transcoders.map((t) => [t.name, t.capacity, t.inFlight, t.draining])).to.deep.equal([
        ["two", 2, 0, false],
        ["three", 3, 0, false],
        ["one", 1, 0, false],
      ]);
      expect(pool.transcoders[1].capabilities).to.deep.equal(CPU_CAPABILITIES);

      const draining = once(pool, "draining") as Promise<[PooledTranscoder]>;
      three.drain();
      expect((await draining)[0]).to.deep.include({ id: three.transcoderId, draining: true });
      expect(pool.capacity).to.equal(3);
      expect(pool.transcoders.find((t) => t.id === three.transcoderId)?.draining).to.equal(true);

      const left = once(pool, "left") as Promise<[PooledTranscoder]>;
      one.terminate();
      expect((await left)[0].id).to.equal(one.transcoderId);
      expect(pool.capacity).to.equal(2);
      expect(pool.transcoders.map((t) => t.name)).to.deep.equal(["two", "three"]);

      // The draining transcoder has room on paper but gets nothing: two jobs fill "two", a third is refused.
      const jobs = [1, 2].map((n) => started(pool.transcode(segment(n), LADDER, LONG_MS)));
      const refused = await poolErrorOf(pool.transcode(segment(3), LADDER, LONG_MS));
      expect(refused.code).to.equal("NO_TRANSCODER_CAPACITY");
      expect(inFlightOf(pool)).to.deep.equal({ two: 2, three: 0 });
      for (const job of await Promise.all([two.job(1), two.job(2)])) two.answer(job);
      expect((await Promise.all(jobs)).map((r) => r.transcoderId)).to.deep.equal([two.transcoderId, two.transcoderId]);
      expect(three.jobs).to.deep.equal([]);
    });

    it("sends each job to the least-loaded transcoder (share of capacity in use, then fewer jobs, then longest connected)", async () => {
      const served = await usePool();
      const { pool } = served;
      const big = await connectFake(served, 2, "big"); // connected first
      const small = await connectFake(served, 1, "small");

      const first = started(pool.transcode(segment(1), LADDER, LONG_MS)); // 0/2 vs 0/1: the longest connected
      expect(inFlightOf(pool)).to.deep.equal({ big: 1, small: 0 });
      const second = started(pool.transcode(segment(2), LADDER, LONG_MS)); // 1/2 vs 0/1
      expect(inFlightOf(pool)).to.deep.equal({ big: 1, small: 1 });
      const third = started(pool.transcode(segment(3), LADDER, LONG_MS)); // 1/2 vs 1/1 (full)
      expect(inFlightOf(pool)).to.deep.equal({ big: 2, small: 1 });
      expect(pool.inFlight).to.equal(3);

      const [b1, b2, s1] = await Promise.all([big.job(1), big.job(2), small.job(1)]);
      expect([b1.segment, b2.segment, s1.segment]).to.deep.equal([segment(1), segment(3), segment(2)]);
      expect(b1.header).to.deep.include({ type: "job", renditions: LADDER, timeoutMs: LONG_MS });
      for (const job of [b1, b2]) big.answer(job);
      small.answer(s1);
      const results = await Promise.all([first, second, third]);
      expect(results.map((r) => [r.transcoderId, r.attempts])).to.deep.equal([
        [big.transcoderId, 1],
        [small.transcoderId, 1],
        [big.transcoderId, 1],
      ]);
      expect(results[1].renditions).to.deep.equal(fakeResult(s1.header).renditions);
      expect(pool.inFlight).to.equal(0);
    });

    it("breaks a tie in share by fewer jobs before the longest connected", async () => {
      const served = await usePool();
      const { pool } = served;
      const four = await connectFake(served, 4, "four"); // connected first
      const two = await connectFake(served, 2, "two");
      const order: string[] = [];
      const jobs: Promise<TranscodedSegment>[] = [];
      for (let n = 1; n <= 6; n++) {
        const before = inFlightOf(pool);
        jobs.push(started(pool.transcode(segment(n), LADDER, LONG_MS)));
        const after = inFlightOf(pool);
        order.push(Object.keys(after).find((name) => after[name] !== before[name])!);
      }
      // four vs two, share in use before each job: 0/4 = 0/2 (four: longest connected); 1/4 > 0/2 (two);
      // 1/4 < 1/2 (four); 2/4 = 1/2, and two holds fewer jobs (two, although four has been connected longer);
      // two is full (four); two is full (four).
      expect(order).to.deep.equal(["four", "two", "four", "two", "four", "four"]);
      const held = [...(await Promise.all([1, 2, 3, 4].map((n) => four.job(n))))];
      held.push(...(await Promise.all([1, 2].map((n) => two.job(n)))));
      for (const job of held) (four.jobs.includes(job) ? four : two).answer(job);
      expect((await Promise.all(jobs)).every((r) => r.attempts === 1)).to.equal(true);
    });

    it("refuses at once with NO_TRANSCODER_CAPACITY when no transcoder has room (no waiting)", async () => {
      const served = await usePool();
      const { pool } = served;
      const empty = pool.transcode(segment(1), LADDER, LONG_MS);
      expect(await settlesAtOnce(empty), "an empty pool").to.equal(true);
      const none = await poolErrorOf(empty);
      expect(none).to.deep.include({ code: "NO_TRANSCODER_CAPACITY", inputError: false });
      expect(none.message).to.match(/no transcoder has room/i);

      const only = await connectFake(served, 1, "only");
      const events = recordJobs(pool);
      const held = started(pool.transcode(segment(2), LADDER, LONG_MS));
      const full = pool.transcode(segment(3), LADDER, LONG_MS);
      expect(await settlesAtOnce(full), "a full pool").to.equal(true);
      expect((await poolErrorOf(full)).code).to.equal("NO_TRANSCODER_CAPACITY");
      expect(pool.inFlight).to.equal(1);
      only.answer(await only.job(1));
      expect((await held).attempts).to.equal(1);
      expect(only.jobs).to.have.length(1);
      expect(events).to.deep.equal([{ transcoderId: only.transcoderId, ok: true, attempts: 1 }]);
    });
  });

  describe("re-dispatch", () => {
    it("gives a job answered with a retryable error to another transcoder (attempts 2)", async () => {
      const served = await usePool();
      const { pool } = served;
      const flaky = await connectFake(served, 1, "flaky");
      const steady = await connectFake(served, 1, "steady");
      steady.onJob = (job) => steady.answer(job);
      const events = recordJobs(pool);
      const transcoding = pool.transcode(segment(1), LADDER, LONG_MS);
      flaky.fail(await flaky.job(1), "TRANSCODE_FAILED", true);
      const done = await transcoding;
      expect(done).to.deep.include({ transcoderId: steady.transcoderId, attempts: 2 });
      const again = steady.jobs[0];
      expect(again.segment).to.deep.equal(segment(1));
      expect(again.header.jobId).to.not.equal(flaky.jobs[0].header.jobId);
      expect(done.result.jobId).to.equal(again.header.jobId);
      done.renditions.forEach((bytes, i) => expect(done.result.renditions[i].hash).to.equal(hashOf(bytes)));
      expect(events).to.deep.equal([
        { transcoderId: flaky.transcoderId, ok: false, code: "TRANSCODE_FAILED", attempts: 1 },
        { transcoderId: steady.transcoderId, ok: true, attempts: 2 },
      ]);
      expect(pool.inFlight).to.equal(0);
    });

    it("does not retry a non-retryable error: PoolError with inputError, no second dispatch", async () => {
      const served = await usePool();
      const { pool } = served;
      const first = await connectFake(served, 1, "first");
      const other = await connectFake(served, 1, "other");
      other.onJob = (job) => other.answer(job);
      const events = recordJobs(pool);
      const transcoding = pool.transcode(segment(1), LADDER, LONG_MS);
      first.fail(await first.job(1), "SEGMENT_NOT_MPEGTS", false, "The segment is not MPEG-TS.");
      const error = await poolErrorOf(transcoding);
      expect(error).to.deep.include({
        code: "SEGMENT_NOT_MPEGTS",
        message: "The segment is not MPEG-TS.",
        inputError: true,
      });
      expect(events).to.deep.equal([
        { transcoderId: first.transcoderId, ok: false, code: "SEGMENT_NOT_MPEGTS", attempts: 1 },
      ]);
      expect(pool.inFlight).to.equal(0);
      expect(other.jobs).to.deep.equal([]);
    });

    it("treats a result that does not check out as TRANSCODER_BAD_RESULT and re-dispatches the job", async () => {
      const served = await usePool();
      const { pool } = served;
      const liar = await connectFake(served, 1, "liar");
      const honest = await connectFake(served, 1, "honest");
      liar.onJob = (job) => liar.answerTampered(job);
      honest.onJob = (job) => honest.answer(job);
      const events = recordJobs(pool);
      const done = await pool.transcode(segment(1), LADDER, LONG_MS);
      expect(done).to.deep.include({ transcoderId: honest.transcoderId, attempts: 2 });
      expect(events.map((e) => [e.transcoderId, e.code])).to.deep.equal([
        [liar.transcoderId, "TRANSCODER_BAD_RESULT"],
        [honest.transcoderId, undefined],
      ]);
    });

    it("fails with TRANSCODER_BAD_RESULT (not an input error) when both dispatches return results that do not check out", async () => {
      const served = await usePool();
      const { pool } = served;
      const liars = [await connectFake(served, 1, "liar-1"), await connectFake(served, 1, "liar-2")];
      for (const liar of liars) liar.onJob = (job) => liar.answerTampered(job);
      const error = await poolErrorOf(pool.transcode(segment(1), LADDER, LONG_MS));
      expect(error).to.deep.include({ code: "TRANSCODER_BAD_RESULT", inputError: false });
      expect(error.message).to.equal("Transcoder liar-2: rendition 360p30 does not match its hash.");
      expect(liars.map((l) => l.jobs.length)).to.deep.equal([1, 1]);
    });

    it("cancels a job unanswered past timeoutMs + graceMs on its transcoder and gives it to another", async () => {
      const served = await usePool({ graceMs: 100 });
      const { pool } = served;
      const silent = await connectFake(served, 1, "silent");
      const steady = await connectFake(served, 1, "steady");
      steady.onJob = (job) => steady.answer(job);
      const events = recordJobs(pool);
      const start = performance.now();
      const transcoding = started(pool.transcode(segment(1), LADDER, 300));
      const held = await silent.job(1);
      expect(held.header.timeoutMs).to.equal(300);
      await silent.cancelled(held.header.jobId);
      expect(performance.now() - start, "cancelled after timeoutMs + graceMs").to.be.at.least(395);
      const done = await transcoding;
      expect(done).to.deep.include({ transcoderId: steady.transcoderId, attempts: 2 });
      expect(steady.jobs.map((j) => j.header.timeoutMs)).to.deep.equal([300]);
      expect(events[0]).to.deep.equal({
        transcoderId: silent.transcoderId,
        ok: false,
        code: "TRANSCODER_TIMEOUT",
        attempts: 1,
      });
      expect(silent.cancels).to.deep.equal([held.header.jobId]);
    });

    it("ignores a late answer after a timeout (no crash, in-flight counts right, the transcoder stays)", async () => {
      const served = await usePool({ graceMs: 100 });
      const { pool } = served;
      const slow = await connectFake(served, 1, "slow");
      const steady = await connectFake(served, 1, "steady");
      steady.onJob = (job) => steady.answer(job);
      const events = recordJobs(pool);
      const transcoding = started(pool.transcode(segment(1), LADDER, 200));
      const late = await slow.job(1);
      await slow.cancelled(late.header.jobId);
      const done = await transcoding;
      expect(done.transcoderId).to.equal(steady.transcoderId);

      slow.answer(late); // a result that checks out, too late
      slow.answerTampered(late);
      slow.fail(late, "TRANSCODE_CANCELLED", true);
      slow.fail(late, "SEGMENT_NOT_MPEGTS", false);
      // Messages on one connection are handled in order: once "draining" is seen, the late answers have been too.
      const draining = once(pool, "draining");
      slow.drain();
      await draining;
      expect(pool.inFlight).to.equal(0);
      expect(inFlightOf(pool)).to.deep.equal({ slow: 0, steady: 0 });
      expect(events).to.have.length(2);
      expect(done.renditions).to.deep.equal(fakeResult(steady.jobs[0].header).renditions);

      // The slow one is still connected: the next job goes to steady (slow drains), and answering it works.
      expect((await pool.transcode(segment(2), LADDER, LONG_MS)).attempts).to.equal(1);
      expect(pool.transcoders.map((t) => t.name)).to.deep.equal(["slow", "steady"]);
    });

    it("never dispatches one job more than twice", async () => {
      const served = await usePool();
      const { pool } = served;
      const all = [
        await connectFake(served, 1, "a"),
        await connectFake(served, 1, "b"),
        await connectFake(served, 1, "c"),
      ];
      for (const fake of all) fake.onJob = (job) => fake.fail(job, "TRANSCODE_FAILED", true);
      const events = recordJobs(pool);
      const error = await poolErrorOf(pool.transcode(segment(1), LADDER, LONG_MS));
      expect(MAX_ATTEMPTS).to.equal(2);
      expect(error).to.deep.include({
        code: "TRANSCODE_FAILED",
        message: "TRANSCODE_FAILED from b",
        inputError: false,
      });
      expect(events.map((e) => [e.transcoderId, e.attempts])).to.deep.equal([
        [all[0].transcoderId, 1],
        [all[1].transcoderId, 2],
      ]);
      expect(all.map((f) => f.jobs.length)).to.deep.equal([1, 1, 0]);
      expect(pool.inFlight).to.equal(0);
    });

    it("re-dispatches a job whose transcoder disconnects; the other transcoders' jobs carry on", async () => {
      const served = await usePool();
      const { pool } = served;
      const leaving = await connectFake(served, 1, "leaving");
      const staying = await connectFake(served, 2, "staying");
      const first = started(pool.transcode(segment(1), LADDER, LONG_MS));
      const second = started(pool.transcode(segment(2), LADDER, LONG_MS));
      await Promise.all([leaving.job(1), staying.job(1)]);
      const left = once(pool, "left");
      leaving.terminate();
      await left;
      const moved = await staying.job(2);
      expect(moved.segment).to.deep.equal(segment(1));
      staying.answer(staying.jobs[0]);
      staying.answer(moved);
      expect(await Promise.all([first, second]).then((r) => r.map((s) => s.attempts))).to.deep.equal([2, 1]);
      expect(pool.capacity).to.equal(2);
    });

    it("lets a re-dispatch wait for room: when the only other transcoder frees up, the retry goes there", async () => {
      const served = await usePool();
      const { pool } = served;
      const flaky = await connectFake(served, 1, "flaky");
      const busy = await connectFake(served, 1, "busy");
      const events = recordJobs(pool);
      const retried = started(pool.transcode(segment(1), LADDER, LONG_MS)); // flaky
      const holding = started(pool.transcode(segment(2), LADDER, LONG_MS)); // busy
      const [failing, held] = await Promise.all([flaky.job(1), busy.job(1)]);
      const failed = once(pool, "job");
      flaky.fail(failing, "TRANSCODE_FAILED", true);
      await failed;
      expect(pool.listenerCount("room"), "the re-dispatch waits for room").to.equal(1);
      expect(pool.inFlight).to.equal(1);
      expect(await settlesAtOnce(retried)).to.equal(false);

      busy.answer(held);
      expect((await holding).attempts).to.equal(1);
      const retry = await busy.job(2);
      expect(retry.segment).to.deep.equal(segment(1));
      busy.answer(retry);
      expect(await retried).to.deep.include({ transcoderId: busy.transcoderId, attempts: 2 });
      expect(flaky.jobs).to.have.length(1);
      expect(events.map((e) => e.code ?? "ok")).to.deep.equal(["TRANSCODE_FAILED", "ok", "ok"]);
      expect(pool.listenerCount("room")).to.equal(0);
    });

    it("gives a freed slot to one waiting job only: two woken together never both take it", async () => {
      const served = await usePool();
      const { pool } = served;
      const only = await connectFake(served, 1, "only");
      const first = started(pool.transcode(segment(1), LADDER, LONG_MS));
      const firstJob = await only.job(1);
      // Both queue for room (the way /segment calls it); one "room" event wakes them together.
      const second = started(pool.transcode(segment(2), LADDER, LONG_MS, { queueMs: LONG_MS }));
      const third = started(pool.transcode(segment(3), LADDER, LONG_MS, { queueMs: LONG_MS }));
      expect(pool.listenerCount("room")).to.equal(2);

      only.answer(firstJob);
      await first;
      const next = await only.job(2);
      expect(pool.inFlight, "one slot, one job").to.equal(1);
      expect(only.jobs, "nothing sent beyond the capacity").to.have.length(2);
      expect(pool.listenerCount("room"), "the other still waits").to.equal(1);
      only.answer(next);
      const last = await only.job(3);
      only.answer(last);
      const done = await Promise.all([second, third]);
      expect(done.map((d) => d.attempts)).to.deep.equal([1, 1]);
    });

    it("gives a waiting re-dispatch to a transcoder that joins meanwhile", async () => {
      const served = await usePool();
      const { pool } = served;
      const flaky = await connectFake(served, 1, "flaky");
      const retried = started(pool.transcode(segment(1), LADDER, LONG_MS));
      const failed = once(pool, "job");
      flaky.fail(await flaky.job(1), "TRANSCODE_FAILED", true);
      await failed;
      expect(pool.listenerCount("room"), "the re-dispatch waits for room").to.equal(1);
      const newcomer = await connectFake(served, 1, "newcomer");
      newcomer.answer(await newcomer.job(1));
      expect(await retried).to.deep.include({ transcoderId: newcomer.transcoderId, attempts: 2 });
      expect(flaky.jobs).to.have.length(1);
    });

    it("gives up at the job's deadline when no other transcoder has room, with the first failure", async () => {
      const served = await usePool();
      const { pool } = served;
      const flaky = await connectFake(served, 1, "flaky");
      const busy = await connectFake(served, 1, "busy");
      const start = performance.now();
      const retried = started(pool.transcode(segment(1), LADDER, 500));
      const holding = started(pool.transcode(segment(2), LADDER, LONG_MS));
      flaky.fail(await flaky.job(1), "TRANSCODE_FAILED", true);
      const error = await poolErrorOf(retried);
      expect(performance.now() - start, "waited until the deadline").to.be.at.least(490);
      expect(error).to.deep.include({ code: "TRANSCODE_FAILED", inputError: false });
      expect(busy.jobs).to.have.length(1);
      expect(pool.listenerCount("room")).to.equal(0);
      busy.answer(busy.jobs[0]);
      expect((await holding).attempts).to.equal(1);
    });
  });

  describe("heartbeat and shutdown", () => {
    it("drops a transcoder that stops answering pings and re-dispatches its job", async () => {
      const pingIntervalMs = 100;
      const served = await usePool({ pingIntervalMs });
      const { pool } = served;
      const mute = await connectFake(served, 1, "mute");
      const steady = await connectFake(served, 1, "steady");
      steady.onJob = (job) => steady.answer(job);
      const events = recordJobs(pool);
      const transcoding = started(pool.transcode(segment(1), LADDER, LONG_MS));
      await mute.job(1);
      const left = once(pool, "left") as Promise<[PooledTranscoder]>;
      const silentSince = performance.now();
      mute.answerPings = false;
      expect((await left)[0].id).to.equal(mute.transcoderId);
      const silentFor = performance.now() - silentSince;
      expect(silentFor, "dropped after about one missed ping").to.be.within(pingIntervalMs / 2, 20 * pingIntervalMs);
      expect((await mute.closed).code, "terminated, not closed").to.equal(1006);

      const done = await transcoding;
      expect(done).to.deep.include({ transcoderId: steady.transcoderId, attempts: 2 });
      expect(events[0]).to.deep.include({ transcoderId: mute.transcoderId, code: "TRANSCODER_DISCONNECTED" });

      // The one that answers stays through more pings.
      let pings = 0;
      await new Promise<void>((resolve) => steady.socket.on("ping", () => ++pings === 3 && resolve()));
      expect(pool.transcoders.map((t) => t.id)).to.deep.equal([steady.transcoderId]);
    });

    it("close() closes every transcoder connection with 1001", async () => {
      const served = await usePool();
      const { pool } = served;
      const fakesHere = [await connectFake(served, 1), await connectFake(served, 2)];
      let left = 0;
      pool.on("left", () => left++);
      await pool.close();
      for (const fake of fakesHere) {
        expect(await fake.closed).to.deep.equal({ code: 1001, reason: "orchestrator shutting down" });
      }
      expect(left).to.equal(2);
      expect(pool.capacity).to.equal(0);
    });

    it("close() fails jobs in flight at once instead of waiting for room until their deadline", async () => {
      const served = await usePool();
      const { pool } = served;
      const holder = await connectFake(served, 1);
      const received = new Promise((resolve) => holder.once("job", resolve));
      const job = pool.transcode(segment(1), LADDER, 60_000);
      await received;
      const started = performance.now();
      await pool.close();
      expect((await poolErrorOf(job)).code).to.equal("TRANSCODER_DISCONNECTED");
      expect(performance.now() - started, "rejected long before the 60 s deadline").to.be.below(5_000);
    });
  });
});
