/**
 * A small orchestrator-side endpoint for the transcoder protocol (docs/transcoder-protocol.md), for tests and the
 * transcode benchmark until the orchestrator daemon exists: it checks the secret, welcomes transcoders, sends jobs
 * and collects what comes back. Faults are injected by the tests through `connections`.
 */
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import http from "node:http";
import type net from "node:net";

import WebSocket, { WebSocketServer } from "ws";

import type { Rendition } from "../../offchain/media/ladder";
import {
  CLOSE,
  type Hello,
  type JobError,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  type Result,
  SUBPROTOCOL,
  TRANSCODERS_PATH,
  decodeFrame,
  encodeFrame,
  splitRenditions,
} from "../../offchain/transcoder/protocol";

export interface HubConnection {
  id: string;
  socket: WebSocket;
  hello: Hello;
  draining: boolean;
  messages: string[];
}

export type JobReply = { ok: true; result: Result; renditions: Buffer[] } | { ok: false; error: JobError };

export class TranscoderHub extends EventEmitter {
  readonly connections = new Map<string, HubConnection>();
  private readonly pending = new Map<string, { resolve: (reply: JobReply) => void; connection: string }>();
  private readonly server: http.Server;
  private readonly wss: WebSocketServer;
  private readonly sockets = new Set<net.Socket>();
  private readonly heartbeat: NodeJS.Timeout;
  port = 0;

  constructor(readonly secret: string) {
    super();
    this.server = http.createServer((_req, res) => res.writeHead(404).end());
    this.server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
    // The protocol's liveness rule: a ping at least every 10 s, or transcoders redial after 30 s of silence.
    this.heartbeat = setInterval(() => {
      for (const client of this.wss.clients) client.ping();
    }, 10_000).unref();
    this.server.on("upgrade", (request, socket, head) => {
      const url = new URL(request.url ?? "/", "http://hub");
      if (url.pathname !== TRANSCODERS_PATH) {
        socket.end("HTTP/1.1 404 Not Found\r\n\r\n");
        return;
      }
      if (request.headers.authorization !== `Bearer ${this.secret}`) {
        socket.end("HTTP/1.1 401 Unauthorized\r\n\r\n");
        return;
      }
      this.wss.handleUpgrade(request, socket, head, (ws) => this.accept(ws, request));
    });
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}${TRANSCODERS_PATH}`;
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  private accept(socket: WebSocket, request: http.IncomingMessage): void {
    if (request.headers["sec-websocket-protocol"] !== SUBPROTOCOL) {
      socket.close(CLOSE.VERSION_MISMATCH, "subprotocol");
      return;
    }
    let connection: HubConnection | undefined;
    socket.on("message", (data: Buffer) => {
      const { header, payload } = decodeFrame(data);
      if (!connection) {
        if (header.type !== "hello") return socket.close(CLOSE.PROTOCOL_ERROR, "hello first");
        connection = { id: randomUUID(), socket, hello: header, draining: false, messages: ["hello"] };
        this.connections.set(connection.id, connection);
        socket.send(encodeFrame({ type: "welcome", protocol: PROTOCOL_VERSION, transcoderId: connection.id }));
        this.emit("transcoder", connection);
        return;
      }
      connection.messages.push(header.type);
      if (header.type === "draining") {
        connection.draining = true;
        this.emit("draining", connection);
      } else if (header.type === "result" || header.type === "error") {
        const waiter = this.pending.get(header.jobId);
        this.pending.delete(header.jobId);
        waiter?.resolve(
          header.type === "result"
            ? { ok: true, result: header, renditions: splitRenditions(header, payload) }
            : { ok: false, error: header },
        );
      }
    });
    socket.on("close", (code) => {
      if (!connection) return;
      this.connections.delete(connection.id);
      for (const [jobId, waiter] of this.pending) {
        if (waiter.connection !== connection.id) continue;
        this.pending.delete(jobId);
        waiter.resolve({
          ok: false,
          error: { type: "error", jobId, code: "TRANSCODER_DISCONNECTED", message: `closed ${code}`, retryable: true },
        });
      }
      this.emit("gone", connection, code);
    });
  }

  /** Resolves with the next transcoder to register (or one already registered). */
  waitForTranscoder(): Promise<HubConnection> {
    const existing = [...this.connections.values()][0];
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve) => this.once("transcoder", resolve));
  }

  /** Sends a job to a transcoder and resolves with its answer (or TRANSCODER_DISCONNECTED if it goes away). */
  submit(
    connection: HubConnection,
    segment: Uint8Array,
    renditions: Rendition[] | unknown[],
    timeoutMs = 30_000,
    jobId: string = randomUUID(),
  ): Promise<JobReply> {
    return new Promise((resolve) => {
      this.pending.set(jobId, { resolve, connection: connection.id });
      connection.socket.send(
        encodeFrame({ type: "job", jobId, renditions: renditions as Rendition[], timeoutMs }, segment),
      );
    });
  }

  cancel(connection: HubConnection, jobId: string): void {
    connection.socket.send(encodeFrame({ type: "cancel", jobId }));
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    for (const client of this.wss.clients) client.terminate();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
