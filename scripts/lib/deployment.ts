import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

/** Contracts a deployment records, by the name clients look them up with (`contracts.<Name>`). */
export const CONTRACT_NAMES = [
  "Controller",
  "LivepeerToken",
  "Minter",
  "RoundsManager",
  "BondingManager",
  "TicketBroker",
  "ServiceRegistry",
  "DisputeManager",
] as const;
export type ContractName = (typeof CONTRACT_NAMES)[number];

/** Managers deployed behind a UUPS proxy; `contracts.<Name>` is the proxy, `implementations.<Name>` the logic. */
export const UPGRADEABLE_MANAGERS = ["RoundsManager", "BondingManager", "TicketBroker", "DisputeManager"] as const;

/** The file `scripts/deploy.ts` writes to `deployments/<network>.json`. */
export interface DeploymentRecord {
  network: string;
  chainId: number;
  /** Block of the first deployment transaction (the Controller). */
  deployedAt: number;
  /** Git commit of the deployed sources (`-dirty` when the tree had uncommitted changes). */
  commit: string;
  deployer: string;
  /** Controller owner: the account allowed to register contracts, pause, set parameters and upgrade. */
  owner: string;
  contracts: Record<ContractName, string>;
  implementations: Record<string, string>;
  params: Record<string, string>;
  /** ISO time the file was written. */
  writtenAt: string;
}

/** Where deployment records live: DEPLOYMENTS_DIR if set, else `<root>/deployments`. */
export function deploymentsDir(root: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.DEPLOYMENTS_DIR ? path.resolve(env.DEPLOYMENTS_DIR) : path.join(root, "deployments");
}

export function deploymentFile(networkName: string, dir: string): string {
  return path.join(dir, `${networkName}.json`);
}

export function readDeployment(file: string): DeploymentRecord | undefined {
  if (!fs.existsSync(file)) return undefined;
  const record = JSON.parse(fs.readFileSync(file, "utf8")) as DeploymentRecord;
  if (typeof record.chainId !== "number" || typeof record.contracts !== "object" || record.contracts === null) {
    throw new Error(`${file} is not a deployment record (no chainId or contracts)`);
  }
  return record;
}

/** Writes atomically: a crash mid-write never leaves a truncated deployment file behind. */
export function writeDeployment(file: string, record: DeploymentRecord): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, JSON.stringify(record, null, 2) + "\n");
  fs.renameSync(temporary, file);
}

/** The commit being deployed, or "unknown" outside a git checkout. */
export function gitCommit(root: string): string {
  try {
    const head = execFileSync("git", ["rev-parse", "HEAD"], { cwd: root, stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim();
    const status = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], {
      cwd: root,
      stdio: ["ignore", "pipe", "ignore"],
    }).toString();
    return status.trim() === "" ? head : `${head}-dirty`;
  } catch {
    return "unknown";
  }
}
