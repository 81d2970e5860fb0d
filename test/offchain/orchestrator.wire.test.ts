/**
 * The broadcaster ↔ orchestrator wire format (offchain/orchestrator/wire.ts): header names, Payment and
 * SegmentMetadata encoding with their 400 codes, OrchestratorInfo JSON with bigints, the signed /info request
 * (checked against ethers' EIP-191 implementation), the multipart response (binary-safe, truncation detected) and the
 * receipt's streamId hash.
 */
import { expect } from "chai";
import { Wallet, hashMessage, id, keccak256 as ethersKeccak256 } from "ethers";

import { PRESETS, type Rendition } from "../../offchain/media/ladder";
import { TicketHasher, TicketSender, type TicketParams, recoverSigner } from "../../offchain/pm";
import {
  HEADERS,
  MAX_TICKETS_PER_REQUEST,
  type OrchestratorInfo,
  type SegmentMetadata,
  WireError,
  decodeMultipart,
  decodePayment,
  decodeSegmentMetadata,
  encodeMultipart,
  encodePayment,
  encodeSegmentMetadata,
  infoFromJson,
  infoRequestMessage,
  infoToJson,
  paymentTickets,
  personalMessageDigest,
  personalMessageSigner,
  streamIdHash,
} from "../../offchain/orchestrator/wire";
import { thrownBy } from "../support/assertions";

const MAX_UINT256 = (1n << 256n) - 1n;
const DOMAIN = { chainId: 31337n, verifyingContract: "0x5fbdb2315678afecb367f032d93f642f64180aa3" };
// Hardhat's well-known development keys: never hold value.
const BROADCASTER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const ORCHESTRATOR = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";

const PARAMS: TicketParams = {
  recipient: ORCHESTRATOR,
  faceValue: 10n ** 17n,
  winProb: MAX_UINT256 / 1000n,
  recipientRandHash: "0x" + "ab".repeat(32),
  seed: "0x" + "5e".repeat(32),
  expirationBlock: 123_456n,
  creationRound: 42n,
  creationRoundBlockHash: "0x" + "cd".repeat(32),
};

const LADDER: Rendition[] = [{ ...PRESETS["720p30"] }, { ...PRESETS["360p30"], deterministic: true }];

const META: SegmentMetadata = {
  orchestrator: ORCHESTRATOR,
  streamId: "stream-1",
  seq: 12,
  sourceHash: "0x" + "0f".repeat(32),
  durationMs: 2000,
  renditions: LADDER,
};

/** The WireError `run` throws. */
function wireErrorOf(run: () => unknown): WireError {
  return thrownBy(WireError, run);
}

/** SegmentMetadata JSON with some fields replaced (or removed, with undefined). */
function metaText(overrides: Record<string, unknown>): string {
  return JSON.stringify({ ...JSON.parse(encodeSegmentMetadata(META)), ...overrides });
}

function paymentText(overrides: Record<string, unknown>): string {
  const sender = new TicketSender({ privateKey: BROADCASTER_KEY, domain: DOMAIN });
  return JSON.stringify({
    ...JSON.parse(encodePayment(sender.address, PARAMS, sender.createTickets(PARAMS, 1))),
    ...overrides,
  });
}

describe("orchestrator wire: headers", () => {
  it("names every header in lower case, as Node presents them, and no two alike", () => {
    const names = Object.values(HEADERS);
    for (const name of names) expect(name).to.equal(name.toLowerCase());
    expect(new Set(names).size).to.equal(names.length);
    expect(HEADERS).to.include({
      broadcaster: "streamflow-broadcaster",
      timestamp: "streamflow-timestamp",
      signature: "streamflow-signature",
      auth: "streamflow-auth",
      segment: "streamflow-segment",
      segmentSig: "streamflow-segment-sig",
      payment: "streamflow-payment",
    });
  });
});

describe("orchestrator wire: Payment", () => {
  const sender = new TicketSender({ privateKey: BROADCASTER_KEY, domain: DOMAIN });
  const hasher = new TicketHasher(DOMAIN);

  it("round-trips tickets exactly: paymentTickets gives back the signed tickets, still signed by the sender", () => {
    const params = { ...PARAMS, faceValue: MAX_UINT256, winProb: MAX_UINT256 - 1n, expirationBlock: 2n ** 64n + 1n };
    const tickets = sender.createTickets(params, 3);
    const payment = decodePayment(encodePayment(sender.address, params, tickets));
    expect(payment?.sender).to.equal(sender.address);
    expect(payment?.params).to.deep.equal(params);
    expect(payment?.tickets.map((t) => t.senderNonce)).to.deep.equal([0n, 1n, 2n]);
    const decoded = paymentTickets(payment!);
    expect(decoded).to.deep.equal(tickets);
    for (const t of decoded) {
      expect(recoverSigner(hasher.hash(t.ticket), Buffer.from(t.sig.slice(2), "hex"))).to.equal(sender.address);
    }
  });

  it("carries the shared parameters once and a nonce and signature per ticket, amounts as decimal strings", () => {
    const tickets = sender.createTickets(PARAMS, 2);
    const json = JSON.parse(encodePayment(sender.address.toUpperCase().replace("0X", "0x"), PARAMS, tickets));
    expect(json.sender).to.equal(sender.address);
    expect(json.faceValue).to.equal(PARAMS.faceValue.toString());
    expect(json.winProb).to.equal(PARAMS.winProb.toString());
    expect(json.expirationBlock).to.equal("123456");
    expect(json.tickets).to.have.length(2);
    expect(Object.keys(json.tickets[0]).sort()).to.deep.equal(["senderNonce", "sig"]);
    expect(json.tickets[1]).to.deep.equal({
      senderNonce: tickets[1].ticket.senderNonce.toString(),
      sig: tickets[1].sig,
    });
  });

  it("lower-cases the addresses and hashes it decodes", () => {
    const text = paymentText({
      sender: "0x" + "AB".repeat(20),
      recipient: "0x" + "CD".repeat(20),
      seed: "0x" + "EF".repeat(32),
    });
    const payment = decodePayment(text)!;
    expect(payment.sender).to.equal("0x" + "ab".repeat(20));
    expect(payment.params.recipient).to.equal("0x" + "cd".repeat(20));
    expect(payment.params.seed).to.equal("0x" + "ef".repeat(32));
    expect(paymentTickets(payment)[0].ticket.sender).to.equal("0x" + "ab".repeat(20));
  });

  it("is undefined when the header is absent or empty", () => {
    expect(decodePayment(undefined)).to.equal(undefined);
    expect(decodePayment("")).to.equal(undefined);
  });

  it(`accepts ${MAX_TICKETS_PER_REQUEST} tickets and refuses one more with 400 TOO_MANY_TICKETS`, () => {
    const tickets = sender.createTickets(PARAMS, MAX_TICKETS_PER_REQUEST + 1);
    expect(decodePayment(encodePayment(sender.address, PARAMS, tickets.slice(1)))?.tickets).to.have.length(
      MAX_TICKETS_PER_REQUEST,
    );
    const error = wireErrorOf(() => decodePayment(encodePayment(sender.address, PARAMS, tickets)));
    expect(error).to.include({ status: 400, code: "TOO_MANY_TICKETS" });
  });

  it("refuses malformed payments with 400 BAD_REQUEST", () => {
    const sig = "0x" + "11".repeat(65);
    const cases: Array<[string, string]> = [
      ["not json", "{"],
      ["an array", "[]"],
      ["tickets not an array", paymentText({ tickets: { senderNonce: "0", sig } })],
      ["a sender of 19 bytes", paymentText({ sender: "0x" + "ab".repeat(19) })],
      ["a sender without 0x", paymentText({ sender: "ab".repeat(21) })],
      ["a faceValue as a number", paymentText({ faceValue: 5 })],
      ["a negative faceValue", paymentText({ faceValue: "-5" })],
      ["a faceValue with a leading zero", paymentText({ faceValue: "05" })],
      ["a faceValue in hex", paymentText({ faceValue: "0x5" })],
      ["a winProb in exponent form", paymentText({ winProb: "1e18" })],
      ["a 79-digit creationRound", paymentText({ creationRound: "1".repeat(79) })],
      ["a missing recipientRandHash", paymentText({ recipientRandHash: undefined })],
      ["a non-hex creationRoundBlockHash", paymentText({ creationRoundBlockHash: "0x" + "zz".repeat(32) })],
      ["a ticket that is not an object", paymentText({ tickets: ["0"] })],
      ["a ticket nonce as a number", paymentText({ tickets: [{ senderNonce: 1, sig }] })],
      ["a ticket signature of 64 bytes", paymentText({ tickets: [{ senderNonce: "1", sig: "0x" + "11".repeat(64) }] })],
    ];
    for (const [what, text] of cases) {
      const error = wireErrorOf(() => decodePayment(text));
      expect(error, what).to.include({ status: 400, code: "BAD_REQUEST" });
    }
  });

  it("accepts the largest uint256 written out in decimal", () => {
    const payment = decodePayment(paymentText({ faceValue: MAX_UINT256.toString() }))!;
    expect(payment.params.faceValue).to.equal(MAX_UINT256);
  });
});

describe("orchestrator wire: SegmentMetadata", () => {
  it("round-trips the metadata, lower-casing the orchestrator and source hash", () => {
    const upper = {
      ...META,
      orchestrator: "0x" + ORCHESTRATOR.slice(2).toUpperCase(),
      sourceHash: "0x" + "0F".repeat(32),
    };
    expect(decodeSegmentMetadata(encodeSegmentMetadata(upper))).to.deep.equal(META);
  });

  it("encodes the same characters whatever the order of the fields (the broadcaster signs those characters)", () => {
    const reordered: SegmentMetadata = {
      renditions: META.renditions,
      durationMs: META.durationMs,
      sourceHash: META.sourceHash,
      seq: META.seq,
      streamId: META.streamId,
      orchestrator: META.orchestrator,
    };
    const text = encodeSegmentMetadata(META);
    expect(encodeSegmentMetadata(reordered)).to.equal(text);
    expect(Object.keys(JSON.parse(text))).to.deep.equal([
      "orchestrator",
      "streamId",
      "seq",
      "sourceHash",
      "durationMs",
      "renditions",
    ]);
  });

  it("takes preset names as renditions", () => {
    const meta = decodeSegmentMetadata(metaText({ renditions: ["720p", "240p30"] }));
    expect(meta.renditions).to.deep.equal([PRESETS["720p30"], PRESETS["240p30"]]);
  });

  it("refuses a missing or empty header with 400 SEGMENT_METADATA_MISSING", () => {
    for (const text of [undefined, ""]) {
      expect(wireErrorOf(() => decodeSegmentMetadata(text))).to.include({
        status: 400,
        code: "SEGMENT_METADATA_MISSING",
      });
    }
  });

  it("accepts the edges of each field: seq 0, a 128-character streamId, 60000 ms", () => {
    const meta = decodeSegmentMetadata(metaText({ seq: 0, streamId: "~".repeat(128), durationMs: 60_000 }));
    expect(meta).to.include({ seq: 0, streamId: "~".repeat(128), durationMs: 60_000 });
    expect(decodeSegmentMetadata(metaText({ seq: Number.MAX_SAFE_INTEGER })).seq).to.equal(Number.MAX_SAFE_INTEGER);
  });

  it("refuses each malformed field with 400 BAD_REQUEST", () => {
    const cases: Array<[string, string]> = [
      ["not json", "{not json"],
      ["an array", "[]"],
      ["null", "null"],
      ["a missing streamId", metaText({ streamId: undefined })],
      ["an empty streamId", metaText({ streamId: "" })],
      ["a streamId with a space", metaText({ streamId: "my stream" })],
      ["a streamId with a control character", metaText({ streamId: "a\tb" })],
      ["a non-ASCII streamId", metaText({ streamId: "café" })],
      ["a 129-character streamId", metaText({ streamId: "s".repeat(129) })],
      ["a numeric streamId", metaText({ streamId: 5 })],
      ["a negative seq", metaText({ seq: -1 })],
      ["a fractional seq", metaText({ seq: 1.5 })],
      ["a seq as a string", metaText({ seq: "1" })],
      ["a seq beyond 2^53", metaText({ seq: 2 ** 53 })],
      ["a zero duration", metaText({ durationMs: 0 })],
      ["a negative duration", metaText({ durationMs: -2000 })],
      ["a duration over 60 s", metaText({ durationMs: 60_001 })],
      ["a duration as a string", metaText({ durationMs: "2000" })],
      ["renditions not an array", metaText({ renditions: "720p" })],
      ["a missing orchestrator", metaText({ orchestrator: undefined })],
      ["an orchestrator of 21 bytes", metaText({ orchestrator: "0x" + "ab".repeat(21) })],
      ["a sourceHash of 31 bytes", metaText({ sourceHash: "0x" + "ab".repeat(31) })],
      ["a sourceHash that is not hex", metaText({ sourceHash: "0x" + "gg".repeat(32) })],
    ];
    for (const [what, text] of cases) {
      const error = wireErrorOf(() => decodeSegmentMetadata(text));
      expect(error, what).to.include({ status: 400, code: "BAD_REQUEST" });
    }
  });

  it("refuses a ladder that cannot be encoded with 400 LADDER_INVALID", () => {
    const cases: Array<[string, unknown]> = [
      ["no renditions", []],
      ["an unknown preset", ["999p"]],
      ["nine renditions", Array.from({ length: 9 }, (_, i) => ({ ...PRESETS["240p30"], name: `r${i}` }))],
      ["a name twice", ["360p", "360p30"]],
      ["an odd width", [{ ...PRESETS["360p30"], width: 641 }]],
      ["an unknown field", [{ ...PRESETS["360p30"], crf: 23 }]],
      ["a rendition that is null", [null]],
      ["an fps of 0", [{ ...PRESETS["360p30"], fps: 0 }]],
    ];
    for (const [what, renditions] of cases) {
      const error = wireErrorOf(() => decodeSegmentMetadata(metaText({ renditions })));
      expect(error, what).to.include({ status: 400, code: "LADDER_INVALID" });
    }
  });
});

describe("orchestrator wire: OrchestratorInfo JSON", () => {
  const INFO: OrchestratorInfo = {
    version: 1,
    address: ORCHESTRATOR,
    transcoderUrl: "https://orchestrator.example:8935",
    chainId: 2n ** 60n + 7n,
    ticketBroker: DOMAIN.verifyingContract,
    priceInfo: { pricePerUnit: 10n ** 30n + 1n, pixelsPerUnit: 2n ** 70n },
    ticketParams: { ...PARAMS, faceValue: MAX_UINT256, winProb: MAX_UINT256 - 3n },
    ticketEV: 2n ** 200n + 5n,
    capabilities: { renditions: { maxRenditions: 8, deterministic: true }, transcoders: 3, capacity: 12 },
    authToken: "token",
    authTokenExpiresAt: 1_700_003_600,
    limits: { maxSegmentBytes: 50_000_000, maxTicketsPerRequest: MAX_TICKETS_PER_REQUEST },
  };

  it("round-trips through JSON text with every bigint exact", () => {
    const text = JSON.stringify(infoToJson(INFO));
    expect(infoFromJson(JSON.parse(text))).to.deep.equal(INFO);
  });

  it("writes bigints as decimal strings", () => {
    const json = JSON.parse(JSON.stringify(infoToJson(INFO)));
    expect(json.chainId).to.equal((2n ** 60n + 7n).toString());
    expect(json.priceInfo).to.deep.equal({
      pricePerUnit: (10n ** 30n + 1n).toString(),
      pixelsPerUnit: "1180591620717411303424",
    });
    expect(json.ticketParams.faceValue).to.equal(MAX_UINT256.toString());
    expect(json.ticketEV).to.equal((2n ** 200n + 5n).toString());
  });

  it("lower-cases the addresses it reads", () => {
    const json = JSON.parse(JSON.stringify(infoToJson(INFO)));
    json.address = "0x" + ORCHESTRATOR.slice(2).toUpperCase();
    json.ticketBroker = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
    json.ticketParams.recipient = "0x" + ORCHESTRATOR.slice(2).toUpperCase();
    const info = infoFromJson(json);
    expect(info.address).to.equal(ORCHESTRATOR);
    expect(info.ticketBroker).to.equal(DOMAIN.verifyingContract);
    expect(info.ticketParams.recipient).to.equal(ORCHESTRATOR);
  });

  it("refuses a malformed info with 400 BAD_REQUEST", () => {
    const good = () => JSON.parse(JSON.stringify(infoToJson(INFO)));
    const cases: Array<[string, unknown]> = [
      ["not an object", "info"],
      ["an array", []],
      ["a numeric chainId", { ...good(), chainId: 31337 }],
      ["no priceInfo", { ...good(), priceInfo: undefined }],
      ["a negative price", { ...good(), priceInfo: { pricePerUnit: "-1", pixelsPerUnit: "1" } }],
      ["a short address", { ...good(), address: "0x1234" }],
      ["a numeric ticketEV", { ...good(), ticketEV: 5 }],
      ["ticket params missing a seed", { ...good(), ticketParams: { ...good().ticketParams, seed: undefined } }],
    ];
    for (const [what, value] of cases) {
      expect(
        wireErrorOf(() => infoFromJson(value)),
        what,
      ).to.include({ status: 400, code: "BAD_REQUEST" });
    }
  });
});

describe("orchestrator wire: the signed /info request", () => {
  const wallet = new Wallet(BROADCASTER_KEY);

  it("names the broadcaster in lower case and the timestamp in the message", () => {
    const message = infoRequestMessage(wallet.address, 1_700_000_000);
    expect(message).to.equal(infoRequestMessage(wallet.address.toLowerCase(), 1_700_000_000));
    expect(message).to.contain(`broadcaster: ${wallet.address.toLowerCase()}`);
    expect(message).to.contain("timestamp: 1700000000");
    expect(message).to.not.equal(infoRequestMessage(wallet.address, 1_700_000_001));
  });

  it("digests a message exactly as ethers' hashMessage does, multi-byte UTF-8 included", () => {
    for (const text of [infoRequestMessage(wallet.address, 1_700_000_000), "", "héllo ✓ 🎥", "a".repeat(1000)]) {
      expect("0x" + personalMessageDigest(text).toString("hex"), JSON.stringify(text)).to.equal(hashMessage(text));
    }
  });

  it("recovers the address of the wallet that signed the message with ethers, in lower case", async () => {
    const message = infoRequestMessage(wallet.address, 1_700_000_000);
    const signature = await wallet.signMessage(message);
    expect(personalMessageSigner(message, signature)).to.equal(wallet.address.toLowerCase());
    // Non-ASCII text: the length prefix counts bytes.
    const unicode = "stream ✓ — 🎥";
    expect(personalMessageSigner(unicode, await wallet.signMessage(unicode))).to.equal(wallet.address.toLowerCase());
  });

  it("recovers someone else for a signature over another message", async () => {
    const signature = await wallet.signMessage(infoRequestMessage(wallet.address, 1_700_000_000));
    const signer = personalMessageSigner(infoRequestMessage(wallet.address, 1_700_000_001), signature);
    expect(signer).to.not.equal(wallet.address.toLowerCase());
  });

  it("gives undefined for a malformed signature", async () => {
    const message = infoRequestMessage(wallet.address, 1_700_000_000);
    const signature = await wallet.signMessage(message);
    const bytes = Buffer.from(signature.slice(2), "hex");
    const vIs = (v: number) => "0x" + Buffer.concat([bytes.subarray(0, 64), Buffer.from([v])]).toString("hex");
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const s = BigInt("0x" + bytes.subarray(32, 64).toString("hex"));
    const malleated =
      "0x" +
      bytes.subarray(0, 32).toString("hex") +
      (n - s).toString(16).padStart(64, "0") +
      (bytes[64] === 27 ? "1c" : "1b");
    const cases: Array<[string, string]> = [
      ["empty", ""],
      ["no 0x", signature.slice(2)],
      ["64 bytes", signature.slice(0, -2)],
      ["66 bytes", signature + "00"],
      ["not hex", "0x" + "zz".repeat(65)],
      ["v = 0", vIs(0)],
      ["v = 29", vIs(29)],
      ["all zeros", "0x" + "00".repeat(65)],
      ["high s (a malleated copy)", malleated],
    ];
    for (const [what, sig] of cases) expect(personalMessageSigner(message, sig), what).to.equal(undefined);
  });
});

describe("orchestrator wire: multipart response", () => {
  const BOUNDARY = "sf-boundary-3f9a";
  const CONTENT_TYPE = `multipart/mixed; boundary=${BOUNDARY}`;
  const JSON_PART = { receipt: { seq: "12" }, fee: "13824000", note: "ünïcödé ✓" };
  /** Binary data with the boundary, the closing delimiter and CRLFs inside it. */
  const RENDITIONS = [
    {
      name: "720p30",
      data: Buffer.concat([
        Buffer.from([0x47, 0x00, 0xff, 0x0d, 0x0a]),
        Buffer.from(`\r\n--${BOUNDARY}\r\nContent-Length: 3\r\n\r\nabc\r\n--${BOUNDARY}--\r\n`),
        Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00]),
      ]),
    },
    { name: "360p30", data: Buffer.alloc(0) },
    { name: "240p30", data: Buffer.from(`--${BOUNDARY}`) },
  ];

  it("round-trips the JSON part and binary parts that contain the boundary and CRLFs", () => {
    const body = encodeMultipart(BOUNDARY, JSON_PART, RENDITIONS);
    const parts = decodeMultipart(CONTENT_TYPE, body);
    expect(parts).to.have.length(1 + RENDITIONS.length);
    expect(parts[0].headers["content-type"]).to.equal("application/json");
    expect(JSON.parse(parts[0].body.toString("utf8"))).to.deep.equal(JSON_PART);
    RENDITIONS.forEach((r, i) => {
      const part = parts[i + 1];
      expect(part.headers).to.include({
        "content-type": "video/mp2t",
        "rendition-name": r.name,
        "content-length": String(r.data.length),
        "content-disposition": `attachment; filename="${r.name}.ts"`,
      });
      expect(part.body.equals(r.data), r.name).to.equal(true);
    });
  });

  it("reads a quoted boundary and extra Content-Type parameters", () => {
    const body = encodeMultipart(BOUNDARY, JSON_PART, RENDITIONS);
    for (const contentType of [
      `multipart/mixed; boundary="${BOUNDARY}"`,
      `multipart/mixed; charset=utf-8; boundary=${BOUNDARY}; x=y`,
      `Multipart/Mixed; BOUNDARY=${BOUNDARY}`,
    ]) {
      const parts = decodeMultipart(contentType, body);
      expect(
        parts.map((p) => p.body.length),
        contentType,
      ).to.deep.equal([Buffer.byteLength(JSON.stringify(JSON_PART)), ...RENDITIONS.map((r) => r.data.length)]);
    }
  });

  it("reads a part without Content-Length up to the next delimiter", () => {
    const body = Buffer.from(
      `preamble\r\n--${BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nhello\r\nworld\r\n--${BOUNDARY}\r\n` +
        `X-Part: two\r\n\r\n\r\n--${BOUNDARY}--\r\n`,
    );
    const parts = decodeMultipart(CONTENT_TYPE, body);
    expect(parts.map((p) => p.body.toString())).to.deep.equal(["hello\r\nworld", ""]);
    expect(parts[1].headers).to.deep.equal({ "x-part": "two" });
  });

  it("throws for a body cut short anywhere before its closing delimiter", () => {
    const body = encodeMultipart(BOUNDARY, JSON_PART, RENDITIONS);
    // Everything up to the closing "--boundary--" is needed; the CRLF after it is not.
    for (let length = 0; length <= body.length - 3; length++) {
      expect(() => decodeMultipart(CONTENT_TYPE, body.subarray(0, length)), `cut at ${length}`).to.throw();
    }
    expect(decodeMultipart(CONTENT_TYPE, body.subarray(0, body.length - 2))).to.have.length(1 + RENDITIONS.length);
  });

  it("throws for a part whose Content-Length runs past the body", () => {
    const body = Buffer.from(`--${BOUNDARY}\r\nContent-Length: 100\r\n\r\nshort\r\n--${BOUNDARY}--\r\n`);
    expect(() => decodeMultipart(CONTENT_TYPE, body)).to.throw(/truncated/);
  });

  it("throws when the Content-Type names no boundary, or the body holds none", () => {
    const body = encodeMultipart(BOUNDARY, JSON_PART, []);
    expect(() => decodeMultipart(undefined, body)).to.throw(/not a multipart/);
    expect(() => decodeMultipart("application/json", body)).to.throw(/not a multipart/);
    expect(() => decodeMultipart("multipart/mixed; boundary=other-boundary", body)).to.throw(/no boundary/);
  });

  it("encodes a response with no renditions as the JSON part alone", () => {
    const parts = decodeMultipart(CONTENT_TYPE, encodeMultipart(BOUNDARY, { ok: true }, []));
    expect(parts).to.have.length(1);
    expect(JSON.parse(parts[0].body.toString())).to.deep.equal({ ok: true });
  });
});

describe("orchestrator wire: streamIdHash", () => {
  it("is keccak256 of the stream name's UTF-8 bytes, 0x-hex", () => {
    for (const name of ["stream-1", "a", "~".repeat(128), "café"]) {
      expect(streamIdHash(name), name).to.equal(id(name));
    }
    expect(streamIdHash("")).to.equal(ethersKeccak256(new Uint8Array()));
    expect(streamIdHash("stream-1")).to.not.equal(streamIdHash("stream-2"));
  });
});
