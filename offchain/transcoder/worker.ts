/**
 * Runs transcode jobs: validates the ladder, takes a GPU if there is one, calls offchain/media, and turns the
 * outcome into a protocol Result or JobError. No networking here: the client feeds it jobs.
 */
import type { MediaTools } from "../media/binaries";
import { MediaError } from "../media/errors";
import type { GpuPool } from "../media/gpu";
import { type Rendition, renditionFromJson, validateLadder } from "../media/ladder";
import { type SegmentLimits, type Tamper, type TranscodeResult, transcodeSegment } from "../media/transcode";
import type { Job, JobError, RenditionMeta, Result } from "./protocol";

export interface WorkerOptions {
  capacity: number;
  preset: string;
  gpus?: GpuPool;
  limits?: Partial<SegmentLimits>;
  /** The transcoder's own ceiling on a job's time, whatever the orchestrator asks. */
  maxJobMs: number;
  /** Deliberate fault injection (tests, `npm run demo -- --cheat`): wrong pictures of the right shape. */
  tamper?: Tamper;
}

export type JobOutcome =
  { ok: true; header: Result; payload: Buffer[]; result: TranscodeResult } | { ok: false; header: JobError };

/** Errors that another transcoder cannot fix (the input is at fault). */
function retryable(code: string): boolean {
  return !(code.startsWith("SEGMENT_") || code === "LADDER_INVALID");
}

export class TranscodeWorker {
  private running = 0;

  constructor(
    private readonly tools: MediaTools,
    private readonly options: WorkerOptions,
  ) {}

  get inFlight(): number {
    return this.running;
  }

  get capacity(): number {
    return this.options.capacity;
  }

  get hasRoom(): boolean {
    return this.running < this.options.capacity;
  }

  async run(job: Job, segment: Buffer, signal?: AbortSignal): Promise<JobOutcome> {
    const refuse = (code: string, message: string, canRetry = retryable(code)): JobOutcome => ({
      ok: false,
      header: { type: "error", jobId: job.jobId, code, message, retryable: canRetry },
    });
    if (!this.hasRoom) {
      return refuse("TRANSCODER_BUSY", `All ${this.options.capacity} sessions are in use.`, true);
    }
    let ladder: Rendition[];
    try {
      ladder = validateLadder(job.renditions.map((r, i) => renditionFromJson(r, `renditions[${i}]`)));
    } catch (error) {
      if (error instanceof MediaError) return refuse(error.code, error.message);
      throw error;
    }
    this.running++;
    const gpu = this.options.gpus?.acquire();
    try {
      const result = await transcodeSegment(this.tools, segment, ladder, {
        settings: { preset: this.options.preset, hardware: gpu?.plan, tamper: this.options.tamper },
        timeoutMs: Math.min(job.timeoutMs, this.options.maxJobMs),
        limits: this.options.limits,
        signal,
      });
      const renditions: RenditionMeta[] = result.renditions.map(({ data: _data, ...meta }) => meta);
      return {
        ok: true,
        header: { type: "result", jobId: job.jobId, renditions, device: result.device, timings: result.timings },
        payload: result.renditions.map((r) => r.data),
        result,
      };
    } catch (error) {
      if (error instanceof MediaError) return refuse(error.code, error.message);
      return refuse("TRANSCODE_FAILED", `Unexpected failure: ${(error as Error).message}`, true);
    } finally {
      gpu?.release();
      this.running--;
    }
  }
}
