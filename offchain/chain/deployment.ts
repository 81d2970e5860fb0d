/** The deployment record (`deployments/<network>.json`) as the daemons read it, with errors that say what to do. */
import fs from "node:fs";

import type { ContractAddresses } from "./view";

export interface DeploymentFile {
  chainId: number | string;
  /** Block of the first deployment transaction. */
  deployedAt?: number;
  contracts: ContractAddresses & Record<string, string>;
}

/** What the orchestrator and the broadcaster need. */
export const CORE_CONTRACTS = ["TicketBroker", "RoundsManager", "BondingManager", "ServiceRegistry"] as const;

export class DeploymentFileError extends Error {
  override readonly name = "DeploymentFileError";
}

/** Reads `file` and checks it names every contract in `required`. */
export function readDeploymentFile(file: string, required: readonly string[] = CORE_CONTRACTS): DeploymentFile {
  let record: DeploymentFile;
  try {
    record = JSON.parse(fs.readFileSync(file, "utf8")) as DeploymentFile;
  } catch (error) {
    throw new DeploymentFileError(
      `Cannot read the deployment ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  for (const name of required) {
    if (typeof record.contracts?.[name] !== "string") {
      const hint = name === "DisputeManager" ? ": it was deployed by an older version; redeploy" : "";
      throw new DeploymentFileError(`${file} has no contracts.${name}${hint}`);
    }
  }
  return record;
}

/** Throws when the record is for another chain than the node at `rpcUrl`. */
export function checkDeploymentChain(deployment: DeploymentFile, file: string, rpcUrl: string, chainId: bigint): void {
  if (BigInt(deployment.chainId) !== chainId) {
    throw new Error(
      `${file} is for chain ${deployment.chainId} but ${rpcUrl} is chain ${chainId}: wrong --deployment or --rpc-url`,
    );
  }
}

export const DEPLOY_FIRST = "Deploy first (`npx hardhat deploy --network <net>`) or pass --deployment.";
