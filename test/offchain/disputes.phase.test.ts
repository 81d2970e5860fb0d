/**
 * offchain/disputes/phase.ts: the phase a transaction sent now will see (it lands in the next block, one after the
 * latest block the views answer for), and whether the committee may be drawn yet. At and around every boundary on
 * hand-made dispute times, then on the real DisputeManager (in-process Hardhat): at each boundary the transaction the
 * prediction allows is mined and the one it forbids reverts.
 */
import { loadFixture, mine } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { ethers } from "hardhat";

import { PHASE_NAMES, type PhaseName } from "../../offchain/chain/abi";
import { type DisputeTimes, committeeDue, phaseForNextBlock } from "../../offchain/disputes/phase";
import { mineToHead } from "../support/chain";
import { Vote, commitmentOf, open, saltOf, walletOf, withVerifiers } from "../contracts/helpers/disputes";

const phaseNumber = (name: PhaseName) => PHASE_NAMES.indexOf(name);

/** Drawn in block 101 from seed block 100: commits through 111, reveals through 121 (10 blocks each). */
const DRAWN: Omit<DisputeTimes, "phase"> = { seedBlock: 100n, commitEnd: 111n, revealEnd: 121n };

function times(phase: PhaseName, overrides: Partial<DisputeTimes> = {}): DisputeTimes {
  return { ...DRAWN, phase: BigInt(phaseNumber(phase)), ...overrides };
}

describe("dispute phase as the next block sees it", () => {
  describe("phaseForNextBlock", () => {
    // latest block → the phase of a transaction sent then (mined in latest + 1).
    const commitAndReveal: Array<[number, PhaseName]> = [
      [101, "Commit"], // the draw's block
      [109, "Commit"],
      [110, "Commit"], // lands in commitEnd: the last commit
      [111, "Reveal"], // latest is commitEnd: a commit now would be too late, a reveal is on time
      [112, "Reveal"],
      [119, "Reveal"],
      [120, "Reveal"], // lands in revealEnd: the last reveal
      [121, "Resolvable"], // latest is revealEnd
      [122, "Resolvable"],
      [10_000, "Resolvable"],
    ];

    for (const viewPhase of ["Commit", "Reveal"] as const) {
      for (const [latest, expected] of commitAndReveal) {
        it(`is ${expected} at latest block ${latest} while the views say ${viewPhase}`, () => {
          expect(phaseForNextBlock(times(viewPhase), latest)).to.equal(expected);
          expect(phaseForNextBlock(times(viewPhase), BigInt(latest))).to.equal(expected);
        });
      }
    }

    it("accepts the phase as a number or a bigint (ethers gives a bigint)", () => {
      expect(phaseForNextBlock(times("Commit", { phase: phaseNumber("Commit") }), 111)).to.equal("Reveal");
      expect(phaseForNextBlock(times("Commit", { phase: BigInt(phaseNumber("Commit")) }), 111)).to.equal("Reveal");
    });

    it("passes Resolved through, whatever the block", () => {
      for (const latest of [0, 100, 110, 111, 121, 122, 10_000]) {
        expect(phaseForNextBlock(times("Resolved"), latest)).to.equal("Resolved");
      }
    });

    it("passes AwaitingCommittee through, also past the (still zero) commit and reveal ends", () => {
      const undrawn = times("AwaitingCommittee", { commitEnd: 0n, revealEnd: 0n });
      for (const latest of [0, 98, 99, 100, 101, 5_000]) {
        expect(phaseForNextBlock(undrawn, latest)).to.equal("AwaitingCommittee");
      }
    });

    it("passes Resolvable through before the ends (every member revealed early)", () => {
      for (const latest of [101, 110, 111, 120, 121]) {
        expect(phaseForNextBlock(times("Resolvable"), latest)).to.equal("Resolvable");
      }
    });

    it("passes None through (no such dispute)", () => {
      expect(phaseForNextBlock({ phase: 0n, seedBlock: 0n, commitEnd: 0n, revealEnd: 0n }, 50)).to.equal("None");
    });
  });

  describe("committeeDue", () => {
    // The draw needs the seed block's hash: a transaction mined after the seed block, i.e. sent once it is mined.
    const cases: Array<[number, boolean]> = [
      [0, false],
      [98, false],
      [99, false], // the opening block: the seed block is the next one
      [100, true], // the seed block is the latest: a draw now lands in 101
      [101, true],
      [400, true],
    ];
    for (const [latest, due] of cases) {
      it(`is ${due} at latest block ${latest} for seed block 100`, () => {
        expect(committeeDue(times("AwaitingCommittee"), latest)).to.equal(due);
        expect(committeeDue(times("AwaitingCommittee"), BigInt(latest))).to.equal(due);
      });
    }
  });

  describe("against the DisputeManager", function () {
    this.timeout(60_000);

    it("allows exactly the transactions it predicts, at every boundary", async () => {
      const s = await loadFixture(withVerifiers);
      const { disputeId } = await open(s);
      const head = async () => BigInt(await ethers.provider.getBlockNumber());
      const predict = async () => phaseForNextBlock(await s.dm.getDispute(disputeId), await head());

      // Opened in the latest block: the seed block is still to come.
      let info = await s.dm.getDispute(disputeId);
      expect(await head()).to.equal(info.seedBlock - 1n);
      expect(committeeDue(info, await head())).to.equal(false);
      expect(await predict()).to.equal("AwaitingCommittee");
      // A wallet estimates before sending: a refused transaction mines no block (the default signer's would).
      const stranger = s.verifiers[0];
      await expect(s.dm.connect(stranger).drawCommittee(disputeId)).to.be.revertedWithCustomError(
        s.dm,
        "CommitteeNotDue",
      );
      expect(await head()).to.equal(info.seedBlock - 1n);
      await mine(1); // the seed block
      expect(committeeDue(info, await head())).to.equal(true);
      await (await s.dm.drawCommittee(disputeId)).wait();

      info = await s.dm.getDispute(disputeId);
      const [members] = await s.dm.getCommittee(disputeId);
      const [a, b, c] = members.map((m) => walletOf(s.verifiers, m));
      const commit = (wallet: typeof a, vote: number) =>
        s.dm.connect(wallet).commitVote(disputeId, commitmentOf(vote, saltOf(disputeId, wallet.address)));
      const reveal = (wallet: typeof a, vote: number) =>
        s.dm.connect(wallet).revealVote(disputeId, vote, saltOf(disputeId, wallet.address));

      // The last block a commit lands in is commitEnd.
      await mineToHead(info.commitEnd - 2n);
      expect(await predict()).to.equal("Commit");
      await (await commit(a, Vote.NoFault)).wait();
      expect(await head()).to.equal(info.commitEnd - 1n);
      expect(await predict()).to.equal("Commit");
      await (await commit(b, Vote.NoFault)).wait();
      expect(await head()).to.equal(info.commitEnd);

      // Latest is commitEnd: too late to commit, on time to reveal.
      expect(await predict()).to.equal("Reveal");
      expect(await s.dm.disputePhase(disputeId)).to.equal(BigInt(phaseNumber("Commit"))); // the views lag
      await expect(commit(c, Vote.NoFault)).to.be.revertedWithCustomError(s.dm, "WrongPhase");
      expect(await head()).to.equal(info.commitEnd);
      await (await reveal(a, Vote.NoFault)).wait();

      // The last block a reveal lands in is revealEnd; resolving must wait for the block after it.
      await mineToHead(info.revealEnd - 1n);
      expect(await predict()).to.equal("Reveal");
      await expect(s.dm.connect(c).resolve(disputeId)).to.be.revertedWithCustomError(s.dm, "WrongPhase");
      expect(await head()).to.equal(info.revealEnd - 1n);
      await (await reveal(b, Vote.NoFault)).wait();
      expect(await head()).to.equal(info.revealEnd);
      expect(await predict()).to.equal("Resolvable");
      await (await s.dm.connect(c).resolve(disputeId)).wait();
      expect(await head()).to.equal(info.revealEnd + 1n);
      expect(await predict()).to.equal("Resolved");
    });

    it("predicts Resolvable as soon as every member revealed, before revealEnd", async () => {
      const s = await loadFixture(withVerifiers);
      const { disputeId } = await open(s);
      await mine(1);
      await (await s.dm.drawCommittee(disputeId)).wait();
      const info = await s.dm.getDispute(disputeId);
      const [members] = await s.dm.getCommittee(disputeId);
      const wallets = members.map((m) => walletOf(s.verifiers, m));
      for (const w of wallets) {
        await (
          await s.dm.connect(w).commitVote(disputeId, commitmentOf(Vote.Fault, saltOf(disputeId, w.address)))
        ).wait();
      }
      await mineToHead(info.commitEnd);
      for (const w of wallets) {
        await (await s.dm.connect(w).revealVote(disputeId, Vote.Fault, saltOf(disputeId, w.address))).wait();
      }
      const latest = BigInt(await ethers.provider.getBlockNumber());
      expect(latest < info.revealEnd).to.equal(true);
      expect(phaseForNextBlock(await s.dm.getDispute(disputeId), latest)).to.equal("Resolvable");
    });
  });
});
