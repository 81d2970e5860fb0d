/**
 * offchain/media's HLS playlists: live windows (media and discontinuity sequence numbers that stay consistent
 * across reloads, RFC 8216 §6.2.2), event and VOD playlists, the target-duration rule, master playlists and their
 * attributes, codec strings and bandwidths. Then real renditions of consecutive generated segments, written out with
 * our playlists and read back by ffprobe, and checked to line up in time.
 */
import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import {
  type FittedRendition,
  type MediaTools,
  type PlaylistSegment,
  type SourceInfo,
  type TranscodeResult,
  audioCodecString,
  fitRendition,
  generateTestSegment,
  ladderFromPresets,
  masterPlaylist,
  measuredBandwidth,
  mediaPlaylist,
  mediaTools,
  nominalVariant,
  targetDurationFor,
  transcodeSegment,
} from "../../offchain/media";
import { PRESETS } from "../../offchain/media/ladder";
import { inspectTransportStream } from "../../offchain/media/mpegts";
import { runProcess } from "../../offchain/media/run";
import { source1080 } from "../support/media";

const seg = (sequence: number, durationSec = 2, discontinuity?: boolean): PlaylistSegment => ({
  sequence,
  uri: `seg${sequence}.ts`,
  durationSec,
  ...(discontinuity === undefined ? {} : { discontinuity }),
});

const lines = (playlist: string) => playlist.trimEnd().split("\n");
const tag = (playlist: string, name: string) =>
  lines(playlist)
    .find((l) => l.startsWith(`#${name}:`))
    ?.slice(name.length + 2);
const uris = (playlist: string) => lines(playlist).filter((l) => !l.startsWith("#"));

/**
 * The discontinuity sequence number of every segment a media playlist lists (RFC 8216 §6.2.2:
 * EXT-X-DISCONTINUITY-SEQUENCE plus the EXT-X-DISCONTINUITY tags before the segment), by URI.
 */
function discontinuityNumbers(playlist: string): Map<string, number> {
  let number = Number(tag(playlist, "EXT-X-DISCONTINUITY-SEQUENCE") ?? 0);
  const numbers = new Map<string, number>();
  for (const line of lines(playlist)) {
    if (line === "#EXT-X-DISCONTINUITY") number++;
    else if (!line.startsWith("#")) numbers.set(line, number);
  }
  return numbers;
}

/** Reloads of a live playlist as segments arrive; every segment must keep its discontinuity number throughout. */
function expectStableDiscontinuityNumbers(segments: PlaylistSegment[], window: number): void {
  let previous: Map<string, number> | undefined;
  for (let n = 1; n <= segments.length; n++) {
    const playlist = mediaPlaylist(segments.slice(0, n), { kind: "live", window });
    const numbers = discontinuityNumbers(playlist);
    for (const [uri, number] of numbers) {
      if (previous?.has(uri)) {
        expect(number, `${uri} after ${n} segments:\n${playlist}`).to.equal(previous.get(uri));
      }
    }
    previous = numbers;
  }
}

describe("media hls: media playlists", () => {
  it("lists only the newest segments of a live stream, from the first one's sequence number", () => {
    const playlist = mediaPlaylist(
      Array.from({ length: 10 }, (_, i) => seg(i)),
      { kind: "live", window: 4 },
    );
    expect(lines(playlist)).to.deep.equal([
      "#EXTM3U",
      "#EXT-X-VERSION:3",
      "#EXT-X-TARGETDURATION:2",
      "#EXT-X-MEDIA-SEQUENCE:6",
      "#EXTINF:2.000,",
      "seg6.ts",
      "#EXTINF:2.000,",
      "seg7.ts",
      "#EXTINF:2.000,",
      "seg8.ts",
      "#EXTINF:2.000,",
      "seg9.ts",
    ]);
    expect(playlist.endsWith("\n")).to.equal(true);
  });

  it("keeps six segments by default, at least one, and sorts what it is given", () => {
    const shuffled = [5, 3, 9, 0, 7, 1, 8, 2, 6, 4].map((i) => seg(i));
    expect(uris(mediaPlaylist(shuffled, { kind: "live" }))).to.deep.equal([4, 5, 6, 7, 8, 9].map((i) => `seg${i}.ts`));
    expect(uris(mediaPlaylist(shuffled, { kind: "live", window: 0 }))).to.deep.equal(["seg9.ts"]);
    expect(tag(mediaPlaylist(shuffled, { kind: "live", window: 0 }), "EXT-X-MEDIA-SEQUENCE")).to.equal("9");
    expect(tag(mediaPlaylist([], { kind: "live" }), "EXT-X-MEDIA-SEQUENCE")).to.equal("0");
    expect(uris(mediaPlaylist(shuffled, { kind: "live", window: 100 }))).to.have.length(10);
  });

  it("marks a discontinuity before the flagged segment and after a gap in sequence numbers", () => {
    const playlist = mediaPlaylist([seg(0), seg(1), seg(2, 2, true), seg(3), seg(5), seg(6)], { kind: "event" });
    expect(lines(playlist).slice(4)).to.deep.equal([
      "#EXT-X-PLAYLIST-TYPE:EVENT",
      "#EXTINF:2.000,",
      "seg0.ts",
      "#EXTINF:2.000,",
      "seg1.ts",
      "#EXT-X-DISCONTINUITY",
      "#EXTINF:2.000,",
      "seg2.ts",
      "#EXTINF:2.000,",
      "seg3.ts",
      "#EXT-X-DISCONTINUITY",
      "#EXTINF:2.000,",
      "seg5.ts",
      "#EXTINF:2.000,",
      "seg6.ts",
    ]);
    // A flag on a segment that also follows a gap is one discontinuity, not two.
    const both = mediaPlaylist([seg(0), seg(2, 2, true)], { kind: "vod" });
    expect(lines(both).filter((l) => l === "#EXT-X-DISCONTINUITY")).to.have.length(1);
  });

  it("counts the discontinuities of dropped segments in EXT-X-DISCONTINUITY-SEQUENCE", () => {
    const segments = Array.from({ length: 10 }, (_, i) => seg(i, 2, i === 2 || i === 4 || i === 8));
    const playlist = mediaPlaylist(segments, { kind: "live", window: 3 });
    expect(tag(playlist, "EXT-X-DISCONTINUITY-SEQUENCE")).to.equal("2");
    expect(tag(playlist, "EXT-X-MEDIA-SEQUENCE")).to.equal("7");
    expect(lines(playlist).filter((l) => l === "#EXT-X-DISCONTINUITY")).to.have.length(1);
    // No discontinuity at or before the first listed segment: no tag at all.
    expect(
      tag(mediaPlaylist(segments.slice(0, 4), { kind: "live", window: 3 }), "EXT-X-DISCONTINUITY-SEQUENCE"),
    ).to.equal(undefined);
    // The first listed segment starts one itself: its number (1) moves into the tag rather than being lost.
    const startsOne = mediaPlaylist(segments.slice(0, 5), { kind: "live", window: 3 });
    expect(tag(startsOne, "EXT-X-DISCONTINUITY-SEQUENCE")).to.equal("1");
    expect(lines(startsOne).filter((l) => l === "#EXT-X-DISCONTINUITY")).to.have.length(1);
  });

  it("keeps every segment's discontinuity sequence number while a flagged segment slides out of the window", () => {
    expectStableDiscontinuityNumbers(
      Array.from({ length: 10 }, (_, i) => seg(i, 2, i === 4)),
      3,
    );
  });

  it("keeps every segment's discontinuity sequence number while a gap slides out of the window", () => {
    expectStableDiscontinuityNumbers(
      [0, 1, 2, 3, 5, 6, 7, 8, 9].map((i) => seg(i)),
      3,
    );
  });

  it("writes event and VOD playlists whole, with their type, and ENDLIST when the stream is over", () => {
    const segments = Array.from({ length: 8 }, (_, i) => seg(i));
    const event = mediaPlaylist(segments, { kind: "event", window: 2 });
    expect(uris(event)).to.have.length(8); // the window is for live playlists only
    expect(tag(event, "EXT-X-PLAYLIST-TYPE")).to.equal("EVENT");
    expect(tag(event, "EXT-X-MEDIA-SEQUENCE")).to.equal("0");
    expect(event).not.to.contain("#EXT-X-ENDLIST");
    expect(lines(mediaPlaylist(segments, { kind: "event", ended: true })).at(-1)).to.equal("#EXT-X-ENDLIST");

    const vod = mediaPlaylist(segments, { kind: "vod" });
    expect(tag(vod, "EXT-X-PLAYLIST-TYPE")).to.equal("VOD");
    expect(lines(vod).at(-1)).to.equal("#EXT-X-ENDLIST");
    expect(uris(vod)).to.have.length(8);

    const live = mediaPlaylist(segments, { kind: "live" });
    expect(live).not.to.contain("PLAYLIST-TYPE");
    expect(live).not.to.contain("ENDLIST");
    expect(lines(mediaPlaylist(segments, { kind: "live", ended: true })).at(-1)).to.equal("#EXT-X-ENDLIST");
  });

  it("sets TARGETDURATION so that no rounded EXTINF exceeds it; an explicit one only raises it", () => {
    const segments = [seg(0, 2.0), seg(1, 2.4), seg(2, 2.5), seg(3, 1.9)];
    const playlist = mediaPlaylist(segments, { kind: "vod" });
    expect(tag(playlist, "EXT-X-TARGETDURATION")).to.equal("3");
    expect(lines(playlist).filter((l) => l.startsWith("#EXTINF"))).to.deep.equal([
      "#EXTINF:2.000,",
      "#EXTINF:2.400,",
      "#EXTINF:2.500,",
      "#EXTINF:1.900,",
    ]);
    expect(tag(mediaPlaylist(segments, { kind: "vod", targetDuration: 2 }), "EXT-X-TARGETDURATION")).to.equal("3");
    expect(tag(mediaPlaylist(segments, { kind: "vod", targetDuration: 6 }), "EXT-X-TARGETDURATION")).to.equal("6");
    expect(targetDurationFor([seg(0, 2.49)])).to.equal(2);
    expect(targetDurationFor([seg(0, 0.2)])).to.equal(1);
    expect(targetDurationFor([])).to.equal(1);
    // A live playlist's target comes from what it lists.
    const live = mediaPlaylist([seg(0, 9), seg(1, 2), seg(2, 2)], { kind: "live", window: 2 });
    expect(tag(live, "EXT-X-TARGETDURATION")).to.equal("2");
  });

  it("never prints an EXTINF that rounds above TARGETDURATION (durations just under a half)", () => {
    for (const durationSec of [2.4996, 4.49951, 0.4999]) {
      const playlist = mediaPlaylist([seg(0, durationSec)], { kind: "vod" });
      const target = Number(tag(playlist, "EXT-X-TARGETDURATION"));
      const extinf = Number(/^#EXTINF:([\d.]+),$/m.exec(playlist)![1]);
      expect(Math.round(extinf), `${durationSec} s:\n${playlist}`).to.be.at.most(target);
    }
  });

  it("refuses URIs with line breaks, and empty ones", () => {
    for (const uri of ["a\nb.ts", "a.ts\r", "\n", ""]) {
      expect(
        () => mediaPlaylist([{ sequence: 0, uri, durationSec: 2 }], { kind: "vod" }),
        JSON.stringify(uri),
      ).to.throw("invalid playlist URI");
    }
    expect(
      uris(mediaPlaylist([{ sequence: 0, uri: "https://cdn.example/a b?x=1#f", durationSec: 2 }], { kind: "vod" })),
    ).to.deep.equal(["https://cdn.example/a b?x=1#f"]);
  });
});

describe("media hls: master playlists, codecs and bandwidth", () => {
  const source = source1080;

  const aac: SourceInfo["audio"] = { codec: "aac", profile: "LC", sampleRate: 48000, channels: 2 };

  it("writes each variant's attributes in order", () => {
    const playlist = masterPlaylist([
      {
        uri: "720p30/index.m3u8",
        bandwidth: 4_925_800,
        averageBandwidth: 3_100_000.4,
        width: 1280,
        height: 720,
        frameRate: 29.97,
        codecs: ["avc1.64001f", "mp4a.40.2"],
      },
      { uri: "240p30/index.m3u8", bandwidth: 700_000, width: 426, height: 240, codecs: [] },
    ]);
    expect(lines(playlist)).to.deep.equal([
      "#EXTM3U",
      "#EXT-X-VERSION:3",
      "#EXT-X-INDEPENDENT-SEGMENTS",
      '#EXT-X-STREAM-INF:BANDWIDTH=4925800,AVERAGE-BANDWIDTH=3100000,RESOLUTION=1280x720,FRAME-RATE=29.970,CODECS="avc1.64001f,mp4a.40.2"',
      "720p30/index.m3u8",
      "#EXT-X-STREAM-INF:BANDWIDTH=700000,RESOLUTION=426x240",
      "240p30/index.m3u8",
    ]);
  });

  it("refuses no variants, a bandwidth that is not a positive integer, and a bad URI", () => {
    expect(() => masterPlaylist([])).to.throw("at least one variant");
    const variant = { uri: "a.m3u8", bandwidth: 1000, width: 640, height: 360, codecs: [] };
    for (const bandwidth of [0, -1, 1.5, Number.NaN, Infinity]) {
      expect(() => masterPlaylist([{ ...variant, bandwidth }]), String(bandwidth)).to.throw(
        "BANDWIDTH must be a positive integer",
      );
    }
    expect(() => masterPlaylist([variant, { ...variant, uri: "b\n.m3u8" }])).to.throw("invalid playlist URI");
  });

  it("names the audio codecs HLS players know, and nothing else", () => {
    const named = (codec: string, profile?: string) =>
      audioCodecString({ codec, profile, sampleRate: 48000, channels: 2 });
    expect(named("aac", "LC")).to.equal("mp4a.40.2");
    expect(named("aac")).to.equal("mp4a.40.2");
    expect(named("aac", "HE-AAC")).to.equal("mp4a.40.5");
    expect(named("aac", "HE-AACv2")).to.equal("mp4a.40.29");
    expect(named("mp3")).to.equal("mp4a.40.34");
    expect(named("ac3")).to.equal("ac-3");
    expect(named("eac3")).to.equal("ec-3");
    expect(named("opus")).to.equal(undefined);
    expect(audioCodecString(undefined)).to.equal(undefined);
  });

  it("does not call AAC Main or LTP audio AAC-LC (ISO 14496-3 object types 1 and 4)", () => {
    const named = (profile: string) => audioCodecString({ codec: "aac", profile, sampleRate: 48000, channels: 2 });
    // ffprobe's names for those profiles; either the right string or none at all, never LC's.
    expect(named("Main")).to.be.oneOf(["mp4a.40.1", undefined]);
    expect(named("LTP")).to.be.oneOf(["mp4a.40.4", undefined]);
  });

  it("gives a rendition a nominal variant: peak bitrate with the VBV allowance, audio and TS overhead", () => {
    const fitted = fitRendition(PRESETS["720p30"], { width: 1920, height: 1080, fps: 30 });
    // (3,000,000 × (1 + 0.9 / 2) + 128,000) × 1.1
    expect(nominalVariant("720p.m3u8", fitted, source(aac))).to.deep.equal({
      uri: "720p.m3u8",
      bandwidth: 4_925_800,
      width: 1280,
      height: 720,
      frameRate: 30,
      codecs: ["avc1.64001f", "mp4a.40.2"],
    });
    // No audio: video alone. 3,000,000 × 1.45 × 1.1
    const silent = nominalVariant("720p.m3u8", fitted, source());
    expect(silent.bandwidth).to.equal(4_785_000);
    expect(silent.codecs).to.deep.equal(["avc1.64001f"]);
    // 4 s segments, 64 kbit/s audio: (3,000,000 × 1.225 + 64,000) × 1.1
    // (float rounding may add one bit per second; rounding up is the safe side for BANDWIDTH)
    expect(nominalVariant("x", fitted, source(aac), 4, 64_000).bandwidth).to.be.within(4_112_900, 4_112_901);
    // Audio we cannot name: no CODECS at all rather than a wrong list.
    expect(nominalVariant("x", fitted, source({ ...aac, codec: "opus" })).codecs).to.deep.equal([]);
  });

  it("measures peak and average bitrates of written segments", () => {
    expect(
      measuredBandwidth([
        { bytes: 1_000_000, durationSec: 2 }, // 4,000,000 bit/s
        { bytes: 600_000, durationSec: 1.5 }, // 3,200,000 bit/s
        { bytes: 999, durationSec: 0 }, // no duration: ignored
      ]),
    ).to.deep.equal({ peak: 4_000_000, average: 3_657_143 });
    expect(measuredBandwidth([{ bytes: 1, durationSec: 3 }])).to.deep.equal({ peak: 3, average: 3 });
    expect(measuredBandwidth([])).to.deep.equal({ peak: 0, average: 0 });
  });
});

describe("media hls: real renditions of consecutive segments", function () {
  const FRAME_TICKS = 3000; // one frame at 30 fps on the 90 kHz clock
  const ladder = ladderFromPresets("360p,240p");
  let tools: MediaTools;
  let dir: string;
  /** Transcoded segments by start second: 0 (a stream's first segment), 2, 4. */
  const results = new Map<number, TranscodeResult>();
  const sources = new Map<number, Buffer>();
  let fitted: FittedRendition[];

  before(async () => {
    tools = await mediaTools();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "media-hls-"));
    for (const startSec of [0, 2, 4]) {
      const source = await generateTestSegment(tools, { width: 640, height: 360, startSec, audio: false });
      sources.set(startSec, source);
      results.set(startSec, await transcodeSegment(tools, source, ladder));
    }
    fitted = results.get(0)!.fitted;
  });

  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("plays back through our playlists: ffprobe reads every variant of the master at its size", async () => {
    const starts = [0, 2, 4];
    fitted.forEach((f, r) => {
      const name = f.rendition.name;
      fs.mkdirSync(path.join(dir, name));
      const segments = starts.map((start, n) => {
        const output = results.get(start)!.renditions[r];
        fs.writeFileSync(path.join(dir, name, `${n}.ts`), output.data);
        return { sequence: n, uri: `${n}.ts`, durationSec: output.durationMs / 1000 };
      });
      fs.writeFileSync(path.join(dir, name, "index.m3u8"), mediaPlaylist(segments, { kind: "vod" }));
    });
    const master = masterPlaylist(
      fitted.map((f) => nominalVariant(`${f.rendition.name}/index.m3u8`, f, results.get(0)!.source)),
    );
    const masterPath = path.join(dir, "master.m3u8");
    fs.writeFileSync(masterPath, master);

    const result = await runProcess(tools.ffprobe.path, {
      args: ["-v", "error", "-show_streams", "-show_format", "-of", "json", masterPath],
      env: tools.probeEnv,
      timeoutMs: 20_000,
    });
    expect(result.code, result.stderrTail).to.equal(0);
    const probed = JSON.parse(result.stdout.toString("utf8"));
    expect(probed.format.format_name).to.equal("hls");
    const videos = (probed.streams as Array<Record<string, unknown>>).filter((s) => s.codec_type === "video");
    expect(videos.map((s) => `${s.codec_name} ${s.width}x${s.height}`).sort()).to.deep.equal(
      ["h264 426x240", "h264 640x360"].sort(),
    );
    expect(Number(probed.format.duration)).to.be.closeTo(6, 0.1);
  });

  it("gives each rendition segment the sizes, frames and duration its playlist says", () => {
    for (const result of results.values()) {
      expect(result.renditions.map((o) => `${o.width}x${o.height}`)).to.deep.equal(["640x360", "426x240"]);
      for (const o of result.renditions) {
        expect(o.frames).to.equal(60);
        expect(o.durationMs).to.equal(2000);
      }
    }
  });

  it("stays within the nominal BANDWIDTH of its variant", () => {
    fitted.forEach((f, r) => {
      const written = [...results.values()].map((result) => ({
        bytes: result.renditions[r].bytes,
        durationSec: result.renditions[r].durationMs / 1000,
      }));
      const { peak } = measuredBandwidth(written);
      expect(peak, f.rendition.name).to.be.at.most(nominalVariant("x", f, results.get(0)!.source).bandwidth);
      expect(peak).to.be.above(0);
    });
  });

  it("keeps the source's timestamps from one segment to the next (2 s → 4 s)", () => {
    for (const start of [2, 4]) {
      const source = inspectTransportStream(sources.get(start)!);
      expect(source.minPts).to.equal(start * 90_000);
      for (const o of results.get(start)!.renditions) {
        const video = inspectTransportStream(o.data);
        expect(video.minPts, `${o.name} at ${start} s`).to.equal(source.minPts);
        expect(video.maxPts).to.equal(source.maxPts);
      }
    }
    results.get(2)!.renditions.forEach((first, r) => {
      const next = inspectTransportStream(results.get(4)!.renditions[r].data);
      expect(next.minPts, first.name).to.equal(inspectTransportStream(first.data).maxPts! + FRAME_TICKS);
    });
  });

  it("keeps the timestamps of a stream's first segment, so it lines up with the second (0 s → 2 s)", () => {
    const source = inspectTransportStream(sources.get(0)!);
    expect(source.minPts).to.equal(0);
    expect(source.maxPts! + FRAME_TICKS).to.equal(inspectTransportStream(sources.get(2)!).minPts);
    results.get(0)!.renditions.forEach((first, r) => {
      const video = inspectTransportStream(first.data);
      const next = inspectTransportStream(results.get(2)!.renditions[r].data);
      expect(
        [video.minPts, video.maxPts! + FRAME_TICKS],
        `${first.name}: segment 0 should cover [0, ${next.minPts}) as its source does`,
      ).to.deep.equal([source.minPts, next.minPts]);
    });
  });
});
