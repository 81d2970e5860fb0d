/**
 * Rendition ladders: the presets, the JSON format, validation, fitting a rendition to a source (aspect ratio kept,
 * never above the source's size or frame rate), the H.264 level each output needs, and the canonical JSON whose
 * keccak is a receipt's `profilesHash` (protocol.md).
 */
import { keccak256 } from "../pm/crypto";
import { MediaError } from "./errors";
import { avcCodecString } from "./h264";

export type H264Profile = "baseline" | "main" | "high";
export const H264_PROFILES: readonly H264Profile[] = ["baseline", "main", "high"];

export interface Rendition {
  name: string;
  /** The box the output must fit in, in pixels (even). */
  width: number;
  height: number;
  /** Frames per second at most (a slower source keeps its own rate). */
  fps: number;
  /** Target video bitrate in bits per second. */
  bitrate: number;
  profile: H264Profile;
  /** Keyframe interval in seconds; every output starts with a keyframe. */
  gop: number;
  /** Encode so that any honest run gives identical bytes (single-threaded x264, fixed settings, CPU only). */
  deterministic: boolean;
}

export const DEFAULT_GOP_SECONDS = 2;
export const DEFAULT_PROFILE: H264Profile = "high";
export const MAX_RENDITIONS = 8;
export const MAX_DIMENSION = 4096;
const MIN_DIMENSION = 16;
const MIN_BITRATE = 16_000;
const MAX_BITRATE = 100_000_000;

function preset(name: string, width: number, height: number, kbps: number): Rendition {
  return {
    name,
    width,
    height,
    fps: 30,
    bitrate: kbps * 1000,
    profile: DEFAULT_PROFILE,
    gop: DEFAULT_GOP_SECONDS,
    deterministic: false,
  };
}

/** The presets of offchain.md, 16:9, 30 fps. */
export const PRESETS: Readonly<Record<string, Rendition>> = {
  "1080p30": preset("1080p30", 1920, 1080, 5000),
  "720p30": preset("720p30", 1280, 720, 3000),
  "480p30": preset("480p30", 854, 480, 1500),
  "360p30": preset("360p30", 640, 360, 1000),
  "240p30": preset("240p30", 426, 240, 600),
};

export const DEFAULT_LADDER = ["720p30", "480p30", "360p30", "240p30"] as const;

function invalid(message: string): never {
  throw new MediaError("LADDER_INVALID", message);
}

function presetNamed(name: string): Rendition {
  const key = name.trim();
  const found = [key, `${key}30`].filter((name) => Object.hasOwn(PRESETS, name)).map((name) => PRESETS[name])[0];
  if (!found)
    invalid(`Unknown rendition preset "${key}"; presets: ${Object.keys(PRESETS).join(", ")} (or 720p for 720p30).`);
  return { ...found };
}

/** "720p,480p30" → renditions from the presets. */
export function ladderFromPresets(list: string): Rendition[] {
  const names = list.split(",").filter((name) => name.trim().length > 0);
  if (names.length === 0) invalid("The rendition list is empty.");
  return validateLadder(names.map(presetNamed));
}

/** "3000k", "2.5M", 3000000 → bits per second. */
export function parseBitrate(value: unknown, where: string): number {
  if (typeof value === "number") return value;
  if (typeof value === "string") {
    const match = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(value.trim());
    if (match) return Math.round(Number(match[1]) * (match[2] === "" ? 1 : /k/i.test(match[2]) ? 1e3 : 1e6));
  }
  return invalid(
    `${where}.bitrate: expected bits per second or a string like "3000k" or "2.5M" (got ${JSON.stringify(value)})`,
  );
}

const FIELDS = ["name", "width", "height", "fps", "bitrate", "profile", "gop", "deterministic"];

/** A rendition from its JSON form: a preset name, or an object (missing fields come from `preset`, if named). */
export function renditionFromJson(value: unknown, where: string): Rendition {
  if (typeof value === "string") return presetNamed(value);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    invalid(`${where}: expected a preset name or an object with ${FIELDS.join(", ")}`);
  }
  const object = value as Record<string, unknown>;
  const unknown = Object.keys(object).filter((key) => !FIELDS.includes(key) && key !== "preset");
  if (unknown.length > 0)
    invalid(`${where}: unknown field ${unknown.map((k) => `"${k}"`).join(", ")}; fields: ${FIELDS.join(", ")}, preset`);
  const base: Partial<Rendition> = typeof object.preset === "string" ? presetNamed(object.preset) : {};
  const merged = { gop: DEFAULT_GOP_SECONDS, profile: DEFAULT_PROFILE, deterministic: false, ...base, ...object };
  return {
    name: merged.name as string,
    width: merged.width as number,
    height: merged.height as number,
    fps: merged.fps as number,
    bitrate: merged.bitrate === undefined ? (undefined as unknown as number) : parseBitrate(merged.bitrate, where),
    profile: merged.profile as H264Profile,
    gop: merged.gop as number,
    deterministic: merged.deterministic as boolean,
  };
}

/** A ladder from JSON text: an array of renditions, or `{ "renditions": [...] }`. */
export function ladderFromJson(text: string): Rendition[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    invalid(`The rendition file is not JSON: ${(error as Error).message}`);
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { renditions?: unknown })?.renditions;
  if (!Array.isArray(list)) invalid('The rendition file must hold an array of renditions or { "renditions": [...] }.');
  return validateLadder(list.map((item, i) => renditionFromJson(item, `renditions[${i}]`)));
}

function check(ok: boolean, where: string, field: string, rule: string, got: unknown): void {
  if (!ok) invalid(`${where}.${field}: ${rule} (got ${JSON.stringify(got)})`);
}

export function validateRendition(r: Rendition, where = "rendition"): Rendition {
  check(
    typeof r.name === "string" && /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/.test(r.name),
    where,
    "name",
    "1-32 letters, digits, '_', '.', '-'",
    r.name,
  );
  for (const field of ["width", "height"] as const) {
    const v = r[field];
    check(
      Number.isInteger(v) && v % 2 === 0 && v >= MIN_DIMENSION && v <= MAX_DIMENSION,
      where,
      field,
      `an even integer from ${MIN_DIMENSION} to ${MAX_DIMENSION}`,
      v,
    );
  }
  check(
    typeof r.fps === "number" && r.fps > 0 && r.fps <= 120,
    where,
    "fps",
    "a number above 0 and at most 120",
    r.fps,
  );
  check(
    Number.isInteger(r.bitrate) && r.bitrate >= MIN_BITRATE && r.bitrate <= MAX_BITRATE,
    where,
    "bitrate",
    `from ${MIN_BITRATE} to ${MAX_BITRATE} bits per second`,
    r.bitrate,
  );
  check(H264_PROFILES.includes(r.profile), where, "profile", `one of ${H264_PROFILES.join(", ")}`, r.profile);
  check(
    typeof r.gop === "number" && r.gop >= 0.1 && r.gop <= 20,
    where,
    "gop",
    "seconds between keyframes, from 0.1 to 20",
    r.gop,
  );
  check(typeof r.deterministic === "boolean", where, "deterministic", "true or false", r.deterministic);
  return r;
}

export function validateLadder(ladder: Rendition[]): Rendition[] {
  if (ladder.length === 0) invalid("The ladder has no renditions.");
  if (ladder.length > MAX_RENDITIONS)
    invalid(`The ladder has ${ladder.length} renditions; at most ${MAX_RENDITIONS} are allowed.`);
  const names = new Set<string>();
  ladder.forEach((r, i) => {
    validateRendition(r, `renditions[${i}]`);
    if (names.has(r.name)) invalid(`renditions[${i}].name: "${r.name}" appears twice`);
    names.add(r.name);
  });
  return ladder;
}

/** The canonical JSON of a ladder: fields in FIELDS order, bitrate in bits per second, no whitespace. */
export function canonicalLadderJson(ladder: readonly Rendition[]): string {
  return JSON.stringify(
    ladder.map((r) => Object.fromEntries(FIELDS.map((field) => [field, r[field as keyof Rendition]]))),
  );
}

/** `profilesHash` of a TranscodeReceipt: keccak256 of the canonical JSON, 0x-hex. */
export function profilesHash(ladder: readonly Rendition[]): string {
  return "0x" + keccak256(Buffer.from(canonicalLadderJson(ladder), "utf8")).toString("hex");
}

export interface SourceGeometry {
  width: number;
  height: number;
  /** Frames per second, 0 if unknown. */
  fps: number;
  /** Sample aspect ratio (pixel width / pixel height), 1 for square pixels. */
  sampleAspect?: number;
}

/** A rendition as it will be encoded for one source. */
export interface FittedRendition {
  rendition: Rendition;
  width: number;
  height: number;
  fps: number;
  /** Bits per second, scaled down with the pixel count when the output is smaller than the rendition's box. */
  bitrate: number;
  /** Frames between keyframes. */
  gopFrames: number;
  level: H264Level;
  /** RFC 6381 codec string for HLS (x264's constraint flags for each profile). */
  codec: string;
}

function even(n: number): number {
  return Math.max(2, 2 * Math.round(n / 2));
}

function evenDown(n: number): number {
  return Math.max(2, 2 * Math.floor(n / 2));
}

/** Fits a rendition to a source: the display aspect ratio is kept and nothing is upscaled (size or frame rate). */
export function fitRendition(rendition: Rendition, source: SourceGeometry): FittedRendition {
  const displayWidth = source.width * (source.sampleAspect ?? 1);
  const scale = Math.min(rendition.width / displayWidth, rendition.height / source.height, 1);
  const width = Math.min(even(displayWidth * scale), rendition.width, evenDown(displayWidth));
  const height = Math.min(even(source.height * scale), rendition.height, evenDown(source.height));
  const fps = source.fps > 0 ? Math.min(rendition.fps, source.fps) : rendition.fps;
  const pixelShare = Math.min(1, (width * height) / (rendition.width * rendition.height));
  const bitrate = Math.max(MIN_BITRATE, Math.round(rendition.bitrate * pixelShare));
  const level = h264Level(width, height, fps, bitrate, rendition.profile);
  return {
    rendition,
    width,
    height,
    fps,
    bitrate,
    gopFrames: Math.max(1, Math.round(rendition.gop * fps)),
    level,
    codec: avcCodecString({
      profileIdc: PROFILE_IDC[rendition.profile],
      constraintFlags: X264_CONSTRAINTS[rendition.profile],
      levelIdc: level.idc,
    }),
  };
}

export function fitLadder(ladder: readonly Rendition[], source: SourceGeometry): FittedRendition[] {
  return ladder.map((r) => fitRendition(r, source));
}

export const PROFILE_IDC: Readonly<Record<H264Profile, number>> = { baseline: 66, main: 77, high: 100 };
/** constraint_set flags x264 writes: baseline is constrained baseline (set0+set1), main sets set1. */
export const X264_CONSTRAINTS: Readonly<Record<H264Profile, number>> = { baseline: 0xc0, main: 0x40, high: 0x00 };

export interface H264Level {
  /** "3.1" as x264 takes it. */
  name: string;
  /** level_idc: 31. */
  idc: number;
}

/** H.264 Table A-1: max macroblocks per second, frame size in macroblocks, bitrate (kbit/s, Baseline/Main). */
const LEVELS: ReadonlyArray<[name: string, idc: number, maxMbps: number, maxFs: number, maxBrKbps: number]> = [
  ["1", 10, 1485, 99, 64],
  ["1.1", 11, 3000, 396, 192],
  ["1.2", 12, 6000, 396, 384],
  ["1.3", 13, 11880, 396, 768],
  ["2", 20, 11880, 396, 2000],
  ["2.1", 21, 19800, 792, 4000],
  ["2.2", 22, 20250, 1620, 4000],
  ["3", 30, 40500, 1620, 10000],
  ["3.1", 31, 108000, 3600, 14000],
  ["3.2", 32, 216000, 5120, 20000],
  ["4", 40, 245760, 8192, 20000],
  ["4.1", 41, 245760, 8192, 50000],
  ["4.2", 42, 522240, 8704, 50000],
  ["5", 50, 589824, 22080, 135000],
  ["5.1", 51, 983040, 36864, 240000],
  ["5.2", 52, 2073600, 36864, 240000],
];

/** The lowest level whose limits hold this output (High allows 1.25× the bitrate). */
export function h264Level(
  width: number,
  height: number,
  fps: number,
  bitrate: number,
  profile: H264Profile,
): H264Level {
  const widthMbs = Math.ceil(width / 16);
  const heightMbs = Math.ceil(height / 16);
  const frameMbs = widthMbs * heightMbs;
  const mbps = frameMbs * fps;
  const brFactor = profile === "high" ? 1.25 : 1;
  for (const [name, idc, maxMbps, maxFs, maxBrKbps] of LEVELS) {
    const side = Math.sqrt(maxFs * 8);
    if (
      frameMbs <= maxFs &&
      widthMbs <= side &&
      heightMbs <= side &&
      mbps <= maxMbps &&
      bitrate <= maxBrKbps * 1000 * brFactor
    ) {
      return { name, idc };
    }
  }
  return invalid(`${width}x${height} at ${fps} fps and ${bitrate} bit/s exceeds every H.264 level up to 5.2.`);
}
