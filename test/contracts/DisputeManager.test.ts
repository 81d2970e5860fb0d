import { expect } from "chai";
import { ethers } from "hardhat";
import { AbiCoder, MaxUint256, ZeroHash, concat, getBytes, hexlify, keccak256, toBeHex } from "ethers";
import type { Wallet } from "ethers";
import { loadFixture, mine } from "@nomicfoundation/hardhat-network-helpers";

import { mineToHead, mineToNextTxBlock, startNextRound } from "../support/chain";
import { receiptDigest, signReceipt } from "../../offchain/orchestrator/receipt";
import type { TranscodeReceipt } from "../../offchain/orchestrator/receipt";
import {
  DELEGATED_STAKE,
  EVIDENCE,
  LPT,
  ORCHESTRATOR_STAKE,
  Outcome,
  PERC,
  Phase,
  Vote,
  type VoteValue,
  commitmentOf,
  digestOf,
  disputeBase,
  ensureRoundInitialized,
  eventsOf,
  fundVerifier,
  gasOf,
  open,
  openAndDraw,
  pastReveal,
  receiptOf,
  registerVerifiers,
  saltOf,
  sign,
  verifierWallets,
  vote,
  walletOf,
  withCommittee,
  withVerifiers,
  word,
} from "./helpers/disputes";

const CURVE_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const UNLOCK_PERIOD = 2n; // deployments/params/local.json
const COMMIT_PERIOD = 10n;
const REVEAL_PERIOD = 10n;
const FAULT_SLASH = 500_000n;
const FINDER_FEE = 500_000n;
const VERIFIER_SLASH = 100_000n;

/** `sig` with s replaced by n - s and v flipped: the same signer to ecrecover, but a high-s (malleated) copy. */
function malleate(sig: string): string {
  const bytes = getBytes(sig);
  const s = BigInt(hexlify(bytes.slice(32, 64)));
  return hexlify(
    concat([bytes.slice(0, 32), toBeHex(CURVE_ORDER - s, 32), new Uint8Array([bytes[64] === 27 ? 28 : 27])]),
  );
}

type Committee = Awaited<ReturnType<typeof withCommittee>>;

/** The three verifiers of `withVerifiers` by their stake: a (100 LPT), b (200 LPT), c (300 LPT). */
function byStake(s: { verifiers: Wallet[] }) {
  const [a, b, c] = s.verifiers;
  return { a, b, c };
}

/** Votes keyed by member address. */
function votes(entries: [Wallet, VoteValue][]): Map<string, VoteValue> {
  return new Map(entries.map(([wallet, v]) => [wallet.address, v]));
}

describe("DisputeManager", () => {
  describe("registerVerifier", () => {
    it("pulls the LPT from the verifier and locks it here", async () => {
      const s = await loadFixture(disputeBase);
      const [v] = verifierWallets("new-verifier", 1);
      await fundVerifier(s, v, LPT(50));
      await expect(s.dm.connect(v).registerVerifier(LPT(50))).to.changeTokenBalances(
        s.token,
        [v, s.dm],
        [-LPT(50), LPT(50)],
      );
      const info = await s.dm.getVerifier(v.address);
      expect(info.stake).to.equal(LPT(50));
      expect(info.unlockRound).to.equal(0n);
      expect(info.openDuties).to.equal(0n);
    });

    it("adds the stake to the stake committees are drawn from", async () => {
      const s = await loadFixture(withVerifiers);
      expect(await s.dm.totalVerifierStake()).to.equal(LPT(600));
      const [v] = verifierWallets("new-verifier", 1);
      await fundVerifier(s, v, LPT(50));
      await s.dm.connect(v).registerVerifier(LPT(50));
      expect(await s.dm.totalVerifierStake()).to.equal(LPT(650));
    });

    it("emits VerifierRegistered with the amount and the resulting stake", async () => {
      const s = await loadFixture(disputeBase);
      const [v] = verifierWallets("new-verifier", 1);
      await fundVerifier(s, v, LPT(80));
      await expect(s.dm.connect(v).registerVerifier(LPT(30)))
        .to.emit(s.dm, "VerifierRegistered")
        .withArgs(v.address, LPT(30), LPT(30));
      await expect(s.dm.connect(v).registerVerifier(LPT(50)))
        .to.emit(s.dm, "VerifierRegistered")
        .withArgs(v.address, LPT(50), LPT(80));
    });

    it("tops up an existing stake", async () => {
      const s = await loadFixture(withVerifiers);
      const { b } = byStake(s);
      await s.token.transfer(b.address, LPT(25));
      await expect(s.dm.connect(b).registerVerifier(LPT(25))).to.changeTokenBalances(
        s.token,
        [b, s.dm],
        [-LPT(25), LPT(25)],
      );
      expect((await s.dm.getVerifier(b.address)).stake).to.equal(LPT(225));
      expect(await s.dm.totalVerifierStake()).to.equal(LPT(625));
    });

    it("reverts with ZeroAmount for nothing", async () => {
      const s = await loadFixture(withVerifiers);
      await expect(s.dm.connect(s.verifiers[0]).registerVerifier(0n)).to.be.revertedWithCustomError(s.dm, "ZeroAmount");
    });

    it("reverts without an allowance for the LPT", async () => {
      const s = await loadFixture(disputeBase);
      const [v] = verifierWallets("new-verifier", 1);
      await fundVerifier(s, v, LPT(10));
      await s.token.connect(v).approve(await s.dm.getAddress(), LPT(5));
      await expect(s.dm.connect(v).registerVerifier(LPT(10)))
        .to.be.revertedWithCustomError(s.token, "ERC20InsufficientAllowance")
        .withArgs(await s.dm.getAddress(), LPT(5), LPT(10));
      expect(await s.dm.totalVerifierStake()).to.equal(0n);
    });

    it("reverts when the verifier holds less LPT than the amount", async () => {
      const s = await loadFixture(disputeBase);
      const [v] = verifierWallets("new-verifier", 1);
      await fundVerifier(s, v, LPT(10));
      await expect(s.dm.connect(v).registerVerifier(LPT(11))).to.be.revertedWithCustomError(
        s.token,
        "ERC20InsufficientBalance",
      );
    });

    it("reverts with VerifierUnlocking while the stake unlocks", async () => {
      const s = await loadFixture(withVerifiers);
      const { a } = byStake(s);
      await s.dm.connect(a).deregisterVerifier();
      await s.token.transfer(a.address, LPT(1));
      await expect(s.dm.connect(a).registerVerifier(LPT(1)))
        .to.be.revertedWithCustomError(s.dm, "VerifierUnlocking")
        .withArgs(a.address, s.round + UNLOCK_PERIOD);
    });

    it("registers again after withdrawing, from a zero stake", async () => {
      const s = await loadFixture(withVerifiers);
      const { a } = byStake(s);
      await s.dm.connect(a).deregisterVerifier();
      await startNextRound(s.rounds);
      await startNextRound(s.rounds);
      await s.dm.connect(a).withdrawVerifierStake();
      await expect(s.dm.connect(a).registerVerifier(LPT(40)))
        .to.emit(s.dm, "VerifierRegistered")
        .withArgs(a.address, LPT(40), LPT(40));
      expect(await s.dm.getVerifier(a.address)).to.deep.equal([LPT(40), 0n, 0n]);
      expect(await s.dm.totalVerifierStake()).to.equal(LPT(540));
    });
  });

  describe("deregisterVerifier", () => {
    it("takes the stake out of the draw at once and sets the unlock round", async () => {
      const s = await loadFixture(withVerifiers);
      const { b } = byStake(s);
      await expect(s.dm.connect(b).deregisterVerifier())
        .to.emit(s.dm, "VerifierDeregistered")
        .withArgs(b.address, LPT(200), s.round + UNLOCK_PERIOD);
      expect(await s.dm.totalVerifierStake()).to.equal(LPT(400));
      const info = await s.dm.getVerifier(b.address);
      expect(info.stake).to.equal(LPT(200)); // still locked here, just not drawn
      expect(info.unlockRound).to.equal(s.round + UNLOCK_PERIOD);
    });

    it("counts the unlock period from the current round even before it is initialized", async () => {
      const s = await loadFixture(withVerifiers);
      await mineToHead((await s.rounds.currentRoundStartBlock()) + 20n);
      expect(await s.rounds.currentRoundInitialized()).to.equal(false);
      await s.dm.connect(s.verifiers[0]).deregisterVerifier();
      expect((await s.dm.getVerifier(s.verifiers[0].address)).unlockRound).to.equal(s.round + 1n + UNLOCK_PERIOD);
    });

    it("is never drawn once deregistered", async () => {
      const s = await loadFixture(withVerifiers);
      const extra = verifierWallets("fourth", 1);
      await registerVerifiers(s, extra, [LPT(10_000)]); // the heaviest, by far
      await s.dm.connect(extra[0]).deregisterVerifier();
      for (let seq = 0n; seq < 3n; seq++) {
        const { members } = await openAndDraw(s, receiptOf(s, { seq }));
        expect(members).to.have.members(s.verifiers.map((v) => v.address));
      }
    });

    it("reverts with NotVerifier for an account without stake", async () => {
      const s = await loadFixture(withVerifiers);
      await expect(s.dm.connect(s.stranger).deregisterVerifier())
        .to.be.revertedWithCustomError(s.dm, "NotVerifier")
        .withArgs(s.stranger.address);
    });

    it("reverts with VerifierUnlocking the second time", async () => {
      const s = await loadFixture(withVerifiers);
      await s.dm.connect(s.verifiers[0]).deregisterVerifier();
      await expect(s.dm.connect(s.verifiers[0]).deregisterVerifier())
        .to.be.revertedWithCustomError(s.dm, "VerifierUnlocking")
        .withArgs(s.verifiers[0].address, s.round + UNLOCK_PERIOD);
    });

    it("reverts with VerifierOnCommittee while on an unresolved committee, and succeeds after resolution", async () => {
      const s = await loadFixture(withCommittee);
      const { a } = byStake(s);
      expect((await s.dm.getVerifier(a.address)).openDuties).to.equal(1n);
      await expect(s.dm.connect(a).deregisterVerifier())
        .to.be.revertedWithCustomError(s.dm, "VerifierOnCommittee")
        .withArgs(a.address, 1n);
      // A second committee: two duties.
      await openAndDraw(s, receiptOf(s, { seq: 1n }));
      await expect(s.dm.connect(a).deregisterVerifier())
        .to.be.revertedWithCustomError(s.dm, "VerifierOnCommittee")
        .withArgs(a.address, 2n);
      await pastReveal(s, 2n);
      await s.dm.resolve(s.disputeId);
      await s.dm.resolve(2n);
      expect((await s.dm.getVerifier(a.address)).openDuties).to.equal(0n);
      await expect(s.dm.connect(a).deregisterVerifier()).to.emit(s.dm, "VerifierDeregistered");
    });
  });

  describe("withdrawVerifierStake", () => {
    async function deregistered() {
      const s = await withVerifiers();
      const { c } = byStake(s);
      await s.dm.connect(c).deregisterVerifier();
      return { ...s, c, unlockRound: s.round + UNLOCK_PERIOD };
    }

    it("reverts with VerifierStakeLocked before the unlock round", async () => {
      const s = await loadFixture(deregistered);
      await expect(s.dm.connect(s.c).withdrawVerifierStake())
        .to.be.revertedWithCustomError(s.dm, "VerifierStakeLocked")
        .withArgs(s.c.address, s.unlockRound);
      await startNextRound(s.rounds); // unlockRound - 1
      await expect(s.dm.connect(s.c).withdrawVerifierStake())
        .to.be.revertedWithCustomError(s.dm, "VerifierStakeLocked")
        .withArgs(s.c.address, s.unlockRound);
    });

    it("returns exactly the stake from the unlock round and forgets the verifier", async () => {
      const s = await loadFixture(deregistered);
      await startNextRound(s.rounds);
      const firstBlock = (await s.rounds.currentRoundStartBlock()) + 20n; // of unlockRound (not initialized)
      await mineToNextTxBlock(firstBlock);
      const tx = s.dm.connect(s.c).withdrawVerifierStake();
      await expect(tx).to.changeTokenBalances(s.token, [s.c, s.dm], [LPT(300), -LPT(300)]);
      await expect(tx).to.emit(s.dm, "VerifierStakeWithdrawn").withArgs(s.c.address, LPT(300));
      expect((await (await tx).wait())!.blockNumber).to.equal(firstBlock);
      expect(await s.rounds.currentRound()).to.equal(s.unlockRound);
      expect(await s.dm.getVerifier(s.c.address)).to.deep.equal([0n, 0n, 0n]);
      expect(await s.dm.totalVerifierStake()).to.equal(LPT(300));
      expect(await s.token.balanceOf(await s.dm.getAddress())).to.equal(LPT(300));
    });

    it("reverts with NotVerifier after withdrawing, and for a stranger", async () => {
      const s = await loadFixture(deregistered);
      await startNextRound(s.rounds);
      await startNextRound(s.rounds);
      await s.dm.connect(s.c).withdrawVerifierStake();
      await expect(s.dm.connect(s.c).withdrawVerifierStake())
        .to.be.revertedWithCustomError(s.dm, "NotVerifier")
        .withArgs(s.c.address);
      await expect(s.dm.connect(s.stranger).withdrawVerifierStake())
        .to.be.revertedWithCustomError(s.dm, "NotVerifier")
        .withArgs(s.stranger.address);
    });

    it("reverts with VerifierNotDeregistered for a registered verifier", async () => {
      const s = await loadFixture(deregistered);
      const { a } = byStake(s);
      await expect(s.dm.connect(a).withdrawVerifierStake())
        .to.be.revertedWithCustomError(s.dm, "VerifierNotDeregistered")
        .withArgs(a.address);
    });
  });

  describe("openDispute", () => {
    it("records the dispute, awaiting a committee drawn from the next block", async () => {
      const s = await loadFixture(disputeBase);
      const receipt = receiptOf(s);
      const { disputeId, mined } = await open(s, receipt);
      expect(disputeId).to.equal(1n);
      const info = await s.dm.getDispute(disputeId);
      expect(info.broadcaster).to.equal(s.broadcaster.address);
      expect(info.orchestrator).to.equal(s.orchestrator.address);
      expect(info.receiptHash).to.equal(digestOf(s, receipt));
      expect(info.bond).to.equal(s.bond);
      expect(info.openedBlock).to.equal(mined.blockNumber);
      expect(info.seedBlock).to.equal(mined.blockNumber + 1);
      expect(info.commitEnd).to.equal(0n);
      expect(info.revealEnd).to.equal(0n);
      expect([info.faultStake, info.noFaultStake, info.reveals]).to.deep.equal([0n, 0n, 0n]);
      expect(info.phase).to.equal(Phase.AwaitingCommittee);
      expect(info.outcome).to.equal(Outcome.None);
      expect(await s.dm.disputePhase(disputeId)).to.equal(Phase.AwaitingCommittee);
      expect(await s.dm.disputeOfReceipt(digestOf(s, receipt))).to.equal(disputeId);
    });

    it("emits DisputeOpened with the receipt, its hash, the evidence URI, the bond and the seed block", async () => {
      const s = await loadFixture(disputeBase);
      const receipt = receiptOf(s, { seq: 7n, deterministic: false });
      const mined = await gasOf(
        s.dm.connect(s.broadcaster).openDispute(receipt, sign(s, receipt), EVIDENCE, { value: s.bond }),
      );
      const [event] = eventsOf(s.dm, mined, "DisputeOpened");
      expect(event.disputeId).to.equal(1n);
      expect(event.broadcaster).to.equal(s.broadcaster.address);
      expect(event.orchestrator).to.equal(s.orchestrator.address);
      expect(event.receipt.toObject()).to.deep.equal(receipt);
      expect(event.receiptHash).to.equal(digestOf(s, receipt));
      expect(event.evidenceURI).to.equal(EVIDENCE);
      expect(event.bond).to.equal(s.bond);
      expect(event.seedBlock).to.equal(BigInt(mined.blockNumber) + 1n);
    });

    it("holds the bond in ETH", async () => {
      const s = await loadFixture(disputeBase);
      const receipt = receiptOf(s);
      await expect(
        s.dm.connect(s.broadcaster).openDispute(receipt, sign(s, receipt), EVIDENCE, { value: s.bond }),
      ).to.changeEtherBalances([s.broadcaster, s.dm], [-s.bond, s.bond]);
      expect(s.bond).to.equal(ethers.parseEther("0.01"));
    });

    it("counts open disputes against the orchestrator and numbers disputes from 1", async () => {
      const s = await loadFixture(disputeBase);
      expect(await s.dm.openDisputesAgainst(s.orchestrator.address)).to.equal(0n);
      await open(s, receiptOf(s, { seq: 1n }));
      await open(s, receiptOf(s, { seq: 2n }));
      const other = receiptOf(s, { orchestrator: s.otherOrchestrator.address });
      const { disputeId } = await open(s, other);
      expect(disputeId).to.equal(3n);
      expect(await s.dm.disputeCount()).to.equal(3n);
      expect(await s.dm.openDisputesAgainst(s.orchestrator.address)).to.equal(2n);
      expect(await s.dm.openDisputesAgainst(s.otherOrchestrator.address)).to.equal(1n);
    });

    it("hashes receipts exactly like the off-chain receiptDigest (EIP-712, Streamflow v1, this proxy)", async () => {
      const s = await loadFixture(disputeBase);
      for (const receipt of [
        receiptOf(s),
        receiptOf(s, { seq: 2n ** 200n, deterministic: false }),
        receiptOf(s, { outputsHash: ZeroHash, orchestrator: s.otherOrchestrator.address }),
      ]) {
        expect(await s.dm.receiptHash(receipt)).to.equal(digestOf(s, receipt));
      }
      // The domain binds the proxy and the chain: the same receipt hashes differently elsewhere.
      const onChain = await s.dm.receiptHash(receiptOf(s));
      for (const elsewhere of [
        { chainId: 1n, verifyingContract: s.domain.verifyingContract },
        { chainId: s.domain.chainId, verifyingContract: await s.ticketBroker.getAddress() },
      ]) {
        expect(onChain).to.not.equal("0x" + receiptDigest(receiptOf(s), elsewhere).toString("hex"));
      }
    });

    describe("reverts", () => {
      it("with WrongBond for anything but exactly the bond", async () => {
        const s = await loadFixture(disputeBase);
        const receipt = receiptOf(s);
        for (const value of [0n, s.bond - 1n, s.bond + 1n, s.bond * 2n]) {
          await expect(s.dm.connect(s.broadcaster).openDispute(receipt, sign(s, receipt), EVIDENCE, { value }))
            .to.be.revertedWithCustomError(s.dm, "WrongBond")
            .withArgs(value, s.bond);
        }
      });

      it("with CallerNotBroadcaster for anyone but the receipt's broadcaster, the orchestrator included", async () => {
        const s = await loadFixture(disputeBase);
        const receipt = receiptOf(s);
        for (const caller of [s.stranger, s.orchestrator]) {
          await expect(s.dm.connect(caller).openDispute(receipt, sign(s, receipt), EVIDENCE, { value: s.bond }))
            .to.be.revertedWithCustomError(s.dm, "CallerNotBroadcaster")
            .withArgs(caller.address, s.broadcaster.address);
        }
      });

      it("with InvalidReceiptSignature for a signature by anyone else", async () => {
        const s = await loadFixture(disputeBase);
        const receipt = receiptOf(s);
        for (const signer of [s.otherOrchestrator, s.broadcaster]) {
          await expect(
            s.dm.connect(s.broadcaster).openDispute(receipt, sign(s, receipt, signer), EVIDENCE, { value: s.bond }),
          )
            .to.be.revertedWithCustomError(s.dm, "InvalidReceiptSignature")
            .withArgs(s.orchestrator.address);
        }
      });

      it("with InvalidReceiptSignature for the orchestrator's signature of another receipt", async () => {
        const s = await loadFixture(disputeBase);
        const signed = receiptOf(s, { outputsHash: word("the real outputs") });
        const claimed = receiptOf(s, { outputsHash: word("outputs the broadcaster made up") });
        await expect(s.dm.connect(s.broadcaster).openDispute(claimed, sign(s, signed), EVIDENCE, { value: s.bond }))
          .to.be.revertedWithCustomError(s.dm, "InvalidReceiptSignature")
          .withArgs(s.orchestrator.address);
      });

      it("with InvalidReceiptSignature for a signature under another domain (contract or chain)", async () => {
        const s = await loadFixture(disputeBase);
        const receipt = receiptOf(s);
        const key = getBytes(s.orchestrator.privateKey);
        const domains = [
          { chainId: s.domain.chainId, verifyingContract: await s.ticketBroker.getAddress() },
          { chainId: 1n, verifyingContract: s.domain.verifyingContract },
          { chainId: s.domain.chainId }, // no verifying contract
        ];
        for (const domain of domains) {
          await expect(
            s.dm
              .connect(s.broadcaster)
              .openDispute(receipt, signReceipt(receipt, domain, key), EVIDENCE, { value: s.bond }),
          ).to.be.revertedWithCustomError(s.dm, "InvalidReceiptSignature");
        }
      });

      it("with InvalidReceiptSignature for malformed signatures: high s, wrong v, wrong length, garbage", async () => {
        const s = await loadFixture(disputeBase);
        const receipt = receiptOf(s);
        const good = sign(s, receipt);
        const bytes = getBytes(good);
        const badV = hexlify(concat([bytes.slice(0, 64), new Uint8Array([bytes[64] + 2])]));
        const compact = hexlify(bytes.slice(0, 64));
        const long = hexlify(concat([bytes, new Uint8Array([0])]));
        const garbage = hexlify(new Uint8Array(65).fill(0xab));
        for (const sig of [malleate(good), badV, compact, long, garbage, "0x"]) {
          await expect(s.dm.connect(s.broadcaster).openDispute(receipt, sig, EVIDENCE, { value: s.bond }))
            .to.be.revertedWithCustomError(s.dm, "InvalidReceiptSignature")
            .withArgs(s.orchestrator.address);
        }
        // The untouched signature is accepted.
        await expect(s.dm.connect(s.broadcaster).openDispute(receipt, good, EVIDENCE, { value: s.bond })).to.emit(
          s.dm,
          "DisputeOpened",
        );
      });

      it("with EmptyEvidenceURI for an empty evidence URI", async () => {
        const s = await loadFixture(disputeBase);
        const receipt = receiptOf(s);
        await expect(
          s.dm.connect(s.broadcaster).openDispute(receipt, sign(s, receipt), "", { value: s.bond }),
        ).to.be.revertedWithCustomError(s.dm, "EmptyEvidenceURI");
      });

      it("with InvalidParameter for an evidence URI over 2048 bytes (counted in bytes, not characters)", async () => {
        const s = await loadFixture(disputeBase);
        const receipt = receiptOf(s);
        const sig = sign(s, receipt);
        const open = (uri: string) => s.dm.connect(s.broadcaster).openDispute(receipt, sig, uri, { value: s.bond });
        await expect(open("ipfs://" + "a".repeat(2042)))
          .to.be.revertedWithCustomError(s.dm, "InvalidParameter")
          .withArgs("evidenceURI", 2049n);
        // 1025 two-byte characters: 2050 bytes.
        await expect(open("é".repeat(1025)))
          .to.be.revertedWithCustomError(s.dm, "InvalidParameter")
          .withArgs("evidenceURI", 2050n);
        await expect(open("ipfs://" + "a".repeat(2041))).to.emit(s.dm, "DisputeOpened");
      });

      it("with ReceiptAlreadyDisputed for a receipt disputed before, open or resolved", async () => {
        const s = await loadFixture(disputeBase);
        const receipt = receiptOf(s);
        const { disputeId } = await open(s, receipt);
        await expect(s.dm.connect(s.broadcaster).openDispute(receipt, sign(s, receipt), EVIDENCE, { value: s.bond }))
          .to.be.revertedWithCustomError(s.dm, "ReceiptAlreadyDisputed")
          .withArgs(digestOf(s, receipt), disputeId);
        await mine(1);
        await s.dm.drawCommittee(disputeId);
        await s.dm.resolve(disputeId); // no verifiers: resolvable at once
        await expect(s.dm.connect(s.broadcaster).openDispute(receipt, sign(s, receipt), EVIDENCE, { value: s.bond }))
          .to.be.revertedWithCustomError(s.dm, "ReceiptAlreadyDisputed")
          .withArgs(digestOf(s, receipt), disputeId);
        // Any other field makes another receipt.
        const other = receiptOf(s, { deterministic: false });
        await expect(
          s.dm.connect(s.broadcaster).openDispute(other, sign(s, other), EVIDENCE, { value: s.bond }),
        ).to.emit(s.dm, "DisputeOpened");
      });
    });
  });

  describe("drawCommittee", () => {
    it("reverts with CommitteeNotDue in the opening block", async () => {
      const s = await loadFixture(withVerifiers);
      const receiver = await (await ethers.getContractFactory("RejectingReceiver")).deploy();
      const receipt = receiptOf(s, { broadcaster: await receiver.getAddress() });
      const dm = await s.dm.getAddress();
      const openData = s.dm.interface.encodeFunctionData("openDispute", [receipt, sign(s, receipt), EVIDENCE]);
      const drawData = s.dm.interface.encodeFunctionData("drawCommittee", [1n]);
      const block = BigInt(await ethers.provider.getBlockNumber()) + 1n;
      await expect(receiver.executeBatch([dm, dm], [openData, drawData], [s.bond, 0n], { value: s.bond }))
        .to.be.revertedWithCustomError(s.dm, "CommitteeNotDue")
        .withArgs(1n, block + 1n);
      // Opening alone goes through.
      await receiver.executeBatch([dm], [openData], [s.bond], { value: s.bond });
      expect(await s.dm.disputeCount()).to.equal(1n);
    });

    it("reverts with CommitteeNotDue in the seed block, and draws in the next one", async () => {
      const s = await loadFixture(withVerifiers);
      const { disputeId, mined } = await open(s);
      const seedBlock = BigInt(mined.blockNumber) + 1n;
      // This transaction is mined in the seed block itself.
      await expect(s.dm.drawCommittee(disputeId))
        .to.be.revertedWithCustomError(s.dm, "CommitteeNotDue")
        .withArgs(disputeId, seedBlock);
      expect(BigInt(await ethers.provider.getBlockNumber())).to.equal(seedBlock);
      await expect(s.dm.drawCommittee(disputeId)).to.emit(s.dm, "CommitteeDrawn");
      expect(await s.dm.disputePhase(disputeId)).to.equal(Phase.Commit);
    });

    it("emits CommitteeDrawn with the members, their stakes and the ends of both phases", async () => {
      const s = await loadFixture(withVerifiers);
      const { disputeId } = await open(s);
      await mine(1);
      const mined = await gasOf(s.dm.connect(s.stranger).drawCommittee(disputeId)); // anyone may draw
      const [event] = eventsOf(s.dm, mined, "CommitteeDrawn");
      const drawBlock = BigInt(mined.blockNumber);
      expect(event.disputeId).to.equal(disputeId);
      expect(event.commitEnd).to.equal(drawBlock + COMMIT_PERIOD);
      expect(event.revealEnd).to.equal(drawBlock + COMMIT_PERIOD + REVEAL_PERIOD);
      const [members, weights] = await s.dm.getCommittee(disputeId);
      expect([...event.members]).to.deep.equal([...members]);
      expect([...event.weights]).to.deep.equal([...weights]);
      const info = await s.dm.getDispute(disputeId);
      expect(info.commitEnd).to.equal(drawBlock + COMMIT_PERIOD);
      expect(info.revealEnd).to.equal(drawBlock + COMMIT_PERIOD + REVEAL_PERIOD);
    });

    it("draws distinct members, each weighted by its locked stake, with a duty and a ballot each", async () => {
      const s = await loadFixture(withCommittee);
      expect(s.members).to.have.members(s.verifiers.map((v) => v.address)); // three verifiers, committee of three
      expect(new Set(s.members).size).to.equal(3);
      for (let i = 0; i < s.members.length; i++) {
        const verifier = await s.dm.getVerifier(s.members[i]);
        expect(s.weights[i]).to.equal(verifier.stake);
        expect(verifier.openDuties).to.equal(1n);
        const ballot = await s.dm.getVote(s.disputeId, s.members[i]);
        expect(ballot.member).to.equal(true);
        expect(ballot.weight).to.equal(verifier.stake);
        expect(ballot.commitment).to.equal(ZeroHash);
        expect(ballot.vote).to.equal(BigInt(Vote.None));
      }
      expect(await s.dm.getVote(s.disputeId, s.stranger.address)).to.deep.equal([false, 0n, ZeroHash, 0n]);
    });

    it("never draws the broadcaster or the orchestrator, even when they are verifiers with most of the stake", async () => {
      const s = await loadFixture(withVerifiers);
      await s.token.transfer(s.broadcaster.address, LPT(5000));
      await s.token.connect(s.broadcaster).approve(await s.dm.getAddress(), MaxUint256);
      await s.dm.connect(s.broadcaster).registerVerifier(LPT(5000));
      await s.dm.connect(s.orchestrator).registerVerifier(LPT(5000));
      expect(await s.dm.totalVerifierStake()).to.equal(LPT(10_600));
      for (let seq = 0n; seq < 4n; seq++) {
        const { members } = await openAndDraw(s, receiptOf(s, { seq }));
        expect(members).to.have.members(s.verifiers.map((v) => v.address));
      }
      // Against the other orchestrator, this one may judge (and with half the stake, it almost surely does).
      const { members } = await openAndDraw(s, receiptOf(s, { orchestrator: s.otherOrchestrator.address }));
      expect(members).to.have.length(3);
      expect(members).to.not.include(s.broadcaster.address);
    });

    it("draws fewer members when fewer verifiers are registered", async () => {
      const s = await loadFixture(disputeBase);
      const wallets = verifierWallets("pair", 2);
      await registerVerifiers(s, wallets, [LPT(1), LPT(2)]);
      const { members, weights } = await openAndDraw(s);
      expect(members).to.have.members(wallets.map((w) => w.address));
      expect(weights).to.have.members([LPT(1), LPT(2)]);
    });

    it("draws an empty committee without verifiers: resolvable at once, NoQuorum, the bond back", async () => {
      const s = await loadFixture(disputeBase);
      const { disputeId } = await openAndDraw(s);
      expect(await s.dm.getCommittee(disputeId)).to.deep.equal([[], []]);
      expect(await s.dm.disputePhase(disputeId)).to.equal(Phase.Resolvable);
      const tx = s.dm.connect(s.stranger).resolve(disputeId);
      await expect(tx).to.changeEtherBalances([s.broadcaster, s.dm], [s.bond, -s.bond]);
      await expect(tx).to.emit(s.dm, "DisputeResolved").withArgs(disputeId, Outcome.NoQuorum, 0n, 0n, 0n);
      await expect(tx).to.emit(s.dm, "BondPaid").withArgs(disputeId, s.broadcaster.address, s.bond, true);
      expect(await s.dm.openDisputesAgainst(s.orchestrator.address)).to.equal(0n);
    });

    it("reverts with WrongPhase once drawn", async () => {
      const s = await loadFixture(withCommittee);
      await expect(s.dm.drawCommittee(s.disputeId))
        .to.be.revertedWithCustomError(s.dm, "WrongPhase")
        .withArgs(s.disputeId, Phase.Commit);
    });

    it("reverts with UnknownDispute for an id never opened (and views say so)", async () => {
      const s = await loadFixture(withCommittee);
      for (const id of [0n, 2n]) {
        await expect(s.dm.drawCommittee(id)).to.be.revertedWithCustomError(s.dm, "UnknownDispute").withArgs(id);
        await expect(s.dm.getDispute(id)).to.be.revertedWithCustomError(s.dm, "UnknownDispute").withArgs(id);
        await expect(s.dm.getCommittee(id)).to.be.revertedWithCustomError(s.dm, "UnknownDispute").withArgs(id);
        expect(await s.dm.disputePhase(id)).to.equal(Phase.None);
      }
    });
  });

  describe("commitVote", () => {
    it("records the commitment and emits VoteCommitted", async () => {
      const s = await loadFixture(withCommittee);
      const { a } = byStake(s);
      const commitment = commitmentOf(Vote.Fault, saltOf(s.disputeId, a.address));
      await expect(s.dm.connect(a).commitVote(s.disputeId, commitment))
        .to.emit(s.dm, "VoteCommitted")
        .withArgs(s.disputeId, a.address, commitment);
      expect(await s.dm.getVote(s.disputeId, a.address)).to.deep.equal([true, LPT(100), commitment, 0n]);
    });

    it("accepts a commit in the last block of the commit phase (commitEnd)", async () => {
      const s = await loadFixture(withCommittee);
      await mineToNextTxBlock(s.info.commitEnd);
      await expect(s.dm.connect(s.verifiers[0]).commitVote(s.disputeId, commitmentOf(Vote.Fault, word("x")))).to.emit(
        s.dm,
        "VoteCommitted",
      );
    });

    it("reverts with WrongPhase(Reveal) from commitEnd + 1", async () => {
      const s = await loadFixture(withCommittee);
      await mineToNextTxBlock(s.info.commitEnd + 1n);
      await expect(s.dm.connect(s.verifiers[0]).commitVote(s.disputeId, commitmentOf(Vote.Fault, word("x"))))
        .to.be.revertedWithCustomError(s.dm, "WrongPhase")
        .withArgs(s.disputeId, Phase.Reveal);
    });

    it("reverts with WrongPhase(AwaitingCommittee) before the draw", async () => {
      const s = await loadFixture(withVerifiers);
      const { disputeId } = await open(s);
      await mine(3);
      await expect(s.dm.connect(s.verifiers[0]).commitVote(disputeId, commitmentOf(Vote.Fault, word("x"))))
        .to.be.revertedWithCustomError(s.dm, "WrongPhase")
        .withArgs(disputeId, Phase.AwaitingCommittee);
    });

    it("reverts with WrongPhase(Resolvable) after the reveal phase and WrongPhase(Resolved) after resolution", async () => {
      const s = await loadFixture(withCommittee);
      await pastReveal(s, s.disputeId);
      const commitment = commitmentOf(Vote.Fault, word("x"));
      await expect(s.dm.connect(s.verifiers[0]).commitVote(s.disputeId, commitment))
        .to.be.revertedWithCustomError(s.dm, "WrongPhase")
        .withArgs(s.disputeId, Phase.Resolvable);
      await s.dm.resolve(s.disputeId);
      await expect(s.dm.connect(s.verifiers[0]).commitVote(s.disputeId, commitment))
        .to.be.revertedWithCustomError(s.dm, "WrongPhase")
        .withArgs(s.disputeId, Phase.Resolved);
    });

    it("reverts with NotCommitteeMember for a verifier not drawn, a party or a stranger", async () => {
      const s = await loadFixture(withCommittee);
      const [late] = verifierWallets("late", 1);
      await registerVerifiers(s, [late], [LPT(1000)]); // registered after the draw
      for (const caller of [late, s.broadcaster, s.orchestrator, s.stranger]) {
        await expect(s.dm.connect(caller).commitVote(s.disputeId, commitmentOf(Vote.Fault, word("x"))))
          .to.be.revertedWithCustomError(s.dm, "NotCommitteeMember")
          .withArgs(s.disputeId, caller.address);
      }
    });

    it("reverts with InvalidVote for a zero commitment", async () => {
      const s = await loadFixture(withCommittee);
      await expect(s.dm.connect(s.verifiers[0]).commitVote(s.disputeId, ZeroHash)).to.be.revertedWithCustomError(
        s.dm,
        "InvalidVote",
      );
    });

    it("reverts with AlreadyCommitted for a second commit, even a different one", async () => {
      const s = await loadFixture(withCommittee);
      const { a } = byStake(s);
      await s.dm.connect(a).commitVote(s.disputeId, commitmentOf(Vote.Fault, word("first")));
      await expect(s.dm.connect(a).commitVote(s.disputeId, commitmentOf(Vote.NoFault, word("second"))))
        .to.be.revertedWithCustomError(s.dm, "AlreadyCommitted")
        .withArgs(s.disputeId, a.address);
    });

    it("lets a member commit a copy of another's commitment, which it can never reveal (SaltNotBound)", async () => {
      const s = await loadFixture(withCommittee);
      const { a, b } = byStake(s);
      const salt = saltOf(s.disputeId, a.address);
      const commitment = commitmentOf(Vote.Fault, salt);
      await s.dm.connect(a).commitVote(s.disputeId, commitment);
      await expect(s.dm.connect(b).commitVote(s.disputeId, commitment)).to.emit(s.dm, "VoteCommitted");
      const info = await s.dm.getDispute(s.disputeId);
      await mine(info.commitEnd - BigInt(await ethers.provider.getBlockNumber()));
      await expect(s.dm.connect(a).revealVote(s.disputeId, Vote.Fault, salt)).to.emit(s.dm, "VoteRevealed");
      // b saw a's salt in its reveal, but the salt starts with a's address.
      await expect(s.dm.connect(b).revealVote(s.disputeId, Vote.Fault, salt))
        .to.be.revertedWithCustomError(s.dm, "SaltNotBound")
        .withArgs(s.disputeId, b.address);
    });
  });

  describe("revealVote", () => {
    /** Every member committed: a and c Fault, b NoFault. The chain is at the last block of the commit phase. */
    async function committed() {
      const s = await withCommittee();
      const { a, b, c } = byStake(s);
      const plan = votes([
        [a, Vote.Fault],
        [b, Vote.NoFault],
        [c, Vote.Fault],
      ]);
      for (const [member, v] of plan) {
        await s.dm
          .connect(walletOf(s.verifiers, member))
          .commitVote(s.disputeId, commitmentOf(v, saltOf(s.disputeId, member)));
      }
      await mineToHead(s.info.commitEnd);
      return { ...s, plan };
    }

    const reveal = (s: Committee, wallet: Wallet, v: VoteValue, salt = saltOf(s.disputeId, wallet.address)) =>
      s.dm.connect(wallet).revealVote(s.disputeId, v, salt);

    it("reverts with WrongPhase(Commit) through commitEnd, and reveals from commitEnd + 1", async () => {
      const s = await loadFixture(withCommittee);
      const { a } = byStake(s);
      await s.dm.connect(a).commitVote(s.disputeId, commitmentOf(Vote.Fault, saltOf(s.disputeId, a.address)));
      await mineToNextTxBlock(s.info.commitEnd);
      await expect(reveal(s, a, Vote.Fault))
        .to.be.revertedWithCustomError(s.dm, "WrongPhase")
        .withArgs(s.disputeId, Phase.Commit);
      // (A wallet's failing transaction is refused at gas estimation, in the pending block: nothing is mined.)
      await mineToNextTxBlock(s.info.commitEnd + 1n);
      await expect(reveal(s, a, Vote.Fault))
        .to.emit(s.dm, "VoteRevealed")
        .withArgs(s.disputeId, a.address, Vote.Fault, LPT(100));
    });

    it("counts each vote with the member's weight", async () => {
      const s = await loadFixture(committed);
      const { a, b, c } = byStake(s);
      await reveal(s, a, Vote.Fault);
      await reveal(s, b, Vote.NoFault);
      let info = await s.dm.getDispute(s.disputeId);
      expect([info.faultStake, info.noFaultStake, info.reveals]).to.deep.equal([LPT(100), LPT(200), 2n]);
      expect(info.phase).to.equal(Phase.Reveal);
      expect((await s.dm.getVote(s.disputeId, b.address)).vote).to.equal(BigInt(Vote.NoFault));
      await reveal(s, c, Vote.Fault);
      info = await s.dm.getDispute(s.disputeId);
      expect([info.faultStake, info.noFaultStake, info.reveals]).to.deep.equal([LPT(400), LPT(200), 3n]);
      // Everyone revealed: nothing left to wait for.
      expect(info.phase).to.equal(Phase.Resolvable);
    });

    it("accepts a reveal in the last block of the reveal phase (revealEnd) and none after", async () => {
      const s = await loadFixture(committed);
      const { a, b } = byStake(s);
      await mineToNextTxBlock(s.info.revealEnd);
      await expect(reveal(s, a, Vote.Fault)).to.emit(s.dm, "VoteRevealed");
      await expect(reveal(s, b, Vote.NoFault))
        .to.be.revertedWithCustomError(s.dm, "WrongPhase")
        .withArgs(s.disputeId, Phase.Resolvable);
    });

    it("reverts with RevealMismatch for a wrong salt or another vote than committed", async () => {
      const s = await loadFixture(committed);
      const { a } = byStake(s);
      await mine(1);
      // Bound to a's address, but not the salt it committed with.
      await expect(reveal(s, a, Vote.Fault, saltOf(s.disputeId + 1n, a.address)))
        .to.be.revertedWithCustomError(s.dm, "RevealMismatch")
        .withArgs(s.disputeId, a.address);
      // Not bound to a's address at all.
      await expect(reveal(s, a, Vote.Fault, word("not my salt")))
        .to.be.revertedWithCustomError(s.dm, "SaltNotBound")
        .withArgs(s.disputeId, a.address);
      await expect(reveal(s, a, Vote.NoFault))
        .to.be.revertedWithCustomError(s.dm, "RevealMismatch")
        .withArgs(s.disputeId, a.address);
    });

    it("reverts with InvalidVote for Vote.None, even with its commitment", async () => {
      const s = await withCommittee(); // not the shared fixture: commits None
      const { a } = byStake(s);
      const salt = saltOf(s.disputeId, a.address);
      await s.dm.connect(a).commitVote(s.disputeId, commitmentOf(Vote.None, salt));
      await mineToNextTxBlock(s.info.commitEnd + 1n);
      await expect(reveal(s, a, Vote.None, salt)).to.be.revertedWithCustomError(s.dm, "InvalidVote");
    });

    it("reverts for out-of-range votes", async () => {
      const s = await loadFixture(committed);
      await mine(1);
      const data = s.dm.interface.encodeFunctionData("revealVote", [s.disputeId, 1, ZeroHash]);
      // Vote 3 does not exist: the ABI decoder refuses it.
      const tampered = data.slice(0, 2 + 8 + 64) + toBeHex(3, 32).slice(2) + data.slice(2 + 8 + 128);
      await expect(s.verifiers[0].sendTransaction({ to: await s.dm.getAddress(), data: tampered })).to.be.reverted;
    });

    it("reverts with NotCommitted for a member that did not commit", async () => {
      const s = await withCommittee();
      const { a } = byStake(s);
      await mineToNextTxBlock(s.info.commitEnd + 1n);
      await expect(reveal(s, a, Vote.Fault))
        .to.be.revertedWithCustomError(s.dm, "NotCommitted")
        .withArgs(s.disputeId, a.address);
    });

    it("reverts with AlreadyRevealed the second time", async () => {
      const s = await loadFixture(committed);
      const { a } = byStake(s);
      await reveal(s, a, Vote.Fault);
      await expect(reveal(s, a, Vote.Fault))
        .to.be.revertedWithCustomError(s.dm, "AlreadyRevealed")
        .withArgs(s.disputeId, a.address);
    });

    it("reverts with NotCommitteeMember for anyone else", async () => {
      const s = await loadFixture(committed);
      await mine(1);
      await expect(s.dm.connect(s.stranger).revealVote(s.disputeId, Vote.Fault, ZeroHash))
        .to.be.revertedWithCustomError(s.dm, "NotCommitteeMember")
        .withArgs(s.disputeId, s.stranger.address);
    });

    it("reverts with WrongPhase(Resolved) after resolution", async () => {
      const s = await loadFixture(committed);
      const { a, b, c } = byStake(s);
      await reveal(s, a, Vote.Fault);
      await reveal(s, b, Vote.NoFault);
      await reveal(s, c, Vote.Fault);
      await s.dm.resolve(s.disputeId);
      await expect(reveal(s, a, Vote.Fault))
        .to.be.revertedWithCustomError(s.dm, "WrongPhase")
        .withArgs(s.disputeId, Phase.Resolved);
    });
  });

  describe("resolve", () => {
    it("reverts with WrongPhase while awaiting the committee, in the commit phase and in the reveal phase", async () => {
      const s = await loadFixture(withVerifiers);
      const { a, b, c } = byStake(s);
      const { disputeId } = await open(s);
      await expect(s.dm.resolve(disputeId))
        .to.be.revertedWithCustomError(s.dm, "WrongPhase")
        .withArgs(disputeId, Phase.AwaitingCommittee);
      await s.dm.drawCommittee(disputeId);
      await expect(s.dm.resolve(disputeId))
        .to.be.revertedWithCustomError(s.dm, "WrongPhase")
        .withArgs(disputeId, Phase.Commit);
      // Two of three reveal: the third may still reveal until revealEnd.
      await vote(
        s,
        disputeId,
        s.verifiers,
        votes([
          [a, Vote.Fault],
          [b, Vote.Fault],
          [c, Vote.Fault],
        ]),
        new Set([a.address, b.address]),
      );
      const { revealEnd } = await s.dm.getDispute(disputeId);
      await mineToNextTxBlock(revealEnd);
      await expect(s.dm.resolve(disputeId))
        .to.be.revertedWithCustomError(s.dm, "WrongPhase")
        .withArgs(disputeId, Phase.Reveal);
      // From revealEnd + 1, anyone.
      await ensureRoundInitialized(s);
      await expect(s.dm.connect(s.stranger).resolve(disputeId))
        .to.emit(s.dm, "DisputeResolved")
        .withArgs(disputeId, Outcome.Fault, LPT(300), 0n, 2n);
      await expect(s.dm.resolve(disputeId))
        .to.be.revertedWithCustomError(s.dm, "WrongPhase")
        .withArgs(disputeId, Phase.Resolved);
      expect(await s.dm.disputePhase(disputeId)).to.equal(Phase.Resolved);
      expect((await s.dm.getDispute(disputeId)).outcome).to.equal(Outcome.Fault);
    });

    it("resolves before revealEnd once every member revealed", async () => {
      const s = await loadFixture(withCommittee);
      const { a, b, c } = byStake(s);
      await vote(
        s,
        s.disputeId,
        s.verifiers,
        votes([
          [a, Vote.NoFault],
          [b, Vote.NoFault],
          [c, Vote.NoFault],
        ]),
      );
      expect(BigInt(await ethers.provider.getBlockNumber())).to.be.lessThan(s.info.revealEnd);
      expect(await s.dm.resolve.staticCall(s.disputeId)).to.equal(Outcome.NoFault);
      await expect(s.dm.resolve(s.disputeId)).to.emit(s.dm, "DisputeResolved");
    });

    it("reverts with UnknownDispute for an id never opened", async () => {
      const s = await loadFixture(withCommittee);
      await expect(s.dm.resolve(9n)).to.be.revertedWithCustomError(s.dm, "UnknownDispute").withArgs(9n);
    });

    describe("Fault (a 100 and c 300 vote Fault, b 200 votes NoFault)", () => {
      async function faultVoted() {
        const s = await withCommittee();
        const { a, b, c } = byStake(s);
        await vote(
          s,
          s.disputeId,
          s.verifiers,
          votes([
            [a, Vote.Fault],
            [b, Vote.NoFault],
            [c, Vote.Fault],
          ]),
        );
        // Every member revealed, still within the round: resolvable at once.
        expect(await s.rounds.currentRoundInitialized()).to.equal(true);
        return s;
      }
      const penalty = (FAULT_SLASH * ORCHESTRATOR_STAKE) / PERC; // 500 LPT
      const finderReward = (penalty * FINDER_FEE) / PERC; // 250 LPT

      it("emits DisputeResolved with the stakes and returns Fault", async () => {
        const s = await loadFixture(faultVoted);
        expect(await s.dm.resolve.staticCall(s.disputeId)).to.equal(Outcome.Fault);
        await expect(s.dm.connect(s.stranger).resolve(s.disputeId))
          .to.emit(s.dm, "DisputeResolved")
          .withArgs(s.disputeId, Outcome.Fault, LPT(400), LPT(200), 3n);
      });

      it("slashes faultSlashAmount of the orchestrator's own stake through the BondingManager", async () => {
        const s = await loadFixture(faultVoted);
        expect(penalty).to.equal(LPT(500));
        await expect(s.dm.connect(s.stranger).resolve(s.disputeId))
          .to.emit(s.bm, "TranscoderSlashed")
          .withArgs(s.orchestrator.address, s.broadcaster.address, penalty, finderReward);
        expect((await s.bm.getDelegator(s.orchestrator.address)).bondedAmount).to.equal(ORCHESTRATOR_STAKE - penalty);
        // The delegator's stake is untouched; only the orchestrator's own part is taken.
        expect(await s.bm.transcoderTotalStake(s.orchestrator.address)).to.equal(
          ORCHESTRATOR_STAKE + DELEGATED_STAKE - penalty,
        );
        expect((await s.bm.getDelegator(s.delegator.address)).bondedAmount).to.equal(DELEGATED_STAKE);
        expect(await s.bm.getTotalBonded()).to.equal(ORCHESTRATOR_STAKE * 2n + DELEGATED_STAKE - penalty);
      });

      it("pays the broadcaster the finder fee in LPT and burns the rest of the penalty", async () => {
        const s = await loadFixture(faultVoted);
        const supply = await s.token.totalSupply();
        await expect(s.dm.connect(s.stranger).resolve(s.disputeId)).to.changeTokenBalances(
          s.token,
          [s.broadcaster, s.minter, s.dm],
          [finderReward, -penalty, 0n], // b's penalty goes to a and c in full: nothing of it is burned
        );
        expect(await s.token.totalSupply()).to.equal(supply - (penalty - finderReward));
        expect(await s.token.balanceOf(s.broadcaster.address)).to.equal(LPT(250));
      });

      it("returns the bond to the broadcaster", async () => {
        const s = await loadFixture(faultVoted);
        const tx = s.dm.connect(s.stranger).resolve(s.disputeId);
        await expect(tx).to.changeEtherBalances([s.broadcaster, s.orchestrator, s.dm], [s.bond, 0n, -s.bond]);
        await expect(tx).to.emit(s.dm, "BondPaid").withArgs(s.disputeId, s.broadcaster.address, s.bond, true);
      });

      it("removes the orchestrator from the pool", async () => {
        const s = await loadFixture(faultVoted);
        expect(await s.bm.isInPool(s.orchestrator.address)).to.equal(true);
        await s.dm.resolve(s.disputeId);
        expect(await s.bm.isInPool(s.orchestrator.address)).to.equal(false);
        expect(await s.bm.isRegisteredTranscoder(s.orchestrator.address)).to.equal(false);
        await startNextRound(s.rounds);
        expect(await s.bm.isActiveTranscoder(s.orchestrator.address)).to.equal(false);
        expect(await s.bm.isActiveTranscoder(s.otherOrchestrator.address)).to.equal(true);
      });

      it("takes verifierSlashAmount from the minority voter and shares it by weight among the majority", async () => {
        const s = await loadFixture(faultVoted);
        const { a, b, c } = byStake(s);
        const tx = s.dm.resolve(s.disputeId);
        // b loses 10% of 200 LPT; a and c (weights 100 and 300) get 5 and 15.
        await expect(tx).to.emit(s.dm, "VerifierPenalized").withArgs(s.disputeId, b.address, LPT(20));
        await expect(tx).to.emit(s.dm, "VerifierRewarded").withArgs(s.disputeId, a.address, LPT(5));
        await expect(tx).to.emit(s.dm, "VerifierRewarded").withArgs(s.disputeId, c.address, LPT(15));
        expect((await s.dm.getVerifier(a.address)).stake).to.equal(LPT(105));
        expect((await s.dm.getVerifier(b.address)).stake).to.equal(LPT(180));
        expect((await s.dm.getVerifier(c.address)).stake).to.equal(LPT(315));
        expect(await s.dm.totalVerifierStake()).to.equal(LPT(600));
        expect(await s.token.balanceOf(await s.dm.getAddress())).to.equal(LPT(600));
      });

      it("clears the members' duties and the open dispute count", async () => {
        const s = await loadFixture(faultVoted);
        await s.dm.resolve(s.disputeId);
        for (const v of s.verifiers) expect((await s.dm.getVerifier(v.address)).openDuties).to.equal(0n);
        expect(await s.dm.openDisputesAgainst(s.orchestrator.address)).to.equal(0n);
        for (const v of s.verifiers) await expect(s.dm.connect(v).deregisterVerifier()).to.not.be.reverted;
        expect(await s.dm.totalVerifierStake()).to.equal(0n);
      });
    });

    describe("NoFault (a 100 votes Fault, b 200 and c 300 vote NoFault)", () => {
      async function noFaultVoted() {
        const s = await withCommittee();
        const { a, b, c } = byStake(s);
        await vote(
          s,
          s.disputeId,
          s.verifiers,
          votes([
            [a, Vote.Fault],
            [b, Vote.NoFault],
            [c, Vote.NoFault],
          ]),
        );
        return s;
      }

      it("gives the bond to the orchestrator and leaves its stake alone (griefing costs the challenger)", async () => {
        const s = await loadFixture(noFaultVoted);
        const supply = await s.token.totalSupply();
        const tx = s.dm.connect(s.stranger).resolve(s.disputeId);
        await expect(tx)
          .to.emit(s.dm, "DisputeResolved")
          .withArgs(s.disputeId, Outcome.NoFault, LPT(100), LPT(500), 3n);
        await expect(tx).to.changeEtherBalances([s.orchestrator, s.broadcaster, s.dm], [s.bond, 0n, -s.bond]);
        await expect(tx).to.emit(s.dm, "BondPaid").withArgs(s.disputeId, s.orchestrator.address, s.bond, true);
        await expect(tx).to.not.emit(s.bm, "TranscoderSlashed");
        expect((await s.bm.getDelegator(s.orchestrator.address)).bondedAmount).to.equal(ORCHESTRATOR_STAKE);
        expect(await s.bm.isInPool(s.orchestrator.address)).to.equal(true);
        expect(await s.token.totalSupply()).to.equal(supply);
      });

      it("penalizes the Fault voter for the majority", async () => {
        const s = await loadFixture(noFaultVoted);
        const { a, b, c } = byStake(s);
        const tx = s.dm.resolve(s.disputeId);
        await expect(tx).to.emit(s.dm, "VerifierPenalized").withArgs(s.disputeId, a.address, LPT(10));
        await expect(tx).to.emit(s.dm, "VerifierRewarded").withArgs(s.disputeId, b.address, LPT(4));
        await expect(tx).to.emit(s.dm, "VerifierRewarded").withArgs(s.disputeId, c.address, LPT(6));
        expect((await s.dm.getVerifier(a.address)).stake).to.equal(LPT(90));
        expect((await s.dm.getVerifier(b.address)).stake).to.equal(LPT(204));
        expect((await s.dm.getVerifier(c.address)).stake).to.equal(LPT(306));
      });

      it("needs no initialized round (nothing is slashed)", async () => {
        const s = await loadFixture(noFaultVoted);
        await mineToHead((await s.rounds.currentRoundStartBlock()) + 20n);
        expect(await s.rounds.currentRoundInitialized()).to.equal(false);
        await expect(s.dm.resolve(s.disputeId)).to.emit(s.dm, "DisputeResolved");
      });

      it("lets the orchestrator unbond afterwards", async () => {
        const s = await loadFixture(noFaultVoted);
        await expect(s.bm.connect(s.orchestrator).unbond(LPT(1)))
          .to.be.revertedWithCustomError(s.bm, "TranscoderUnderDispute")
          .withArgs(s.orchestrator.address, 1n);
        await s.dm.resolve(s.disputeId);
        await expect(s.bm.connect(s.orchestrator).unbond(LPT(1))).to.emit(s.bm, "Unbonded");
      });
    });

    describe("NoQuorum", () => {
      it("with fewer reveals than the quorum: the bond back, the non-revealers' penalties to the revealer", async () => {
        const s = await loadFixture(withCommittee);
        const { a, b, c } = byStake(s);
        // a commits but does not reveal, b does not commit, c reveals Fault: 1 reveal, quorum 2.
        await vote(
          s,
          s.disputeId,
          s.verifiers,
          votes([
            [a, Vote.Fault],
            [c, Vote.Fault],
          ]),
          new Set([c.address]),
        );
        await pastReveal(s, s.disputeId);
        const supply = await s.token.totalSupply();
        const tx = s.dm.resolve(s.disputeId);
        await expect(tx).to.emit(s.dm, "DisputeResolved").withArgs(s.disputeId, Outcome.NoQuorum, LPT(300), 0n, 1n);
        await expect(tx).to.changeEtherBalances([s.broadcaster, s.dm], [s.bond, -s.bond]);
        await expect(tx).to.not.emit(s.bm, "TranscoderSlashed");
        await expect(tx).to.emit(s.dm, "VerifierPenalized").withArgs(s.disputeId, a.address, LPT(10));
        await expect(tx).to.emit(s.dm, "VerifierPenalized").withArgs(s.disputeId, b.address, LPT(20));
        await expect(tx).to.emit(s.dm, "VerifierRewarded").withArgs(s.disputeId, c.address, LPT(30));
        expect((await s.dm.getVerifier(c.address)).stake).to.equal(LPT(330));
        expect(await s.token.totalSupply()).to.equal(supply);
        expect((await s.bm.getDelegator(s.orchestrator.address)).bondedAmount).to.equal(ORCHESTRATOR_STAKE);
      });

      it("with a tie of revealed stake: the bond back, nobody penalized", async () => {
        const s = await loadFixture(withCommittee);
        const { a, b, c } = byStake(s);
        await vote(
          s,
          s.disputeId,
          s.verifiers,
          votes([
            [a, Vote.Fault],
            [b, Vote.Fault],
            [c, Vote.NoFault],
          ]),
        );
        const tx = s.dm.resolve(s.disputeId);
        await expect(tx)
          .to.emit(s.dm, "DisputeResolved")
          .withArgs(s.disputeId, Outcome.NoQuorum, LPT(300), LPT(300), 3n);
        await expect(tx).to.changeEtherBalances([s.broadcaster, s.orchestrator], [s.bond, 0n]);
        await expect(tx).to.not.emit(s.dm, "VerifierPenalized");
        await expect(tx).to.not.emit(s.dm, "VerifierRewarded");
        expect(await s.dm.totalVerifierStake()).to.equal(LPT(600));
      });

      it("with a tie and a non-revealer: the penalty is shared by all revealers", async () => {
        const s = await disputeBase();
        const wallets = verifierWallets("tie", 3);
        await registerVerifiers(s, wallets, [LPT(100), LPT(100), LPT(500)]);
        const { disputeId } = await openAndDraw(s);
        await vote(
          s,
          disputeId,
          wallets,
          votes([
            [wallets[0], Vote.Fault],
            [wallets[1], Vote.NoFault],
          ]),
        );
        await pastReveal(s, disputeId);
        const tx = s.dm.resolve(disputeId);
        await expect(tx).to.emit(s.dm, "DisputeResolved").withArgs(disputeId, Outcome.NoQuorum, LPT(100), LPT(100), 2n);
        await expect(tx).to.emit(s.dm, "VerifierPenalized").withArgs(disputeId, wallets[2].address, LPT(50));
        await expect(tx).to.emit(s.dm, "VerifierRewarded").withArgs(disputeId, wallets[0].address, LPT(25));
        await expect(tx).to.emit(s.dm, "VerifierRewarded").withArgs(disputeId, wallets[1].address, LPT(25));
      });

      it("when nobody reveals: every member penalized and the penalties burned", async () => {
        const s = await loadFixture(withCommittee);
        const { a, b, c } = byStake(s);
        await pastReveal(s, s.disputeId);
        const supply = await s.token.totalSupply();
        const tx = s.dm.resolve(s.disputeId);
        await expect(tx).to.emit(s.dm, "DisputeResolved").withArgs(s.disputeId, Outcome.NoQuorum, 0n, 0n, 0n);
        await expect(tx).to.emit(s.dm, "VerifierPenalized").withArgs(s.disputeId, a.address, LPT(10));
        await expect(tx).to.emit(s.dm, "VerifierPenalized").withArgs(s.disputeId, b.address, LPT(20));
        await expect(tx).to.emit(s.dm, "VerifierPenalized").withArgs(s.disputeId, c.address, LPT(30));
        await expect(tx).to.not.emit(s.dm, "VerifierRewarded");
        await expect(tx).to.changeTokenBalance(s.token, s.dm, -LPT(60));
        expect(await s.token.totalSupply()).to.equal(supply - LPT(60));
        expect(await s.dm.totalVerifierStake()).to.equal(LPT(540));
      });
    });

    it("burns the rounding remainder of the shares", async () => {
      const s = await disputeBase();
      const wallets = verifierWallets("odd", 3);
      // The non-revealer loses 1 LPT; weights 1 and 2 LPT share it as 1/3 and 2/3, floored: 1 wei is left over.
      await registerVerifiers(s, wallets, [LPT(10), LPT(1), LPT(2)]);
      await startNextRound(s.rounds);
      const { disputeId } = await openAndDraw(s);
      await vote(
        s,
        disputeId,
        wallets,
        votes([
          [wallets[1], Vote.NoFault],
          [wallets[2], Vote.NoFault],
        ]),
      );
      await pastReveal(s, disputeId);
      const supply = await s.token.totalSupply();
      const third = LPT(1) / 3n;
      const twoThirds = (LPT(1) * 2n) / 3n;
      expect(LPT(1) - third - twoThirds).to.equal(1n);
      const tx = s.dm.resolve(disputeId);
      await expect(tx).to.emit(s.dm, "VerifierPenalized").withArgs(disputeId, wallets[0].address, LPT(1));
      await expect(tx).to.emit(s.dm, "VerifierRewarded").withArgs(disputeId, wallets[1].address, third);
      await expect(tx).to.emit(s.dm, "VerifierRewarded").withArgs(disputeId, wallets[2].address, twoThirds);
      expect(await s.token.totalSupply()).to.equal(supply - 1n);
      expect(await s.dm.totalVerifierStake()).to.equal(LPT(13) - 1n);
      expect(await s.token.balanceOf(await s.dm.getAddress())).to.equal(LPT(13) - 1n);
    });

    it("penalizes a non-revealer by its stake at resolution, not its weight at the draw", async () => {
      const s = await loadFixture(withCommittee);
      const { a, b, c } = byStake(s);
      await s.token.transfer(a.address, LPT(100));
      await s.dm.connect(a).registerVerifier(LPT(100)); // a now holds 200 LPT; its weight stays 100
      await vote(
        s,
        s.disputeId,
        s.verifiers,
        votes([
          [b, Vote.Fault],
          [c, Vote.Fault],
        ]),
      );
      await pastReveal(s, s.disputeId);
      await ensureRoundInitialized(s);
      const tx = s.dm.resolve(s.disputeId);
      await expect(tx).to.emit(s.dm, "VerifierPenalized").withArgs(s.disputeId, a.address, LPT(20));
      await expect(tx).to.emit(s.dm, "VerifierRewarded").withArgs(s.disputeId, b.address, LPT(8));
      await expect(tx).to.emit(s.dm, "VerifierRewarded").withArgs(s.disputeId, c.address, LPT(12));
    });

    it("reverts while the round is not initialized when it must slash, and resolves once it is", async () => {
      const s = await loadFixture(withCommittee);
      const { a, b, c } = byStake(s);
      await vote(
        s,
        s.disputeId,
        s.verifiers,
        votes([
          [a, Vote.Fault],
          [b, Vote.Fault],
          [c, Vote.Fault],
        ]),
        new Set([a.address, b.address]),
      );
      await pastReveal(s, s.disputeId);
      expect(await s.rounds.currentRoundInitialized()).to.equal(false);
      await expect(s.dm.resolve(s.disputeId))
        .to.be.revertedWithCustomError(s.bm, "CurrentRoundNotInitialized")
        .withArgs(s.round + 1n);
      await s.rounds.initializeRound();
      const tx = s.dm.resolve(s.disputeId);
      await expect(tx).to.emit(s.dm, "DisputeResolved").withArgs(s.disputeId, Outcome.Fault, LPT(300), 0n, 2n);
      // c committed and did not reveal: 30 LPT shared by a (100) and b (200).
      await expect(tx).to.emit(s.dm, "VerifierPenalized").withArgs(s.disputeId, c.address, LPT(30));
      await expect(tx).to.emit(s.dm, "VerifierRewarded").withArgs(s.disputeId, a.address, LPT(10));
      await expect(tx).to.emit(s.dm, "VerifierRewarded").withArgs(s.disputeId, b.address, LPT(20));
      await expect(tx).to.emit(s.bm, "TranscoderSlashed");
    });

    describe("a broadcaster contract that refuses ETH", () => {
      async function refusing() {
        const s = await disputeBase();
        const receiver = await (await ethers.getContractFactory("RejectingReceiver")).deploy();
        const receiverAddress = await receiver.getAddress();
        const receipt = receiptOf(s, { broadcaster: receiverAddress });
        const dm = await s.dm.getAddress();
        const openData = s.dm.interface.encodeFunctionData("openDispute", [receipt, sign(s, receipt), EVIDENCE]);
        await receiver.execute(dm, openData, { value: s.bond });
        await mine(1);
        await s.dm.drawCommittee(1n); // no verifiers: NoQuorum, the bond goes back to the receiver
        const withdraw = () => receiver.execute(dm, s.dm.interface.encodeFunctionData("withdrawPayout"));
        return { ...s, receiver, receiverAddress, withdraw };
      }

      it("credits the bond to payouts instead of failing the resolution (BondPaid pushed=false)", async () => {
        const s = await loadFixture(refusing);
        const tx = s.dm.resolve(1n);
        await expect(tx).to.emit(s.dm, "BondPaid").withArgs(1n, s.receiverAddress, s.bond, false);
        await expect(tx).to.changeEtherBalances([s.receiver, s.dm], [0n, 0n]);
        expect(await s.dm.payouts(s.receiverAddress)).to.equal(s.bond);
        expect(await s.dm.disputePhase(1n)).to.equal(Phase.Resolved);
      });

      it("keeps the payout while the recipient still refuses (PayoutFailed)", async () => {
        const s = await loadFixture(refusing);
        await s.dm.resolve(1n);
        await expect(s.withdraw())
          .to.be.revertedWithCustomError(s.dm, "PayoutFailed")
          .withArgs(s.receiverAddress, s.bond);
        expect(await s.dm.payouts(s.receiverAddress)).to.equal(s.bond);
      });

      it("pays out once through withdrawPayout, then NothingToWithdraw", async () => {
        const s = await loadFixture(refusing);
        await s.dm.resolve(1n);
        await s.receiver.setAcceptsEther(true);
        const tx = s.withdraw();
        await expect(tx).to.emit(s.dm, "PayoutWithdrawn").withArgs(s.receiverAddress, s.bond);
        await expect(tx).to.changeEtherBalances([s.receiver, s.dm], [s.bond, -s.bond]);
        expect(await s.dm.payouts(s.receiverAddress)).to.equal(0n);
        await expect(s.withdraw()).to.be.revertedWithCustomError(s.dm, "NothingToWithdraw").withArgs(s.receiverAddress);
      });

      it("pushes the bond when the contract accepts ETH", async () => {
        const s = await loadFixture(refusing);
        await s.receiver.setAcceptsEther(true);
        const tx = s.dm.resolve(1n);
        await expect(tx).to.emit(s.dm, "BondPaid").withArgs(1n, s.receiverAddress, s.bond, true);
        await expect(tx).to.changeEtherBalances([s.receiver, s.dm], [s.bond, -s.bond]);
      });

      it("reverts withdrawPayout with NothingToWithdraw for an account owed nothing", async () => {
        const s = await loadFixture(refusing);
        await expect(s.dm.connect(s.stranger).withdrawPayout())
          .to.be.revertedWithCustomError(s.dm, "NothingToWithdraw")
          .withArgs(s.stranger.address);
      });
    });
  });

  describe("unbonding under dispute", () => {
    it("keeps the disputed orchestrator from unbonding (TranscoderUnderDispute) while its delegators may", async () => {
      const s = await loadFixture(disputeBase);
      await open(s, receiptOf(s, { seq: 1n }));
      await expect(s.bm.connect(s.orchestrator).unbond(LPT(1)))
        .to.be.revertedWithCustomError(s.bm, "TranscoderUnderDispute")
        .withArgs(s.orchestrator.address, 1n);
      await open(s, receiptOf(s, { seq: 2n }));
      await expect(s.bm.connect(s.orchestrator).unbond(ORCHESTRATOR_STAKE))
        .to.be.revertedWithCustomError(s.bm, "TranscoderUnderDispute")
        .withArgs(s.orchestrator.address, 2n);
      await expect(s.bm.connect(s.delegator).unbond(DELEGATED_STAKE))
        .to.emit(s.bm, "Unbonded")
        .withArgs(s.orchestrator.address, s.delegator.address, 0n, DELEGATED_STAKE, s.round + 2n);
      // Another orchestrator is not affected.
      await expect(s.bm.connect(s.otherOrchestrator).unbond(LPT(1))).to.emit(s.bm, "Unbonded");
    });

    it("frees the orchestrator once every dispute against it is resolved", async () => {
      const s = await loadFixture(disputeBase);
      const first = await openAndDraw(s, receiptOf(s, { seq: 1n }));
      const second = await openAndDraw(s, receiptOf(s, { seq: 2n }));
      await s.dm.resolve(first.disputeId); // no verifiers: NoQuorum at once
      await expect(s.bm.connect(s.orchestrator).unbond(LPT(1)))
        .to.be.revertedWithCustomError(s.bm, "TranscoderUnderDispute")
        .withArgs(s.orchestrator.address, 1n);
      await s.dm.resolve(second.disputeId);
      await expect(s.bm.connect(s.orchestrator).unbond(ORCHESTRATOR_STAKE)).to.emit(s.bm, "Unbonded");
    });

    // Regression: the unbond check used to apply only while the orchestrator was its own delegate. After a first slash
    // unregistered it, bond(0, other) and a full unbond let a second open dispute slash nothing.
    it("keeps an orchestrator with an open dispute from leaving after a first slash", async () => {
      const s = await loadFixture(disputeBase);
      await open(s, receiptOf(s, { seq: 1n }));
      const signedA = receiptOf(s, { seq: 9n, outputsHash: word("outputs-a") });
      const signedB = receiptOf(s, { seq: 9n, outputsHash: word("outputs-b") });
      await s.dm.connect(s.stranger).proveEquivocation(signedA, sign(s, signedA), signedB, sign(s, signedB));
      const remaining = ORCHESTRATOR_STAKE / 2n;
      expect(await s.dm.openDisputesAgainst(s.orchestrator.address)).to.equal(1n);
      const moved = await s.bm
        .connect(s.orchestrator)
        .bond(0n, s.otherOrchestrator.address)
        .then(
          () => true,
          () => false,
        );
      if (moved) {
        await expect(s.bm.connect(s.orchestrator).unbond(remaining))
          .to.be.revertedWithCustomError(s.bm, "TranscoderUnderDispute")
          .withArgs(s.orchestrator.address, 1n);
      }
      expect((await s.bm.getDelegator(s.orchestrator.address)).bondedAmount).to.equal(remaining);
    });
  });

  describe("proveEquivocation", () => {
    const segment = (
      s: Awaited<ReturnType<typeof disputeBase>>,
      outputs: string,
      extra: Partial<TranscodeReceipt> = {},
    ) => receiptOf(s, { seq: 42n, outputsHash: word(outputs), ...extra });
    const penalty = (ORCHESTRATOR_STAKE * FAULT_SLASH) / PERC;
    const finderReward = (penalty * FINDER_FEE) / PERC;
    const keyOf = (r: TranscodeReceipt) =>
      keccak256(
        AbiCoder.defaultAbiCoder().encode(
          ["address", "bytes32", "uint256", "bytes32", "bytes32"],
          [r.orchestrator, r.streamId, r.seq, r.sourceHash, r.profilesHash],
        ),
      );

    it("slashes the orchestrator and pays the caller the finder fee", async () => {
      const s = await loadFixture(disputeBase);
      const a = segment(s, "outputs-a");
      const b = segment(s, "outputs-b");
      const supply = await s.token.totalSupply();
      const tx = s.dm.connect(s.stranger).proveEquivocation(a, sign(s, a), b, sign(s, b));
      await expect(tx)
        .to.emit(s.dm, "EquivocationProven")
        .withArgs(s.orchestrator.address, s.stranger.address, a.streamId, 42n, digestOf(s, a), digestOf(s, b));
      await expect(tx)
        .to.emit(s.bm, "TranscoderSlashed")
        .withArgs(s.orchestrator.address, s.stranger.address, penalty, finderReward);
      await expect(tx).to.changeTokenBalances(s.token, [s.stranger, s.minter], [finderReward, -penalty]);
      expect(await s.token.totalSupply()).to.equal(supply - (penalty - finderReward));
      expect((await s.bm.getDelegator(s.orchestrator.address)).bondedAmount).to.equal(ORCHESTRATOR_STAKE - penalty);
      expect(await s.bm.isInPool(s.orchestrator.address)).to.equal(false);
    });

    it("works for receipts to different broadcasters", async () => {
      const s = await loadFixture(disputeBase);
      const a = segment(s, "outputs-a");
      const b = segment(s, "outputs-b", { broadcaster: s.stranger.address });
      await expect(s.dm.connect(s.broadcaster).proveEquivocation(a, sign(s, a), b, sign(s, b))).to.emit(
        s.dm,
        "EquivocationProven",
      );
    });

    it("reverts with EquivocationAlreadyProven for the same segment again, whatever the outputs", async () => {
      const s = await loadFixture(disputeBase);
      const a = segment(s, "outputs-a");
      const b = segment(s, "outputs-b");
      const c = segment(s, "outputs-c");
      await s.dm.proveEquivocation(a, sign(s, a), b, sign(s, b));
      for (const [x, y] of [
        [a, b],
        [b, a],
        [a, c],
      ]) {
        await expect(s.dm.proveEquivocation(x, sign(s, x), y, sign(s, y)))
          .to.be.revertedWithCustomError(s.dm, "EquivocationAlreadyProven")
          .withArgs(keyOf(a));
      }
      // Another segment is another proof.
      const d = segment(s, "outputs-d", { seq: 43n });
      const e = segment(s, "outputs-e", { seq: 43n });
      await expect(s.dm.proveEquivocation(d, sign(s, d), e, sign(s, e))).to.emit(s.dm, "EquivocationProven");
    });

    it('reverts with NotEquivocation("same outputs") for two receipts with the same outputs', async () => {
      const s = await loadFixture(disputeBase);
      const a = segment(s, "outputs-a");
      const b = segment(s, "outputs-a", { broadcaster: s.stranger.address });
      await expect(s.dm.proveEquivocation(a, sign(s, a), b, sign(s, b)))
        .to.be.revertedWithCustomError(s.dm, "NotEquivocation")
        .withArgs("same outputs");
      await expect(s.dm.proveEquivocation(a, sign(s, a), a, sign(s, a)))
        .to.be.revertedWithCustomError(s.dm, "NotEquivocation")
        .withArgs("same outputs");
    });

    for (const [field, value] of [
      ["seq", 43n],
      ["streamId", word("stream-2")],
      ["sourceHash", word("another source")],
      ["profilesHash", word("another ladder")],
    ] as const) {
      it(`reverts with NotEquivocation("different segments") when ${field} differs`, async () => {
        const s = await loadFixture(disputeBase);
        const a = segment(s, "outputs-a");
        const b = segment(s, "outputs-b", { [field]: value });
        await expect(s.dm.proveEquivocation(a, sign(s, a), b, sign(s, b)))
          .to.be.revertedWithCustomError(s.dm, "NotEquivocation")
          .withArgs("different segments");
      });
    }

    it('reverts with NotEquivocation("not deterministic") unless both receipts are deterministic', async () => {
      const s = await loadFixture(disputeBase);
      const a = segment(s, "outputs-a");
      const b = segment(s, "outputs-b", { deterministic: false });
      const c = segment(s, "outputs-c", { deterministic: false });
      for (const [x, y] of [
        [a, b],
        [b, a],
        [b, c],
      ]) {
        await expect(s.dm.proveEquivocation(x, sign(s, x), y, sign(s, y)))
          .to.be.revertedWithCustomError(s.dm, "NotEquivocation")
          .withArgs("not deterministic");
      }
    });

    it('reverts with NotEquivocation("orchestrators differ") for receipts of two orchestrators', async () => {
      const s = await loadFixture(disputeBase);
      const a = segment(s, "outputs-a");
      const b = segment(s, "outputs-b", { orchestrator: s.otherOrchestrator.address });
      await expect(s.dm.proveEquivocation(a, sign(s, a), b, sign(s, b)))
        .to.be.revertedWithCustomError(s.dm, "NotEquivocation")
        .withArgs("orchestrators differ");
    });

    it("reverts with InvalidReceiptSignature when either signature is not the orchestrator's", async () => {
      const s = await loadFixture(disputeBase);
      const a = segment(s, "outputs-a");
      const b = segment(s, "outputs-b");
      const forgedB = sign(s, b, s.otherOrchestrator);
      const forgedA = sign(s, a, s.broadcaster);
      for (const [sigA, sigB] of [
        [sign(s, a), forgedB],
        [forgedA, sign(s, b)],
        [sign(s, a), sign(s, a)], // A's signature offered for B
        [sign(s, a), malleate(sign(s, b))],
      ]) {
        await expect(s.dm.proveEquivocation(a, sigA, b, sigB))
          .to.be.revertedWithCustomError(s.dm, "InvalidReceiptSignature")
          .withArgs(s.orchestrator.address);
      }
      expect((await s.bm.getDelegator(s.orchestrator.address)).bondedAmount).to.equal(ORCHESTRATOR_STAKE);
    });

    it("reverts while the round is not initialized", async () => {
      const s = await loadFixture(disputeBase);
      await mineToNextTxBlock((await s.rounds.currentRoundStartBlock()) + 20n);
      const a = segment(s, "outputs-a");
      const b = segment(s, "outputs-b");
      await expect(s.dm.proveEquivocation(a, sign(s, a), b, sign(s, b))).to.be.revertedWithCustomError(
        s.bm,
        "CurrentRoundNotInitialized",
      );
    });
  });

  describe("governance", () => {
    const setters = [
      { fn: "setDisputeBond", args: [ethers.parseEther("0.5")], params: ["disputeBond"] },
      { fn: "setVotingPeriods", args: [30n, 40n], params: ["commitPeriod", "revealPeriod"] },
      { fn: "setCommittee", args: [5n, 3n], params: ["committeeSize", "quorum"] },
      {
        fn: "setSlashAmounts",
        args: [250_000n, 200_000n, 50_000n],
        params: ["faultSlashAmount", "finderFee", "verifierSlashAmount"],
      },
      { fn: "setVerifierUnlockPeriod", args: [9n], params: ["verifierUnlockPeriod"] },
    ] as const;

    for (const { fn, args, params } of setters) {
      it(`${fn} is for the Controller owner only (CallerNotControllerOwner)`, async () => {
        const s = await loadFixture(disputeBase);
        await expect(s.dm.connect(s.stranger).getFunction(fn)(...args))
          .to.be.revertedWithCustomError(s.dm, "CallerNotControllerOwner")
          .withArgs(s.stranger.address);
      });

      it(`${fn} sets ${params.join(", ")} and emits ParameterUpdate for each`, async () => {
        const s = await loadFixture(disputeBase);
        const tx = s.dm.connect(s.owner).getFunction(fn)(...args);
        for (const param of params) await expect(tx).to.emit(s.dm, "ParameterUpdate").withArgs(param);
        const mined = await gasOf(tx);
        expect(eventsOf(s.dm, mined, "ParameterUpdate").map((e) => e.param)).to.deep.equal([...params]);
        for (let i = 0; i < params.length; i++) expect(await s.dm.getFunction(params[i])()).to.equal(args[i]);
      });
    }

    it("applies while the system is paused", async () => {
      const s = await loadFixture(disputeBase);
      await s.controller.pause();
      await expect(s.dm.setDisputeBond(1n)).to.emit(s.dm, "ParameterUpdate").withArgs("disputeBond");
    });

    it("starts from the deployed parameters (deployments/params/local.json)", async () => {
      const s = await loadFixture(disputeBase);
      expect(await s.dm.disputeBond()).to.equal(ethers.parseEther("0.01"));
      expect(await s.dm.commitPeriod()).to.equal(COMMIT_PERIOD);
      expect(await s.dm.revealPeriod()).to.equal(REVEAL_PERIOD);
      expect(await s.dm.committeeSize()).to.equal(3n);
      expect(await s.dm.quorum()).to.equal(2n);
      expect(await s.dm.faultSlashAmount()).to.equal(FAULT_SLASH);
      expect(await s.dm.finderFee()).to.equal(FINDER_FEE);
      expect(await s.dm.verifierSlashAmount()).to.equal(VERIFIER_SLASH);
      expect(await s.dm.verifierUnlockPeriod()).to.equal(UNLOCK_PERIOD);
    });

    it("setCommittee: reverts with InvalidParameter for a size of 0 or above 31, a quorum of 0 or above the size", async () => {
      const s = await loadFixture(disputeBase);
      const cases: [bigint, bigint, string, bigint][] = [
        [0n, 0n, "committeeSize", 0n],
        [32n, 1n, "committeeSize", 32n],
        [5n, 0n, "quorum", 0n],
        [5n, 6n, "quorum", 6n],
        [31n, 32n, "quorum", 32n],
      ];
      for (const [size, quorum, param, value] of cases) {
        await expect(s.dm.setCommittee(size, quorum))
          .to.be.revertedWithCustomError(s.dm, "InvalidParameter")
          .withArgs(param, value);
      }
      await expect(s.dm.setCommittee(31n, 31n)).to.not.be.reverted;
      await expect(s.dm.setCommittee(1n, 1n)).to.not.be.reverted;
    });

    it("setSlashAmounts: reverts with InvalidParameter above 1e6 ppm, accepts 0 and 1e6", async () => {
      const s = await loadFixture(disputeBase);
      const cases: [bigint[], string][] = [
        [[PERC + 1n, 0n, 0n], "faultSlashAmount"],
        [[0n, PERC + 1n, 0n], "finderFee"],
        [[0n, 0n, PERC + 1n], "verifierSlashAmount"],
      ];
      for (const [args, param] of cases) {
        await expect(s.dm.setSlashAmounts(args[0], args[1], args[2]))
          .to.be.revertedWithCustomError(s.dm, "InvalidParameter")
          .withArgs(param, PERC + 1n);
      }
      await expect(s.dm.setSlashAmounts(PERC, PERC, PERC)).to.not.be.reverted;
      await expect(s.dm.setSlashAmounts(0n, 0n, 0n)).to.not.be.reverted;
    });

    it("setVotingPeriods and setVerifierUnlockPeriod: reverts with InvalidParameter for 0 or beyond uint32", async () => {
      const s = await loadFixture(disputeBase);
      const tooLong = 2n ** 32n;
      for (const [commit, reveal, param, value] of [
        [0n, 10n, "commitPeriod", 0n],
        [10n, 0n, "revealPeriod", 0n],
        [tooLong, 10n, "commitPeriod", tooLong],
        [10n, tooLong, "revealPeriod", tooLong],
      ] as const) {
        await expect(s.dm.setVotingPeriods(commit, reveal))
          .to.be.revertedWithCustomError(s.dm, "InvalidParameter")
          .withArgs(param, value);
      }
      for (const value of [0n, tooLong]) {
        await expect(s.dm.setVerifierUnlockPeriod(value))
          .to.be.revertedWithCustomError(s.dm, "InvalidParameter")
          .withArgs("verifierUnlockPeriod", value);
      }
    });

    it("setDisputeBond: accepts zero, refuses more than uint128", async () => {
      const s = await loadFixture(disputeBase);
      await expect(s.dm.setDisputeBond(0n)).to.not.be.reverted;
      await expect(s.dm.setDisputeBond(2n ** 128n)).to.be.revertedWithCustomError(
        s.dm,
        "SafeCastOverflowedUintDowncast",
      );
    });

    it("a new bond applies to disputes opened afterwards; an open dispute keeps its own", async () => {
      const s = await loadFixture(disputeBase);
      const first = await openAndDraw(s, receiptOf(s, { seq: 1n }));
      await s.dm.setDisputeBond(ethers.parseEther("1"));
      const receipt = receiptOf(s, { seq: 2n });
      await expect(s.dm.connect(s.broadcaster).openDispute(receipt, sign(s, receipt), EVIDENCE, { value: s.bond }))
        .to.be.revertedWithCustomError(s.dm, "WrongBond")
        .withArgs(s.bond, ethers.parseEther("1"));
      await expect(s.dm.resolve(first.disputeId)).to.changeEtherBalance(s.broadcaster, s.bond);
    });

    it("new periods and committee size apply to committees drawn afterwards", async () => {
      const s = await loadFixture(withVerifiers);
      await s.dm.setVotingPeriods(5n, 7n);
      await s.dm.setCommittee(2n, 1n);
      const { members, drawn, info } = await openAndDraw(s);
      expect(members).to.have.length(2);
      expect(info.commitEnd).to.equal(BigInt(drawn.blockNumber) + 5n);
      expect(info.revealEnd).to.equal(BigInt(drawn.blockNumber) + 12n);
    });
  });

  describe("pause", () => {
    it("blocks every state-changing function but governance while paused (SystemIsPaused)", async () => {
      const s = await loadFixture(withCommittee);
      const { a } = byStake(s);
      const x = receiptOf(s, { seq: 5n, outputsHash: word("x") });
      const y = receiptOf(s, { seq: 5n, outputsHash: word("y") });
      const calls: Record<string, () => Promise<unknown>> = {
        registerVerifier: () => s.dm.connect(a).registerVerifier(1n),
        deregisterVerifier: () => s.dm.connect(a).deregisterVerifier(),
        withdrawVerifierStake: () => s.dm.connect(a).withdrawVerifierStake(),
        openDispute: () => s.dm.connect(s.broadcaster).openDispute(x, sign(s, x), EVIDENCE, { value: s.bond }),
        drawCommittee: () => s.dm.drawCommittee(s.disputeId),
        commitVote: () => s.dm.connect(a).commitVote(s.disputeId, commitmentOf(Vote.Fault, word("s"))),
        revealVote: () => s.dm.connect(a).revealVote(s.disputeId, Vote.Fault, word("s")),
        resolve: () => s.dm.resolve(s.disputeId),
        proveEquivocation: () => s.dm.proveEquivocation(x, sign(s, x), y, sign(s, y)),
        withdrawPayout: () => s.dm.connect(a).withdrawPayout(),
      };
      const governance = [
        "initialize",
        "setCommittee",
        "setDisputeBond",
        "setSlashAmounts",
        "setVerifierUnlockPeriod",
        "setVotingPeriods",
        "upgradeToAndCall",
      ];
      const stateChanging: string[] = [];
      s.dm.interface.forEachFunction((f) => {
        if (!f.constant) stateChanging.push(f.name);
      });
      expect(stateChanging.sort()).to.deep.equal([...Object.keys(calls), ...governance].sort());

      await s.controller.pause();
      for (const [name, call] of Object.entries(calls)) {
        await expect(call(), name).to.be.revertedWithCustomError(s.dm, "SystemIsPaused");
      }
      await s.controller.unpause();
      await expect(calls.commitVote()).to.emit(s.dm, "VoteCommitted");
    });
  });
});
