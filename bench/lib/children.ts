/** Child processes and periodic tasks a benchmark starts, and stops on the way out (errors and signals included). */
import { type ChildProcess, spawn } from "node:child_process";

/** Every Child still running: a bench's cleanup kills them all. */
export const running = new Set<Child>();

/** A process a bench starts itself (ffmpeg publishing or encoding): its exit, its wall time, its last stderr. */
export class Child {
  readonly process: ChildProcess;
  readonly startedAt = performance.now();
  stderr = "";
  readonly exited: Promise<{ code: number | null; wallMs: number }>;

  constructor(binary: string, args: readonly string[], onStdout?: (text: string) => void) {
    this.process = spawn(binary, args, { stdio: ["ignore", onStdout ? "pipe" : "ignore", "pipe"] });
    this.process.stderr!.setEncoding("utf8");
    this.process.stderr!.on("data", (chunk: string) => (this.stderr = (this.stderr + chunk).slice(-4000)));
    if (onStdout) {
      this.process.stdout!.setEncoding("utf8");
      this.process.stdout!.on("data", onStdout);
    }
    running.add(this);
    this.exited = new Promise((resolve) => {
      const done = (code: number | null) => {
        running.delete(this);
        resolve({ code, wallMs: performance.now() - this.startedAt });
      };
      this.process.once("error", () => done(null));
      this.process.once("close", done);
    });
  }

  get pid(): number {
    return this.process.pid ?? -1;
  }

  async kill(): Promise<void> {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill("SIGKILL");
    await this.exited;
  }
}

export function killAll(): Promise<void[]> {
  return Promise.all([...running].map((child) => child.kill()));
}

/** Runs `fn` every `intervalMs` (never two at once) until stopped; failures are counted, not thrown. */
export function repeat(intervalMs: number, fn: () => unknown) {
  let stopped = false;
  let wake = () => {};
  const state = { errors: 0, lastError: "" };
  const loop = (async () => {
    while (!stopped) {
      try {
        await fn();
      } catch (error) {
        state.errors++;
        state.lastError = (error as Error).message;
      }
      if (stopped) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, intervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  })();
  return {
    state,
    stop: async () => {
      stopped = true;
      wake();
      await loop;
    },
  };
}
