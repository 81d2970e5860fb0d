/**
 * The transcoder's connection to its orchestrator: connect with the shared secret, announce capacity and
 * capabilities, run the jobs it is sent, and keep coming back (exponential back-off with jitter) until stopped.
 * A lost connection cancels the jobs it carried (the orchestrator re-dispatches them); drain() finishes in-flight
 * jobs and hands back whatever is still running at its deadline.
 */
import { EventEmitter } from "node:events";

import WebSocket from "ws";

import type { Logger } from "../common/log";
import type { TranscoderMetrics } from "./metrics";
import {
  CLOSE,
  type Capabilities,
  type Job,
  MAX_FRAME_BYTES,
  type Message,
  PROTOCOL_VERSION,
  ProtocolError,
  SUBPROTOCOL,
  decodeFrame,
  encodeFrame,
} from "./protocol";
import type { TranscodeWorker } from "./worker";

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000 };

/** Delay before reconnect attempt `attempt` (1-based): doubling, capped, with ±20% jitter so a fleet spreads out. */
export function backoffDelay(attempt: number, options: BackoffOptions, random = Math.random): number {
  const base = Math.min(options.maxMs, options.initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}

export interface ClientOptions {
  url: string;
  secret: string;
  worker: TranscodeWorker;
  capabilities: Capabilities;
  name?: string;
  version?: string;
  log: Logger;
  metrics: TranscoderMetrics;
  backoff?: BackoffOptions;
  /** Drop and redial a connection that has been silent (no ping, no message) this long. */
  silenceTimeoutMs?: number;
}

export type ClientState = "idle" | "connecting" | "connected" | "waiting" | "draining" | "stopped";

/** A refusal that retrying cannot fix (wrong secret, incompatible protocol): the daemon exits with it. */
export class FatalConnectionError extends Error {
  override readonly name = "FatalConnectionError";
}

export class TranscoderClient extends EventEmitter {
  state: ClientState = "idle";
  transcoderId: string | undefined;
  private socket: WebSocket | undefined;
  /** Failed attempts since the last registration (drives the back-off). */
  private attempt = 0;
  /** Every dial since start: all but the first are reconnections (the metric). */
  private dials = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private silenceTimer: NodeJS.Timeout | undefined;
  private readonly jobs = new Map<string, AbortController>();
  private handingBack = false;

  constructor(private readonly options: ClientOptions) {
    super();
  }

  get jobsInFlight(): number {
    return this.jobs.size;
  }

  start(): void {
    if (this.state !== "idle") return;
    this.connect();
  }

  private connect(): void {
    this.state = "connecting";
    if (this.dials++ > 0) this.options.metrics.reconnects.inc();
    this.attempt++;
    const socket = new WebSocket(this.options.url, SUBPROTOCOL, {
      headers: { authorization: `Bearer ${this.options.secret}` },
      maxPayload: MAX_FRAME_BYTES,
      handshakeTimeout: 10_000,
      perMessageDeflate: false, // video does not compress; deflate would only cost CPU
    });
    this.socket = socket;
    socket.on("unexpected-response", (_request, response) => {
      const status = response.statusCode ?? 0;
      response.resume();
      if (status === 401 || status === 403) {
        this.fatal(`The orchestrator at ${this.options.url} refused the secret (HTTP ${status}). Check --orch-secret.`);
      } else {
        this.options.log.warn({ status, url: this.options.url }, "orchestrator refused the connection");
      }
      socket.terminate();
    });
    socket.on("open", () => {
      this.options.log.info({ url: this.options.url }, "connected; announcing capacity");
      this.send(socket, {
        type: "hello",
        protocol: PROTOCOL_VERSION,
        capacity: this.options.worker.capacity,
        capabilities: this.options.capabilities,
        name: this.options.name,
        version: this.options.version,
      });
      this.touch(socket);
    });
    socket.on("ping", () => this.touch(socket));
    socket.on("message", (data, isBinary) => {
      this.touch(socket);
      if (!isBinary) {
        socket.close(CLOSE.PROTOCOL_ERROR, "binary frames only");
        return;
      }
      try {
        this.handle(socket, decodeFrame(data as Buffer));
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        this.options.log.warn({ err: error.message }, "protocol error from the orchestrator");
        socket.close(CLOSE.PROTOCOL_ERROR, error.message.slice(0, 120));
      }
    });
    socket.on("error", (error) => this.options.log.debug({ err: error.message }, "socket error"));
    socket.on("close", (code, reason) => this.onClose(socket, code, reason.toString()));
  }

  private handle(socket: WebSocket, envelope: { header: Message; payload: Buffer }): void {
    const { header, payload } = envelope;
    switch (header.type) {
      case "welcome":
        if (header.protocol !== PROTOCOL_VERSION) {
          this.fatal(
            `The orchestrator speaks transcoder protocol ${header.protocol}; this transcoder speaks ${PROTOCOL_VERSION}.`,
          );
          socket.close(CLOSE.VERSION_MISMATCH, "protocol version");
          return;
        }
        this.attempt = 0;
        this.transcoderId = header.transcoderId;
        this.state = "connected";
        this.options.metrics.connected.set(1);
        this.options.log.info(
          { transcoderId: header.transcoderId, capacity: this.options.worker.capacity },
          "registered with the orchestrator",
        );
        this.emit("registered", header.transcoderId);
        return;
      case "job":
        void this.runJob(socket, header, payload);
        return;
      case "cancel":
        this.jobs.get(header.jobId)?.abort();
        return;
      default:
        throw new ProtocolError(`a transcoder does not accept "${header.type}" messages`);
    }
  }

  private async runJob(socket: WebSocket, job: Job, segment: Buffer): Promise<void> {
    const log = this.options.log.child({ jobId: job.jobId });
    const { metrics, worker } = this.options;
    if (this.state === "draining" || this.jobs.has(job.jobId)) {
      const code = this.state === "draining" ? "TRANSCODER_SHUTTING_DOWN" : "JOB_DUPLICATE";
      this.send(socket, { type: "error", jobId: job.jobId, code, message: "Not accepting this job.", retryable: true });
      return;
    }
    const controller = new AbortController();
    this.jobs.set(job.jobId, controller);
    metrics.inFlight.set(this.jobs.size);
    const outcome = await worker.run(job, segment, controller.signal);
    this.jobs.delete(job.jobId);
    metrics.inFlight.set(this.jobs.size);
    if (outcome.ok) {
      metrics.jobs.inc({ outcome: "ok" });
      metrics.jobSeconds.observe(outcome.header.timings.totalMs / 1000);
      metrics.pixels.inc(outcome.header.renditions.reduce((sum, r) => sum + r.pixels, 0));
      log.info(
        {
          device: outcome.header.device,
          ms: Math.round(outcome.header.timings.totalMs),
          renditions: outcome.header.renditions.length,
        },
        "job done",
      );
      this.send(socket, outcome.header, outcome.payload);
    } else {
      const header =
        this.handingBack && outcome.header.code === "TRANSCODE_CANCELLED"
          ? {
              ...outcome.header,
              code: "TRANSCODER_SHUTTING_DOWN",
              message: "Handed back: the transcoder is shutting down.",
              retryable: true,
            }
          : outcome.header;
      metrics.jobs.inc({ outcome: header.code });
      log.warn({ code: header.code, retryable: header.retryable }, header.message);
      this.send(socket, header);
    }
    this.emit("job", outcome);
    if (this.jobs.size === 0) this.emit("idle");
  }

  private send(socket: WebSocket, header: Message, payload?: Uint8Array | readonly Uint8Array[]): void {
    if (socket.readyState !== WebSocket.OPEN) return; // the orchestrator re-dispatches whatever it lost with us
    socket.send(encodeFrame(header, payload), { binary: true }, (error) => {
      if (error) this.options.log.warn({ err: error.message }, "could not send to the orchestrator");
    });
  }

  private touch(socket: WebSocket): void {
    clearTimeout(this.silenceTimer);
    const timeout = this.options.silenceTimeoutMs ?? 30_000;
    this.silenceTimer = setTimeout(() => {
      this.options.log.warn({ timeoutMs: timeout }, "orchestrator silent; reconnecting");
      socket.terminate();
    }, timeout);
  }

  private onClose(socket: WebSocket, code: number, reason: string): void {
    if (socket !== this.socket) return;
    clearTimeout(this.silenceTimer);
    this.options.metrics.connected.set(0);
    for (const controller of this.jobs.values()) controller.abort(); // the orchestrator re-dispatches them
    const wasRegistered = this.state === "connected" || this.state === "draining";
    if (wasRegistered) this.options.log.warn({ code, reason }, "disconnected from the orchestrator");
    this.emit("disconnected", code);
    if (code === CLOSE.UNAUTHORIZED) {
      this.fatal(`The orchestrator refused the secret (close ${code}). Check --orch-secret.`);
    } else if (code === CLOSE.VERSION_MISMATCH) {
      this.fatal(`The orchestrator refused protocol ${PROTOCOL_VERSION} (close ${code}: ${reason}).`);
    }
    if (this.state === "stopped" || this.state === "draining") {
      this.state = "stopped";
      this.emit("closed");
      return;
    }
    this.state = "waiting";
    const delay = backoffDelay(this.attempt, this.options.backoff ?? DEFAULT_BACKOFF);
    this.options.log.info({ inMs: delay, attempt: this.attempt }, "reconnecting");
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  private fatal(message: string): void {
    if (this.state === "stopped") return;
    this.state = "stopped";
    clearTimeout(this.retryTimer);
    this.emit("fatal", new FatalConnectionError(message));
  }

  /**
   * Stops taking jobs, lets running ones finish for up to `timeoutMs`, hands back (cancels, reported retryable)
   * whatever is still running then, and closes the connection.
   */
  async drain(timeoutMs: number): Promise<void> {
    clearTimeout(this.retryTimer);
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      this.state = "stopped";
      for (const controller of this.jobs.values()) controller.abort();
      this.socket?.terminate();
      return;
    }
    this.state = "draining";
    this.send(socket, { type: "draining" });
    if (this.jobs.size > 0) {
      this.options.log.info({ jobs: this.jobs.size, timeoutMs }, "draining: finishing jobs in flight");
      await new Promise<void>((resolve) => {
        const deadline = setTimeout(() => {
          this.handingBack = true;
          for (const controller of this.jobs.values()) controller.abort();
        }, timeoutMs);
        const check = () => {
          if (this.jobs.size > 0) return;
          clearTimeout(deadline);
          this.off("idle", check);
          resolve();
        };
        this.on("idle", check);
        check();
      });
    }
    await new Promise<void>((resolve) => {
      if (socket.readyState === WebSocket.CLOSED) return resolve();
      socket.once("close", () => resolve());
      socket.close(CLOSE.GOING_AWAY, "transcoder shutting down");
      setTimeout(() => socket.terminate(), 5_000).unref();
    });
    this.state = "stopped";
  }

  /** Closes at once (jobs in flight are cancelled; the orchestrator re-dispatches them). */
  stop(): void {
    this.state = "stopped";
    clearTimeout(this.retryTimer);
    clearTimeout(this.silenceTimer);
    for (const controller of this.jobs.values()) controller.abort();
    this.socket?.terminate();
  }
}
