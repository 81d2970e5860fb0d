/**
 * A stream's HLS output across a restart of the broadcaster (offchain/broadcaster/hlsOutput.ts and Pipeline.open): a
 * second HlsOutput on the same directory continues the lists the first one published (files, numbering, media and
 * discontinuity sequence numbers), a live stream's journal stays small, and segments left in flight are reported so
 * that the pipeline counts them lost instead of letting them disappear. Fake segment bytes: nothing parses media.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import pino from "pino";

import { HlsOutput, type HlsOutputOptions, SOURCE_RENDITION } from "../../offchain/broadcaster/hlsOutput";
import { BroadcasterMetrics } from "../../offchain/broadcaster/metrics";
import { Pipeline, type PipelineOptions } from "../../offchain/broadcaster/pipeline";
import { OrchestratorBook, RetryBudget } from "../../offchain/broadcaster/selection";
import type { MediaTools } from "../../offchain/media/binaries";
import { type FittedRendition, fitLadder, ladderFromPresets } from "../../offchain/media/ladder";
import { source1080 } from "../support/media";

const RENDITIONS = ["360p30", "240p30"];
const VARIANTS = [...RENDITIONS, SOURCE_RENDITION];

function bytes(seq: number, variant: string): Buffer {
  const data = Buffer.alloc(10 * 188, seq & 0xff);
  data.write(`${variant}/${seq}`, 1, "latin1");
  return data;
}

describe("broadcaster: resuming a stream after a restart", () => {
  let root: string;
  let dir: string;
  const source = source1080();
  let fitted: FittedRendition[];

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "streamflow-resume-"));
    dir = path.join(root, "streams", "cam");
    fitted = fitLadder(ladderFromPresets(RENDITIONS.join(",")), source.video);
  });

  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const output = (options: Partial<HlsOutputOptions> = {}) => {
    const out = new HlsOutput({ dir, window: 6, record: true, ...options });
    out.describe(source, fitted);
    return out;
  };

  /** One segment through: source, then renditions (or a failure). */
  const publish = (
    out: HlsOutput,
    seq: number,
    outcome: "ok" | "failed" | "in-flight" = "ok",
    discontinuity = false,
  ) => {
    out.addSource(seq, bytes(seq, SOURCE_RENDITION), 2, discontinuity);
    if (outcome === "ok") {
      out.addRenditions(
        seq,
        RENDITIONS.map((name) => ({ name, data: bytes(seq, name) })),
        2,
        discontinuity,
      );
    } else if (outcome === "failed") {
      out.markFailed(seq, 2, discontinuity);
    }
  };

  const uris = (text: string) => text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));

  describe("HlsOutput", () => {
    it("continues a recorded stream: the same lists and files, then numbering on after a discontinuity", () => {
      const first = output();
      for (const seq of [0, 1, 2]) publish(first, seq);
      publish(first, 3, "in-flight");
      const before = Object.fromEntries(VARIANTS.map((v) => [v, first.mediaPlaylist(v)]));

      const second = output();
      expect(second.lastSeq).to.equal(3);
      expect(second.interrupted).to.deep.equal([{ seq: 3, durationSec: 2 }]);
      for (const v of VARIANTS) expect(second.mediaPlaylist(v), v).to.equal(before[v]);
      expect(fs.readFileSync(second.segmentFile("360p30", 0)!)).to.deep.equal(bytes(0, "360p30"));

      second.markFailed(3, 2, false);
      publish(second, 4, "ok", true);
      for (const name of RENDITIONS) {
        const text = second.mediaPlaylist(name)!;
        expect(uris(text)).to.deep.equal([0, 1, 2, 4].map((s) => `${name}/${s}.ts`));
        expect(text).to.include(`${name}/2.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\n${name}/4.ts`);
      }
      const sourceList = second.mediaPlaylist(SOURCE_RENDITION)!;
      expect(uris(sourceList)).to.deep.equal([0, 1, 2, 3, 4].map((s) => `source/${s}.ts`));
      expect(sourceList).to.include("source/3.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\nsource/4.ts");

      // Settled since: a third run has nothing interrupted.
      expect(output().interrupted).to.deep.equal([]);
    });

    it("a live stream's journal is compacted, and a restart keeps every media and discontinuity sequence number", () => {
      const live = { record: false, window: 2 };
      const first = output(live);
      for (let seq = 0; seq < 40; seq++) publish(first, seq, seq === 17 || seq === 31 ? "failed" : "ok");
      const journal = fs.readFileSync(path.join(dir, "published.jsonl"), "utf8").trim().split("\n");
      expect(journal.length, "journal lines").to.be.at.most(4 * 3 * live.window + 1);

      const second = output(live);
      expect(second.interrupted).to.deep.equal([]);
      expect(second.lastSeq).to.equal(39);
      for (const v of VARIANTS) expect(second.mediaPlaylist(v), v).to.equal(first.mediaPlaylist(v));
      expect(second.mediaPlaylist("360p30")).to.include("#EXT-X-MEDIA-SEQUENCE:36");
      expect(second.mediaPlaylist("360p30")).to.include("#EXT-X-DISCONTINUITY-SEQUENCE:2");
    });

    it("skips a journal line torn by a crash", () => {
      const first = output();
      for (const seq of [0, 1]) publish(first, seq);
      fs.appendFileSync(path.join(dir, "published.jsonl"), '{"variant":"source","seq":2,"dura');
      const second = output();
      expect(second.lastSeq).to.equal(1);
      expect(uris(second.mediaPlaylist(SOURCE_RENDITION)!)).to.deep.equal(["source/0.ts", "source/1.ts"]);
    });

    it("clears a directory without a journal (files no list refers to)", () => {
      fs.mkdirSync(path.join(dir, "360p30"), { recursive: true });
      fs.writeFileSync(path.join(dir, "360p30", "0.ts"), bytes(0, "360p30"));
      const out = output();
      expect(out.lastSeq).to.equal(undefined);
      expect(fs.existsSync(path.join(dir, "360p30", "0.ts"))).to.equal(false);
    });
  });

  describe("Pipeline.open", () => {
    const pipeline = () =>
      new Pipeline({
        address: "0x" + "11".repeat(20),
        ladder: ladderFromPresets(RENDITIONS.join(",")),
        dataDir: root,
        window: 6,
        record: true,
        redundancy: 1,
        maxAttempts: 1,
        maxSegmentBytes: 1 << 20,
        tools: {} as MediaTools,
        decodeCheck: false,
        receiptDomain: (info) => ({ chainId: info.chainId }),
        book: new OrchestratorBook(),
        budget: new RetryBudget(10),
        link: () => {
          throw new Error("no orchestrator in this test");
        },
        metrics: new BroadcasterMetrics(),
        log: pino({ level: "silent" }),
      } satisfies PipelineOptions);

    it("numbers a stream on from a previous run and counts the segments that run left in flight as lost", () => {
      const first = output();
      for (const seq of [0, 1]) publish(first, seq);
      publish(first, 2, "in-flight");

      const restarted = pipeline();
      const stream = restarted.open("cam", "http");
      expect(stream).to.include({ nextSeq: 3, discontinuityNext: true, segmentsIn: 1, segmentsFailed: 1 });
      expect(stream.recent).to.have.length(1);
      expect(stream.recent[0]).to.include({ seq: 2, status: "failed" });
      expect(stream.recent[0].error).to.match(/restarted/);
      expect(restarted.errors[0].message).to.include("segment 2 of cam");
      expect(stream.output.interrupted.map((s) => s.seq)).to.deep.equal([2]);
      // Settled as lost: a later restart does not count it again.
      expect(pipeline().open("cam", "http")).to.include({ nextSeq: 3, segmentsFailed: 0 });
    });

    it("starts a stream nobody published from 0", () => {
      expect(pipeline().open("fresh", "rtmp")).to.include({ nextSeq: 0, discontinuityNext: false, segmentsIn: 0 });
    });
  });
});
