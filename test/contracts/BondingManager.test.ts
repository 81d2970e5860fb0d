import { expect } from "chai";
import { ethers } from "hardhat";
import { MaxUint256, ZeroAddress, id, parseEther } from "ethers";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";

import { ROUND_LENGTH, callAs, suiteWithMockTicketBroker } from "../support/fixtures";
import { mineToNextTxBlock, startNextRound } from "../support/chain";

const PERC = 1_000_000n;
const PRECISION = 10n ** 27n;
const IN_POOL = 2n ** 32n - 1n;
const UNBONDING_PERIOD = 2n;

const PENDING = 0n;
const BONDED = 1n;
const UNBONDED = 2n;

const T1_CUT = 100_000n; // keeps 10% of rewards
const T1_SHARE = 500_000n; // passes 50% of fees
const T2_CUT = 250_000n;
const T2_SHARE = 250_000n;

const LPT = (amount: number) => parseEther(amount.toString());

/** Cumulative reward factor after `delegatorsReward` is shared over `totalStake` (floor, as the contract does). */
const rewardFactorAfter = (open: bigint, delegatorsReward: bigint, totalStake: bigint) =>
  open + (open * delegatorsReward) / totalStake;

describe("BondingManager", () => {
  /** The deployed suite with LPT handed out and approved, in a freshly initialized round. */
  async function funded() {
    const s = await suiteWithMockTicketBroker();
    const [owner, t1, t2, alice, bob, carol, finder, stranger] = await ethers.getSigners();
    const bm = s.bondingManager;
    for (const account of [t1, t2, alice, bob, carol]) {
      await s.token.transfer(account.address, LPT(100_000));
      await s.token.connect(account).approve(await bm.getAddress(), MaxUint256);
    }
    await startNextRound(s.rounds);
    const round = await s.rounds.currentRound();
    return { ...s, bm, owner, t1, t2, alice, bob, carol, finder, stranger, round };
  }

  /**
   * t1 (1000 LPT self-bonded, alice delegates 500) and t2 (3000 LPT) registered in round `round - 1`, so both are
   * active in `round`, which has just been initialized.
   */
  async function withOrchestrators() {
    const s = await funded();
    await s.bm.connect(s.t1).bond(LPT(1000), s.t1.address);
    await s.bm.connect(s.t1).transcoder(T1_CUT, T1_SHARE);
    await s.bm.connect(s.t2).bond(LPT(3000), s.t2.address);
    await s.bm.connect(s.t2).transcoder(T2_CUT, T2_SHARE);
    await s.bm.connect(s.alice).bond(LPT(500), s.t1.address);
    await startNextRound(s.rounds);
    return { ...s, round: await s.rounds.currentRound() };
  }

  /** `withOrchestrators` where the TicketBroker deposited 1 ETH in the Minter and credited it as fees to t1. */
  async function withFees() {
    const s = await withOrchestrators();
    const fees = parseEther("1");
    await callAs(s.ticketBroker, s.minter, "depositETH", [], fees);
    await callAs(s.ticketBroker, s.bm, "updateTranscoderWithFees", [s.t1.address, fees, s.round]);
    return { ...s, fees };
  }

  /** Members of the pool from first to last. */
  async function poolOrder(bm: Awaited<ReturnType<typeof funded>>["bm"]) {
    const order: string[] = [];
    for (let member = await bm.getFirstTranscoderInPool(); member !== ZeroAddress;) {
      order.push(member);
      member = await bm.getNextTranscoderInPool(member);
    }
    return order;
  }

  describe("bond", () => {
    it("puts a first bond in the Pending state, starting next round", async () => {
      const { bm, alice, t1, round } = await loadFixture(funded);
      await bm.connect(alice).bond(LPT(100), t1.address);
      const d = await bm.getDelegator(alice.address);
      expect(d.bondedAmount).to.equal(LPT(100));
      expect(d.delegateAddress).to.equal(t1.address);
      expect(d.startRound).to.equal(round + 1n);
      expect(d.lastClaimRound).to.equal(round);
      expect(await bm.delegatorStatus(alice.address)).to.equal(PENDING);
    });

    it("emits Bonded with the new delegate, no old delegate and the amounts", async () => {
      const { bm, alice, t1 } = await loadFixture(funded);
      await expect(bm.connect(alice).bond(LPT(100), t1.address))
        .to.emit(bm, "Bonded")
        .withArgs(t1.address, ZeroAddress, alice.address, LPT(100), LPT(100));
    });

    it("moves the LPT from the delegator into the Minter", async () => {
      const { bm, alice, t1, token, minter } = await loadFixture(funded);
      await expect(bm.connect(alice).bond(LPT(100), t1.address)).to.changeTokenBalances(
        token,
        [alice, minter],
        [-LPT(100), LPT(100)],
      );
    });

    it("adds the stake to the delegate's total and to the total bonded", async () => {
      const { bm, alice, bob, t1 } = await loadFixture(funded);
      await bm.connect(alice).bond(LPT(100), t1.address);
      await bm.connect(bob).bond(LPT(50), t1.address);
      expect(await bm.transcoderTotalStake(t1.address)).to.equal(LPT(150));
      expect((await bm.getDelegator(t1.address)).delegatedAmount).to.equal(LPT(150));
      expect(await bm.getTotalBonded()).to.equal(LPT(150));
      // t1 is not a registered orchestrator, so none of it is active stake.
      expect(await bm.nextRoundTotalActiveStake()).to.equal(0n);
    });

    it("tops up a bond to the same delegate without changing its start round", async () => {
      const s = await loadFixture(funded);
      const { bm, alice, t1, round } = s;
      await bm.connect(alice).bond(LPT(100), t1.address);
      await startNextRound(s.rounds);
      await expect(bm.connect(alice).bond(LPT(50), t1.address))
        .to.emit(bm, "Bonded")
        .withArgs(t1.address, t1.address, alice.address, LPT(50), LPT(150));
      const d = await bm.getDelegator(alice.address);
      expect(d.bondedAmount).to.equal(LPT(150));
      expect(d.startRound).to.equal(round + 1n);
      expect(await bm.delegatorStatus(alice.address)).to.equal(BONDED);
      expect(await bm.transcoderTotalStake(t1.address)).to.equal(LPT(150));
      expect(await bm.getTotalBonded()).to.equal(LPT(150));
    });

    it("moves the whole stake to a new delegate, effective next round", async () => {
      const s = await loadFixture(withOrchestrators);
      const { bm, alice, t1, t2, round } = s;
      await expect(bm.connect(alice).bond(0n, t2.address))
        .to.emit(bm, "Bonded")
        .withArgs(t2.address, t1.address, alice.address, 0n, LPT(500));
      const d = await bm.getDelegator(alice.address);
      expect(d.delegateAddress).to.equal(t2.address);
      expect(d.bondedAmount).to.equal(LPT(500));
      expect(d.startRound).to.equal(round + 1n);
      expect(await bm.delegatorStatus(alice.address)).to.equal(PENDING);
      expect(await bm.transcoderTotalStake(t1.address)).to.equal(LPT(1000));
      expect(await bm.transcoderTotalStake(t2.address)).to.equal(LPT(3500));
      expect(await bm.getTotalBonded()).to.equal(LPT(4500));
      await startNextRound(s.rounds);
      expect(await bm.delegatorStatus(alice.address)).to.equal(BONDED);
    });

    it("adds a new amount on top of the moved stake when changing delegate", async () => {
      const { bm, alice, t1, t2, token, minter } = await loadFixture(withOrchestrators);
      await expect(bm.connect(alice).bond(LPT(200), t2.address)).to.changeTokenBalances(
        token,
        [alice, minter],
        [-LPT(200), LPT(200)],
      );
      expect((await bm.getDelegator(alice.address)).bondedAmount).to.equal(LPT(700));
      expect(await bm.transcoderTotalStake(t1.address)).to.equal(LPT(1000));
      expect(await bm.transcoderTotalStake(t2.address)).to.equal(LPT(3700));
      expect(await bm.getTotalBonded()).to.equal(LPT(4700));
    });

    it("keeps the next round's active stake when the stake moves between pool members", async () => {
      const { bm, alice, t2 } = await loadFixture(withOrchestrators);
      const before = await bm.nextRoundTotalActiveStake();
      await bm.connect(alice).bond(0n, t2.address);
      // Both delegates are in the pool: the stake only moves between them.
      expect(await bm.nextRoundTotalActiveStake()).to.equal(before);
      expect(before).to.equal(LPT(4500));
    });

    it("reverts with TranscoderCannotChangeDelegate for a registered orchestrator", async () => {
      const { bm, t1, t2 } = await loadFixture(withOrchestrators);
      await expect(bm.connect(t1).bond(0n, t2.address))
        .to.be.revertedWithCustomError(bm, "TranscoderCannotChangeDelegate")
        .withArgs(t1.address);
      await expect(bm.connect(t1).bond(LPT(1), t2.address)).to.be.revertedWithCustomError(
        bm,
        "TranscoderCannotChangeDelegate",
      );
    });

    it("reverts with ZeroDelegate when delegating to the zero address", async () => {
      const { bm, alice } = await loadFixture(funded);
      await expect(bm.connect(alice).bond(LPT(1), ZeroAddress)).to.be.revertedWithCustomError(bm, "ZeroDelegate");
    });

    it("reverts with ZeroAmount for a first bond or a top-up of nothing", async () => {
      const { bm, alice, bob, t1 } = await loadFixture(withOrchestrators);
      await expect(bm.connect(bob).bond(0n, t1.address)).to.be.revertedWithCustomError(bm, "ZeroAmount");
      await expect(bm.connect(alice).bond(0n, t1.address)).to.be.revertedWithCustomError(bm, "ZeroAmount");
    });

    it("reverts with CurrentRoundNotInitialized when the round is not initialized", async () => {
      const s = await loadFixture(funded);
      await mineToNextTxBlock((await s.rounds.currentRoundStartBlock()) + ROUND_LENGTH);
      await expect(s.bm.connect(s.alice).bond(LPT(1), s.t1.address))
        .to.be.revertedWithCustomError(s.bm, "CurrentRoundNotInitialized")
        .withArgs(s.round + 1n);
    });

    it("reverts with SystemIsPaused when the Controller is paused", async () => {
      const { bm, controller, alice, t1 } = await loadFixture(funded);
      await controller.pause();
      await expect(bm.connect(alice).bond(LPT(1), t1.address)).to.be.revertedWithCustomError(bm, "SystemIsPaused");
    });
  });

  describe("bondWithHint", () => {
    it("bonds like bond when given the delegate's correct position", async () => {
      const { bm, bob, t1, t2 } = await loadFixture(withOrchestrators);
      // t1 (1500) grows to 3600, ahead of t2 (3000): its new position is (nothing, t2).
      await bm.connect(bob).bondWithHint(LPT(2100), t1.address, ZeroAddress, ZeroAddress, ZeroAddress, t2.address);
      expect(await poolOrder(bm)).to.deep.equal([t1.address, t2.address]);
      expect(await bm.transcoderTotalStake(t1.address)).to.equal(LPT(3600));
    });

    it("reaches the same pool order with wrong hints", async () => {
      const { bm, bob, alice, t1, t2 } = await loadFixture(withOrchestrators);
      await bm.connect(bob).bondWithHint(LPT(2100), t1.address, t1.address, t2.address, t2.address, alice.address);
      expect(await poolOrder(bm)).to.deep.equal([t1.address, t2.address]);
    });
  });

  describe("unbond", () => {
    it("creates an unbonding lock withdrawable after the unbonding period", async () => {
      const { bm, alice, round } = await loadFixture(withOrchestrators);
      await bm.connect(alice).unbond(LPT(200));
      const lock = await bm.getUnbondingLock(alice.address, 0n);
      expect(lock.amount).to.equal(LPT(200));
      expect(lock.withdrawRound).to.equal(round + UNBONDING_PERIOD);
      const d = await bm.getDelegator(alice.address);
      expect(d.bondedAmount).to.equal(LPT(300));
      expect(d.nextUnbondingLockId).to.equal(1n);
    });

    it("emits Unbonded with the lock id and withdraw round", async () => {
      const { bm, alice, t1, round } = await loadFixture(withOrchestrators);
      await expect(bm.connect(alice).unbond(LPT(200)))
        .to.emit(bm, "Unbonded")
        .withArgs(t1.address, alice.address, 0n, LPT(200), round + UNBONDING_PERIOD);
      await expect(bm.connect(alice).unbond(LPT(100)))
        .to.emit(bm, "Unbonded")
        .withArgs(t1.address, alice.address, 1n, LPT(100), round + UNBONDING_PERIOD);
    });

    it("takes the amount out of the delegate's stake, the total bonded and the next round's active stake", async () => {
      const { bm, alice, t1 } = await loadFixture(withOrchestrators);
      await bm.connect(alice).unbond(LPT(200));
      expect(await bm.transcoderTotalStake(t1.address)).to.equal(LPT(1300));
      expect(await bm.getTotalBonded()).to.equal(LPT(4300));
      expect(await bm.nextRoundTotalActiveStake()).to.equal(LPT(4300));
    });

    it("reverts with InsufficientBondedAmount above the bonded amount", async () => {
      const { bm, alice } = await loadFixture(withOrchestrators);
      await expect(bm.connect(alice).unbond(LPT(500) + 1n))
        .to.be.revertedWithCustomError(bm, "InsufficientBondedAmount")
        .withArgs(LPT(500) + 1n, LPT(500));
    });

    it("reverts with NotBonded for an account that never bonded", async () => {
      const { bm, bob } = await loadFixture(withOrchestrators);
      await expect(bm.connect(bob).unbond(LPT(1)))
        .to.be.revertedWithCustomError(bm, "NotBonded")
        .withArgs(bob.address);
    });

    it("reverts with ZeroAmount for nothing", async () => {
      const { bm, alice } = await loadFixture(withOrchestrators);
      await expect(bm.connect(alice).unbond(0n)).to.be.revertedWithCustomError(bm, "ZeroAmount");
    });

    it("clears the delegate when everything is unbonded", async () => {
      const { bm, alice, t1 } = await loadFixture(withOrchestrators);
      await bm.connect(alice).unbond(LPT(500));
      const d = await bm.getDelegator(alice.address);
      expect(d.bondedAmount).to.equal(0n);
      expect(d.delegateAddress).to.equal(ZeroAddress);
      expect(d.startRound).to.equal(0n);
      expect(await bm.delegatorStatus(alice.address)).to.equal(UNBONDED);
      expect(await bm.transcoderTotalStake(t1.address)).to.equal(LPT(1000));
      await expect(bm.connect(alice).unbond(LPT(1)))
        .to.be.revertedWithCustomError(bm, "NotBonded")
        .withArgs(alice.address);
    });

    it("resigns a registered orchestrator that unbonds everything from the pool", async () => {
      const s = await loadFixture(withOrchestrators);
      const { bm, t1, t2, round } = s;
      await expect(bm.connect(t2).unbond(LPT(3000)))
        .to.emit(bm, "TranscoderDeactivated")
        .withArgs(t2.address, round + 1n);
      expect(await bm.isInPool(t2.address)).to.equal(false);
      expect(await bm.isRegisteredTranscoder(t2.address)).to.equal(false);
      expect(await bm.getTranscoderPoolSize()).to.equal(1n);
      expect(await poolOrder(bm)).to.deep.equal([t1.address]);
      expect(await bm.nextRoundTotalActiveStake()).to.equal(LPT(1500));
      expect((await bm.getTranscoder(t2.address)).deactivationRound).to.equal(round + 1n);
      // Active until the end of this round only.
      expect(await bm.isActiveTranscoder(t2.address)).to.equal(true);
      await startNextRound(s.rounds);
      expect(await bm.isActiveTranscoder(t2.address)).to.equal(false);
      expect(await bm.currentRoundTotalActiveStake()).to.equal(LPT(1500));
    });

    it("removes the delegators' stake from the next round's active stake when the orchestrator resigns", async () => {
      const { bm, t1, alice } = await loadFixture(withOrchestrators);
      await bm.connect(t1).unbond(LPT(1000));
      expect(await bm.nextRoundTotalActiveStake()).to.equal(LPT(3000));
      expect(await bm.transcoderTotalStake(t1.address)).to.equal(LPT(500));
      expect((await bm.getDelegator(alice.address)).delegateAddress).to.equal(t1.address);
    });

    it("takes stake added this round first, so the earning stake keeps this round's reward", async () => {
      const { bm, minter, t1, alice, round } = await loadFixture(withOrchestrators);
      await bm.connect(alice).bond(LPT(200), t1.address);
      await bm.connect(alice).unbond(LPT(200));
      await bm.connect(t1).reward();
      const minted = await minter.currentMintedTokens();
      const factor = rewardFactorAfter(PRECISION, minted - (minted * T1_CUT) / PERC, LPT(1500));
      expect(await bm.pendingStake(alice.address, round)).to.equal((LPT(500) * factor) / PRECISION);
    });

    it("keeps a registered orchestrator that unbonds part of its stake in the pool", async () => {
      const { bm, t2 } = await loadFixture(withOrchestrators);
      await expect(bm.connect(t2).unbond(LPT(1000))).to.not.emit(bm, "TranscoderDeactivated");
      expect(await bm.isInPool(t2.address)).to.equal(true);
      expect(await bm.transcoderTotalStake(t2.address)).to.equal(LPT(2000));
    });
  });

  describe("rebond", () => {
    it("bonds an unbonding lock again to the current delegate", async () => {
      const { bm, alice, t1 } = await loadFixture(withOrchestrators);
      await bm.connect(alice).unbond(LPT(200));
      await expect(bm.connect(alice).rebond(0n))
        .to.emit(bm, "Rebonded")
        .withArgs(t1.address, alice.address, 0n, LPT(200));
      expect((await bm.getDelegator(alice.address)).bondedAmount).to.equal(LPT(500));
      expect((await bm.getUnbondingLock(alice.address, 0n)).amount).to.equal(0n);
      expect(await bm.transcoderTotalStake(t1.address)).to.equal(LPT(1500));
      expect(await bm.getTotalBonded()).to.equal(LPT(4500));
      expect(await bm.nextRoundTotalActiveStake()).to.equal(LPT(4500));
    });

    it("reverts with UnbondingLockNotFound for an unknown lock", async () => {
      const { bm, alice } = await loadFixture(withOrchestrators);
      await expect(bm.connect(alice).rebond(7n))
        .to.be.revertedWithCustomError(bm, "UnbondingLockNotFound")
        .withArgs(alice.address, 7n);
    });

    it("reverts with UnbondingLockNotFound for a lock already rebonded", async () => {
      const { bm, alice } = await loadFixture(withOrchestrators);
      await bm.connect(alice).unbond(LPT(200));
      await bm.connect(alice).rebond(0n);
      await expect(bm.connect(alice).rebond(0n))
        .to.be.revertedWithCustomError(bm, "UnbondingLockNotFound")
        .withArgs(alice.address, 0n);
    });

    it("reverts with NotBonded when fully unbonded", async () => {
      const { bm, alice } = await loadFixture(withOrchestrators);
      await bm.connect(alice).unbond(LPT(500));
      await expect(bm.connect(alice).rebond(0n)).to.be.revertedWithCustomError(bm, "NotBonded").withArgs(alice.address);
    });
  });

  describe("rebondFromUnbonded", () => {
    it("reverts with AlreadyBonded while still bonded", async () => {
      const { bm, alice, t2 } = await loadFixture(withOrchestrators);
      await bm.connect(alice).unbond(LPT(200));
      await expect(bm.connect(alice).rebondFromUnbonded(t2.address, 0n))
        .to.be.revertedWithCustomError(bm, "AlreadyBonded")
        .withArgs(alice.address);
    });

    it("bonds a lock to a new delegate from the Unbonded state, effective next round", async () => {
      const { bm, alice, t1, t2, round } = await loadFixture(withOrchestrators);
      await bm.connect(alice).unbond(LPT(500));
      await expect(bm.connect(alice).rebondFromUnbonded(t2.address, 0n))
        .to.emit(bm, "Rebonded")
        .withArgs(t2.address, alice.address, 0n, LPT(500));
      const d = await bm.getDelegator(alice.address);
      expect(d.delegateAddress).to.equal(t2.address);
      expect(d.bondedAmount).to.equal(LPT(500));
      expect(d.startRound).to.equal(round + 1n);
      expect(await bm.delegatorStatus(alice.address)).to.equal(PENDING);
      expect(await bm.transcoderTotalStake(t1.address)).to.equal(LPT(1000));
      expect(await bm.transcoderTotalStake(t2.address)).to.equal(LPT(3500));
      expect(await bm.getTotalBonded()).to.equal(LPT(4500));
    });

    it("reverts with ZeroDelegate for the zero address", async () => {
      const { bm, alice } = await loadFixture(withOrchestrators);
      await bm.connect(alice).unbond(LPT(500));
      await expect(bm.connect(alice).rebondFromUnbonded(ZeroAddress, 0n)).to.be.revertedWithCustomError(
        bm,
        "ZeroDelegate",
      );
    });

    it("reverts with UnbondingLockNotFound for an unknown lock", async () => {
      const { bm, alice, t2 } = await loadFixture(withOrchestrators);
      await bm.connect(alice).unbond(LPT(500));
      await expect(bm.connect(alice).rebondFromUnbonded(t2.address, 1n))
        .to.be.revertedWithCustomError(bm, "UnbondingLockNotFound")
        .withArgs(alice.address, 1n);
    });
  });

  describe("withdrawStake", () => {
    it("reverts with UnbondingLockNotWithdrawable before the withdraw round", async () => {
      const s = await loadFixture(withOrchestrators);
      const { bm, alice, round } = s;
      await bm.connect(alice).unbond(LPT(200));
      await expect(bm.connect(alice).withdrawStake(0n))
        .to.be.revertedWithCustomError(bm, "UnbondingLockNotWithdrawable")
        .withArgs(0n, round + 2n, round);
      await startNextRound(s.rounds);
      await expect(bm.connect(alice).withdrawStake(0n))
        .to.be.revertedWithCustomError(bm, "UnbondingLockNotWithdrawable")
        .withArgs(0n, round + 2n, round + 1n);
    });

    it("pays the LPT from the Minter in the withdraw round", async () => {
      const s = await loadFixture(withOrchestrators);
      const { bm, alice, token, minter, round } = s;
      await bm.connect(alice).unbond(LPT(200));
      await startNextRound(s.rounds);
      await startNextRound(s.rounds);
      const tx = bm.connect(alice).withdrawStake(0n);
      await expect(tx).to.changeTokenBalances(token, [alice, minter], [LPT(200), -LPT(200)]);
      await expect(tx)
        .to.emit(bm, "StakeWithdrawn")
        .withArgs(alice.address, 0n, LPT(200), round + 2n);
      expect((await bm.getUnbondingLock(alice.address, 0n)).amount).to.equal(0n);
    });

    it("cannot withdraw a lock twice", async () => {
      const s = await loadFixture(withOrchestrators);
      await s.bm.connect(s.alice).unbond(LPT(200));
      await startNextRound(s.rounds);
      await startNextRound(s.rounds);
      await s.bm.connect(s.alice).withdrawStake(0n);
      await expect(s.bm.connect(s.alice).withdrawStake(0n))
        .to.be.revertedWithCustomError(s.bm, "UnbondingLockNotFound")
        .withArgs(s.alice.address, 0n);
    });

    it("cannot withdraw a lock that was rebonded", async () => {
      const s = await loadFixture(withOrchestrators);
      await s.bm.connect(s.alice).unbond(LPT(200));
      await s.bm.connect(s.alice).rebond(0n);
      await startNextRound(s.rounds);
      await startNextRound(s.rounds);
      await expect(s.bm.connect(s.alice).withdrawStake(0n)).to.be.revertedWithCustomError(
        s.bm,
        "UnbondingLockNotFound",
      );
    });
  });

  describe("transcoder", () => {
    it("reverts with NotSelfBonded for an account that is not bonded to itself", async () => {
      const { bm, alice, bob, t1 } = await loadFixture(funded);
      await expect(bm.connect(bob).transcoder(0n, 0n))
        .to.be.revertedWithCustomError(bm, "NotSelfBonded")
        .withArgs(bob.address);
      await bm.connect(alice).bond(LPT(100), t1.address);
      await expect(bm.connect(alice).transcoder(0n, 0n))
        .to.be.revertedWithCustomError(bm, "NotSelfBonded")
        .withArgs(alice.address);
    });

    it("reverts with InvalidRewardCut above 1,000,000", async () => {
      const { bm, t1 } = await loadFixture(funded);
      await bm.connect(t1).bond(LPT(100), t1.address);
      await expect(bm.connect(t1).transcoder(PERC + 1n, 0n))
        .to.be.revertedWithCustomError(bm, "InvalidRewardCut")
        .withArgs(PERC + 1n);
    });

    it("reverts with InvalidFeeShare above 1,000,000", async () => {
      const { bm, t1 } = await loadFixture(funded);
      await bm.connect(t1).bond(LPT(100), t1.address);
      await expect(bm.connect(t1).transcoder(0n, PERC + 1n))
        .to.be.revertedWithCustomError(bm, "InvalidFeeShare")
        .withArgs(PERC + 1n);
    });

    it("accepts cuts of exactly 1,000,000", async () => {
      const { bm, t1 } = await loadFixture(funded);
      await bm.connect(t1).bond(LPT(100), t1.address);
      await bm.connect(t1).transcoder(PERC, PERC);
      const t = await bm.getTranscoder(t1.address);
      expect(t.rewardCut).to.equal(PERC);
      expect(t.feeShare).to.equal(PERC);
    });

    it("reverts with RoundLocked in the last 2 blocks of a round", async () => {
      const s = await loadFixture(funded);
      await s.bm.connect(s.t1).bond(LPT(100), s.t1.address);
      const start = await s.rounds.currentRoundStartBlock();
      await mineToNextTxBlock(start + ROUND_LENGTH - 2n);
      await expect(s.bm.connect(s.t1).transcoder(0n, 0n))
        .to.be.revertedWithCustomError(s.bm, "RoundLocked")
        .withArgs(s.round);
      await mineToNextTxBlock(start + ROUND_LENGTH - 1n);
      await expect(s.bm.connect(s.t1).transcoder(0n, 0n))
        .to.be.revertedWithCustomError(s.bm, "RoundLocked")
        .withArgs(s.round);
    });

    it("is allowed in the block just before the round lock", async () => {
      const s = await loadFixture(funded);
      await s.bm.connect(s.t1).bond(LPT(100), s.t1.address);
      await mineToNextTxBlock((await s.rounds.currentRoundStartBlock()) + ROUND_LENGTH - 3n);
      await expect(s.bm.connect(s.t1).transcoder(0n, 0n)).to.emit(s.bm, "TranscoderUpdated");
    });

    it("registers and joins the pool from next round", async () => {
      const { bm, t1, round } = await loadFixture(funded);
      await bm.connect(t1).bond(LPT(100), t1.address);
      const tx = bm.connect(t1).transcoder(T1_CUT, T1_SHARE);
      await expect(tx)
        .to.emit(bm, "TranscoderActivated")
        .withArgs(t1.address, round + 1n);
      await expect(tx).to.emit(bm, "TranscoderUpdated").withArgs(t1.address, T1_CUT, T1_SHARE);
      const t = await bm.getTranscoder(t1.address);
      expect(t.rewardCut).to.equal(T1_CUT);
      expect(t.feeShare).to.equal(T1_SHARE);
      expect(t.activationRound).to.equal(round + 1n);
      expect(t.deactivationRound).to.equal(IN_POOL);
      expect(t.registered).to.equal(true);
      expect(await bm.isInPool(t1.address)).to.equal(true);
      expect(await bm.getTranscoderPoolSize()).to.equal(1n);
      expect(await bm.nextRoundTotalActiveStake()).to.equal(LPT(100));
      expect(await bm.isActiveTranscoder(t1.address)).to.equal(false);
    });

    it("updates the cuts of a member without joining again", async () => {
      const { bm, t1 } = await loadFixture(withOrchestrators);
      const tx = bm.connect(t1).transcoder(1n, 2n);
      await expect(tx).to.emit(bm, "TranscoderUpdated").withArgs(t1.address, 1n, 2n);
      await expect(tx).not.to.emit(bm, "TranscoderActivated");
      const t = await bm.getTranscoder(t1.address);
      expect(t.rewardCut).to.equal(1n);
      expect(t.feeShare).to.equal(2n);
      expect(await bm.getTranscoderPoolSize()).to.equal(2n);
      expect(await bm.isActiveTranscoder(t1.address)).to.equal(true);
    });
  });

  describe("reward", () => {
    it("reverts with TranscoderNotActive before the activation round", async () => {
      const s = await loadFixture(funded);
      const { bm, t1, round } = s;
      await bm.connect(t1).bond(LPT(100), t1.address);
      await bm.connect(t1).transcoder(0n, 0n);
      await expect(bm.connect(t1).reward())
        .to.be.revertedWithCustomError(bm, "TranscoderNotActive")
        .withArgs(t1.address, round);
      await startNextRound(s.rounds);
      await expect(bm.connect(t1).reward()).to.emit(bm, "Rewarded");
    });

    it("reverts with TranscoderNotActive for an account that is not registered", async () => {
      const { bm, alice, round } = await loadFixture(withOrchestrators);
      await expect(bm.connect(alice).reward())
        .to.be.revertedWithCustomError(bm, "TranscoderNotActive")
        .withArgs(alice.address, round);
    });

    it("reverts with RewardAlreadyMinted the second time in a round", async () => {
      const { bm, t1, round } = await loadFixture(withOrchestrators);
      await bm.connect(t1).reward();
      await expect(bm.connect(t1).reward())
        .to.be.revertedWithCustomError(bm, "RewardAlreadyMinted")
        .withArgs(t1.address, round);
    });

    it("mints the orchestrator's share of the round's mintable tokens", async () => {
      const { bm, minter, token, t1, round } = await loadFixture(withOrchestrators);
      const mintable = await minter.currentMintableTokens();
      const totalActive = await bm.currentRoundTotalActiveStake();
      expect(totalActive).to.equal(LPT(4500));
      const expected = (mintable * LPT(1500)) / totalActive;
      expect(expected).to.be.greaterThan(0n);
      const tx = bm.connect(t1).reward();
      await expect(tx).to.emit(bm, "Rewarded").withArgs(t1.address, round, expected);
      await expect(tx).to.changeTokenBalance(token, minter, expected);
    });

    it("adds the minted LPT to the stake, the total bonded and the next round's active stake", async () => {
      const { bm, minter, t1, round } = await loadFixture(withOrchestrators);
      await bm.connect(t1).reward();
      const minted = await minter.currentMintedTokens();
      expect((await bm.getTranscoder(t1.address)).lastRewardRound).to.equal(round);
      expect(await bm.transcoderTotalStake(t1.address)).to.equal(LPT(1500) + minted);
      expect(await bm.getTotalBonded()).to.equal(LPT(4500) + minted);
      expect(await bm.nextRoundTotalActiveStake()).to.equal(LPT(4500) + minted);
    });

    it("splits the reward between the orchestrator's commission and its delegators by rewardCut", async () => {
      const s = await loadFixture(withOrchestrators);
      const { bm, minter, t1, alice } = s;
      await bm.connect(t1).reward();
      const minted = await minter.currentMintedTokens();
      const commission = (minted * T1_CUT) / PERC;
      const factor = rewardFactorAfter(PRECISION, minted - commission, LPT(1500));
      await startNextRound(s.rounds);
      const round = await s.rounds.currentRound();
      const aliceStake = (LPT(500) * factor) / PRECISION;
      const t1Stake = (LPT(1000) * factor) / PRECISION + commission;
      expect(await bm.pendingStake(alice.address, round)).to.equal(aliceStake);
      expect(await bm.pendingStake(t1.address, round)).to.equal(t1Stake);
      // Everything minted is claimable, up to rounding down.
      const shortfall = LPT(1500) + minted - aliceStake - t1Stake;
      expect(shortfall).to.be.within(0n, 2n);
    });

    it("counts the current round's reward in pendingStake at once", async () => {
      const { bm, minter, t1, alice, round } = await loadFixture(withOrchestrators);
      expect(await bm.pendingStake(alice.address, round)).to.equal(LPT(500));
      await bm.connect(t1).reward();
      const minted = await minter.currentMintedTokens();
      const factor = rewardFactorAfter(PRECISION, minted - (minted * T1_CUT) / PERC, LPT(1500));
      expect(await bm.pendingStake(alice.address, round)).to.equal((LPT(500) * factor) / PRECISION);
      // getDelegator shows the books as last settled.
      expect((await bm.getDelegator(alice.address)).bondedAmount).to.equal(LPT(500));
    });
  });

  describe("updateTranscoderWithFees", () => {
    it("reverts with CallerNotManager for anyone but the TicketBroker", async () => {
      const { bm, stranger, disputeManager, t1, round } = await loadFixture(withOrchestrators);
      await expect(bm.connect(stranger).updateTranscoderWithFees(t1.address, 1n, round))
        .to.be.revertedWithCustomError(bm, "CallerNotManager")
        .withArgs(stranger.address, id("TicketBroker"));
      await expect(callAs(disputeManager, bm, "updateTranscoderWithFees", [t1.address, 1n, round]))
        .to.be.revertedWithCustomError(bm, "CallerNotManager")
        .withArgs(await disputeManager.getAddress(), id("TicketBroker"));
    });

    it("reverts with TranscoderNotActive for an orchestrator that is not active", async () => {
      const { bm, ticketBroker, alice, bob, round } = await loadFixture(withOrchestrators);
      await expect(callAs(ticketBroker, bm, "updateTranscoderWithFees", [alice.address, 1n, round]))
        .to.be.revertedWithCustomError(bm, "TranscoderNotActive")
        .withArgs(alice.address, round);
      // Registered this round: active only from the next.
      await bm.connect(bob).bond(LPT(10), bob.address);
      await bm.connect(bob).transcoder(0n, 0n);
      await expect(callAs(ticketBroker, bm, "updateTranscoderWithFees", [bob.address, 1n, round]))
        .to.be.revertedWithCustomError(bm, "TranscoderNotActive")
        .withArgs(bob.address, round);
    });

    it("emits FeesCredited", async () => {
      const { bm, ticketBroker, t1, round } = await loadFixture(withOrchestrators);
      await expect(callAs(ticketBroker, bm, "updateTranscoderWithFees", [t1.address, 1000n, round]))
        .to.emit(bm, "FeesCredited")
        .withArgs(t1.address, round, 1000n);
    });

    it("credits the orchestrator's part of the fees at once", async () => {
      const { bm, t1, fees } = await loadFixture(withFees);
      const delegatorsFees = (fees * T1_SHARE) / PERC;
      expect((await bm.getDelegator(t1.address)).fees).to.equal(fees - delegatorsFees);
    });

    it("shares the delegators' part by stake, visible through pendingFees next round", async () => {
      const s = await loadFixture(withFees);
      const { bm, t1, alice, fees } = s;
      const delegatorsFees = (fees * T1_SHARE) / PERC;
      const feeFactor = (PRECISION * delegatorsFees) / LPT(1500);
      await startNextRound(s.rounds);
      const round = await s.rounds.currentRound();
      const aliceFees = (LPT(500) * feeFactor) / PRECISION;
      const t1Fees = fees - delegatorsFees + (LPT(1000) * feeFactor) / PRECISION;
      expect(await bm.pendingFees(alice.address, round)).to.equal(aliceFees);
      expect(await bm.pendingFees(t1.address, round)).to.equal(t1Fees);
      expect(aliceFees + t1Fees).to.be.within(fees - 2n, fees);
    });

    it("passes nothing to delegators with a zero fee share", async () => {
      const s = await loadFixture(withOrchestrators);
      const { bm, t1, alice, ticketBroker, round } = s;
      await bm.connect(t1).transcoder(T1_CUT, 0n);
      await callAs(ticketBroker, bm, "updateTranscoderWithFees", [t1.address, 1000n, round]);
      expect((await bm.getDelegator(t1.address)).fees).to.equal(1000n);
      await startNextRound(s.rounds);
      expect(await bm.pendingFees(alice.address, round + 1n)).to.equal(0n);
    });
  });

  describe("withdrawFees", () => {
    it("reverts with ZeroRecipient for the zero address", async () => {
      const { bm, t1 } = await loadFixture(withFees);
      await expect(bm.connect(t1).withdrawFees(ZeroAddress, 1n)).to.be.revertedWithCustomError(bm, "ZeroRecipient");
    });

    it("reverts with ZeroAmount for nothing", async () => {
      const { bm, t1, finder } = await loadFixture(withFees);
      await expect(bm.connect(t1).withdrawFees(finder.address, 0n)).to.be.revertedWithCustomError(bm, "ZeroAmount");
    });

    it("reverts with InsufficientFees above the earned fees", async () => {
      const { bm, t1, finder, fees } = await loadFixture(withFees);
      const available = fees - (fees * T1_SHARE) / PERC;
      await expect(bm.connect(t1).withdrawFees(finder.address, available + 1n))
        .to.be.revertedWithCustomError(bm, "InsufficientFees")
        .withArgs(available + 1n, available);
    });

    it("pays the ETH from the Minter to the recipient", async () => {
      const { bm, minter, t1, finder } = await loadFixture(withFees);
      const amount = parseEther("0.2");
      const before = (await bm.getDelegator(t1.address)).fees;
      const tx = bm.connect(t1).withdrawFees(finder.address, amount);
      await expect(tx).to.changeEtherBalances([finder, minter], [amount, -amount]);
      await expect(tx).to.emit(bm, "FeesWithdrawn").withArgs(t1.address, finder.address, amount);
      expect((await bm.getDelegator(t1.address)).fees).to.equal(before - amount);
    });

    it("settles a delegator's share first, so it can be withdrawn in a later round", async () => {
      const s = await loadFixture(withFees);
      const { bm, alice, finder } = s;
      await startNextRound(s.rounds);
      const owed = await bm.pendingFees(alice.address, await s.rounds.currentRound());
      expect(owed).to.be.greaterThan(0n);
      await expect(bm.connect(alice).withdrawFees(finder.address, owed)).to.changeEtherBalance(finder, owed);
      expect((await bm.getDelegator(alice.address)).fees).to.equal(0n);
      await expect(bm.connect(alice).withdrawFees(finder.address, 1n)).to.be.revertedWithCustomError(
        bm,
        "InsufficientFees",
      );
    });
  });

  describe("claimEarnings", () => {
    it("reverts with InvalidEndRound unless endRound is the current round", async () => {
      const { bm, alice, round } = await loadFixture(withOrchestrators);
      await expect(bm.connect(alice).claimEarnings(round - 1n))
        .to.be.revertedWithCustomError(bm, "InvalidEndRound")
        .withArgs(round - 1n, round);
      await expect(bm.connect(alice).claimEarnings(round + 1n))
        .to.be.revertedWithCustomError(bm, "InvalidEndRound")
        .withArgs(round + 1n, round);
    });

    it("settles rewards and fees through the previous round and emits EarningsClaimed", async () => {
      const s = await loadFixture(withFees);
      const { bm, minter, t1, alice, fees, round } = s;
      await bm.connect(t1).reward();
      const minted = await minter.currentMintedTokens();
      const factor = rewardFactorAfter(PRECISION, minted - (minted * T1_CUT) / PERC, LPT(1500));
      const feeFactor = (PRECISION * ((fees * T1_SHARE) / PERC)) / LPT(1500);
      const stake = (LPT(500) * factor) / PRECISION;
      const aliceFees = (LPT(500) * feeFactor) / PRECISION;
      const { lastClaimRound } = await bm.getDelegator(alice.address);
      await startNextRound(s.rounds);
      await expect(bm.connect(alice).claimEarnings(round + 1n))
        .to.emit(bm, "EarningsClaimed")
        .withArgs(t1.address, alice.address, stake - LPT(500), aliceFees, lastClaimRound, round);
      const d = await bm.getDelegator(alice.address);
      expect(d.bondedAmount).to.equal(stake);
      expect(d.fees).to.equal(aliceFees);
      expect(d.lastClaimRound).to.equal(round + 1n);
      expect(await bm.pendingStake(alice.address, round + 1n)).to.equal(stake);
    });

    it("costs the same after 30 rounds of rewards as after one", async () => {
      const s = await loadFixture(withOrchestrators);
      const { bm, t1, bob, carol } = s;
      await bm.connect(bob).bond(LPT(400), t1.address);
      await bm.connect(carol).bond(LPT(400), t1.address);
      await bm.connect(t1).reward();
      await startNextRound(s.rounds);
      await bm.connect(t1).reward();
      const after1 = await (await bm.connect(bob).claimEarnings(await s.rounds.currentRound())).wait();
      for (let i = 0; i < 29; i++) {
        await startNextRound(s.rounds);
        await bm.connect(t1).reward();
      }
      const after30 = await (await bm.connect(carol).claimEarnings(await s.rounds.currentRound())).wait();
      const gas1 = after1!.gasUsed;
      const gas30 = after30!.gasUsed;
      const difference = gas30 > gas1 ? gas30 - gas1 : gas1 - gas30;
      expect(difference * 100n).to.be.lessThan(gas1 * 5n);
      // Both really settled: carol has 29 more rounds of rewards.
      expect((await bm.getDelegator(carol.address)).bondedAmount).to.be.greaterThan(
        (await bm.getDelegator(bob.address)).bondedAmount,
      );
    });
  });

  describe("slashTranscoder", () => {
    const SLASH = 500_000n; // half
    const FINDER_FEE = 100_000n; // 10% of the penalty

    it("reverts with CallerNotManager for anyone but the DisputeManager", async () => {
      const { bm, stranger, ticketBroker, t1, finder } = await loadFixture(withOrchestrators);
      await expect(bm.connect(stranger).slashTranscoder(t1.address, finder.address, SLASH, FINDER_FEE))
        .to.be.revertedWithCustomError(bm, "CallerNotManager")
        .withArgs(stranger.address, id("DisputeManager"));
      await expect(callAs(ticketBroker, bm, "slashTranscoder", [t1.address, finder.address, SLASH, FINDER_FEE]))
        .to.be.revertedWithCustomError(bm, "CallerNotManager")
        .withArgs(await ticketBroker.getAddress(), id("DisputeManager"));
    });

    it("takes slashAmount of the orchestrator's own stake, not its delegators'", async () => {
      const { bm, disputeManager, t1, alice, finder, round } = await loadFixture(withOrchestrators);
      const penalty = (LPT(1000) * SLASH) / PERC;
      const finderReward = (penalty * FINDER_FEE) / PERC;
      await expect(callAs(disputeManager, bm, "slashTranscoder", [t1.address, finder.address, SLASH, FINDER_FEE]))
        .to.emit(bm, "TranscoderSlashed")
        .withArgs(t1.address, finder.address, penalty, finderReward);
      expect((await bm.getDelegator(t1.address)).bondedAmount).to.equal(LPT(1000) - penalty);
      expect(await bm.transcoderTotalStake(t1.address)).to.equal(LPT(1500) - penalty);
      expect(await bm.getTotalBonded()).to.equal(LPT(4500) - penalty);
      expect(await bm.pendingStake(alice.address, round)).to.equal(LPT(500));
    });

    it("pays the finder its fee of the penalty and burns the rest", async () => {
      const { bm, token, minter, disputeManager, t1, finder } = await loadFixture(withOrchestrators);
      const penalty = (LPT(1000) * SLASH) / PERC;
      const finderReward = (penalty * FINDER_FEE) / PERC;
      const supply = await token.totalSupply();
      await expect(
        callAs(disputeManager, bm, "slashTranscoder", [t1.address, finder.address, SLASH, FINDER_FEE]),
      ).to.changeTokenBalances(token, [finder, minter], [finderReward, -penalty]);
      expect(await token.totalSupply()).to.equal(supply - (penalty - finderReward));
    });

    it("burns the whole penalty when there is no finder", async () => {
      const { bm, token, disputeManager, t1 } = await loadFixture(withOrchestrators);
      const penalty = (LPT(1000) * SLASH) / PERC;
      const supply = await token.totalSupply();
      await expect(callAs(disputeManager, bm, "slashTranscoder", [t1.address, ZeroAddress, SLASH, FINDER_FEE]))
        .to.emit(bm, "TranscoderSlashed")
        .withArgs(t1.address, ZeroAddress, penalty, 0n);
      expect(await token.totalSupply()).to.equal(supply - penalty);
    });

    it("removes the orchestrator from the pool and unregisters it", async () => {
      const s = await loadFixture(withOrchestrators);
      const { bm, disputeManager, t1, t2, finder, round } = s;
      await expect(callAs(disputeManager, bm, "slashTranscoder", [t1.address, finder.address, SLASH, FINDER_FEE]))
        .to.emit(bm, "TranscoderDeactivated")
        .withArgs(t1.address, round + 1n);
      expect(await bm.isInPool(t1.address)).to.equal(false);
      expect(await bm.isRegisteredTranscoder(t1.address)).to.equal(false);
      expect(await poolOrder(bm)).to.deep.equal([t2.address]);
      expect(await bm.nextRoundTotalActiveStake()).to.equal(LPT(3000));
      await startNextRound(s.rounds);
      expect(await bm.isActiveTranscoder(t1.address)).to.equal(false);
      await expect(bm.connect(t1).reward()).to.be.revertedWithCustomError(bm, "TranscoderNotActive");
    });

    it("reverts with InvalidSlashFraction above 1,000,000", async () => {
      const { bm, disputeManager, t1, finder } = await loadFixture(withOrchestrators);
      await expect(callAs(disputeManager, bm, "slashTranscoder", [t1.address, finder.address, PERC + 1n, 0n]))
        .to.be.revertedWithCustomError(bm, "InvalidSlashFraction")
        .withArgs(PERC + 1n);
      await expect(callAs(disputeManager, bm, "slashTranscoder", [t1.address, finder.address, SLASH, PERC + 1n]))
        .to.be.revertedWithCustomError(bm, "InvalidSlashFraction")
        .withArgs(PERC + 1n);
    });
  });

  describe("setUnbondingPeriod", () => {
    it("is reserved for the Controller owner", async () => {
      const { bm, stranger } = await loadFixture(funded);
      await expect(bm.connect(stranger).setUnbondingPeriod(5n))
        .to.be.revertedWithCustomError(bm, "CallerNotControllerOwner")
        .withArgs(stranger.address);
    });

    it("sets the period for new unbonding locks and emits ParameterUpdate", async () => {
      const { bm, owner, alice, round } = await loadFixture(withOrchestrators);
      await expect(bm.connect(owner).setUnbondingPeriod(5n)).to.emit(bm, "ParameterUpdate").withArgs("unbondingPeriod");
      expect(await bm.unbondingPeriod()).to.equal(5n);
      await bm.connect(alice).unbond(LPT(1));
      expect((await bm.getUnbondingLock(alice.address, 0n)).withdrawRound).to.equal(round + 5n);
    });

    it("reverts with InvalidUnbondingPeriod for zero", async () => {
      const { bm, owner } = await loadFixture(funded);
      await expect(bm.connect(owner).setUnbondingPeriod(0n))
        .to.be.revertedWithCustomError(bm, "InvalidUnbondingPeriod")
        .withArgs(0n);
    });
  });

  describe("setNumActiveTranscoders", () => {
    it("is reserved for the Controller owner", async () => {
      const { bm, stranger } = await loadFixture(funded);
      await expect(bm.connect(stranger).setNumActiveTranscoders(5n))
        .to.be.revertedWithCustomError(bm, "CallerNotControllerOwner")
        .withArgs(stranger.address);
    });

    it("sets the pool capacity and emits ParameterUpdate", async () => {
      const { bm, owner } = await loadFixture(funded);
      expect(await bm.numActiveTranscoders()).to.equal(100n);
      await expect(bm.connect(owner).setNumActiveTranscoders(50n))
        .to.emit(bm, "ParameterUpdate")
        .withArgs("numActiveTranscoders");
      expect(await bm.numActiveTranscoders()).to.equal(50n);
    });

    it("reverts with InvalidNumActiveTranscoders below the current pool size", async () => {
      const { bm, owner } = await loadFixture(withOrchestrators);
      await expect(bm.connect(owner).setNumActiveTranscoders(1n))
        .to.be.revertedWithCustomError(bm, "InvalidNumActiveTranscoders")
        .withArgs(1n);
      await bm.connect(owner).setNumActiveTranscoders(2n);
      expect(await bm.numActiveTranscoders()).to.equal(2n);
    });
  });

  describe("views", () => {
    it("getDelegator reports every field", async () => {
      const s = await loadFixture(withFees);
      const { bm, t1, alice, fees, round } = s;
      await bm.connect(alice).unbond(LPT(100));
      const a = await bm.getDelegator(alice.address);
      expect(a.bondedAmount).to.equal(LPT(400));
      expect(a.fees).to.equal(0n); // this round's fees settle next round
      expect(a.delegateAddress).to.equal(t1.address);
      expect(a.delegatedAmount).to.equal(0n); // nobody delegates to alice
      expect(a.startRound).to.equal(round);
      expect(a.lastClaimRound).to.equal(round);
      expect(a.nextUnbondingLockId).to.equal(1n);
      const t = await bm.getDelegator(t1.address);
      expect(t.bondedAmount).to.equal(LPT(1000));
      expect(t.fees).to.equal(fees - (fees * T1_SHARE) / PERC);
      expect(t.delegateAddress).to.equal(t1.address);
      expect(t.delegatedAmount).to.equal(LPT(1400));
      expect(t.nextUnbondingLockId).to.equal(0n);
    });

    it("delegatorStatus goes Unbonded, Pending, Bonded, Pending on a move, and Unbonded again", async () => {
      const s = await loadFixture(withOrchestrators);
      const { bm, bob, t1, t2 } = s;
      expect(await bm.delegatorStatus(bob.address)).to.equal(UNBONDED);
      await bm.connect(bob).bond(LPT(10), t1.address);
      expect(await bm.delegatorStatus(bob.address)).to.equal(PENDING);
      await startNextRound(s.rounds);
      expect(await bm.delegatorStatus(bob.address)).to.equal(BONDED);
      await bm.connect(bob).bond(0n, t2.address);
      expect(await bm.delegatorStatus(bob.address)).to.equal(PENDING);
      await startNextRound(s.rounds);
      expect(await bm.delegatorStatus(bob.address)).to.equal(BONDED);
      await bm.connect(bob).unbond(LPT(10));
      expect(await bm.delegatorStatus(bob.address)).to.equal(UNBONDED);
    });

    it("isActiveTranscoder, isRegisteredTranscoder and isInPool follow registration and resignation", async () => {
      const s = await loadFixture(funded);
      const { bm, t1 } = s;
      const flags = async () => [
        await bm.isActiveTranscoder(t1.address),
        await bm.isRegisteredTranscoder(t1.address),
        await bm.isInPool(t1.address),
      ];
      expect(await flags()).to.deep.equal([false, false, false]);
      await bm.connect(t1).bond(LPT(100), t1.address);
      expect(await flags()).to.deep.equal([false, false, false]);
      await bm.connect(t1).transcoder(0n, 0n);
      expect(await flags()).to.deep.equal([false, true, true]);
      await startNextRound(s.rounds);
      expect(await flags()).to.deep.equal([true, true, true]);
      await bm.connect(t1).unbond(LPT(100));
      expect(await flags()).to.deep.equal([true, false, false]);
      await startNextRound(s.rounds);
      expect(await flags()).to.deep.equal([false, false, false]);
    });

    it("getTotalBonded counts bonds and rewards and drops unbonded stake", async () => {
      const { bm, minter, t1, alice } = await loadFixture(withOrchestrators);
      expect(await bm.getTotalBonded()).to.equal(LPT(4500));
      await bm.connect(t1).reward();
      const minted = await minter.currentMintedTokens();
      expect(await bm.getTotalBonded()).to.equal(LPT(4500) + minted);
      await bm.connect(alice).unbond(LPT(100));
      expect(await bm.getTotalBonded()).to.equal(LPT(4400) + minted);
    });

    it("nextRoundTotalActiveStake counts only the stake of pool members", async () => {
      const { bm, bob, carol, t2 } = await loadFixture(withOrchestrators);
      expect(await bm.nextRoundTotalActiveStake()).to.equal(LPT(4500));
      await bm.connect(bob).bond(LPT(700), t2.address);
      expect(await bm.nextRoundTotalActiveStake()).to.equal(LPT(5200));
      await bm.connect(carol).bond(LPT(50), bob.address); // bob is not an orchestrator
      expect(await bm.nextRoundTotalActiveStake()).to.equal(LPT(5200));
    });

    it("currentRoundTotalActiveStake after initializeRound equals the sum of the pool's stakes", async () => {
      const s = await loadFixture(withOrchestrators);
      const { bm, t1, t2, bob } = s;
      const poolTotal = async () => {
        let total = 0n;
        for (const member of await poolOrder(bm)) total += await bm.transcoderTotalStake(member);
        return total;
      };
      expect(await bm.currentRoundTotalActiveStake()).to.equal(await poolTotal());
      await bm.connect(t1).reward();
      await bm.connect(bob).bond(LPT(700), t2.address);
      await bm.connect(t2).unbond(LPT(100));
      await startNextRound(s.rounds);
      expect(await bm.currentRoundTotalActiveStake()).to.equal(await poolTotal());
      expect(await bm.currentRoundTotalActiveStake()).to.equal(await bm.nextRoundTotalActiveStake());
    });

    it("pendingFees includes the fees already settled", async () => {
      const s = await loadFixture(withFees);
      const { bm, alice, t1, fees, round } = s;
      // t1's own part was credited straight to its settled fees.
      expect(await bm.pendingFees(t1.address, round)).to.be.at.least(fees - (fees * T1_SHARE) / PERC);
      await startNextRound(s.rounds);
      await bm.connect(alice).claimEarnings(round + 1n);
      const settled = (await bm.getDelegator(alice.address)).fees;
      expect(settled).to.be.greaterThan(0n);
      expect(await bm.pendingFees(alice.address, round + 1n)).to.equal(settled);
    });

    it("pendingStake and pendingFees reject a future end round", async () => {
      const { bm, alice, round } = await loadFixture(withOrchestrators);
      await expect(bm.pendingStake(alice.address, round + 1n))
        .to.be.revertedWithCustomError(bm, "InvalidEndRound")
        .withArgs(round + 1n, round);
      await expect(bm.pendingFees(alice.address, round + 1n)).to.be.revertedWithCustomError(bm, "InvalidEndRound");
    });
  });
});
