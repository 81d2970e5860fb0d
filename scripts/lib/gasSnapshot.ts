import fs from "node:fs";
import { MaxUint256, id, parseEther } from "ethers";
import type { ContractTransactionResponse } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types";

import { deploySuite } from "./deploySuite";
import { measureBonding } from "./gasBonding";
import { measureDisputes } from "./gasDisputes";
import { measureTickets } from "./gasTickets";
import { defaultParamsFile } from "./params";
import { signPermit } from "./permit";

export type GasSnapshot = Record<string, number>;

/**
 * Runs fixed scenarios on a fresh in-process chain and records `receipt.gasUsed` per operation. Gas on the
 * Hardhat network is deterministic for the same bytecode and inputs, so any difference is a real change. The suite
 * is deployed with the production-like parameters (deployments/params/testnet.json), as anchors.md measures.
 */
export async function measureGas(hre: HardhatRuntimeEnvironment): Promise<GasSnapshot> {
  if (hre.network.name !== "hardhat") {
    throw new Error(`the gas snapshot runs on the in-process hardhat network only, not ${hre.network.name}`);
  }
  const { ethers } = hre;
  const { record } = await deploySuite(hre, {
    write: false,
    paramsFile: defaultParamsFile("sepolia", hre.config.paths.root),
  });
  const [deployer, alice, bob] = await ethers.getSigners();
  const controller = await ethers.getContractAt("Controller", record.contracts.Controller);
  const token = await ethers.getContractAt("LivepeerToken", record.contracts.LivepeerToken);
  const rounds = await ethers.getContractAt("RoundsManager", record.contracts.RoundsManager);
  const registry = await ethers.getContractAt("ServiceRegistry", record.contracts.ServiceRegistry);

  const snapshot: GasSnapshot = {};
  const measure = async (label: string, transaction: Promise<ContractTransactionResponse>) => {
    const receipt = await (await transaction).wait();
    snapshot[label] = Number(receipt!.gasUsed);
  };

  await measure("Controller.setContract (new entry)", controller.setContract(id("Example"), record.contracts.Minter));
  await measure("Controller.pause", controller.pause());
  await measure("Controller.unpause", controller.unpause());

  await measure("LivepeerToken.transfer (new holder)", token.transfer(alice.address, parseEther("1000")));
  await measure("LivepeerToken.transfer (existing holder)", token.transfer(alice.address, parseEther("1000")));
  const permit = await signPermit(token, alice, bob.address, parseEther("10"), MaxUint256);
  await measure(
    "LivepeerToken.permit",
    token.connect(bob).permit(alice.address, bob.address, parseEther("10"), MaxUint256, permit.v, permit.r, permit.s),
  );

  await measure(
    "ServiceRegistry.setServiceURI (first)",
    registry.connect(alice).setServiceURI("https://orchestrator.example.com:8935"),
  );
  await measure(
    "ServiceRegistry.setServiceURI (update)",
    registry.connect(alice).setServiceURI("https://orchestrator-2.example.com:8935"),
  );
  await measure("RoundsManager.setRoundLength", rounds.connect(deployer).setRoundLength(5760));

  await measureBonding(hre, record, measure);
  await measureTickets(hre, measure); // starts a fresh chain
  await measureDisputes(hre, measure); // starts another

  return Object.fromEntries(Object.entries(snapshot).sort(([a], [b]) => a.localeCompare(b)));
}

export interface SnapshotDiff {
  label: string;
  before?: number;
  after?: number;
}

/** Every operation whose gas differs between two snapshots (including ones added or removed). */
export function diffSnapshots(before: GasSnapshot, after: GasSnapshot): SnapshotDiff[] {
  const labels = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return labels
    .filter((label) => before[label] !== after[label])
    .map((label) => ({ label, before: before[label], after: after[label] }));
}

export function formatDiff(diffs: SnapshotDiff[]): string {
  return diffs
    .map(({ label, before, after }) => {
      if (before === undefined) return `  + ${label}: ${after}`;
      if (after === undefined) return `  - ${label}: ${before}`;
      const delta = after - before;
      return `  ${label}: ${before} -> ${after} (${delta > 0 ? "+" : ""}${delta})`;
    })
    .join("\n");
}

export function readSnapshot(file: string): GasSnapshot | undefined {
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as GasSnapshot) : undefined;
}
