/**
 * `streamflow <role> [flags]`: one command for every daemon (see docs/transcoder.md and ../shared design).
 * Parsing and validation only; each role's module does the work.
 */
import fs from "node:fs";

import { Command, InvalidArgumentError, Option } from "commander";

import { type HttpLimitFlags, httpLimitOptions, httpLimitsOf, positiveInt, seconds } from "./common/flags";
import { LOG_LEVELS, type Logger, createLogger } from "./common/log";
import { MediaError } from "./media/errors";
import { DEFAULT_MAX_SEGMENT_BYTES, type Tamper, X264_PRESETS } from "./media/transcode";
import { FatalConnectionError } from "./transcoder/client";
import { startTranscoder } from "./transcoder/daemon";
import { startOrchestrator } from "./orchestrator/daemon";
import { startBroadcaster } from "./broadcaster/daemon";
import { startVerifier } from "./verifier/daemon";
import { parseStreamKeys } from "./broadcaster/streamKeys";
import { DEFAULT_LADDER, type Rendition, ladderFromJson, ladderFromPresets } from "./media/ladder";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const VERSION: string = require("../package.json").version;

function sessions(value: string): number | "auto" {
  return value === "auto" ? "auto" : positiveInt("--max-sessions")(value);
}

/** The secret from --orch-secret, --orch-secret-file or STREAMFLOW_ORCH_SECRET (files and env keep it out of `ps`). */
export function resolveSecret(options: { orchSecret?: string; orchSecretFile?: string }, env = process.env): string {
  if (options.orchSecret && options.orchSecretFile)
    throw new Error("Give --orch-secret or --orch-secret-file, not both.");
  let secret = options.orchSecret;
  if (options.orchSecretFile) {
    try {
      secret = fs.readFileSync(options.orchSecretFile, "utf8").trim();
    } catch (error) {
      throw new Error(
        `Cannot read --orch-secret-file ${options.orchSecretFile}: ${(error as NodeJS.ErrnoException).code ?? error}`,
      );
    }
  }
  secret ??= env.STREAMFLOW_ORCH_SECRET;
  if (!secret)
    throw new Error(
      "The orchestrator's secret is required: --orch-secret-file FILE, --orch-secret S or STREAMFLOW_ORCH_SECRET.",
    );
  return secret;
}

interface TranscoderFlags extends HttpLimitFlags {
  orchAddr: string;
  orchSecret?: string;
  orchSecretFile?: string;
  maxSessions: number | "auto";
  nvidia?: string;
  preset: string;
  httpAddr: string;
  drainTimeout: number;
  maxJobTime: number;
  name?: string;
  faultTamper?: Tamper;
  logLevel: string;
}

function transcoderCommand(): Command {
  return (
    new Command("transcoder")
      .description("Transcode segments for an orchestrator (CPU with libx264, or NVIDIA GPUs with --nvidia).")
      .requiredOption("--orch-addr <addr>", "orchestrator to work for: host:port, http(s):// or ws(s):// URL")
      .option("--orch-secret <secret>", "shared secret (prefer --orch-secret-file or STREAMFLOW_ORCH_SECRET)")
      .option("--orch-secret-file <file>", "file holding the shared secret")
      .option(
        "--max-sessions <n|auto>",
        "concurrent segments to accept (auto: 8 per GPU, else half the CPU cores)",
        sessions,
        "auto",
      )
      .option("--nvidia <gpus>", 'NVIDIA GPUs to use: "0,1" or "all" (self-tested at start; falls back to the CPU)')
      .addOption(
        new Option("--preset <preset>", "x264 preset for non-deterministic renditions")
          .choices(X264_PRESETS)
          .default("veryfast"),
      )
      .option("--http-addr <host:port>", "where /healthz and /metrics are served", "127.0.0.1:7936")
      .addOption(
        new Option(
          "--drain-timeout <seconds>",
          "on SIGTERM, how long jobs in flight may take before they are handed back",
        )
          .argParser(seconds("--drain-timeout"))
          .default(30_000, "30"),
      )
      .addOption(
        new Option("--max-job-time <seconds>", "kill ffmpeg past this, whatever the orchestrator allows")
          .argParser(seconds("--max-job-time"))
          .default(60_000, "60"),
      )
      .option("--name <name>", "name announced to the orchestrator (default: the hostname)")
      // Deliberate fault injection for the e2e tests and `npm run demo -- --cheat`; not for operators.
      .addOption(new Option("--fault-tamper <kind>").choices(["negate", "blur"]).hideHelp())
      .addOption(new Option("--log-level <level>", "log level").choices(LOG_LEVELS).default("info"))
      .action(async (flags: TranscoderFlags) => {
        const log = createLogger("transcoder", flags.logLevel);
        let running;
        try {
          running = await startTranscoder(
            {
              orchAddr: flags.orchAddr,
              orchSecret: resolveSecret(flags),
              maxSessions: flags.maxSessions,
              nvidia: flags.nvidia,
              preset: flags.preset,
              httpAddr: flags.httpAddr,
              httpLimits: httpLimitsOf(flags),
              drainTimeoutMs: flags.drainTimeout,
              maxJobMs: flags.maxJobTime,
              name: flags.name,
              tamper: flags.faultTamper,
              version: VERSION,
            },
            log,
          );
        } catch (error) {
          failedToStart(log, error);
          return;
        }
        const { client } = running;
        exitOnSignals(log, running.shutdown, {
          state: () => ({ jobsInFlight: client.jobsInFlight }),
          now: () => client.stop(),
          nowMessage: "second signal: stopping now, jobs in flight are handed back",
        });
        client.on("fatal", (error: FatalConnectionError) => {
          log.fatal(error.message);
          void running.shutdown().finally(() => process.exit(2));
        });
      })
  );
}

/** The start-up error as the last (fatal) log line, and exit code 1. */
function failedToStart(log: Logger, error: unknown): void {
  const code = error instanceof MediaError ? error.code : undefined;
  log.fatal({ code }, (error as Error).message);
  process.exitCode = 1;
}

/**
 * SIGTERM/SIGINT: a graceful shutdown, then exit 0. A second signal exits at once with 1, after `now` (e.g. handing
 * jobs back).
 */
function exitOnSignals(
  log: Logger,
  shutdown: () => Promise<void>,
  options: { state?: () => object; now?: () => void; nowMessage: string },
): void {
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      log.warn({ signal }, options.nowMessage);
      options.now?.();
      process.exit(1);
    }
    log.info({ signal, ...options.state?.() }, "shutting down");
    void shutdown().then(() => {
      log.info("stopped");
      process.exit(0);
    });
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}

function fraction(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || n < 0 || n > 1) {
      throw new InvalidArgumentError(`${flag} must be a number from 0 to 1, e.g. 0.05.`);
    }
    return n;
  };
}

function weiAmount(flag: string, { allowZero = false } = {}) {
  return (value: string): bigint => {
    if (!/^\d{1,78}$/.test(value) || (!allowZero && BigInt(value) === 0n))
      throw new InvalidArgumentError(`${flag} must be a whole number${allowZero ? "" : " above 0"} (wei).`);
    return BigInt(value);
  };
}

function gwei(flag: string) {
  return (value: string): bigint => {
    if (!/^\d+(\.\d{1,9})?$/.test(value)) throw new InvalidArgumentError(`${flag} must be a number of gwei.`);
    const [whole, fraction = ""] = value.split(".");
    return BigInt(whole) * 1_000_000_000n + BigInt(fraction.padEnd(9, "0"));
  };
}

/** The chain and key flags every on-chain role takes, as commander parses them. */
interface ChainAndKeyFlags {
  rpcUrl: string;
  deployment: string;
  keystore?: string;
  keystorePasswordFile?: string;
  privateKeyFile?: string;
  devAccount?: number;
}

function chainAndKeyConfig(flags: ChainAndKeyFlags): ChainAndKeyFlags {
  const { rpcUrl, deployment, keystore, keystorePasswordFile, privateKeyFile, devAccount } = flags;
  return { rpcUrl, deployment, keystore, keystorePasswordFile, privateKeyFile, devAccount };
}

/** The chain and key flags every on-chain role takes. */
function chainAndKeyOptions(command: Command, role: string): Command {
  return command
    .option("--rpc-url <url>", "JSON-RPC endpoint of the chain", "http://127.0.0.1:8545")
    .option("--deployment <file>", "contract addresses (written by `npx hardhat deploy`)", "deployments/localhost.json")
    .option("--keystore <file>", `encrypted JSON keystore of the ${role}'s account`)
    .option("--keystore-password-file <file>", "file holding the keystore password (or STREAMFLOW_KEYSTORE_PASSWORD)")
    .option("--private-key-file <file>", "raw private key (local chains only; or STREAMFLOW_PRIVATE_KEY)")
    .addOption(
      new Option("--dev-account <n>", "use account n of `hardhat node` (local chains only)").argParser((v) => {
        if (!/^\d+$/.test(v)) throw new InvalidArgumentError("--dev-account must be an account index.");
        return Number(v);
      }),
    );
}

interface OrchestratorFlags extends ChainAndKeyFlags, HttpLimitFlags {
  httpAddr: string;
  serviceAddr?: string;
  dataDir: string;
  pricePerUnit: bigint;
  pixelsPerUnit: bigint;
  ticketEv?: bigint;
  maxSessions: number | "auto";
  orchSecret?: string;
  orchSecretFile?: string;
  transcoder: boolean;
  transcoderSessions: number | "auto";
  faultTamper?: Tamper;
  initializeRound: boolean;
  reward: boolean;
  maxGasPrice?: bigint;
  maxSegmentBytes: number;
  redeemBatch: number;
  redeemInterval: number;
  logLevel: string;
}

function orchestratorCommand(): Command {
  return (
    chainAndKeyOptions(
      new Command("orchestrator").description(
        "Sell transcoding: serve /info and /segment to broadcasters, validate their tickets, dispatch segments to " +
          "transcoders, and redeem winning tickets on chain (docs/orchestrator.md).",
      ),
      "orchestrator",
    )
      .option("--http-addr <host:port>", "where the API and the transcoder endpoint listen", "127.0.0.1:8935")
      .option("--service-addr <url>", "public URL for broadcasters; kept current in the ServiceRegistry")
      .option("--data-dir <dir>", "winning-ticket database and recipient secret", ".streamflow/orchestrator")
      .addOption(
        new Option("--price-per-unit <wei>", "price in wei per --pixels-per-unit output pixels")
          .argParser(weiAmount("--price-per-unit", { allowZero: true }))
          .default(1n, "1"),
      )
      .addOption(
        new Option("--pixels-per-unit <n>", "pixels the price is for")
          .argParser(weiAmount("--pixels-per-unit"))
          .default(1n, "1"),
      )
      .addOption(
        new Option(
          "--ticket-ev <wei>",
          "expected value per ticket (default: the fee of a 2 s segment of the default ladder)",
        ).argParser(weiAmount("--ticket-ev")),
      )
      .option(
        "--max-sessions <n|auto>",
        "streams served at once (auto: the transcoders' total capacity)",
        sessions,
        "auto",
      )
      .option("--orch-secret <secret>", "secret remote transcoders present (prefer --orch-secret-file)")
      .option("--orch-secret-file <file>", "file holding the transcoders' shared secret")
      .option("--transcoder", "also transcode in this process", false)
      .option("--transcoder-sessions <n|auto>", "concurrent segments for the in-process transcoder", sessions, "auto")
      // Deliberate fault injection for the in-process transcoder (e2e tests); not for operators.
      .addOption(new Option("--fault-tamper <kind>").choices(["negate", "blur"]).hideHelp())
      .option("--initialize-round", "call initializeRound() when a round starts and nobody else has", false)
      .option("--reward", "call reward() once per round while active", false)
      .addOption(
        new Option("--max-gas-price <gwei>", "never pay more than this per gas").argParser(gwei("--max-gas-price")),
      )
      .addOption(
        new Option("--max-segment-bytes <n>", "largest segment accepted")
          .argParser(positiveInt("--max-segment-bytes"))
          .default(DEFAULT_MAX_SEGMENT_BYTES, "64 MiB"),
      )
      .addOption(
        new Option("--redeem-batch <n>", "winning tickets per redemption transaction")
          .argParser(positiveInt("--redeem-batch"))
          .default(20),
      )
      .addOption(
        new Option("--redeem-interval <seconds>", "how often winning tickets are considered besides on each new block")
          .argParser(seconds("--redeem-interval"))
          .default(10_000, "10"),
      )
      .addOption(new Option("--log-level <level>", "log level").choices(LOG_LEVELS).default("info"))
      .action(async (flags: OrchestratorFlags) => {
        const log = createLogger("orchestrator", flags.logLevel);
        let running;
        try {
          const secretGiven = flags.orchSecret || flags.orchSecretFile || process.env.STREAMFLOW_ORCH_SECRET;
          running = await startOrchestrator(
            {
              ...chainAndKeyConfig(flags),
              httpAddr: flags.httpAddr,
              httpLimits: httpLimitsOf(flags),
              serviceAddr: flags.serviceAddr,
              dataDir: flags.dataDir,
              price: { pricePerUnit: flags.pricePerUnit, pixelsPerUnit: flags.pixelsPerUnit },
              ticketEV: flags.ticketEv,
              maxSessions: flags.maxSessions,
              orchSecret: secretGiven ? resolveSecret(flags) : undefined,
              transcoder: flags.transcoder,
              transcoderSessions: flags.transcoderSessions,
              transcoderTamper: flags.faultTamper,
              initializeRound: flags.initializeRound,
              reward: flags.reward,
              maxGasPrice: flags.maxGasPrice,
              maxSegmentBytes: flags.maxSegmentBytes,
              redeemBatch: flags.redeemBatch,
              redeemIntervalMs: flags.redeemInterval,
              version: VERSION,
            },
            log,
          );
        } catch (error) {
          failedToStart(log, error);
          return;
        }
        exitOnSignals(log, running.shutdown, {
          nowMessage: "second signal: exiting now (stored tickets are safe)",
        });
      })
  );
}

interface BroadcasterFlags extends ChainAndKeyFlags, HttpLimitFlags {
  orchestrators?: string[];
  httpAddr: string;
  rtmpAddr: string;
  streamKeys?: Map<string, string>;
  authWebhook?: string;
  renditions: Rendition[];
  maxPricePerPixel?: number;
  redundancy: number;
  maxAttempts: number;
  retriesPerMinute: number;
  dataDir: string;
  record: boolean;
  liveWindow: number;
  segmentDuration: number;
  reconnectGrace: number;
  httpIdle: number;
  discoveryInterval: number;
  maxSegmentBytes: number;
  verifyRate: number;
  evidenceUrl?: string;
  logLevel: string;
}

/** `720p30,360p30` (presets) or a JSON file of renditions. */
function ladderOption(value: string): Rendition[] {
  try {
    if (value.endsWith(".json") || fs.existsSync(value)) return ladderFromJson(fs.readFileSync(value, "utf8"));
    return ladderFromPresets(value);
  } catch (error) {
    throw new InvalidArgumentError(`--renditions: ${(error as Error).message}`);
  }
}

function urlList(value: string): string[] {
  const urls = value
    .split(",")
    .map((u) => u.trim().replace(/\/+$/, ""))
    .filter(Boolean);
  for (const url of urls) {
    if (!/^https?:\/\/[^\s/]+/.test(url))
      throw new InvalidArgumentError(`--orchestrators: ${url} is not an http(s) URL.`);
  }
  if (urls.length === 0) throw new InvalidArgumentError("--orchestrators lists no URL.");
  return urls;
}

function broadcasterCommand(): Command {
  return chainAndKeyOptions(
    new Command("broadcaster").description(
      "Take live streams (RTMP or HTTP push), have orchestrators transcode them for tickets, verify every result " +
        "and serve HLS with a status page (docs/broadcaster.md).",
    ),
    "broadcaster",
  )
    .addOption(
      new Option(
        "--orchestrators <urls>",
        "use these orchestrators (comma-separated) instead of the chain's pool",
      ).argParser(urlList),
    )
    .option("--http-addr <host:port>", "HLS playback, HTTP push ingest, status page, /metrics", "127.0.0.1:8936")
    .option("--rtmp-addr <host:port|off>", "RTMP ingest (rtmp://host:port/live/<streamKey>)", "127.0.0.1:1935")
    .addOption(
      new Option(
        "--stream-keys <list|@file>",
        "keys that may publish: name:key or key, comma-separated, or @file",
      ).argParser((value) => {
        try {
          return parseStreamKeys(value);
        } catch (error) {
          throw new InvalidArgumentError((error as Error).message);
        }
      }),
    )
    .option(
      "--auth-webhook <url>",
      "POST {streamKey, protocol, remoteAddress}; a 2xx answer (optionally {streamId}) accepts",
    )
    .addOption(
      new Option("--renditions <list|file.json>", "output ladder: presets or a JSON file")
        .argParser(ladderOption)
        .default(ladderFromPresets(DEFAULT_LADDER.join(",")), DEFAULT_LADDER.join(",")),
    )
    .addOption(
      new Option("--max-price-per-pixel <wei>", "skip orchestrators charging more (wei per output pixel)").argParser(
        (v) => {
          const n = Number(v);
          if (!/^\d+(\.\d+)?$/.test(v) || !Number.isFinite(n))
            throw new InvalidArgumentError("--max-price-per-pixel must be a number of wei.");
          return n;
        },
      ),
    )
    .addOption(
      new Option("--redundancy <n>", "send each segment to n orchestrators, keep the first verified result")
        .argParser(positiveInt("--redundancy"))
        .default(1),
    )
    .addOption(
      new Option("--max-attempts <n>", "orchestrators tried per segment before it is counted as lost")
        .argParser(positiveInt("--max-attempts"))
        .default(3),
    )
    .addOption(
      new Option("--retries-per-minute <n>", "retries allowed across all streams per minute (faults are not amplified)")
        .argParser(positiveInt("--retries-per-minute"))
        .default(60),
    )
    .option("--data-dir <dir>", "HLS output, evidence of failed verifications", ".streamflow/broadcaster")
    .option("--record", "keep every segment and serve ended streams as VOD", false)
    .addOption(
      new Option("--live-window <n>", "segments in a live playlist").argParser(positiveInt("--live-window")).default(6),
    )
    .addOption(
      new Option("--segment-duration <seconds>", "target segment length for RTMP ingest (cut at the next keyframe)")
        .argParser(seconds("--segment-duration"))
        .default(2000, "2"),
    )
    .addOption(
      new Option("--reconnect-grace <seconds>", "how long an RTMP publisher may take to come back to the same stream")
        .argParser(seconds("--reconnect-grace"))
        .default(5000, "5"),
    )
    .addOption(
      new Option("--http-idle <seconds>", "an HTTP-pushed stream ends after this long without a segment")
        .argParser(seconds("--http-idle"))
        .default(30_000, "30"),
    )
    .addOption(
      new Option("--discovery-interval <seconds>", "how often the chain's orchestrator pool is read again")
        .argParser(seconds("--discovery-interval"))
        .default(60_000, "60"),
    )
    .addOption(
      new Option("--max-segment-bytes <n>", "largest segment accepted")
        .argParser(positiveInt("--max-segment-bytes"))
        .default(DEFAULT_MAX_SEGMENT_BYTES, "64 MiB"),
    )
    .addOption(
      new Option(
        "--verify-rate <fraction>",
        "share of results also re-encoded here and compared (SSIM/PSNR); a clear fault is disputed on chain",
      )
        .argParser(fraction("--verify-rate"))
        .default(0),
    )
    .option("--evidence-url <url>", "public base URL of this daemon's /evidence for verifiers (default: --http-addr's)")
    .addOption(new Option("--log-level <level>", "log level").choices(LOG_LEVELS).default("info"))
    .action(async (flags: BroadcasterFlags) => {
      const log = createLogger("broadcaster", flags.logLevel);
      let running;
      try {
        running = await startBroadcaster(
          {
            ...chainAndKeyConfig(flags),
            orchestrators: flags.orchestrators,
            httpAddr: flags.httpAddr,
            httpLimits: httpLimitsOf(flags),
            rtmpAddr: flags.rtmpAddr === "off" ? undefined : flags.rtmpAddr,
            streamKeys: flags.streamKeys,
            authWebhook: flags.authWebhook,
            ladder: flags.renditions,
            maxPricePerPixel: flags.maxPricePerPixel,
            redundancy: flags.redundancy,
            maxAttempts: flags.maxAttempts,
            retriesPerMinute: flags.retriesPerMinute,
            dataDir: flags.dataDir,
            record: flags.record,
            liveWindow: flags.liveWindow,
            segmentSeconds: flags.segmentDuration / 1000,
            reconnectGraceMs: flags.reconnectGrace,
            httpIdleMs: flags.httpIdle,
            discoveryIntervalMs: flags.discoveryInterval,
            maxSegmentBytes: flags.maxSegmentBytes,
            verifyRate: flags.verifyRate,
            evidenceUrl: flags.evidenceUrl,
            version: VERSION,
          },
          log,
        );
      } catch (error) {
        failedToStart(log, error);
        return;
      }
      exitOnSignals(log, running.shutdown, { nowMessage: "second signal: exiting now" });
    });
}

interface VerifierFlags extends ChainAndKeyFlags, HttpLimitFlags {
  httpAddr: string;
  dataDir: string;
  stake?: bigint;
  pollInterval: number;
  maxGasPrice?: bigint;
  logLevel: string;
}

/** Whole or fractional LPT ("500", "12.5") to wei. */
function lptAmount(flag: string) {
  return (value: string): bigint => {
    if (!/^\d+(\.\d{1,18})?$/.test(value)) throw new InvalidArgumentError(`${flag} must be an amount of LPT, e.g. 500`);
    const [whole, fraction = ""] = value.split(".");
    return BigInt(whole) * 10n ** 18n + BigInt(fraction.padEnd(18, "0"));
  };
}

function verifierCommand(): Command {
  return chainAndKeyOptions(
    new Command("verifier").description(
      "Judge verification disputes: lock LPT as verifier stake, and when drawn onto a dispute's committee fetch " +
        "the evidence, re-encode and compare, then commit and reveal a vote (docs/disputes.md).",
    ),
    "verifier",
  )
    .option("--http-addr <host:port>", "where /healthz, /metrics and /api/status are served", "127.0.0.1:8937")
    .option("--data-dir <dir>", "votes and salts (SQLite); keep it across restarts", ".streamflow/verifier")
    .addOption(
      new Option(
        "--stake <lpt>",
        "keep at least this much LPT locked as verifier stake (approves and registers)",
      ).argParser(lptAmount("--stake")),
    )
    .addOption(
      new Option("--poll-interval <seconds>", "how often the chain is read")
        .argParser(seconds("--poll-interval"))
        .default(1000, "1"),
    )
    .addOption(
      new Option("--max-gas-price <gwei>", "never pay more than this per gas").argParser(gwei("--max-gas-price")),
    )
    .addOption(new Option("--log-level <level>", "log level").choices(LOG_LEVELS).default("info"))
    .action(async (flags: VerifierFlags) => {
      const log = createLogger("verifier", flags.logLevel);
      let running;
      try {
        running = await startVerifier(
          {
            ...chainAndKeyConfig(flags),
            httpAddr: flags.httpAddr,
            httpLimits: httpLimitsOf(flags),
            dataDir: flags.dataDir,
            stake: flags.stake,
            pollMs: flags.pollInterval,
            maxGasPrice: flags.maxGasPrice,
            version: VERSION,
          },
          log,
        );
      } catch (error) {
        failedToStart(log, error);
        return;
      }
      exitOnSignals(log, running.shutdown, { nowMessage: "second signal: exiting now (votes and salts are stored)" });
    });
}

/** Every role also takes the HTTP limit flags (common/flags.ts), listed last in its help. */
export function program(): Command {
  return new Command("streamflow")
    .description("Streamflow off-chain nodes: broadcaster, orchestrator, transcoder and verifier.")
    .version(VERSION)
    .showHelpAfterError()
    .addCommand(httpLimitOptions(broadcasterCommand()))
    .addCommand(httpLimitOptions(orchestratorCommand()))
    .addCommand(httpLimitOptions(transcoderCommand()))
    .addCommand(httpLimitOptions(verifierCommand()));
}

export async function main(argv: string[]): Promise<void> {
  try {
    await program().parseAsync(argv);
  } catch (error) {
    process.stderr.write(`streamflow: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}
