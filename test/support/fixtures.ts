import hre, { ethers } from "hardhat";
import { id, parseEther } from "ethers";

import { deploySuite } from "../../scripts/lib/deploySuite";
import type { DeploymentRecord } from "../../scripts/lib/deployment";
import type {
  BondingManager,
  Controller,
  DisputeManager,
  LivepeerToken,
  ManagerMock,
  Minter,
  RoundsManager,
  ServiceRegistry,
  TicketBroker,
} from "../../typechain-types";

export const ROUND_LENGTH = 20n;
export const GENESIS_SUPPLY = parseEther("10000000");

export interface Suite {
  record: DeploymentRecord;
  controller: Controller;
  token: LivepeerToken;
  minter: Minter;
  rounds: RoundsManager;
  bondingManager: BondingManager;
  serviceRegistry: ServiceRegistry;
  ticketBroker: TicketBroker;
  /** Registered as the DisputeManager in place of the real one; lets tests slash directly. */
  disputeManager: ManagerMock;
}

/** The suite as `scripts/deploy.ts` deploys it (local parameters), with a ManagerMock as the DisputeManager. */
export async function deployedSuite(): Promise<Suite> {
  const { record } = await deploySuite(hre, { write: false });
  const controller = await ethers.getContractAt("Controller", record.contracts.Controller);
  const disputeManager = await (await ethers.getContractFactory("ManagerMock")).deploy();
  await controller.setContract(id("DisputeManager"), await disputeManager.getAddress());
  return {
    record,
    controller,
    token: await ethers.getContractAt("LivepeerToken", record.contracts.LivepeerToken),
    minter: await ethers.getContractAt("Minter", record.contracts.Minter),
    rounds: await ethers.getContractAt("RoundsManager", record.contracts.RoundsManager),
    bondingManager: await ethers.getContractAt("BondingManager", record.contracts.BondingManager),
    serviceRegistry: await ethers.getContractAt("ServiceRegistry", record.contracts.ServiceRegistry),
    ticketBroker: await ethers.getContractAt("TicketBroker", record.contracts.TicketBroker),
    disputeManager,
  };
}

export interface DisputeSuite extends Omit<Suite, "disputeManager"> {
  /** The real DisputeManager, registered as deployed. */
  disputeManager: DisputeManager;
}

/** The suite exactly as `scripts/deploy.ts` deploys it, DisputeManager included: for dispute and slashing flows. */
export async function deployedSuiteWithDisputes(): Promise<DisputeSuite> {
  const { record } = await deploySuite(hre, { write: false });
  return {
    record,
    controller: await ethers.getContractAt("Controller", record.contracts.Controller),
    token: await ethers.getContractAt("LivepeerToken", record.contracts.LivepeerToken),
    minter: await ethers.getContractAt("Minter", record.contracts.Minter),
    rounds: await ethers.getContractAt("RoundsManager", record.contracts.RoundsManager),
    bondingManager: await ethers.getContractAt("BondingManager", record.contracts.BondingManager),
    serviceRegistry: await ethers.getContractAt("ServiceRegistry", record.contracts.ServiceRegistry),
    ticketBroker: await ethers.getContractAt("TicketBroker", record.contracts.TicketBroker),
    disputeManager: await ethers.getContractAt("DisputeManager", record.contracts.DisputeManager),
  };
}

export interface MockedTicketBrokerSuite extends Omit<Suite, "ticketBroker"> {
  /** A ManagerMock registered as the TicketBroker in place of the real one, so tests can credit fees as it. */
  ticketBroker: ManagerMock;
}

/** The deployed suite with the TicketBroker replaced by a ManagerMock: for testing its callees in isolation. */
export async function suiteWithMockTicketBroker(): Promise<MockedTicketBrokerSuite> {
  const suite = await deployedSuite();
  const ticketBroker = await (await ethers.getContractFactory("ManagerMock")).deploy();
  await suite.controller.setContract(id("TicketBroker"), await ticketBroker.getAddress());
  return { ...suite, ticketBroker };
}

export interface MockedBondingSuite extends Omit<MockedTicketBrokerSuite, "bondingManager"> {
  /** A ManagerMock registered as the BondingManager in place of the real one, so tests can act as it. */
  bondingManager: ManagerMock;
}

/** The deployed suite with the BondingManager and the TicketBroker replaced by ManagerMocks: for testing their
 * callees (the Minter, the token) in isolation. */
export async function suiteWithMockBondingManager(): Promise<MockedBondingSuite> {
  const suite = await suiteWithMockTicketBroker();
  const bondingManager = await (await ethers.getContractFactory("ManagerMock")).deploy();
  await suite.controller.setContract(id("BondingManager"), await bondingManager.getAddress());
  return { ...suite, bondingManager };
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
