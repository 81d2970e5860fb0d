/**
 * Cross-implementation vectors: offchain/pm against contracts/libraries/Tickets.sol (through TicketsHarness and the
 * deployed TicketBroker) and against ethers' generic EIP-712 encoder. The vectors come from a fixed fast-check seed,
 * so a failure names a reproducible vector index.
 */
import { expect } from "chai";
import { ethers } from "hardhat";
import { TypedDataEncoder, Wallet, ZeroAddress, concat, getAddress, solidityPackedKeccak256, toBeHex } from "ethers";
import fc from "fast-check";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";

import {
  MAX_WIN_PROB,
  TICKET_TYPES,
  type Ticket,
  type TicketDomain,
  TicketHasher,
  TicketSender,
  eip712Domain,
  isWinningTicket,
  recoverSigner,
  signDigest,
} from "../../offchain/pm";
import type { TicketParams } from "../../offchain/pm";
import { deployedSuite } from "../support/fixtures";

const CHAIN_ID = 31337n;
const CURVE_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HALF_CURVE_ORDER = CURVE_ORDER >> 1n;
const VECTOR_COUNT = 300;
const SEED = 0x5eed;

const hex = (bytes: Uint8Array) => "0x" + Buffer.from(bytes).toString("hex");
const bytes = (hexString: string) => Buffer.from(hexString.slice(2), "hex");
const word = (value: bigint) => Buffer.from(toBeHex(value, 32).slice(2), "hex");
const bigintOf = (buffer: Uint8Array) => BigInt(hex(buffer));

// Edge values in about one vector in six, the rest spread over the whole range and over small values.
const uint256 = fc.oneof(
  { arbitrary: fc.constantFrom(0n, 1n, MAX_WIN_PROB, MAX_WIN_PROB - 1n, 1n << 255n), weight: 1 },
  { arbitrary: fc.bigInt({ min: 0n, max: MAX_WIN_PROB }), weight: 3 },
  { arbitrary: fc.bigInt({ min: 0n, max: 1n << 64n }), weight: 2 },
);
const bytes32 = fc.oneof(
  { arbitrary: fc.constantFrom("0x" + "00".repeat(32), "0x" + "ff".repeat(32)), weight: 1 },
  { arbitrary: fc.uint8Array({ minLength: 32, maxLength: 32 }).map(hex), weight: 5 },
);
/** An address in the three spellings TicketHasher must treat alike; `checksummed` is what ethers is given. */
const address = fc
  .tuple(
    fc.oneof(
      { arbitrary: fc.constantFrom("0x" + "00".repeat(20), "0x" + "ff".repeat(20)), weight: 1 },
      { arbitrary: fc.uint8Array({ minLength: 20, maxLength: 20 }).map(hex), weight: 8 },
    ),
    fc.constantFrom("lower", "upper", "checksum"),
  )
  .map(([lower, spelling]) => {
    const checksummed = getAddress(lower);
    const spelled =
      spelling === "lower" ? lower : spelling === "upper" ? "0x" + lower.slice(2).toUpperCase() : checksummed;
    return { spelled, checksummed };
  });
const privateKey = fc
  .oneof(
    { arbitrary: fc.constantFrom(1n, CURVE_ORDER - 1n), weight: 1 },
    { arbitrary: fc.bigInt({ min: 1n, max: CURVE_ORDER - 1n }), weight: 12 },
  )
  .map((key) => toBeHex(key, 32));

interface Vector {
  /** as offchain/pm takes it (addresses in any case) */
  ticket: Ticket;
  /** the same ticket with checksummed addresses, as ethers takes it */
  ethersTicket: Ticket;
  privateKey: string;
  /** another verifyingContract to hash under */
  otherBroker: string;
  recipientRand: bigint;
  randomWinProb: bigint;
}

const vectorArbitrary: fc.Arbitrary<Vector> = fc
  .record({
    recipient: address,
    sender: address,
    faceValue: uint256,
    winProb: uint256,
    senderNonce: uint256,
    recipientRandHash: bytes32,
    creationRound: uint256,
    creationRoundBlockHash: bytes32,
    privateKey,
    otherBroker: address,
    recipientRand: uint256,
    randomWinProb: uint256,
  })
  .map((v) => {
    const ticket: Ticket = {
      recipient: v.recipient.spelled,
      sender: v.sender.spelled,
      faceValue: v.faceValue,
      winProb: v.winProb,
      senderNonce: v.senderNonce,
      recipientRandHash: v.recipientRandHash,
      creationRound: v.creationRound,
      creationRoundBlockHash: v.creationRoundBlockHash,
    };
    return {
      ticket,
      ethersTicket: { ...ticket, recipient: v.recipient.checksummed, sender: v.sender.checksummed },
      privateKey: v.privateKey,
      otherBroker: v.otherBroker.checksummed,
      recipientRand: v.recipientRand,
      randomWinProb: v.randomWinProb,
    };
  });

const vectors = fc.sample(vectorArbitrary, { seed: SEED, numRuns: VECTOR_COUNT });

async function deployed() {
  const suite = await deployedSuite();
  const harness = await (await ethers.getContractFactory("TicketsHarness")).deploy();
  const broker = suite.ticketBroker;
  const brokerAddress = await broker.getAddress();
  const domain: TicketDomain = { chainId: CHAIN_ID, verifyingContract: brokerAddress };
  const hasher = new TicketHasher(domain);
  // Every vector signed over the digest for the deployed broker, as a sender would sign it.
  const sigs = vectors.map((v) => signDigest(hasher.hash(v.ticket), bytes(v.privateKey)));
  return { harness, broker, brokerAddress, domain, hasher, sigs };
}

/** The draw of the win rule, computed by ethers rather than by offchain/pm. */
function draw(sig: Uint8Array, recipientRand: bigint): bigint {
  return BigInt(solidityPackedKeccak256(["bytes", "uint256"], [sig, recipientRand]));
}

/** `sig` with its fields replaced. */
function withFields(sig: Uint8Array, fields: { r?: bigint; s?: bigint; v?: number }): Buffer {
  const out = Buffer.from(sig);
  if (fields.r !== undefined) word(fields.r).copy(out, 0);
  if (fields.s !== undefined) word(fields.s).copy(out, 32);
  if (fields.v !== undefined) out[64] = fields.v;
  return out;
}

/** The high-s twin of a valid signature: (r, n - s) with the recovery bit flipped, which ecrecover also accepts. */
function highSTwin(sig: Uint8Array): Buffer {
  const s = bigintOf(sig.subarray(32, 64));
  return withFields(sig, { s: CURVE_ORDER - s, v: sig[64] === 27 ? 28 : 27 });
}

describe("offchain/pm vectors against Tickets.sol", () => {
  it("runs on the chain id the vectors assume", async () => {
    expect((await ethers.provider.getNetwork()).chainId).to.equal(CHAIN_ID);
  });

  describe("TicketHasher", () => {
    it("hashes every vector as the harness and ethers' TypedDataEncoder do, under a random broker address", async () => {
      const { harness } = await loadFixture(deployed);
      const onChain = await Promise.all(vectors.map((v) => harness.hash(v.ethersTicket, v.otherBroker)));
      vectors.forEach((v, i) => {
        const domain = { chainId: CHAIN_ID, verifyingContract: v.otherBroker };
        const offChain = hex(new TicketHasher(domain).hash(v.ticket));
        const generic = TypedDataEncoder.hash(eip712Domain(domain), TICKET_TYPES, v.ethersTicket);
        expect(offChain, `vector ${i}`).to.equal(generic);
        expect(onChain[i], `vector ${i}`).to.equal(offChain);
      });
    });

    it("hashes every vector as the deployed TicketBroker's getTicketHash does", async () => {
      const { broker, harness, brokerAddress, hasher } = await loadFixture(deployed);
      const [fromBroker, fromHarness] = await Promise.all([
        Promise.all(vectors.map((v) => broker.getTicketHash(v.ethersTicket))),
        Promise.all(vectors.map((v) => harness.hash(v.ethersTicket, brokerAddress))),
      ]);
      vectors.forEach((v, i) => {
        const offChain = hex(hasher.hash(v.ticket));
        expect(fromBroker[i], `vector ${i}`).to.equal(offChain);
        expect(fromHarness[i], `vector ${i}`).to.equal(offChain);
      });
    });

    it("computes the domain separator the harness computes, for the broker and random addresses", async () => {
      const { harness, brokerAddress } = await loadFixture(deployed);
      const addresses = [brokerAddress, ...vectors.slice(0, 50).map((v) => v.otherBroker)];
      const onChain = await Promise.all(addresses.map((a) => harness.domainSeparator(a)));
      addresses.forEach((a, i) => {
        const domain = { chainId: CHAIN_ID, verifyingContract: a };
        expect(hex(new TicketHasher(domain).domainSeparator), a).to.equal(onChain[i]);
        expect(onChain[i], a).to.equal(TypedDataEncoder.hashDomain(eip712Domain(domain)));
      });
    });
  });

  describe("recoverSigner", () => {
    it("recovers the signing key's address, as the harness does, for every vector", async () => {
      const { harness, hasher, sigs } = await loadFixture(deployed);
      const digests = vectors.map((v) => hasher.hash(v.ticket));
      const onChain = await Promise.all(digests.map((d, i) => harness.getFunction("signer")(d, sigs[i])));
      vectors.forEach((v, i) => {
        const expected = new Wallet(v.privateKey).address;
        expect(recoverSigner(digests[i], sigs[i]), `vector ${i}`).to.equal(expected.toLowerCase());
        expect(onChain[i], `vector ${i}`).to.equal(expected);
      });
    });

    it("agrees with the harness on random 65-byte signatures with low s (refused or recovered alike)", async () => {
      const { harness } = await loadFixture(deployed);
      const garbage = fc.sample(
        fc.record({
          digest: fc.uint8Array({ minLength: 32, maxLength: 32 }),
          r: fc.bigInt({ min: 1n, max: CURVE_ORDER - 1n }),
          s: fc.bigInt({ min: 1n, max: HALF_CURVE_ORDER }),
          v: fc.constantFrom(27, 28),
        }),
        { seed: SEED, numRuns: 200 },
      );
      const sigs = garbage.map((g) => Buffer.concat([word(g.r), word(g.s), Buffer.from([g.v])]));
      const onChain = await Promise.all(garbage.map((g, i) => harness.getFunction("signer")(g.digest, sigs[i])));
      let recovered = 0;
      garbage.forEach((g, i) => {
        const offChain = recoverSigner(g.digest, sigs[i]);
        expect(offChain === undefined ? ZeroAddress : getAddress(offChain), `signature ${i}`).to.equal(onChain[i]);
        if (offChain !== undefined) recovered++;
      });
      // About half of all r are x-coordinates of curve points: both outcomes must have occurred.
      expect(recovered).to.be.within(50, 150);
    });
  });

  describe("TicketSender", () => {
    it("signs what the broker recovers to the sender, byte for byte as ethers' signTypedData signs", async () => {
      const { broker, harness, domain } = await loadFixture(deployed);
      const subset = vectors.slice(0, 60);
      const signed = subset.map((v) => {
        const params: TicketParams = {
          recipient: v.ticket.recipient,
          faceValue: v.ticket.faceValue,
          winProb: v.ticket.winProb,
          recipientRandHash: v.ticket.recipientRandHash,
          seed: v.ticket.creationRoundBlockHash,
          expirationBlock: 0n,
          creationRound: v.ticket.creationRound,
          creationRoundBlockHash: v.ticket.creationRoundBlockHash,
        };
        return new TicketSender({ privateKey: v.privateKey, domain }).createTickets(params, 1)[0];
      });
      const digests = await Promise.all(
        signed.map(({ ticket }) => broker.getTicketHash({ ...ticket, recipient: getAddress(ticket.recipient) })),
      );
      const signers = await Promise.all(signed.map(({ sig }, i) => harness.getFunction("signer")(digests[i], sig)));
      for (const [i, v] of subset.entries()) {
        const wallet = new Wallet(v.privateKey);
        const { ticket, sig } = signed[i];
        expect(signers[i], `vector ${i}`).to.equal(wallet.address);
        expect(ticket.sender, `vector ${i}`).to.equal(wallet.address.toLowerCase());
        const viaEthers = await wallet.signTypedData(eip712Domain(domain), TICKET_TYPES, {
          ...ticket,
          recipient: getAddress(ticket.recipient),
          sender: wallet.address,
        });
        expect(sig, `vector ${i}`).to.equal(viaEthers);
      }
    });
  });

  describe("isWinningTicket", () => {
    /** For each vector: a random winProb, the draw itself, draw + 1, draw - 1, 0 and 2^256 - 1. */
    function winCases(sigs: Buffer[], count: number) {
      return vectors.slice(0, count).flatMap((v, i) => {
        const d = draw(sigs[i], v.recipientRand);
        const probs = [v.randomWinProb, d, d + 1n, d - 1n, 0n, MAX_WIN_PROB].filter(
          (p) => p >= 0n && p <= MAX_WIN_PROB,
        );
        return probs.map((winProb) => ({
          i,
          sig: sigs[i],
          recipientRand: v.recipientRand,
          winProb,
          wins: d < winProb,
        }));
      });
    }

    it("agrees with the harness on random and boundary win probabilities (draw < winProb)", async () => {
      const { harness, sigs } = await loadFixture(deployed);
      const cases = winCases(sigs, VECTOR_COUNT);
      const onChain = await Promise.all(cases.map((c) => harness.wins(c.sig, c.recipientRand, c.winProb)));
      cases.forEach((c, k) => {
        const label = `vector ${c.i}, winProb ${c.winProb}`;
        expect(isWinningTicket(c.sig, c.recipientRand, c.winProb), label).to.equal(c.wins);
        expect(onChain[k], label).to.equal(c.wins);
      });
      // draw + 1 and 2^256 - 1 win, the draw, draw - 1 and 0 lose: hundreds of each.
      const wins = cases.filter((c) => c.wins).length;
      expect(wins).to.be.greaterThan(VECTOR_COUNT * 2);
      expect(cases.length - wins).to.be.greaterThan(VECTOR_COUNT * 2);
    });

    it("agrees with the deployed TicketBroker's isWinningTicket", async () => {
      const { broker, sigs } = await loadFixture(deployed);
      const cases = winCases(sigs, 50);
      const onChain = await Promise.all(cases.map((c) => broker.isWinningTicket(c.sig, c.recipientRand, c.winProb)));
      cases.forEach((c, k) => {
        const label = `vector ${c.i}, winProb ${c.winProb}`;
        expect(isWinningTicket(c.sig, c.recipientRand, c.winProb), label).to.equal(onChain[k]);
        expect(onChain[k], label).to.equal(c.wins);
      });
    });

    it("agrees with the harness on signatures that are not 65 bytes (the draw hashes whatever is given)", async () => {
      const { harness, sigs } = await loadFixture(deployed);
      const cases = vectors.slice(0, 40).flatMap((v, i) => {
        const short = sigs[i].subarray(0, 64);
        const long = Buffer.concat([sigs[i], Buffer.from([0])]);
        return [short, long].flatMap((sig) => {
          const d = draw(sig, v.recipientRand);
          return [d, d + 1n].filter((p) => p <= MAX_WIN_PROB).map((winProb) => ({ sig, v, winProb }));
        });
      });
      const onChain = await Promise.all(cases.map((c) => harness.wins(c.sig, c.v.recipientRand, c.winProb)));
      cases.forEach((c, k) => {
        expect(isWinningTicket(c.sig, c.v.recipientRand, c.winProb), `case ${k}`).to.equal(onChain[k]);
      });
      expect(onChain.filter(Boolean).length).to.equal(cases.length / 2);
    });
  });

  describe("refused signatures", () => {
    /** Asserts offchain/pm and the harness both refuse every signature. */
    async function expectBothRefuse(digests: Uint8Array[], refused: Uint8Array[]) {
      const { harness } = await loadFixture(deployed);
      const onChain = await Promise.all(refused.map((sig, i) => harness.getFunction("signer")(digests[i], sig)));
      refused.forEach((sig, i) => {
        expect(recoverSigner(digests[i], sig), `signature ${i}`).to.equal(undefined);
        expect(onChain[i], `signature ${i}`).to.equal(ZeroAddress);
      });
    }

    it("refuses the high-s twin of every valid signature, which ecrecover alone would accept", async () => {
      const { hasher, sigs } = await loadFixture(deployed);
      const digests = vectors.map((v) => hasher.hash(v.ticket));
      const twins = sigs.map(highSTwin);
      await expectBothRefuse(digests, twins);
      // The twins are real signatures by the same keys: the refusal is the low-s rule and nothing else.
      const precompile = await Promise.all(
        twins.slice(0, 20).map((twin, i) =>
          ethers.provider.call({
            to: "0x0000000000000000000000000000000000000001",
            data: concat([digests[i], word(BigInt(twin[64])), twin.subarray(0, 32), twin.subarray(32, 64)]),
          }),
        ),
      );
      precompile.forEach((output, i) => {
        expect(getAddress("0x" + output.slice(26)), `vector ${i}`).to.equal(new Wallet(vectors[i].privateKey).address);
      });
    });

    it("refuses v = 0, 1 and 29", async () => {
      const { hasher, sigs } = await loadFixture(deployed);
      const subset = vectors.slice(0, 100);
      const digests = subset.flatMap((v) => [0, 1, 2].map(() => hasher.hash(v.ticket)));
      const refused = subset.flatMap((_, i) => [0, 1, 29].map((v) => withFields(sigs[i], { v })));
      await expectBothRefuse(digests, refused);
    });

    it("refuses 64-byte signatures, r || s and the EIP-2098 compact r || vs alike", async () => {
      const { hasher, sigs } = await loadFixture(deployed);
      const subset = vectors.slice(0, 100);
      const digests = subset.flatMap((v) => [hasher.hash(v.ticket), hasher.hash(v.ticket)]);
      const refused = subset.flatMap((_, i) => {
        const sig = sigs[i];
        const vs = bigintOf(sig.subarray(32, 64)) | (BigInt(sig[64] - 27) << 255n);
        return [sig.subarray(0, 64), Buffer.concat([sig.subarray(0, 32), word(vs)])];
      });
      await expectBothRefuse(digests, refused);
    });

    it("refuses 66-byte signatures (a valid signature with a byte appended or prepended)", async () => {
      const { hasher, sigs } = await loadFixture(deployed);
      const subset = vectors.slice(0, 100);
      const digests = subset.flatMap((v) => [hasher.hash(v.ticket), hasher.hash(v.ticket)]);
      const refused = subset.flatMap((_, i) => [
        Buffer.concat([sigs[i], Buffer.from([0])]),
        Buffer.concat([Buffer.from([0]), sigs[i]]),
      ]);
      await expectBothRefuse(digests, refused);
    });

    it("refuses r = 0, s = 0 and r >= n", async () => {
      const { hasher, sigs } = await loadFixture(deployed);
      const subset = vectors.slice(0, 100);
      const fields = [{ r: 0n }, { s: 0n }, { r: CURVE_ORDER }, { r: MAX_WIN_PROB }];
      const digests = subset.flatMap((v) => fields.map(() => hasher.hash(v.ticket)));
      const refused = subset.flatMap((_, i) => fields.map((f) => withFields(sigs[i], f)));
      await expectBothRefuse(digests, refused);
    });

    it("draws the low-s line where the harness does: s = n / 2 recovers, s = n / 2 + 1 is refused", async () => {
      const { harness, hasher, sigs } = await loadFixture(deployed);
      const subset = vectors.slice(0, 50);
      const digests = subset.map((v) => hasher.hash(v.ticket));
      const atLine = sigs.slice(0, 50).map((sig) => withFields(sig, { s: HALF_CURVE_ORDER }));
      const onChain = await Promise.all(atLine.map((sig, i) => harness.getFunction("signer")(digests[i], sig)));
      atLine.forEach((sig, i) => {
        const offChain = recoverSigner(digests[i], sig);
        // r comes from a real signature, so it is an x-coordinate: some (other) key recovers.
        expect(offChain, `vector ${i}`).to.be.a("string");
        expect(getAddress(offChain as string), `vector ${i}`).to.equal(onChain[i]);
        expect(onChain[i], `vector ${i}`).to.not.equal(ZeroAddress);
      });
      await expectBothRefuse(
        digests,
        sigs.slice(0, 50).map((sig) => withFields(sig, { s: HALF_CURVE_ORDER + 1n })),
      );
    });
  });
});
