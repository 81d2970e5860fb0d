/**
 * Cuts a live input (an RTMP URL) into MPEG-TS segments on keyframes with ffmpeg's segment muxer, stream copy: a
 * segment ends at the first keyframe after the target duration, so the encoder's GOP decides and nothing is cut
 * mid-GOP. ffmpeg appends each finished segment to a CSV list; we read the new lines, hand each segment over and
 * delete its file. Stopping sends SIGINT (then SIGKILL) so the last segment is flushed.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import fs from "node:fs";
import path from "node:path";

export interface SegmenterOptions {
  ffmpeg: string;
  input: string;
  /** Scratch directory for this run (created, and removed when the run ends). */
  dir: string;
  targetSeconds: number;
  /** How often the list is read (ffmpeg's list has no change notification that works everywhere). */
  pollMs?: number;
}

export interface CutSegment {
  /** 0-based index within this run. */
  index: number;
  data: Buffer;
  /** From the muxer's start and end times. */
  durationMs: number;
}

/** Emits "segment" (CutSegment) and "end" ({code, stderr}). */
export class Segmenter extends EventEmitter {
  private child?: ChildProcess;
  private timer?: NodeJS.Timeout;
  private next = 0;
  private stderr = "";
  private exited?: Promise<void>;

  constructor(private readonly options: SegmenterOptions) {
    super();
  }

  start(): void {
    const { dir, targetSeconds } = this.options;
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    const args = [
      "-hide_banner",
      "-loglevel",
      "error",
      "-nostdin",
      "-rw_timeout",
      "15000000", // a publisher silent for 15 s is gone
      // Probe one second, not five: the first segment should not wait on stream analysis.
      "-analyzeduration",
      "1000000",
      "-i",
      this.options.input,
      "-map",
      "0:v:0",
      "-map",
      "0:a:0?",
      "-c",
      "copy",
      "-f",
      "segment",
      "-segment_time",
      String(targetSeconds),
      "-segment_format",
      "mpegts",
      "-segment_list",
      path.join(dir, "list.csv"),
      "-segment_list_type",
      "csv",
      "-segment_list_flags",
      "live",
      path.join(dir, "%d.ts"),
    ];
    const child = spawn(this.options.ffmpeg, args, { stdio: ["ignore", "ignore", "pipe"] });
    this.child = child;
    child.stderr!.on("data", (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4096);
    });
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        clearInterval(this.timer);
        this.collect(); // the final segment is listed when ffmpeg closes the muxer
        fs.rmSync(dir, { recursive: true, force: true });
        this.emit("end", { code, signal, stderr: this.stderr.trim() });
        resolve();
      });
      child.once("error", (error) => {
        this.stderr += error.message;
      });
    });
    this.timer = setInterval(() => this.collect(), this.options.pollMs ?? 200);
    this.timer.unref();
  }

  private collect(): void {
    let text: string;
    try {
      text = fs.readFileSync(path.join(this.options.dir, "list.csv"), "utf8");
    } catch {
      return; // no segment finished yet
    }
    for (const line of text.split("\n")) {
      const match = /^(\d+)\.ts,([\d.]+),([\d.]+)$/.exec(line.trim());
      if (!match || Number(match[1]) < this.next) continue;
      const index = Number(match[1]);
      const file = path.join(this.options.dir, `${index}.ts`);
      let data: Buffer;
      try {
        data = fs.readFileSync(file);
      } catch {
        continue;
      }
      fs.rmSync(file, { force: true });
      this.next = index + 1;
      const durationMs = Math.round((Number(match[3]) - Number(match[2])) * 1000);
      this.emit("segment", { index, data, durationMs } satisfies CutSegment);
    }
  }

  /** Asks ffmpeg to finish (SIGINT: it closes the muxer, flushing the last segment); kills it after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return this.exited;
    // ffmpeg's first signal ends its loop at the next packet; only a second one interrupts a read that waits for a
    // publisher who is gone. The second is SIGTERM: static builds may reset the SIGINT handler after one use.
    child.kill("SIGINT");
    const again = setTimeout(() => child.kill("SIGTERM"), 250);
    const hard = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(again);
    clearTimeout(hard);
  }

  /** Waits up to `timeoutMs` for ffmpeg to end by itself (its input closed), then stops it. */
  async finish(timeoutMs = 3000): Promise<void> {
    if (!this.running) return this.exited;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), timeoutMs)));
    const outcome = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (outcome === "late") await this.stop();
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }
}
