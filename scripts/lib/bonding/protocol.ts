// The chain side of the bonding and ticket tasks: the deployment's contracts, the chosen signer, pool reads and a
// transaction sender that turns every revert into a sentence. Imported lazily by scripts/tasks/bonding.ts and
// scripts/tasks/tickets.ts: contracts are built from the compiled artifacts, which do not exist before the first
// compile.
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import {
  Contract,
  type ContractTransaction,
  type Interface,
  type InterfaceAbi,
  type LogDescription,
  type Result,
  ZeroAddress,
  getAddress,
} from "ethers";
import { HardhatPluginError } from "hardhat/plugins";
import type { HardhatRuntimeEnvironment } from "hardhat/types";

// Types only: erased at runtime, so no typechain module (each carries its bytecode) is loaded on every CLI call.
import type {
  BondingManager,
  LivepeerToken,
  RoundsManager,
  ServiceRegistry,
  TicketBroker,
} from "../../../typechain-types";
import {
  type ContractName,
  type DeploymentRecord,
  deploymentFile,
  deploymentsDir,
  readDeployment,
} from "../deployment";
import { InputError, pickAccount } from "./amounts";
import { type DecodedRevert, type ErrorContext, describeFailure, describeRevert, errorInterface } from "./errors";
import type { Pool } from "./hints";

export const PLUGIN = "streamflow";

/** The protocol contracts whose custom errors a task can run into (a bond can revert in the token). */
const PROTOCOL_CONTRACTS = [
  "BondingManager",
  "TicketBroker",
  "RoundsManager",
  "Minter",
  "LivepeerToken",
  "ServiceRegistry",
  "Controller",
] as const;

function abiOf(hre: HardhatRuntimeEnvironment, name: string): InterfaceAbi {
  return hre.artifacts.readArtifactSync(name).abi as InterfaceAbi;
}

/** Every custom error of every protocol contract, from the compiled artifacts. */
export function protocolErrors(hre: HardhatRuntimeEnvironment): Interface {
  return errorInterface(PROTOCOL_CONTRACTS.map((name) => abiOf(hre, name)));
}

export function fail(message: string): HardhatPluginError {
  return new HardhatPluginError(PLUGIN, message);
}

/** `<root>/deployments/<network>.json` (or under DEPLOYMENTS_DIR), or an error telling the user to deploy first. */
export function loadDeployment(
  root: string,
  network: string,
  env: NodeJS.ProcessEnv = process.env,
): { file: string; record: DeploymentRecord } {
  const file = deploymentFile(network, deploymentsDir(root, env));
  let record: DeploymentRecord | undefined;
  try {
    record = readDeployment(file);
  } catch (error) {
    throw fail(
      `${file} cannot be read (${(error as Error).message}); ` +
        `deploy again with \`npx hardhat deploy --network ${network}\``,
    );
  }
  if (record === undefined) {
    const where = env.DEPLOYMENTS_DIR ? ` (DEPLOYMENTS_DIR=${env.DEPLOYMENTS_DIR})` : "";
    throw fail(
      `no deployment for network ${network}: ${file} does not exist${where}. ` +
        `Deploy first: \`npx hardhat deploy --network ${network}\``,
    );
  }
  return { file, record };
}

export interface ParsedEvent {
  name: string;
  args: Result;
}

export interface Protocol {
  hre: HardhatRuntimeEnvironment;
  network: string;
  file: string;
  record: DeploymentRecord;
  /** The account chosen with --from; absent for read-only use without signers. */
  signer?: HardhatEthersSigner;
  bondingManager: BondingManager;
  roundsManager: RoundsManager;
  token: LivepeerToken;
  serviceRegistry: ServiceRegistry;
  /** Absent when the deployment predates the TicketBroker; `requireTicketBroker` says what to do then. */
  ticketBroker?: TicketBroker;
  /** Every protocol custom error, to decode reverts with. */
  errors: Interface;
  log: (line: string) => void;
}

export interface ConnectOptions {
  /** Signer index or address (`--from`); default signer 0. */
  from?: string;
  /** Whether a signer is needed (every transaction); read-only tasks may run without one. */
  needsSigner?: boolean;
  log?: (line: string) => void;
}

function missingContract(file: string, name: ContractName, network: string): HardhatPluginError {
  return fail(`${file} has no contracts.${name}: deploy again with \`npx hardhat deploy --network ${network}\``);
}

function recordedAddress(record: DeploymentRecord, name: ContractName): string | undefined {
  const address = record.contracts[name] as string | undefined;
  return typeof address === "string" && address !== "" ? address : undefined;
}

function contractAddress(file: string, record: DeploymentRecord, name: ContractName, network: string): string {
  const address = recordedAddress(record, name);
  if (address === undefined) throw missingContract(file, name, network);
  return address;
}

/** The deployment's contracts, connected to the chosen signer. */
export async function connectProtocol(hre: HardhatRuntimeEnvironment, options: ConnectOptions = {}): Promise<Protocol> {
  const network = hre.network.name;
  const { file, record } = loadDeployment(hre.config.paths.root, network);
  const provider = hre.ethers.provider;
  const chainId = (await provider.getNetwork()).chainId;
  if (BigInt(record.chainId) !== chainId) {
    throw fail(
      `${file} is for chain ${record.chainId} but ${network} is chain ${chainId}: ` +
        `deploy to this chain with \`npx hardhat deploy --network ${network}\``,
    );
  }
  const bondingManagerAddress = contractAddress(file, record, "BondingManager", network);
  if ((await provider.getCode(bondingManagerAddress)) === "0x") {
    if (network === "hardhat") {
      throw fail(
        "the in-process hardhat network starts empty on every command, so its deployment is gone: " +
          "run `npx hardhat node`, deploy with `npx hardhat deploy --network localhost` and use --network localhost",
      );
    }
    throw fail(
      `the deployment in ${file} is not on this chain (no code at its BondingManager ${bondingManagerAddress}; ` +
        `was the node restarted?): deploy again with \`npx hardhat deploy --network ${network}\``,
    );
  }

  let signer: HardhatEthersSigner | undefined;
  if (options.needsSigner ?? true) {
    const signers = await hre.ethers.getSigners();
    signer =
      signers[
        pickAccount(
          signers.map((candidate) => candidate.address),
          options.from,
        )
      ];
  }
  const runner = signer ?? provider;
  const connect = <T>(name: ContractName, address = contractAddress(file, record, name, network)): T =>
    new Contract(address, abiOf(hre, name), runner) as unknown as T;
  const ticketBrokerAddress = recordedAddress(record, "TicketBroker");
  return {
    hre,
    network,
    file,
    record,
    signer,
    errors: protocolErrors(hre),
    bondingManager: connect<BondingManager>("BondingManager", bondingManagerAddress),
    roundsManager: connect<RoundsManager>("RoundsManager"),
    token: connect<LivepeerToken>("LivepeerToken"),
    serviceRegistry: connect<ServiceRegistry>("ServiceRegistry"),
    ticketBroker:
      ticketBrokerAddress === undefined ? undefined : connect<TicketBroker>("TicketBroker", ticketBrokerAddress),
    log: options.log ?? ((line) => console.log(line)),
  };
}

export function errorContext(protocol: Pick<Protocol, "network">): ErrorContext {
  return { network: protocol.network };
}

/** A HardhatPluginError with the sentence for `decoded`, for checks made before sending anything. */
export function failWith(protocol: Pick<Protocol, "network">, decoded: DecodedRevert): HardhatPluginError {
  return fail(describeRevert(decoded, errorContext(protocol)));
}

export function requireSigner(protocol: Protocol): HardhatEthersSigner {
  if (protocol.signer === undefined) throw fail("this needs a signer: pass --from <signer index or address>");
  return protocol.signer;
}

/** The TicketBroker, or the deploy-again sentence when the deployment has none. */
export function requireTicketBroker(protocol: Protocol): TicketBroker {
  if (protocol.ticketBroker === undefined) throw missingContract(protocol.file, "TicketBroker", protocol.network);
  return protocol.ticketBroker;
}

/**
 * Runs a task body and makes sure whatever it throws reaches the CLI as one clean line: input mistakes as they are,
 * reverts decoded into words, anything else by its short message.
 */
export async function withFriendlyErrors<T>(hre: HardhatRuntimeEnvironment, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    if (HardhatPluginError.isHardhatPluginError(error)) throw error;
    if (error instanceof InputError) throw fail(error.message);
    throw fail(describeFailure(error, protocolErrors(hre), { network: hre.network.name }));
  }
}

/**
 * Validates the input first (so a typo is reported even without a node), then connects as the --from signer and runs
 * the body; whatever fails reaches the CLI as one clean line.
 */
export async function withProtocol<I, T>(
  hre: HardhatRuntimeEnvironment,
  from: string | undefined,
  log: ((line: string) => void) | undefined,
  parse: () => I,
  body: (protocol: Protocol, self: string, input: I) => Promise<T>,
): Promise<T> {
  return withFriendlyErrors(hre, async () => {
    const input = parse();
    const protocol = await connectProtocol(hre, { from, log });
    return body(protocol, requireSigner(protocol).address, input);
  });
}

/** The current round, or the CurrentRoundNotInitialized sentence before anything is sent. */
export async function initializedRound(protocol: Protocol): Promise<bigint> {
  const [round, initialized] = await Promise.all([
    protocol.roundsManager.currentRound(),
    protocol.roundsManager.currentRoundInitialized(),
  ]);
  if (!initialized) throw failWith(protocol, { name: "CurrentRoundNotInitialized", args: [round] });
  return round;
}

function parseEvents(
  protocol: Protocol,
  logs: readonly { address: string; topics: readonly string[]; data: string }[],
) {
  const contracts = [
    protocol.bondingManager,
    protocol.roundsManager,
    protocol.token,
    protocol.serviceRegistry,
    ...(protocol.ticketBroker === undefined ? [] : [protocol.ticketBroker]),
  ];
  const byAddress = new Map<string, Interface>(
    contracts.map((contract) => [contract.target.toString().toLowerCase(), contract.interface]),
  );
  const events: ParsedEvent[] = [];
  for (const log of logs) {
    const contractInterface = byAddress.get(log.address.toLowerCase());
    let parsed: LogDescription | null = null;
    try {
      parsed = contractInterface?.parseLog({ topics: [...log.topics], data: log.data }) ?? null;
    } catch {
      parsed = null;
    }
    if (parsed !== null) events.push({ name: parsed.name, args: parsed.args });
  }
  return events;
}

/**
 * Sends a transaction from the chosen signer. It is simulated first, so a revert is reported in words before any gas
 * is spent; the label names the step in messages (`approve`, `bond`, ...). Returns the events it emitted.
 */
export async function transact(
  protocol: Protocol,
  label: string,
  request: Promise<ContractTransaction> | ContractTransaction,
): Promise<ParsedEvent[]> {
  const signer = requireSigner(protocol);
  const context = errorContext(protocol);
  const transaction = await request;
  try {
    await signer.call(transaction);
  } catch (error) {
    throw fail(`${label}: ${describeFailure(error, protocol.errors, context)}`);
  }
  let receipt;
  try {
    const response = await signer.sendTransaction(transaction);
    receipt = await response.wait();
  } catch (error) {
    throw fail(`${label}: ${describeFailure(error, protocol.errors, context)}`);
  }
  if (receipt === null || receipt.status !== 1) {
    throw fail(`${label}: transaction ${receipt?.hash ?? "(unknown)"} reverted`);
  }
  protocol.log(`${label}: transaction ${receipt.hash} (block ${receipt.blockNumber}, gas ${receipt.gasUsed})`);
  return parseEvents(protocol, receipt.logs);
}

export function findEvent(events: readonly ParsedEvent[], name: string): Result | undefined {
  return events.find((event) => event.name === name)?.args;
}

/** The pool in list order with each member's total stake, and its capacity. */
export async function readPool(bondingManager: BondingManager, blockTag?: number): Promise<Pool> {
  const overrides = blockTag === undefined ? {} : { blockTag };
  const maxSize = await bondingManager.numActiveTranscoders(overrides);
  const addresses: string[] = [];
  let member = await bondingManager.getFirstTranscoderInPool(overrides);
  // The list holds at most maxSize members; the bound only guards against reading a list that changes underfoot.
  while (member !== ZeroAddress && BigInt(addresses.length) <= maxSize) {
    addresses.push(getAddress(member));
    member = await bondingManager.getNextTranscoderInPool(member, overrides);
  }
  const stakes = await Promise.all(addresses.map((address) => bondingManager.transcoderTotalStake(address, overrides)));
  return { maxSize, members: addresses.map((address, index) => ({ address, stake: stakes[index]! })) };
}
