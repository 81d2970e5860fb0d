import { expect } from "chai";
import hre, { ethers, upgrades } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";

import { rejectionOf } from "../support/assertions";
import { deployedSuite } from "../support/fixtures";
import { UPGRADEABLE_MANAGERS } from "../../scripts/lib/deployment";
import { checkAllLayouts, checkLayoutAgainstSnapshot } from "../../scripts/lib/storageLayout";

describe("Upgradeable managers", () => {
  async function suite() {
    const s = await deployedSuite();
    await s.rounds.initializeRound();
    const [owner, stranger] = await ethers.getSigners();
    return { ...s, owner, stranger };
  }

  describe("storage layout (deployments/storage-layouts)", () => {
    it("every upgradeable manager keeps the recorded layout", async () => {
      const checks = await checkAllLayouts(hre);
      expect(checks.map((check) => check.contract)).to.have.members([...UPGRADEABLE_MANAGERS]);
      for (const check of checks) expect(check.ok, `${check.contract}:\n${check.explanation}`).to.equal(true);
    });

    it("the check accepts state appended after the recorded layout", async () => {
      const check = await checkLayoutAgainstSnapshot(hre, "RoundsManagerV2Mock", "RoundsManager");
      expect(check.ok, check.explanation).to.equal(true);
    });

    it("the check rejects a layout that reuses a recorded slot for something else", async () => {
      const check = await checkLayoutAgainstSnapshot(hre, "RoundsManagerClashMock", "RoundsManager");
      expect(check.ok).to.equal(false);
      expect(check.explanation).to.match(/_roundLength|_clobbersTheClock/);
    });

    it("every upgradeable manager passes the plugin's upgrade-safety validation", async () => {
      for (const name of UPGRADEABLE_MANAGERS) {
        // The plugin encodes constructor arguments here too, though its option type omits them.
        const options = { kind: "uups", constructorArgs: [ethers.ZeroAddress] } as { kind: "uups" };
        await upgrades.validateImplementation(await ethers.getContractFactory(name), options);
      }
    });
  });

  describe("upgradeToAndCall", () => {
    it("upgrades in place and keeps the state", async () => {
      const s = await loadFixture(suite);
      const proxy = await s.rounds.getAddress();
      const hash = await s.rounds.blockHashForRound(1n);
      const upgraded = await upgrades.upgradeProxy(proxy, await ethers.getContractFactory("RoundsManagerV2Mock"), {
        kind: "uups",
        constructorArgs: [await s.controller.getAddress()],
      });
      expect(await upgraded.getAddress()).to.equal(proxy);
      expect(await upgraded.getFunction("version")()).to.equal("v2");
      expect(await s.rounds.blockHashForRound(1n)).to.equal(hash);
      expect(await s.rounds.lastInitializedRound()).to.equal(1n);
      expect(await s.rounds.roundLength()).to.equal(20n);
    });

    it("is refused by the plugin when the new layout clobbers state", async () => {
      const s = await loadFixture(suite);
      const error = await rejectionOf(
        upgrades.upgradeProxy(await s.rounds.getAddress(), await ethers.getContractFactory("RoundsManagerClashMock"), {
          kind: "uups",
          constructorArgs: [await s.controller.getAddress()],
        }),
      );
      expect(error.message).to.match(/New storage layout is incompatible/);
    });

    it("reverts for anyone but the Controller's owner", async () => {
      const s = await loadFixture(suite);
      const implementation = await (
        await ethers.getContractFactory("RoundsManagerV2Mock")
      ).deploy(await s.controller.getAddress());
      await expect(s.rounds.connect(s.stranger).upgradeToAndCall(await implementation.getAddress(), "0x"))
        .to.be.revertedWithCustomError(s.rounds, "CallerNotControllerOwner")
        .withArgs(s.stranger.address);
    });

    it("reverts when the new implementation answers to another Controller", async () => {
      const s = await loadFixture(suite);
      const otherController = await (await ethers.getContractFactory("Controller")).deploy(s.owner.address);
      const implementation = await (
        await ethers.getContractFactory("RoundsManagerV2Mock")
      ).deploy(await otherController.getAddress());
      await expect(s.rounds.upgradeToAndCall(await implementation.getAddress(), "0x"))
        .to.be.revertedWithCustomError(s.rounds, "ControllerMismatch")
        .withArgs(await s.controller.getAddress(), await otherController.getAddress());
    });
  });
});
