/**
 * A stream's HLS output: segment files on disk (source and each rendition) and the playlists made from them. A
 * rendition's playlist lists segments in order up to the first one still in flight, so a live playlist never has a
 * segment inserted behind the player; a segment no orchestrator could transcode is skipped (a discontinuity) while
 * the source variant keeps it. Without `record` only a window of recent segments is kept on disk.
 *
 * What is published is also appended to a journal in the stream's directory, so that a restarted daemon continues
 * the same lists (numbering, media and discontinuity sequence numbers, files) instead of starting them over.
 */
import fs from "node:fs";
import path from "node:path";

import type { FittedRendition } from "../media/ladder";
import {
  type PlaylistSegment,
  type Variant,
  masterPlaylist,
  measuredBandwidth,
  mediaPlaylist,
  nominalVariant,
} from "../media/hls";
import type { SourceInfo } from "../media/probe";

export const SOURCE_RENDITION = "source";
const JOURNAL = "published.jsonl";

export interface HlsOutputOptions {
  dir: string;
  /** Segments listed in a live playlist. */
  window: number;
  /** Keep every segment and serve the stream as an event (then VOD once ended). */
  record: boolean;
}

/**
 * A published segment. `sequence` is its media sequence number in this rendition's playlist: consecutive, so that
 * players line reloads up correctly even where a lost segment (or a gap in an HTTP pusher's numbers) left a hole;
 * `seq` is the stream's number, in the URI. A hole is marked as a discontinuity.
 */
interface Published extends PlaylistSegment {
  seq: number;
  bytes: number;
}

type Appended = Pick<Published, "seq" | "durationSec" | "discontinuity" | "bytes">;

/**
 * One journal line: a segment appended to a variant's list; the last segment the publishing frontier passed (written
 * for a failed one, which appends nothing); or, after a compaction, what a variant's list had dropped from its front.
 */
type JournalLine =
  | ({ variant: string } & Appended)
  | { settled: number }
  | { variant: string; dropped: Published; droppedDiscontinuities: number };

/** A segment a previous run published as source but never settled: it was in flight when that run stopped. */
export interface Interrupted {
  seq: number;
  durationSec: number;
}

export class HlsOutput {
  private source?: SourceInfo;
  private fitted: FittedRendition[] = [];
  private readonly published = new Map<string, Published[]>();
  /** Discontinuities among segments dropped from the front of each list (their numbering must not change). */
  private readonly droppedDiscontinuities = new Map<string, number>();
  /** The last segment dropped from each list (numbering continues from it when a list is empty). */
  private readonly lastDropped = new Map<string, Published>();
  /** Segments whose renditions are not settled yet; the lowest of them is the publishing frontier. */
  private readonly inFlight = new Set<number>();
  /** Settled renditions waiting for earlier segments: seq → files per rendition (undefined = failed). */
  private readonly waiting = new Map<
    number,
    { durationSec: number; discontinuity: boolean; files?: Map<string, number> }
  >();
  private ended = false;
  /** The last segment the publishing frontier passed (published or failed); -1 before any. */
  private settledUpTo = -1;
  private readonly journal: string;
  private journalLines = 0;
  /** Left by a previous run: segments it never settled (see `Interrupted`). */
  readonly interrupted: Interrupted[] = [];

  constructor(private readonly options: HlsOutputOptions) {
    this.journal = path.join(options.dir, JOURNAL);
    if (!fs.existsSync(this.journal)) fs.rmSync(options.dir, { recursive: true, force: true }); // unlisted files
    fs.mkdirSync(path.join(options.dir, SOURCE_RENDITION), { recursive: true });
    this.restore();
  }

  /** The stream's last sequence number published (as source), by this run or a previous one. */
  get lastSeq(): number | undefined {
    return (this.published.get(SOURCE_RENDITION)?.at(-1) ?? this.lastDropped.get(SOURCE_RENDITION))?.seq;
  }

  get dir(): string {
    return this.options.dir;
  }

  get ready(): boolean {
    return this.source !== undefined;
  }

  get renditionNames(): string[] {
    return this.fitted.map((f) => f.rendition.name);
  }

  /** The first segment's source and fitted ladder fix the master playlist. */
  describe(source: SourceInfo, fitted: FittedRendition[]): void {
    if (this.source) return;
    this.source = source;
    this.fitted = fitted;
    for (const f of fitted) fs.mkdirSync(path.join(this.options.dir, f.rendition.name), { recursive: true });
  }

  private file(rendition: string, seq: number): string {
    return path.join(this.options.dir, rendition, `${seq}.ts`);
  }

  /** The source segment is published at once (the source variant plays even if transcoding fails). */
  addSource(seq: number, data: Buffer, durationSec: number, discontinuity: boolean): void {
    fs.writeFileSync(this.file(SOURCE_RENDITION, seq), data);
    this.append(SOURCE_RENDITION, { seq, durationSec, discontinuity, bytes: data.length });
    this.inFlight.add(seq);
  }

  /** Renditions of a segment, verified; published once every earlier segment has settled. */
  addRenditions(
    seq: number,
    renditions: ReadonlyArray<{ name: string; data: Buffer }>,
    durationSec: number,
    discontinuity: boolean,
  ): void {
    const files = new Map<string, number>();
    for (const r of renditions) {
      fs.writeFileSync(this.file(r.name, seq), r.data);
      files.set(r.name, r.data.length);
    }
    this.settle(seq, { durationSec, discontinuity, files });
  }

  /** A segment that could not be transcoded: its renditions skip it. */
  markFailed(seq: number, durationSec: number, discontinuity: boolean): void {
    this.settle(seq, { durationSec, discontinuity });
  }

  private settle(
    seq: number,
    entry: { durationSec: number; discontinuity: boolean; files?: Map<string, number> },
  ): void {
    this.inFlight.delete(seq);
    this.waiting.set(seq, entry);
    const frontier = this.inFlight.size > 0 ? Math.min(...this.inFlight) : Infinity;
    for (const s of [...this.waiting.keys()].sort((a, b) => a - b)) {
      if (s > frontier) break;
      const settled = this.waiting.get(s)!;
      this.waiting.delete(s);
      this.settledUpTo = s;
      if (!settled.files) {
        this.write({ settled: s });
        continue;
      }
      for (const [name, bytes] of settled.files) {
        this.append(name, { seq: s, durationSec: settled.durationSec, discontinuity: settled.discontinuity, bytes });
      }
    }
  }

  private append(rendition: string, segment: Appended): void {
    this.list(rendition, segment);
    this.write({ variant: rendition, ...segment });
    if (!this.options.record && this.journalLines > 4 * this.published.size * this.options.window) this.compact();
  }

  /** Appends to a variant's list (numbered after its last segment) and slides the live window. */
  private list(rendition: string, segment: Appended): void {
    let list = this.published.get(rendition);
    if (!list) this.published.set(rendition, (list = []));
    const last = list.at(-1) ?? this.lastDropped.get(rendition);
    list.push({
      ...segment,
      sequence: last ? last.sequence + 1 : 0,
      uri: `${rendition}/${segment.seq}.ts`,
      discontinuity: segment.discontinuity || (last !== undefined && segment.seq !== last.seq + 1),
    });
    if (this.options.record) return;
    // Keep twice the window on disk: players that loaded the previous playlist may still fetch those.
    const keep = 2 * this.options.window;
    while (list.length > keep) {
      const old = list.shift()!;
      this.lastDropped.set(rendition, old);
      if (list[0].discontinuity) {
        this.droppedDiscontinuities.set(rendition, (this.droppedDiscontinuities.get(rendition) ?? 0) + 1);
      }
      fs.rm(this.file(rendition, old.seq), { force: true }, () => {});
    }
  }

  private write(line: JournalLine): void {
    fs.appendFileSync(this.journal, JSON.stringify(line) + "\n");
    this.journalLines++;
  }

  /** Live streams: the journal rewritten as what the lists hold now, so that it does not grow for ever. */
  private compact(): void {
    const lines: JournalLine[] = [{ settled: this.settledUpTo }];
    for (const [variant, list] of this.published) {
      const dropped = this.lastDropped.get(variant);
      const droppedDiscontinuities = this.droppedDiscontinuities.get(variant) ?? 0;
      if (dropped) lines.push({ variant, dropped, droppedDiscontinuities });
      for (const { seq, durationSec, discontinuity, bytes } of list) {
        lines.push({ variant, seq, durationSec, discontinuity: discontinuity ?? false, bytes });
      }
    }
    const temporary = `${this.journal}.tmp`;
    fs.writeFileSync(temporary, lines.map((line) => JSON.stringify(line) + "\n").join(""));
    fs.renameSync(temporary, this.journal);
    this.journalLines = lines.length;
  }

  /**
   * Replays a previous run's journal: its lists come back as they were, and the source segments past its publishing
   * frontier become `interrupted` (the caller settles them). A line torn by a crash is skipped.
   */
  private restore(): void {
    let text: string;
    try {
      text = fs.readFileSync(this.journal, "utf8");
    } catch {
      return;
    }
    for (const raw of text.split("\n")) {
      let line: JournalLine;
      try {
        line = JSON.parse(raw) as JournalLine;
      } catch {
        continue;
      }
      this.journalLines++;
      if ("settled" in line) {
        this.settledUpTo = Math.max(this.settledUpTo, line.settled);
      } else if ("dropped" in line) {
        this.lastDropped.set(line.variant, line.dropped);
        this.droppedDiscontinuities.set(line.variant, line.droppedDiscontinuities);
      } else {
        this.list(line.variant, line);
        if (line.variant !== SOURCE_RENDITION) this.settledUpTo = Math.max(this.settledUpTo, line.seq);
      }
    }
    for (const s of this.published.get(SOURCE_RENDITION) ?? []) {
      if (s.seq > this.settledUpTo) this.interrupted.push({ seq: s.seq, durationSec: s.durationSec });
    }
  }

  end(): void {
    this.ended = true;
  }

  reopen(): void {
    this.ended = false;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  masterPlaylist(): string | undefined {
    if (!this.source) return undefined;
    const variants: Variant[] = this.fitted.map((f) => {
      const variant = nominalVariant(`${this.base}/${f.rendition.name}.m3u8`, f, this.source!);
      const measured = measuredBandwidth(this.published.get(f.rendition.name) ?? []);
      return measured.peak > variant.bandwidth ? { ...variant, bandwidth: measured.peak } : variant;
    });
    const sourceMeasured = measuredBandwidth(this.published.get(SOURCE_RENDITION) ?? []);
    variants.push({
      uri: `${this.base}/${SOURCE_RENDITION}.m3u8`,
      bandwidth: Math.max(1, sourceMeasured.peak),
      averageBandwidth: sourceMeasured.average || undefined,
      width: this.source.video.width,
      height: this.source.video.height,
      frameRate: this.source.video.fps || undefined,
      codecs: [],
    });
    return masterPlaylist(variants);
  }

  /** Relative URI prefix of the media playlists from the master (`/stream/<id>.m3u8` → `<id>/…`). */
  private get base(): string {
    return path.basename(this.options.dir);
  }

  mediaPlaylist(rendition: string): string | undefined {
    if (rendition !== SOURCE_RENDITION && !this.fitted.some((f) => f.rendition.name === rendition)) return undefined;
    const segments = this.published.get(rendition) ?? [];
    const kind = this.options.record ? (this.ended ? "vod" : "event") : "live";
    return mediaPlaylist(segments, {
      kind,
      window: this.options.window,
      ended: this.ended,
      targetDuration: Math.max(2, ...segments.map((s) => Math.round(s.durationSec))),
      discontinuitiesBefore: this.droppedDiscontinuities.get(rendition) ?? 0,
    });
  }

  /** A segment file's path if it is published (and so safe to serve). */
  segmentFile(rendition: string, seq: number): string | undefined {
    const list = this.published.get(rendition);
    if (!list?.some((s) => s.seq === seq)) return undefined;
    return this.file(rendition, seq);
  }
}
