import { expect } from "chai";
import { ethers } from "hardhat";
import { MaxUint256, id, parseEther } from "ethers";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";

import { GENESIS_SUPPLY, callAs, suiteWithMockBondingManager } from "../support/fixtures";
import { signPermit } from "../../scripts/lib/permit";

describe("LivepeerToken", () => {
  async function suite() {
    const s = await suiteWithMockBondingManager();
    const [deployer, alice, bob] = await ethers.getSigners();
    return { ...s, deployer, alice, bob };
  }

  it("is LPT with 18 decimals, and the genesis supply belongs to the deployer", async () => {
    const { token, deployer } = await loadFixture(suite);
    expect(await token.symbol()).to.equal("LPT");
    expect(await token.decimals()).to.equal(18n);
    expect(await token.totalSupply()).to.equal(GENESIS_SUPPLY);
    expect(await token.balanceOf(deployer.address)).to.equal(GENESIS_SUPPLY);
  });

  describe("mint", () => {
    it("is reserved for the contract registered as Minter", async () => {
      const { token, deployer, bondingManager } = await loadFixture(suite);
      await expect(token.mint(deployer.address, 1n))
        .to.be.revertedWithCustomError(token, "CallerNotMinter")
        .withArgs(deployer.address);
      await expect(callAs(bondingManager, token, "mint", [deployer.address, 1n])).to.be.revertedWithCustomError(
        token,
        "CallerNotMinter",
      );
    });

    it("follows the Controller's Minter entry when it changes", async () => {
      const { token, controller, bondingManager, alice } = await loadFixture(suite);
      await controller.setContract(id("Minter"), await bondingManager.getAddress());
      await callAs(bondingManager, token, "mint", [alice.address, 5n]);
      expect(await token.balanceOf(alice.address)).to.equal(5n);
    });
  });

  describe("burn", () => {
    it("lets anyone burn their own tokens, and only their own", async () => {
      const { token, alice, bob } = await loadFixture(suite);
      await token.transfer(alice.address, parseEther("10"));
      await token.connect(alice).burn(parseEther("4"));
      expect(await token.balanceOf(alice.address)).to.equal(parseEther("6"));
      expect(await token.totalSupply()).to.equal(GENESIS_SUPPLY - parseEther("4"));
      await expect(token.connect(bob).burnFrom(alice.address, 1n)).to.be.revertedWithCustomError(
        token,
        "ERC20InsufficientAllowance",
      );
    });
  });

  describe("permit", () => {
    it("sets an allowance from an EIP-2612 signature, once", async () => {
      const { token, alice, bob } = await loadFixture(suite);
      await token.transfer(alice.address, parseEther("10"));
      const signature = await signPermit(token, alice, bob.address, parseEther("3"), MaxUint256);
      await token
        .connect(bob)
        .permit(alice.address, bob.address, parseEther("3"), MaxUint256, signature.v, signature.r, signature.s);
      expect(await token.allowance(alice.address, bob.address)).to.equal(parseEther("3"));
      await token.connect(bob).transferFrom(alice.address, bob.address, parseEther("3"));
      expect(await token.balanceOf(bob.address)).to.equal(parseEther("3"));
      await expect(
        token
          .connect(bob)
          .permit(alice.address, bob.address, parseEther("3"), MaxUint256, signature.v, signature.r, signature.s),
      ).to.be.revertedWithCustomError(token, "ERC2612InvalidSigner");
    });

    it("rejects an expired permit", async () => {
      const { token, alice, bob } = await loadFixture(suite);
      const deadline = BigInt(await time.latest()) - 1n;
      const signature = await signPermit(token, alice, bob.address, 1n, deadline);
      await expect(
        token.permit(alice.address, bob.address, 1n, deadline, signature.v, signature.r, signature.s),
      ).to.be.revertedWithCustomError(token, "ERC2612ExpiredSignature");
    });
  });

  it("keeps transfers working while the protocol is paused", async () => {
    const { token, controller, alice } = await loadFixture(suite);
    await controller.pause();
    await token.transfer(alice.address, 1n);
    expect(await token.balanceOf(alice.address)).to.equal(1n);
  });
});
