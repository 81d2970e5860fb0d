/**
 * What the broadcaster end-to-end tests share: a chain with two registered, active orchestrators (dev accounts 1 and
 * 3), orchestrator and `streamflow broadcaster` processes on free ports, an RTMP publisher (the project's ffmpeg),
 * HTTP push, /api/status, HLS playlists parsed by hand and read back with ffprobe over HTTP, and small HTTP proxies in
 * front of an orchestrator that corrupt or delay its answers.
 */
import { type ChildProcess, spawn } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";

import { parseEther } from "ethers";

import type { MediaTools } from "../../offchain/media/binaries";
import { runProcess } from "../../offchain/media/run";
import { BondingManager__factory, LivepeerToken__factory } from "../../typechain-types";
import type { OrchestratorChain } from "./orchestratorChain";
import { type OrchestratorProcess, type ProcessGroup, waitUntil } from "./orchestratorDaemon";
import { freePort } from "./processes";
import type { TranscoderDaemon } from "./transcoderDaemon";
import { livePushArgs } from "../../offchain/media/testsrc";
import type {
  BroadcasterStatus,
  OrchestratorStatus as OrchestratorEntryStatus,
  SegmentStatus,
  StreamStatus,
} from "../../offchain/broadcaster/status";

export type { BroadcasterStatus, OrchestratorEntryStatus, SegmentStatus, StreamStatus };

/** The ladder the tests ask for: both fit a 640x360 source (640x360 and 426x240). */
export const TEST_RENDITIONS = ["360p30", "240p30"] as const;
/** Far above any face value: every ticket's EV is its face value, so every ticket wins (and shows in /status). */
export const EVERY_TICKET_WINS = "1000000000000000000000";

// ---- chain ----

/**
 * Bonds `stake` LPT of dev account `index` to itself and registers it as an orchestrator, as startOrchestratorChain
 * does for account 1; active from the next round (call chain.nextRound()). Returns its lower-case address.
 */
export async function registerOrchestrator(chain: OrchestratorChain, index: number, stake = "1000"): Promise<string> {
  const { record } = chain;
  const deployer = await chain.signer(0);
  const signer = await chain.signer(index);
  const address = signer.address.toLowerCase();
  const amount = parseEther(stake);
  const token = LivepeerToken__factory.connect(record.contracts.LivepeerToken, deployer);
  await (await token.transfer(address, amount)).wait();
  await (
    await LivepeerToken__factory.connect(record.contracts.LivepeerToken, signer).approve(
      record.contracts.BondingManager,
      amount,
    )
  ).wait();
  const bonding = BondingManager__factory.connect(record.contracts.BondingManager, signer);
  await (await bonding.bond(amount, address)).wait();
  await (await bonding.transcoder(100_000, 500_000)).wait();
  return address;
}

/** Registers dev account 3 as a second orchestrator and moves to the next round, where both are active. */
export async function addSecondOrchestrator(chain: OrchestratorChain): Promise<string> {
  const second = await registerOrchestrator(chain, 3);
  await chain.nextRound();
  const bonding = BondingManager__factory.connect(chain.record.contracts.BondingManager, chain.provider);
  for (const address of [chain.orchestrator, second]) {
    if (!(await bonding.isActiveTranscoder(address))) throw new Error(`${address} is not active`);
  }
  return second;
}

// ---- processes ----

export interface OrchestratorOptions {
  /** hardhat node dev account (1 or 3 here). */
  account: number;
  dataDir: string;
  /** Publish the URL in the ServiceRegistry (`--service-addr`) and wait until it is on chain. */
  register?: boolean;
  args?: readonly string[];
}

/**
 * `streamflow orchestrator` with its own transcoder on a port chosen here (so that `--service-addr` can name it);
 * resolves once it serves (and, with `register`, once its service URI is on chain).
 */
export async function startOrchestratorOn(
  group: ProcessGroup,
  chain: OrchestratorChain,
  options: OrchestratorOptions,
): Promise<OrchestratorProcess & { account: number }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const daemon = group.spawn([
    "orchestrator",
    "--rpc-url",
    chain.node.url,
    "--deployment",
    chain.deploymentFile,
    "--dev-account",
    String(options.account),
    "--http-addr",
    `127.0.0.1:${port}`,
    "--data-dir",
    options.dataDir,
    "--redeem-interval",
    "0.5",
    "--transcoder",
    "--transcoder-sessions",
    "2",
    ...(options.register ? ["--service-addr", url] : []),
    ...(options.args ?? []),
  ]);
  await daemon.waitForLog("orchestrator started");
  await daemon.waitForLog("transcoder joined");
  if (options.register) {
    await daemon.waitForLog(
      (r) =>
        (r.msg === "service URI updated" && r.uri === url) ||
        r.msg === "round service failed; retrying on a later block",
    );
    const done = daemon.logs.some((r) => r.msg === "service URI updated");
    if (!done) throw new Error(`the orchestrator could not set its service URI:\n${daemon.output}`);
  }
  return { daemon, url, account: options.account };
}

export interface BroadcasterOptions {
  dataDir: string;
  /** Dev account (default 2, the funded broadcaster). */
  account?: number;
  /** RTMP ingest on a free port (default true); false: `--rtmp-addr off`. */
  rtmp?: boolean;
  /** Static orchestrator list; without it the chain's pool is discovered. */
  orchestrators?: readonly string[];
  /** More flags, after the defaults (a later flag wins). */
  args?: readonly string[];
}

export interface BroadcasterProcess {
  daemon: TranscoderDaemon;
  /** http://127.0.0.1:<port> */
  url: string;
  /** rtmp://127.0.0.1:<port>/live */
  rtmpUrl?: string;
  dataDir: string;
}

/** The broadcaster's command line for `options` against `chain` (ports chosen here). */
export async function broadcasterArgs(chain: OrchestratorChain, options: BroadcasterOptions): Promise<string[]> {
  const httpPort = await freePort();
  const rtmp = options.rtmp ?? true;
  const rtmpPort = rtmp ? await freePort() : undefined;
  return [
    "broadcaster",
    "--dev-account",
    String(options.account ?? 2),
    "--rpc-url",
    chain.node.url,
    "--deployment",
    chain.deploymentFile,
    "--http-addr",
    `127.0.0.1:${httpPort}`,
    "--rtmp-addr",
    rtmpPort ? `127.0.0.1:${rtmpPort}` : "off",
    "--renditions",
    TEST_RENDITIONS.join(","),
    "--data-dir",
    options.dataDir,
    "--reconnect-grace",
    "1",
    ...(options.orchestrators ? ["--orchestrators", options.orchestrators.join(",")] : []),
    ...(options.args ?? []),
  ];
}

/** Spawns `streamflow broadcaster` and resolves once it has logged "broadcaster started". */
export async function startBroadcasterOn(
  group: ProcessGroup,
  chain: OrchestratorChain,
  options: BroadcasterOptions,
): Promise<BroadcasterProcess> {
  const daemon = group.spawn(await broadcasterArgs(chain, options));
  const started = await daemon.waitForLog("broadcaster started");
  return {
    daemon,
    url: String(started.http),
    rtmpUrl: typeof started.rtmp === "string" ? started.rtmp : undefined,
    dataDir: options.dataDir,
  };
}

// ---- RTMP publishing ----

export interface RtmpPushOptions {
  seconds: number;
  width?: number;
  height?: number;
}

/** ffmpeg publishing a generated 30 fps H.264 + AAC stream in real time (`-re`), as OBS would. */
export class RtmpPublisher {
  readonly child: ChildProcess;
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(tools: MediaTools, url: string, options: RtmpPushOptions) {
    this.child = spawn(
      tools.ffmpeg.path,
      livePushArgs({
        url,
        durationSec: options.seconds,
        width: options.width ?? 640,
        height: options.height ?? 360,
        bitrate: "1000k",
      }),
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    this.child.stderr!.setEncoding("utf8");
    this.child.stderr!.on("data", (chunk: string) => (this.stderr = (this.stderr + chunk).slice(-8192)));
    this.exited = new Promise((resolve) => this.child.once("close", (code, signal) => resolve({ code, signal })));
  }

  /** SIGKILL if still running; resolves once it has exited. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    await this.exited;
  }
}

/** Publishers a test started, killed in afterEach. */
export class PublisherGroup {
  private readonly running: RtmpPublisher[] = [];

  start(tools: MediaTools, url: string, options: RtmpPushOptions): RtmpPublisher {
    const publisher = new RtmpPublisher(tools, url, options);
    this.running.push(publisher);
    return publisher;
  }

  async killAll(): Promise<void> {
    await Promise.all(this.running.splice(0).map((p) => p.kill()));
  }
}

// ---- HTTP ----

export interface PutAnswer {
  stream: string;
  seq: number;
  status: "ok" | "failed" | "in-flight";
  orchestrator?: string;
  attempts: number;
  latencyMs?: number;
  transcoded: boolean;
  error?: string;
}

export interface ErrorAnswer {
  error: { code: string; message: string };
}

export interface PutOptions {
  /** Authorization: Bearer <key>. */
  key?: string;
  /** Content-Duration in ms; null leaves the header out. Default 2000. */
  durationMs?: number | null;
  contentType?: string;
}

/** PUT /live/<stream>/<seq>.ts: the status and the JSON answer. */
export async function putSegment<T = PutAnswer | ErrorAnswer>(
  base: string,
  stream: string,
  seq: number,
  body: Uint8Array,
  options: PutOptions = {},
): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = { "content-type": options.contentType ?? "video/mp2t" };
  if (options.durationMs !== null) headers["content-duration"] = String(options.durationMs ?? 2000);
  if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`;
  const response = await fetch(`${base}/live/${stream}/${seq}.ts`, { method: "PUT", headers, body });
  const text = await response.text();
  let parsed: T;
  try {
    parsed = JSON.parse(text) as T;
  } catch {
    throw new Error(`PUT ${stream}/${seq}.ts answered ${response.status} with a body that is not JSON: ${text}`);
  }
  return { status: response.status, body: parsed };
}

/**
 * A PUT that announces `contentLength` bytes with video/mp2t and sends none of them: the answer the daemon gives from
 * the headers alone (a refusal), then the connection is dropped.
 */
export function announceSegment(
  url: string,
  contentLength: number,
  headers: Record<string, string>,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, {
      method: "PUT",
      headers: { ...headers, "content-type": "video/mp2t", "content-length": String(contentLength) },
    });
    request.on("response", (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => {
        request.destroy();
        resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") });
      });
      response.on("error", reject);
    });
    request.on("error", reject);
    request.setTimeout(10_000, () => request.destroy(new Error(`no answer from ${url} within 10 s`)));
    request.flushHeaders();
  });
}

export interface Fetched {
  status: number;
  headers: Headers;
  body: Buffer;
  text: string;
}

export async function fetchBytes(url: string, init?: RequestInit): Promise<Fetched> {
  const response = await fetch(url, init);
  const body = Buffer.from(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, body, text: body.toString("utf8") };
}

export async function broadcasterStatus(base: string): Promise<BroadcasterStatus> {
  const response = await fetch(`${base}/api/status`);
  if (response.status !== 200) throw new Error(`/api/status answered ${response.status}`);
  return (await response.json()) as BroadcasterStatus;
}

export function streamOf(status: BroadcasterStatus, id: string): StreamStatus | undefined {
  return status.streams.find((s) => s.id === id);
}

// ---- HLS ----

export interface MediaPlaylist {
  mediaSequence: number;
  targetDuration: number;
  playlistType?: string;
  ended: boolean;
  discontinuities: number;
  segments: Array<{ uri: string; durationSec: number; seq: number }>;
}

/** A media playlist, read line by line (independently of the code that wrote it). */
export function parseMediaPlaylist(text: string): MediaPlaylist {
  const lines = text.split("\n").map((l) => l.trim());
  if (lines[0] !== "#EXTM3U") throw new Error(`not a playlist:\n${text}`);
  const playlist: MediaPlaylist = {
    mediaSequence: 0,
    targetDuration: NaN,
    ended: false,
    discontinuities: 0,
    segments: [],
  };
  let duration: number | undefined;
  for (const line of lines) {
    if (line.startsWith("#EXT-X-MEDIA-SEQUENCE:")) playlist.mediaSequence = Number(line.split(":")[1]);
    else if (line.startsWith("#EXT-X-TARGETDURATION:")) playlist.targetDuration = Number(line.split(":")[1]);
    else if (line.startsWith("#EXT-X-PLAYLIST-TYPE:")) playlist.playlistType = line.split(":")[1];
    else if (line === "#EXT-X-ENDLIST") playlist.ended = true;
    else if (line === "#EXT-X-DISCONTINUITY") playlist.discontinuities++;
    else if (line.startsWith("#EXTINF:")) duration = Number(line.slice("#EXTINF:".length).split(",")[0]);
    else if (line !== "" && !line.startsWith("#")) {
      const seq = /(\d+)\.ts$/.exec(line)?.[1];
      if (duration === undefined || seq === undefined) throw new Error(`unexpected URI line ${line} in:\n${text}`);
      playlist.segments.push({ uri: line, durationSec: duration, seq: Number(seq) });
      duration = undefined;
    }
  }
  return playlist;
}

export interface MasterVariant {
  uri: string;
  attributes: Record<string, string>;
}

export function parseMasterPlaylist(text: string): MasterVariant[] {
  const lines = text.split("\n").map((l) => l.trim());
  if (lines[0] !== "#EXTM3U") throw new Error(`not a playlist:\n${text}`);
  const variants: MasterVariant[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].startsWith("#EXT-X-STREAM-INF:")) continue;
    const attributes: Record<string, string> = {};
    for (const match of lines[i].slice("#EXT-X-STREAM-INF:".length).matchAll(/([A-Z-]+)=("[^"]*"|[^,]*)/g)) {
      attributes[match[1]] = match[2].replace(/^"|"$/g, "");
    }
    variants.push({ uri: lines[i + 1], attributes });
  }
  return variants;
}

/** Sequence numbers that should be there (`from`..`to`) but are not. */
export function missingSequences(seqs: readonly number[], from: number, to: number): number[] {
  const have = new Set(seqs);
  const missing: number[] = [];
  for (let s = from; s <= to; s++) if (!have.has(s)) missing.push(s);
  return missing;
}

export interface ProbedUrl {
  streams: Array<Record<string, string | number | undefined>>;
  format: Record<string, string | number | undefined>;
}

/** ffprobe reading a URL (an HLS playlist served over HTTP), counting packets: the whole stream is read. */
export async function ffprobeUrl(tools: MediaTools, url: string): Promise<ProbedUrl> {
  const result = await runProcess(tools.ffprobe.path, {
    args: ["-v", "error", "-count_packets", "-show_streams", "-show_format", "-of", "json", url],
    env: tools.probeEnv,
    timeoutMs: 60_000,
  });
  if (result.code !== 0) throw new Error(`ffprobe ${url} exited ${result.code}: ${result.stderrTail}`);
  return JSON.parse(result.stdout.toString("utf8")) as ProbedUrl;
}

// ---- proxies in front of an orchestrator ----

export interface ProxyOptions {
  /** Flip bytes inside the first rendition of every 200 /segment answer (lengths kept). */
  corrupt?: boolean;
  /** Hold every /segment answer this long before passing it on. */
  delayMs?: number;
  /** Answer the first n /segment requests 503 ORCHESTRATOR_BUSY with Retry-After: 1 (as at capacity). */
  busyFirst?: number;
}

export interface OrchestratorProxy {
  url: string;
  /** /segment answers passed on, and how many of them were altered. */
  segments: number;
  corrupted: number;
  /** /segment requests answered 503 by the proxy itself (busyFirst). */
  busy: number;
  close(): Promise<void>;
}

/**
 * Flips 16 bytes in the middle of the multipart answer's second part (the first rendition), leaving every length and
 * header as it was: the receipt's hash of that rendition no longer matches. Returns false if there is no such part.
 */
export function corruptFirstRendition(contentType: string, body: Buffer): boolean {
  const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  if (!boundary) return false;
  const delimiter = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  const first = body.indexOf(delimiter);
  const second = first < 0 ? -1 : body.indexOf(delimiter, first + delimiter.length);
  if (second < 0) return false;
  const start = body.indexOf("\r\n\r\n", second);
  const end = body.indexOf(delimiter, start);
  if (start < 0 || end < 0 || end - start < 4096) return false;
  const middle = start + 4 + Math.floor((end - start) / 2);
  for (let i = 0; i < 16; i++) body[middle + i] ^= 0xff;
  return true;
}

/** An HTTP proxy to `target` (an orchestrator): /info and everything else untouched; /segment per `options`. */
export async function startOrchestratorProxy(target: string, options: ProxyOptions = {}): Promise<OrchestratorProxy> {
  const upstream = new URL(target);
  const state = { segments: 0, corrupted: 0, busy: 0 };
  const server = http.createServer((request, response) => {
    const isSegment = request.method === "POST" && request.url?.startsWith("/segment");
    if (isSegment && state.busy < (options.busyFirst ?? 0)) {
      state.busy++;
      request.resume();
      request.on("end", () => {
        response.writeHead(503, { "content-type": "application/json", "retry-after": "1" });
        response.end(JSON.stringify({ error: { code: "ORCHESTRATOR_BUSY", message: "injected: busy" } }));
      });
      return;
    }
    const forward = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: request.method,
        path: request.url,
        headers: { ...request.headers, host: upstream.host },
      },
      (answer) => {
        if (!isSegment) {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
          return;
        }
        const chunks: Buffer[] = [];
        answer.on("data", (chunk: Buffer) => chunks.push(chunk));
        answer.on("end", () => {
          const body = Buffer.concat(chunks);
          if (answer.statusCode === 200) {
            state.segments++;
            if (options.corrupt && corruptFirstRendition(String(answer.headers["content-type"]), body)) {
              state.corrupted++;
            }
          }
          const send = () => {
            if (response.destroyed) return;
            response.writeHead(answer.statusCode ?? 502, answer.headers);
            response.end(body);
          };
          if (options.delayMs) setTimeout(send, options.delayMs);
          else send();
        });
        answer.on("error", () => response.destroy());
      },
    );
    forward.on("error", () => response.destroy());
    request.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get segments() {
      return state.segments;
    },
    get corrupted() {
      return state.corrupted;
    },
    get busy() {
      return state.busy;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Waits until the stream has `state` "ended" and nothing in flight, and returns the status then. */
export function waitForStreamEnd(base: string, id: string, timeoutMs = 60_000): Promise<BroadcasterStatus> {
  return waitUntil(
    `stream ${id} to end`,
    async () => {
      const s = await broadcasterStatus(base);
      const stream = streamOf(s, id);
      return stream?.state === "ended" && stream.inFlight === 0 && s;
    },
    timeoutMs,
    200,
  );
}
