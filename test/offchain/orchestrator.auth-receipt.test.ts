/**
 * The orchestrator's two signed artefacts: the HMAC auth token /info hands out (offchain/orchestrator/authToken.ts)
 * and the EIP-712 TranscodeReceipt it signs for every segment (offchain/orchestrator/receipt.ts), checked against
 * ethers' typed-data encoder and signer.
 */
import { expect } from "chai";
import { TypedDataEncoder, Wallet, concat, keccak256, toUtf8Bytes } from "ethers";

import { AuthTokens, DEFAULT_AUTH_TOKEN_TTL_S } from "../../offchain/orchestrator/authToken";
import {
  RECEIPT_TYPES,
  type ReceiptDomain,
  type TranscodeReceipt,
  outputsHash,
  receiptDigest,
  receiptFromJson,
  receiptSigner,
  receiptToJson,
  signReceipt,
} from "../../offchain/orchestrator/receipt";
import { addressOfPrivateKey } from "../../offchain/pm/crypto";

const SECRET = Buffer.alloc(32, 0x42);
const SENDER = "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc";
const OTHER_SENDER = "0x90f79bf6eb2c4f870365e785982e1f101e93b906";
// Hardhat's well-known development keys: never hold value.
const ORCHESTRATOR_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const ORCHESTRATOR_KEY_BYTES = Buffer.from(ORCHESTRATOR_KEY.slice(2), "hex");
const ORCHESTRATOR = addressOfPrivateKey(ORCHESTRATOR_KEY_BYTES);
const DISPUTE_MANAGER = "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512";

describe("orchestrator: AuthTokens", () => {
  const T0 = 1_700_000_000_500;
  let now: number;
  let tokens: AuthTokens;

  beforeEach(() => {
    now = T0;
    tokens = new AuthTokens(SECRET, DEFAULT_AUTH_TOKEN_TTL_S, () => now);
  });

  /** The token with one of its three dot-separated fields replaced. */
  function withField(token: string, index: number, value: string): string {
    const fields = token.split(".");
    fields[index] = value;
    return fields.join(".");
  }

  function problemOf(result: { sender: string } | { problem: string }): string {
    expect(result).to.have.property("problem");
    return (result as { problem: string }).problem;
  }

  it("verifies a token it issued to the sender it was issued to, in lower case", () => {
    const { token, expiresAt } = tokens.issue(SENDER.toUpperCase().replace("0X", "0x"));
    expect(expiresAt).to.equal(Math.floor(T0 / 1000) + DEFAULT_AUTH_TOKEN_TTL_S);
    expect(token.startsWith(`${SENDER}.${expiresAt}.`)).to.equal(true);
    expect(tokens.verify(token)).to.deep.equal({ sender: SENDER });
  });

  it("verifies a token issued by another instance under the same secret", () => {
    const { token } = tokens.issue(SENDER);
    expect(new AuthTokens(Buffer.from(SECRET), 60, () => now).verify(token)).to.deep.equal({ sender: SENDER });
  });

  it("issues tokens that expire after the configured TTL", () => {
    const short = new AuthTokens(SECRET, 60, () => now);
    const { token, expiresAt } = short.issue(SENDER);
    expect(expiresAt).to.equal(Math.floor(T0 / 1000) + 60);
    now = expiresAt * 1000;
    expect(short.verify(token)).to.deep.equal({ sender: SENDER }); // valid through its last millisecond
    now += 1;
    expect(problemOf(short.verify(token))).to.match(/expired/);
  });

  it("refuses an expired token", () => {
    const { token, expiresAt } = tokens.issue(SENDER);
    now = expiresAt * 1000 + 1;
    expect(problemOf(tokens.verify(token))).to.match(/expired.*GET \/info/);
  });

  it("refuses a token whose sender was changed", () => {
    const { token } = tokens.issue(SENDER);
    expect(problemOf(tokens.verify(withField(token, 0, OTHER_SENDER)))).to.match(/not issued by this orchestrator/);
  });

  it("refuses a token whose expiry was pushed later", () => {
    const { token, expiresAt } = tokens.issue(SENDER);
    expect(problemOf(tokens.verify(withField(token, 1, String(expiresAt + 3600))))).to.match(
      /not issued by this orchestrator/,
    );
  });

  it("refuses a token whose MAC was changed in any one digit", () => {
    const { token } = tokens.issue(SENDER);
    const mac = token.split(".")[2];
    for (let i = 0; i < mac.length; i += 7) {
      const flipped = mac.slice(0, i) + (mac[i] === "0" ? "1" : "0") + mac.slice(i + 1);
      expect(problemOf(tokens.verify(withField(token, 2, flipped))), `digit ${i}`).to.match(/not issued/);
    }
  });

  it("refuses a token issued under another secret", () => {
    const { token } = new AuthTokens(Buffer.alloc(32, 0x43), DEFAULT_AUTH_TOKEN_TTL_S, () => now).issue(SENDER);
    expect(problemOf(tokens.verify(token))).to.match(/another secret/);
  });

  it("refuses a missing token", () => {
    expect(problemOf(tokens.verify(undefined))).to.match(/no auth token/);
    expect(problemOf(tokens.verify(""))).to.match(/no auth token/);
  });

  it("refuses malformed tokens", () => {
    const { token, expiresAt } = tokens.issue(SENDER);
    const [sender, , mac] = token.split(".");
    const cases: Array<[string, string]> = [
      ["garbage", "not-a-token"],
      ["two fields", `${sender}.${expiresAt}`],
      ["four fields", `${token}.extra`],
      ["an upper-case sender", withField(token, 0, sender.toUpperCase().replace("0X", "0x"))],
      ["a sender without 0x", withField(token, 0, sender.slice(2))],
      ["a short sender", withField(token, 0, sender.slice(0, -2))],
      ["an upper-case MAC", withField(token, 2, mac.toUpperCase())],
      ["a short MAC", withField(token, 2, mac.slice(0, -1))],
      ["a negative expiry", withField(token, 1, "-1")],
      ["a 13-digit expiry", withField(token, 1, "1".repeat(13))],
      ["whitespace around it", ` ${token} `],
    ];
    for (const [what, value] of cases) {
      expect(problemOf(tokens.verify(value)), what).to.match(/malformed/);
    }
  });
});

describe("orchestrator: TranscodeReceipt", () => {
  const RECEIPT: TranscodeReceipt = {
    broadcaster: SENDER,
    orchestrator: ORCHESTRATOR,
    streamId: keccak256(toUtf8Bytes("stream-1")),
    seq: 12n,
    sourceHash: "0x" + "01".repeat(32),
    profilesHash: "0x" + "02".repeat(32),
    outputsHash: "0x" + "03".repeat(32),
    deterministic: false,
  };
  const DOMAIN: ReceiptDomain = { chainId: 31337n, verifyingContract: DISPUTE_MANAGER };
  const NO_CONTRACT: ReceiptDomain = { chainId: 31337n };
  // Written out here from protocol.md, not imported: a change to the module's types must show.
  const TYPES = {
    TranscodeReceipt: [
      { name: "broadcaster", type: "address" },
      { name: "orchestrator", type: "address" },
      { name: "streamId", type: "bytes32" },
      { name: "seq", type: "uint256" },
      { name: "sourceHash", type: "bytes32" },
      { name: "profilesHash", type: "bytes32" },
      { name: "outputsHash", type: "bytes32" },
      { name: "deterministic", type: "bool" },
    ],
  };
  const digestHex = (receipt: TranscodeReceipt, domain: ReceiptDomain) =>
    "0x" + receiptDigest(receipt, domain).toString("hex");

  /** The receipt with one field changed. */
  const changed: Array<[string, TranscodeReceipt]> = [
    ["broadcaster", { ...RECEIPT, broadcaster: OTHER_SENDER }],
    ["orchestrator", { ...RECEIPT, orchestrator: OTHER_SENDER }],
    ["streamId", { ...RECEIPT, streamId: keccak256(toUtf8Bytes("stream-2")) }],
    ["seq", { ...RECEIPT, seq: 13n }],
    ["sourceHash", { ...RECEIPT, sourceHash: "0x" + "11".repeat(32) }],
    ["profilesHash", { ...RECEIPT, profilesHash: "0x" + "12".repeat(32) }],
    ["outputsHash", { ...RECEIPT, outputsHash: "0x" + "13".repeat(32) }],
    ["deterministic", { ...RECEIPT, deterministic: true }],
  ];

  it("digests as ethers' TypedDataEncoder does under the Streamflow v1 domain with the DisputeManager", () => {
    const domain = { name: "Streamflow", version: "1", chainId: 31337n, verifyingContract: DISPUTE_MANAGER };
    expect(digestHex(RECEIPT, DOMAIN)).to.equal(TypedDataEncoder.hash(domain, TYPES, RECEIPT));
  });

  it("digests as ethers does without a verifying contract, and differently from with one", () => {
    const domain = { name: "Streamflow", version: "1", chainId: 31337n };
    expect(digestHex(RECEIPT, NO_CONTRACT)).to.equal(TypedDataEncoder.hash(domain, TYPES, RECEIPT));
    expect(digestHex(RECEIPT, NO_CONTRACT)).to.not.equal(digestHex(RECEIPT, DOMAIN));
  });

  it("binds the chain and the verifying contract", () => {
    expect(digestHex(RECEIPT, { ...DOMAIN, chainId: 1n })).to.not.equal(digestHex(RECEIPT, DOMAIN));
    expect(digestHex(RECEIPT, { ...DOMAIN, verifyingContract: "0x" + "99".repeat(20) })).to.not.equal(
      digestHex(RECEIPT, DOMAIN),
    );
  });

  it("declares the TranscodeReceipt type of protocol.md", () => {
    expect(TypedDataEncoder.from(RECEIPT_TYPES).encodeType("TranscodeReceipt")).to.equal(
      "TranscodeReceipt(address broadcaster,address orchestrator,bytes32 streamId,uint256 seq,bytes32 sourceHash," +
        "bytes32 profilesHash,bytes32 outputsHash,bool deterministic)",
    );
  });

  it("recovers the orchestrator's address from its signature, with and without a verifying contract", () => {
    for (const domain of [DOMAIN, NO_CONTRACT]) {
      const signature = signReceipt(RECEIPT, domain, ORCHESTRATOR_KEY_BYTES);
      expect(signature).to.match(/^0x[0-9a-f]{130}$/);
      expect(receiptSigner(RECEIPT, domain, signature)).to.equal(ORCHESTRATOR);
    }
  });

  it("signs what ethers signs: a signature made by ethers' signTypedData recovers the wallet", async () => {
    const wallet = new Wallet(ORCHESTRATOR_KEY);
    const domain = { name: "Streamflow", version: "1", chainId: 31337n, verifyingContract: DISPUTE_MANAGER };
    const signature = await wallet.signTypedData(domain, TYPES, RECEIPT);
    expect(receiptSigner(RECEIPT, DOMAIN, signature)).to.equal(wallet.address.toLowerCase());
    expect(signReceipt(RECEIPT, DOMAIN, ORCHESTRATOR_KEY_BYTES)).to.equal(signature);
  });

  it("recovers someone else when any field of the receipt was changed", () => {
    const signature = signReceipt(RECEIPT, DOMAIN, ORCHESTRATOR_KEY_BYTES);
    for (const [field, receipt] of changed) {
      expect(receiptSigner(receipt, DOMAIN, signature), field).to.not.equal(ORCHESTRATOR);
    }
  });

  it("recovers someone else under another domain", () => {
    const signature = signReceipt(RECEIPT, DOMAIN, ORCHESTRATOR_KEY_BYTES);
    expect(receiptSigner(RECEIPT, NO_CONTRACT, signature)).to.not.equal(ORCHESTRATOR);
    expect(receiptSigner(RECEIPT, { ...DOMAIN, chainId: 1n }, signature)).to.not.equal(ORCHESTRATOR);
  });

  it("gives undefined for a malformed signature", () => {
    const signature = signReceipt(RECEIPT, DOMAIN, ORCHESTRATOR_KEY_BYTES);
    for (const bad of [
      "",
      "0x",
      signature.slice(0, -2),
      signature + "00",
      "0x" + "00".repeat(65),
      signature.slice(2),
    ]) {
      expect(receiptSigner(RECEIPT, DOMAIN, bad), bad).to.equal(undefined);
    }
  });

  it("takes one rendition's hash as the outputs hash itself", () => {
    const hash = keccak256(toUtf8Bytes("rendition bytes"));
    expect(outputsHash([hash])).to.equal(hash);
    expect(outputsHash(["0x" + hash.slice(2).toUpperCase()])).to.equal(hash);
  });

  it("hashes several renditions' hashes concatenated in order", () => {
    const hashes = ["a", "b", "c"].map((s) => keccak256(toUtf8Bytes(s)));
    expect(outputsHash(hashes)).to.equal(keccak256(concat(hashes)));
    expect(outputsHash(hashes.slice(0, 2))).to.equal(keccak256(concat(hashes.slice(0, 2))));
    expect(outputsHash([hashes[1], hashes[0]])).to.not.equal(outputsHash([hashes[0], hashes[1]]));
  });

  it("refuses a rendition hash that is not 32 bytes of hex", () => {
    expect(() => outputsHash(["0x1234"])).to.throw(/rendition hash/);
    expect(() => outputsHash([RECEIPT.sourceHash, "0x" + "zz".repeat(32)])).to.throw(/rendition hash/);
  });

  it("round-trips through JSON, seq as a decimal string, exact beyond 2^53", () => {
    const receipt = { ...RECEIPT, seq: 2n ** 200n + 1n, deterministic: true };
    const json = receiptToJson(receipt);
    expect(json.seq).to.equal((2n ** 200n + 1n).toString());
    expect(json.deterministic).to.equal(true);
    expect(receiptFromJson(JSON.parse(JSON.stringify(json)))).to.deep.equal(receipt);
    // A receipt read back from JSON still verifies.
    const signature = signReceipt(receipt, DOMAIN, ORCHESTRATOR_KEY_BYTES);
    expect(receiptSigner(receiptFromJson(JSON.parse(JSON.stringify(json))), DOMAIN, signature)).to.equal(ORCHESTRATOR);
  });
});
