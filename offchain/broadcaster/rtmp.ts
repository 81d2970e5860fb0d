/**
 * RTMP ingest on node-media-server (kept behind this module: nothing else imports it). Publishers push to
 * `rtmp://host:port/live/<streamKey>`; the key is checked before we read anything, and playback from the server is
 * refused to everyone but loopback (our own segmenter pulls the stream from it). One server per process: the library
 * keeps its state in a module-level context.
 */
import { EventEmitter } from "node:events";
import net from "node:net";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const NodeMediaServer = require("node-media-server");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nmsLogger = require("node-media-server/src/core/logger.js") as { log: (message: string, level?: string) => void };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nmsContext = require("node-media-server/src/core/context.js") as {
  broadcasts: Map<string, { publishGraceMs: number; subscribers: Map<string, NmsSession> }>;
};

/** The parts of a node-media-server session we use. */
interface NmsSession {
  id: string;
  ip: string;
  streamApp: string;
  streamName: string;
  streamPath: string;
  close(): void;
}

interface NmsServer {
  rtmpServer: { run(): void };
  stop(): Promise<void>;
  on(event: string, listener: (session: NmsSession) => void): void;
}

export interface RtmpPublish {
  sessionId: string;
  streamKey: string;
  remoteAddress: string;
  /** Where to pull the published stream from (loopback). */
  playUrl: string;
  /** Drops the publisher. */
  reject(): void;
}

export interface RtmpIngestOptions {
  host: string;
  port: number;
  /** Where the library's own log lines go (it would print them to stdout, between our JSON lines). */
  log: (level: string, message: string) => void;
  /** How long a disconnected publisher may take to come back before the stream is finished (default 5 s). */
  reconnectGraceMs?: number;
}

function isLoopback(ip: string): boolean {
  const address = ip.replace(/:\d+$/, "").replace(/^::ffff:/, "");
  return address === "127.0.0.1" || address === "::1" || address.startsWith("127.");
}

/** Fails with a clear error when the port is taken (node-media-server would exit the process instead). */
async function checkPortFree(host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        new Error(`--rtmp-addr ${host}:${port}: ${error.code === "EADDRINUSE" ? "the port is in use" : error.message}`),
      ),
    );
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}

/** Emits "publish" (RtmpPublish) and "unpublish" ({sessionId, streamKey}) once the reconnect grace has passed. */
export class RtmpIngest extends EventEmitter {
  private server?: NmsServer;
  private port = 0;

  constructor(private readonly options: RtmpIngestOptions) {
    super();
  }

  get url(): string {
    const host = this.options.host.includes(":") ? `[${this.options.host}]` : this.options.host;
    return `rtmp://${host}:${this.port}/live`;
  }

  async start(): Promise<void> {
    const { host } = this.options;
    let port = this.options.port;
    if (port === 0) port = await freePort(host);
    await checkPortFree(host, port);
    this.port = port;
    nmsLogger.log = (message, level = "info") => this.options.log(level, message);
    const server: NmsServer = new NodeMediaServer({
      bind: host,
      rtmp: { port, chunk_size: 60000, gop_cache: true, ping: 30, ping_timeout: 60 },
    });
    const playHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
    server.on("prePublish", (session) => {
      if (session.streamApp !== "live" || !session.streamName) {
        session.close();
        return;
      }
      this.emit("publish", {
        sessionId: session.id,
        streamKey: session.streamName,
        remoteAddress: session.ip.replace(/:\d+$/, ""),
        playUrl: `rtmp://${playHost.includes(":") ? `[${playHost}]` : playHost}:${port}/live/${session.streamName}`,
        reject: () => session.close(),
      } satisfies RtmpPublish);
    });
    server.on("postPublish", (session) => {
      // The library holds a disconnected publisher's stream for a grace period; ours is shorter and configurable.
      const broadcast = nmsContext.broadcasts.get(session.streamPath);
      if (broadcast) broadcast.publishGraceMs = this.options.reconnectGraceMs ?? 5000;
    });
    server.on("donePublish", (session) => {
      // The publisher is gone for good: end our pull so that ffmpeg reads the end of the stream and closes the last
      // segment (the library would keep players attached, waiting for a new publisher).
      for (const player of nmsContext.broadcasts.get(session.streamPath)?.subscribers.values() ?? []) player.close();
      this.emit("unpublish", { sessionId: session.id, streamKey: session.streamName });
    });
    server.on("prePlay", (session) => {
      if (!isLoopback(session.ip)) session.close();
    });
    this.server = server;
    // The RTMP listener alone: not the library's HTTP API, relays or its JSON store (which would also install
    // signal handlers that re-raise SIGTERM).
    server.rtmpServer.run();
  }

  async stop(): Promise<void> {
    await this.server?.stop();
    this.server = undefined;
  }
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, host, () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
