import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { JsonRpcProvider, id } from "ethers";

import { type HardhatNode, runHardhat, startHardhatNode } from "../support/processes";
import { Controller__factory, LivepeerToken__factory, RoundsManager__factory } from "../../typechain-types";

describe("e2e: deploy to a `hardhat node` (README's local deployment)", function () {
  this.timeout(180_000);

  let node: HardhatNode;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    node = await startHardhatNode();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "streamflow-e2e-deploy-"));
    env = { LOCALHOST_RPC_URL: node.url, DEPLOYMENTS_DIR: dir };
  });

  after(async () => {
    await node?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("`hardhat run scripts/deploy.ts --network localhost` writes a usable deployment file", async () => {
    const result = await runHardhat(["run", "scripts/deploy.ts", "--network", "localhost"], env);
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.match(/wrote .*localhost\.json/);

    const record = JSON.parse(fs.readFileSync(path.join(dir, "localhost.json"), "utf8"));
    expect(record.chainId).to.equal(31337);
    const provider = new JsonRpcProvider(node.url);
    try {
      const controller = Controller__factory.connect(record.contracts.Controller, provider);
      expect(await controller.getContract(id("RoundsManager"))).to.equal(record.contracts.RoundsManager);
      expect(await controller.paused()).to.equal(false);
      const rounds = RoundsManager__factory.connect(record.contracts.RoundsManager, provider);
      expect(await rounds.currentRound()).to.equal(1n);
      const token = LivepeerToken__factory.connect(record.contracts.LivepeerToken, provider);
      expect(await token.balanceOf(record.deployer)).to.equal(10_000_000n * 10n ** 18n);
    } finally {
      provider.destroy();
    }
  });

  it("refuses to run again over the live deployment, and replaces it with `deploy --force`", async () => {
    const before = fs.readFileSync(path.join(dir, "localhost.json"), "utf8");
    const refused = await runHardhat(["run", "scripts/deploy.ts", "--network", "localhost"], env);
    expect(refused.code).to.not.equal(0);
    expect(refused.stderr).to.match(/Refusing to deploy over it/);
    expect(fs.readFileSync(path.join(dir, "localhost.json"), "utf8")).to.equal(before);

    const forced = await runHardhat(["deploy", "--network", "localhost", "--force"], env);
    expect(forced.code, forced.stderr).to.equal(0);
    expect(fs.readdirSync(dir).filter((name) => name.endsWith(".bak.json"))).to.have.length(1);
  });

  it("explains what is missing for a testnet deployment", async () => {
    const result = await runHardhat(["deploy", "--network", "sepolia"], { RPC_URL: "", DEPLOYER_KEY: "" });
    expect(result.code).to.not.equal(0);
    expect(result.stderr + result.stdout).to.match(/RPC_URL is not set[\s\S]*DEPLOYER_KEY is not set/);
  });
});
