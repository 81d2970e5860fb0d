import { expect } from "chai";
import { ethers } from "hardhat";
import { MaxUint256, Wallet, ZeroAddress, id, parseEther } from "ethers";
import { loadFixture, setBalance } from "@nomicfoundation/hardhat-network-helpers";

import { ROUND_LENGTH, deployedSuite } from "../support/fixtures";
import { startNextRound } from "../support/chain";
import { expectPoolDescending, poolOrder, prng, stakesOf } from "../support/invariants";

const IN_POOL = 2n ** 32n - 1n;
const LOCK_BLOCKS = 2n; // 10% of a 20-block round

const LPT = (amount: number) => parseEther(amount.toString());

describe("BondingManager pool", () => {
  type Suite = Awaited<ReturnType<typeof deployedSuite>>;

  /** `count` deterministic accounts with ETH for gas and `lpt` LPT approved to the BondingManager. */
  async function accounts(s: Suite, tag: string, count: number, lpt: bigint) {
    const wallets: Wallet[] = [];
    for (let i = 0; i < count; i++) {
      const wallet = new Wallet(id(`${tag}-${i}`), ethers.provider);
      await setBalance(wallet.address, parseEther("100"));
      await s.token.transfer(wallet.address, lpt);
      await s.token.connect(wallet).approve(await s.bondingManager.getAddress(), MaxUint256);
      wallets.push(wallet);
    }
    return wallets;
  }

  /**
   * Starts the next round unless the next `txs` transactions fit in the current, initialized round before its lock
   * (every transaction mines one block).
   */
  async function ensureRoom(s: Suite, txs: number) {
    const head = BigInt(await ethers.provider.getBlockNumber());
    const start = await s.rounds.currentRoundStartBlock();
    const lastUnlocked = start + ROUND_LENGTH - LOCK_BLOCKS - 1n;
    if (!(await s.rounds.currentRoundInitialized()) || head + BigInt(txs) > lastUnlocked) {
      await startNextRound(s.rounds);
    }
  }

  async function register(s: Suite, orchestrator: Wallet, stake: bigint) {
    await ensureRoom(s, 2);
    await s.bondingManager.connect(orchestrator).bond(stake, orchestrator.address);
    await s.bondingManager.connect(orchestrator).transcoder(100_000n, 500_000n);
  }

  // ---- A pool shaped by random bonds ----

  const ORCHESTRATORS = 12;
  const DELEGATORS = 6;
  const STEPS = 40;

  async function randomPool() {
    const s = await deployedSuite();
    const random = prng(0x5eed);
    const orchestrators = await accounts(s, "random-orchestrator", ORCHESTRATORS, LPT(50_000));
    const delegators = await accounts(s, "random-delegator", DELEGATORS, LPT(50_000));
    await startNextRound(s.rounds);
    for (const orchestrator of orchestrators) {
      // Random stakes with wei noise, so ties are unlikely and the order is fully decided by stake.
      const stake = LPT(100 + Math.floor(random() * 5000)) + BigInt(Math.floor(random() * 1e9));
      await register(s, orchestrator, stake);
    }
    return { ...s, bm: s.bondingManager, orchestrators, delegators };
  }

  /** Random bonds (new, top-up or moving to another delegate) and unbonds by delegators and orchestrators. */
  async function randomSteps(s: Awaited<ReturnType<typeof randomPool>>, afterEach: () => Promise<void>) {
    const random = prng(0xb0b);
    const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)];
    for (let step = 0; step < STEPS; step++) {
      await ensureRoom(s, 1);
      const roll = random();
      if (roll < 0.6) {
        const delegator = pick(s.delegators);
        const amount = LPT(1 + Math.floor(random() * 3000)) + BigInt(Math.floor(random() * 1e9));
        await s.bm.connect(delegator).bond(amount, pick(s.orchestrators).address);
      } else if (roll < 0.8) {
        const delegator = pick(s.delegators);
        const { bondedAmount } = await s.bm.getDelegator(delegator.address);
        if (bondedAmount === 0n) continue;
        await s.bm.connect(delegator).unbond((bondedAmount * BigInt(1 + Math.floor(random() * 100))) / 100n);
      } else {
        const orchestrator = pick(s.orchestrators);
        const { bondedAmount } = await s.bm.getDelegator(orchestrator.address);
        if (random() < 0.5)
          await s.bm.connect(orchestrator).bond(LPT(1 + Math.floor(random() * 2000)), orchestrator.address);
        else await s.bm.connect(orchestrator).unbond((bondedAmount * BigInt(1 + Math.floor(random() * 90))) / 100n);
      }
      await afterEach();
    }
  }

  async function afterRandomSteps() {
    const s = await randomPool();
    await randomSteps(s, async () => {});
    return s;
  }

  describe("order", () => {
    it("is descending by transcoderTotalStake after every random bond, move and unbond", async () => {
      const s = await loadFixture(randomPool);
      await expectPoolDescending(s.bm);
      await randomSteps(s, async () => {
        await expectPoolDescending(s.bm);
      });
    });

    it("links back from getLastTranscoderInPool to getFirstTranscoderInPool through the same members", async () => {
      const { bm } = await loadFixture(afterRandomSteps);
      const forward = await poolOrder(bm);
      expect(forward.length).to.equal(ORCHESTRATORS);
      expect(await bm.getLastTranscoderInPool()).to.equal(forward[forward.length - 1]);
      const backward: string[] = [];
      for (let member = await bm.getLastTranscoderInPool(); member !== ZeroAddress;) {
        backward.push(member);
        member = await bm.getPrevTranscoderInPool(member);
      }
      expect(backward.reverse()).to.deep.equal(forward);
      expect(await bm.getPrevTranscoderInPool(forward[0])).to.equal(ZeroAddress);
      expect(await bm.getNextTranscoderInPool(forward[forward.length - 1])).to.equal(ZeroAddress);
    });

    it("holds exactly the registered orchestrators, counted by getTranscoderPoolSize", async () => {
      const { bm, orchestrators, delegators } = await loadFixture(afterRandomSteps);
      const members = await poolOrder(bm);
      expect(await bm.getTranscoderPoolSize()).to.equal(BigInt(members.length));
      expect([...members].sort()).to.deep.equal(orchestrators.map((o) => o.address).sort());
      for (const delegator of delegators) expect(await bm.isInPool(delegator.address)).to.equal(false);
    });

    it("sorts the pool exactly as sorting the stakes would", async () => {
      const { bm, orchestrators } = await loadFixture(afterRandomSteps);
      const stakes = await stakesOf(
        bm,
        orchestrators.map((o) => o.address),
      );
      const expected = orchestrators
        .map((o, i) => ({ address: o.address, stake: stakes[i] }))
        .sort((a, b) => (a.stake === b.stake ? 0 : a.stake > b.stake ? -1 : 1))
        .map((entry) => entry.address);
      expect(await poolOrder(bm)).to.deep.equal(expected);
    });
  });

  // ---- Hints in a pool of 20 ----

  const POOL = 20;

  /**
   * 20 members with stakes 1000, 1100, ..., 2900 LPT (registered in a shuffled order), a self-bonded newcomer with
   * 1050 LPT that has not registered yet, and a funded delegator. `members[i]` has 1000 + 100 i LPT.
   */
  async function pool20() {
    const s = await deployedSuite();
    const members = await accounts(s, "pool20-member", POOL, LPT(10_000));
    const [newcomer] = await accounts(s, "pool20-newcomer", 1, LPT(10_000));
    const [delegator] = await accounts(s, "pool20-delegator", 1, LPT(10_000));
    await startNextRound(s.rounds);
    const random = prng(20);
    const order = members.map((_, i) => i).sort(() => random() - 0.5);
    for (const i of order) await register(s, members[i], LPT(1000 + 100 * i));
    await ensureRoom(s, 1);
    await s.bondingManager.connect(newcomer).bond(LPT(1050), newcomer.address);
    await startNextRound(s.rounds);
    return { ...s, bm: s.bondingManager, members, newcomer, delegator };
  }

  /** Runs `action` on a fresh copy of the pool of 20 and returns the resulting order and gas used. */
  async function onPool20(
    action: (s: Awaited<ReturnType<typeof pool20>>) => Promise<{ wait(): Promise<{ gasUsed: bigint } | null> }>,
  ) {
    const s = await loadFixture(pool20);
    const receipt = await (await action(s)).wait();
    return { order: await poolOrder(s.bm), gasUsed: receipt!.gasUsed, s };
  }

  describe("hints", () => {
    it("starts from 20 members in descending order", async () => {
      const { bm, members } = await loadFixture(pool20);
      expect(await poolOrder(bm)).to.deep.equal(members.map((m) => m.address).reverse());
    });

    it("inserts a joining orchestrator at the same place with correct, zero or wrong hints", async () => {
      const { members, newcomer } = await loadFixture(pool20);
      const [m0, m1] = [members[0].address, members[1].address];
      const top = members[POOL - 1].address;
      const expected = [
        ...members
          .slice(1)
          .map((m) => m.address)
          .reverse(),
        newcomer.address,
        m0,
      ];
      const hints: [string, string][] = [
        [m1, m0], // correct
        [ZeroAddress, ZeroAddress],
        [m0, m1], // swapped
        [top, ZeroAddress], // a valid prev far above
        [ZeroAddress, m0], // only next, correct
        [ZeroAddress, members[POOL - 2].address], // a next hint with more stake: ignored
        [newcomer.address, ethers.Wallet.createRandom().address], // not members
      ];
      for (const [prev, next] of hints) {
        const { order } = await onPool20((s) =>
          s.bm.connect(s.newcomer).transcoderWithHint(100_000n, 500_000n, prev, next),
        );
        expect(order, `hints (${prev}, ${next})`).to.deep.equal(expected);
      }
    });

    it("inserts near the end for less gas with correct hints than with zero hints", async () => {
      const { members } = await loadFixture(pool20);
      const hinted = await onPool20((s) =>
        s.bm.connect(s.newcomer).transcoderWithHint(100_000n, 500_000n, members[1].address, members[0].address),
      );
      const unhinted = await onPool20((s) => s.bm.connect(s.newcomer).transcoder(100_000n, 500_000n));
      expect(hinted.order).to.deep.equal(unhinted.order);
      expect(hinted.gasUsed).to.be.lessThan(unhinted.gasUsed);
    });

    it("moves a member whose stake grows to the same place with correct, zero or wrong hints", async () => {
      const { members } = await loadFixture(pool20);
      // members[0] grows from 1000 to 1150 LPT: between members[2] (1200) and members[1] (1100).
      const addresses = members.map((m) => m.address);
      const expected = [...addresses.slice(2).reverse(), addresses[0], addresses[1]];
      const hints: [string, string][] = [
        [addresses[2], addresses[1]],
        [ZeroAddress, ZeroAddress],
        [addresses[1], addresses[2]],
        [addresses[0], addresses[0]], // its own old position
        [ZeroAddress, addresses[1]],
      ];
      for (const [prev, next] of hints) {
        const { order } = await onPool20((s) =>
          s.bm.connect(s.delegator).bondWithHint(LPT(150), addresses[0], ZeroAddress, ZeroAddress, prev, next),
        );
        expect(order, `hints (${prev}, ${next})`).to.deep.equal(expected);
      }
    });

    it("moves a member near the end for less gas with correct hints than with zero hints", async () => {
      const { members } = await loadFixture(pool20);
      const [m0, m1, m2] = members.map((m) => m.address);
      const hinted = await onPool20((s) =>
        s.bm.connect(s.delegator).bondWithHint(LPT(150), m0, ZeroAddress, ZeroAddress, m2, m1),
      );
      const unhinted = await onPool20((s) => s.bm.connect(s.delegator).bond(LPT(150), m0));
      expect(hinted.order).to.deep.equal(unhinted.order);
      expect(hinted.gasUsed).to.be.lessThan(unhinted.gasUsed);
    });

    it("moves a member whose stake shrinks to the same place with correct, zero or wrong hints", async () => {
      const { members } = await loadFixture(pool20);
      // The top member (2900) unbonds 1850 to 1050: between members[1] (1100) and members[0] (1000).
      const addresses = members.map((m) => m.address);
      const expected = [...addresses.slice(1, POOL - 1).reverse(), addresses[POOL - 1], addresses[0]];
      const hints: [string, string][] = [
        [addresses[1], addresses[0]],
        [ZeroAddress, ZeroAddress],
        [addresses[0], addresses[1]],
        [addresses[POOL - 1], ZeroAddress],
      ];
      for (const [prev, next] of hints) {
        const { order } = await onPool20((s) =>
          s.bm.connect(s.members[POOL - 1]).unbondWithHint(LPT(1850), prev, next),
        );
        expect(order, `hints (${prev}, ${next})`).to.deep.equal(expected);
      }
    });
  });

  // ---- A full pool of 3 ----

  /**
   * Capacity 3 with t1 (300,000 LPT), t2 (200,000) and t3 (100,000), all active in the current round. Stakes are
   * large next to a round's inflation (about 2,200 LPT in all), so a reward never reorders the pool.
   */
  async function smallPool() {
    const s = await deployedSuite();
    const [owner, t1, t2, t3, t4, alice, bob] = await ethers.getSigners();
    const bm = s.bondingManager;
    for (const account of [t1, t2, t3, t4, alice, bob]) {
      await s.token.transfer(account.address, LPT(1_000_000));
      await s.token.connect(account).approve(await bm.getAddress(), MaxUint256);
    }
    await bm.connect(owner).setNumActiveTranscoders(3n);
    await startNextRound(s.rounds);
    const joinRound = await s.rounds.currentRound();
    for (const [t, stake] of [
      [t1, 300_000],
      [t2, 200_000],
      [t3, 100_000],
    ] as const) {
      await bm.connect(t).bond(LPT(stake), t.address);
      await bm.connect(t).transcoder(0n, 0n);
    }
    await startNextRound(s.rounds);
    return { ...s, bm, owner, t1, t2, t3, t4, alice, bob, joinRound, round: joinRound + 1n };
  }

  describe("eviction", () => {
    it("lets a newcomer with more stake than the last member evict it, effective next round", async () => {
      const { bm, t1, t2, t3, t4, round } = await loadFixture(smallPool);
      await bm.connect(t4).bond(LPT(150_000), t4.address);
      const tx = bm.connect(t4).transcoder(0n, 0n);
      await expect(tx)
        .to.emit(bm, "TranscoderDeactivated")
        .withArgs(t3.address, round + 1n);
      await expect(tx)
        .to.emit(bm, "TranscoderActivated")
        .withArgs(t4.address, round + 1n);
      expect(await poolOrder(bm)).to.deep.equal([t1.address, t2.address, t4.address]);
      expect(await bm.getTranscoderPoolSize()).to.equal(3n);
      expect(await bm.isInPool(t3.address)).to.equal(false);
      expect(await bm.isRegisteredTranscoder(t3.address)).to.equal(true);
      expect((await bm.getTranscoder(t3.address)).deactivationRound).to.equal(round + 1n);
      expect(await bm.nextRoundTotalActiveStake()).to.equal(LPT(650_000));
    });

    it("keeps the evicted member active for the rest of the round only", async () => {
      const s = await loadFixture(smallPool);
      const { bm, t3, t4, round } = s;
      await bm.connect(t4).bond(LPT(150_000), t4.address);
      await bm.connect(t4).transcoder(0n, 0n);
      expect(await bm.isActiveTranscoder(t3.address)).to.equal(true);
      await expect(bm.connect(t3).reward()).to.emit(bm, "Rewarded");
      await startNextRound(s.rounds);
      expect(await bm.isActiveTranscoder(t3.address)).to.equal(false);
      await expect(bm.connect(t3).reward())
        .to.be.revertedWithCustomError(bm, "TranscoderNotActive")
        .withArgs(t3.address, round + 1n);
    });

    it("activates the newcomer only from the next round", async () => {
      const s = await loadFixture(smallPool);
      const { bm, t1, t2, t4, round } = s;
      await bm.connect(t4).bond(LPT(150_000), t4.address);
      await bm.connect(t4).transcoder(0n, 0n);
      expect(await bm.isActiveTranscoder(t4.address)).to.equal(false);
      await expect(bm.connect(t4).reward())
        .to.be.revertedWithCustomError(bm, "TranscoderNotActive")
        .withArgs(t4.address, round);
      await startNextRound(s.rounds);
      expect(await bm.isActiveTranscoder(t4.address)).to.equal(true);
      expect(await bm.currentRoundTotalActiveStake()).to.equal(
        (await bm.transcoderTotalStake(t1.address)) +
          (await bm.transcoderTotalStake(t2.address)) +
          (await bm.transcoderTotalStake(t4.address)),
      );
      await expect(bm.connect(t4).reward()).to.emit(bm, "Rewarded");
    });

    it("does not let a newcomer with stake equal to the last member's join", async () => {
      const { bm, t1, t2, t3, t4 } = await loadFixture(smallPool);
      await bm.connect(t4).bond(LPT(100_000), t4.address);
      const tx = bm.connect(t4).transcoder(0n, 0n);
      await expect(tx).to.emit(bm, "TranscoderUpdated");
      await expect(tx).not.to.emit(bm, "TranscoderActivated");
      await expect(tx).not.to.emit(bm, "TranscoderDeactivated");
      expect(await poolOrder(bm)).to.deep.equal([t1.address, t2.address, t3.address]);
      expect(await bm.isInPool(t4.address)).to.equal(false);
      expect(await bm.isRegisteredTranscoder(t4.address)).to.equal(true);
    });

    it("does not let a newcomer with less stake than the last member join", async () => {
      const s = await loadFixture(smallPool);
      const { bm, t1, t2, t3, t4 } = s;
      await bm.connect(t4).bond(LPT(50_000), t4.address);
      await expect(bm.connect(t4).transcoder(0n, 0n)).not.to.emit(bm, "TranscoderActivated");
      expect(await poolOrder(bm)).to.deep.equal([t1.address, t2.address, t3.address]);
      await startNextRound(s.rounds);
      expect(await bm.isActiveTranscoder(t4.address)).to.equal(false);
    });

    it("admits a registered orchestrator outside the pool once delegators bond enough to beat the last member", async () => {
      const { bm, t1, t2, t3, t4, alice, round } = await loadFixture(smallPool);
      await bm.connect(t4).bond(LPT(60_000), t4.address);
      await bm.connect(t4).transcoder(0n, 0n);
      expect(await bm.isInPool(t4.address)).to.equal(false);
      // 100,000 LPT ties with the last member: not enough.
      await expect(bm.connect(alice).bond(LPT(40_000), t4.address)).not.to.emit(bm, "TranscoderActivated");
      expect(await bm.isInPool(t4.address)).to.equal(false);
      const tx = bm.connect(alice).bond(1n, t4.address);
      await expect(tx)
        .to.emit(bm, "TranscoderActivated")
        .withArgs(t4.address, round + 1n);
      await expect(tx)
        .to.emit(bm, "TranscoderDeactivated")
        .withArgs(t3.address, round + 1n);
      expect(await poolOrder(bm)).to.deep.equal([t1.address, t2.address, t4.address]);
    });

    it("lets a member evicted this round rejoin without losing this round's activity", async () => {
      const s = await loadFixture(smallPool);
      const { bm, t1, t2, t3, t4, bob, joinRound, round } = s;
      await bm.connect(t4).bond(LPT(150_000), t4.address);
      await bm.connect(t4).transcoder(0n, 0n);
      // t3 grows to 200,000 > 150,000 and pushes t4 out again.
      const tx = bm.connect(bob).bond(LPT(100_000), t3.address);
      await expect(tx)
        .to.emit(bm, "TranscoderActivated")
        .withArgs(t3.address, joinRound + 1n);
      await expect(tx)
        .to.emit(bm, "TranscoderDeactivated")
        .withArgs(t4.address, round + 1n);
      expect(await poolOrder(bm)).to.deep.equal([t1.address, t2.address, t3.address]);
      const t = await bm.getTranscoder(t3.address);
      expect(t.activationRound).to.equal(joinRound + 1n);
      expect(t.deactivationRound).to.equal(IN_POOL);
      expect(await bm.isActiveTranscoder(t3.address)).to.equal(true);
      await startNextRound(s.rounds);
      expect(await bm.isActiveTranscoder(t3.address)).to.equal(true);
      expect(await bm.isActiveTranscoder(t4.address)).to.equal(false);
    });

    it("lets a registered outsider join when its stake grows after the capacity is raised", async () => {
      const { bm, owner, t1, t2, t3, t4, alice, round } = await loadFixture(smallPool);
      await bm.connect(t4).bond(LPT(50_000), t4.address);
      await bm.connect(t4).transcoder(0n, 0n);
      await bm.connect(owner).setNumActiveTranscoders(4n);
      await expect(bm.connect(alice).bond(LPT(1), t4.address))
        .to.emit(bm, "TranscoderActivated")
        .withArgs(t4.address, round + 1n);
      expect(await poolOrder(bm)).to.deep.equal([t1.address, t2.address, t3.address, t4.address]);
    });
  });
});
