/**
 * The demo's child processes: each one's output goes to its own log file (and, for the daemons' pino JSON lines,
 * to waiters), and every process is stopped on every path out: normal end, error, signal, or an exit handler as
 * the last resort.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import fs from "node:fs";
import path from "node:path";
import { stripVTControlCharacters } from "node:util";

import { freePort } from "../net";

export { freePort };

/** One pino log line: level 30 info, 40 warn, 50 error, 60 fatal. */
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

export class Child {
  readonly exited: Promise<Exit>;
  exit: Exit | undefined;
  /** Set once stop() was asked for: an exit after that is expected. */
  stopping = false;
  private readonly logs: LogRecord[] = [];
  private readonly events = new EventEmitter();

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly logFile: string,
    /** Later stages are stopped first. */
    readonly stage: number,
  ) {
    this.events.setMaxListeners(0);
    const file = fs.createWriteStream(logFile);
    let open = 2;
    const closeFile = () => {
      if (--open === 0) file.end();
    };
    this.collect(child.stdout!, file, closeFile);
    this.collect(child.stderr!, file, closeFile);
    this.exited = new Promise((resolve) => {
      child.once("close", (code, signal) => {
        this.exit = { code, signal };
        this.events.emit("exit", this.exit);
        resolve(this.exit);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** Exited without having been asked to. */
  get died(): boolean {
    return this.exit !== undefined && !this.stopping;
  }

  describeExit(): string {
    if (!this.exit) return "running";
    return this.exit.signal ? `killed by ${this.exit.signal}` : `exit code ${this.exit.code}`;
  }

  private collect(stream: NodeJS.ReadableStream, file: fs.WriteStream, done: () => void): void {
    let pending = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      file.write(chunk);
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const line of lines) this.line(line);
    });
    stream.on("end", () => {
      if (pending) this.line(pending);
      done();
    });
  }

  private line(raw: string): void {
    if (!raw.startsWith("{")) return;
    let record: unknown;
    try {
      record = JSON.parse(stripVTControlCharacters(raw));
    } catch {
      return;
    }
    if (typeof record !== "object" || record === null) return;
    this.logs.push(record as LogRecord);
    this.events.emit("log", record);
  }

  /**
   * The first log record (already logged or still to come) that matches; rejects if the process exits first or
   * nothing matches within `timeoutMs`.
   */
  waitForLog(predicate: LogPredicate, timeoutMs: number): Promise<LogRecord> {
    const matches = typeof predicate === "string" ? (r: LogRecord) => r.msg === predicate : predicate;
    const what = typeof predicate === "string" ? `"${predicate}"` : "the awaited log line";
    const found = this.logs.find(matches);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.events.off("log", onLog);
        this.events.off("exit", onExit);
      };
      const onLog = (record: LogRecord) => {
        if (!matches(record)) return;
        cleanup();
        resolve(record);
      };
      const onExit = () => {
        cleanup();
        reject(new Error(`${this.name} stopped (${this.describeExit()}) before it logged ${what}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.name} did not log ${what} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.events.on("log", onLog);
      if (this.exit) onExit();
      else this.events.on("exit", onExit);
    });
  }

  /** Resolves when the process exits, whoever asked it to. */
  onExit(listener: (child: Child) => void): void {
    void this.exited.then(() => listener(this));
  }

  /**
   * SIGTERM (the daemons drain and exit); SIGKILL to its whole process group if it is still there after `graceMs`.
   * Idempotent. Returns whether something of its group (an ffmpeg it started) outlived it and had to be killed.
   */
  async stop(graceMs: number): Promise<boolean> {
    this.stopping = true;
    if (this.exit === undefined) {
      this.child.kill("SIGTERM");
      const kill = setTimeout(() => this.killGroup(), graceMs);
      await this.exited;
      clearTimeout(kill);
    }
    return this.killGroup();
  }

  /** SIGKILL to the process group it leads (spawned detached); true if anything was there to receive it. */
  killGroup(): boolean {
    if (this.pid === undefined) return false;
    try {
      return process.kill(-this.pid, "SIGKILL");
    } catch {
      return false; // ESRCH: the group is gone
    }
  }

  /** The last `lines` lines of its log file, each cut to `width` characters. */
  tail(lines = 20, width = 400): string {
    try {
      const all = fs.readFileSync(this.logFile, "utf8").trimEnd().split("\n");
      return all
        .slice(-lines)
        .map((line) => (line.length > width ? line.slice(0, width) + "…" : line))
        .join("\n");
    } catch {
      return "(no log)";
    }
  }
}

/**
 * Every process the demo started; stopped by stage, the stream source and the broadcaster before their suppliers.
 * Each child leads its own process group (an ffmpeg it runs goes with it); a watchdog process kills whatever groups
 * are left if the demo itself dies without cleaning up (SIGKILL).
 */
export class ProcessGroup {
  private readonly children: Child[] = [];
  private closed = false;
  private readonly watchdog: ChildProcess;

  constructor(readonly logDir: string) {
    fs.mkdirSync(logDir, { recursive: true });
    // Last resort (an uncaught error, process.exit): nothing outlives the demo.
    process.once("exit", () => this.killAll());
    this.watchdog = spawn(
      process.execPath,
      ["-r", require.resolve("ts-node/register/transpile-only"), path.join(__dirname, "watchdog.ts")],
      { detached: true, stdio: ["pipe", "ignore", "ignore"] },
    );
    this.watchdog.stdin!.on("error", () => {}); // a watchdog that could not start must not take the demo down
    this.watchdog.unref();
  }

  /** Tells the watchdog about a process group: "+pid" to watch, "-pid" once it is gone. */
  private tellWatchdog(line: string): void {
    if (this.watchdog.stdin!.writable) this.watchdog.stdin!.write(line + "\n");
  }

  get all(): readonly Child[] {
    return this.children;
  }

  spawn(name: string, command: string, args: readonly string[], cwd: string, stage: number): Child {
    if (this.closed) throw new Error(`not starting ${name}: the demo is stopping`);
    const child = spawn(command, args, {
      cwd,
      env: process.env,
      stdio: ["ignore", "pipe", "pipe"],
      // Own process group: Ctrl-C in the terminal reaches only the demo, which then stops its children in order.
      detached: true,
    });
    const tracked = new Child(name, child, path.join(this.logDir, `${name}.log`), stage);
    this.children.push(tracked);
    if (child.pid !== undefined) this.tellWatchdog(`+${child.pid}`);
    return tracked;
  }

  /** The first child that exited on its own, if any. */
  firstDead(): Child | undefined {
    return this.children.find((child) => child.died);
  }

  /**
   * Stops every child, latest stage first (the stages in parallel), each with SIGTERM and then SIGKILL after
   * `graceMs`. Returns the names of those that left processes behind.
   */
  async stopAll(graceMs: number): Promise<string[]> {
    this.closed = true;
    const leftovers: string[] = [];
    const stages = [...new Set(this.children.map((child) => child.stage))].sort((a, b) => b - a);
    for (const stage of stages) {
      const children = this.children.filter((child) => child.stage === stage);
      const stray = await Promise.all(children.map((child) => child.stop(graceMs)));
      children.forEach((child, i) => {
        if (stray[i]) leftovers.push(child.name);
        if (child.pid !== undefined) this.tellWatchdog(`-${child.pid}`);
      });
    }
    return leftovers;
  }

  /** Synchronous SIGKILL of whatever still runs (for the exit handler). */
  killAll(): void {
    this.closed = true;
    for (const child of this.children) {
      child.stopping = true;
      child.killGroup();
    }
  }
}
