/**
 * What happens to each ingested segment: checked and measured, published as the source rendition, sent to an
 * orchestrator (or `redundancy` of them) with tickets, verified, and published; on failure retried elsewhere within
 * a per-segment attempt limit and a per-minute retry budget. A segment is never dropped silently: it is published
 * or counted as lost (logged, and its source still plays).
 */
import fs from "node:fs";
import path from "node:path";

import type { Logger } from "../common/log";
import { keccak256 } from "../pm/crypto";
import type { MediaTools } from "../media/binaries";
import { MediaError } from "../media/errors";
import { type FittedRendition, type Rendition, fitLadder } from "../media/ladder";
import { checkTransportStream } from "../media/mpegts";
import { type SourceInfo, probeSegment, sourceInfoFromTransportStream } from "../media/probe";
import { OrchestratorError } from "../orchestrator/client";
import { type ReceiptDomain, receiptFromJson } from "../orchestrator/receipt";
import { CLEAR_FAULT_THRESHOLDS, type SegmentComparison, compareSegment, judgeComparison } from "../media/compare";
import { type TranscodeResult, transcodeSegment } from "../media/transcode";
import type { ClearFault } from "./disputes";
import { HlsOutput } from "./hlsOutput";
import { type LinkResult, OrchestratorLink } from "./link";
import type { BroadcasterMetrics } from "./metrics";
import { type OrchestratorBook, type OrchestratorEntry, RetryBudget } from "./selection";
import { VerificationError, verifySegment } from "./verify";

export type IngestKind = "rtmp" | "http";

export interface SegmentRecord {
  seq: number;
  durationMs: number;
  status: "in-flight" | "ok" | "failed";
  orchestrator?: string;
  attempts: number;
  /** Ingest to published. */
  latencyMs?: number;
  /** The transcoder's own time, as the orchestrator reports it. */
  transcodeMs?: number;
  /** Our checks of the result (hashes, signature, structure, decoding). */
  verifyMs?: number;
  at: number;
  error?: string;
}

export class Stream {
  state: "live" | "ended" = "live";
  readonly startedAt = Date.now();
  endedAt?: number;
  segmentsIn = 0;
  segmentsOut = 0;
  segmentsFailed = 0;
  /** The next sequence number (RTMP numbers segments itself; HTTP push must send increasing ones). */
  nextSeq = 0;
  discontinuityNext = false;
  readonly recent: SegmentRecord[] = [];
  readonly inFlight = new Set<Promise<SegmentRecord>>();

  constructor(
    readonly id: string,
    public ingest: IngestKind,
    readonly output: HlsOutput,
  ) {}
}

export class IngestError extends Error {
  override readonly name = "IngestError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface PipelineOptions {
  address: string;
  ladder: Rendition[];
  dataDir: string;
  window: number;
  record: boolean;
  redundancy: number;
  maxAttempts: number;
  maxSegmentBytes: number;
  tools: MediaTools;
  /** Decode every rendition before publishing (off only for benchmarks of the rest). */
  decodeCheck: boolean;
  receiptDomain(info: { chainId: bigint }): ReceiptDomain;
  book: OrchestratorBook;
  budget: RetryBudget;
  link(url: string): OrchestratorLink;
  metrics: BroadcasterMetrics;
  log: Logger;
  /** Share of verified results also re-encoded here and compared (0 = none). */
  verifyRate?: number;
  /** Draws for the sampling; Math.random unless a test fixes it. */
  random?: () => number;
  /** A sampled result was clearly wrong: the disputer takes it from here. */
  onClearFault?: (fault: ClearFault) => void;
}

/** A signed result that a local re-encode shows to be clearly wrong. */
export class QualityFault extends VerificationError {
  constructor(readonly reasons: string[]) {
    super(`clearly wrong output: ${reasons.join("; ")}`);
  }
}

export interface ErrorRecord {
  at: number;
  message: string;
  stream?: string;
  orchestrator?: string;
}

const RECENT_SEGMENTS = 20;
/** As many as an orchestrator queues per stream: more in flight means the stream cannot keep up anyway. */
const MAX_IN_FLIGHT_PER_STREAM = 4;
const RECENT_ERRORS = 50;

export class Pipeline {
  readonly streams = new Map<string, Stream>();
  readonly errors: ErrorRecord[] = [];
  errorCount = 0;
  private readonly abort = new AbortController();
  /** Each source's keccak256, computed once however many orchestrators it goes to. */
  private readonly sourceHashes = new WeakMap<Buffer, string>();
  /** --verify-rate: the own encode of a source, made once however many results of it are checked (--redundancy). */
  private readonly ownEncodes = new WeakMap<Buffer, Promise<TranscodeResult>>();

  constructor(private readonly options: PipelineOptions) {}

  /** A publisher starts (or comes back): the same stream id continues the same stream after a discontinuity. */
  open(id: string, ingest: IngestKind): Stream {
    let stream = this.streams.get(id);
    if (stream) {
      stream.ingest = ingest;
      if (stream.state === "ended" || ingest === "rtmp") stream.discontinuityNext = stream.segmentsIn > 0;
      stream.state = "live";
      stream.endedAt = undefined;
      stream.output.reopen();
    } else {
      const dir = path.join(this.options.dataDir, "streams", id);
      const output = new HlsOutput({ dir, window: this.options.window, record: this.options.record });
      stream = new Stream(id, ingest, output);
      this.streams.set(id, stream);
      this.resume(stream);
    }
    this.options.metrics.streams.set(this.liveCount());
    return stream;
  }

  /**
   * A stream a previous run of the daemon published (its HLS journal): numbering continues after it, behind a
   * discontinuity, and the segments that run left in flight are counted lost here (their source stays published).
   */
  private resume(stream: Stream): void {
    const last = stream.output.lastSeq;
    if (last === undefined) return;
    stream.nextSeq = last + 1;
    stream.discontinuityNext = true;
    for (const { seq, durationSec } of stream.output.interrupted) {
      const durationMs = Math.round(durationSec * 1000);
      const record: SegmentRecord = { seq, durationMs, status: "in-flight", attempts: 0, at: Date.now() };
      stream.recent.unshift(record);
      stream.segmentsIn++;
      void this.giveUp(stream, record, false, "in flight when the broadcaster stopped (restarted since)");
    }
    stream.recent.length = Math.min(stream.recent.length, RECENT_SEGMENTS);
    this.options.log.info({ stream: stream.id, nextSeq: stream.nextSeq }, "stream resumed from a previous run");
  }

  /** The publisher is gone: the playlists end once the segments in flight are settled. */
  async end(id: string): Promise<void> {
    const stream = this.streams.get(id);
    if (!stream || stream.state === "ended") return;
    stream.state = "ended";
    stream.endedAt = Date.now();
    await Promise.allSettled([...stream.inFlight]);
    if (stream.state === "ended") stream.output.end();
    this.options.book.release(id);
    this.options.metrics.streams.set(this.liveCount());
  }

  private liveCount(): number {
    return [...this.streams.values()].filter((s) => s.state === "live").length;
  }

  /**
   * Takes one source segment. Throws IngestError for what the publisher must fix (not MPEG-TS, a sequence number
   * already used); otherwise publishes the source and resolves once the renditions are published or given up on.
   */
  async ingest(stream: Stream, data: Buffer, seq?: number, hintDurationMs?: number): Promise<SegmentRecord> {
    try {
      checkTransportStream(data, this.options.maxSegmentBytes);
    } catch (error) {
      if (error instanceof MediaError)
        throw new IngestError(error.code === "SEGMENT_TOO_LARGE" ? 413 : 400, error.code, error.message);
      throw error;
    }
    const number = seq ?? stream.nextSeq;
    if (number < stream.nextSeq) {
      throw new IngestError(
        409,
        "SEGMENT_OUT_OF_ORDER",
        `segment ${number} of ${stream.id} comes after ${stream.nextSeq - 1}: sequence numbers must increase`,
      );
    }
    let source: SourceInfo;
    try {
      source = sourceInfoFromTransportStream(data) ?? (await probeSegment(this.options.tools, data));
    } catch (error) {
      if (error instanceof MediaError) throw new IngestError(400, error.code, error.message);
      throw error;
    }
    if (number > stream.nextSeq && stream.segmentsIn > 0) stream.discontinuityNext = true;
    stream.nextSeq = number + 1;
    const durationMs = source.durationMs > 0 ? source.durationMs : (hintDurationMs ?? 2000);
    const fitted = fitLadder(this.options.ladder, source.video);
    stream.output.describe(source, fitted);
    const discontinuity = stream.discontinuityNext;
    stream.discontinuityNext = false;
    stream.output.addSource(number, data, durationMs / 1000, discontinuity);
    stream.segmentsIn++;
    this.options.metrics.segmentsIn.inc({ ingest: stream.ingest });
    const record: SegmentRecord = { seq: number, durationMs, status: "in-flight", attempts: 0, at: Date.now() };
    stream.recent.unshift(record);
    stream.recent.length = Math.min(stream.recent.length, RECENT_SEGMENTS);
    const work =
      stream.inFlight.size >= MAX_IN_FLIGHT_PER_STREAM
        ? this.giveUp(
            stream,
            record,
            discontinuity,
            `${stream.inFlight.size} segments of the stream are still in flight: transcoding is slower than real time`,
          )
        : this.transcode(stream, record, data, source, fitted, discontinuity);
    stream.inFlight.add(work);
    void work.finally(() => stream.inFlight.delete(work));
    return work;
  }

  private async transcode(
    stream: Stream,
    record: SegmentRecord,
    data: Buffer,
    source: SourceInfo,
    fitted: FittedRendition[],
    discontinuity: boolean,
  ): Promise<SegmentRecord> {
    const { book, budget, maxAttempts, redundancy, metrics } = this.options;
    const started = performance.now();
    const tried = new Set<string>();
    let lastError = "no orchestrator available";
    // --verify-rate samples segments: every result for a sampled one is compared with our own encode, which starts
    // now, while the orchestrators transcode, so that only the comparison waits for their answer.
    const rate = this.options.verifyRate ?? 0;
    const sampled = rate > 0 && (this.options.random ?? Math.random)() < rate;
    if (sampled) this.ownEncode(data).catch(() => undefined);
    while (record.attempts < maxAttempts && !this.abort.signal.aborted) {
      if (record.attempts > 0 && !budget.take()) {
        metrics.retriesRefused.inc();
        lastError += `; no retry: the budget of ${budget.perMinute} retries per minute is spent`;
        break;
      }
      const picks: OrchestratorEntry[] = [];
      const first = book.pick(stream.id, tried);
      if (first) picks.push(first);
      while (first && picks.length < redundancy) {
        const extra = book.draw(new Set([...tried, ...picks.map((p) => p.url)]));
        if (!extra) break;
        picks.push(extra);
      }
      if (picks.length === 0) {
        // Everyone is suspended for now: wait for the first to come back if that is soon enough for this segment.
        const until = book.nextEligibleAt(tried);
        const deadline = started + Math.max(8000, 2 * record.durationMs);
        if (until === undefined || until > Date.now() + (deadline - performance.now())) break;
        await sleep(until - Date.now(), this.abort.signal);
        continue;
      }
      record.attempts++;
      for (const p of picks) tried.add(p.url);
      const outcome = await firstVerified(
        picks.map((entry) => this.attempt(stream, record, entry, data, source, fitted, sampled)),
      );
      if ("result" in outcome) {
        const { result, entry } = outcome;
        stream.output.addRenditions(
          record.seq,
          fitted.map((f, i) => ({ name: f.rendition.name, data: result.response.renditions[i] })),
          record.durationMs / 1000,
          discontinuity,
        );
        record.status = "ok";
        record.orchestrator = entry.url;
        record.latencyMs = Math.round(performance.now() - started);
        record.transcodeMs = Math.round(result.response.result.timings.transcodeMs);
        record.verifyMs = outcome.verifyMs;
        stream.segmentsOut++;
        metrics.segmentsOut.inc({ outcome: "transcoded" });
        metrics.latencySeconds.observe(record.latencyMs / 1000);
        return record;
      }
      lastError = outcome.errors.map((e) => e.error).join("; ");
      // A busy orchestrator may still take this segment once its Retry-After has passed (a round change, say).
      for (const e of outcome.errors) if (e.busy) tried.delete(e.url);
    }
    return this.giveUp(stream, record, discontinuity, lastError, started);
  }

  /** Counts a segment as lost: its source still plays, its renditions skip it. */
  private async giveUp(
    stream: Stream,
    record: SegmentRecord,
    discontinuity: boolean,
    lastError: string,
    started = performance.now(),
  ): Promise<SegmentRecord> {
    const { metrics, log } = this.options;
    stream.output.markFailed(record.seq, record.durationMs / 1000, discontinuity);
    record.status = "failed";
    record.error = lastError;
    record.latencyMs = Math.round(performance.now() - started);
    stream.segmentsFailed++;
    metrics.segmentsOut.inc({ outcome: "lost" });
    this.error(`segment ${record.seq} of ${stream.id} was not transcoded (source only): ${lastError}`, stream.id);
    log.error({ stream: stream.id, seq: record.seq, attempts: record.attempts, reason: lastError }, "segment lost");
    return record;
  }

  /** One request to one orchestrator, verified; failures are recorded against it and returned as text. */
  private async attempt(
    stream: Stream,
    record: SegmentRecord,
    entry: OrchestratorEntry,
    data: Buffer,
    source: SourceInfo,
    fitted: FittedRendition[],
    sampled: boolean,
  ): Promise<{ result: LinkResult; entry: OrchestratorEntry; verifyMs: number } | AttemptError> {
    const { book, metrics, log } = this.options;
    const link = this.options.link(entry.url);
    const started = performance.now();
    let result: LinkResult | undefined;
    let busy = false;
    try {
      const info = await link.ensureInfo();
      entry.address = info.address;
      entry.pricePerPixel = Number(info.priceInfo.pricePerUnit) / Number(info.priceInfo.pixelsPerUnit);
      if (!book.isAffordable(entry)) {
        metrics.attempts.inc({ outcome: "PRICE_TOO_HIGH" });
        return {
          url: entry.url,
          error: `${entry.url}: price ${entry.pricePerPixel} wei per pixel is above --max-price-per-pixel`,
        };
      }
      const timeoutMs = Math.max(8000, 4 * record.durationMs);
      result = await link.send(
        {
          streamId: stream.id,
          seq: record.seq,
          body: data,
          sourceHash: this.hashOf(data),
          durationMs: record.durationMs,
          ladder: this.options.ladder,
          source: source.video,
        },
        timeoutMs,
        this.abort.signal,
      );
      metrics.ticketsSent.inc(result.ticketsSent);
      metrics.ticketEVWei.inc(Number(result.ev));
      metrics.feesWei.inc(Number(result.response.result.fee));
      const verifyStarted = performance.now();
      await verifySegment(
        {
          broadcaster: this.options.address,
          streamId: stream.id,
          seq: record.seq,
          source: data,
          sourceHash: this.hashOf(data),
          durationMs: record.durationMs,
          sourceFrames: source.video.frames,
          sourceFps: source.video.fps,
          ladder: this.options.ladder,
          fitted,
        },
        result.response,
        result.info,
        this.options.receiptDomain(result.info),
        this.options.decodeCheck ? this.options.tools : undefined,
      );
      if (sampled) await this.checkQuality(stream, record, entry, data, result);
      book.recordSuccess(entry.url, performance.now() - started, record.durationMs);
      metrics.attempts.inc({ outcome: "ok" });
      return { result, entry, verifyMs: Math.round(performance.now() - verifyStarted) };
    } catch (error) {
      const message = (error as Error).message;
      if (error instanceof VerificationError) {
        const fault = error instanceof QualityFault;
        book.recordFailure(entry.url, fault ? "fault" : "verification");
        if (fault && result) {
          this.options.onClearFault?.({
            streamId: stream.id,
            seq: record.seq,
            orchestratorUrl: entry.url,
            receipt: receiptFromJson(result.response.result.receipt),
            signature: result.response.result.signature,
            source: data,
            durationMs: record.durationMs,
            outputs: result.response.renditions,
            reasons: error.reasons,
          });
        }
        metrics.attempts.inc({ outcome: "verification" });
        metrics.verificationFailures.inc();
        const evidence = this.keepEvidence(stream, record, entry, data, result, message);
        log.warn(
          { stream: stream.id, seq: record.seq, orchestrator: entry.url, reason: message, evidence },
          "result failed verification",
        );
        this.error(
          `segment ${record.seq} of ${stream.id}: ${entry.url} failed verification: ${message}`,
          stream.id,
          entry.url,
        );
      } else {
        const code =
          error instanceof OrchestratorError
            ? error.code
            : ((error as { code?: string }).code ?? (error as Error).name);
        const retryAfterMs = error instanceof OrchestratorError && error.retryAfterS ? error.retryAfterS * 1000 : 0;
        busy = error instanceof OrchestratorError && error.status === 503;
        book.recordFailure(entry.url, busy ? "busy" : "error", retryAfterMs);
        metrics.attempts.inc({ outcome: String(code) });
        log.warn(
          { stream: stream.id, seq: record.seq, orchestrator: entry.url, code, reason: message },
          "orchestrator request failed",
        );
        this.error(`segment ${record.seq} of ${stream.id}: ${entry.url}: ${message}`, stream.id, entry.url);
      }
      return { url: entry.url, error: `${entry.url}: ${message}`, busy };
    }
  }

  /**
   * --verify-rate: re-encode the source here and compare. A clear fault throws QualityFault (retried elsewhere and
   * disputed); a merely suspect result is published and logged, since honest encoders differ a little.
   */
  private async checkQuality(
    stream: Stream,
    record: SegmentRecord,
    entry: OrchestratorEntry,
    data: Buffer,
    result: LinkResult,
  ): Promise<void> {
    const { metrics, log, tools, ladder } = this.options;
    let report: SegmentComparison;
    // The own encode started with the segment (see transcode); a failed one is a failed check, not a fault.
    try {
      report = await compareSegment(tools, data, ladder, result.response.renditions, {
        reference: await this.ownEncode(data),
        signal: this.abort.signal,
      });
    } catch (error) {
      metrics.qualityChecks.inc({ verdict: "error" });
      log.warn({ stream: stream.id, seq: record.seq, reason: (error as Error).message }, "quality check failed");
      return;
    }
    const clear = judgeComparison(report, CLEAR_FAULT_THRESHOLDS);
    if (clear.verdict === "fault") {
      metrics.qualityChecks.inc({ verdict: "clear-fault" });
      throw new QualityFault(clear.reasons);
    }
    const { verdict, reasons } = judgeComparison(report);
    metrics.qualityChecks.inc({ verdict: verdict === "fault" ? "suspect" : "ok" });
    if (verdict === "fault") {
      log.warn({ stream: stream.id, seq: record.seq, orchestrator: entry.url, reasons }, "suspect quality (published)");
    }
  }

  /** Our own encode of a source with the ladder, made once however many results of it are compared. */
  private ownEncode(data: Buffer): Promise<TranscodeResult> {
    let encode = this.ownEncodes.get(data);
    if (!encode) {
      encode = transcodeSegment(this.options.tools, data, this.options.ladder, { signal: this.abort.signal });
      this.ownEncodes.set(data, encode);
    }
    return encode;
  }

  private hashOf(data: Buffer): string {
    let hash = this.sourceHashes.get(data);
    if (!hash) {
      hash = "0x" + keccak256(data).toString("hex");
      this.sourceHashes.set(data, hash);
    }
    return hash;
  }

  /** Source, renditions and the signed answer of a result that failed verification: what a dispute needs. */
  private keepEvidence(
    stream: Stream,
    record: SegmentRecord,
    entry: OrchestratorEntry,
    source: Buffer,
    result: LinkResult | undefined,
    reason: string,
  ): string | undefined {
    if (!result) return undefined;
    const dir = path.join(
      this.options.dataDir,
      "evidence",
      stream.id,
      `${record.seq}-${entry.address ?? "unknown"}-${Date.now()}`,
    );
    try {
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, "source.ts"), source);
      result.response.renditions.forEach((data, i) =>
        fs.writeFileSync(
          path.join(dir, `${result.response.result.renditions[i]?.name ?? i}.ts`.replace(/[/\\]/g, "_")),
          data,
        ),
      );
      const answer = {
        reason,
        orchestrator: { url: entry.url, address: result.info.address },
        ...result.response.result,
      };
      fs.writeFileSync(path.join(dir, "result.json"), JSON.stringify(answer, null, 2));
      return dir;
    } catch (error) {
      this.options.log.error({ dir, error: (error as Error).message }, "could not keep the evidence");
      return undefined;
    }
  }

  private error(message: string, stream?: string, orchestrator?: string): void {
    this.errorCount++;
    this.errors.unshift({ at: Date.now(), message, stream, orchestrator });
    this.errors.length = Math.min(this.errors.length, RECENT_ERRORS);
  }

  /** Lets the segments in flight finish for up to `graceMs`, then aborts what is left and waits for it to settle. */
  async close(graceMs = 10_000): Promise<void> {
    const settled = () => Promise.allSettled([...this.streams.values()].flatMap((s) => [...s.inFlight]));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([settled(), new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    this.abort.abort();
    await settled();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, Math.max(0, ms));
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

/** The first attempt that verified, or every attempt's error once all failed. */
interface AttemptError {
  url: string;
  error: string;
  /** A 503: the orchestrator may take the segment after its Retry-After. */
  busy?: boolean;
}

function firstVerified<T>(attempts: Array<Promise<T | AttemptError>>): Promise<T | { errors: AttemptError[] }> {
  return new Promise((resolve) => {
    const errors: AttemptError[] = [];
    for (const attempt of attempts) {
      void attempt.then((outcome) => {
        if (typeof outcome === "object" && outcome !== null && "error" in outcome) {
          errors.push(outcome);
          if (errors.length === attempts.length) resolve({ errors });
        } else {
          resolve(outcome);
        }
      });
    }
  });
}
