/**
 * The network the demo runs: two orchestrators with a transcoder each, a broadcaster, (with --cheat) three
 * verifiers, and an ffmpeg that pushes a generated live stream over RTMP. Every one is `node bin/streamflow.js
 * <role>` (or ffmpeg) as a real process.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

import { formatUnits } from "ethers";

import { type Child, type ProcessGroup, freePort } from "./processes";
import { livePushArgs } from "../../../offchain/media/testsrc";

/** Stop order: later stages first (verifiers before the broadcaster, whose evidence they may be fetching). */
const STAGE = { supply: 0, broadcaster: 1, verifier: 2, source: 3 } as const;
/** Generous: start-up reads the chain and, for the transcoder, checks ffmpeg. */
const START_TIMEOUT_MS = 60_000;

/** Output pixels of one 2 s segment of the demo's ladder (360p30 + 240p30 from a 720p source). */
export const SEGMENT_PIXELS = (640n * 360n + 426n * 240n) * 60n;
/** The orchestrator's face value: 100 × a redemption's gas (180k) × the gas price (~1 gwei on the embedded chain). */
export function estimatedFaceValue(gasPrice: bigint): bigint {
  return 100n * 180_000n * gasPrice;
}

/**
 * Prices in wei per output pixel. Far above a real network's (~1,000 wei): a ticket's face value is ~0.018 ETH
 * (100 × redemption gas at ~1 gwei) and winners ≈ fees / face value, so for tickets to win (and be redeemed on chain)
 * within a one-minute stream, 30 segments of ~2·10⁷ pixels must cost ~0.1 ETH: ~1.5-2·10⁸ wei per pixel, i.e.
 * ~5 expected winners on A, ~7 on B. Different prices so that the broadcaster's choice shows.
 */
export const PRICES: Record<"A" | "B", bigint> = { A: 150_000_000n, B: 200_000_000n };
/** One ticket per segment or so: a ticket's EV is a segment's fee (it then wins about one time in five or six). */
export function ticketEV(pricePerPixel: bigint): bigint {
  return pricePerPixel * SEGMENT_PIXELS;
}

export interface ChainAccess {
  rpcUrl: string;
  deploymentFile: string;
}

export interface RunningOrchestrator {
  label: "A" | "B";
  child: Child;
  url: string;
  pricePerPixel: bigint;
  transcoder: Child;
}

/**
 * An orchestrator (round services on, its URI in the ServiceRegistry) and its remote transcoder, both ready. With
 * `tamper`, the transcoder cheats (the hidden `--fault-tamper`): renditions of the right size, frame count and
 * duration, with the wrong pictures.
 */
export async function startOrchestrator(
  group: ProcessGroup,
  root: string,
  chain: ChainAccess,
  role: { label: "A" | "B"; account: number },
  dir: string,
  tamper?: "negate",
): Promise<RunningOrchestrator> {
  fs.mkdirSync(dir, { recursive: true });
  const secretFile = path.join(dir, "transcoder.secret");
  fs.writeFileSync(secretFile, randomBytes(24).toString("hex"), { mode: 0o600 });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const pricePerPixel = PRICES[role.label];
  const child = group.spawn(
    `orchestrator-${role.label}`,
    process.execPath,
    [
      path.join(root, "bin", "streamflow.js"),
      "orchestrator",
      "--dev-account",
      String(role.account),
      "--rpc-url",
      chain.rpcUrl,
      "--deployment",
      chain.deploymentFile,
      "--http-addr",
      `127.0.0.1:${port}`,
      "--service-addr",
      url,
      "--data-dir",
      path.join(dir, "data"),
      "--price-per-unit",
      pricePerPixel.toString(),
      "--pixels-per-unit",
      "1",
      "--ticket-ev",
      ticketEV(pricePerPixel).toString(),
      "--orch-secret-file",
      secretFile,
      "--initialize-round",
      "--reward",
      // Winners are redeemed on each new block anyway; this only bounds the wait when blocks are slow.
      "--redeem-interval",
      "2",
      "--log-level",
      "info",
    ],
    root,
    STAGE.supply,
  );
  await child.waitForLog("orchestrator started", START_TIMEOUT_MS);

  const transcoder = group.spawn(
    `transcoder-${role.label}`,
    process.execPath,
    [
      path.join(root, "bin", "streamflow.js"),
      "transcoder",
      "--orch-addr",
      `127.0.0.1:${port}`,
      "--orch-secret-file",
      secretFile,
      "--http-addr",
      "127.0.0.1:0",
      // One segment at a time: the orchestrator then serves one stream (its capacity), so a second stream or a
      // slow segment goes to the other orchestrator instead of slowing both down.
      "--max-sessions",
      "1",
      "--name",
      `transcoder-${role.label}`,
      ...(tamper ? ["--fault-tamper", tamper] : []),
      "--log-level",
      "info",
    ],
    root,
    STAGE.supply,
  );
  await transcoder.waitForLog("registered with the orchestrator", START_TIMEOUT_MS);
  return { label: role.label, child, url, pricePerPixel, transcoder };
}

export interface RunningBroadcaster {
  child: Child;
  httpUrl: string;
  rtmpUrl: string;
  streamId: string;
  /** Where to push: rtmp://host:port/live/<key>. */
  publishUrl: string;
}

export const STREAM_ID = "demo";
export const RENDITIONS = ["360p30", "240p30"] as const;

/**
 * The broadcaster, ready (it logs "broadcaster started" once both its HTTP and RTMP servers listen). With `verify`,
 * each segment goes to two orchestrators and every result is re-encoded here and compared (`--redundancy 2
 * --verify-rate 1`): a cheat is caught on the first segment, and the honest result is the one published.
 */
export async function startBroadcaster(
  group: ProcessGroup,
  root: string,
  chain: ChainAccess,
  account: number,
  dir: string,
  verify = false,
): Promise<RunningBroadcaster> {
  fs.mkdirSync(dir, { recursive: true });
  const [httpPort, rtmpPort] = [await freePort(), await freePort()];
  const key = randomBytes(12).toString("hex");
  const child = group.spawn(
    "broadcaster",
    process.execPath,
    [
      path.join(root, "bin", "streamflow.js"),
      "broadcaster",
      "--dev-account",
      String(account),
      "--rpc-url",
      chain.rpcUrl,
      "--deployment",
      chain.deploymentFile,
      "--http-addr",
      `127.0.0.1:${httpPort}`,
      "--rtmp-addr",
      `127.0.0.1:${rtmpPort}`,
      "--stream-keys",
      `${STREAM_ID}:${key}`,
      "--renditions",
      RENDITIONS.join(","),
      "--data-dir",
      path.join(dir, "data"),
      ...(verify ? ["--redundancy", "2", "--verify-rate", "1"] : []),
      "--log-level",
      "info",
    ],
    root,
    STAGE.broadcaster,
  );
  const started = await child.waitForLog("broadcaster started", START_TIMEOUT_MS);
  const httpUrl = typeof started.http === "string" ? started.http.replace(/\/+$/, "") : `http://127.0.0.1:${httpPort}`;
  const rtmpUrl =
    typeof started.rtmp === "string" ? started.rtmp.replace(/\/+$/, "") : `rtmp://127.0.0.1:${rtmpPort}/live`;
  // Publishers push to rtmp://host:port/live/<stream key>.
  const publishUrl = `rtmp://${new URL(rtmpUrl).host}/live/${key}`;
  return { child, httpUrl, rtmpUrl, streamId: STREAM_ID, publishUrl };
}

export interface RunningVerifier {
  label: string;
  account: number;
  stake: bigint;
  child: Child;
  /** Its /api/status is at `${url}/api/status`. */
  url: string;
}

/**
 * A verifier that locks `stake` LPT (its account holds it already) and then watches for disputes; ready once it
 * logs "verifier started" (after its registration is mined).
 */
export async function startVerifier(
  group: ProcessGroup,
  root: string,
  chain: ChainAccess,
  role: { label: string; account: number; stake: bigint },
  dir: string,
): Promise<RunningVerifier> {
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const child = group.spawn(
    `verifier-${role.label}`,
    process.execPath,
    [
      path.join(root, "bin", "streamflow.js"),
      "verifier",
      "--dev-account",
      String(role.account),
      "--rpc-url",
      chain.rpcUrl,
      "--deployment",
      chain.deploymentFile,
      "--http-addr",
      `127.0.0.1:${port}`,
      "--data-dir",
      path.join(dir, "data"),
      "--stake",
      formatUnits(role.stake, 18),
      // A commit phase is 10 blocks (~10 s) and judging takes a few seconds: do not lose more to polling.
      "--poll-interval",
      "0.5",
      "--log-level",
      "info",
    ],
    root,
    STAGE.verifier,
  );
  const started = await child.waitForLog("verifier started", START_TIMEOUT_MS);
  const url = typeof started.http === "string" ? started.http.replace(/\/+$/, "") : `http://127.0.0.1:${port}`;
  return { ...role, child, url };
}

export function startPush(
  group: ProcessGroup,
  root: string,
  ffmpeg: string,
  publishUrl: string,
  durationSec: number,
): Child {
  return group.spawn("ffmpeg-push", ffmpeg, livePushArgs({ url: publishUrl, durationSec }), root, STAGE.source);
}
