/**
 * Runs `streamflow orchestrator` (bin/streamflow.js) as a real process against an OrchestratorChain, for end-to-end
 * tests: spawning on a free port, waiting until it serves, reading /status, /healthz and /metrics, building the
 * signed headers of a raw POST /segment (for requests the client would never send), and stopping every process a
 * test started.
 */
import { keccak256, signDigest } from "../../offchain/pm/crypto";
import { fromHex, toHex } from "../../offchain/pm/ticket";
import type { Rendition } from "../../offchain/media/ladder";
import {
  type ErrorBody,
  HEADERS,
  type OrchestratorInfo,
  encodeSegmentMetadata,
  personalMessageDigest,
} from "../../offchain/orchestrator/wire";
import type { OrchestratorChain } from "./orchestratorChain";
import { freePort } from "./processes";
import { type TranscoderDaemon, spawnStreamflow } from "./transcoderDaemon";

export interface OrchestratorProcess {
  daemon: TranscoderDaemon;
  /** http://127.0.0.1:<port> */
  url: string;
}

export interface OrchestratorStartOptions {
  dataDir: string;
  /** Run a transcoder in the orchestrator's process (`--transcoder --transcoder-sessions 2`); default true. */
  transcoder?: boolean;
  /** More flags, after the defaults (a later flag wins). */
  args?: readonly string[];
  env?: NodeJS.ProcessEnv;
}

/** The processes a test (or a describe) started; stopAll stops every one, SIGKILLed ones included. */
export class ProcessGroup {
  private readonly running: TranscoderDaemon[] = [];

  track(daemon: TranscoderDaemon): TranscoderDaemon {
    this.running.push(daemon);
    return daemon;
  }

  spawn(args: readonly string[], env: NodeJS.ProcessEnv = {}): TranscoderDaemon {
    return this.track(spawnStreamflow(args, env));
  }

  /**
   * Spawns `streamflow orchestrator` on a free port for dev account 1 with the chain's deployment, and resolves once
   * it has logged "orchestrator started" (and, with its own transcoder, "transcoder joined").
   */
  async startOrchestrator(chain: OrchestratorChain, options: OrchestratorStartOptions): Promise<OrchestratorProcess> {
    const port = await freePort();
    const transcoder = options.transcoder ?? true;
    const daemon = this.spawn(
      [
        "orchestrator",
        "--rpc-url",
        chain.node.url,
        "--deployment",
        chain.deploymentFile,
        "--dev-account",
        "1",
        "--http-addr",
        `127.0.0.1:${port}`,
        "--data-dir",
        options.dataDir,
        "--redeem-interval",
        "0.5",
        ...(transcoder ? ["--transcoder", "--transcoder-sessions", "2"] : []),
        ...(options.args ?? []),
      ],
      options.env,
    );
    await daemon.waitForLog("orchestrator started");
    if (transcoder) await daemon.waitForLog("transcoder joined");
    return { daemon, url: `http://127.0.0.1:${port}` };
  }

  /** The last `chars` characters of every process's output, for a failing test's report. */
  output(chars = 6000): string {
    return this.running
      .map((d) => `---- pid ${d.pid}: ${d.child.spawnargs.slice(2, 3)}\n${d.output.slice(-chars)}`)
      .join("\n");
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.running.splice(0).map((daemon) => daemon.stop()));
  }
}

/** Polls `probe` every `intervalMs` until it returns something other than undefined or false. */
export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ""}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export interface OrchestratorStatus {
  address: string;
  serviceUrl: string;
  chain: { block: string; round: string; roundInitialized: boolean; active: boolean; lastError?: string };
  sessions: { active: number; limit: number };
  transcoders: Array<{ id: string; name: string; capacity: number; inFlight: number }>;
  tickets: {
    pending: number;
    submitted: number;
    redeemed: number;
    failed: number;
    expired: number;
    outstandingFaceValue: string;
    redeemedFaceValue: string;
  };
  redeemer: { lastTx?: string; lastError?: string; lastRunAt?: number; waiting?: string };
  roundServices?: { lastInitializedRound?: string; lastRewardRound?: string; serviceUri?: string; lastError?: string };
}

export async function getJson<T>(url: string): Promise<{ status: number; body: T }> {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as T };
}

export async function status(url: string): Promise<OrchestratorStatus> {
  const { status: code, body } = await getJson<OrchestratorStatus>(`${url}/status`);
  if (code !== 200) throw new Error(`/status answered ${code}`);
  return body;
}

/** Waits until the daemon's chain view has reached `block` (it polls the node once a second). */
export function waitForDaemonBlock(url: string, block: bigint): Promise<OrchestratorStatus> {
  return waitUntil(`the orchestrator to see block ${block}`, async () => {
    const s = await status(url);
    return BigInt(s.chain.block) >= block && s;
  });
}

/** The value of one Prometheus sample (`name{labels} value`), or undefined if it is not there. */
export function metricValue(text: string, sample: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(sample + " "));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}

export interface RawSegment {
  streamId: string;
  seq: number;
  body: Buffer;
  durationMs?: number;
  renditions: Rendition[];
}

function personalSign(text: string, privateKey: string): string {
  return toHex(signDigest(personalMessageDigest(text), fromHex(privateKey, 32, "privateKey")));
}

/**
 * The headers OrchestratorClient.segment would send (auth token, metadata, the metadata's signature by `privateKey`),
 * without a payment: a test adds, drops or spoils one of them.
 */
export function segmentHeaders(
  info: OrchestratorInfo,
  privateKey: string,
  segment: RawSegment,
): Record<string, string> {
  const metadata = encodeSegmentMetadata({
    orchestrator: info.address,
    streamId: segment.streamId,
    seq: segment.seq,
    sourceHash: "0x" + keccak256(segment.body).toString("hex"),
    durationMs: segment.durationMs ?? 2000,
    renditions: segment.renditions,
  });
  return {
    "content-type": "video/mp2t",
    [HEADERS.auth]: info.authToken,
    [HEADERS.segment]: metadata,
    [HEADERS.segmentSig]: personalSign(metadata, privateKey),
  };
}

/** A raw POST /segment: the status, the Retry-After header and the error body (when the answer is an error). */
export async function postSegment(
  url: string,
  headers: Record<string, string>,
  body: Buffer,
): Promise<{ status: number; retryAfter: string | null; error?: ErrorBody["error"] }> {
  const response = await fetch(`${url}/segment`, { method: "POST", headers, body });
  const retryAfter = response.headers.get("retry-after");
  if (response.ok) {
    await response.arrayBuffer();
    return { status: response.status, retryAfter };
  }
  const text = await response.text();
  let error: ErrorBody["error"] | undefined;
  try {
    error = (JSON.parse(text) as ErrorBody).error;
  } catch {
    error = { code: "(not JSON)", message: text };
  }
  return { status: response.status, retryAfter, error };
}
