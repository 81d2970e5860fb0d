/**
 * Runs `streamflow transcoder` (bin/streamflow.js) as a real process for end-to-end tests: collects its output
 * (pino JSON lines on stdout, colour codes stripped), waits for log lines by listening to that output, and stops it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import path from "node:path";
import { stripVTControlCharacters } from "node:util";

import { ROOT } from "./processes";
import type { TranscoderHub } from "./transcoderHub";

const STREAMFLOW = path.join(ROOT, "bin", "streamflow.js");
/** How long stop() lets a SIGTERM drain before it insists. */
const STOP_GRACE_MS = 3_000;

/** One JSON log line (pino): level 30 info, 40 warn, 50 error, 60 fatal. */
export interface LogRecord {
  level?: number;
  msg?: string;
  [field: string]: unknown;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export type LogPredicate = string | ((record: LogRecord) => boolean);

export class TranscoderDaemon {
  /** Parsed JSON log lines from stdout, in order. */
  readonly logs: LogRecord[] = [];
  /** Every line of stdout and stderr, colour codes stripped. */
  readonly lines: string[] = [];
  /** Resolves once the process has exited and its output is fully read. */
  readonly exited: Promise<Exit>;
  /** The /healthz and /metrics base URL, known after "http listening". */
  httpUrl = "";
  private exit: Exit | undefined;
  private readonly events = new EventEmitter();

  constructor(readonly child: ChildProcess) {
    this.events.setMaxListeners(0);
    this.collect(child.stdout!, true);
    this.collect(child.stderr!, false);
    this.exited = new Promise((resolve) => {
      child.once("close", (code, signal) => {
        this.exit = { code, signal };
        this.events.emit("exit", this.exit);
        resolve(this.exit);
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** stdout and stderr so far, for assertion messages. */
  get output(): string {
    return this.lines.join("\n");
  }

  private collect(stream: NodeJS.ReadableStream, json: boolean): void {
    let pending = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      pending += chunk;
      const parts = pending.split("\n");
      pending = parts.pop()!;
      for (const part of parts) this.line(part, json);
    });
    stream.on("end", () => {
      if (pending.length > 0) this.line(pending, json);
      pending = "";
    });
  }

  private line(raw: string, json: boolean): void {
    const text = stripVTControlCharacters(raw);
    this.lines.push(text);
    if (!json) return;
    let record: LogRecord;
    try {
      record = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof record !== "object" || record === null) return;
    this.logs.push(record);
    if (record.msg === "http listening" && typeof record.url === "string") this.httpUrl = record.url;
    this.events.emit("log", record);
  }

  /** Resolves with the first log record (already logged or still to come) that matches; rejects if the process exits first. */
  waitForLog(predicate: LogPredicate): Promise<LogRecord> {
    const matches = typeof predicate === "string" ? (r: LogRecord) => r.msg === predicate : predicate;
    const found = this.logs.find(matches);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const onLog = (record: LogRecord) => {
        if (!matches(record)) return;
        cleanup();
        resolve(record);
      };
      const onExit = (exit: Exit) => {
        cleanup();
        reject(
          new Error(`the transcoder exited (${exit.code ?? exit.signal}) before the awaited log line:\n${this.output}`),
        );
      };
      const cleanup = () => {
        this.events.off("log", onLog);
        this.events.off("exit", onExit);
      };
      this.events.on("log", onLog);
      if (this.exit) onExit(this.exit);
      else this.events.on("exit", onExit);
    });
  }

  /** The n-th (1-based) record that matches, waiting for it. */
  async waitForNthLog(predicate: LogPredicate, n: number): Promise<LogRecord> {
    const matches = typeof predicate === "string" ? (r: LogRecord) => r.msg === predicate : predicate;
    let seen = 0;
    return this.waitForLog((record) => matches(record) && ++seen === n);
  }

  signal(signal: NodeJS.Signals): void {
    if (!this.exit) this.child.kill(signal);
  }

  /**
   * SIGTERM (a graceful drain); if it is still running after a few seconds, a second SIGTERM (the daemon cancels
   * its jobs, killing their ffmpeg, and exits), then SIGKILL as a last resort. Idempotent.
   */
  async stop(): Promise<void> {
    if (this.exit) return;
    this.child.kill("SIGTERM");
    const again = setTimeout(() => this.child.kill("SIGTERM"), STOP_GRACE_MS);
    const kill = setTimeout(() => this.child.kill("SIGKILL"), 2 * STOP_GRACE_MS);
    await this.exited;
    clearTimeout(again);
    clearTimeout(kill);
  }

  async get(route: "/healthz" | "/metrics"): Promise<{ status: number; text: string }> {
    if (!this.httpUrl) throw new Error("the transcoder has not logged its http address yet");
    const response = await fetch(this.httpUrl + route);
    return { status: response.status, text: await response.text() };
  }

  async health(): Promise<{ status: number; body: Record<string, unknown> }> {
    const { status, text } = await this.get("/healthz");
    return { status, body: JSON.parse(text) };
  }

  async metrics(): Promise<string> {
    const { status, text } = await this.get("/metrics");
    if (status !== 200) throw new Error(`/metrics answered ${status}`);
    return text;
  }
}

function withoutUndefined(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined));
}

/** Runs `node bin/streamflow.js <args>` as is (no flags added) and returns at once. */
export function spawnStreamflow(args: readonly string[], env: NodeJS.ProcessEnv = {}): TranscoderDaemon {
  const child = spawn(process.execPath, [STREAMFLOW, ...args], {
    cwd: ROOT,
    env: withoutUndefined({ ...process.env, ...env }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new TranscoderDaemon(child);
}

/**
 * Spawns `streamflow transcoder --orch-addr 127.0.0.1:<hub port> --http-addr 127.0.0.1:0 <args>` with the hub's
 * secret in STREAMFLOW_ORCH_SECRET (override or unset it through `env`), without waiting for anything.
 */
export function spawnTranscoderDaemon(
  hub: TranscoderHub,
  args: readonly string[] = [],
  env: NodeJS.ProcessEnv = {},
): TranscoderDaemon {
  return spawnStreamflow(
    ["transcoder", "--orch-addr", `127.0.0.1:${hub.port}`, "--http-addr", "127.0.0.1:0", ...args],
    { STREAMFLOW_ORCH_SECRET: hub.secret, ...env },
  );
}

async function ready(daemon: TranscoderDaemon, waitFor: LogPredicate): Promise<TranscoderDaemon> {
  await daemon.waitForLog("http listening");
  await daemon.waitForLog(waitFor);
  return daemon;
}

/**
 * As spawnTranscoderDaemon, then waits until the daemon logs `waitFor` (by default: registered with the hub).
 * If it exits first, it rejects with the daemon's output; if it fails to start, it is stopped.
 */
export async function startTranscoderDaemon(
  hub: TranscoderHub,
  args: readonly string[] = [],
  env: NodeJS.ProcessEnv = {},
  waitFor: LogPredicate = "registered with the orchestrator",
): Promise<TranscoderDaemon> {
  const daemon = spawnTranscoderDaemon(hub, args, env);
  try {
    return await ready(daemon, waitFor);
  } catch (error) {
    await daemon.stop();
    throw error;
  }
}

/** The processes one test (or one describe) started, so afterEach/after can stop every one of them. */
export class DaemonGroup {
  private readonly running: TranscoderDaemon[] = [];

  track(daemon: TranscoderDaemon): TranscoderDaemon {
    this.running.push(daemon);
    return daemon;
  }

  spawn(hub: TranscoderHub, args: readonly string[] = [], env: NodeJS.ProcessEnv = {}): TranscoderDaemon {
    return this.track(spawnTranscoderDaemon(hub, args, env));
  }

  spawnStreamflow(args: readonly string[], env: NodeJS.ProcessEnv = {}): TranscoderDaemon {
    return this.track(spawnStreamflow(args, env));
  }

  start(
    hub: TranscoderHub,
    args: readonly string[] = [],
    env: NodeJS.ProcessEnv = {},
    waitFor: LogPredicate = "registered with the orchestrator",
  ): Promise<TranscoderDaemon> {
    return ready(this.spawn(hub, args, env), waitFor);
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.running.splice(0).map((daemon) => daemon.stop()));
  }
}
