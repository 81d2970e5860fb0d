/**
 * Just enough H.264 to describe an encoded rendition without another process: the sequence parameter set
 * (profile, level, coded size and cropping) and the RFC 6381 codec string HLS playlists carry.
 * Follows ITU-T H.264 §7.3.2.1.1; anything malformed throws H264ParseError.
 */
export class H264ParseError extends Error {
  override readonly name = "H264ParseError";
}

export interface SequenceParameterSet {
  profileIdc: number;
  /** constraint_set0..5 flags and the two reserved bits, as the byte that follows profile_idc. */
  constraintFlags: number;
  levelIdc: number;
  width: number;
  height: number;
  /** From the VUI, when present: sample aspect ratio (pixel width / height) and frames per second. */
  sampleAspect?: number;
  fps?: number;
}

/** Table E-1: sample aspect ratios for aspect_ratio_idc 1..16. */
const SAR_TABLE: ReadonlyArray<[number, number]> = [
  [1, 1],
  [12, 11],
  [10, 11],
  [16, 11],
  [40, 33],
  [24, 11],
  [20, 11],
  [32, 11],
  [80, 33],
  [18, 11],
  [15, 11],
  [64, 33],
  [160, 99],
  [4, 3],
  [3, 2],
  [2, 1],
];
const EXTENDED_SAR = 255;

/** The parts of the VUI (Annex E) that describe geometry and timing; the rest is skipped. */
function parseVui(reader: BitReader): { sampleAspect?: number; fps?: number } {
  const out: { sampleAspect?: number; fps?: number } = {};
  if (reader.u(1)) {
    const idc = reader.u(8);
    const [w, h] = idc === EXTENDED_SAR ? [reader.u(16), reader.u(16)] : (SAR_TABLE[idc - 1] ?? [0, 0]);
    if (w > 0 && h > 0) out.sampleAspect = w / h;
  }
  if (reader.u(1)) reader.u(1); // overscan
  if (reader.u(1)) {
    reader.u(4); // video_format, video_full_range_flag
    if (reader.u(1)) reader.u(24); // colour primaries, transfer, matrix
  }
  if (reader.u(1)) {
    reader.ue(); // chroma_sample_loc_type_top_field
    reader.ue();
  }
  if (reader.u(1)) {
    const unitsInTick = reader.u(32);
    const timeScale = reader.u(32);
    const fixedFrameRate = reader.u(1);
    // A frame is two field ticks (E.2.1); without fixed_frame_rate_flag the tick is only an upper bound.
    if (fixedFrameRate && unitsInTick > 0 && timeScale > 0) out.fps = timeScale / (2 * unitsInTick);
  }
  return out;
}

/** Removes emulation-prevention bytes (00 00 03 → 00 00). */
export function unescapeRbsp(nal: Uint8Array): Uint8Array {
  const out = new Uint8Array(nal.length);
  let length = 0;
  let zeros = 0;
  for (const byte of nal) {
    if (zeros >= 2 && byte === 3) {
      zeros = 0;
      continue;
    }
    zeros = byte === 0 ? zeros + 1 : 0;
    out[length++] = byte;
  }
  return out.subarray(0, length);
}

class BitReader {
  private bit = 0;
  constructor(private readonly data: Uint8Array) {}

  u(bits: number): number {
    let value = 0;
    for (let i = 0; i < bits; i++) {
      const byte = this.data[this.bit >> 3];
      if (byte === undefined) throw new H264ParseError("SPS ends early");
      value = value * 2 + ((byte >> (7 - (this.bit & 7))) & 1);
      this.bit++;
    }
    return value;
  }

  /** Unsigned Exp-Golomb. */
  ue(): number {
    let zeros = 0;
    while (this.u(1) === 0) {
      if (++zeros > 31) throw new H264ParseError("Exp-Golomb code too long");
    }
    return zeros === 0 ? 0 : 2 ** zeros - 1 + this.u(zeros);
  }

  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
  }
}

const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

function skipScalingList(reader: BitReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) next = (last + reader.se() + 256) % 256;
    last = next === 0 ? last : next;
  }
}

/** Parses an SPS NAL unit (starting with its one-byte NAL header). */
export function parseSps(nal: Uint8Array): SequenceParameterSet {
  if (nal.length < 4 || (nal[0] & 0x1f) !== 7) throw new H264ParseError("not an SPS NAL unit");
  const reader = new BitReader(unescapeRbsp(nal.subarray(1)));
  const profileIdc = reader.u(8);
  const constraintFlags = reader.u(8);
  const levelIdc = reader.u(8);
  reader.ue(); // seq_parameter_set_id
  let chromaFormatIdc = 1;
  let separateColourPlane = 0;
  if (HIGH_PROFILES.has(profileIdc)) {
    chromaFormatIdc = reader.ue();
    if (chromaFormatIdc > 3) throw new H264ParseError(`chroma_format_idc ${chromaFormatIdc}`);
    if (chromaFormatIdc === 3) separateColourPlane = reader.u(1);
    reader.ue(); // bit_depth_luma_minus8
    reader.ue(); // bit_depth_chroma_minus8
    reader.u(1); // qpprime_y_zero_transform_bypass_flag
    if (reader.u(1)) {
      const lists = chromaFormatIdc === 3 ? 12 : 8;
      for (let i = 0; i < lists; i++) if (reader.u(1)) skipScalingList(reader, i < 6 ? 16 : 64);
    }
  }
  reader.ue(); // log2_max_frame_num_minus4
  const pocType = reader.ue();
  if (pocType === 0) {
    reader.ue(); // log2_max_pic_order_cnt_lsb_minus4
  } else if (pocType === 1) {
    reader.u(1); // delta_pic_order_always_zero_flag
    reader.se();
    reader.se();
    const cycle = reader.ue();
    if (cycle > 255) throw new H264ParseError("num_ref_frames_in_pic_order_cnt_cycle > 255");
    for (let i = 0; i < cycle; i++) reader.se();
  } else if (pocType !== 2) {
    throw new H264ParseError(`pic_order_cnt_type ${pocType}`);
  }
  reader.ue(); // max_num_ref_frames
  reader.u(1); // gaps_in_frame_num_value_allowed_flag
  const widthInMbs = reader.ue() + 1;
  const heightInMapUnits = reader.ue() + 1;
  const frameMbsOnly = reader.u(1);
  if (!frameMbsOnly) reader.u(1); // mb_adaptive_frame_field_flag
  reader.u(1); // direct_8x8_inference_flag
  let crop = { left: 0, right: 0, top: 0, bottom: 0 };
  if (reader.u(1)) crop = { left: reader.ue(), right: reader.ue(), top: reader.ue(), bottom: reader.ue() };
  const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
  const cropUnitX = chromaArrayType === 0 ? 1 : chromaArrayType === 3 ? 1 : 2;
  const cropUnitY =
    (chromaArrayType === 0 || chromaArrayType === 3 ? 1 : chromaArrayType === 1 ? 2 : 1) * (2 - frameMbsOnly);
  const width = widthInMbs * 16 - cropUnitX * (crop.left + crop.right);
  const height = (2 - frameMbsOnly) * heightInMapUnits * 16 - cropUnitY * (crop.top + crop.bottom);
  if (width <= 0 || height <= 0) throw new H264ParseError(`cropping leaves ${width}x${height}`);
  let vui = {};
  try {
    if (reader.u(1)) vui = parseVui(reader);
  } catch (error) {
    if (!(error instanceof H264ParseError)) throw error; // a short VUI leaves timing unknown, nothing worse
  }
  return { profileIdc, constraintFlags, levelIdc, width, height, ...vui };
}

/** RFC 6381 `avc1.PPCCLL`, e.g. avc1.64001f for High@3.1. */
export function avcCodecString(sps: Pick<SequenceParameterSet, "profileIdc" | "constraintFlags" | "levelIdc">): string {
  const hex = (n: number) => n.toString(16).padStart(2, "0");
  return `avc1.${hex(sps.profileIdc)}${hex(sps.constraintFlags)}${hex(sps.levelIdc)}`;
}

/** Finds NAL units in an Annex B byte stream (start codes 00 00 01 / 00 00 00 01). */
export function* nalUnits(stream: Uint8Array): Generator<Uint8Array> {
  let start = -1;
  let i = 0;
  while (i + 2 < stream.length) {
    if (stream[i] === 0 && stream[i + 1] === 0 && stream[i + 2] === 1) {
      if (start >= 0) {
        let end = i;
        while (end > start && stream[end - 1] === 0) end--; // trailing zero of a 4-byte start code
        yield stream.subarray(start, end);
      }
      start = i + 3;
      i += 3;
    } else {
      i++;
    }
  }
  if (start >= 0 && start < stream.length) yield stream.subarray(start);
}
