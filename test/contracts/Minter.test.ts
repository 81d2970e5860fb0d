import { expect } from "chai";
import { ethers } from "hardhat";
import { id, parseEther } from "ethers";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";

import { GENESIS_SUPPLY, ROUND_LENGTH, callAs, suiteWithMockBondingManager } from "../support/fixtures";
import { mineToHead } from "../support/chain";

const PPB = 1_000_000_000n;
const INFLATION = 218_500n;
const INFLATION_CHANGE = 500n;
const TARGET = 500_000_000n;

describe("Minter", () => {
  async function suite() {
    const s = await suiteWithMockBondingManager();
    const [owner, stranger, recipient] = await ethers.getSigners();
    return { ...s, owner, stranger, recipient };
  }

  async function nextRound(s: Awaited<ReturnType<typeof suite>>) {
    const start = await s.rounds.currentRoundStartBlock();
    if (await s.rounds.currentRoundInitialized()) await mineToHead(start + ROUND_LENGTH);
    await s.rounds.initializeRound();
  }

  /** A suite whose Minter holds `tokens` LPT of rewards minted in round 1. */
  async function suiteWithRewards() {
    const s = await suite();
    await s.bondingManager.setTotalActiveStake(GENESIS_SUPPLY / 4n);
    await nextRound(s);
    await callAs(s.bondingManager, s.minter, "createReward", [1, 1]);
    return s;
  }

  describe("constructor", () => {
    it("takes the protocol.md defaults from the deployment", async () => {
      const { minter } = await loadFixture(suite);
      expect(await minter.inflation()).to.equal(INFLATION);
      expect(await minter.inflationChange()).to.equal(INFLATION_CHANGE);
      expect(await minter.targetBondingRate()).to.equal(TARGET);
      expect(await minter.currentMintableTokens()).to.equal(0n);
    });

    it("rejects out-of-range parameters", async () => {
      const { controller } = await loadFixture(suite);
      const factory = await ethers.getContractFactory("Minter");
      const at = await controller.getAddress();
      await expect(factory.deploy(at, 0, 0, PPB + 1n)).to.be.revertedWithCustomError(
        factory,
        "InvalidTargetBondingRate",
      );
      await expect(factory.deploy(at, 0, PPB + 1n, 0)).to.be.revertedWithCustomError(factory, "InvalidInflationChange");
      await expect(factory.deploy(at, 2n ** 48n, 0, 0)).to.be.revertedWithCustomError(factory, "InvalidInflation");
    });
  });

  describe("setCurrentRewardTokens", () => {
    it("raises inflation by one step when the bonding rate is below target", async () => {
      const s = await loadFixture(suite);
      await s.bondingManager.setTotalActiveStake((GENESIS_SUPPLY * 49n) / 100n); // 49% < 50%
      await expect(s.rounds.initializeRound())
        .to.emit(s.minter, "SetCurrentRewardTokens")
        .withArgs((GENESIS_SUPPLY * (INFLATION + INFLATION_CHANGE)) / PPB, INFLATION + INFLATION_CHANGE, 490_000_000n);
      expect(await s.minter.inflation()).to.equal(INFLATION + INFLATION_CHANGE);
    });

    it("lowers inflation by one step when the bonding rate meets or exceeds target", async () => {
      const s = await loadFixture(suite);
      await s.bondingManager.setTotalActiveStake(GENESIS_SUPPLY / 2n); // exactly 50%
      await nextRound(s);
      expect(await s.minter.inflation()).to.equal(INFLATION - INFLATION_CHANGE);
      await s.bondingManager.setTotalActiveStake(GENESIS_SUPPLY);
      await nextRound(s);
      expect(await s.minter.inflation()).to.equal(INFLATION - 2n * INFLATION_CHANGE);
    });

    it("never takes inflation below zero", async () => {
      const s = await loadFixture(suite);
      // A Minter close to zero inflation with a larger step.
      const minter = await (
        await ethers.getContractFactory("Minter")
      ).deploy(await s.controller.getAddress(), 300, 500, TARGET);
      await s.controller.setContract(id("Minter"), await minter.getAddress());
      await s.bondingManager.setTotalActiveStake(GENESIS_SUPPLY);
      await nextRound(s);
      expect(await minter.inflation()).to.equal(0n);
      expect(await minter.currentMintableTokens()).to.equal(0n);
      await nextRound(s);
      expect(await minter.inflation()).to.equal(0n);
    });

    it("is reserved for the RoundsManager", async () => {
      const { minter, stranger, bondingManager } = await loadFixture(suite);
      await expect(minter.connect(stranger).setCurrentRewardTokens(0))
        .to.be.revertedWithCustomError(minter, "CallerNotManager")
        .withArgs(stranger.address, id("RoundsManager"));
      await expect(callAs(bondingManager, minter, "setCurrentRewardTokens", [0])).to.be.revertedWithCustomError(
        minter,
        "CallerNotManager",
      );
    });
  });

  describe("createReward", () => {
    it("mints the caller's share of this round's budget, rounded down, into custody", async () => {
      const s = await loadFixture(suite);
      await s.bondingManager.setTotalActiveStake(GENESIS_SUPPLY / 4n);
      await nextRound(s);
      const mintable = await s.minter.currentMintableTokens();
      const expected = (mintable * 1n) / 3n;
      await expect(callAs(s.bondingManager, s.minter, "createReward", [1, 3]))
        .to.emit(s.minter, "RewardMinted")
        .withArgs(expected);
      expect(await s.minter.currentMintedTokens()).to.equal(expected);
      expect(await s.token.balanceOf(await s.minter.getAddress())).to.equal(expected);
      expect(await s.token.totalSupply()).to.equal(GENESIS_SUPPLY + expected);
    });

    it("never mints more than the round's budget", async () => {
      const s = await loadFixture(suite);
      await s.bondingManager.setTotalActiveStake(GENESIS_SUPPLY / 4n);
      await nextRound(s);
      const mintable = await s.minter.currentMintableTokens();
      await callAs(s.bondingManager, s.minter, "createReward", [3, 4]);
      await callAs(s.bondingManager, s.minter, "createReward", [3, 4]); // asks for more than is left
      expect(await s.minter.currentMintedTokens()).to.equal(mintable);
      await expect(callAs(s.bondingManager, s.minter, "createReward", [1, 1])).to.not.emit(s.minter, "RewardMinted");
      expect(await s.token.balanceOf(await s.minter.getAddress())).to.equal(mintable);
    });

    it("starts each round with a fresh budget", async () => {
      const s = await loadFixture(suite);
      await s.bondingManager.setTotalActiveStake(GENESIS_SUPPLY / 4n);
      await nextRound(s);
      await callAs(s.bondingManager, s.minter, "createReward", [1, 1]);
      await nextRound(s);
      expect(await s.minter.currentMintedTokens()).to.equal(0n);
      expect(await s.minter.currentMintableTokens()).to.equal(
        ((await s.token.totalSupply()) * (await s.minter.inflation())) / PPB,
      );
    });

    it("rejects fractions above one or with a zero denominator", async () => {
      const s = await loadFixture(suite);
      await expect(callAs(s.bondingManager, s.minter, "createReward", [2, 1]))
        .to.be.revertedWithCustomError(s.minter, "InvalidRewardFraction")
        .withArgs(2, 1);
      await expect(callAs(s.bondingManager, s.minter, "createReward", [0, 0])).to.be.revertedWithCustomError(
        s.minter,
        "InvalidRewardFraction",
      );
    });
  });

  describe("trustedTransferTokens / trustedBurnTokens", () => {
    it("pays LPT out of custody to the BondingManager's recipient", async () => {
      const s = await loadFixture(suiteWithRewards);
      const held = await s.token.balanceOf(await s.minter.getAddress());
      await callAs(s.bondingManager, s.minter, "trustedTransferTokens", [s.recipient.address, held / 2n]);
      expect(await s.token.balanceOf(s.recipient.address)).to.equal(held / 2n);
    });

    it("never pays more LPT than it holds", async () => {
      const s = await loadFixture(suiteWithRewards);
      const held = await s.token.balanceOf(await s.minter.getAddress());
      await expect(
        callAs(s.bondingManager, s.minter, "trustedTransferTokens", [s.recipient.address, held + 1n]),
      ).to.be.revertedWithCustomError(s.token, "ERC20InsufficientBalance");
    });

    it("burns LPT from custody", async () => {
      const s = await loadFixture(suiteWithRewards);
      const supply = await s.token.totalSupply();
      await callAs(s.bondingManager, s.minter, "trustedBurnTokens", [1000n]);
      expect(await s.token.totalSupply()).to.equal(supply - 1000n);
    });
  });

  describe("ETH custody", () => {
    it("takes deposits from the TicketBroker and pays the BondingManager's and TicketBroker's requests", async () => {
      const s = await loadFixture(suite);
      await expect(callAs(s.ticketBroker, s.minter, "depositETH", [], parseEther("3")))
        .to.emit(s.minter, "ETHDeposited")
        .withArgs(await s.ticketBroker.getAddress(), parseEther("3"));
      const before = await ethers.provider.getBalance(s.recipient.address);
      await callAs(s.ticketBroker, s.minter, "trustedWithdrawETH", [s.recipient.address, parseEther("1")]);
      await callAs(s.bondingManager, s.minter, "trustedWithdrawETH", [s.recipient.address, parseEther("0.5")]);
      expect(await ethers.provider.getBalance(s.recipient.address)).to.equal(before + parseEther("1.5"));
      expect(await ethers.provider.getBalance(await s.minter.getAddress())).to.equal(parseEther("1.5"));
    });

    it("never pays more ETH than it holds", async () => {
      const s = await loadFixture(suite);
      await callAs(s.ticketBroker, s.minter, "depositETH", [], parseEther("1"));
      await expect(callAs(s.ticketBroker, s.minter, "trustedWithdrawETH", [s.recipient.address, parseEther("1.01")]))
        .to.be.revertedWithCustomError(s.minter, "InsufficientETH")
        .withArgs(parseEther("1.01"), parseEther("1"));
    });

    it("reverts when the recipient refuses the ETH", async () => {
      const s = await loadFixture(suite);
      await callAs(s.ticketBroker, s.minter, "depositETH", [], parseEther("1"));
      const refuser = await s.controller.getAddress(); // a contract with no receive function
      await expect(callAs(s.ticketBroker, s.minter, "trustedWithdrawETH", [refuser, 1n]))
        .to.be.revertedWithCustomError(s.minter, "ETHTransferFailed")
        .withArgs(refuser, 1n);
    });

    it("refuses ETH from anyone else, including plain transfers", async () => {
      const s = await loadFixture(suite);
      await expect(s.minter.connect(s.stranger).depositETH({ value: 1n }))
        .to.be.revertedWithCustomError(s.minter, "CallerNotDepositor")
        .withArgs(s.stranger.address);
      await expect(callAs(s.bondingManager, s.minter, "depositETH", [], 1n)).to.be.revertedWithCustomError(
        s.minter,
        "CallerNotDepositor",
      );
      await expect(s.stranger.sendTransaction({ to: await s.minter.getAddress(), value: 1n })).to.be.reverted;
    });

    it("refuses payout requests from anyone else", async () => {
      const s = await loadFixture(suite);
      await callAs(s.ticketBroker, s.minter, "depositETH", [], parseEther("1"));
      await expect(s.minter.connect(s.stranger).trustedWithdrawETH(s.stranger.address, 1n))
        .to.be.revertedWithCustomError(s.minter, "CallerNotFundsManager")
        .withArgs(s.stranger.address);
    });
  });

  describe("migrateToNewMinter", () => {
    async function migrationSuite() {
      const s = await suiteWithRewards();
      await callAs(s.ticketBroker, s.minter, "depositETH", [], parseEther("2"));
      const newMinter = await (
        await ethers.getContractFactory("Minter")
      ).deploy(await s.controller.getAddress(), await s.minter.inflation(), INFLATION_CHANGE, TARGET);
      return { ...s, newMinter };
    }

    it("moves all LPT and ETH to the new Minter, which may then mint", async () => {
      const s = await loadFixture(migrationSuite);
      const tokens = await s.token.balanceOf(await s.minter.getAddress());
      await s.controller.pause();
      await expect(s.minter.migrateToNewMinter(await s.newMinter.getAddress()))
        .to.emit(s.minter, "MinterMigrated")
        .withArgs(await s.newMinter.getAddress(), tokens, parseEther("2"));
      expect(await s.token.balanceOf(await s.newMinter.getAddress())).to.equal(tokens);
      expect(await ethers.provider.getBalance(await s.newMinter.getAddress())).to.equal(parseEther("2"));
      expect(await ethers.provider.getBalance(await s.minter.getAddress())).to.equal(0n);

      await s.controller.setContract(id("Minter"), await s.newMinter.getAddress());
      await s.controller.unpause();
      await nextRound(s);
      await expect(callAs(s.bondingManager, s.newMinter, "createReward", [1, 2])).to.emit(s.newMinter, "RewardMinted");
      // The old Minter holds nothing any more.
      await expect(
        callAs(s.bondingManager, s.minter, "trustedTransferTokens", [s.recipient.address, 1n]),
      ).to.be.revertedWithCustomError(s.token, "ERC20InsufficientBalance");
    });

    it("only runs while the system is paused", async () => {
      const s = await loadFixture(migrationSuite);
      await expect(s.minter.migrateToNewMinter(await s.newMinter.getAddress())).to.be.revertedWithCustomError(
        s.minter,
        "SystemIsNotPaused",
      );
    });

    it("rejects itself and a Minter of another Controller", async () => {
      const s = await loadFixture(migrationSuite);
      await s.controller.pause();
      await expect(s.minter.migrateToNewMinter(await s.minter.getAddress())).to.be.revertedWithCustomError(
        s.minter,
        "InvalidMinterMigration",
      );
      const otherController = await (await ethers.getContractFactory("Controller")).deploy(s.owner.address);
      const foreign = await (
        await ethers.getContractFactory("Minter")
      ).deploy(await otherController.getAddress(), 0, 0, 0);
      await expect(s.minter.migrateToNewMinter(await foreign.getAddress()))
        .to.be.revertedWithCustomError(s.minter, "InvalidMinterMigration")
        .withArgs(await foreign.getAddress());
    });
  });

  describe("parameter setters", () => {
    it("setTargetBondingRate updates and emits ParameterUpdate", async () => {
      const { minter } = await loadFixture(suite);
      await expect(minter.setTargetBondingRate(600_000_000))
        .to.emit(minter, "ParameterUpdate")
        .withArgs("targetBondingRate");
      expect(await minter.targetBondingRate()).to.equal(600_000_000n);
      await expect(minter.setTargetBondingRate(PPB + 1n)).to.be.revertedWithCustomError(
        minter,
        "InvalidTargetBondingRate",
      );
    });

    it("setInflationChange updates and emits ParameterUpdate", async () => {
      const { minter } = await loadFixture(suite);
      await expect(minter.setInflationChange(1000)).to.emit(minter, "ParameterUpdate").withArgs("inflationChange");
      expect(await minter.inflationChange()).to.equal(1000n);
      await expect(minter.setInflationChange(PPB + 1n)).to.be.revertedWithCustomError(minter, "InvalidInflationChange");
    });
  });
});
