/**
 * Shared fixtures and helpers for the DisputeManager tests: the real suite with the real DisputeManager, accounts
 * with known keys (receipts are signed with offchain/orchestrator/receipt.ts), verifiers, votes, and a model of the
 * committee draw written independently of the contract (a linear scan instead of the Fenwick descent).
 */
import { expect } from "chai";
import { ethers } from "hardhat";
import {
  AbiCoder,
  MaxUint256,
  Wallet,
  concat,
  dataSlice,
  getAddress,
  getBytes,
  keccak256,
  parseEther,
  solidityPackedKeccak256,
  toUtf8Bytes,
} from "ethers";
import type { ContractTransactionReceipt, ContractTransactionResponse } from "ethers";
import { mine, setBalance } from "@nomicfoundation/hardhat-network-helpers";

import { type DisputeSuite, deployedSuiteWithDisputes } from "../../support/fixtures";
import { mineToNextTxBlock, startNextRound } from "../../support/chain";
import { type TranscodeReceipt, receiptDigest, signReceipt } from "../../../offchain/orchestrator/receipt";
import type { DisputeManager } from "../../../typechain-types";

export const PERC = 1_000_000n;
export const LPT = (amount: number | string) => parseEther(amount.toString());

/** IDisputeManager.Phase */
export const Phase = { None: 0n, AwaitingCommittee: 1n, Commit: 2n, Reveal: 3n, Resolvable: 4n, Resolved: 5n };
/** IDisputeManager.Outcome */
export const Outcome = { None: 0n, Fault: 1n, NoFault: 2n, NoQuorum: 3n };
/** IDisputeManager.Vote */
export const Vote = { None: 0, Fault: 1, NoFault: 2 } as const;
export type VoteValue = (typeof Vote)[keyof typeof Vote];

/** The orchestrator's own bond and its delegator's, in LPT wei. */
export const ORCHESTRATOR_STAKE = LPT(1000);
export const DELEGATED_STAKE = LPT(500);
export const REWARD_CUT = 100_000n;
export const FEE_SHARE = 500_000n;

const coder = AbiCoder.defaultAbiCoder();

/** A wallet with a fixed key derived from `label`, connected to the in-process chain. */
export function keyedWallet(label: string): Wallet {
  return new Wallet(keccak256(toUtf8Bytes(`streamflow-dispute-tests:${label}`)), ethers.provider);
}

/** A fixed 32-byte value derived from `label` (stream ids, content hashes, salts). */
export function word(label: string): string {
  return keccak256(toUtf8Bytes(label));
}

export type Suite = Awaited<ReturnType<typeof disputeBase>>;

/**
 * The deployed suite (local parameters: bond 0.01 ETH, commit/reveal 10/10 blocks, committee 3, quorum 2, slashes
 * 50%/50%/10%, unlock 2 rounds) with the real DisputeManager. `orchestrator` (1000 LPT self-bonded, `delegator`
 * delegates 500) and `otherOrchestrator` (1000 LPT) are active in `round`, just initialized. `broadcaster` has ETH
 * and no LPT. Orchestrators sign with known keys.
 */
export async function disputeBase() {
  const s = await deployedSuiteWithDisputes();
  const signers = await ethers.getSigners();
  const [owner, delegator] = signers;
  const stranger = signers[9];
  const dm = s.disputeManager;
  const bm = s.bondingManager;
  const orchestrator = keyedWallet("orchestrator");
  const otherOrchestrator = keyedWallet("other-orchestrator");
  const broadcaster = keyedWallet("broadcaster");
  for (const wallet of [orchestrator, otherOrchestrator, broadcaster])
    await setBalance(wallet.address, parseEther("100"));
  for (const account of [orchestrator, otherOrchestrator, delegator]) {
    await s.token.transfer(account.address, LPT(10_000));
    await s.token.connect(account).approve(await bm.getAddress(), MaxUint256);
    await s.token.connect(account).approve(await dm.getAddress(), MaxUint256);
  }
  await startNextRound(s.rounds);
  for (const o of [orchestrator, otherOrchestrator]) {
    await bm.connect(o).bond(ORCHESTRATOR_STAKE, o.address);
    await bm.connect(o).transcoder(REWARD_CUT, FEE_SHARE);
  }
  await bm.connect(delegator).bond(DELEGATED_STAKE, orchestrator.address);
  await startNextRound(s.rounds);
  const domain = { chainId: (await ethers.provider.getNetwork()).chainId, verifyingContract: await dm.getAddress() };
  return {
    ...s,
    dm,
    bm,
    owner,
    delegator,
    stranger,
    orchestrator,
    otherOrchestrator,
    broadcaster,
    domain,
    bond: await dm.disputeBond(),
    round: await s.rounds.currentRound(),
  };
}

/** A receipt from `broadcaster` to `orchestrator` for segment `seq` of stream "stream-1", with `overrides`. */
export function receiptOf(s: Suite, overrides: Partial<TranscodeReceipt> = {}): TranscodeReceipt {
  return {
    broadcaster: s.broadcaster.address,
    orchestrator: s.orchestrator.address,
    streamId: word("stream-1"),
    seq: 0n,
    sourceHash: word("source-0"),
    profilesHash: word("profiles: 720p30, 480p30 (deterministic)"),
    outputsHash: word("outputs-0"),
    deterministic: true,
    ...overrides,
  };
}

/** The signature of `signer` (default: the receipt's orchestrator, which must be one of the suite's wallets). */
export function sign(s: Suite, receipt: TranscodeReceipt, signer?: Wallet): string {
  const wallet = signer ?? [s.orchestrator, s.otherOrchestrator].find((w) => w.address === receipt.orchestrator)!;
  return signReceipt(receipt, s.domain, getBytes(wallet.privateKey));
}

export function digestOf(s: Suite, receipt: TranscodeReceipt): string {
  return "0x" + receiptDigest(receipt, s.domain).toString("hex");
}

export const EVIDENCE = "ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi/segment-0";

/** Opens a dispute over `receipt` from its broadcaster (a suite wallet); returns its id and the opening receipt. */
export async function open(s: Suite, receipt: TranscodeReceipt = receiptOf(s)) {
  const tx = await s.dm.connect(s.broadcaster).openDispute(receipt, sign(s, receipt), EVIDENCE, { value: s.bond });
  const mined = (await tx.wait())!;
  return { disputeId: await s.dm.disputeCount(), mined, receipt };
}

/** Opens a dispute and draws its committee in the first block allowed; returns the committee too. */
export async function openAndDraw(s: Suite, receipt: TranscodeReceipt = receiptOf(s)) {
  const opened = await open(s, receipt);
  await mine(1); // the seed block
  const drawn = (await (await s.dm.drawCommittee(opened.disputeId)).wait())!;
  const info = await s.dm.getDispute(opened.disputeId);
  const [members, weights] = await s.dm.getCommittee(opened.disputeId);
  return { ...opened, drawn, info, members: [...members], weights: [...weights] };
}

/** Funds `wallets` with ETH and LPT approved to the DisputeManager and registers each with its stake. */
export async function registerVerifiers(s: Suite, wallets: Wallet[], stakes: bigint[]): Promise<void> {
  for (let i = 0; i < wallets.length; i++) {
    await fundVerifier(s, wallets[i], stakes[i]);
    await s.dm.connect(wallets[i]).registerVerifier(stakes[i]);
  }
}

export async function fundVerifier(s: Suite, wallet: Wallet, amount: bigint): Promise<void> {
  await setBalance(wallet.address, parseEther("100"));
  await s.token.transfer(wallet.address, amount);
  await s.token.connect(wallet).approve(await s.dm.getAddress(), MaxUint256);
}

export function verifierWallets(label: string, count: number): Wallet[] {
  return Array.from({ length: count }, (_, i) => keyedWallet(`${label}-${i}`));
}

export function commitmentOf(vote: number, salt: string): string {
  return solidityPackedKeccak256(["uint8", "bytes32"], [vote, salt]);
}

/** A member's salt: its address, then 12 bytes derived from the dispute and the member (what the contract asks). */
export function saltOf(disputeId: bigint, member: string): string {
  return concat([getAddress(member), dataSlice(word(`salt:${disputeId}:${member.toLowerCase()}`), 0, 12)]);
}

/** Wallet by address among `wallets`. */
export function walletOf(wallets: Wallet[], address: string): Wallet {
  const wallet = wallets.find((w) => w.address === address);
  if (wallet === undefined) throw new Error(`no wallet for ${address}`);
  return wallet;
}

/**
 * Commits `votes` (member address -> vote; members missing from the map do not commit), then, in the reveal phase,
 * reveals those in `reveals` (default: every committed vote). Leaves the chain in the reveal phase.
 */
export async function vote(
  s: Suite,
  disputeId: bigint,
  wallets: Wallet[],
  votes: Map<string, VoteValue>,
  reveals?: Set<string>,
): Promise<void> {
  for (const [member, v] of votes) {
    await s.dm.connect(walletOf(wallets, member)).commitVote(disputeId, commitmentOf(v, saltOf(disputeId, member)));
  }
  const { commitEnd } = await s.dm.getDispute(disputeId);
  const head = BigInt(await ethers.provider.getBlockNumber());
  if (head < commitEnd) await mineToNextTxBlock(commitEnd + 1n);
  for (const [member, v] of votes) {
    if (reveals !== undefined && !reveals.has(member)) continue;
    await s.dm.connect(walletOf(wallets, member)).revealVote(disputeId, v, saltOf(disputeId, member));
  }
}

/** Mines past the reveal phase. */
export async function pastReveal(s: Suite, disputeId: bigint): Promise<void> {
  const { revealEnd } = await s.dm.getDispute(disputeId);
  const head = BigInt(await ethers.provider.getBlockNumber());
  if (head <= revealEnd) await mineToNextTxBlock(revealEnd + 1n);
}

/** Initializes the current round if it is not (slashing needs it). */
export async function ensureRoundInitialized(s: Pick<DisputeSuite, "rounds">): Promise<void> {
  if (!(await s.rounds.currentRoundInitialized())) await (await s.rounds.initializeRound()).wait();
}

export async function gasOf(tx: Promise<ContractTransactionResponse>): Promise<ContractTransactionReceipt> {
  return (await (await tx).wait())!;
}

/** The logs of `receipt` emitted by the DisputeManager under `name`, decoded. */
export function eventsOf(dm: DisputeManager, receipt: ContractTransactionReceipt, name: string) {
  return receipt.logs
    .filter((log) => log.address === receipt.to || log.address.toLowerCase() === dm.target.toString().toLowerCase())
    .map((log) => {
      try {
        return dm.interface.parseLog(log);
      } catch {
        return null;
      }
    })
    .filter((parsed) => parsed !== null && parsed.name === name)
    .map((parsed) => parsed!.args);
}

// ---- A model of the committee draw ----

export interface TreeEntry {
  account: string;
  /** Stake in the tree: the verifier's stake while registered, zero once deregistered. */
  stake: bigint;
}

/** The tree as the contract holds it, for accounts given in the order they first registered (their slots). */
export async function treeEntries(dm: DisputeManager, accountsInSlotOrder: string[]): Promise<TreeEntry[]> {
  return Promise.all(
    accountsInSlotOrder.map(async (account) => {
      const v = await dm.getVerifier(account);
      return { account, stake: v.unlockRound === 0n ? v.stake : 0n };
    }),
  );
}

/**
 * The committee the design prescribes for a seed block hash: `count` draws without replacement, each picking the
 * first slot (in slot order, skipping excluded and already drawn accounts) whose running stake sum exceeds
 * `keccak256(abi.encode(keccak256(abi.encode(seedHash, disputeId)), i)) % remainingStake`.
 */
export function modelDraw(
  seedHash: string,
  disputeId: bigint,
  entries: TreeEntry[],
  count: number,
  excluded: string[],
): { members: string[]; weights: bigint[] } {
  const seed = keccak256(coder.encode(["bytes32", "uint256"], [seedHash, disputeId]));
  const out = new Set(excluded.map((a) => a.toLowerCase()));
  let available = entries.filter((e) => !out.has(e.account.toLowerCase())).reduce((sum, e) => sum + e.stake, 0n);
  const members: string[] = [];
  const weights: bigint[] = [];
  for (let i = 0; i < count && available > 0n; i++) {
    const target = BigInt(keccak256(coder.encode(["bytes32", "uint256"], [seed, i]))) % available;
    let running = 0n;
    const pick = entries.find((e) => {
      if (out.has(e.account.toLowerCase())) return false;
      running += e.stake;
      return target < running;
    })!;
    members.push(pick.account);
    weights.push(pick.stake);
    out.add(pick.account.toLowerCase());
    available -= pick.stake;
  }
  return { members, weights };
}

/** The hash of block `blockNumber` (which must be mined). */
export async function blockHashOf(blockNumber: bigint): Promise<string> {
  const block = await ethers.provider.getBlock(Number(blockNumber));
  return block!.hash!;
}

/** Checks that dispute `disputeId`'s committee is the model's draw from its seed block's hash. */
export async function expectModelCommittee(
  s: Suite,
  disputeId: bigint,
  accountsInSlotOrder: string[],
  entriesAtDraw?: TreeEntry[],
): Promise<{ members: string[]; weights: bigint[] }> {
  const info = await s.dm.getDispute(disputeId);
  const entries = entriesAtDraw ?? (await treeEntries(s.dm, accountsInSlotOrder));
  const model = modelDraw(await blockHashOf(info.seedBlock), disputeId, entries, Number(await s.dm.committeeSize()), [
    info.broadcaster,
    info.orchestrator,
  ]);
  const [members, weights] = await s.dm.getCommittee(disputeId);
  expect([...members]).to.deep.equal(model.members);
  expect([...weights]).to.deep.equal(model.weights);
  return model;
}

// ---- Common fixtures ----

/** Locked stakes of the three verifiers of `withVerifiers`. */
export const VERIFIER_STAKES = [LPT(100), LPT(200), LPT(300)];

/** `disputeBase` with three verifiers (100, 200 and 300 LPT), in a round just initialized. */
export async function withVerifiers() {
  const s = await disputeBase();
  const verifiers = verifierWallets("verifier", 3);
  await registerVerifiers(s, verifiers, VERIFIER_STAKES);
  await startNextRound(s.rounds);
  return { ...s, verifiers, round: await s.rounds.currentRound() };
}

/** `withVerifiers` with a dispute opened at the start of the round and its committee (all three) drawn. */
export async function withCommittee() {
  const s = await withVerifiers();
  const drawn = await openAndDraw(s);
  return { ...s, ...drawn };
}
