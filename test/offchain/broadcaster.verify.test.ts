/**
 * The broadcaster's check of an orchestrator's answer (offchain/broadcaster/verify.ts) on real media: a 320x180 source
 * transcoded to 240p30 (fitted: 320x180) and a receipt signed as an orchestrator signs it (offchain/orchestrator/
 * server.ts). An honest answer passes; each kind of wrong answer is refused with its own VerificationError, the
 * consistent-but-undecodable one only when a decoder is given. Plus expectedFrames' frame-rate arithmetic.
 */
import { expect } from "chai";

import {
  VerificationError,
  type VerifyRequest,
  expectedFrames,
  verifySegment,
} from "../../offchain/broadcaster/verify";
import { type MediaTools, mediaTools } from "../../offchain/media/binaries";
import { PRESETS, type Rendition, fitLadder, ladderFromPresets, profilesHash } from "../../offchain/media/ladder";
import { TS_PACKET_BYTES, inspectTransportStream } from "../../offchain/media/mpegts";
import { generateTestSegment } from "../../offchain/media/testsrc";
import { type TranscodeResult, transcodeSegment } from "../../offchain/media/transcode";
import type { SegmentResponse } from "../../offchain/orchestrator/client";
import {
  type ReceiptDomain,
  type TranscodeReceipt,
  outputsHash,
  receiptToJson,
  signReceipt,
} from "../../offchain/orchestrator/receipt";
import { type OrchestratorInfo, type SegmentResult, streamIdHash } from "../../offchain/orchestrator/wire";
import { addressOfPrivateKey, keccak256 } from "../../offchain/pm/crypto";
import { rejectionOf } from "../support/assertions";
import { devKey } from "../support/orchestratorChain";

const ORCHESTRATOR_KEY = Buffer.from(devKey(1).slice(2), "hex");
const ORCHESTRATOR = addressOfPrivateKey(ORCHESTRATOR_KEY);
const OTHER_KEY = Buffer.from(devKey(5).slice(2), "hex");
const BROADCASTER = addressOfPrivateKey(Buffer.from(devKey(2).slice(2), "hex"));
const DOMAIN: ReceiptDomain = { chainId: 31337n, verifyingContract: "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512" };
const STREAM = "cam-1";
const SEQ = 7;

const hash = (data: Uint8Array) => "0x" + keccak256(data).toString("hex");

/** An OrchestratorInfo: verification only reads the address (the receipt's expected signer). */
function infoFor(address: string): OrchestratorInfo {
  return {
    version: 1,
    address,
    transcoderUrl: "http://127.0.0.1:8935",
    chainId: DOMAIN.chainId,
    ticketBroker: "0x5fbdb2315678afecb367f032d93f642f64180aa3",
    priceInfo: { pricePerUnit: 1n, pixelsPerUnit: 1n },
    ticketParams: {
      recipient: address,
      faceValue: 10n ** 18n,
      winProb: 1n,
      recipientRandHash: "0x" + "11".repeat(32),
      seed: "0x" + "22".repeat(32),
      expirationBlock: 100n,
      creationRound: 1n,
      creationRoundBlockHash: "0x" + "33".repeat(32),
    },
    ticketEV: 1n,
    capabilities: { renditions: { maxRenditions: 8, deterministic: true }, transcoders: 1, capacity: 2 },
    authToken: "token",
    authTokenExpiresAt: 2_000_000_000,
    limits: { maxSegmentBytes: 64 * 1024 * 1024, maxTicketsPerRequest: 100 },
  };
}

/** Flips bytes in the middle packets of the largest video PES (the keyframe), keeping every TS header intact. */
function corruptVideoPayload(ts: Buffer): Buffer {
  const out = Buffer.from(ts);
  const pid = inspectTransportStream(out).pid;
  const pesPackets: number[][] = [];
  for (let offset = 0; offset + TS_PACKET_BYTES <= out.length; offset += TS_PACKET_BYTES) {
    if ((((out[offset + 1] & 0x1f) << 8) | out[offset + 2]) !== pid) continue;
    if ((out[offset + 1] & 0x40) !== 0) pesPackets.push([]);
    pesPackets.at(-1)?.push(offset);
  }
  const largest = pesPackets.reduce((a, b) => (b.length > a.length ? b : a));
  expect(largest.length, "the keyframe's PES spans too few packets to corrupt its middle").to.be.above(6);
  const third = Math.floor(largest.length / 3);
  for (const offset of largest.slice(third, 2 * third)) {
    const control = (out[offset + 3] >> 4) & 0x3;
    const start = control === 0x3 ? offset + 5 + out[offset + 4] : offset + 4;
    for (let i = start; i < offset + TS_PACKET_BYTES; i += 3) out[i] ^= 0xa5;
  }
  return out;
}

describe("broadcaster: verifySegment", function () {
  this.timeout(120_000);

  const ladder: Rendition[] = ladderFromPresets("240p30");
  let tools: MediaTools;
  let source: Buffer;
  let honest: TranscodeResult;
  /** The same ladder's rendition of a 1 s source: 30 frames instead of 60. */
  let shorter: TranscodeResult;
  /** A rendition of the right source, 160x90 instead of the fitted 320x180. */
  let smaller: TranscodeResult;

  before(async () => {
    tools = await mediaTools();
    source = await generateTestSegment(tools, { width: 320, height: 180, fps: 30, durationSec: 2, startSec: 14 });
    const shortSource = await generateTestSegment(tools, { width: 320, height: 180, fps: 30, durationSec: 1 });
    honest = await transcodeSegment(tools, source, ladder);
    shorter = await transcodeSegment(tools, shortSource, ladder);
    smaller = await transcodeSegment(tools, source, [{ ...PRESETS["240p30"], width: 160, height: 90 }]);
  });

  function request(overrides: Partial<VerifyRequest> = {}): VerifyRequest {
    return {
      broadcaster: BROADCASTER,
      streamId: STREAM,
      seq: SEQ,
      source,
      durationMs: honest.source.durationMs,
      sourceFrames: honest.source.video.frames,
      sourceFps: honest.source.video.fps,
      ladder,
      fitted: honest.fitted,
      ...overrides,
    };
  }

  /**
   * The answer an orchestrator holding `key` would send for `renditions`: their metadata with honest hashes, and a
   * receipt for this request (unless `receipt` says otherwise) over those hashes, signed.
   */
  function respond(
    renditions: Buffer[],
    options: { key?: Uint8Array; receipt?: Partial<TranscodeReceipt> } = {},
  ): SegmentResponse {
    const key = options.key ?? ORCHESTRATOR_KEY;
    const metas = renditions.map((data, i) => ({
      name: ladder[i]?.name ?? `extra${i}`,
      bytes: data.length,
      hash: hash(data),
      width: 320,
      height: 180,
      frames: 60,
      pixels: 320 * 180 * 60,
      durationMs: 2000,
      codec: "avc1.64000d",
    }));
    const receipt: TranscodeReceipt = {
      broadcaster: BROADCASTER,
      orchestrator: addressOfPrivateKey(key),
      streamId: streamIdHash(STREAM),
      seq: BigInt(SEQ),
      sourceHash: hash(source),
      profilesHash: profilesHash(ladder),
      outputsHash: outputsHash(metas.map((m) => m.hash)),
      deterministic: false,
      ...options.receipt,
    };
    const result: SegmentResult = {
      receipt: receiptToJson(receipt),
      signature: signReceipt(receipt, DOMAIN, key),
      renditions: metas,
      fee: "1000",
      balance: "0",
      tickets: { accepted: 1, won: 0 },
      timings: { transcodeMs: 100, totalMs: 120 },
    };
    return { result, renditions };
  }

  const info = infoFor(ORCHESTRATOR);

  async function refusal(response: SegmentResponse, decoder?: MediaTools, req = request()): Promise<string> {
    const error = await rejectionOf(verifySegment(req, response, info, DOMAIN, decoder));
    expect(error, String(error)).to.be.instanceOf(VerificationError);
    expect(error.name).to.equal("VerificationError");
    return error.message;
  }

  it("accepts an honest answer, with and without the decoder", async () => {
    expect(honest.fitted.map((f) => [f.width, f.height, f.fps])).to.deep.equal([[320, 180, 30]]);
    expect(honest.source.video.frames).to.equal(60);
    const response = respond([honest.renditions[0].data]);
    await verifySegment(request(), response, info, DOMAIN);
    await verifySegment(request(), response, info, DOMAIN, tools);
    // Stream ids and addresses compare case-insensitively.
    await verifySegment(
      request({ broadcaster: BROADCASTER.toUpperCase().replace("0X", "0x") }),
      response,
      info,
      DOMAIN,
    );
  });

  it("refuses a rendition whose bytes are not the ones the receipt names (a flipped byte)", async () => {
    const response = respond([honest.renditions[0].data]);
    const flipped = Buffer.from(response.renditions[0]);
    flipped[flipped.length >> 1] ^= 0x01;
    response.renditions[0] = flipped;
    expect(await refusal(response)).to.equal("rendition 240p30: hash mismatch");
  });

  it("refuses a receipt signed by another key", async () => {
    const response = respond([honest.renditions[0].data], { key: OTHER_KEY });
    expect(await refusal(response)).to.equal(
      `receipt signed by ${addressOfPrivateKey(OTHER_KEY)}, not ${ORCHESTRATOR}`,
    );
    // Signed by the orchestrator but over another domain (another chain): recovers to somebody else.
    const otherChain = respond([honest.renditions[0].data]);
    const error = await rejectionOf(verifySegment(request(), otherChain, info, { ...DOMAIN, chainId: 1n }, undefined));
    expect(error).to.be.instanceOf(VerificationError);
    expect(error.message).to.match(/^receipt signed by 0x[0-9a-f]{40}, not /);
  });

  it("refuses a receipt for another broadcaster, stream, seq, source or ladder", async () => {
    const data = [honest.renditions[0].data];
    const otherSource = hash(Buffer.from("another source"));
    const otherLadder = profilesHash(ladderFromPresets("360p30"));
    const cases: Array<[Partial<TranscodeReceipt>, string]> = [
      [
        { broadcaster: addressOfPrivateKey(OTHER_KEY) },
        `receipt broadcaster is ${addressOfPrivateKey(OTHER_KEY)}, not ${BROADCASTER}`,
      ],
      [
        { streamId: streamIdHash("cam-2") },
        `receipt streamId is ${streamIdHash("cam-2")}, not ${streamIdHash(STREAM)}`,
      ],
      [{ seq: BigInt(SEQ + 1) }, `receipt seq is ${SEQ + 1}, not ${SEQ}`],
      [{ sourceHash: otherSource }, `receipt sourceHash is ${otherSource}, not ${hash(source)}`],
      [{ profilesHash: otherLadder }, `receipt profilesHash is ${otherLadder}, not ${profilesHash(ladder)}`],
    ];
    for (const [receipt, message] of cases) {
      expect(await refusal(respond(data, { receipt }))).to.equal(message);
    }
  });

  it("refuses a receipt whose outputsHash does not name the renditions received", async () => {
    // Metadata hashes match the bytes, and the receipt is signed by the orchestrator, but over other outputs: the
    // receipt would not bind the orchestrator to what it delivered (a dispute could not use it).
    const response = respond([honest.renditions[0].data], {
      receipt: { outputsHash: hash(shorter.renditions[0].data) },
    });
    const message = await refusal(response);
    expect(message).to.match(/outputsHash/);
  });

  it("refuses a receipt that names another orchestrator than its signer", async () => {
    const response = respond([honest.renditions[0].data], {
      receipt: { orchestrator: addressOfPrivateKey(OTHER_KEY) },
    });
    const message = await refusal(response);
    expect(message).to.match(/orchestrator/);
  });

  it("refuses a receipt that calls a deterministic ladder's work non-deterministic", async () => {
    // deterministic = false would keep two conflicting receipts for the same segment from proving a fault.
    const deterministic = ladder.map((r) => ({ ...r, deterministic: true }));
    const response = respond([honest.renditions[0].data], {
      receipt: { profilesHash: profilesHash(deterministic), deterministic: false },
    });
    const req = request({ ladder: deterministic, fitted: fitLadder(deterministic, honest.source.video) });
    // The same answer with the flag right passes.
    await verifySegment(
      req,
      respond([honest.renditions[0].data], {
        receipt: { profilesHash: profilesHash(deterministic), deterministic: true },
      }),
      info,
      DOMAIN,
    );
    const message = await refusal(response, undefined, req);
    expect(message).to.match(/deterministic/);
  });

  it("refuses a rendition of the wrong size, even honestly signed", async () => {
    const response = respond([smaller.renditions[0].data]);
    expect(await refusal(response)).to.equal("rendition 240p30 is 160x90, not 320x180");
  });

  it("refuses a rendition with the wrong frame count (a shorter segment's), even honestly signed", async () => {
    expect(shorter.renditions[0].frames).to.equal(30);
    const response = respond([shorter.renditions[0].data]);
    expect(await refusal(response)).to.equal("rendition 240p30 has 30 frames, not 60");
  });

  it("refuses a rendition whose duration is not the segment's", async () => {
    const response = respond([honest.renditions[0].data]);
    const message = await refusal(response, undefined, request({ durationMs: 3000 }));
    expect(message).to.match(/^rendition 240p30 lasts \d+ ms, not 3000 ms \(±100\)$/);
  });

  it("refuses a rendition that is not an MPEG-TS, and a wrong number of renditions", async () => {
    const text = respond([Buffer.from("this is not a transport stream, just text")]);
    expect(await refusal(text)).to.match(/^rendition 240p30 is not a readable H\.264 transport stream: /);
    const noise = respond([Buffer.alloc(188 * 20, 0x47)]);
    expect(await refusal(noise)).to.match(/^rendition 240p30 is not a readable H\.264 transport stream: /);
    const two = respond([honest.renditions[0].data, honest.renditions[0].data]);
    expect(await refusal(two)).to.equal("2 renditions for a ladder of 1");
    const none = respond([]);
    expect(await refusal(none)).to.equal("0 renditions for a ladder of 1");
  });

  it("refuses, with the decoder, a consistent answer whose H.264 payload does not decode", async () => {
    const corrupted = corruptVideoPayload(honest.renditions[0].data);
    // Still a well-formed transport stream with the same frames and SPS: only decoding can tell.
    const inspected = inspectTransportStream(corrupted);
    expect(inspected.frames).to.equal(60);
    expect(inspected.sps).to.deep.equal(inspectTransportStream(honest.renditions[0].data).sps);
    const response = respond([corrupted]);
    await verifySegment(request(), response, info, DOMAIN); // the cheap checks cannot see it
    const message = await refusal(response, tools);
    expect(message).to.match(/^rendition 240p30 does not decode: .*h264/);
  });
});

describe("broadcaster: expectedFrames", () => {
  it("keeps the source's frames when the rendition's rate is not lower", () => {
    expect(expectedFrames(60, 30, 30)).to.equal(60);
    expect(expectedFrames(60, 30, 60)).to.equal(60);
    expect(expectedFrames(48, 24, 30)).to.equal(48);
  });

  it("treats rates within 0.01 fps as the same (29.97 vs 30)", () => {
    expect(expectedFrames(60, 30.005, 30)).to.equal(60);
    expect(expectedFrames(60, 29.97, 30)).to.equal(60);
  });

  it("scales the frames by the rate ratio when the rendition drops frames, rounded", () => {
    expect(expectedFrames(120, 60, 30)).to.equal(60);
    expect(expectedFrames(100, 50, 30)).to.equal(60);
    expect(expectedFrames(50, 25, 24)).to.equal(48);
    expect(expectedFrames(119, 59.94, 30)).to.equal(60);
    expect(expectedFrames(0, 60, 30)).to.equal(0);
  });
});
