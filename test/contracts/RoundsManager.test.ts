import { expect } from "chai";
import { ethers, upgrades } from "hardhat";
import { id, ZeroAddress, ZeroHash } from "ethers";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";

import { ROUND_LENGTH, suiteWithMockBondingManager } from "../support/fixtures";
import { mineToHead, mineToNextTxBlock } from "../support/chain";

describe("RoundsManager", () => {
  async function suite() {
    const s = await suiteWithMockBondingManager();
    const [owner, stranger] = await ethers.getSigners();
    const round1Start = await s.rounds.currentRoundStartBlock();
    return { ...s, owner, stranger, round1Start };
  }

  /** Mines so that the head is `offset` blocks into round `round` under the initial 20-block length. */
  async function goToRound(round1Start: bigint, round: bigint, offset = 0n) {
    await mineToHead(round1Start + (round - 1n) * ROUND_LENGTH + offset);
  }

  describe("initialize", () => {
    it("starts round 1 at the deployment block with the local parameters", async () => {
      const { rounds, record } = await loadFixture(suite);
      expect(await rounds.currentRound()).to.equal(1n);
      expect(await rounds.roundLength()).to.equal(ROUND_LENGTH);
      expect(await rounds.roundLockAmount()).to.equal(100_000n);
      expect(await rounds.lastInitializedRound()).to.equal(0n);
      expect(await rounds.currentRoundInitialized()).to.equal(false);
      expect(await rounds.currentRoundStartBlock()).to.be.greaterThan(BigInt(record.deployedAt));
    });

    it("cannot be initialized again, through the proxy or on the implementation", async () => {
      const { rounds } = await loadFixture(suite);
      await expect(rounds.initialize(10, 0)).to.be.revertedWithCustomError(rounds, "InvalidInitialization");
      const implementation = await ethers.getContractAt(
        "RoundsManager",
        await upgrades.erc1967.getImplementationAddress(await rounds.getAddress()),
      );
      await expect(implementation.initialize(10, 0)).to.be.revertedWithCustomError(rounds, "InvalidInitialization");
    });

    it("rejects a zero round length and a lock above 100%", async () => {
      const { controller } = await loadFixture(suite);
      const factory = await ethers.getContractFactory("RoundsManager");
      const options = { kind: "uups" as const, constructorArgs: [await controller.getAddress()] };
      await expect(upgrades.deployProxy(factory, [0, 0], options))
        .to.be.revertedWithCustomError(factory, "InvalidRoundLength")
        .withArgs(0);
      await expect(upgrades.deployProxy(factory, [20, 1_000_001], options))
        .to.be.revertedWithCustomError(factory, "InvalidRoundLockAmount")
        .withArgs(1_000_001);
    });

    it("refuses a zero Controller", async () => {
      const factory = await ethers.getContractFactory("RoundsManager");
      await expect(factory.deploy(ZeroAddress)).to.be.revertedWithCustomError(factory, "ZeroController");
    });
  });

  describe("currentRound", () => {
    it("advances every roundLength blocks", async () => {
      const { rounds, round1Start } = await loadFixture(suite);
      await goToRound(round1Start, 1n, ROUND_LENGTH - 1n);
      expect(await rounds.currentRound()).to.equal(1n);
      await goToRound(round1Start, 2n);
      expect(await rounds.currentRound()).to.equal(2n);
      expect(await rounds.currentRoundStartBlock()).to.equal(round1Start + ROUND_LENGTH);
      await goToRound(round1Start, 7n, 5n);
      expect(await rounds.currentRound()).to.equal(7n);
      expect(await rounds.currentRoundStartBlock()).to.equal(round1Start + 6n * ROUND_LENGTH);
    });
  });

  describe("initializeRound", () => {
    it("stores the previous block's hash for the round and emits NewRound", async () => {
      const { rounds } = await loadFixture(suite);
      const tx = await rounds.initializeRound();
      const receipt = await tx.wait();
      const previous = await ethers.provider.getBlock(receipt!.blockNumber - 1);
      await expect(tx).to.emit(rounds, "NewRound").withArgs(1n, previous!.hash);
      expect(await rounds.blockHashForRound(1n)).to.equal(previous!.hash);
      expect(await rounds.currentRoundInitialized()).to.equal(true);
      expect(await rounds.lastInitializedRound()).to.equal(1n);
    });

    it("snapshots the active stake and fixes the Minter's mintable tokens", async () => {
      const { rounds, bondingManager, minter, token } = await loadFixture(suite);
      const stake = ethers.parseEther("1234");
      await bondingManager.setTotalActiveStake(stake);
      const tx = rounds.initializeRound();
      await expect(tx).to.emit(bondingManager, "TotalActiveStakeSnapshotted").withArgs(stake);
      const supply = await token.totalSupply();
      const inflation = await minter.inflation();
      await expect(tx).to.emit(minter, "SetCurrentRewardTokens");
      expect(await minter.currentMintableTokens()).to.equal((supply * inflation) / 1_000_000_000n);
    });

    it("reverts when the round was already initialized, and leaves its hash alone", async () => {
      const { rounds } = await loadFixture(suite);
      await rounds.initializeRound();
      const stored = await rounds.blockHashForRound(1n);
      await expect(rounds.initializeRound())
        .to.be.revertedWithCustomError(rounds, "RoundAlreadyInitialized")
        .withArgs(1n);
      expect(await rounds.blockHashForRound(1n)).to.equal(stored);
    });

    it("initializes a later round after skipped ones, which keep no hash", async () => {
      const { rounds, round1Start } = await loadFixture(suite);
      await rounds.initializeRound();
      const first = await rounds.blockHashForRound(1n);
      await goToRound(round1Start, 4n, 3n);
      await rounds.initializeRound();
      expect(await rounds.lastInitializedRound()).to.equal(4n);
      expect(await rounds.blockHashForRound(1n)).to.equal(first);
      expect(await rounds.blockHashForRound(2n)).to.equal(ZeroHash);
      expect(await rounds.blockHashForRound(3n)).to.equal(ZeroHash);
      expect(await rounds.blockHashForRound(4n)).to.not.equal(ZeroHash);
    });

    it("costs the same however many rounds have passed", async () => {
      const { rounds, round1Start } = await loadFixture(suite);
      await rounds.initializeRound(); // first write of every slot
      await goToRound(round1Start, 2n);
      const soon = await (await rounds.initializeRound()).wait();
      await goToRound(round1Start, 500n);
      const late = await (await rounds.initializeRound()).wait();
      expect(late!.gasUsed).to.equal(soon!.gasUsed);
    });

    it("reverts while the system is paused", async () => {
      const { rounds, controller } = await loadFixture(suite);
      await controller.pause();
      await expect(rounds.initializeRound()).to.be.revertedWithCustomError(rounds, "SystemIsPaused");
    });

    it("names the missing manager when the BondingManager is not registered", async () => {
      const { rounds, controller } = await loadFixture(suite);
      await controller.setContract(id("BondingManager"), ZeroAddress);
      await expect(rounds.initializeRound())
        .to.be.revertedWithCustomError(rounds, "ContractNotRegistered")
        .withArgs(id("BondingManager"));
    });
  });

  describe("currentRoundLocked", () => {
    it("is true only in the last roundLockAmount ppm of the round", async () => {
      const { rounds, round1Start } = await loadFixture(suite);
      // 20 blocks * 10% = the last 2 blocks of each round.
      await goToRound(round1Start, 2n, 0n);
      expect(await rounds.currentRoundLocked()).to.equal(false);
      await goToRound(round1Start, 2n, ROUND_LENGTH - 3n);
      expect(await rounds.currentRoundLocked()).to.equal(false);
      await goToRound(round1Start, 2n, ROUND_LENGTH - 2n);
      expect(await rounds.currentRoundLocked()).to.equal(true);
      await goToRound(round1Start, 2n, ROUND_LENGTH - 1n);
      expect(await rounds.currentRoundLocked()).to.equal(true);
      await goToRound(round1Start, 3n, 0n);
      expect(await rounds.currentRoundLocked()).to.equal(false);
    });

    it("follows a new roundLockAmount", async () => {
      const { rounds, round1Start } = await loadFixture(suite);
      await expect(rounds.setRoundLockAmount(500_000)).to.emit(rounds, "ParameterUpdate").withArgs("roundLockAmount");
      await goToRound(round1Start, 3n, ROUND_LENGTH / 2n - 1n);
      expect(await rounds.currentRoundLocked()).to.equal(false);
      await goToRound(round1Start, 3n, ROUND_LENGTH / 2n);
      expect(await rounds.currentRoundLocked()).to.equal(true);
    });

    it("rejects a lock above 100%", async () => {
      const { rounds } = await loadFixture(suite);
      await expect(rounds.setRoundLockAmount(1_000_001))
        .to.be.revertedWithCustomError(rounds, "InvalidRoundLockAmount")
        .withArgs(1_000_001);
    });
  });

  describe("setRoundLength", () => {
    it("applies from the next round without renumbering past or current rounds", async () => {
      const { rounds, round1Start } = await loadFixture(suite);
      await goToRound(round1Start, 3n, 4n);
      await rounds.initializeRound();
      const hash3 = await rounds.blockHashForRound(3n);
      const round4Start = round1Start + 3n * ROUND_LENGTH;

      await expect(rounds.setRoundLength(50))
        .to.emit(rounds, "RoundLengthChangeScheduled")
        .withArgs(4n, round4Start, 50n)
        .and.to.emit(rounds, "ParameterUpdate")
        .withArgs("roundLength");

      // Round 3 keeps its 20 blocks.
      expect(await rounds.currentRound()).to.equal(3n);
      expect(await rounds.roundLength()).to.equal(ROUND_LENGTH);
      await mineToHead(round4Start - 1n);
      expect(await rounds.currentRound()).to.equal(3n);

      // Round 4 starts where it always would have, then lasts 50 blocks.
      await mineToHead(round4Start);
      expect(await rounds.currentRound()).to.equal(4n);
      expect(await rounds.roundLength()).to.equal(50n);
      expect(await rounds.currentRoundStartBlock()).to.equal(round4Start);
      await mineToHead(round4Start + 49n);
      expect(await rounds.currentRound()).to.equal(4n);
      await mineToHead(round4Start + 50n);
      expect(await rounds.currentRound()).to.equal(5n);
      expect(await rounds.currentRoundStartBlock()).to.equal(round4Start + 50n);
      expect(await rounds.blockHashForRound(3n)).to.equal(hash3);
    });

    it("keeps counting correctly once a round initialization folds the change in", async () => {
      const { rounds, round1Start } = await loadFixture(suite);
      await rounds.setRoundLength(7);
      const round2Start = round1Start + ROUND_LENGTH;
      await mineToNextTxBlock(round2Start + 3n);
      await expect(rounds.initializeRound())
        .to.emit(rounds, "NewRound")
        .withArgs(2n, (hash: string) => hash !== ZeroHash);
      await mineToHead(round2Start + 7n * 10n + 1n);
      expect(await rounds.currentRound()).to.equal(12n);
      expect(await rounds.currentRoundStartBlock()).to.equal(round2Start + 70n);
      expect(await rounds.roundLength()).to.equal(7n);
    });

    it("keeps only the last change scheduled within a round", async () => {
      const { rounds, round1Start } = await loadFixture(suite);
      await rounds.setRoundLength(50);
      await rounds.setRoundLength(30);
      await mineToHead(round1Start + ROUND_LENGTH + 30n);
      expect(await rounds.currentRound()).to.equal(3n);
      expect(await rounds.roundLength()).to.equal(30n);
    });

    it("chains a change scheduled after an earlier one took effect", async () => {
      const { rounds, round1Start } = await loadFixture(suite);
      await rounds.setRoundLength(10); // round 2 onwards: 10 blocks
      const round2Start = round1Start + ROUND_LENGTH;
      await mineToNextTxBlock(round2Start + 2n);
      await expect(rounds.setRoundLength(40)) // round 3 onwards: 40 blocks
        .to.emit(rounds, "RoundLengthChangeScheduled")
        .withArgs(3n, round2Start + 10n, 40n);
      await mineToHead(round2Start + 10n + 39n);
      expect(await rounds.currentRound()).to.equal(3n);
      await mineToHead(round2Start + 10n + 40n);
      expect(await rounds.currentRound()).to.equal(4n);
    });

    it("rejects a zero length", async () => {
      const { rounds } = await loadFixture(suite);
      await expect(rounds.setRoundLength(0)).to.be.revertedWithCustomError(rounds, "InvalidRoundLength").withArgs(0);
    });

    it("stays available to governance while paused", async () => {
      const { rounds, controller } = await loadFixture(suite);
      await controller.pause();
      await expect(rounds.setRoundLength(30)).to.emit(rounds, "ParameterUpdate");
    });
  });
});
