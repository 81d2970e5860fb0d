import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { expect } from "chai";
import hre, { ethers, upgrades } from "hardhat";
import { id } from "ethers";

import { deploySuite } from "../../scripts/lib/deploySuite";
import { rejectionOf } from "../support/assertions";
import { CONTRACT_NAMES, type DeploymentRecord } from "../../scripts/lib/deployment";
import { loadProtocolParams } from "../../scripts/lib/params";

const ROOT = hre.config.paths.root;
const RECORD = path.join(ROOT, "deployments", "hardhat.json");

function headCommit(): string | undefined {
  try {
    return execFileSync("git", ["rev-parse", "HEAD"], { cwd: ROOT, stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim();
  } catch {
    return undefined;
  }
}

describe("scripts/deploy.ts", () => {
  describe("on the in-process network", () => {
    let previous: string | undefined;
    let record: DeploymentRecord;

    before(async () => {
      previous = fs.existsSync(RECORD) ? fs.readFileSync(RECORD, "utf8") : undefined;
      if (previous !== undefined) fs.rmSync(RECORD);
      await deploySuite(hre);
      record = JSON.parse(fs.readFileSync(RECORD, "utf8"));
    });

    after(() => {
      if (previous !== undefined) fs.writeFileSync(RECORD, previous);
      else fs.rmSync(RECORD, { force: true });
    });

    it("writes deployments/hardhat.json with the chain, block and commit", async () => {
      expect(record.network).to.equal("hardhat");
      expect(record.chainId).to.equal(31337);
      const [deployer] = await ethers.getSigners();
      expect(record.deployer).to.equal(deployer.address);
      const controllerTx = await ethers.provider.getBlock(record.deployedAt, true);
      expect(
        controllerTx!.prefetchedTransactions.some((tx) => tx.to === null && tx.from === deployer.address),
      ).to.equal(true);
      const head = headCommit();
      if (head === undefined) expect(record.commit).to.equal("unknown");
      else expect(record.commit).to.match(new RegExp(`^${head}(-dirty)?$`));
    });

    it("records every contract, each with code and registered in the Controller", async () => {
      expect(Object.keys(record.contracts)).to.have.members([...CONTRACT_NAMES]);
      const controller = await ethers.getContractAt("Controller", record.contracts.Controller);
      for (const name of CONTRACT_NAMES) {
        expect(await ethers.provider.getCode(record.contracts[name]), name).to.not.equal("0x");
        if (name !== "Controller")
          expect(await controller.getContract(id(name)), name).to.equal(record.contracts[name]);
      }
    });

    it("records the RoundsManager proxy and its implementation", async () => {
      expect(await upgrades.erc1967.getImplementationAddress(record.contracts.RoundsManager)).to.equal(
        record.implementations.RoundsManager,
      );
    });

    it("finishes genesis: unpaused, owned by the deployer, genesis LPT with the deployer", async () => {
      const controller = await ethers.getContractAt("Controller", record.contracts.Controller);
      const token = await ethers.getContractAt("LivepeerToken", record.contracts.LivepeerToken);
      const params = loadProtocolParams(path.join(ROOT, "deployments", "params", "local.json"));
      expect(await controller.paused()).to.equal(false);
      expect(await controller.owner()).to.equal(record.deployer);
      expect(record.owner).to.equal(record.deployer);
      expect(await token.balanceOf(record.deployer)).to.equal(params.genesisSupply);
    });

    it("applies and records the local parameters from protocol.md", async () => {
      const rounds = await ethers.getContractAt("RoundsManager", record.contracts.RoundsManager);
      const minter = await ethers.getContractAt("Minter", record.contracts.Minter);
      expect(await rounds.roundLength()).to.equal(20n);
      expect(await rounds.roundLockAmount()).to.equal(100_000n);
      expect(await minter.inflation()).to.equal(218_500n);
      expect(await minter.inflationChange()).to.equal(500n);
      expect(await minter.targetBondingRate()).to.equal(500_000_000n);
      expect(record.params.disputeBond).to.equal(ethers.parseEther("0.01").toString());
      expect(record.params.committeeSize).to.equal("3");
    });
  });

  describe("an existing deployment", () => {
    let dir: string;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "streamflow-deploy-"));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("is not deployed over while it is live on the chain", async () => {
      const first = await deploySuite(hre, { deploymentsDir: dir });
      const before = fs.readFileSync(first.file!, "utf8");
      const error = await rejectionOf(deploySuite(hre, { deploymentsDir: dir }));
      expect(error.message).to.match(/records a live deployment.*--force/s);
      expect(fs.readFileSync(first.file!, "utf8")).to.equal(before);
    });

    it("is replaced with --force, keeping the old record as a backup", async () => {
      const first = await deploySuite(hre, { deploymentsDir: dir });
      const second = await deploySuite(hre, { deploymentsDir: dir, force: true });
      expect(second.record.contracts.Controller).to.not.equal(first.record.contracts.Controller);
      const backups = fs.readdirSync(dir).filter((name) => name.endsWith(".bak.json"));
      expect(backups).to.have.length(1);
      const backup = JSON.parse(fs.readFileSync(path.join(dir, backups[0]), "utf8"));
      expect(backup.contracts.Controller).to.equal(first.record.contracts.Controller);
    });

    it("is replaced when its contracts are not on this chain (the chain was reset)", async () => {
      const file = path.join(dir, "hardhat.json");
      const stale = {
        chainId: 31337,
        deployedAt: 1,
        contracts: { Controller: "0x000000000000000000000000000000000000dEaD" },
      };
      fs.writeFileSync(file, JSON.stringify(stale));
      const lines: string[] = [];
      await deploySuite(hre, { deploymentsDir: dir, log: (line) => lines.push(line) });
      expect(JSON.parse(fs.readFileSync(file, "utf8")).contracts.Minter).to.match(/^0x[0-9a-fA-F]{40}$/);
      expect(lines.join("\n")).to.match(/not on this chain/);
    });
  });

  describe("parameters", () => {
    it("refuses to deploy with an invalid parameter file, naming each problem", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "streamflow-params-"));
      try {
        const file = path.join(dir, "bad.json");
        const local = JSON.parse(fs.readFileSync(path.join(ROOT, "deployments", "params", "local.json"), "utf8"));
        fs.writeFileSync(file, JSON.stringify({ ...local, roundLength: 0, finderFee: 2_000_000, roundLenght: 5 }));
        const error = await rejectionOf(deploySuite(hre, { paramsFile: file, write: false }));
        expect(error.message).to.match(
          /roundLength: 0 is below the minimum 1[\s\S]*finderFee: 2000000 exceeds 1000000[\s\S]*roundLenght: unknown parameter/,
        );
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
