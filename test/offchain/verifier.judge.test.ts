/**
 * The verifier's judge (offchain/verifier/judge.ts) with the real ffmpeg, on evidence served by a real local server
 * (EvidenceStore behind the broadcaster's /evidence route): a 640x360 test segment transcoded to 360p30 and 240p30,
 * and a receipt over exactly those bytes, as an orchestrator signs it. An honest transcode is NoFault; the
 * transcoder's fault injection (negated pictures), a rendition of the wrong length, a truncated one and bytes that
 * are not video are Fault. Evidence that cannot be fetched or checked makes the judge throw (the daemon then votes
 * NoFault: data availability is the challenger's burden).
 */
import fs from "node:fs";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import { Wallet, id, keccak256 } from "ethers";
import Fastify, { type FastifyInstance } from "fastify";

import { registerEvidenceRoutes } from "../../offchain/broadcaster/disputes";
import { EvidenceError, EvidenceStore } from "../../offchain/disputes/evidence";
import { type MediaTools, mediaTools } from "../../offchain/media/binaries";
import { PRESETS, type Rendition, profilesHash } from "../../offchain/media/ladder";
import { TS_PACKET_BYTES } from "../../offchain/media/mpegts";
import { generateTestSegment } from "../../offchain/media/testsrc";
import { type TranscodeResult, transcodeSegment } from "../../offchain/media/transcode";
import { type TranscodeReceipt, outputsHash, receiptToJson } from "../../offchain/orchestrator/receipt";
import { evidenceJudge } from "../../offchain/verifier/judge";
import type { DisputeRow } from "../../offchain/verifier/store";
import type { Judge } from "../../offchain/verifier/verifier";
import { rejectionOf } from "../support/assertions";
import { freePort } from "../support/processes";

const LADDER: Rendition[] = [{ ...PRESETS["360p30"] }, { ...PRESETS["240p30"] }];
const BROADCASTER = Wallet.createRandom().address.toLowerCase();
const ORCHESTRATOR = Wallet.createRandom().address.toLowerCase();

describe("verifier judge: evidence against an own encode", function () {
  this.timeout(120_000);

  let tools: MediaTools;
  let judge: Judge;
  let source: Buffer;
  let honest: TranscodeResult;
  let dir: string;
  let store: EvidenceStore;
  let app: FastifyInstance;
  let base: string;
  let nextId = 1;

  before(async () => {
    tools = await mediaTools();
    judge = evidenceJudge(tools);
    source = await generateTestSegment(tools, { width: 640, height: 360, durationSec: 2, startSec: 4 });
    honest = await transcodeSegment(tools, source, LADDER);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "streamflow-judge-"));
    store = new EvidenceStore(dir);
    app = Fastify();
    registerEvidenceRoutes(app, store);
    await app.listen({ host: "127.0.0.1", port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/evidence`;
  });

  after(async () => {
    await app?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The receipt an orchestrator signs for `outputs` of `segmentSource` with `ladder`. */
  function receiptFor(outputs: readonly Buffer[], ladder = LADDER, segmentSource = source): TranscodeReceipt {
    return {
      broadcaster: BROADCASTER,
      orchestrator: ORCHESTRATOR,
      streamId: id("judge-stream"),
      seq: BigInt(nextId),
      sourceHash: keccak256(segmentSource),
      profilesHash: profilesHash(ladder),
      outputsHash: outputsHash(outputs.map((o) => keccak256(o))),
      deterministic: ladder.some((r) => r.deterministic),
    };
  }

  /** Stores the evidence of `outputs` and returns the dispute a verifier would read from DisputeOpened. */
  function disputeOver(
    outputs: readonly Buffer[],
    options: { ladder?: Rendition[]; segmentSource?: Buffer; uriBase?: string } = {},
  ): DisputeRow {
    const ladder = options.ladder ?? LADDER;
    const segmentSource = options.segmentSource ?? source;
    const receipt = receiptFor(outputs, ladder, segmentSource);
    const manifestHash = store.putEvidence({
      chainId: 31337n,
      disputeManager: "0x" + "d1".repeat(20),
      receipt,
      signature: "0x" + "ab".repeat(65),
      ladder,
      source: segmentSource,
      durationMs: 2000,
      outputs,
    });
    const disputeId = nextId++;
    return {
      id: disputeId,
      broadcaster: BROADCASTER,
      orchestrator: ORCHESTRATOR,
      receipt: receiptToJson(receipt),
      evidenceUri: `${options.uriBase ?? base}/${manifestHash}`,
      openedBlock: 100 + disputeId,
    };
  }

  const outputsOf = (result: TranscodeResult) => result.renditions.map((r) => r.data);

  it("votes NoFault on an honest transcode", async () => {
    const judgement = await judge(disputeOver(outputsOf(honest)));
    expect(judgement.vote, judgement.reasons.join("; ")).to.equal("NoFault");
    expect(judgement.reasons).to.have.length(1);
    expect(judgement.reasons[0]).to.match(/^every rendition matches the own encode \(lowest SSIM (0\.9\d+|1\.0+)\)$/);
  });

  it("votes NoFault on another honest run of the same job (other bytes, same pictures)", async () => {
    const again = await transcodeSegment(tools, source, LADDER, { settings: { preset: "ultrafast" } });
    expect(keccak256(again.renditions[0].data)).to.not.equal(keccak256(honest.renditions[0].data));
    const judgement = await judge(disputeOver(outputsOf(again)));
    expect(judgement.vote, judgement.reasons.join("; ")).to.equal("NoFault");
  });

  it("votes NoFault on a deterministic rendition with exactly the own encode's bytes", async () => {
    const ladder: Rendition[] = [{ ...PRESETS["240p30"], deterministic: true }];
    const exact = await transcodeSegment(tools, source, ladder);
    const judgement = await judge(disputeOver(outputsOf(exact), { ladder }));
    expect(judgement.vote, judgement.reasons.join("; ")).to.equal("NoFault");
    expect(judgement.reasons[0]).to.match(/lowest SSIM 1\.0000/);
  });

  it("votes Fault on negated pictures (right size, frames and duration), with SSIM/PSNR reasons", async () => {
    const negated = await transcodeSegment(tools, source, LADDER, { settings: { tamper: "negate" } });
    const judgement = await judge(disputeOver(outputsOf(negated)));
    expect(judgement.vote).to.equal("Fault");
    for (const name of ["360p30", "240p30"]) {
      expect(
        judgement.reasons.some((r) => r.startsWith(`rendition ${name} SSIM`) || r.startsWith(`rendition ${name} PSNR`)),
        `${name} in ${judgement.reasons.join("; ")}`,
      ).to.equal(true);
    }
    expect(
      judgement.reasons.every((r) => /SSIM|PSNR/.test(r)),
      judgement.reasons.join("; "),
    ).to.equal(true);
  });

  it("votes Fault on a rendition with half the frames (a 1 s encode for a 2 s source)", async () => {
    const short = await generateTestSegment(tools, { width: 640, height: 360, durationSec: 1, startSec: 4 });
    const halfLength = await transcodeSegment(tools, short, LADDER);
    expect(halfLength.renditions[0].frames).to.equal(30);
    const outputs = [halfLength.renditions[0].data, honest.renditions[1].data];
    const judgement = await judge(disputeOver(outputs));
    expect(judgement.vote).to.equal("Fault");
    expect(judgement.reasons.join("; ")).to.match(/rendition 360p30 has 30 frames, not 60/);
    expect(
      judgement.reasons.some((r) => r.startsWith("rendition 240p30")),
      judgement.reasons.join("; "),
    ).to.equal(false);
  });

  it("votes Fault on a truncated rendition", async () => {
    const full = honest.renditions[1].data;
    const cut = full.subarray(0, Math.floor(full.length / 2 / TS_PACKET_BYTES) * TS_PACKET_BYTES);
    const judgement = await judge(disputeOver([honest.renditions[0].data, Buffer.from(cut)]));
    expect(judgement.vote).to.equal("Fault");
    expect(judgement.reasons.length).to.be.above(0);
    expect(
      judgement.reasons.every((r) => r.startsWith("rendition 240p30")),
      judgement.reasons.join("; "),
    ).to.equal(true);
  });

  it("votes Fault on bytes that are not video", async () => {
    const garbage = Buffer.alloc(50_000, 0x47);
    const judgement = await judge(disputeOver([honest.renditions[0].data, garbage]));
    expect(judgement.vote).to.equal("Fault");
    expect(judgement.reasons.join("; ")).to.match(/rendition 240p30 does not decode/);
  });

  describe("evidence it cannot use: the judge throws", () => {
    it("throws when the evidence server is unreachable", async () => {
      const closed = `http://127.0.0.1:${await freePort()}/evidence`;
      const error = await rejectionOf(judge(disputeOver(outputsOf(honest), { uriBase: closed })));
      expect(error).to.be.instanceOf(EvidenceError);
      expect(error.message).to.match(/^cannot fetch http:\/\/127\.0\.0\.1:\d+\/evidence\/0x[0-9a-f]{64}: /);
    });

    it("throws when the evidence is not for the disputed receipt", async () => {
      const dispute = disputeOver(outputsOf(honest));
      const other = { ...dispute, receipt: { ...dispute.receipt, seq: String(BigInt(dispute.receipt.seq) + 1n) } };
      const error = await rejectionOf(judge(other));
      expect(error).to.be.instanceOf(EvidenceError);
      expect(error.message).to.equal("the manifest's receipt is not the disputed one");
    });

    it("throws when a blob is over its maxEvidenceBytes", async () => {
      const small = evidenceJudge(tools, { maxEvidenceBytes: 1000 });
      const error = await rejectionOf(small(disputeOver(outputsOf(honest))));
      expect(error).to.be.instanceOf(EvidenceError);
      expect(error.message).to.match(/over the 1000 limit$/);
    });

    it("throws when the source itself is not video (nothing to compare against)", async () => {
      const notVideo = Buffer.from("definitely not an MPEG-TS segment");
      const error = await rejectionOf(judge(disputeOver(outputsOf(honest), { segmentSource: notVideo })));
      expect(error).to.not.be.instanceOf(EvidenceError);
    });
  });
});
