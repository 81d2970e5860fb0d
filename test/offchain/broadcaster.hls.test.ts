/**
 * A stream's HLS output (offchain/broadcaster/hlsOutput.ts), in a temp dir with fake segment bytes (it never parses
 * media): the source published at once, renditions in order up to the first segment still in flight, failed segments
 * skipped behind a discontinuity, the live window sliding with old files deleted and discontinuity and media sequence
 * numbers kept stable across reloads (RFC 8216 §6.2.1-6.2.2), recording as EVENT then VOD, and the master playlist.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";

import { HlsOutput, type HlsOutputOptions, SOURCE_RENDITION } from "../../offchain/broadcaster/hlsOutput";
import { type FittedRendition, fitLadder, ladderFromPresets } from "../../offchain/media/ladder";
import { source1080 } from "../support/media";
import { waitUntil } from "../support/orchestratorDaemon";

const STREAM = "cam-1";
const RENDITIONS = ["360p30", "240p30"];
const PACKET = 188;

const lines = (playlist: string) => playlist.trimEnd().split("\n");
const uris = (playlist: string) => lines(playlist).filter((l) => !l.startsWith("#"));
const tag = (playlist: string, name: string) =>
  lines(playlist)
    .find((l) => l.startsWith(`#${name}:`))
    ?.slice(name.length + 2);

/** Each listed URI's discontinuity sequence number (RFC 8216 §6.2.2). */
function discontinuityNumbers(playlist: string): Map<string, number> {
  let number = Number(tag(playlist, "EXT-X-DISCONTINUITY-SEQUENCE") ?? 0);
  const numbers = new Map<string, number>();
  for (const line of lines(playlist)) {
    if (line === "#EXT-X-DISCONTINUITY") number++;
    else if (!line.startsWith("#")) numbers.set(line, number);
  }
  return numbers;
}

/** Each listed URI's media sequence number: EXT-X-MEDIA-SEQUENCE plus its position (RFC 8216 §6.2.1). */
function mediaSequenceNumbers(playlist: string): Map<string, number> {
  const first = Number(tag(playlist, "EXT-X-MEDIA-SEQUENCE") ?? 0);
  return new Map(uris(playlist).map((uri, i) => [uri, first + i]));
}

/**
 * Playlist reloads, as a player sees them: every URI must keep the number it had in every earlier reload.
 * Returns the latest numbers.
 */
class ReloadChecker {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly what: string,
    private readonly numbersOf: (playlist: string) => Map<string, number>,
  ) {}

  reload(playlist: string, when: string): Map<string, number> {
    const numbers = this.numbersOf(playlist);
    for (const [uri, number] of numbers) {
      const before = this.seen.get(uri);
      if (before !== undefined) {
        expect(number, `${this.what} of ${uri} changed (${when}):\n${playlist}`).to.equal(before);
      }
      this.seen.set(uri, number);
    }
    return numbers;
  }
}

/** Fake segment bytes: whole 188-byte packets, distinct per segment and rendition, so files can be told apart. */
function bytes(seq: number, rendition: string, packets = 10): Buffer {
  const data = Buffer.alloc(packets * PACKET, seq & 0xff);
  data.write(`${rendition}/${seq}`, 1, "latin1");
  return data;
}

const renditionsOf = (seq: number) => RENDITIONS.map((name) => ({ name, data: bytes(seq, name) }));

describe("broadcaster: HlsOutput", () => {
  let root: string;
  let dir: string;
  const source = source1080();
  let fitted: FittedRendition[];

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "streamflow-hls-out-"));
    dir = path.join(root, "streams", STREAM);
    fitted = fitLadder(ladderFromPresets("360p30,240p30"), source.video);
  });

  afterEach(() => {
    fs.rmSync(root, { recursive: true, force: true });
  });

  function output(options: Partial<HlsOutputOptions> = {}): HlsOutput {
    const out = new HlsOutput({ dir, window: 6, record: false, ...options });
    out.describe(source, fitted);
    return out;
  }

  const playlist = (out: HlsOutput, rendition: string) => {
    const text = out.mediaPlaylist(rendition);
    expect(text, `no ${rendition} playlist`).to.be.a("string");
    return text!;
  };
  const listed = (out: HlsOutput, rendition: string) => uris(playlist(out, rendition));
  const files = (rendition: string) =>
    fs
      .readdirSync(path.join(dir, rendition))
      .map((f) => Number(f.replace(/\.ts$/, "")))
      .sort((a, b) => a - b);

  it("has no master playlist before the first segment describes the stream", () => {
    const out = new HlsOutput({ dir, window: 6, record: false });
    expect(out.ready).to.equal(false);
    expect(out.masterPlaylist()).to.equal(undefined);
    expect(out.renditionNames).to.deep.equal([]);
    expect(fs.statSync(path.join(dir, SOURCE_RENDITION)).isDirectory()).to.equal(true);
    out.describe(source, fitted);
    expect(out.ready).to.equal(true);
    expect(out.renditionNames).to.deep.equal(RENDITIONS);
    for (const name of RENDITIONS) expect(fs.statSync(path.join(dir, name)).isDirectory()).to.equal(true);
    // The first description stays.
    out.describe({ ...source, video: { ...source.video, width: 640, height: 360 } }, fitted.slice(0, 1));
    expect(out.renditionNames).to.deep.equal(RENDITIONS);
    expect(out.masterPlaylist()).to.include("RESOLUTION=1920x1080");
  });

  it("publishes the source segment at once, and its renditions only once they are in", () => {
    const out = output();
    out.addSource(0, bytes(0, "source"), 2, false);
    expect(listed(out, SOURCE_RENDITION)).to.deep.equal(["source/0.ts"]);
    for (const name of RENDITIONS) expect(listed(out, name)).to.deep.equal([]);
    const file = out.segmentFile(SOURCE_RENDITION, 0);
    expect(file).to.equal(path.join(dir, SOURCE_RENDITION, "0.ts"));
    expect(fs.readFileSync(file!)).to.deep.equal(bytes(0, "source"));
    expect(out.segmentFile("360p30", 0)).to.equal(undefined);

    out.addRenditions(0, renditionsOf(0), 2, false);
    for (const name of RENDITIONS) {
      expect(listed(out, name)).to.deep.equal([`${name}/0.ts`]);
      expect(fs.readFileSync(out.segmentFile(name, 0)!)).to.deep.equal(bytes(0, name));
    }
    expect(playlist(out, "360p30")).to.include("#EXTINF:2.000,\n360p30/0.ts");
  });

  it("publishes renditions in order, up to the first segment still in flight", () => {
    const out = output();
    for (const seq of [0, 1, 2]) out.addSource(seq, bytes(seq, "source"), 2, false);
    out.addRenditions(0, renditionsOf(0), 2, false);
    out.addRenditions(2, renditionsOf(2), 2, false); // 1 is still in flight
    for (const name of RENDITIONS) {
      expect(listed(out, name)).to.deep.equal([`${name}/0.ts`]);
      expect(out.segmentFile(name, 2), "a segment waiting behind one in flight is not served").to.equal(undefined);
    }
    expect(listed(out, SOURCE_RENDITION)).to.deep.equal(["source/0.ts", "source/1.ts", "source/2.ts"]);

    out.addRenditions(1, renditionsOf(1), 2, false);
    for (const name of RENDITIONS) {
      expect(listed(out, name)).to.deep.equal([0, 1, 2].map((s) => `${name}/${s}.ts`));
      expect(playlist(out, name)).to.not.include("#EXT-X-DISCONTINUITY");
      for (const seq of [0, 1, 2]) expect(fs.readFileSync(out.segmentFile(name, seq)!)).to.deep.equal(bytes(seq, name));
    }
  });

  it("skips a failed segment in the renditions (a discontinuity) while the source keeps it", () => {
    const out = output();
    for (const seq of [0, 1, 2]) out.addSource(seq, bytes(seq, "source"), 2, false);
    out.addRenditions(0, renditionsOf(0), 2, false);
    out.addRenditions(2, renditionsOf(2), 2, false);
    out.markFailed(1, 2, false);
    for (const name of RENDITIONS) {
      const text = playlist(out, name);
      expect(uris(text)).to.deep.equal([`${name}/0.ts`, `${name}/2.ts`]);
      expect(lines(text).slice(-4)).to.deep.equal([
        `${name}/0.ts`,
        "#EXT-X-DISCONTINUITY",
        "#EXTINF:2.000,",
        `${name}/2.ts`,
      ]);
      expect(out.segmentFile(name, 1)).to.equal(undefined);
    }
    const sourceList = playlist(out, SOURCE_RENDITION);
    expect(uris(sourceList)).to.deep.equal(["source/0.ts", "source/1.ts", "source/2.ts"]);
    expect(sourceList).to.not.include("DISCONTINUITY");
  });

  it("holds later renditions behind a segment that then fails, and publishes them once it has failed", () => {
    const out = output();
    for (const seq of [0, 1, 2, 3]) out.addSource(seq, bytes(seq, "source"), 2, false);
    out.addRenditions(2, renditionsOf(2), 2, false);
    out.addRenditions(3, renditionsOf(3), 2, false);
    out.addRenditions(0, renditionsOf(0), 2, false);
    expect(listed(out, "240p30")).to.deep.equal(["240p30/0.ts"]);
    out.markFailed(1, 2, false);
    expect(listed(out, "240p30")).to.deep.equal(["240p30/0.ts", "240p30/2.ts", "240p30/3.ts"]);
  });

  it("slides the live window, deletes files beyond twice the window, and keeps discontinuity numbers", async () => {
    const window = 2;
    const out = output({ window });
    const checkers = new Map(
      [SOURCE_RENDITION, ...RENDITIONS].map((name) => [
        name,
        new ReloadChecker("the discontinuity number", discontinuityNumbers),
      ]),
    );
    const reloadAll = (when: string) => {
      for (const [name, checker] of checkers) checker.reload(playlist(out, name), when);
    };
    // Segment 3 starts a discontinuity (a publisher came back); segment 6 could not be transcoded.
    for (let seq = 0; seq < 10; seq++) {
      const discontinuity = seq === 3;
      out.addSource(seq, bytes(seq, "source"), 2, discontinuity);
      reloadAll(`source ${seq} in`);
      if (seq === 6) out.markFailed(seq, 2, discontinuity);
      else out.addRenditions(seq, renditionsOf(seq), 2, discontinuity);
      reloadAll(`segment ${seq} settled`);
    }
    const sourceList = playlist(out, SOURCE_RENDITION);
    expect(uris(sourceList)).to.deep.equal(["source/8.ts", "source/9.ts"]);
    expect(tag(sourceList, "EXT-X-MEDIA-SEQUENCE")).to.equal("8");
    expect([...discontinuityNumbers(sourceList).values()]).to.deep.equal([1, 1]);
    for (const name of RENDITIONS) {
      const text = playlist(out, name);
      expect(uris(text)).to.deep.equal([`${name}/8.ts`, `${name}/9.ts`]);
      expect([...discontinuityNumbers(text).values()], text).to.deep.equal([2, 2]);
      expect(text).to.not.include("#EXT-X-DISCONTINUITY\n");
    }
    // Twice the window stays on disk for players holding the previous playlist; older files go (asynchronously).
    await waitUntil("old segment files to be deleted", () => files(SOURCE_RENDITION).length === 2 * window, 5000, 20);
    expect(files(SOURCE_RENDITION)).to.deep.equal([6, 7, 8, 9]);
    for (const name of RENDITIONS) {
      await waitUntil(`old ${name} files to be deleted`, () => files(name).length === 2 * window, 5000, 20);
      expect(files(name)).to.deep.equal([5, 7, 8, 9]);
      expect(out.segmentFile(name, 5)).to.equal(path.join(dir, name, "5.ts"));
      expect(out.segmentFile(name, 4)).to.equal(undefined);
    }
    expect(out.segmentFile(SOURCE_RENDITION, 6)).to.equal(path.join(dir, SOURCE_RENDITION, "6.ts"));
    expect(out.segmentFile(SOURCE_RENDITION, 5)).to.equal(undefined);
  });

  it("keeps every segment's media sequence number across reloads after a failed segment", () => {
    const out = output({ window: 3 });
    const checkers = new Map(
      [SOURCE_RENDITION, ...RENDITIONS].map((name) => [
        name,
        new ReloadChecker("the media sequence number", mediaSequenceNumbers),
      ]),
    );
    for (let seq = 0; seq < 8; seq++) {
      out.addSource(seq, bytes(seq, "source"), 2, false);
      if (seq === 2) out.markFailed(seq, 2, false);
      else out.addRenditions(seq, renditionsOf(seq), 2, false);
      for (const [name, checker] of checkers) checker.reload(playlist(out, name), `after segment ${seq}`);
    }
  });

  it("records: keeps every segment as an EVENT, then a VOD with ENDLIST once ended", async () => {
    const out = output({ window: 2, record: true });
    for (let seq = 0; seq < 6; seq++) {
      out.addSource(seq, bytes(seq, "source"), 2, false);
      out.addRenditions(seq, renditionsOf(seq), 2, false);
    }
    for (const name of [SOURCE_RENDITION, ...RENDITIONS]) {
      const text = playlist(out, name);
      expect(uris(text)).to.deep.equal([0, 1, 2, 3, 4, 5].map((s) => `${name}/${s}.ts`));
      expect(tag(text, "EXT-X-PLAYLIST-TYPE")).to.equal("EVENT");
      expect(tag(text, "EXT-X-MEDIA-SEQUENCE")).to.equal("0");
      expect(text).to.not.include("#EXT-X-ENDLIST");
      expect(files(name)).to.deep.equal([0, 1, 2, 3, 4, 5]);
      expect(out.segmentFile(name, 0)).to.equal(path.join(dir, name, "0.ts"));
    }
    expect(out.isEnded).to.equal(false);
    out.end();
    expect(out.isEnded).to.equal(true);
    for (const name of [SOURCE_RENDITION, ...RENDITIONS]) {
      const text = playlist(out, name);
      expect(uris(text)).to.have.length(6);
      expect(tag(text, "EXT-X-PLAYLIST-TYPE")).to.equal("VOD");
      expect(lines(text).at(-1)).to.equal("#EXT-X-ENDLIST");
    }
    out.reopen();
    expect(tag(playlist(out, "240p30"), "EXT-X-PLAYLIST-TYPE")).to.equal("EVENT");
    expect(playlist(out, "240p30")).to.not.include("#EXT-X-ENDLIST");
  });

  it("ends a live playlist with ENDLIST (and no playlist type)", () => {
    const out = output({ window: 3 });
    for (let seq = 0; seq < 5; seq++) {
      out.addSource(seq, bytes(seq, "source"), 2, false);
      out.addRenditions(seq, renditionsOf(seq), 2, false);
    }
    out.end();
    const text = playlist(out, "360p30");
    expect(uris(text)).to.deep.equal(["360p30/2.ts", "360p30/3.ts", "360p30/4.ts"]);
    expect(tag(text, "EXT-X-PLAYLIST-TYPE")).to.equal(undefined);
    expect(lines(text).at(-1)).to.equal("#EXT-X-ENDLIST");
  });

  it("writes a master playlist: each rendition then the source, as <id>/<name>.m3u8", () => {
    const out = output();
    out.addSource(0, bytes(0, "source", 100), 2, false);
    const master = out.masterPlaylist()!;
    const text = lines(master);
    expect(text.slice(0, 3)).to.deep.equal(["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]);
    expect(uris(master)).to.deep.equal([`${STREAM}/360p30.m3u8`, `${STREAM}/240p30.m3u8`, `${STREAM}/source.m3u8`]);
    const infs = text.filter((l) => l.startsWith("#EXT-X-STREAM-INF:"));
    expect(infs).to.have.length(3);
    fitted.forEach((f, i) => {
      expect(infs[i]).to.include(`RESOLUTION=${f.width}x${f.height}`);
      expect(infs[i]).to.include(`CODECS="${f.codec}"`);
      expect(infs[i]).to.match(/BANDWIDTH=\d+/);
    });
    expect(infs[0]).to.include("RESOLUTION=640x360");
    // The source variant: its measured bit rate (100 packets in 2 s), its size and rate.
    expect(infs[2]).to.equal(
      `#EXT-X-STREAM-INF:BANDWIDTH=${(100 * PACKET * 8) / 2},AVERAGE-BANDWIDTH=${(100 * PACKET * 8) / 2},` +
        "RESOLUTION=1920x1080,FRAME-RATE=30.000",
    );
    // Every URI resolves (relative to /stream/<id>.m3u8) to a playlist the output serves.
    for (const uri of uris(master)) {
      const name = uri.slice(STREAM.length + 1).replace(/\.m3u8$/, "");
      expect(out.mediaPlaylist(name), uri).to.be.a("string");
    }
    expect(out.mediaPlaylist("1080p30")).to.equal(undefined);
    expect(out.segmentFile("1080p30", 0)).to.equal(undefined);
  });

  it("raises a rendition's BANDWIDTH to the measured peak once segments exceed the nominal rate", () => {
    const out = output();
    const nominal = Number(/BANDWIDTH=(\d+)/.exec(lines(out.masterPlaylist()!)[3])![1]);
    out.addSource(0, bytes(0, "source"), 2, false);
    const big = Buffer.alloc(Math.ceil(nominal / 8 / PACKET) * 4 * PACKET, 0x47); // twice the nominal rate over 2 s
    out.addRenditions(
      0,
      [
        { name: "360p30", data: big },
        { name: "240p30", data: bytes(0, "240p30") },
      ],
      2,
      false,
    );
    const infs = lines(out.masterPlaylist()!).filter((l) => l.startsWith("#EXT-X-STREAM-INF:"));
    expect(infs[0]).to.include(`BANDWIDTH=${(big.length * 8) / 2},`);
    expect((big.length * 8) / 2).to.be.above(nominal);
  });
});
