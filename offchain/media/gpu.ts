/**
 * NVIDIA GPUs for the transcoder: which ones to use (`--nvidia 0,1` or `all`), a start-up self-test of NVDEC and
 * NVENC on each (real ffmpeg runs on a tiny generated clip), and least-loaded assignment of jobs.
 * A GPU whose self-test fails is not used, and the caller falls back to the CPU with a warning.
 */
import type { MediaTools } from "./binaries";
import { MediaError } from "./errors";
import type { HardwarePlan } from "./transcode";
import { logTail, runProcess } from "./run";
import { generateTestSegment } from "./testsrc";

const SELF_TEST_TIMEOUT_MS = 30_000;

/** "0,1" → [0, 1]; "all" → every detected GPU. */
export function parseGpuList(spec: string, detected: readonly number[]): number[] {
  const trimmed = spec.trim();
  if (trimmed === "all") {
    if (detected.length === 0)
      throw new MediaError("GPU_UNAVAILABLE", "--nvidia all: no NVIDIA GPU found (nvidia-smi lists none).");
    return [...detected];
  }
  const ids = trimmed.split(",").map((part) => part.trim());
  if (ids.some((id) => !/^\d{1,2}$/.test(id))) {
    throw new MediaError("GPU_UNAVAILABLE", `--nvidia expects GPU indexes like "0,1" or "all" (got "${spec}").`);
  }
  return [...new Set(ids.map(Number))];
}

/** GPU indexes from nvidia-smi, or none if it is missing or fails. */
export async function detectNvidiaGpus(): Promise<number[]> {
  try {
    const result = await runProcess("nvidia-smi", {
      args: ["--query-gpu=index", "--format=csv,noheader"],
      timeoutMs: 10_000,
    });
    if (result.code !== 0) return [];
    return result.stdout
      .toString("utf8")
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => /^\d+$/.test(line))
      .map(Number);
  } catch {
    return [];
  }
}

export interface GpuSelfTest {
  gpu: number;
  decode: boolean;
  encode: boolean;
  /** Why a half failed, for the start-up warning. */
  problems: string[];
}

/** Decodes a clip with NVDEC and scales it with scale_cuda; encodes it again with NVENC; on one GPU. */
export async function selfTestGpu(tools: MediaTools, gpu: number): Promise<GpuSelfTest> {
  const problems: string[] = [];
  let clip: Buffer | undefined;
  /** Runs ffmpeg on a tiny generated H.264 clip fed on stdin, discarding the output. */
  const attempt = async (what: string, args: string[]): Promise<boolean> => {
    clip ??= await generateTestSegment(tools, { width: 320, height: 180, durationSec: 0.5, audio: false });
    const result = await runProcess(tools.ffmpeg.path, {
      args: ["-hide_banner", "-loglevel", "error", ...args, "-f", "null", "-"],
      input: clip,
      timeoutMs: SELF_TEST_TIMEOUT_MS,
    });
    if (result.code !== 0) problems.push(`${what} on GPU ${gpu} failed: ${logTail(result.stderrTail, 2)}`);
    return result.code === 0;
  };
  let decode = false;
  let encode = false;
  const cudaInput = ["-hwaccel", "cuda", "-hwaccel_device", `${gpu}`, "-hwaccel_output_format", "cuda"];
  if (!tools.hwaccels.has("cuda")) {
    problems.push(`ffmpeg ${tools.ffmpeg.version} at ${tools.ffmpeg.path} has no cuda hwaccel`);
  } else if (!tools.filters.has("scale_cuda")) {
    problems.push("ffmpeg has no scale_cuda filter");
  } else {
    const scale = ["-vf", "scale_cuda=w=160:h=90,hwdownload,format=nv12"];
    decode = await attempt("NVDEC/scale_cuda", [...cudaInput, "-f", "mpegts", "-i", "pipe:0", ...scale]);
  }
  if (!tools.encoders.has("h264_nvenc")) {
    problems.push("ffmpeg has no h264_nvenc encoder");
  } else {
    encode = await attempt("NVENC", ["-f", "mpegts", "-i", "pipe:0", "-c:v", "h264_nvenc", "-gpu", `${gpu}`]);
  }
  return { gpu, decode, encode, problems };
}

/** Hands each job the least-loaded usable GPU (ties to the lowest index), or none: the job then runs on the CPU. */
export class GpuPool {
  private readonly load = new Map<number, number>();
  constructor(private readonly gpus: readonly GpuSelfTest[]) {
    for (const g of gpus) if (g.decode || g.encode) this.load.set(g.gpu, 0);
  }

  get usable(): GpuSelfTest[] {
    return this.gpus.filter((g) => this.load.has(g.gpu));
  }

  /** Takes a GPU for one job; call the returned release() when the job ends. */
  acquire(): { plan?: HardwarePlan; release: () => void } {
    let best: GpuSelfTest | undefined;
    for (const g of this.usable) {
      const load = this.load.get(g.gpu)!;
      const bestLoad = best === undefined ? Infinity : this.load.get(best.gpu)!;
      if (load < bestLoad || (load === bestLoad && g.gpu < best!.gpu)) best = g;
    }
    if (!best) return { release: () => {} };
    const gpu = best.gpu;
    this.load.set(gpu, this.load.get(gpu)! + 1);
    let released = false;
    return {
      plan: { gpu, decode: best.decode, encode: best.encode },
      release: () => {
        if (released) return;
        released = true;
        this.load.set(gpu, this.load.get(gpu)! - 1);
      },
    };
  }

  loadOf(gpu: number): number {
    return this.load.get(gpu) ?? 0;
  }
}
