/**
 * The orchestrator's side of the transcoder protocol (docs/transcoder-protocol.md): remote transcoders connect over
 * a WebSocket with the shared secret and announce their capacity; each job goes to the least-loaded transcoder with
 * room; a job whose transcoder disconnects, times out or fails retryably is dispatched once more to another; every
 * result is checked against the hashes it announces before anyone relies on it. One transcoder going away never
 * affects the others.
 */
import { randomUUID, timingSafeEqual } from "node:crypto";
import { EventEmitter } from "node:events";
import type http from "node:http";
import type { Duplex } from "node:stream";

import WebSocket, { WebSocketServer } from "ws";

import type { Rendition } from "../media/ladder";
import { keccak256 } from "../pm/crypto";
import {
  CLOSE,
  type Capabilities,
  type JobError,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  ProtocolError,
  type Result,
  SUBPROTOCOL,
  TRANSCODERS_PATH,
  decodeFrame,
  encodeFrame,
  splitRenditions,
} from "../transcoder/protocol";

export interface PoolOptions {
  secret: string;
  /** How often transcoders are pinged; one that has not answered the previous ping by the next is dropped. */
  pingIntervalMs?: number;
  /** Extra time past a job's own limit before the orchestrator gives up on a transcoder (transfer, start-up). */
  graceMs?: number;
}

export interface PooledTranscoder {
  id: string;
  name?: string;
  capacity: number;
  capabilities: Capabilities;
  inFlight: number;
  draining: boolean;
  connectedAt: number;
}

export interface TranscodedSegment {
  result: Result;
  renditions: Buffer[];
  /** The transcoder that did the work, and how many dispatches it took (1 or 2). */
  transcoderId: string;
  attempts: number;
}

/** Why the pool could not produce renditions. `inputError` ones are the segment's fault (answer 4xx, not 5xx). */
export class PoolError extends Error {
  override readonly name = "PoolError";
  constructor(
    readonly code: string,
    message: string,
    readonly inputError = false,
  ) {
    super(message);
  }
}

interface Connection extends PooledTranscoder {
  socket: WebSocket;
  alive: boolean;
  jobs: Map<string, Dispatch>;
}

interface Dispatch {
  jobId: string;
  connection: Connection;
  timer: NodeJS.Timeout;
  settle: (outcome: { ok: true; result: Result; renditions: Buffer[] } | { ok: false; error: JobError }) => void;
}

/** Re-dispatching a job more than once would let one bad segment occupy the whole pool. */
export const MAX_ATTEMPTS = 2;

function secretMatches(header: string | undefined, secret: string): boolean {
  const expected = Buffer.from(`Bearer ${secret}`);
  const given = Buffer.from(header ?? "");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Checks that a result is what was asked for and that every rendition's bytes hash to what the header says. */
export function checkResult(renditions: readonly Rendition[], result: Result, payload: Buffer[]): string | undefined {
  if (result.renditions.length !== renditions.length) {
    return `${result.renditions.length} renditions returned for ${renditions.length} requested`;
  }
  for (const [i, meta] of result.renditions.entries()) {
    if (meta.name !== renditions[i].name) return `rendition ${i} is "${meta.name}", not "${renditions[i].name}"`;
    if ("0x" + keccak256(payload[i]).toString("hex") !== meta.hash)
      return `rendition ${meta.name} does not match its hash`;
    if (meta.pixels !== meta.width * meta.height * meta.frames) return `rendition ${meta.name} miscounts its pixels`;
  }
  return undefined;
}

export class TranscoderPool extends EventEmitter {
  private readonly connections = new Map<string, Connection>();
  private readonly wss: WebSocketServer;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly graceMs: number;
  private closed = false;

  constructor(private readonly options: PoolOptions) {
    super();
    this.graceMs = options.graceMs ?? 5_000;
    this.setMaxListeners(0); // every re-dispatch waiting for room listens for "room"
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: MAX_FRAME_BYTES,
      perMessageDeflate: false,
      // Agree on our subprotocol whenever it is offered, among others or not. Otherwise agree on what was offered, so
      // that the handshake completes and accept() can say why it closes (4002) instead of failing the upgrade.
      handleProtocols: (offered) => (offered.has(SUBPROTOCOL) ? SUBPROTOCOL : ([...offered][0] ?? false)),
    });
    this.heartbeat = setInterval(() => this.ping(), options.pingIntervalMs ?? 10_000);
    this.heartbeat.unref();
  }

  /** Serves the transcoder endpoint on an HTTP server (fastify's `app.server`, or a plain one). */
  attach(server: http.Server): void {
    server.on("upgrade", (request: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      const url = new URL(request.url ?? "/", "http://orchestrator");
      if (url.pathname !== TRANSCODERS_PATH) return; // another handler's path
      if (!secretMatches(request.headers.authorization, this.options.secret)) {
        this.emit("refused", request.socket.remoteAddress);
        socket.end("HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        return;
      }
      this.wss.handleUpgrade(request, socket, head, (ws) => this.accept(ws));
    });
  }

  /** Transcoders able to take work, with their load. */
  get transcoders(): PooledTranscoder[] {
    return [...this.connections.values()].map((c) => this.view(c));
  }

  /** Concurrent jobs the pool can take now: the sum of the capacities of transcoders that are not draining. */
  get capacity(): number {
    let total = 0;
    for (const c of this.connections.values()) if (!c.draining) total += c.capacity;
    return total;
  }

  get inFlight(): number {
    let total = 0;
    for (const c of this.connections.values()) total += c.inFlight;
    return total;
  }

  private accept(socket: WebSocket): void {
    if (socket.protocol !== SUBPROTOCOL) {
      socket.close(CLOSE.VERSION_MISMATCH, `subprotocol ${SUBPROTOCOL} required`);
      return;
    }
    let connection: Connection | undefined;
    /** Leaves the pool at once (its jobs move elsewhere), then closes: nothing the peer still sends counts. */
    const refuse = (code: number, reason: string) => {
      if (connection) this.leave(connection);
      socket.close(code, reason.slice(0, 120));
    };
    const hello = setTimeout(() => socket.close(CLOSE.PROTOCOL_ERROR, "no hello"), 10_000);
    socket.on("pong", () => {
      if (connection) connection.alive = true;
    });
    socket.on("message", (data, isBinary) => {
      if (socket.readyState !== WebSocket.OPEN) return; // closing: frames already in flight do not count
      try {
        if (!isBinary) throw new ProtocolError("binary frames only");
        const { header, payload } = decodeFrame(data as Buffer);
        if (!connection) {
          if (header.type !== "hello") throw new ProtocolError("the first message must be hello");
          clearTimeout(hello);
          if (header.protocol !== PROTOCOL_VERSION) {
            refuse(CLOSE.VERSION_MISMATCH, `protocol ${PROTOCOL_VERSION} required`);
            return;
          }
          connection = {
            id: randomUUID(),
            name: header.name,
            capacity: header.capacity,
            capabilities: header.capabilities,
            inFlight: 0,
            draining: false,
            connectedAt: Date.now(),
            socket,
            alive: true,
            jobs: new Map(),
          };
          this.connections.set(connection.id, connection);
          socket.send(encodeFrame({ type: "welcome", protocol: PROTOCOL_VERSION, transcoderId: connection.id }));
          this.emit("joined", this.view(connection));
          this.emit("room");
          return;
        }
        switch (header.type) {
          case "draining":
            connection.draining = true;
            this.emit("draining", this.view(connection));
            return;
          case "result":
            connection.jobs
              .get(header.jobId)
              ?.settle({ ok: true, result: header, renditions: splitRenditions(header, payload) });
            return;
          case "error":
            connection.jobs.get(header.jobId)?.settle({ ok: false, error: header });
            return;
          default:
            throw new ProtocolError(`an orchestrator does not accept "${header.type}" messages`);
        }
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        refuse(CLOSE.PROTOCOL_ERROR, error.message);
      }
    });
    socket.on("close", () => {
      clearTimeout(hello);
      if (connection) this.leave(connection);
    });
    socket.on("error", () => {}); // "close" follows
  }

  /** Removes a transcoder from the pool (once) and sends its jobs elsewhere. */
  private leave(connection: Connection): void {
    if (this.connections.get(connection.id) !== connection) return;
    this.connections.delete(connection.id);
    for (const dispatch of [...connection.jobs.values()]) {
      dispatch.settle({
        ok: false,
        error: {
          type: "error",
          jobId: dispatch.jobId,
          code: "TRANSCODER_DISCONNECTED",
          message: "the transcoder went away",
          retryable: true,
        },
      });
    }
    this.emit("left", this.view(connection));
  }

  private view(connection: Connection): PooledTranscoder {
    const { socket: _s, alive: _a, jobs: _j, ...view } = connection;
    return { ...view };
  }

  private ping(): void {
    for (const connection of this.connections.values()) {
      if (!connection.alive) {
        connection.socket.terminate(); // silent since the last ping
        continue;
      }
      connection.alive = false;
      connection.socket.ping();
    }
  }

  /** The transcoder with the most free room relative to its size (ties: fewer jobs, then the longest connected). */
  private pick(exclude: ReadonlySet<string>): Connection | undefined {
    let best: Connection | undefined;
    for (const c of this.connections.values()) {
      if (c.draining || exclude.has(c.id) || c.inFlight >= c.capacity) continue;
      if (!best) {
        best = c;
        continue;
      }
      const load = c.inFlight / c.capacity;
      const bestLoad = best.inFlight / best.capacity;
      if (
        load < bestLoad ||
        (load === bestLoad &&
          (c.inFlight < best.inFlight || (c.inFlight === best.inFlight && c.connectedAt < best.connectedAt)))
      ) {
        best = c;
      }
    }
    return best;
  }

  /**
   * Takes a slot on the transcoder `pick` chooses, at once: two requests woken by the same "room" must not both see
   * the one free slot (the second would be refused busy by the transcoder). dispatchOnce uses the slot taken here.
   */
  private take(exclude: ReadonlySet<string>): Connection | undefined {
    const connection = this.pick(exclude);
    if (connection) connection.inFlight++;
    return connection;
  }

  /** A slot on a transcoder with room (taken), waiting for one to free up or join until the deadline. */
  private async waitForRoom(exclude: ReadonlySet<string>, deadline: number): Promise<Connection | undefined> {
    for (;;) {
      const connection = this.take(exclude);
      const left = deadline - Date.now();
      if (connection || left <= 0 || this.closed) return connection;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.off("room", done);
          resolve();
        };
        const timer = setTimeout(done, left);
        this.on("room", done);
      });
    }
  }

  private dispatchOnce(connection: Connection, segment: Uint8Array, renditions: Rendition[], timeoutMs: number) {
    const jobId = randomUUID();
    return new Promise<{ ok: true; result: Result; renditions: Buffer[] } | { ok: false; error: JobError }>(
      (resolve) => {
        const dispatch: Dispatch = {
          jobId,
          connection,
          timer: setTimeout(() => {
            if (connection.socket.readyState === WebSocket.OPEN)
              connection.socket.send(encodeFrame({ type: "cancel", jobId }));
            dispatch.settle({
              ok: false,
              error: {
                type: "error",
                jobId,
                code: "TRANSCODER_TIMEOUT",
                message: `no answer within ${timeoutMs + this.graceMs} ms`,
                retryable: true,
              },
            });
          }, timeoutMs + this.graceMs),
          settle: (outcome) => {
            if (!connection.jobs.delete(jobId)) return; // already settled (a late answer after a timeout)
            clearTimeout(dispatch.timer);
            connection.inFlight--;
            resolve(outcome);
            this.emit("room");
          },
        };
        connection.jobs.set(jobId, dispatch); // its slot was taken by take()
        connection.socket.send(encodeFrame({ type: "job", jobId, renditions, timeoutMs }, segment), (error) => {
          if (error) {
            dispatch.settle({
              ok: false,
              error: { type: "error", jobId, code: "TRANSCODER_DISCONNECTED", message: error.message, retryable: true },
            });
          }
        });
      },
    );
  }

  /**
   * Transcodes one segment. Throws PoolError: NO_TRANSCODER_CAPACITY when nobody has room within `queueMs` (the
   * caller answers 503;
   * a re-dispatch after a failure instead waits up to `timeoutMs` for room on another transcoder),
   * the transcoder's code for input errors (`inputError`), or the last failure after MAX_ATTEMPTS dispatches.
   */
  async transcode(
    segment: Uint8Array,
    renditions: Rendition[],
    timeoutMs: number,
    options: { queueMs?: number } = {},
  ): Promise<TranscodedSegment> {
    const tried = new Set<string>();
    const deadline = Date.now() + timeoutMs;
    const queueMs = Math.min(options.queueMs ?? 0, timeoutMs);
    let last: PoolError | undefined;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      // The first dispatch waits at most `queueMs` (default: not at all, so a full pool answers at once and the
      // caller can say 503); a re-dispatch waits for another transcoder to free up, within the job's own time.
      const connection =
        attempt === 1
          ? queueMs > 0
            ? await this.waitForRoom(tried, Date.now() + queueMs)
            : this.take(tried)
          : await this.waitForRoom(tried, deadline);
      if (!connection) break;
      tried.add(connection.id);
      const outcome = await this.dispatchOnce(connection, segment, renditions, timeoutMs);
      if (outcome.ok) {
        const problem = checkResult(renditions, outcome.result, outcome.renditions);
        if (!problem) {
          this.emit("job", { transcoderId: connection.id, ok: true, attempts: attempt });
          return {
            result: outcome.result,
            renditions: outcome.renditions,
            transcoderId: connection.id,
            attempts: attempt,
          };
        }
        last = new PoolError("TRANSCODER_BAD_RESULT", `Transcoder ${connection.name ?? connection.id}: ${problem}.`);
      } else if (!outcome.error.retryable) {
        this.emit("job", { transcoderId: connection.id, ok: false, code: outcome.error.code, attempts: attempt });
        throw new PoolError(outcome.error.code, outcome.error.message, true);
      } else {
        last = new PoolError(outcome.error.code, outcome.error.message);
      }
      this.emit("job", { transcoderId: connection.id, ok: false, code: last.code, attempts: attempt });
    }
    throw (
      last ?? new PoolError("NO_TRANSCODER_CAPACITY", "No transcoder has room for this segment; try again shortly.")
    );
  }

  /** Stops pinging and closes every transcoder connection (they will redial whoever serves next). */
  async close(): Promise<void> {
    this.closed = true;
    this.emit("room"); // wake re-dispatches waiting for room: there will be none
    clearInterval(this.heartbeat);
    for (const connection of this.connections.values())
      connection.socket.close(CLOSE.GOING_AWAY, "orchestrator shutting down");
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
