import hre, { ethers } from "hardhat";
import { id, parseEther } from "ethers";

import { deploySuite } from "../../scripts/lib/deploySuite";
import type { DeploymentRecord } from "../../scripts/lib/deployment";
import type {
  Controller,
  LivepeerToken,
  ManagerMock,
  Minter,
  RoundsManager,
  ServiceRegistry,
} from "../../typechain-types";

export const ROUND_LENGTH = 20n;
export const GENESIS_SUPPLY = parseEther("10000000");

export interface Suite {
  record: DeploymentRecord;
  controller: Controller;
  token: LivepeerToken;
  minter: Minter;
  rounds: RoundsManager;
  serviceRegistry: ServiceRegistry;
  /** Registered as the BondingManager until the real one exists; also lets tests act as it. */
  bondingManager: ManagerMock;
  /** Registered as the TicketBroker until the real one exists. */
  ticketBroker: ManagerMock;
}

/** The suite exactly as `scripts/deploy.ts` deploys it (local parameters), plus stand-ins for managers not built yet. */
export async function deployedSuite(): Promise<Suite> {
  const { record } = await deploySuite(hre, { write: false });
  const controller = await ethers.getContractAt("Controller", record.contracts.Controller);
  const factory = await ethers.getContractFactory("ManagerMock");
  const bondingManager = await factory.deploy();
  const ticketBroker = await factory.deploy();
  await controller.setContract(id("BondingManager"), await bondingManager.getAddress());
  await controller.setContract(id("TicketBroker"), await ticketBroker.getAddress());
  return {
    record,
    controller,
    token: await ethers.getContractAt("LivepeerToken", record.contracts.LivepeerToken),
    minter: await ethers.getContractAt("Minter", record.contracts.Minter),
    rounds: await ethers.getContractAt("RoundsManager", record.contracts.RoundsManager),
    serviceRegistry: await ethers.getContractAt("ServiceRegistry", record.contracts.ServiceRegistry),
    bondingManager,
    ticketBroker,
  };
}

/** Calls `contract.method(...args)` with `caller` (a ManagerMock) as msg.sender. */
export async function callAs(
  caller: ManagerMock,
  contract: { getAddress(): Promise<string>; interface: { encodeFunctionData(name: string, args: unknown[]): string } },
  method: string,
  args: unknown[] = [],
  value = 0n,
) {
  const data = contract.interface.encodeFunctionData(method, args);
  return caller.execute(await contract.getAddress(), data, { value });
}
