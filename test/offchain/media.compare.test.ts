/**
 * offchain/media/compare.ts with the real ffmpeg: a 640x360 test segment through the 240p30 rendition (fitted
 * 426x240), compared with an own encode. An honest encode is judged ok; the transcoder's fault injection (negated
 * picture), a wrong size, a wrong frame count, bytes that do not decode and missing renditions are faults;
 * deterministic renditions are checked byte for byte. Plus judgeComparison on hand-made reports, and the fault
 * injection's filter graph.
 */
import { expect } from "chai";

import {
  CLEAR_FAULT_THRESHOLDS,
  FAULT_PSNR_DB,
  FAULT_SSIM,
  type MediaTools,
  PRESETS,
  type Rendition,
  type RenditionComparison,
  type TranscodeResult,
  buildTranscodeArgs,
  compareSegment,
  durationToleranceMs,
  expectedFrames,
  fitLadder,
  generateTestSegment,
  isClearFault,
  judgeComparison,
  mediaTools,
  measureQuality,
  transcodeSegment,
} from "../../offchain/media";
import { parseQualityStats } from "../../offchain/media/compare";
import { TS_PACKET_BYTES, inspectTransportStream } from "../../offchain/media/mpegts";
import { buildFilterGraph } from "../../offchain/media/transcode";
import { source1080 } from "../support/media";

const LADDER: Rendition[] = [{ ...PRESETS["240p30"] }];
const DETERMINISTIC: Rendition[] = [{ ...PRESETS["240p30"], deterministic: true }];

/** XORs the middle third of the video payload of the largest access unit: the container stays well-formed. */
function corruptPayload(ts: Buffer): Buffer {
  const out = Buffer.from(ts);
  const { pid } = inspectTransportStream(out);
  const units: number[][] = [];
  for (let offset = 0; offset + TS_PACKET_BYTES <= out.length; offset += TS_PACKET_BYTES) {
    if ((((out[offset + 1] & 0x1f) << 8) | out[offset + 2]) !== pid) continue;
    if (out[offset + 1] & 0x40) units.push([]); // payload_unit_start: a new PES
    units.at(-1)?.push(offset);
  }
  const largest = units.reduce((a, b) => (b.length > a.length ? b : a));
  const third = Math.floor(largest.length / 3);
  for (const offset of largest.slice(third, 2 * third)) {
    const adaptation = (out[offset + 3] >> 4) & 0x3;
    const start = adaptation === 0x3 ? offset + 5 + out[offset + 4] : offset + 4;
    for (let i = start; i < offset + TS_PACKET_BYTES; i += 2) out[i] ^= 0x5a;
  }
  return out;
}

/** A report for the judge tests: a 426x240 rendition of 60 frames as asked, good quality, unless overridden. */
function report(overrides: Partial<RenditionComparison> = {}): RenditionComparison {
  return {
    name: "240p30",
    deterministic: false,
    expected: { width: 426, height: 240, fps: 30, frames: 60, durationMs: 2000 },
    measured: { width: 426, height: 240, frames: 60, durationMs: 2000 },
    hash: "0x01",
    referenceHash: "0x02",
    decodes: true,
    quality: { ssim: 0.99, minFrameSsim: 0.97, psnrDb: 45, minFramePsnrDb: 40, frames: 60 },
    ...overrides,
  };
}

describe("media compare: renditions against an own encode", function () {
  this.timeout(60_000);

  let tools: MediaTools;
  let source: Buffer;
  let reference: TranscodeResult;
  let honest: TranscodeResult;

  before(async () => {
    tools = await mediaTools();
    source = await generateTestSegment(tools, { width: 640, height: 360, durationSec: 2, startSec: 10 });
    [reference, honest] = await Promise.all([
      transcodeSegment(tools, source, LADDER),
      transcodeSegment(tools, source, LADDER),
    ]);
  });

  const compare = (received: Buffer[], ladder = LADDER, own = reference) =>
    compareSegment(tools, source, ladder, received, { reference: own });

  describe("compareSegment", () => {
    it("judges an honest encode ok, measuring size, frames, duration and quality", async () => {
      const result = await compare([honest.renditions[0].data]);
      const [r] = result.renditions;
      expect(r.expected).to.deep.equal({ width: 426, height: 240, fps: 30, frames: 60, durationMs: 2000 });
      expect(r.measured).to.deep.equal({ width: 426, height: 240, frames: 60, durationMs: 2000 });
      expect(r.decodes).to.equal(true);
      expect(r.hashMatches).to.equal(undefined); // not deterministic: the bytes may differ
      expect(r.quality!.frames).to.equal(60);
      expect(r.quality!.ssim).to.be.above(0.9);
      expect(r.quality!.psnrDb).to.be.above(30);
      expect(judgeComparison(result)).to.deep.equal({ verdict: "ok", reasons: [] });
      expect(isClearFault(result)).to.equal(false);
    });

    it("makes its own encode when none is given", async () => {
      const result = await compareSegment(tools, source, LADDER, [honest.renditions[0].data]);
      expect(result.source.video.frames).to.equal(60);
      expect(judgeComparison(result).verdict).to.equal("ok");
    });

    it("judges the transcoder's negated fault injection a (clear) fault on quality alone", async () => {
      const negated = await transcodeSegment(tools, source, LADDER, { settings: { tamper: "negate" } });
      const result = await compare([negated.renditions[0].data]);
      const [r] = result.renditions;
      // Everything the broadcaster's cheap checks look at is right.
      expect(r.measured).to.deep.equal({ width: 426, height: 240, frames: 60, durationMs: 2000 });
      expect(r.decodes).to.equal(true);
      expect(r.quality!.ssim).to.be.below(FAULT_SSIM);
      expect(r.quality!.psnrDb).to.be.below(FAULT_PSNR_DB);
      const judged = judgeComparison(result);
      expect(judged.verdict).to.equal("fault");
      expect(judged.reasons.join("; ")).to.match(
        /rendition 240p30 SSIM .* < 0\.35; rendition 240p30 PSNR .* dB < 13 dB/,
      );
      expect(isClearFault(result)).to.equal(true);
    });

    it("judges a rendition of the wrong size a fault without comparing pictures", async () => {
      const small = await transcodeSegment(tools, source, [{ ...PRESETS["240p30"], width: 160, height: 90 }]);
      const result = await compare([small.renditions[0].data]);
      expect(result.renditions[0].quality).to.equal(undefined);
      expect(judgeComparison(result).reasons).to.deep.equal(["rendition 240p30 is 160x90, not 426x240"]);
      expect(isClearFault(result)).to.equal(true);
    });

    it("judges a rendition with too few frames a fault (frames and duration)", async () => {
      const oneSecond = await generateTestSegment(tools, { width: 640, height: 360, durationSec: 1, startSec: 10 });
      const short = await transcodeSegment(tools, oneSecond, LADDER);
      const judged = judgeComparison(await compare([short.renditions[0].data]));
      expect(judged.reasons).to.deep.equal([
        "rendition 240p30 has 30 frames, not 60",
        "rendition 240p30 lasts 1000 ms, not 2000 ms (±100)",
      ]);
    });

    it("judges a rendition whose H.264 payload does not decode a fault", async () => {
      const corrupted = corruptPayload(honest.renditions[0].data);
      expect(inspectTransportStream(corrupted).frames).to.equal(60); // still well-formed on the outside
      const result = await compare([corrupted]);
      expect(result.renditions[0].decodes).to.equal(false);
      const judged = judgeComparison(result);
      expect(judged.reasons).to.have.length(1);
      expect(judged.reasons[0]).to.match(/^rendition 240p30 does not decode: /);
      expect(isClearFault(result)).to.equal(true);
    });

    it("judges missing renditions and bytes that are not a transport stream faults", async () => {
      const none = await compare([]);
      expect(judgeComparison(none).reasons).to.deep.equal([
        "0 renditions for a ladder of 1",
        "rendition 240p30 does not decode: not a readable H.264 transport stream: The transport stream has no video stream.",
      ]);
      const junk = await compare([Buffer.alloc(TS_PACKET_BYTES * 4, 7)]);
      expect(junk.renditions[0].measured).to.equal(undefined);
      expect(judgeComparison(junk).verdict).to.equal("fault");
    });

    it("checks deterministic renditions byte for byte", async () => {
      const [own, again, loose] = await Promise.all([
        transcodeSegment(tools, source, DETERMINISTIC),
        transcodeSegment(tools, source, DETERMINISTIC),
        transcodeSegment(tools, source, LADDER), // same picture, but not encoded deterministically
      ]);
      const same = await compare([again.renditions[0].data], DETERMINISTIC, own);
      expect(same.renditions[0].hashMatches).to.equal(true);
      expect(same.renditions[0].quality).to.include({ ssim: 1, psnrDb: Infinity });
      expect(judgeComparison(same).verdict).to.equal("ok");

      const other = await compare([loose.renditions[0].data], DETERMINISTIC, own);
      expect(other.renditions[0].hashMatches).to.equal(false);
      expect(judgeComparison(other).reasons).to.deep.equal([
        "rendition 240p30 is deterministic but its bytes differ from the own encode's",
      ]);
      // Another ffmpeg build would differ too: a broadcaster does not spend a bond on the hash alone.
      expect(isClearFault(other)).to.equal(false);
    });

    it("refuses an own encode of another ladder", async () => {
      let error: Error | undefined;
      await compare([honest.renditions[0].data], [{ ...PRESETS["360p30"] }]).catch((e) => (error = e));
      expect(error?.message).to.equal("the own encode is of ladder 240p30, not 360p30");
    });
  });

  describe("measureQuality", () => {
    it("gives SSIM 1 and an infinite PSNR for the same encode, frame for frame", async () => {
      const data = reference.renditions[0].data;
      const quality = await measureQuality(tools, data, data);
      expect(quality).to.deep.equal({
        ssim: 1,
        minFrameSsim: 1,
        psnrDb: Infinity,
        minFramePsnrDb: Infinity,
        frames: 60,
      });
    });
  });
});

describe("media compare: parseQualityStats", () => {
  it("averages SSIM over frames and takes PSNR of the mean squared error", () => {
    const stats = [
      "n:1 Y:0.990000 U:0.980000 V:0.970000 All:0.985000 (18.2)",
      "n:1 mse_avg:1.00 mse_y:1.00 mse_u:1.00 mse_v:1.00 psnr_avg:48.13 psnr_y:48.13 psnr_u:48.13 psnr_v:48.13 ",
      "n:2 Y:-0.100000 U:-0.200000 V:-0.300000 All:-0.150000 (-0.6)",
      "n:2 mse_avg:3.00 mse_y:3.00 mse_u:3.00 mse_v:3.00 psnr_avg:43.36 psnr_y:43.36 psnr_u:43.36 psnr_v:43.36 ",
    ].join("\n");
    const quality = parseQualityStats(stats);
    expect(quality.ssim).to.be.closeTo(0.4175, 1e-9);
    expect(quality.minFrameSsim).to.equal(-0.15);
    expect(quality.psnrDb).to.be.closeTo(10 * Math.log10((255 * 255) / 2), 1e-9);
    expect(quality.minFramePsnrDb).to.be.closeTo(10 * Math.log10((255 * 255) / 3), 1e-9);
    expect(quality.frames).to.equal(2);
  });

  it("refuses stats with no frames or unpaired ones", () => {
    expect(() => parseQualityStats("")).to.throw("ssim/psnr gave 0/0 frames");
    expect(() => parseQualityStats("n:1 Y:1 U:1 V:1 All:1.000000 (inf)")).to.throw("ssim/psnr gave 1/0 frames");
  });
});

describe("media compare: judgeComparison", () => {
  it("passes a rendition as asked for, within a frame and a frame's duration plus 50 ms", () => {
    expect(judgeComparison(report())).to.deep.equal({ verdict: "ok", reasons: [] });
    const near = report({ measured: { width: 426, height: 240, frames: 61, durationMs: 2083 } });
    expect(judgeComparison(near).verdict).to.equal("ok");
  });

  it("faults a frame count off by two and a duration off by more than the tolerance", () => {
    expect(
      judgeComparison(report({ measured: { width: 426, height: 240, frames: 58, durationMs: 2000 } })).reasons,
    ).to.deep.equal(["rendition 240p30 has 58 frames, not 60"]);
    expect(
      judgeComparison(report({ measured: { width: 426, height: 240, frames: 60, durationMs: 2101 } })).reasons,
    ).to.deep.equal(["rendition 240p30 lasts 2101 ms, not 2000 ms (±100)"]);
  });

  it("faults quality below either threshold, and a clear fault only far below", () => {
    const quality = (ssim: number, psnrDb: number) =>
      report({ quality: { ssim, minFrameSsim: ssim, psnrDb, minFramePsnrDb: psnrDb, frames: 60 } });
    expect(judgeComparison(quality(0.36, 13.1)).verdict).to.equal("ok");
    expect(judgeComparison(quality(0.34, 30)).reasons).to.deep.equal(["rendition 240p30 SSIM 0.3400 < 0.35"]);
    expect(judgeComparison(quality(0.9, 12.5)).reasons).to.deep.equal(["rendition 240p30 PSNR 12.50 dB < 13 dB"]);
    expect(isClearFault(quality(0.34, 12.5))).to.equal(false);
    expect(isClearFault(quality(0.19, 30))).to.equal(true);
    expect(isClearFault(quality(0.9, 9.9))).to.equal(true);
    // The low worst frame of an honest x264 ultrafast segment start is not judged on its own.
    expect(judgeComparison(report({ quality: { ...report().quality!, minFrameSsim: 0.3 } })).verdict).to.equal("ok");
  });

  it("faults a deterministic hash mismatch, but not as a clear fault", () => {
    const mismatch = report({ deterministic: true, hashMatches: false });
    expect(judgeComparison(mismatch).verdict).to.equal("fault");
    expect(judgeComparison(mismatch, CLEAR_FAULT_THRESHOLDS).verdict).to.equal("ok");
    expect(judgeComparison(report({ deterministic: true, hashMatches: true })).verdict).to.equal("ok");
  });

  it("faults a decoding rendition that could not be compared, but not as a clear fault", () => {
    const unmeasured = report({ quality: undefined, qualityError: "ffmpeg could not compare: boom" });
    expect(judgeComparison(unmeasured).reasons).to.deep.equal([
      "rendition 240p30: quality could not be measured: ffmpeg could not compare: boom",
    ]);
    expect(isClearFault(unmeasured)).to.equal(false);
  });

  it("gives every reason for a segment, and one for each missing rendition", () => {
    const judged = judgeComparison({
      source: source1080(),
      received: 2,
      renditions: [report(), report({ name: "b", decodes: false, decodeError: "h264 error" }), report({ name: "c" })],
    });
    expect(judged.reasons).to.deep.equal(["2 renditions for a ladder of 3", "rendition b does not decode: h264 error"]);
  });
});

describe("media compare: frames and durations expected", () => {
  it("keeps the source's frames at its rate or above and rounds a reduced rate", () => {
    expect(expectedFrames(60, 30, 30)).to.equal(60);
    expect(expectedFrames(120, 60, 30)).to.equal(60);
    expect(expectedFrames(100, 29.97, 24)).to.equal(80);
    expect(durationToleranceMs(30)).to.equal(100);
    expect(durationToleranceMs(15)).to.be.closeTo(133.33, 0.01);
  });
});

describe("media transcode: fault injection", () => {
  const source = source1080();
  const fitted = fitLadder([PRESETS["720p30"], PRESETS["360p30"]], source.video);

  it("leaves the filter graph alone unless asked", () => {
    const plain = buildFilterGraph(source, fitted);
    expect(buildFilterGraph(source, fitted, undefined, undefined)).to.equal(plain);
    expect(plain).not.to.contain("[t");
  });

  it("sends every rendition branch through the tamper filter, keeping the output pads", () => {
    const negated = buildFilterGraph(source, fitted, undefined, "negate");
    expect(negated).to.equal(
      buildFilterGraph(source, fitted).replace(/\[v(\d)\]/g, "[t$1]") + ";[t0]negate[v0];[t1]negate[v1]",
    );
    const args = buildTranscodeArgs(source, fitted, { preset: "veryfast", tamper: "blur" }, ["a", "b"]);
    expect(args[args.indexOf("-filter_complex") + 1]).to.contain("[t1]gblur=sigma=8[v1]");
  });

  it("refuses to tamper with frames that stay on the GPU", () => {
    expect(() => buildFilterGraph(source, fitted, { gpu: 0, decode: true, encode: true }, "negate")).to.throw(
      "fault injection needs the frames in CPU memory",
    );
  });
});
