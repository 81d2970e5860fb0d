import { expect } from "chai";
import { ethers } from "hardhat";
import { id, ZeroAddress } from "ethers";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";

async function controllerFixture() {
  const [owner, stranger, newOwner] = await ethers.getSigners();
  const controller = await (await ethers.getContractFactory("Controller")).deploy(owner.address);
  const someContract = await (await ethers.getContractFactory("ManagerMock")).deploy();
  return { controller, someContract, owner, stranger, newOwner };
}

describe("Controller", () => {
  describe("constructor", () => {
    it("starts paused, owned by the given account", async () => {
      const { controller, owner } = await loadFixture(controllerFixture);
      expect(await controller.paused()).to.equal(true);
      expect(await controller.owner()).to.equal(owner.address);
    });
  });

  describe("setContract", () => {
    it("registers a contract under keccak256(name) and emits ContractRegistered", async () => {
      const { controller, someContract } = await loadFixture(controllerFixture);
      const address = await someContract.getAddress();
      await expect(controller.setContract(id("BondingManager"), address))
        .to.emit(controller, "ContractRegistered")
        .withArgs(id("BondingManager"), address);
      expect(await controller.getContract(id("BondingManager"))).to.equal(address);
      expect(await controller.getContract(id("TicketBroker"))).to.equal(ZeroAddress);
    });

    it("replaces and removes entries", async () => {
      const { controller, someContract } = await loadFixture(controllerFixture);
      const other = await (await ethers.getContractFactory("ManagerMock")).deploy();
      await controller.setContract(id("Minter"), await someContract.getAddress());
      await controller.setContract(id("Minter"), await other.getAddress());
      expect(await controller.getContract(id("Minter"))).to.equal(await other.getAddress());
      await controller.setContract(id("Minter"), ZeroAddress);
      expect(await controller.getContract(id("Minter"))).to.equal(ZeroAddress);
    });

    it("reverts when the address has no code", async () => {
      const { controller, stranger } = await loadFixture(controllerFixture);
      await expect(controller.setContract(id("Minter"), stranger.address))
        .to.be.revertedWithCustomError(controller, "NotAContract")
        .withArgs(stranger.address);
    });
  });

  describe("pause / unpause", () => {
    it("unpauses and pauses again, emitting events", async () => {
      const { controller, owner } = await loadFixture(controllerFixture);
      await expect(controller.unpause()).to.emit(controller, "SystemUnpaused").withArgs(owner.address);
      expect(await controller.paused()).to.equal(false);
      await expect(controller.pause()).to.emit(controller, "SystemPaused").withArgs(owner.address);
      expect(await controller.paused()).to.equal(true);
    });

    it("reverts on pausing twice or unpausing when not paused", async () => {
      const { controller } = await loadFixture(controllerFixture);
      await expect(controller.pause()).to.be.revertedWithCustomError(controller, "AlreadyPaused");
      await controller.unpause();
      await expect(controller.unpause()).to.be.revertedWithCustomError(controller, "NotPaused");
    });
  });

  describe("ownership", () => {
    it("moves in two steps: the new owner must accept", async () => {
      const { controller, newOwner, stranger, owner } = await loadFixture(controllerFixture);
      await controller.transferOwnership(newOwner.address);
      expect(await controller.owner()).to.equal(owner.address);
      await expect(controller.connect(stranger).acceptOwnership()).to.be.revertedWithCustomError(
        controller,
        "OwnableUnauthorizedAccount",
      );
      await controller.connect(newOwner).acceptOwnership();
      expect(await controller.owner()).to.equal(newOwner.address);
      await expect(controller.unpause()).to.be.revertedWithCustomError(controller, "OwnableUnauthorizedAccount");
    });
  });
});
