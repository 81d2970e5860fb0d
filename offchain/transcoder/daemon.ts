/**
 * `streamflow transcoder`: finds and checks ffmpeg, self-tests the requested GPUs (falling back to the CPU with a
 * warning), serves /healthz and /metrics, and keeps a connection to the orchestrator. SIGTERM/SIGINT drain: jobs in
 * flight finish (or are handed back at the drain deadline), then the process exits.
 */
import os from "node:os";

import { type HttpLimits, createHttpApp, listen, parseListenAddress } from "../common/http";
import type { Logger } from "../common/log";
import { type MediaTools, mediaTools } from "../media/binaries";
import { GpuPool, type GpuSelfTest, detectNvidiaGpus, parseGpuList, selfTestGpu } from "../media/gpu";
import type { Tamper } from "../media/transcode";
import { TranscoderClient } from "./client";
import { TranscoderMetrics } from "./metrics";
import { type Capabilities, transcoderEndpoint } from "./protocol";
import { TranscodeWorker } from "./worker";

export interface TranscoderConfig {
  orchAddr: string;
  orchSecret: string;
  /** A number, or "auto": 8 per usable GPU, else half the CPU cores (at least 1). */
  maxSessions: number | "auto";
  /** "0,1", "all", or undefined for CPU only. */
  nvidia?: string;
  preset: string;
  httpAddr: string;
  /** Limits of the HTTP port (default DEFAULT_HTTP_LIMITS). */
  httpLimits?: HttpLimits;
  drainTimeoutMs: number;
  maxJobMs: number;
  name?: string;
  version?: string;
  /** Fault injection only: every rendition's picture is altered (see media/transcode Tamper). */
  tamper?: Tamper;
}

/** Source codecs worth announcing (a broadcaster sends one of these in MPEG-TS). */
const SOURCE_CODECS = ["h264", "hevc", "mpeg2video", "mpeg4", "vp9", "av1"];
const SESSIONS_PER_GPU = 8;

export function autoSessions(usableGpus: number, cpus = os.availableParallelism()): number {
  return usableGpus > 0 ? usableGpus * SESSIONS_PER_GPU : Math.max(1, Math.floor(cpus / 2));
}

export function capabilitiesOf(tools: MediaTools, gpus: readonly GpuSelfTest[]): Capabilities {
  return {
    decoders: SOURCE_CODECS.filter((codec) => tools.decoders.has(codec)),
    encoders: ["h264"],
    gpus: gpus.filter((g) => g.decode || g.encode).map((g) => ({ index: g.gpu, decode: g.decode, encode: g.encode })),
    deterministic: true,
  };
}

async function prepareGpus(tools: MediaTools, spec: string | undefined, log: Logger): Promise<GpuSelfTest[]> {
  if (spec === undefined) return [];
  const detected = await detectNvidiaGpus();
  let wanted: number[];
  try {
    wanted = parseGpuList(spec, detected);
  } catch (error) {
    if (spec.trim() !== "all") throw error; // a malformed list is a configuration error
    log.warn({ nvidia: spec }, `${(error as Error).message} Transcoding on the CPU.`);
    return [];
  }
  const results = await Promise.all(wanted.map((gpu) => selfTestGpu(tools, gpu)));
  for (const r of results) {
    if (r.decode && r.encode) log.info({ gpu: r.gpu }, "GPU self-test passed: NVDEC + NVENC");
    else if (r.decode)
      log.warn(
        { gpu: r.gpu, problems: r.problems },
        "GPU has NVDEC but no NVENC: decoding and scaling on the GPU, encoding with libx264",
      );
    else log.warn({ gpu: r.gpu, problems: r.problems }, "GPU self-test failed: this GPU is not used");
  }
  if (!results.some((r) => r.decode || r.encode))
    log.warn({ nvidia: spec }, "no usable NVIDIA GPU: transcoding on the CPU");
  return results;
}

export interface RunningTranscoder {
  client: TranscoderClient;
  httpUrl: string;
  capacity: number;
  /** Finishes or hands back jobs in flight, disconnects and closes the HTTP server. */
  shutdown(): Promise<void>;
}

export async function startTranscoder(config: TranscoderConfig, log: Logger): Promise<RunningTranscoder> {
  const url = transcoderEndpoint(config.orchAddr);
  const httpAddress = parseListenAddress(config.httpAddr, "--http-addr");
  const tools = await mediaTools();
  log.info({ ffmpeg: tools.ffmpeg, ffprobe: tools.ffprobe }, "media tools found");
  const gpuTests = await prepareGpus(tools, config.nvidia, log);
  const gpus = new GpuPool(gpuTests);
  const capacity = config.maxSessions === "auto" ? autoSessions(gpus.usable.length) : config.maxSessions;
  const metrics = new TranscoderMetrics();
  metrics.capacity.set(capacity);
  const worker = new TranscodeWorker(tools, {
    capacity,
    preset: config.preset,
    gpus: gpus.usable.length > 0 ? gpus : undefined,
    maxJobMs: config.maxJobMs,
    tamper: config.tamper,
  });
  if (config.tamper) log.warn({ tamper: config.tamper }, "FAULT INJECTION: every rendition will be altered");
  const client = new TranscoderClient({
    url,
    secret: config.orchSecret,
    worker,
    capabilities: capabilitiesOf(tools, gpuTests),
    name: config.name ?? os.hostname(),
    version: config.version,
    log: log.child({ component: "client" }),
    metrics,
  });
  const app = createHttpApp({
    registry: metrics.registry,
    limits: config.httpLimits,
    log,
    health: () => ({
      ok: client.state === "connected",
      state: client.state,
      orchestrator: url,
      transcoderId: client.transcoderId,
      capacity,
      jobsInFlight: client.jobsInFlight,
      gpus: gpus.usable.map((g) => ({ index: g.gpu, load: gpus.loadOf(g.gpu) })),
    }),
  });
  const httpUrl = await listen(app, httpAddress);
  log.info({ url: httpUrl }, "http listening");
  client.start();
  log.info({ orchestrator: url, capacity, gpus: gpus.usable.map((g) => g.gpu) }, "transcoder started");
  let shuttingDown: Promise<void> | undefined;
  return {
    client,
    httpUrl,
    capacity,
    shutdown: () =>
      (shuttingDown ??= (async () => {
        await client.drain(config.drainTimeoutMs);
        await app.close();
      })()),
  };
}
