/**
 * Runs one ffmpeg/ffprobe process to completion with the input on stdin and any number of outputs (and more inputs)
 * on extra pipes (fd 3, 4, ...), so a segment never touches the disk. The process is killed (SIGKILL) when its time
 * limit passes or the caller aborts, and the promise settles only after the child has exited and been reaped.
 */
import { spawn } from "node:child_process";

export interface RunOptions {
  args: readonly string[];
  /** Written to the child's stdin, which is then closed. */
  input?: Uint8Array;
  /** How many extra output pipes to open (fd 3 .. 3 + outputPipes - 1). */
  outputPipes?: number;
  /** More inputs, each written to its own pipe after the output pipes (fd 3 + outputPipes + i), then closed. */
  inputPipes?: readonly Uint8Array[];
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** Caps each output pipe; a child that writes more is killed (a defence against decompression bombs). */
  maxOutputBytes?: number;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The child was killed because its time limit passed. */
  timedOut: boolean;
  /** The child was killed because the caller aborted. */
  aborted: boolean;
  /** The child was killed because an output pipe exceeded maxOutputBytes. */
  overflowed: boolean;
  stdout: Buffer;
  /** The last STDERR_TAIL_BYTES of stderr: enough to explain a failure, bounded whatever the child prints. */
  stderrTail: string;
  outputs: Buffer[];
  wallMs: number;
}

const STDERR_TAIL_BYTES = 8 * 1024;
const DEFAULT_MAX_OUTPUT_BYTES = 512 * 1024 * 1024;

class ChunkCollector {
  private readonly chunks: Buffer[] = [];
  size = 0;
  constructor(private readonly limit: number) {}

  /** Returns false once the limit is passed. */
  push(chunk: Buffer): boolean {
    this.size += chunk.length;
    if (this.size > this.limit) return false;
    this.chunks.push(chunk);
    return true;
  }

  concat(): Buffer {
    return Buffer.concat(this.chunks); // only chunks within the limit were kept
  }
}

export function runProcess(binary: string, options: RunOptions): Promise<RunResult> {
  const started = performance.now();
  const extra = options.outputPipes ?? 0;
  const extraInputs = options.inputPipes ?? [];
  const maxOutput = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  return new Promise((resolve, reject) => {
    const pipes = extra + extraInputs.length;
    const stdio = ["pipe", "pipe", "pipe", ...Array.from({ length: pipes }, () => "pipe" as const)] as const;
    const child = spawn(binary, options.args as string[], {
      stdio: stdio as unknown as ["pipe", "pipe", "pipe"],
      env: options.env ?? process.env,
    });
    let timedOut = false;
    let aborted = false;
    let overflowed = false;
    let spawnError: Error | undefined;
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, options.timeoutMs);
    const onAbort = () => {
      aborted = true;
      kill();
    };
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener("abort", onAbort, { once: true });

    const stdout = new ChunkCollector(maxOutput);
    child.stdout!.on("data", (chunk: Buffer) => {
      if (!stdout.push(chunk)) {
        overflowed = true;
        kill();
      }
    });
    let stderrTail = Buffer.alloc(0);
    child.stderr!.on("data", (chunk: Buffer) => {
      stderrTail = Buffer.concat([stderrTail, chunk]);
      if (stderrTail.length > STDERR_TAIL_BYTES)
        stderrTail = stderrTail.subarray(stderrTail.length - STDERR_TAIL_BYTES);
    });
    const outputs = Array.from({ length: extra }, (_, i) => {
      const collector = new ChunkCollector(maxOutput);
      const stream = child.stdio[3 + i] as NodeJS.ReadableStream;
      stream.on("data", (chunk: Buffer) => {
        if (!collector.push(chunk)) {
          overflowed = true;
          kill();
        }
      });
      return collector;
    });

    // A child that exits before reading all its input (bad data, a kill) makes the write fail with EPIPE: expected.
    child.stdin!.on("error", () => {});
    if (options.input) child.stdin!.end(options.input);
    else child.stdin!.end();
    extraInputs.forEach((data, i) => {
      const stream = child.stdio[3 + extra + i] as NodeJS.WritableStream;
      stream.on("error", () => {});
      stream.end(data);
    });

    child.once("error", (error) => {
      spawnError = error;
    });
    // "close" fires after the process exited and every stdio stream ended, so every output byte is in.
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      if (spawnError) {
        reject(spawnError);
        return;
      }
      resolve({
        code,
        signal,
        timedOut,
        aborted,
        overflowed,
        stdout: stdout.concat(),
        stderrTail: stderrTail.toString("utf8"),
        outputs: outputs.map((o) => o.concat()),
        wallMs: performance.now() - started,
      });
    });
  });
}

/** The last few meaningful lines of an ffmpeg log, for an error message. */
export function logTail(stderr: string, lines = 4): string {
  return stderr
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .slice(-lines)
    .join(" | ");
}
