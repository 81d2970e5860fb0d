import fs from "node:fs";
import path from "node:path";
import { ZeroAddress } from "ethers";
import type { ContractFactory } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types";
import { type StorageLayout, getStorageUpgradeReport, withValidationDefaults } from "@openzeppelin/upgrades-core";
// Not re-exported by the plugin's entry point; the plugin is pinned exactly, so this path is stable for us.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { getDeployData } = require("@openzeppelin/hardhat-upgrades/dist/utils/deploy-impl") as {
  getDeployData(
    hre: HardhatRuntimeEnvironment,
    factory: ContractFactory,
    opts: { kind: "uups"; constructorArgs: unknown[] },
  ): Promise<{ layout: StorageLayout }>;
};

import { UPGRADEABLE_MANAGERS } from "./deployment";

export interface LayoutCheck {
  contract: string;
  ok: boolean;
  /** Why an upgrade from the snapshot to the current source would corrupt storage (empty when ok). */
  explanation: string;
  /** No layout has been recorded yet (a manager that was never deployed). */
  snapshotMissing?: boolean;
}

export function layoutSnapshotFile(root: string, contract: string): string {
  return path.join(root, "deployments", "storage-layouts", `${contract}.json`);
}

/** The storage layout of `contract` as compiled now, as the upgrades plugin extracts it. */
export async function compiledLayout(hre: HardhatRuntimeEnvironment, contract: string): Promise<StorageLayout> {
  const factory = await hre.ethers.getContractFactory(contract);
  const { layout } = await getDeployData(hre, factory, { kind: "uups", constructorArgs: [ZeroAddress] });
  return layout;
}

/** Whether upgrading a proxy whose storage has `original`'s layout to `updated` keeps every slot meaning the same. */
export function compareLayouts(contract: string, original: StorageLayout, updated: StorageLayout): LayoutCheck {
  const report = getStorageUpgradeReport(original, updated, withValidationDefaults({ kind: "uups" }));
  return { contract, ok: report.ok, explanation: report.ok ? "" : report.explain() };
}

/** Checks `contract`'s compiled layout against a layout snapshot (by default its checked-in snapshot). */
export async function checkLayoutAgainstSnapshot(
  hre: HardhatRuntimeEnvironment,
  contract: string,
  snapshotOf: string = contract,
): Promise<LayoutCheck> {
  const file = layoutSnapshotFile(hre.config.paths.root, snapshotOf);
  if (!fs.existsSync(file)) {
    const explanation = `no snapshot at ${file}: run \`npx hardhat storage-layout --write\``;
    return { contract, ok: false, explanation, snapshotMissing: true };
  }
  const original = JSON.parse(fs.readFileSync(file, "utf8")) as StorageLayout;
  return compareLayouts(contract, original, await compiledLayout(hre, contract));
}

export async function checkAllLayouts(hre: HardhatRuntimeEnvironment): Promise<LayoutCheck[]> {
  const checks: LayoutCheck[] = [];
  for (const contract of UPGRADEABLE_MANAGERS) checks.push(await checkLayoutAgainstSnapshot(hre, contract));
  return checks;
}

export async function writeLayoutSnapshot(hre: HardhatRuntimeEnvironment, contract: string): Promise<string> {
  const file = layoutSnapshotFile(hre.config.paths.root, contract);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(await compiledLayout(hre, contract), null, 2) + "\n");
  return file;
}
