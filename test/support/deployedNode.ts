import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { JsonRpcProvider, toQuantity } from "ethers";

import type { DeploymentRecord } from "../../scripts/lib/deployment";
import { RoundsManager__factory } from "../../typechain-types";
import { type HardhatNode, runHardhat, startHardhatNode } from "./processes";

/** A `hardhat node` with the suite deployed by `npx hardhat deploy --network localhost`, as a user would. */
export interface DeployedNode {
  node: HardhatNode;
  /** Environment for `runHardhat` so that `--network localhost` reaches this node and its deployment record. */
  env: NodeJS.ProcessEnv;
  provider: JsonRpcProvider;
  record: DeploymentRecord;
  /**
   * Mines the rest of the round and the first block of the next, so that views (which run at the latest block) and
   * the next transactions (in the blocks after it) agree on the round, with 19 blocks to go before it ends.
   */
  mineToNextRound(): Promise<bigint>;
  /** Stops the node and removes the deployment directory. */
  stop(): Promise<void>;
}

export async function startDeployedNode(label: string): Promise<DeployedNode> {
  const node = await startHardhatNode();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `streamflow-e2e-${label}-`));
  const provider = new JsonRpcProvider(node.url, undefined, { cacheTimeout: -1 });
  const stop = async () => {
    provider.destroy();
    await node.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const env = { LOCALHOST_RPC_URL: node.url, DEPLOYMENTS_DIR: dir };
    const deployed = await runHardhat(["deploy", "--network", "localhost"], env);
    if (deployed.code !== 0) throw new Error(`deploy failed:\n${deployed.stderr}`);
    const record = JSON.parse(fs.readFileSync(path.join(dir, "localhost.json"), "utf8")) as DeploymentRecord;
    const rounds = RoundsManager__factory.connect(record.contracts.RoundsManager, provider);
    const mineToNextRound = async () => {
      const [start, length, latest] = await Promise.all([
        rounds.currentRoundStartBlock(),
        rounds.roundLength(),
        provider.getBlockNumber(),
      ]);
      await provider.send("hardhat_mine", [toQuantity(start + length - BigInt(latest))]);
      return rounds.currentRound();
    };
    return { node, env, provider, record, mineToNextRound, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
