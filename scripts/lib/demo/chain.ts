/**
 * The demo's chain: the in-process Hardhat network with the suite deployed, the participants funded, bonded and
 * registered, served over JSON-RPC on a loopback port for the daemons, with a block every second like a real chain.
 * Also what the summary reads back from it (events and earnings).
 */
import fs from "node:fs";
import path from "node:path";

import { formatEther, parseEther, toQuantity } from "ethers";
import { TASK_COMPILE, TASK_NODE_CREATE_SERVER } from "hardhat/builtin-tasks/task-names";
import type { HardhatRuntimeEnvironment, JsonRpcServer } from "hardhat/types";

import type { RoundsManager } from "../../../typechain-types";
import type { DeploymentRecord } from "../deployment";
import { deploySuite } from "../deploySuite";

/** Who is who: `hardhat node`'s dev accounts (mnemonic "test test … junk"), as the daemons' --dev-account. */
export const ACCOUNTS = { deployer: 0, orchestratorA: 1, broadcaster: 2, orchestratorB: 3, delegator: 4 } as const;

export interface OrchestratorRole {
  label: "A" | "B";
  account: number;
  stake: bigint;
  /** Share of rewards the orchestrator keeps and share of fees it passes on to its delegators, in ppm. */
  rewardCut: number;
  feeShare: number;
}

export const ORCHESTRATORS: readonly OrchestratorRole[] = [
  { label: "A", account: ACCOUNTS.orchestratorA, stake: parseEther("3000"), rewardCut: 100_000, feeShare: 500_000 },
  { label: "B", account: ACCOUNTS.orchestratorB, stake: parseEther("1000"), rewardCut: 250_000, feeShare: 250_000 },
];
export const DELEGATION = { account: ACCOUNTS.delegator, amount: parseEther("500"), to: "A" } as const;
export const BROADCASTER_FUNDS = { deposit: parseEther("1"), reserve: parseEther("1") } as const;
/** With --cheat: three verifiers, each given its stake in LPT by the deployer and locking it itself (`--stake`). */
export interface VerifierRole {
  label: string;
  account: number;
  stake: bigint;
}
export const VERIFIERS: readonly VerifierRole[] = [
  { label: "V1", account: 5, stake: parseEther("100") },
  { label: "V2", account: 6, stake: parseEther("200") },
  { label: "V3", account: 7, stake: parseEther("300") },
];
/** Interval mining: blocks come on their own, so rounds (20 blocks on local chains) pass every ~20 s. */
export const BLOCK_INTERVAL_MS = 1000;

export interface Participants {
  deployer: string;
  broadcaster: string;
  delegator: string;
  /** By label. */
  orchestrators: Record<"A" | "B", string>;
  /** By label; empty unless verifiers were asked for. */
  verifiers: Record<string, string>;
}

export interface EmbeddedChain {
  rpcUrl: string;
  record: DeploymentRecord;
  deploymentFile: string;
  participants: Participants;
  /** Mines the rest of the round; the next round's first block is mined too (initializing it is left to others). */
  mineToNextRound(): Promise<void>;
  blockNumber(): Promise<number>;
  stop(): Promise<void>;
}

export interface ChainOptions {
  /** Accounts given LPT to lock as verifier stake (--cheat). */
  verifiers?: readonly VerifierRole[];
  /**
   * Transactions wait for the next one-second block instead of each being mined at once in a block of its own
   * (automine off): block numbers then follow the clock. For --cheat, whose dispute windows are counted in blocks:
   * with automine the demo's own transactions (redemptions, reward(), votes) roughly double the block rate, and a
   * 10-block commit phase can end before a busy verifier has finished re-encoding the evidence.
   */
  blocksFollowClock?: boolean;
}

/**
 * Compiles (a no-op when up to date; a fresh clone has no artifacts), deploys, sets up the participants so that
 * both orchestrators are active in the current round (and gives the verifiers their LPT), writes the deployment
 * record into `dir`, serves the chain on a free loopback port and starts interval mining.
 */
export async function startEmbeddedChain(
  hre: HardhatRuntimeEnvironment,
  dir: string,
  log: (line: string) => void,
  options: ChainOptions = {},
): Promise<EmbeddedChain> {
  await hre.run(TASK_COMPILE, { quiet: true });
  const { record } = await deploySuite(hre, { write: false, log });
  const deploymentFile = path.join(dir, "deployment.json");
  fs.writeFileSync(deploymentFile, JSON.stringify(record, null, 2));
  const participants = await setUpParticipants(hre, record, log, options.verifiers ?? []);

  const provider = hre.network.provider;
  const server: JsonRpcServer = await hre.run(TASK_NODE_CREATE_SERVER, { hostname: "127.0.0.1", port: 0, provider });
  const { port } = await server.listen();
  // Automine stays on (each transaction is mined at once) and empty blocks come every second besides; or, with
  // blocksFollowClock, every transaction waits for the next block of the second.
  await provider.send("evm_setIntervalMining", [BLOCK_INTERVAL_MS]);
  if (options.blocksFollowClock) await provider.send("evm_setAutomine", [false]);

  const rounds = await hre.ethers.getContractAt("RoundsManager", record.contracts.RoundsManager);
  let stopped: Promise<void> | undefined;
  return {
    rpcUrl: `http://127.0.0.1:${port}`,
    record,
    deploymentFile,
    participants,
    mineToNextRound: () => mineToNextRound(hre, rounds),
    blockNumber: () => hre.ethers.provider.getBlockNumber(),
    stop: () =>
      (stopped ??= (async () => {
        await provider.send("evm_setIntervalMining", [0]);
        // Bounded: a client that keeps a connection open must not hold the demo's exit.
        await Promise.race([server.close(), new Promise((resolve) => setTimeout(resolve, 3000).unref())]);
      })()),
  };
}

/** Mines the rest of the current round and the next round's first block (initializing it is left to the caller). */
async function mineToNextRound(hre: HardhatRuntimeEnvironment, rounds: RoundsManager): Promise<void> {
  const [start, length] = await Promise.all([rounds.currentRoundStartBlock(), rounds.roundLength()]);
  const latest = BigInt(await hre.ethers.provider.getBlockNumber());
  const blocks = start + length - latest;
  if (blocks > 0n) await hre.network.provider.send("hardhat_mine", [toQuantity(blocks)]);
}

async function setUpParticipants(
  hre: HardhatRuntimeEnvironment,
  record: DeploymentRecord,
  log: (line: string) => void,
  verifierRoles: readonly VerifierRole[],
): Promise<Participants> {
  const { ethers } = hre;
  const signers = await ethers.getSigners();
  const signer = (index: number) => {
    const found = signers[index];
    if (found === undefined) throw new Error(`the hardhat network has no account ${index}`);
    return found;
  };
  const { contracts } = record;
  const token = await ethers.getContractAt("LivepeerToken", contracts.LivepeerToken, signer(ACCOUNTS.deployer));
  const bonding = await ethers.getContractAt("BondingManager", contracts.BondingManager);
  const rounds = await ethers.getContractAt("RoundsManager", contracts.RoundsManager, signer(ACCOUNTS.deployer));
  const broker = await ethers.getContractAt("TicketBroker", contracts.TicketBroker);
  const initializeIfNeeded = async () => {
    if (!(await rounds.currentRoundInitialized())) await (await rounds.initializeRound()).wait();
  };

  // Each transaction is a block (automine) and bonding needs the current round initialized: start the setup at the
  // beginning of a round, so that all of it (about 16 transactions) fits in one round of 20 blocks.
  await mineToNextRound(hre, rounds);
  await initializeIfNeeded();
  const orchestrators = {} as Record<"A" | "B", string>;
  for (const role of ORCHESTRATORS) {
    const account = signer(role.account);
    orchestrators[role.label] = account.address;
    await (await token.transfer(account.address, role.stake)).wait();
    await (await token.connect(account).approve(contracts.BondingManager, role.stake)).wait();
    await (await bonding.connect(account).bond(role.stake, account.address)).wait();
    await (await bonding.connect(account).transcoder(role.rewardCut, role.feeShare)).wait();
    log(
      `  orchestrator ${role.label} ${account.address} bonded ${formatEther(role.stake)} LPT to itself; ` +
        `keeps ${role.rewardCut / 10_000}% of rewards, shares ${role.feeShare / 10_000}% of fees`,
    );
  }

  const delegator = signer(DELEGATION.account);
  await (await token.transfer(delegator.address, DELEGATION.amount)).wait();
  await (await token.connect(delegator).approve(contracts.BondingManager, DELEGATION.amount)).wait();
  await (await bonding.connect(delegator).bond(DELEGATION.amount, orchestrators[DELEGATION.to])).wait();
  log(`  delegator ${delegator.address} bonded ${formatEther(DELEGATION.amount)} LPT to orchestrator ${DELEGATION.to}`);

  const broadcaster = signer(ACCOUNTS.broadcaster);
  const { deposit, reserve } = BROADCASTER_FUNDS;
  await (
    await broker.connect(broadcaster).fundDepositAndReserve(deposit, reserve, { value: deposit + reserve })
  ).wait();
  log(
    `  broadcaster ${broadcaster.address} funded a ${formatEther(deposit)} ETH deposit and a ` +
      `${formatEther(reserve)} ETH reserve for its tickets`,
  );

  const verifiers: Record<string, string> = {};
  for (const role of verifierRoles) {
    const account = signer(role.account);
    verifiers[role.label] = account.address;
    await (await token.transfer(account.address, role.stake)).wait();
    log(
      `  verifier ${role.label} ${account.address} was given ${formatEther(role.stake)} LPT to lock as verifier stake`,
    );
  }

  // Stake bonded in round r counts from round r + 1: move there so both orchestrators are active when the daemons start.
  await mineToNextRound(hre, rounds);
  await initializeIfNeeded();
  for (const role of ORCHESTRATORS) {
    if (!(await bonding.isActiveTranscoder(orchestrators[role.label]))) {
      throw new Error(`orchestrator ${role.label} did not become active in round ${await rounds.currentRound()}`);
    }
  }
  log(`  round ${await rounds.currentRound()}: both orchestrators are active`);
  return {
    deployer: signer(ACCOUNTS.deployer).address,
    broadcaster: broadcaster.address,
    delegator: delegator.address,
    orchestrators,
    verifiers,
  };
}

export interface ChainTotals {
  round: bigint;
  block: number;
  /** WinningTicketRedeemed since `fromBlock`, by recipient (lower-case address). */
  winners: { count: number; paid: bigint; byRecipient: Map<string, { count: number; paid: bigint }> };
  /** Rewarded events since `fromBlock`. */
  rewards: { count: number; minted: bigint; byTranscoder: Map<string, bigint> };
  /** FeesCredited since `fromBlock`, by orchestrator. */
  feesCredited: Map<string, bigint>;
}

/** Counts the protocol events since `fromBlock` (cheap: the chain is in this process). */
export async function chainTotals(
  hre: HardhatRuntimeEnvironment,
  record: DeploymentRecord,
  fromBlock: number,
): Promise<ChainTotals> {
  const { ethers } = hre;
  const broker = await ethers.getContractAt("TicketBroker", record.contracts.TicketBroker);
  const bonding = await ethers.getContractAt("BondingManager", record.contracts.BondingManager);
  const rounds = await ethers.getContractAt("RoundsManager", record.contracts.RoundsManager);
  const block = await ethers.provider.getBlockNumber();
  const [redeemed, rewarded, credited, round] = await Promise.all([
    broker.queryFilter(broker.filters.WinningTicketRedeemed(), fromBlock, block),
    bonding.queryFilter(bonding.filters.Rewarded(), fromBlock, block),
    bonding.queryFilter(bonding.filters.FeesCredited(), fromBlock, block),
    rounds.currentRound(),
  ]);
  const winners: ChainTotals["winners"] = { count: 0, paid: 0n, byRecipient: new Map() };
  for (const event of redeemed) {
    const recipient = event.args.recipient.toLowerCase();
    const entry = winners.byRecipient.get(recipient) ?? { count: 0, paid: 0n };
    entry.count++;
    entry.paid += event.args.amount;
    winners.byRecipient.set(recipient, entry);
    winners.count++;
    winners.paid += event.args.amount;
  }
  const rewards: ChainTotals["rewards"] = { count: 0, minted: 0n, byTranscoder: new Map() };
  for (const event of rewarded) {
    const transcoder = event.args.transcoder.toLowerCase();
    rewards.byTranscoder.set(transcoder, (rewards.byTranscoder.get(transcoder) ?? 0n) + event.args.amount);
    rewards.count++;
    rewards.minted += event.args.amount;
  }
  const feesCredited = new Map<string, bigint>();
  for (const event of credited) {
    const transcoder = event.args.transcoder.toLowerCase();
    feesCredited.set(transcoder, (feesCredited.get(transcoder) ?? 0n) + event.args.fees);
  }
  return { round, block, winners, rewards, feesCredited };
}

export interface Earnings {
  /** Fees (wei) claimable as of the current round. */
  fees: bigint;
  /** Stake (LPT wei) including unclaimed rewards, minus what was bonded. */
  rewards: bigint;
}

/** What `account` can claim now: fees, and rewards as pending stake above its bond. */
export async function earnings(
  hre: HardhatRuntimeEnvironment,
  record: DeploymentRecord,
  account: string,
  bonded: bigint,
): Promise<Earnings> {
  const bonding = await hre.ethers.getContractAt("BondingManager", record.contracts.BondingManager);
  const rounds = await hre.ethers.getContractAt("RoundsManager", record.contracts.RoundsManager);
  const round = await rounds.currentRound();
  const [fees, stake] = await Promise.all([bonding.pendingFees(account, round), bonding.pendingStake(account, round)]);
  return { fees, rewards: stake - bonded };
}
