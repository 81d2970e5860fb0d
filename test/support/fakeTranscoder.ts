/**
 * In-process fake transcoders for the orchestrator's TranscoderPool: plain `ws` clients that speak the transcoder
 * protocol (docs/transcoder-protocol.md) through encodeFrame/decodeFrame and do whatever a test tells them, so the
 * pool's handling of every answer (or silence) can be injected: hold a job, answer it, fail it, answer with bytes that
 * do not match their hash, answer late, stop answering pings.
 */
import { EventEmitter, once } from "node:events";

import WebSocket from "ws";

import type { Rendition } from "../../offchain/media/ladder";
import { keccak256 } from "../../offchain/pm/crypto";
import {
  type Capabilities,
  type Job,
  type Message,
  PROTOCOL_VERSION,
  type RenditionMeta,
  type Result,
  SUBPROTOCOL,
  decodeFrame,
  encodeFrame,
} from "../../offchain/transcoder/protocol";

export const CPU_CAPABILITIES: Capabilities = { decoders: ["h264"], encoders: ["h264"], gpus: [], deterministic: true };

export const hashOf = (data: Uint8Array): string => "0x" + keccak256(data).toString("hex");

export interface DialOptions {
  /** Sent as `Authorization: Bearer <secret>`; undefined sends no Authorization header. */
  secret?: string;
  /** The subprotocol to ask for (default SUBPROTOCOL); null asks for none. */
  subprotocol?: string | null;
}

/** A raw WebSocket to the pool's endpoint; errors are swallowed (tests look at how it ends, not at the error). */
export function dial(url: string, options: DialOptions = {}, autoPong = true): WebSocket {
  const subprotocol = options.subprotocol === undefined ? SUBPROTOCOL : options.subprotocol;
  const socket = new WebSocket(url, subprotocol === null ? [] : [subprotocol], {
    headers: options.secret === undefined ? {} : { authorization: `Bearer ${options.secret}` },
    perMessageDeflate: false,
    autoPong,
  });
  socket.on("error", () => {});
  return socket;
}

export type DialEnd = { kind: "http"; status: number } | { kind: "close"; code: number; reason: string };

/** How a dialled socket ends: refused before the upgrade (HTTP status), or closed after it (close code). */
export function endOf(socket: WebSocket): Promise<DialEnd> {
  return new Promise((resolve) => {
    socket.once("unexpected-response", (_request, response) => {
      response.resume();
      resolve({ kind: "http", status: response.statusCode ?? 0 });
      socket.terminate();
    });
    socket.once("close", (code, reason) => resolve({ kind: "close", code, reason: reason.toString() }));
  });
}

/** A result for `job` that checks out: one rendition per requested one, distinct bytes, hashes and pixels right. */
export function fakeResult(job: Pick<Job, "jobId" | "renditions">): { header: Result; renditions: Buffer[] } {
  const renditions = job.renditions.map((r: Rendition) => Buffer.from(`${job.jobId}: the ${r.name} rendition`));
  const metas: RenditionMeta[] = job.renditions.map((r: Rendition, i) => ({
    name: r.name,
    bytes: renditions[i].length,
    hash: hashOf(renditions[i]),
    width: r.width,
    height: r.height,
    frames: 30,
    pixels: r.width * r.height * 30,
    durationMs: 1000,
    codec: "avc1.640020",
  }));
  const header: Result = {
    type: "result",
    jobId: job.jobId,
    renditions: metas,
    device: "cpu",
    timings: { probeMs: 1, transcodeMs: 5, totalMs: 7 },
  };
  return { header, renditions };
}

export interface ReceivedJob {
  header: Job;
  segment: Buffer;
}

export interface FakeOptions {
  secret: string;
  capacity: number;
  name?: string;
  protocol?: number;
}

export interface Closed {
  code: number;
  reason: string;
}

export class FakeTranscoder extends EventEmitter {
  /** Jobs received, oldest first. */
  readonly jobs: ReceivedJob[] = [];
  /** jobIds of the cancels received, oldest first. */
  readonly cancels: string[] = [];
  /** Resolves when the connection has closed, with the close code the fake saw. */
  readonly closed: Promise<Closed>;
  transcoderId = "";
  /** Answer the pool's pings (the fake pongs by hand, so a test can make it fall silent). */
  answerPings = true;
  /** Called with each job as it arrives (by default the fake holds it without answering). */
  onJob: (job: ReceivedJob) => void = () => {};

  private constructor(
    readonly socket: WebSocket,
    readonly name: string,
  ) {
    super();
    this.setMaxListeners(0);
    this.closed = new Promise((resolve) =>
      socket.once("close", (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    socket.on("ping", (data) => {
      if (this.answerPings && socket.readyState === WebSocket.OPEN) socket.pong(data);
    });
    socket.on("message", (data, isBinary) => {
      if (!isBinary) return;
      const { header, payload } = decodeFrame(data as Buffer);
      switch (header.type) {
        case "welcome":
          this.transcoderId = header.transcoderId;
          this.emit("welcome", header.transcoderId);
          return;
        case "job": {
          const job = { header, segment: Buffer.from(payload) };
          this.jobs.push(job);
          this.emit("job", job);
          this.onJob(job);
          return;
        }
        case "cancel":
          this.cancels.push(header.jobId);
          this.emit("cancel", header.jobId);
          return;
      }
    });
  }

  /** Connects, sends hello and resolves once welcomed. */
  static async connect(url: string, options: FakeOptions): Promise<FakeTranscoder> {
    const name = options.name ?? `fake-${options.capacity}`;
    const socket = dial(url, { secret: options.secret }, false);
    const fake = new FakeTranscoder(socket, name);
    const welcomed = once(fake, "welcome");
    await once(socket, "open");
    fake.send({
      type: "hello",
      protocol: options.protocol ?? PROTOCOL_VERSION,
      capacity: options.capacity,
      capabilities: CPU_CAPABILITIES,
      name,
    });
    await welcomed;
    return fake;
  }

  /** The n-th job (1-based) this fake receives, waiting for it. */
  job(n: number): Promise<ReceivedJob> {
    if (this.jobs.length >= n) return Promise.resolve(this.jobs[n - 1]);
    return new Promise((resolve) => {
      const check = () => {
        if (this.jobs.length < n) return;
        this.off("job", check);
        resolve(this.jobs[n - 1]);
      };
      this.on("job", check);
    });
  }

  /** Resolves when a cancel for `jobId` has arrived (or already has). */
  cancelled(jobId: string): Promise<void> {
    if (this.cancels.includes(jobId)) return Promise.resolve();
    return new Promise((resolve) => {
      const check = (id: string) => {
        if (id !== jobId) return;
        this.off("cancel", check);
        resolve();
      };
      this.on("cancel", check);
    });
  }

  send(header: Message, payload?: Uint8Array | readonly Uint8Array[]): void {
    this.socket.send(encodeFrame(header, payload));
  }

  /** Answers with a result that checks out. */
  answer(job: ReceivedJob): void {
    const { header, renditions } = fakeResult(job.header);
    this.send(header, renditions);
  }

  /** Answers with a result whose first rendition has one byte flipped (its hash no longer matches). */
  answerTampered(job: ReceivedJob): void {
    const { header, renditions } = fakeResult(job.header);
    renditions[0][0] ^= 0xff;
    this.send(header, renditions);
  }

  fail(job: ReceivedJob | string, code: string, retryable: boolean, message = `${code} from ${this.name}`): void {
    const jobId = typeof job === "string" ? job : job.header.jobId;
    this.send({ type: "error", jobId, code, message, retryable });
  }

  drain(): void {
    this.send({ type: "draining" });
  }

  terminate(): void {
    this.socket.terminate();
  }
}
