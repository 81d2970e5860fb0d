import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";

import { deployedSuite } from "../support/fixtures";

describe("ServiceRegistry", () => {
  async function suite() {
    const s = await deployedSuite();
    const [, orchestrator, other] = await ethers.getSigners();
    return { ...s, orchestrator, other };
  }

  describe("setServiceURI", () => {
    it("publishes the caller's URI and emits ServiceURIUpdated", async () => {
      const { serviceRegistry, orchestrator, other } = await loadFixture(suite);
      const uri = "https://orchestrator.example.com:8935";
      await expect(serviceRegistry.connect(orchestrator).setServiceURI(uri))
        .to.emit(serviceRegistry, "ServiceURIUpdated")
        .withArgs(orchestrator.address, uri);
      expect(await serviceRegistry.getServiceURI(orchestrator.address)).to.equal(uri);
      expect(await serviceRegistry.getServiceURI(other.address)).to.equal("");
    });

    it("replaces and clears a URI", async () => {
      const { serviceRegistry, orchestrator } = await loadFixture(suite);
      await serviceRegistry.connect(orchestrator).setServiceURI("https://a.example:8935");
      await serviceRegistry.connect(orchestrator).setServiceURI("https://b.example:8935");
      expect(await serviceRegistry.getServiceURI(orchestrator.address)).to.equal("https://b.example:8935");
      await serviceRegistry.connect(orchestrator).setServiceURI("");
      expect(await serviceRegistry.getServiceURI(orchestrator.address)).to.equal("");
    });

    it("reverts while the system is paused", async () => {
      const { serviceRegistry, controller, orchestrator } = await loadFixture(suite);
      await controller.pause();
      await expect(
        serviceRegistry.connect(orchestrator).setServiceURI("https://a.example:8935"),
      ).to.be.revertedWithCustomError(serviceRegistry, "SystemIsPaused");
    });
  });
});
