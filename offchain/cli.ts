/**
 * `streamflow <role> [flags]`: one command for every daemon (see docs/transcoder.md and ../shared design).
 * Parsing and validation only; each role's module does the work.
 */
import fs from "node:fs";

import { Command, InvalidArgumentError, Option } from "commander";

import { LOG_LEVELS, createLogger } from "./common/log";
import { MediaError } from "./media/errors";
import { X264_PRESETS } from "./media/transcode";
import { FatalConnectionError } from "./transcoder/client";
import { startTranscoder } from "./transcoder/daemon";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const VERSION: string = require("../package.json").version;

function positiveInt(flag: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < 1)
      throw new InvalidArgumentError(`${flag} must be a positive integer.`);
    return Number(value);
  };
}

function sessions(value: string): number | "auto" {
  return value === "auto" ? "auto" : positiveInt("--max-sessions")(value);
}

function seconds(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${flag} must be a number of seconds above 0.`);
    return Math.round(n * 1000);
  };
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

interface TranscoderFlags {
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
  logLevel: string;
}

function transcoderCommand(): Command {
  return new Command("transcoder")
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
            drainTimeoutMs: flags.drainTimeout,
            maxJobMs: flags.maxJobTime,
            name: flags.name,
            version: VERSION,
          },
          log,
        );
      } catch (error) {
        const code = error instanceof MediaError ? error.code : undefined;
        log.fatal({ code }, (error as Error).message);
        process.exitCode = 1;
        return;
      }
      const { client } = running;
      let signals = 0;
      const onSignal = (signal: NodeJS.Signals) => {
        signals++;
        if (signals > 1) {
          log.warn({ signal }, "second signal: stopping now, jobs in flight are handed back");
          client.stop();
          process.exit(1);
        }
        log.info({ signal, jobsInFlight: client.jobsInFlight }, "shutting down");
        void running.shutdown().then(() => {
          log.info("stopped");
          process.exit(0);
        });
      };
      process.on("SIGTERM", onSignal);
      process.on("SIGINT", onSignal);
      client.on("fatal", (error: FatalConnectionError) => {
        log.fatal(error.message);
        void running.shutdown().finally(() => process.exit(2));
      });
    });
}

export function program(): Command {
  return new Command("streamflow")
    .description("Streamflow off-chain nodes. Roles built so far: transcoder.")
    .version(VERSION)
    .showHelpAfterError()
    .addCommand(transcoderCommand());
}

export async function main(argv: string[]): Promise<void> {
  try {
    await program().parseAsync(argv);
  } catch (error) {
    process.stderr.write(`streamflow: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}
