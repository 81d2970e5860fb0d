/**
 * offchain/media's MPEG-TS checks and inspection, and the H.264 parsing under them: the refusals of
 * checkTransportStream, inspectTransportStream read against ffprobe on generated segments (including sizes whose
 * height or width is not a multiple of 16, so the SPS carries cropping), hand-built SPS units for the parts of
 * §7.3.2.1.1 x264 never writes, emulation-prevention bytes, NAL unit splitting and codec strings.
 */
import { expect } from "chai";

import { type MediaTools, MediaError, generateTestSegment, mediaTools } from "../../offchain/media";
import { H264ParseError, avcCodecString, nalUnits, parseSps, unescapeRbsp } from "../../offchain/media/h264";
import { TS_PACKET_BYTES, checkTransportStream, inspectTransportStream } from "../../offchain/media/mpegts";
import { runProcess } from "../../offchain/media/run";
import { thrownBy } from "../support/assertions";
import { ffprobeVideo } from "../support/media";

function mediaError(code: string, run: () => unknown): MediaError {
  const error = thrownBy(MediaError, run);
  expect(error.code, error.message).to.equal(code);
  return error;
}

/** Deterministic pseudo-random bytes (no flaky 1-in-65536 runs that happen to look like MPEG-TS). */
function noise(length: number, seed = 1): Buffer {
  const out = Buffer.alloc(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** Raw H.264 (Annex B) from ffmpeg, for the SPS tests. */
async function annexB(tools: MediaTools, width: number, height: number, profile: string): Promise<Buffer> {
  const result = await runProcess(tools.ffmpeg.path, {
    args: [
      ...["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", `testsrc2=s=${width}x${height}:r=30:d=0.1`],
      ...["-c:v", "libx264", "-preset", "veryfast", "-profile:v", profile, "-pix_fmt", "yuv420p", "-f", "h264"],
      "pipe:1",
    ],
    timeoutMs: 20_000,
  });
  expect(result.code, result.stderrTail).to.equal(0);
  return result.stdout;
}

function firstSps(stream: Uint8Array): Uint8Array {
  for (const nal of nalUnits(stream)) if ((nal[0] & 0x1f) === 7) return nal;
  throw new Error("no SPS in the stream");
}

/** Writes SPS fields bit by bit (the inverse of the module's reader), for SPS units x264 never produces. */
class BitWriter {
  private readonly bits: number[] = [];
  u(count: number, value: number): this {
    for (let i = count - 1; i >= 0; i--) this.bits.push(Math.floor(value / 2 ** i) % 2);
    return this;
  }
  ue(value: number): this {
    const code = value + 1;
    const length = Math.floor(Math.log2(code));
    return this.u(length, 0).u(length + 1, code);
  }
  se(value: number): this {
    return this.ue(value > 0 ? 2 * value - 1 : -2 * value);
  }
  /** rbsp_trailing_bits, then the bytes. */
  bytes(): number[] {
    const bits = [...this.bits, 1];
    while (bits.length % 8 !== 0) bits.push(0);
    return Array.from({ length: bits.length / 8 }, (_, i) => bits.slice(8 * i, 8 * i + 8).reduce((a, b) => 2 * a + b));
  }
}

/** Adds emulation-prevention bytes (00 00 0x with x ≤ 3 → 00 00 03 0x). */
function escapeRbsp(rbsp: number[]): number[] {
  const out: number[] = [];
  let zeros = 0;
  for (const byte of rbsp) {
    if (zeros >= 2 && byte <= 3) {
      out.push(3);
      zeros = 0;
    }
    out.push(byte);
    zeros = byte === 0 ? zeros + 1 : 0;
  }
  return out;
}

interface SpsFields {
  profileIdc: number;
  constraintFlags?: number;
  levelIdc?: number;
  chromaFormatIdc?: number;
  scalingLists?: number[][]; // per list: the delta_scale values written, none for an absent list (High only)
  pocType?: 0 | 1 | 2;
  pocCycle?: number[];
  widthInMbs: number;
  heightInMapUnits: number;
  frameMbsOnly: boolean;
  crop?: [left: number, right: number, top: number, bottom: number];
}

function buildSps(f: SpsFields): Uint8Array {
  const w = new BitWriter()
    .u(8, f.profileIdc)
    .u(8, f.constraintFlags ?? 0)
    .u(8, f.levelIdc ?? 40)
    .ue(0);
  if ([100, 110, 122, 244].includes(f.profileIdc)) {
    const chroma = f.chromaFormatIdc ?? 1;
    w.ue(chroma);
    if (chroma === 3) w.u(1, 0);
    w.ue(0).ue(0).u(1, 0);
    const lists = f.scalingLists;
    w.u(1, lists ? 1 : 0);
    if (lists) {
      for (let i = 0; i < (chroma === 3 ? 12 : 8); i++) {
        const deltas = lists[i] ?? [];
        w.u(1, deltas.length > 0 ? 1 : 0); // an empty list: not present
        for (const d of deltas) w.se(d);
      }
    }
  }
  w.ue(0); // log2_max_frame_num_minus4
  const poc = f.pocType ?? 0;
  w.ue(poc);
  if (poc === 0) w.ue(2);
  if (poc === 1) {
    w.u(1, 0)
      .se(-(2 ** 30))
      .se(5); // 31 zero bits, a one, 30 zero bits: emulation prevention needed
    w.ue(f.pocCycle?.length ?? 0);
    for (const offset of f.pocCycle ?? []) w.se(offset);
  }
  w.ue(1).u(1, 0); // max_num_ref_frames, gaps_in_frame_num_value_allowed_flag
  w.ue(f.widthInMbs - 1).ue(f.heightInMapUnits - 1);
  w.u(1, f.frameMbsOnly ? 1 : 0);
  if (!f.frameMbsOnly) w.u(1, 0);
  w.u(1, 1); // direct_8x8_inference_flag
  w.u(1, f.crop ? 1 : 0);
  if (f.crop) for (const c of f.crop) w.ue(c);
  w.u(1, 0); // vui_parameters_present_flag
  return Uint8Array.from([0x67, ...escapeRbsp(w.bytes())]);
}

describe("media mpegts: refusing what is not a whole transport stream", () => {
  let tools: MediaTools;
  let segment: Buffer;

  before(async () => {
    tools = await mediaTools();
    segment = await generateTestSegment(tools, { width: 320, height: 180, durationSec: 1 });
  });

  it("counts the packets of a real segment", () => {
    expect(segment.length % TS_PACKET_BYTES).to.equal(0);
    expect(checkTransportStream(segment, segment.length)).to.equal(segment.length / TS_PACKET_BYTES);
  });

  it("refuses an empty segment", () => {
    expect(mediaError("SEGMENT_EMPTY", () => checkTransportStream(new Uint8Array(0), 1000)).isInputError).to.equal(
      true,
    );
  });

  it("refuses a segment over the byte limit, saying both sizes", () => {
    const error = mediaError("SEGMENT_TOO_LARGE", () => checkTransportStream(segment, segment.length - 1));
    expect(error.message).to.contain(`${segment.length} bytes`);
    expect(error.message).to.contain(`${segment.length - 1}`);
  });

  it("refuses bytes that are not MPEG-TS: noise, an MP4 header, Matroska, a 192-byte-packet M2TS", () => {
    const mp4 = Buffer.concat([Buffer.from("00000020667479706973366d", "hex"), noise(1000, 2)]);
    const mkv = Buffer.concat([Buffer.from("1a45dfa3", "hex"), noise(1000, 3)]);
    const m2ts = Buffer.concat(
      Array.from({ length: segment.length / TS_PACKET_BYTES }, (_, i) =>
        Buffer.concat([Buffer.alloc(4), segment.subarray(i * TS_PACKET_BYTES, (i + 1) * TS_PACKET_BYTES)]),
      ),
    );
    const random = noise(188 * 20, 4);
    expect(random[0]).not.to.equal(0x47);
    for (const bytes of [random, mp4, mkv, m2ts]) {
      const error = mediaError("SEGMENT_NOT_MPEGTS", () => checkTransportStream(bytes, 1 << 24));
      expect(error.message).to.contain(`0x${bytes.subarray(0, 4).toString("hex")}`);
    }
    // A sync byte first is not enough: the next packet must start with one too.
    const lucky = Buffer.from(random);
    lucky[0] = 0x47;
    mediaError("SEGMENT_NOT_MPEGTS", () => checkTransportStream(lucky, 1 << 24));
  });

  it("refuses a real segment cut mid-packet as truncated", () => {
    for (const cut of [1, 100, 187]) {
      const truncated = segment.subarray(0, segment.length - cut);
      const error = mediaError("SEGMENT_TRUNCATED", () => checkTransportStream(truncated, 1 << 24));
      expect(error.message).to.contain(`the last one has ${TS_PACKET_BYTES - cut} bytes`);
    }
    mediaError("SEGMENT_TRUNCATED", () => checkTransportStream(segment.subarray(0, 100), 1 << 24));
  });

  it("refuses a segment that loses sync mid-way, saying where", () => {
    const broken = Buffer.from(segment);
    broken[TS_PACKET_BYTES * 7] = 0x00;
    const error = mediaError("SEGMENT_UNREADABLE", () => checkTransportStream(broken, 1 << 24));
    expect(error.message).to.contain(`byte ${TS_PACKET_BYTES * 7} (packet 7)`);
    // Bytes spliced in shift every later packet off the 188-byte grid.
    const spliced = Buffer.concat([
      segment.subarray(0, 188 * 5 + 10),
      segment.subarray(188 * 5 + 20),
      Buffer.alloc(10, 0x47),
    ]);
    expect(spliced.length % TS_PACKET_BYTES).to.equal(0);
    mediaError("SEGMENT_UNREADABLE", () => checkTransportStream(spliced, 1 << 24));
  });
});

describe("media mpegts: inspecting generated segments", function () {
  let tools: MediaTools;
  const sizes: Array<[number, number]> = [
    [640, 360], // 23 macroblock rows: 8 rows cropped
    [426, 240], // 27 macroblocks wide: 6 columns cropped
    [1920, 1080], // 68 macroblock rows: 8 rows cropped
    [320, 240], // no cropping
  ];
  const segments = new Map<string, Buffer>();

  before(async () => {
    tools = await mediaTools();
    const made = await Promise.all(
      sizes.map(([width, height], i) =>
        generateTestSegment(tools, { width, height, durationSec: 1, startSec: 3 * i, audio: i % 2 === 0 }),
      ),
    );
    sizes.forEach(([w, h], i) => segments.set(`${w}x${h}`, made[i]));
  });

  it("reads the frame count, the size (cropping applied) and the start as ffprobe does", async () => {
    for (const [key, segment] of segments) {
      const [width, height] = key.split("x").map(Number);
      const probed = await ffprobeVideo(tools, segment);
      const video = inspectTransportStream(segment);
      expect(video.codec, key).to.equal("h264");
      expect(video.streamType).to.equal(0x1b);
      expect(video.frames, key).to.equal(probed.frames);
      expect(video.frames).to.equal(30);
      expect([video.sps!.width, video.sps!.height], key).to.deep.equal([probed.width, probed.height]);
      expect([probed.width, probed.height]).to.deep.equal([width, height]);
      expect(video.minPts, key).to.equal(probed.startPts);
      // 30 fps at 90 kHz: 29 frame intervals of 3000 ticks between the first and the last frame.
      expect(video.maxPts! - video.minPts!).to.equal(29 * 3000);
    }
  });

  it("reads the profile and level x264 wrote", () => {
    const sps = inspectTransportStream(segments.get("1920x1080")!).sps!;
    expect(sps.profileIdc).to.be.oneOf([66, 77, 100]);
    expect(sps.levelIdc).to.be.within(10, 52);
    expect(avcCodecString(sps)).to.match(/^avc1\.[0-9a-f]{6}$/);
  });

  it("does not care whether the segment is complete (what a rendition check needs)", () => {
    const segment = segments.get("640x360")!;
    const half = inspectTransportStream(segment.subarray(0, Math.floor(segment.length / 2 / 188) * 188));
    expect(half.frames).to.be.within(1, 29);
    expect(half.sps).to.deep.equal(inspectTransportStream(segment).sps);
  });

  it("refuses an audio-only transport stream with SEGMENT_NO_VIDEO", async () => {
    const result = await runProcess(tools.ffmpeg.path, {
      args: [
        ...["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"],
        ...["-t", "1", "-c:a", "aac", "-f", "mpegts", "pipe:1"],
      ],
      timeoutMs: 20_000,
    });
    expect(result.code, result.stderrTail).to.equal(0);
    expect(checkTransportStream(result.stdout, 1 << 24)).to.be.above(0); // a well-formed stream…
    mediaError("SEGMENT_NO_VIDEO", () => inspectTransportStream(result.stdout)); // …without video
    mediaError("SEGMENT_NO_VIDEO", () => inspectTransportStream(noise(188 * 4)));
    mediaError("SEGMENT_NO_VIDEO", () => inspectTransportStream(new Uint8Array(0)));
  });
});

describe("media h264: SPS, RBSP and NAL units", () => {
  let tools: MediaTools;

  before(async () => {
    tools = await mediaTools();
  });

  it("parses the SPS x264 writes for each profile", async () => {
    for (const [profile, idc, flags] of [
      ["baseline", 66, 0xc0],
      ["main", 77, 0x40],
      ["high", 100, 0x00],
    ] as const) {
      const sps = parseSps(firstSps(await annexB(tools, 426, 240, profile)));
      expect(sps, profile).to.include({ profileIdc: idc, constraintFlags: flags, width: 426, height: 240 });
    }
  });

  it("throws H264ParseError on garbage and on a truncated SPS, nothing else", async () => {
    const real = firstSps(await annexB(tools, 640, 360, "high"));
    expect(parseSps(real)).to.include({ width: 640, height: 360 });
    expect(thrownBy(H264ParseError, () => parseSps(Uint8Array.from([1, 2, 3]))).message).to.equal(
      "not an SPS NAL unit",
    );
    thrownBy(H264ParseError, () => parseSps(Uint8Array.from([0x68, 0xee, 0x3c, 0x80]))); // a PPS
    // 0x67 then zeros: an Exp-Golomb code that never ends.
    expect(
      thrownBy(H264ParseError, () => parseSps(Uint8Array.from([0x67, 100, 0, 40, ...Array(12).fill(0)]))).message,
    ).to.equal("Exp-Golomb code too long");
    for (const length of [4, 5, 6, 7]) {
      const error = thrownBy(H264ParseError, () => parseSps(real.subarray(0, length)));
      expect(error.message, `${length} bytes`).to.equal("SPS ends early");
    }
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const junk = Uint8Array.from([0x67, ...noise(24, seed)]);
      try {
        parseSps(junk);
      } catch (error) {
        expect(error, `seed ${seed}`).to.be.instanceOf(H264ParseError);
      }
    }
  });

  it("applies cropping with the right units: 4:2:0, 4:2:2, 4:4:4, progressive and interlaced", () => {
    const cases: Array<[SpsFields, number, number]> = [
      [{ profileIdc: 100, widthInMbs: 120, heightInMapUnits: 68, frameMbsOnly: true, crop: [0, 0, 0, 4] }, 1920, 1080],
      [{ profileIdc: 66, widthInMbs: 27, heightInMapUnits: 15, frameMbsOnly: true, crop: [0, 3, 0, 0] }, 426, 240],
      // Interlaced 4:2:0: map units are pairs of macroblock rows, a crop unit is 4 rows.
      [{ profileIdc: 77, widthInMbs: 120, heightInMapUnits: 34, frameMbsOnly: false, crop: [0, 0, 0, 2] }, 1920, 1080],
      // 4:2:2 (High 4:2:2): a vertical crop unit is one row progressive, two interlaced.
      [
        {
          profileIdc: 122,
          chromaFormatIdc: 2,
          widthInMbs: 120,
          heightInMapUnits: 68,
          frameMbsOnly: true,
          crop: [0, 0, 0, 8],
        },
        1920,
        1080,
      ],
      [
        {
          profileIdc: 122,
          chromaFormatIdc: 2,
          widthInMbs: 120,
          heightInMapUnits: 34,
          frameMbsOnly: false,
          crop: [0, 0, 0, 4],
        },
        1920,
        1080,
      ],
      // 4:4:4: crop units of one pixel each way.
      [
        {
          profileIdc: 244,
          chromaFormatIdc: 3,
          widthInMbs: 27,
          heightInMapUnits: 15,
          frameMbsOnly: true,
          crop: [1, 5, 0, 0],
        },
        426,
        240,
      ],
      // Monochrome (4:0:0): one pixel across, one row down.
      [
        {
          profileIdc: 100,
          chromaFormatIdc: 0,
          widthInMbs: 40,
          heightInMapUnits: 23,
          frameMbsOnly: true,
          crop: [0, 0, 2, 6],
        },
        640,
        360,
      ],
    ];
    for (const [fields, width, height] of cases) {
      expect(parseSps(buildSps(fields)), JSON.stringify(fields)).to.include({ width, height });
    }
    thrownBy(H264ParseError, () =>
      parseSps(
        buildSps({ profileIdc: 66, widthInMbs: 1, heightInMapUnits: 1, frameMbsOnly: true, crop: [4, 4, 0, 0] }),
      ),
    );
  });

  it("skips scaling lists and picture-order-count type 1 fields to reach the size", () => {
    const fields: SpsFields = {
      profileIdc: 100,
      levelIdc: 31,
      // A delta that brings the next scale to 0 ends a list early (8 → 11 → 0; 8 → 0; …).
      scalingLists: [[3, -11], [], [-8], [], [], [], [0, 0, -8], [1, 1, 1, 1, -12]],
      pocType: 1,
      pocCycle: [1, -1, 7],
      widthInMbs: 80,
      heightInMapUnits: 45,
      frameMbsOnly: true,
    };
    // Full-length lists whose scale never reaches 0 (16 and 64 deltas read).
    const full16 = Array.from({ length: 16 }, (_, i) => (i % 3) - 1);
    const full64 = Array.from({ length: 64 }, (_, i) => (i % 5) - 2);
    for (const lists of [fields.scalingLists!, [full16, full16, full16, full16, full16, full16, full64, full64]]) {
      const sps = parseSps(buildSps({ ...fields, scalingLists: lists }));
      expect(sps).to.deep.equal({ profileIdc: 100, constraintFlags: 0, levelIdc: 31, width: 1280, height: 720 });
    }
    expect(parseSps(buildSps({ ...fields, profileIdc: 77, scalingLists: undefined, pocType: 2 }))).to.include({
      width: 1280,
      height: 720,
    });
    thrownBy(H264ParseError, () => parseSps(buildSps({ ...fields, pocType: 3 as 0 })));
  });

  it("reads an SPS through its emulation-prevention bytes", () => {
    const fields: SpsFields = {
      profileIdc: 77,
      pocType: 1,
      widthInMbs: 40,
      heightInMapUnits: 23,
      frameMbsOnly: true,
      crop: [0, 0, 0, 4],
    };
    const nal = buildSps(fields);
    // offset_for_non_ref_pic = -2^30 writes 30 zero bits in a row: the escaped unit must carry an 00 00 03.
    expect(Buffer.from(nal).toString("hex")).to.contain("000003");
    expect(parseSps(nal)).to.include({ profileIdc: 77, width: 640, height: 360 });
  });

  it("unescapes RBSP: 00 00 03 → 00 00, nothing else", () => {
    const un = (bytes: number[]) => [...unescapeRbsp(Uint8Array.from(bytes))];
    expect(un([0, 0, 3, 1])).to.deep.equal([0, 0, 1]);
    expect(un([0x65, 0, 0, 3, 0, 0, 3, 2])).to.deep.equal([0x65, 0, 0, 0, 0, 2]);
    expect(un([0, 0, 3])).to.deep.equal([0, 0]);
    expect(un([0, 3, 0, 3])).to.deep.equal([0, 3, 0, 3]);
    expect(un([0, 0, 4, 0, 0, 3, 3])).to.deep.equal([0, 0, 4, 0, 0, 3]);
    expect(un([1, 2, 3])).to.deep.equal([1, 2, 3]);
    expect(un([])).to.deep.equal([]);
    for (const seed of [11, 12, 13]) {
      const rbsp = [...noise(64, seed)].map((b) => (b < 128 ? 0 : b)); // plenty of zero runs
      expect(un(escapeRbsp(rbsp))).to.deep.equal(rbsp);
    }
  });

  it("splits Annex B streams on 3- and 4-byte start codes", () => {
    const stream = Uint8Array.from([
      ...[0xff, 0xee], // bytes before the first start code are not a NAL unit
      ...[0, 0, 0, 1, 0x67, 0xaa, 0x00, 0xbb],
      ...[0, 0, 1, 0x68, 0xcc],
      ...[0, 0, 0, 1, 0x65, 0x11, 0x22],
      ...[0, 0, 1, 0x06, 0x33],
    ]);
    const units = [...nalUnits(stream)].map((u) => [...u]);
    expect(units).to.deep.equal([
      [0x67, 0xaa, 0x00, 0xbb],
      [0x68, 0xcc],
      [0x65, 0x11, 0x22],
      [0x06, 0x33],
    ]);
    expect([...nalUnits(Uint8Array.from([1, 2, 3, 4]))]).to.deep.equal([]);
    expect([...nalUnits(Uint8Array.from([0, 0, 1]))]).to.deep.equal([]);
  });

  it("finds SPS, PPS and slices in ffmpeg's Annex B output", async () => {
    const types = [...nalUnits(await annexB(tools, 320, 180, "high"))].map((u) => u[0] & 0x1f);
    expect(types.indexOf(7)).to.be.below(types.indexOf(8));
    expect(types.indexOf(8)).to.be.below(types.indexOf(5));
    expect(types.filter((t) => t === 5 || t === 1)).to.have.length(3); // 0.1 s at 30 fps
  });

  it("writes RFC 6381 codec strings", () => {
    expect(avcCodecString({ profileIdc: 100, constraintFlags: 0, levelIdc: 31 })).to.equal("avc1.64001f");
    expect(avcCodecString({ profileIdc: 66, constraintFlags: 0xc0, levelIdc: 30 })).to.equal("avc1.42c01e");
    expect(avcCodecString({ profileIdc: 77, constraintFlags: 0x40, levelIdc: 40 })).to.equal("avc1.4d4028");
    expect(avcCodecString({ profileIdc: 100, constraintFlags: 0, levelIdc: 9 })).to.equal("avc1.640009");
  });
});
