/**
 * HLS playlists written by our code (RFC 8216): media playlists for a live sliding window, a growing event, or a
 * finished VOD, and master playlists with BANDWIDTH, AVERAGE-BANDWIDTH, RESOLUTION, FRAME-RATE and CODECS.
 */
import type { FittedRendition } from "./ladder";
import type { SourceInfo } from "./probe";

export interface PlaylistSegment {
  /** Media sequence number: consecutive, never reused within a stream. */
  sequence: number;
  uri: string;
  durationSec: number;
  /** Set on the first segment after a break in timestamps or encoding (e.g. the publisher reconnected). */
  discontinuity?: boolean;
}

export type PlaylistKind = "live" | "event" | "vod";

export interface MediaPlaylistOptions {
  kind: PlaylistKind;
  /** Live only: how many of the newest segments to list (default 6). */
  window?: number;
  /** A live or event stream that has ended: adds EXT-X-ENDLIST. VOD always has it. */
  ended?: boolean;
  /** Keep a stable target duration across reloads (RFC 8216 §6.2.1); default: from the listed segments. */
  targetDuration?: number;
  /**
   * Discontinuities in segments the caller no longer passes (those before the first one given). Discontinuity
   * numbers are counted from the stream's start, so pass every segment since then or this count.
   */
  discontinuitiesBefore?: number;
}

function checkUri(uri: string): string {
  if (/[\r\n]/.test(uri) || uri.length === 0) throw new Error(`invalid playlist URI ${JSON.stringify(uri)}`);
  return uri;
}

/** EXTINF as written: milliseconds precision. */
function extinf(durationSec: number): string {
  return durationSec.toFixed(3);
}

/** RFC 8216 §4.3.3.1: every EXTINF as written, rounded to the nearest integer, must not exceed the target duration. */
export function targetDurationFor(segments: readonly PlaylistSegment[]): number {
  return Math.max(1, ...segments.map((s) => Math.round(Number(extinf(s.durationSec)))));
}

/** A segment starts a new discontinuity when flagged or when a sequence number was skipped before it. */
function startsDiscontinuity(ordered: readonly PlaylistSegment[], i: number): boolean {
  return i > 0 && (ordered[i].discontinuity === true || ordered[i].sequence !== ordered[i - 1].sequence + 1);
}

export function mediaPlaylist(segments: readonly PlaylistSegment[], options: MediaPlaylistOptions): string {
  const ordered = [...segments].sort((a, b) => a.sequence - b.sequence);
  const window = options.kind === "live" ? Math.max(1, options.window ?? 6) : ordered.length;
  const listed = ordered.slice(Math.max(0, ordered.length - window));
  const first = ordered.length - listed.length;
  // Each segment's discontinuity number (RFC 8216 §6.2.2): it must not change while the window slides over it.
  let discontinuities = options.discontinuitiesBefore ?? 0;
  for (let i = 0; i <= first && i < ordered.length; i++) if (startsDiscontinuity(ordered, i)) discontinuities++;
  const target = Math.max(options.targetDuration ?? 0, targetDurationFor(listed));
  const lines = ["#EXTM3U", "#EXT-X-VERSION:3", `#EXT-X-TARGETDURATION:${target}`];
  lines.push(`#EXT-X-MEDIA-SEQUENCE:${listed[0]?.sequence ?? ordered.length}`);
  if (discontinuities > 0) lines.push(`#EXT-X-DISCONTINUITY-SEQUENCE:${discontinuities}`);
  if (options.kind !== "live") lines.push(`#EXT-X-PLAYLIST-TYPE:${options.kind === "vod" ? "VOD" : "EVENT"}`);
  listed.forEach((segment, i) => {
    if (i > 0 && startsDiscontinuity(ordered, first + i)) lines.push("#EXT-X-DISCONTINUITY");
    lines.push(`#EXTINF:${extinf(segment.durationSec)},`, checkUri(segment.uri));
  });
  if (options.kind === "vod" || options.ended) lines.push("#EXT-X-ENDLIST");
  return lines.join("\n") + "\n";
}

export interface Variant {
  uri: string;
  /** Peak bits per second, container overhead included. */
  bandwidth: number;
  averageBandwidth?: number;
  width: number;
  height: number;
  frameRate?: number;
  /** RFC 6381 codec strings, video first ("avc1.64001f", "mp4a.40.2"). */
  codecs: readonly string[];
}

export function masterPlaylist(variants: readonly Variant[]): string {
  if (variants.length === 0) throw new Error("a master playlist needs at least one variant");
  const lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"];
  for (const v of variants) {
    if (!Number.isInteger(v.bandwidth) || v.bandwidth <= 0)
      throw new Error(`BANDWIDTH must be a positive integer (got ${v.bandwidth})`);
    const attributes = [`BANDWIDTH=${v.bandwidth}`];
    if (v.averageBandwidth) attributes.push(`AVERAGE-BANDWIDTH=${Math.round(v.averageBandwidth)}`);
    attributes.push(`RESOLUTION=${v.width}x${v.height}`);
    if (v.frameRate) attributes.push(`FRAME-RATE=${v.frameRate.toFixed(3)}`);
    if (v.codecs.length > 0) attributes.push(`CODECS="${v.codecs.join(",")}"`);
    lines.push(`#EXT-X-STREAM-INF:${attributes.join(",")}`, checkUri(v.uri));
  }
  return lines.join("\n") + "\n";
}

/** RFC 6381 string for the source's audio (copied into every rendition), or undefined when we cannot name it. */
export function audioCodecString(audio: SourceInfo["audio"]): string | undefined {
  if (!audio) return undefined;
  switch (audio.codec) {
    case "aac":
      // Audio object types (ISO 14496-3): ffprobe's profile names; no profile (the fast path) is taken as LC.
      switch (audio.profile) {
        case "HE-AACv2":
          return "mp4a.40.29";
        case "HE-AAC":
          return "mp4a.40.5";
        case "Main":
          return "mp4a.40.1";
        case "LTP":
          return "mp4a.40.4";
        case undefined:
        case "LC":
          return "mp4a.40.2";
        default:
          return undefined;
      }
    case "mp3":
      return "mp4a.40.34";
    case "ac3":
      return "ac-3";
    case "eac3":
      return "ec-3";
    default:
      return undefined;
  }
}

/** MPEG-TS packet and PES overhead on top of the elementary streams (measured ~5-8% on our renditions). */
const TS_OVERHEAD = 1.1;

/**
 * A variant for a rendition before any segment exists. Each segment is encoded on its own, starting with a full
 * VBV buffer (one second of maxrate, x264 fills it to 90%), so a segment may carry up to `bitrate × (1 + 0.9 / d)`;
 * plus audio plus container overhead.
 */
export function nominalVariant(
  uri: string,
  fitted: FittedRendition,
  source: SourceInfo,
  segmentSeconds = 2,
  audioBitrate = 128_000,
): Variant {
  const audioCodec = audioCodecString(source.audio);
  const audio = source.audio ? audioBitrate : 0;
  return {
    uri,
    bandwidth: Math.ceil((fitted.bitrate * (1 + 0.9 / segmentSeconds) + audio) * TS_OVERHEAD),
    width: fitted.width,
    height: fitted.height,
    frameRate: fitted.fps,
    codecs: source.audio && !audioCodec ? [] : [fitted.codec, ...(audioCodec ? [audioCodec] : [])],
  };
}

/** Peak and average bits per second of segments already written (what BANDWIDTH should say once known). */
export function measuredBandwidth(segments: ReadonlyArray<{ bytes: number; durationSec: number }>): {
  peak: number;
  average: number;
} {
  let peak = 0;
  let bits = 0;
  let seconds = 0;
  for (const s of segments) {
    if (s.durationSec <= 0) continue;
    peak = Math.max(peak, Math.ceil((s.bytes * 8) / s.durationSec));
    bits += s.bytes * 8;
    seconds += s.durationSec;
  }
  return { peak, average: seconds > 0 ? Math.round(bits / seconds) : 0 };
}
