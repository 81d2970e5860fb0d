import { expect } from "chai";
import { ethers } from "hardhat";
import type { Wallet } from "ethers";
import { loadFixture, mine, takeSnapshot, time } from "@nomicfoundation/hardhat-network-helpers";

import { mineToNextTxBlock, startNextRound } from "../support/chain";
import {
  EVIDENCE,
  LPT,
  Outcome,
  Phase,
  Vote,
  type Suite,
  type TreeEntry,
  blockHashOf,
  commitmentOf,
  disputeBase,
  eventsOf,
  expectModelCommittee,
  fundVerifier,
  gasOf,
  modelDraw,
  open,
  openAndDraw,
  receiptOf,
  registerVerifiers,
  saltOf,
  sign,
  treeEntries,
  verifierWallets,
  withVerifiers,
} from "./helpers/disputes";

/** Disputes against the orchestrator over segments `first`, `first + 1`, ... */
const segment = (s: Suite, seq: number) => receiptOf(s, { seq: BigInt(seq) });

describe("DisputeManager: committees", () => {
  /** Six verifiers with distinct stakes (10 to 60 LPT), plus the broadcaster and the orchestrator as verifiers. */
  async function sixVerifiers() {
    const s = await disputeBase();
    const verifiers = verifierWallets("six", 6);
    await registerVerifiers(
      s,
      verifiers,
      verifiers.map((_, i) => LPT(10 * (i + 1))),
    );
    await fundVerifier(s, s.broadcaster, LPT(500));
    await s.dm.connect(s.broadcaster).registerVerifier(LPT(500));
    await s.dm.connect(s.orchestrator).registerVerifier(LPT(500));
    const slotOrder = [...verifiers.map((v) => v.address), s.broadcaster.address, s.orchestrator.address];
    return { ...s, verifiers, slotOrder };
  }

  describe("the draw", () => {
    it("is the model's draw from blockhash(seedBlock): stake-weighted, without replacement, parties excluded", async () => {
      const s = await loadFixture(sixVerifiers);
      for (let seq = 0; seq < 8; seq++) {
        const { disputeId, members } = await openAndDraw(s, segment(s, seq));
        await expectModelCommittee(s, disputeId, s.slotOrder);
        expect(members).to.have.length(3);
        expect(new Set(members).size).to.equal(3);
        expect(members).to.not.include(s.broadcaster.address);
        expect(members).to.not.include(s.orchestrator.address);
      }
    });

    it("gives two disputes opened in the same block their own committees from the same seed block", async () => {
      const s = await loadFixture(sixVerifiers);
      const receiver = await (await ethers.getContractFactory("RejectingReceiver")).deploy();
      const dm = await s.dm.getAddress();
      const receipts = [0, 1].map((seq) => receiptOf(s, { broadcaster: receiver.target as string, seq: BigInt(seq) }));
      const data = receipts.map((r) => s.dm.interface.encodeFunctionData("openDispute", [r, sign(s, r), EVIDENCE]));
      await receiver.executeBatch([dm, dm], data, [s.bond, s.bond], { value: s.bond * 2n });
      const [first, second] = [await s.dm.getDispute(1n), await s.dm.getDispute(2n)];
      expect(first.seedBlock).to.equal(second.seedBlock);
      await mine(1);
      await s.dm.drawCommittee(1n);
      await s.dm.drawCommittee(2n);
      // The receiver is the broadcaster here, so the suite's broadcaster wallet may be drawn.
      const entries = await treeEntries(s.dm, s.slotOrder);
      const hash = await blockHashOf(first.seedBlock);
      for (const id of [1n, 2n]) {
        const model = modelDraw(hash, id, entries, 3, [receiver.target as string, s.orchestrator.address]);
        expect([...(await s.dm.getCommittee(id))[0]]).to.deep.equal(model.members);
      }
    });

    it("cannot be predicted at opening: another seed block draws another committee", async () => {
      const s = await disputeBase();
      const verifiers = verifierWallets("ten", 10);
      await registerVerifiers(
        s,
        verifiers,
        verifiers.map(() => LPT(100)),
      );
      const slotOrder = verifiers.map((v) => v.address);
      const { disputeId, mined } = await open(s);
      const seedBlock = BigInt(mined.blockNumber) + 1n;
      const opened = await takeSnapshot();
      const committees = new Set<string>();
      const seeds = new Set<string>();
      for (let attempt = 0; attempt < 6; attempt++) {
        await opened.restore();
        // The same history up to the opening; the seed block differs only in its timestamp.
        await time.setNextBlockTimestamp((await time.latest()) + 1 + attempt * 13);
        await mine(1);
        seeds.add(await blockHashOf(seedBlock));
        await s.dm.drawCommittee(disputeId);
        const model = await expectModelCommittee(s, disputeId, slotOrder);
        committees.add(model.members.join(","));
      }
      expect(seeds.size).to.equal(6);
      expect(committees.size).to.be.greaterThan(1);
    });

    it("follows stake: with stakes 1:2:3:4 and a committee of one, 60 draws land roughly in proportion", async () => {
      const s = await disputeBase();
      await s.dm.setCommittee(1n, 1n);
      const verifiers = verifierWallets("weighted", 4);
      const stakes = [LPT(10), LPT(20), LPT(30), LPT(40)];
      await registerVerifiers(s, verifiers, stakes);
      const slotOrder = verifiers.map((v) => v.address);
      const draws = 60;
      for (let seq = 0; seq < draws; seq++) await open(s, segment(s, seq));
      await mine(1);
      const counts = new Map(slotOrder.map((a) => [a, 0]));
      const entries = await treeEntries(s.dm, slotOrder);
      for (let id = 1n; id <= BigInt(draws); id++) {
        await s.dm.drawCommittee(id);
        const [member] = (await expectModelCommittee(s, id, slotOrder, entries)).members;
        counts.set(member, counts.get(member)! + 1);
      }
      const observed = slotOrder.map((a) => counts.get(a)!);
      expect(observed.reduce((x, y) => x + y, 0)).to.equal(draws);
      // Pearson's chi-square against 6, 12, 18, 24: 20 is far in the tail for 3 degrees of freedom (p < 0.0002).
      const expected = [0.1, 0.2, 0.3, 0.4].map((p) => p * draws);
      const chiSquare = observed.reduce((sum, o, i) => sum + (o - expected[i]) ** 2 / expected[i], 0);
      expect(chiSquare, `counts ${observed.join(", ")}`).to.be.lessThan(20);
      expect(observed[3]).to.be.greaterThan(observed[0]);
    });
  });

  describe("the seed block's hash expires after 256 blocks", () => {
    it("still draws from it 256 blocks after the seed block", async () => {
      const s = await loadFixture(sixVerifiers);
      const { disputeId, mined } = await open(s);
      const seedBlock = BigInt(mined.blockNumber) + 1n;
      await mineToNextTxBlock(seedBlock + 256n);
      const drawn = await gasOf(s.dm.drawCommittee(disputeId));
      expect(eventsOf(s.dm, drawn, "CommitteeReseeded")).to.have.length(0);
      expect(eventsOf(s.dm, drawn, "CommitteeDrawn")).to.have.length(1);
      await expectModelCommittee(s, disputeId, s.slotOrder);
    });

    it("re-seeds from the next block after 257 (CommitteeReseeded), then draws from the new seed block", async () => {
      const s = await loadFixture(sixVerifiers);
      const { disputeId, mined } = await open(s);
      const seedBlock = BigInt(mined.blockNumber) + 1n;
      await mineToNextTxBlock(seedBlock + 257n);
      const newSeed = seedBlock + 258n;
      await expect(s.dm.drawCommittee(disputeId))
        .to.emit(s.dm, "CommitteeReseeded")
        .withArgs(disputeId, newSeed)
        .and.not.to.emit(s.dm, "CommitteeDrawn");
      const info = await s.dm.getDispute(disputeId);
      expect(info.seedBlock).to.equal(newSeed);
      expect(info.phase).to.equal(Phase.AwaitingCommittee);
      // Mined in the new seed block itself: not due yet.
      await expect(s.dm.drawCommittee(disputeId))
        .to.be.revertedWithCustomError(s.dm, "CommitteeNotDue")
        .withArgs(disputeId, newSeed);
      await expect(s.dm.drawCommittee(disputeId)).to.emit(s.dm, "CommitteeDrawn");
      await expectModelCommittee(s, disputeId, s.slotOrder);
    });

    it("re-seeds inline when a stake change finds the hash gone", async () => {
      const s = await loadFixture(sixVerifiers);
      const { disputeId, mined } = await open(s);
      const seedBlock = BigInt(mined.blockNumber) + 1n;
      await mineToNextTxBlock(seedBlock + 300n);
      const [late] = verifierWallets("late", 1);
      await fundVerifier(s, late, LPT(1000));
      const block = BigInt(await ethers.provider.getBlockNumber()) + 1n;
      await expect(s.dm.connect(late).registerVerifier(LPT(1000)))
        .to.emit(s.dm, "CommitteeReseeded")
        .withArgs(disputeId, block + 1n);
      // The new verifier registered before the new seed block: its stake counts, as anyone's would.
      await mine(1);
      await s.dm.drawCommittee(disputeId);
      await expectModelCommittee(s, disputeId, [...s.slotOrder, late.address]);
    });
  });

  describe("stake changes once the seed block is mined", () => {
    it("draw the due committee first: a verifier registering after the hash is known is not in it", async () => {
      const s = await loadFixture(withVerifiers);
      const { disputeId } = await open(s);
      await mine(1); // the seed block: its hash is now known
      const [whale] = verifierWallets("whale", 1);
      await fundVerifier(s, whale, LPT(1_000_000));
      const entriesBefore = await treeEntries(
        s.dm,
        s.verifiers.map((v) => v.address),
      );
      const registered = await gasOf(s.dm.connect(whale).registerVerifier(LPT(1_000_000)));
      const [drawn] = eventsOf(s.dm, registered, "CommitteeDrawn");
      expect(drawn.disputeId).to.equal(disputeId);
      expect([...drawn.members]).to.have.members(s.verifiers.map((v) => v.address));
      await expectModelCommittee(
        s,
        disputeId,
        s.verifiers.map((v) => v.address),
        entriesBefore,
      );
      expect((await s.dm.getVote(disputeId, whale.address)).member).to.equal(false);
      await expect(s.dm.drawCommittee(disputeId))
        .to.be.revertedWithCustomError(s.dm, "WrongPhase")
        .withArgs(disputeId, Phase.Commit);
      // The whale is drawn for the next dispute (all but surely, with 99.9% of the stake).
      const next = await openAndDraw(s, segment(s, 1));
      expect(next.members).to.include(whale.address);
    });

    it("count stake registered in the seed block itself, whose hash no transaction in it can know", async () => {
      const s = await loadFixture(withVerifiers);
      const [late] = verifierWallets("late", 1);
      await fundVerifier(s, late, LPT(50));
      const { disputeId, mined } = await open(s);
      const registered = await gasOf(s.dm.connect(late).registerVerifier(LPT(50)));
      expect(registered.blockNumber).to.equal(mined.blockNumber + 1); // the seed block
      expect(eventsOf(s.dm, registered, "CommitteeDrawn")).to.have.length(0);
      await s.dm.drawCommittee(disputeId);
      await expectModelCommittee(s, disputeId, [...s.verifiers.map((v) => v.address), late.address]);
    });

    it("keep a verifier drawn from the known hash from deregistering (VerifierOnCommittee)", async () => {
      const s = await loadFixture(withVerifiers);
      const { disputeId } = await open(s);
      await mine(1);
      // Deregistering draws the committee first; the verifier is on it, so it may not leave.
      await expect(s.dm.connect(s.verifiers[0]).deregisterVerifier())
        .to.be.revertedWithCustomError(s.dm, "VerifierOnCommittee")
        .withArgs(s.verifiers[0].address, 1n);
      expect(await s.dm.disputePhase(disputeId)).to.equal(Phase.AwaitingCommittee); // that draw was reverted too
      await s.dm.drawCommittee(disputeId);
      await expect(s.dm.connect(s.verifiers[0]).deregisterVerifier())
        .to.be.revertedWithCustomError(s.dm, "VerifierOnCommittee")
        .withArgs(s.verifiers[0].address, 1n);
    });

    it("let a verifier leave before the seed block is mined", async () => {
      const s = await loadFixture(withVerifiers);
      const { disputeId } = await open(s);
      await s.dm.connect(s.verifiers[0]).deregisterVerifier(); // mined in the seed block
      await s.dm.drawCommittee(disputeId);
      const [members] = await s.dm.getCommittee(disputeId);
      expect([...members]).to.have.members([s.verifiers[1].address, s.verifiers[2].address]);
    });

    it("resolve draws due committees before moving stake by penalties and rewards", async () => {
      const s = await loadFixture(withVerifiers);
      const first = await openAndDraw(s, segment(s, 0));
      const slotOrder = s.verifiers.map((v) => v.address);
      await mineToNextTxBlock(first.info.revealEnd + 1n); // nobody voted: everyone is penalized
      const { disputeId: second } = await open(s, segment(s, 1));
      await mine(1);
      const entriesBefore = await treeEntries(s.dm, slotOrder);
      const resolved = await gasOf(s.dm.resolve(first.disputeId));
      const drawnIndex = resolved.logs.findIndex((l) => s.dm.interface.parseLog(l)?.name === "CommitteeDrawn");
      const penaltyIndex = resolved.logs.findIndex((l) => s.dm.interface.parseLog(l)?.name === "VerifierPenalized");
      expect(drawnIndex).to.be.greaterThanOrEqual(0);
      expect(drawnIndex).to.be.lessThan(penaltyIndex);
      const model = await expectModelCommittee(s, second, slotOrder, entriesBefore);
      expect(model.weights).to.have.members([LPT(100), LPT(200), LPT(300)]); // stakes before the penalties
    });

    it("draw at most four committees inline; with more due they revert with CommitteeDrawsPending", async () => {
      const s = await loadFixture(withVerifiers);
      for (let seq = 0; seq < 5; seq++) await open(s, segment(s, seq));
      await mine(1);
      const [late] = verifierWallets("late", 1);
      await fundVerifier(s, late, LPT(10));
      await expect(s.dm.connect(late).registerVerifier(LPT(10)))
        .to.be.revertedWithCustomError(s.dm, "CommitteeDrawsPending")
        .withArgs(5n);
      await expect(s.dm.resolve(1n))
        .to.be.revertedWithCustomError(s.dm, "WrongPhase")
        .withArgs(1n, Phase.AwaitingCommittee);
      await s.dm.drawCommittee(1n);
      const registered = await gasOf(s.dm.connect(late).registerVerifier(LPT(10)));
      expect(eventsOf(s.dm, registered, "CommitteeDrawn").map((e) => e.disputeId)).to.deep.equal([2n, 3n, 4n, 5n]);
      for (let id = 1n; id <= 5n; id++) expect(await s.dm.disputePhase(id)).to.equal(Phase.Commit);
    });
  });

  describe("the verifier tree with many verifiers", () => {
    it("keeps the total equal to the sum and never draws deregistered or empty accounts", async () => {
      const s = await disputeBase();
      await s.dm.setCommittee(7n, 4n);
      const wallets = verifierWallets("many", 37);
      const slotOrder = wallets.map((w) => w.address);
      const stakes = wallets.map((_, i) => LPT(3 * (i + 1)) + BigInt(i) * 7n);
      for (const [i, wallet] of wallets.entries()) await fundVerifier(s, wallet, stakes[i] + LPT(100));
      for (const [i, wallet] of wallets.entries()) await s.dm.connect(wallet).registerVerifier(stakes[i]);

      const expectTreeConsistent = async () => {
        const entries = await treeEntries(s.dm, slotOrder);
        expect(await s.dm.totalVerifierStake()).to.equal(entries.reduce((sum, e) => sum + e.stake, 0n));
        let locked = 0n;
        for (const w of wallets) locked += (await s.dm.getVerifier(w.address)).stake;
        expect(await s.token.balanceOf(await s.dm.getAddress())).to.equal(locked);
        return entries;
      };
      /** Draws `count` committees from `entries`, checks them, then resolves them (nobody votes: all penalized). */
      const drawAndCheck = async (entries: TreeEntry[], firstSeq: number, count: number) => {
        const empty = new Set(entries.filter((e) => e.stake === 0n).map((e) => e.account));
        const ids: bigint[] = [];
        for (let seq = firstSeq; seq < firstSeq + count; seq++) {
          const { disputeId, members } = await openAndDraw(s, segment(s, seq));
          await expectModelCommittee(s, disputeId, slotOrder, entries);
          expect(members).to.have.length(7);
          for (const member of members) expect(empty.has(member), member).to.equal(false);
          ids.push(disputeId);
        }
        await mineToNextTxBlock((await s.dm.getDispute(ids[ids.length - 1])).revealEnd + 1n);
        for (const id of ids) await s.dm.resolve(id);
      };

      let entries = await expectTreeConsistent();
      await drawAndCheck(entries, 0, 4);

      // Top-ups on slots spread over the tree, including the first and the last.
      for (const i of [0, 5, 16, 31, 36]) {
        await s.dm.connect(wallets[i]).registerVerifier(LPT(11) + BigInt(i));
      }
      // Deregistrations, also at both ends and at powers of two (Fenwick node boundaries).
      const leaving = [1, 3, 7, 8, 15, 16, 31, 32, 36];
      for (const i of leaving) await s.dm.connect(wallets[i]).deregisterVerifier();
      entries = await expectTreeConsistent();
      for (const i of leaving) expect(entries[i].stake).to.equal(0n);
      await drawAndCheck(entries, 10, 6);

      // One withdraws and comes back with a new stake (keeping its slot); a newcomer takes slot 38.
      await startNextRound(s.rounds);
      await startNextRound(s.rounds);
      await s.dm.connect(wallets[8]).withdrawVerifierStake();
      await s.dm.connect(wallets[8]).registerVerifier(LPT(2));
      const [newcomer] = verifierWallets("newcomer", 1);
      await fundVerifier(s, newcomer, LPT(20));
      await s.dm.connect(newcomer).registerVerifier(LPT(20));
      wallets.push(newcomer);
      slotOrder.push(newcomer.address);
      entries = await expectTreeConsistent();
      expect(entries[8].stake).to.equal(LPT(2));
      await drawAndCheck(entries, 20, 6);
    });

    it("draws every remaining verifier when the committee is as large as the stake allows", async () => {
      const s = await disputeBase();
      await s.dm.setCommittee(31n, 16n);
      const wallets = verifierWallets("all", 20);
      await registerVerifiers(
        s,
        wallets,
        wallets.map((_, i) => BigInt(i + 1)), // 1 to 20 wei
      );
      for (const i of [0, 9, 19]) await s.dm.connect(wallets[i]).deregisterVerifier();
      const { disputeId, members, weights } = await openAndDraw(s);
      expect(members).to.have.length(17);
      expect(members).to.have.members(wallets.filter((_, i) => ![0, 9, 19].includes(i)).map((w) => w.address));
      expect(weights.reduce((x, y) => x + y, 0n)).to.equal(await s.dm.totalVerifierStake());
      await expectModelCommittee(
        s,
        disputeId,
        wallets.map((w) => w.address),
      );
    });
  });

  describe("regressions (each failed before its fix)", () => {
    // An orchestrator disputing its own receipt while a verifier is excluded twice (as broadcaster and orchestrator);
    // its stake used to be subtracted twice, which underflowed (panic 0x11) or skewed the draw and jammed every
    // stake change behind the undrawable committee.
    async function selfDispute() {
      const s = await disputeBase();
      const others = verifierWallets("others", 3);
      await registerVerifiers(s, others, [LPT(100), LPT(100), LPT(100)]);
      await s.dm.connect(s.orchestrator).registerVerifier(LPT(5000));
      const receipt = receiptOf(s, { broadcaster: s.orchestrator.address });
      await s.dm.connect(s.orchestrator).openDispute(receipt, sign(s, receipt), EVIDENCE, { value: s.bond });
      await mine(1);
      return { ...s, others };
    }

    it("draws a committee for an orchestrator disputing its own receipt, excluding it once", async () => {
      const s = await loadFixture(selfDispute);
      await s.dm.drawCommittee(1n);
      const [members] = await s.dm.getCommittee(1n);
      expect([...members]).to.have.members(s.others.map((v) => v.address));
    });

    it("lets other verifiers change their stake after a self-dispute's seed block", async () => {
      const s = await loadFixture(selfDispute);
      const [late] = verifierWallets("late", 1);
      await fundVerifier(s, late, LPT(10));
      await s.dm.connect(late).registerVerifier(LPT(10));
      expect((await s.dm.getVerifier(late.address)).stake).to.equal(LPT(10));
    });

    // A re-seeded dispute is queued again; its old queue entry used to read the new, future seed block, so the scan
    // of due draws stopped there and a stake change could follow a seed hash already known (the entry now carries
    // the seed block it was queued for, and a stale one is skipped).
    it("draws every due committee before a stake change, even right after an expired dispute is re-seeded", async () => {
      const s = await loadFixture(withVerifiers);
      const { disputeId: stale } = await open(s, segment(s, 0));
      await mine(300); // the stale dispute's seed hash expires
      const { disputeId: due, mined } = await open(s, segment(s, 1));
      const [whale] = verifierWallets("whale", 1);
      await fundVerifier(s, whale, LPT(1_000_000));
      await mine(1); // the due dispute's hash is known from here on
      await expect(s.dm.drawCommittee(stale)).to.emit(s.dm, "CommitteeReseeded");
      expect(BigInt(await ethers.provider.getBlockNumber())).to.be.greaterThan(BigInt(mined.blockNumber) + 1n);
      const registered = await gasOf(s.dm.connect(whale).registerVerifier(LPT(1_000_000)));
      expect(eventsOf(s.dm, registered, "CommitteeDrawn").map((e) => e.disputeId)).to.include(due);
      expect((await s.dm.getVote(due, whale.address)).member).to.equal(false);
    });
  });

  it("settles a whole dispute with a committee of seven from twenty verifiers", async () => {
    const s = await loadFixture(disputeBase);
    await s.dm.setCommittee(7n, 4n);
    const wallets = verifierWallets("twenty", 20);
    await registerVerifiers(
      s,
      wallets,
      wallets.map((_, i) => LPT(50 + 5 * i)),
    );
    await startNextRound(s.rounds);
    const { disputeId, members, weights } = await openAndDraw(s);
    expect(members).to.have.length(7);
    const walletOf = (a: string) => wallets.find((w) => w.address === a)! as Wallet;
    // Five vote Fault, one NoFault, one stays silent.
    const plan = members.map((_, i) => (i < 5 ? Vote.Fault : i === 5 ? Vote.NoFault : Vote.None));
    for (const [i, m] of members.entries()) {
      if (plan[i] !== Vote.None) {
        await s.dm.connect(walletOf(m)).commitVote(disputeId, commitmentOf(plan[i], saltOf(disputeId, m)));
      }
    }
    const info = await s.dm.getDispute(disputeId);
    await mineToNextTxBlock(info.commitEnd + 1n);
    for (const [i, m] of members.entries()) {
      if (plan[i] !== Vote.None) await s.dm.connect(walletOf(m)).revealVote(disputeId, plan[i], saltOf(disputeId, m));
    }
    await mineToNextTxBlock(info.revealEnd + 1n);
    if (!(await s.rounds.currentRoundInitialized())) await s.rounds.initializeRound();
    const stakes = await Promise.all(members.map(async (m) => (await s.dm.getVerifier(m)).stake));
    const losers = [5, 6];
    const penalties = losers.map((i) => (stakes[i] * 100_000n) / 1_000_000n);
    const pot = penalties[0] + penalties[1];
    const winnersWeight = weights.slice(0, 5).reduce((x, y) => x + y, 0n);
    const shares = weights.slice(0, 5).map((w) => (pot * w) / winnersWeight);
    const burned = pot - shares.reduce((x, y) => x + y, 0n);
    const supply = await s.token.totalSupply();
    const tx = s.dm.resolve(disputeId);
    await expect(tx).to.emit(s.dm, "DisputeResolved").withArgs(disputeId, Outcome.Fault, winnersWeight, weights[5], 6n);
    for (const [k, i] of losers.entries()) {
      await expect(tx).to.emit(s.dm, "VerifierPenalized").withArgs(disputeId, members[i], penalties[k]);
    }
    for (let i = 0; i < 5; i++) {
      await expect(tx).to.emit(s.dm, "VerifierRewarded").withArgs(disputeId, members[i], shares[i]);
      expect((await s.dm.getVerifier(members[i])).stake).to.equal(stakes[i] + shares[i]);
    }
    // The orchestrator's burn (250 LPT) plus the rounding remainder of the shares.
    expect(await s.token.totalSupply()).to.equal(supply - LPT(250) - burned);
  });
});
