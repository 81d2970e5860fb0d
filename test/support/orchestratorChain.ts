/**
 * A `hardhat node` with the suite deployed, an orchestrator (dev account 1) bonded, registered and active, and a
 * broadcaster (dev account 2) with a deposit and a reserve: what every orchestrator end-to-end test starts from.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { HDNodeWallet, type JsonRpcSigner, Mnemonic, Wallet, parseEther } from "ethers";

import {
  BondingManager__factory,
  LivepeerToken__factory,
  RoundsManager__factory,
  TicketBroker__factory,
} from "../../typechain-types";
import { type DeployedNode, startDeployedNode } from "./deployedNode";

/** The private key of `hardhat node` account `index` (from the public development mnemonic). */
export function devKey(index: number): string {
  return HDNodeWallet.fromMnemonic(
    Mnemonic.fromPhrase("test test test test test test test test test test test junk"),
    `m/44'/60'/0'/0/${index}`,
  ).privateKey;
}

export const ORCHESTRATOR_KEY = devKey(1);
export const BROADCASTER_KEY = devKey(2);

export interface OrchestratorChain extends DeployedNode {
  orchestrator: string;
  broadcaster: string;
  /** Writes the deployment record where the daemon can read it; returns its path. */
  deploymentFile: string;
  /** Mines to the next round and initializes it. */
  nextRound(): Promise<bigint>;
  /**
   * Funds dev account `index` as another broadcaster (a deposit and a reserve, 10 ETH each by default); returns its
   * lower-case address.
   */
  fundBroadcaster(index: number, funds?: { deposit?: string; reserve?: string }): Promise<string>;
  signer(index: number): Promise<JsonRpcSigner>;
}

export async function startOrchestratorChain(
  label: string,
  funds: { deposit?: string; reserve?: string; stake?: string } = {},
): Promise<OrchestratorChain> {
  const chain = await startDeployedNode(label);
  try {
    const { provider, record } = chain;
    const deployer = await provider.getSigner(0);
    const orchestratorSigner = await provider.getSigner(1);
    const broadcasterSigner = await provider.getSigner(2);
    const orchestrator = orchestratorSigner.address.toLowerCase();
    const broadcaster = broadcasterSigner.address.toLowerCase();
    if (new Wallet(ORCHESTRATOR_KEY).address.toLowerCase() !== orchestrator) throw new Error("account 1 key mismatch");
    if (new Wallet(BROADCASTER_KEY).address.toLowerCase() !== broadcaster) throw new Error("account 2 key mismatch");

    const stake = parseEther(funds.stake ?? "1000");
    const token = LivepeerToken__factory.connect(record.contracts.LivepeerToken, deployer);
    await (await token.transfer(orchestrator, stake)).wait();
    const bonding = BondingManager__factory.connect(record.contracts.BondingManager, orchestratorSigner);
    await (
      await LivepeerToken__factory.connect(record.contracts.LivepeerToken, orchestratorSigner).approve(
        record.contracts.BondingManager,
        stake,
      )
    ).wait();
    const rounds = RoundsManager__factory.connect(record.contracts.RoundsManager, deployer);
    const nextRound = async () => {
      const round = await chain.mineToNextRound();
      if (!(await rounds.currentRoundInitialized())) await (await rounds.initializeRound()).wait();
      return round;
    };
    if (!(await rounds.currentRoundInitialized())) await (await rounds.initializeRound()).wait();
    await (await bonding.bond(stake, orchestrator)).wait();
    await (await bonding.transcoder(100_000, 500_000)).wait();
    const broker = TicketBroker__factory.connect(record.contracts.TicketBroker, broadcasterSigner);
    const deposit = parseEther(funds.deposit ?? "10");
    const reserve = parseEther(funds.reserve ?? "10");
    await (await broker.fundDepositAndReserve(deposit, reserve, { value: deposit + reserve })).wait();
    await nextRound(); // the orchestrator is active from this round
    if (!(await bonding.isActiveTranscoder(orchestrator))) throw new Error("the orchestrator did not become active");

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `streamflow-orch-${label}-`));
    const deploymentFile = path.join(dir, "localhost.json");
    fs.writeFileSync(deploymentFile, JSON.stringify(record));
    return {
      ...chain,
      orchestrator,
      broadcaster,
      deploymentFile,
      nextRound,
      fundBroadcaster: async (index, amounts = {}) => {
        const signer = await provider.getSigner(index);
        const deposit = parseEther(amounts.deposit ?? "10");
        const reserve = parseEther(amounts.reserve ?? "10");
        await (
          await TicketBroker__factory.connect(record.contracts.TicketBroker, signer).fundDepositAndReserve(
            deposit,
            reserve,
            { value: deposit + reserve },
          )
        ).wait();
        return signer.address.toLowerCase();
      },
      signer: (index) => provider.getSigner(index),
      stop: async () => {
        fs.rmSync(dir, { recursive: true, force: true });
        await chain.stop();
      },
    };
  } catch (error) {
    await chain.stop();
    throw error;
  }
}
