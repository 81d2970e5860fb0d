import fs from "node:fs";
import { id } from "ethers";
import type { BaseContract, ContractTransactionResponse } from "ethers";
import { HardhatPluginError } from "hardhat/plugins";
import type { HardhatRuntimeEnvironment } from "hardhat/types";

import {
  CONTRACT_NAMES,
  type ContractName,
  UPGRADEABLE_MANAGERS,
  type DeploymentRecord,
  deploymentFile,
  deploymentsDir,
  gitCommit,
  readDeployment,
  writeDeployment,
} from "./deployment";
import { remoteNetworkProblems } from "./networks";
import { type ProtocolParams, defaultParamsFile, loadProtocolParams, serializeParams } from "./params";

export interface DeployOptions {
  /** Parameter file; defaults to deployments/params/<local|testnet>.json for the network. */
  paramsFile?: string;
  /** Replace a deployment that is still live on the chain (the old record is kept as a backup). */
  force?: boolean;
  /** Write <deploymentsDir>/<network>.json (default true). */
  write?: boolean;
  /** Directory of deployment records (default: DEPLOYMENTS_DIR, else deployments/). */
  deploymentsDir?: string;
  /** Progress lines; silent by default. */
  log?: (line: string) => void;
}

export interface DeployResult {
  record: DeploymentRecord;
  /** Where the record was written, if it was. */
  file?: string;
}

const PLUGIN = "streamflow";

/** Deploys, wires and unpauses the whole protocol suite on the selected network. */
export async function deploySuite(hre: HardhatRuntimeEnvironment, options: DeployOptions = {}): Promise<DeployResult> {
  const log = options.log ?? (() => {});
  const root = hre.config.paths.root;
  const networkName = hre.network.name;

  const problems = remoteNetworkProblems(networkName, process.env);
  if (problems.length > 0) {
    throw new HardhatPluginError(PLUGIN, `cannot deploy to ${networkName}:\n  - ${problems.join("\n  - ")}`);
  }

  const paramsFile = options.paramsFile ?? process.env.DEPLOY_PARAMS ?? defaultParamsFile(networkName, root);
  const params = loadParams(paramsFile);

  const [deployer] = await hre.ethers.getSigners();
  if (deployer === undefined) {
    throw new HardhatPluginError(PLUGIN, `no deployer account is configured for ${networkName}`);
  }
  const chainId = Number((await hre.ethers.provider.getNetwork()).chainId);
  const file = deploymentFile(networkName, options.deploymentsDir ?? deploymentsDir(root));
  const write = options.write ?? true;
  if (write) await guardExistingDeployment(hre, file, chainId, options.force ?? false, log);

  const balance = await hre.ethers.provider.getBalance(deployer.address);
  if (balance === 0n) {
    throw new HardhatPluginError(
      PLUGIN,
      `deployer ${deployer.address} has no ETH on ${networkName} (chain ${chainId})`,
    );
  }
  log(`deploying to ${networkName} (chain ${chainId}) from ${deployer.address} with ${paramsFile}`);

  const controller = await deployContract(hre, "Controller", [deployer.address], log);
  const controllerAddress = await controller.getAddress();
  const deployedAt = (await controller.deploymentTransaction()!.wait())!.blockNumber;

  const token = await deployContract(
    hre,
    "LivepeerToken",
    [controllerAddress, deployer.address, params.genesisSupply],
    log,
  );
  const minter = await deployContract(
    hre,
    "Minter",
    [controllerAddress, params.inflation, params.inflationChange, params.targetBondingRate],
    log,
  );
  const bondingManager = await hre.upgrades.deployProxy(
    await hre.ethers.getContractFactory("BondingManager"),
    [params.unbondingPeriod, params.numActiveTranscoders],
    { kind: "uups", initializer: "initialize", constructorArgs: [controllerAddress] },
  );
  await bondingManager.waitForDeployment();
  log(`  BondingManager proxy ${await bondingManager.getAddress()}`);
  const ticketBroker = await hre.upgrades.deployProxy(
    await hre.ethers.getContractFactory("TicketBroker"),
    [params.unlockPeriod, params.ticketValidityPeriod],
    { kind: "uups", initializer: "initialize", constructorArgs: [controllerAddress] },
  );
  await ticketBroker.waitForDeployment();
  log(`  TicketBroker proxy ${await ticketBroker.getAddress()}`);
  const serviceRegistry = await deployContract(hre, "ServiceRegistry", [controllerAddress], log);
  const disputeManager = await hre.upgrades.deployProxy(
    await hre.ethers.getContractFactory("DisputeManager"),
    [
      params.disputeBond,
      params.commitPeriod,
      params.revealPeriod,
      params.committeeSize,
      params.quorum,
      params.faultSlashAmount,
      params.finderFee,
      params.verifierSlashAmount,
      params.verifierUnlockPeriod,
    ],
    { kind: "uups", initializer: "initialize", constructorArgs: [controllerAddress] },
  );
  await disputeManager.waitForDeployment();
  log(`  DisputeManager proxy ${await disputeManager.getAddress()}`);
  // Last, so that round 1 starts as close as possible to the end of the deployment.
  const roundsManager = await hre.upgrades.deployProxy(
    await hre.ethers.getContractFactory("RoundsManager"),
    [params.roundLength, params.roundLockAmount],
    { kind: "uups", initializer: "initialize", constructorArgs: [controllerAddress] },
  );
  await roundsManager.waitForDeployment();
  log(`  RoundsManager proxy ${await roundsManager.getAddress()}`);

  const contracts: Record<ContractName, string> = {
    Controller: controllerAddress,
    LivepeerToken: await token.getAddress(),
    Minter: await minter.getAddress(),
    RoundsManager: await roundsManager.getAddress(),
    BondingManager: await bondingManager.getAddress(),
    TicketBroker: await ticketBroker.getAddress(),
    ServiceRegistry: await serviceRegistry.getAddress(),
    DisputeManager: await disputeManager.getAddress(),
  };

  const registry = await hre.ethers.getContractAt("Controller", controllerAddress, deployer);
  for (const name of CONTRACT_NAMES) {
    if (name === "Controller") continue;
    await confirm(registry.setContract(id(name), contracts[name]));
  }
  // Genesis is complete: contracts are wired and parameterised.
  await confirm(registry.unpause());
  log("  registered every contract and unpaused the Controller");

  const record: DeploymentRecord = {
    network: networkName,
    chainId,
    deployedAt,
    commit: gitCommit(root),
    deployer: deployer.address,
    owner: await registry.owner(),
    contracts,
    implementations: Object.fromEntries(
      await Promise.all(
        UPGRADEABLE_MANAGERS.map(
          async (name) => [name, await hre.upgrades.erc1967.getImplementationAddress(contracts[name])] as const,
        ),
      ),
    ),
    params: serializeParams(params),
    writtenAt: new Date().toISOString(),
  };
  if (!write) return { record };
  writeDeployment(file, record);
  log(`wrote ${file}`);
  return { record, file };
}

function loadParams(file: string): ProtocolParams {
  try {
    return loadProtocolParams(file);
  } catch (error) {
    throw new HardhatPluginError(PLUGIN, (error as Error).message);
  }
}

/** Refuses to replace a deployment that still has code on this chain unless forced; a stale record is replaced. */
async function guardExistingDeployment(
  hre: HardhatRuntimeEnvironment,
  file: string,
  chainId: number,
  force: boolean,
  log: (line: string) => void,
): Promise<void> {
  let existing: DeploymentRecord | undefined;
  try {
    existing = readDeployment(file);
  } catch (error) {
    throw new HardhatPluginError(
      PLUGIN,
      `${file} exists but cannot be read (${(error as Error).message}); move it away`,
    );
  }
  if (existing === undefined) return;

  const controller = existing.contracts.Controller;
  const live =
    existing.chainId === chainId &&
    controller !== undefined &&
    (await hre.ethers.provider.getCode(controller)) !== "0x";
  if (!live) {
    log(`${file} records a deployment that is not on this chain (it was reset or is another chain): replacing it`);
    return;
  }
  if (!force) {
    throw new HardhatPluginError(
      PLUGIN,
      `${file} records a live deployment on chain ${chainId} (Controller ${controller}, block ${existing.deployedAt}). ` +
        "Refusing to deploy over it. To replace it anyway, run `npx hardhat deploy --force` " +
        "(or set FORCE_REDEPLOY=1 with `hardhat run scripts/deploy.ts`); the old record is kept as a backup.",
    );
  }
  const backup = file.replace(/\.json$/, `.${existing.deployedAt}.bak.json`);
  fs.copyFileSync(file, backup);
  log(`forced: the previous record is kept as ${backup}`);
}

async function deployContract(
  hre: HardhatRuntimeEnvironment,
  name: string,
  args: unknown[],
  log: (line: string) => void,
): Promise<BaseContract> {
  const factory = await hre.ethers.getContractFactory(name);
  const contract = await factory.deploy(...args);
  await contract.waitForDeployment();
  log(`  ${name} ${await contract.getAddress()}`);
  return contract;
}

async function confirm(transaction: Promise<ContractTransactionResponse>): Promise<void> {
  const receipt = await (await transaction).wait();
  if (receipt === null || receipt.status !== 1) throw new HardhatPluginError(PLUGIN, "a wiring transaction failed");
}
