import { expect } from "chai";
import { ethers } from "hardhat";
import {
  AbiCoder,
  MaxUint256,
  ZeroAddress,
  ZeroHash,
  getAddress,
  getBytes,
  id,
  keccak256,
  parseEther,
  toBeHex,
} from "ethers";
import type {
  ContractTransactionReceipt,
  ContractTransactionResponse,
  Interface,
  Log,
  Result,
  Signer,
  Wallet,
} from "ethers";
import { loadFixture, mine, setBalance } from "@nomicfoundation/hardhat-network-helpers";

import { type DisputeSuite, deployedSuiteWithDisputes } from "../support/fixtures";
import { ExactDelegator, type FactorLookup, type Factors, PRECISION } from "../support/exactEarnings";
import {
  type BondingBooks,
  expectBondingBooks,
  expectLptCustody,
  expectMinterEth,
  expectReserveSplit,
  expectSenderConservation,
  expectTwinsExact,
  expectDescending,
  prng,
  sum,
} from "../support/invariants";
import {
  Outcome,
  Phase,
  Vote,
  type VoteValue,
  commitmentOf,
  keyedWallet,
  modelDraw,
  saltOf,
  treeEntries,
  word,
} from "./helpers/disputes";
import {
  MAX_WIN_PROB,
  type SignedTicket,
  TicketHasher,
  TicketRecipient,
  TicketSender,
  isWinningTicket,
  reserveAllowance,
} from "../../offchain/pm";
import { type TranscodeReceipt, receiptDigest, signReceipt } from "../../offchain/orchestrator/receipt";
import type { RejectingReceiver, ViewBatcher } from "../../typechain-types";

/**
 * The invariant campaign (issue 9): one seeded pseudo-random run of bonds, moves, unbonds, rebonds, withdrawals,
 * claims, rewards, cut changes, funding, unlocks, ticket redemptions (single, batched, replayed), verifier stake,
 * disputes (open, draw, commit, reveal, resolve), equivocation proofs and the passing of blocks and rounds, against the
 * suite as deployed with local parameters and the real DisputeManager. The one change: the pool holds 3 of the 4
 * orchestrators, so that joining evicts.
 *
 * Every transaction is predicted before it is sent: success, or the exact custom error (with its arguments where the
 * views determine them). Any other revert, or a success where a revert was due, fails the campaign. Successes are
 * checked further: each reward's minted amount and reward factor, each fee credit's fee factor, each committee
 * against the model draw of test/contracts/helpers/disputes.ts, each resolution's stakes, bond and slash.
 *
 * After every step (every INVARIANT_CHECK_EVERY steps) the invariants hold; the helpers shared with the property
 * tests are in test/support/invariants.ts:
 *  - LPT: total supply == the sum of every holder's balance == genesis + minted - burned; the Minter holds exactly
 *    the total bonded plus the unbonding locks;
 *  - bonding: (a) the total bonded is the sum of transcoderTotalStake; settled books <= pending views; (b) pending
 *    stake <= total bonded, pending fees <= fees credited - withdrawn; each delegate's delegators' stake <= its
 *    transcoderTotalStake; (d) twin delegators (one claims, one never) agree with their exact earnings;
 *  - the pool: sorted by stake, no larger than numActiveTranscoders, only registered members, its stake equal to
 *    nextRoundTotalActiveStake; the orchestrators active in the round are currentRoundPoolSize;
 *  - the Minter: minted <= mintable this round;
 *  - ETH: per sender, paid + withdrawn + deposit + reserve == funded; the Minter's ETH is the senders' funds plus the
 *    fees credited and not withdrawn; the reserve split of each round; a ticket is never paid twice, never more than
 *    its face value, and is marked used exactly when it was paid;
 *  - disputes: totalVerifierStake == the registered verifiers' stake; the DisputeManager's LPT == all verifiers' stake;
 *    its ETH == the open disputes' bonds + payouts owed; openDisputesAgainst and each verifier's open duties count the
 *    unresolved disputes; every open dispute's phase and tallies are the model's; nobody unbonds under dispute, and
 *    an account's own stake never shrinks under dispute but by a slash.
 *
 *   INVARIANT_STEPS (default 500; `npm run test:invariants` runs 10,000), INVARIANT_SEED (a number, or "random"),
 *   INVARIANT_CHECK_EVERY (default 1), INVARIANT_SUMMARY=1 prints what was done, INVARIANT_VERBOSE=1 every step.
 *
 * A failure reports the seed, the step and the steps before it. The same seed replays the same choices, but committees
 * are drawn from block hashes, which differ from run to run (Hardhat's genesis takes the wall-clock time): from the
 * first committee on, a replay may take another path. The printed steps are what a PoC is written from.
 */

// ---- Configuration ----

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got ${raw}`);
  return value;
}

function seedFromEnv(): number {
  const raw = process.env.INVARIANT_SEED;
  if (raw === undefined || raw === "") return 0x5eed_0009;
  if (raw === "random") return Math.floor(Math.random() * 2 ** 32);
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`INVARIANT_SEED must be a number or "random"`);
  return value >>> 0;
}

const STEPS = envInt("INVARIANT_STEPS", 500);
const SEED = seedFromEnv();
const CHECK_EVERY = envInt("INVARIANT_CHECK_EVERY", 1);
const VERBOSE = process.env.INVARIANT_VERBOSE === "1";

const PERC = 1_000_000n;
const LPT = (amount: number | string) => parseEther(amount.toString());
/** Every transaction carries its own gas limit: no estimation, and a predicted revert is mined like any transaction. */
const GAS = { gasLimit: 12_000_000 };
const POOL_CAPACITY = 3n;
/** `deactivationRound` of a pool member */
const IN_POOL = 2n ** 32n - 1n;
const N_ORCHESTRATORS = 4;
const N_DELEGATORS = 5;
const N_VERIFIERS = 4;
const LPT_EACH = LPT(300_000);
const ETH_EACH = parseEther("1000000");
const EXPIRATION_BLOCK = 10n ** 12n;
const FEE_SINK = getAddress("0x00000000000000000000000000000000fee5c0de");
const EVIDENCE = "ipfs://campaign/evidence";
const STREAM = word("campaign-stream");
const PROFILES = word("campaign-profiles (deterministic)");
/** Earnings factors are stored in 128 bits (contracts/libraries/EarningsPool.sol). */
const MAX_UINT128 = 2n ** 128n - 1n;
/** Lines of history printed with a failure. */
const TAIL = 60;

const coder = AbiCoder.defaultAbiCoder();

// ---- Outcomes ----

type Expect = { ok: true } | { error: string; args?: readonly unknown[] };
const OK: Expect = { ok: true };
/** Reverts with custom error `error`, with exactly `args`. */
const reverts = (error: string, ...args: unknown[]): Expect => ({ error, args });
/** Reverts with custom error `error`, whatever its arguments. */
const revertsNamed = (error: string): Expect => ({ error });

class CampaignFailure extends Error {}

/** Addresses and hashes compared case-insensitively, numbers as bigints, results as arrays. */
function norm(value: unknown): unknown {
  if (typeof value === "string") return value.toLowerCase();
  if (typeof value === "number") return BigInt(value);
  if (Array.isArray(value)) return value.map(norm);
  return value;
}

function show(value: unknown): string {
  return JSON.stringify(norm(value), (_, v) => (typeof v === "bigint" ? v.toString() : v));
}

function showExpect(e: Expect): string {
  return "ok" in e ? "ok" : `${e.error}${e.args ? show(e.args) : "(..)"}`;
}

/** The revert data of a failed call or transaction, wherever the provider put it. */
function revertDataOf(error: unknown, depth = 0): string | undefined {
  if (error === null || typeof error !== "object" || depth > 4) return undefined;
  const record = error as Record<string, unknown>;
  if (typeof record.data === "string" && record.data.startsWith("0x")) return record.data;
  for (const key of ["error", "info", "cause"]) {
    const found = revertDataOf(record[key], depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

const min = (a: bigint, b: bigint) => (a < b ? a : b);
const mulDiv = (a: bigint, b: bigint, c: bigint) => (a * b) / c;
const lower = (address: string) => address.toLowerCase();

// ---- Actors and the model ----

interface Actor {
  name: string;
  address: string;
  signer: Signer;
}

interface Lock {
  amount: bigint;
  withdrawRound: bigint;
}

interface SenderModel {
  actor: Actor;
  tickets: TicketSender;
  /** ETH sent to the broker by successful funding calls */
  funded: bigint;
  /** ETH returned by `withdraw` */
  withdrawn: bigint;
  /** ETH paid on this sender's tickets */
  paid: bigint;
  /** The reserve before the first claim of round `basisRound`, plus that round's funding: what its split is of. */
  basis: bigint;
  basisRound: bigint;
}

interface TicketRecord {
  label: string;
  signed: SignedTicket;
  rand: bigint;
  hash: string;
  sender: SenderModel;
  recipient: Actor;
  wins: boolean;
  signedBySender: boolean;
}

interface Plan {
  vote: VoteValue;
  commits: boolean;
  reveals: boolean;
}

interface DisputeModel {
  id: bigint;
  broadcaster: string;
  orchestrator: string;
  bond: bigint;
  seedBlock: bigint;
  drawn: boolean;
  members: string[];
  weights: bigint[];
  commitEnd: bigint;
  revealEnd: bigint;
  plans: Map<string, Plan>;
  committed: Set<string>;
  revealed: Map<string, VoteValue>;
  resolved: boolean;
  outcome: bigint;
}

interface PredictedDraw {
  id: bigint;
  /** Set for a re-seeded dispute (the seed block's hash was gone) */
  reseed?: bigint;
  members: string[];
  weights: bigint[];
}

interface DrawSimulation {
  pending?: bigint;
  draws: PredictedDraw[];
}

interface Parsed {
  contract: string;
  name: string;
  args: Result;
}

/** A sender's standing at the broker, as a redemption sees it; updated while a batch is predicted. */
interface BrokerSender {
  deposit: bigint;
  reserve: bigint;
  withdrawRound: bigint;
  claimedInRound: bigint;
  claimedBy: Map<string, bigint>;
}

interface BrokerState {
  round: bigint;
  initialized: boolean;
  poolSize: bigint;
  senders: Map<string, BrokerSender>;
  active: Map<string, boolean>;
  used: Set<string>;
  /** Per recipient: what crediting it fees does to its fee factor */
  earnings: Map<string, FeeCredit>;
}

/** A recipient's fee credit: `feeShare` of it goes to its delegators through the fee factor. */
interface FeeCredit {
  feeShare: bigint;
  /** Stake at the round's start */
  stake: bigint;
  /** The round's opening reward factor, and the fee factor so far */
  openingRewardFactor: bigint;
  feeFactor: bigint;
  /** Set once a credit this round wrote the pool */
  written: boolean;
}

type RedeemPrediction =
  { ok: true; amount: bigint; fromReserve: bigint } | { ok: false; on: "tb" | "bm"; error: string; args: unknown[] };

interface Weighted {
  name: string;
  weight: () => number;
  run: () => Promise<void>;
}

async function campaignSuite() {
  const s = await deployedSuiteWithDisputes();
  const contractBroadcaster = await (await ethers.getContractFactory("RejectingReceiver")).deploy();
  const batcher = await (await ethers.getContractFactory("ViewBatcher")).deploy();
  return { s, contractBroadcaster, batcher };
}

/** Views queued and then read in a single `eth_call` through the ViewBatcher test helper. */
class Batch {
  private readonly calls: { target: string; iface: Interface; method: string; data: string }[] = [];
  private results: Result[] = [];

  constructor(private readonly batcher: ViewBatcher) {}

  /** Queues `method(...args)`; the returned function gives its return value (a Result for several) after `run`. */
  add<T>(target: string, iface: Interface, method: string, args: unknown[]): () => T {
    const index = this.calls.length;
    this.calls.push({ target, iface, method, data: iface.encodeFunctionData(method, args) });
    return () => {
      const result = this.results[index];
      return (result.length === 1 ? result[0] : result) as T;
    };
  }

  async run(): Promise<void> {
    const raw = await this.batcher.read(this.calls.map(({ target, data }) => ({ target, data })));
    this.results = raw.map((data, i) => this.calls[i].iface.decodeFunctionResult(this.calls[i].method, data));
  }
}

class Campaign {
  private readonly random: () => number;
  private readonly lines: string[] = [];
  step = 0;

  // contracts
  private readonly bm: DisputeSuite["bondingManager"];
  private readonly tb: DisputeSuite["ticketBroker"];
  private readonly dm: DisputeSuite["disputeManager"];
  private readonly token: DisputeSuite["token"];
  private readonly minter: DisputeSuite["minter"];
  private readonly rounds: DisputeSuite["rounds"];
  private readonly interfaces: [string, string, Interface][] = [];
  private readonly errorInterfaces: Interface[] = [];

  // actors (filled in `setUp`)
  private readonly owner: Signer;
  private readonly orchestrators: Actor[] = [];
  private readonly delegators: Actor[] = [];
  private readonly verifierOnly: Actor[] = [];
  /** The accounts random bonding actions pick: the orchestrators and the delegators */
  private readonly stakers: Actor[] = [];
  /** Two delegators that only ever bond together (to the same delegate, in the same round) and never unbond; the
   * first also claims at random points: invariant (d), path independence, against their exact earnings */
  private readonly twins: Actor[] = [];
  /** Everyone who bonds or is bonded to: the stakers and the twins */
  private readonly bonders: Actor[] = [];
  /** Four verifiers of their own, an orchestrator and a broadcaster (each excluded from its own disputes) */
  private readonly verifiers: Actor[] = [];
  private readonly broadcasters: Actor[] = [];
  /** A broadcaster contract that opens disputes and can refuse the bond back (`payouts`) */
  private readonly contractBroadcaster: Actor;
  private readonly recipients: Actor[] = [];
  private readonly keys = new Map<string, Wallet>();
  private readonly ticketRecipients = new Map<string, TicketRecipient>();
  private readonly senders: SenderModel[] = [];
  private acceptsEther = false;
  private chainId = 0n;

  // addresses and parameters, read in `setUp`
  private addresses = { bm: "", tb: "", dm: "", minter: "", rounds: "", token: "", batcher: "" };
  private hasher!: TicketHasher;
  private receiptDomain!: { chainId: bigint; verifyingContract: string };
  private roundLength = 0n;
  private lockBlocks = 0n;
  private anchorRound = 0n;
  private anchorStart = 0n;
  private unbondingPeriod = 0n;
  private unlockPeriod = 0n;
  private validityPeriod = 0n;
  private verifierUnlockPeriod = 0n;
  private disputeBond = 0n;
  private committeeSize = 0;
  private quorum = 0n;
  private commitPeriod = 0n;
  private faultSlash = 0n;
  private finderFee = 0n;
  private verifierSlash = 0n;

  // the model
  private head = 0n;
  private lastInitialized = 0n;
  private readonly locks = new Map<string, Map<bigint, Lock>>();
  private minted = 0n;
  private burned = 0n;
  private supply0 = 0n;
  private feesCredited = 0n;
  private feesWithdrawn = 0n;
  private ticketsPaid = 0n;
  private minterEth0 = 0n;
  private sinkEth0 = 0n;
  private readonly paidTickets = new Set<string>();
  private readonly tickets: TicketRecord[] = [];
  private ticketCounter = 0n;
  private readonly disputes = new Map<bigint, DisputeModel>();
  private disputeCount = 0n;
  private readonly drawQueue: { id: bigint; seedBlock: bigint }[] = [];
  private drawHead = 0;
  private readonly verifierSlots: string[] = [];
  private readonly payoutsOwed = new Map<string, bigint>();
  private readonly disputedReceipts: { receipt: TranscodeReceipt; digest: string; id: bigint }[] = [];
  private readonly proven: { a: TranscodeReceipt; b: TranscodeReceipt }[] = [];
  private seq = 0n;
  /** Rounds in which each account's earnings pool may have been written (a reward minted, fees credited). */
  private readonly poolRounds = new Map<string, bigint[]>();
  /** Each account's `transcoderTotalStake` when the current round was initialized: the stake its reward and fees
   * of the round are shared over (nothing can change it between a round's start and its initialization). */
  private roundStart = { round: -1n, stakes: new Map<string, bigint>() };
  /** The twins' exact earnings, the tranches it holds, and every delegate they used */
  private readonly exact = new ExactDelegator();
  private twinTranches: { delegate: string; round: bigint }[] = [];
  private twinDelegate: string | undefined;
  private readonly twinDelegates = new Set<string>();
  private twinBonds = 0n;
  private twinClaims = 0n;
  /** Factors at the end of past rounds (final), by `account:round` */
  private readonly pastFactors = new Map<string, Factors>();
  /** Own stake of each account under dispute at the last check, to see that it never shrinks but by a slash. */
  private readonly stakeUnderDispute = new Map<string, bigint>();
  private readonly slashedSinceCheck = new Set<string>();
  /** What was done, for the summary */
  readonly counts = new Map<string, number>();

  constructor(
    private readonly s: DisputeSuite,
    private readonly contractBroadcasterContract: RejectingReceiver,
    private readonly batcher: ViewBatcher,
    private readonly signers: Signer[],
    seed: number,
  ) {
    this.random = prng(seed);
    this.bm = s.bondingManager;
    this.tb = s.ticketBroker;
    this.dm = s.disputeManager;
    this.token = s.token;
    this.minter = s.minter;
    this.rounds = s.rounds;
    this.owner = signers[0];
    this.contractBroadcaster = { name: "B2", address: "", signer: this.owner };
  }

  private interfaceOf(contract: "bm" | "tb" | "dm" | "token" | "minter" | "rounds"): Interface {
    return { bm: this.bm, tb: this.tb, dm: this.dm, token: this.token, minter: this.minter, rounds: this.rounds }[
      contract
    ].interface as Interface;
  }

  private domain() {
    return { chainId: this.chainId, verifyingContract: this.s.record.contracts.TicketBroker };
  }

  // ---- Randomness ----

  private chance(p: number): boolean {
    return this.random() < p;
  }

  private int(n: number): number {
    return Math.floor(this.random() * n);
  }

  private pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** Uniform enough in [lo, hi]. */
  private between(lo: bigint, hi: bigint): bigint {
    const r = BigInt(Math.floor(this.random() * 2 ** 30)) * 2n ** 30n + BigInt(Math.floor(this.random() * 2 ** 30));
    return lo + (r % (hi - lo + 1n));
  }

  private ppm(): bigint {
    return this.between(1n, PERC - 1n);
  }

  private lptAmount(): bigint {
    if (this.chance(0.08)) return this.between(1n, 10n ** 6n);
    return LPT(1 + this.int(20_000)) + this.between(0n, 10n ** 18n);
  }

  private ethAmount(): bigint {
    if (this.chance(0.08)) return this.between(1n, 10n ** 6n);
    return this.between(10n ** 15n, parseEther("3"));
  }

  // ---- Log ----

  note(line: string): void {
    const text = `#${this.step} b${this.head + 1n} r${this.roundAt(this.head + 1n)}: ${line}`;
    this.lines.push(text);
    if (this.lines.length > 4 * TAIL) this.lines.splice(0, this.lines.length - TAIL);
    if (VERBOSE) console.log(text);
  }

  tail(): string {
    return this.lines.slice(-TAIL).join("\n    ");
  }

  private count(name: string): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
  }

  private fail(message: string): never {
    throw new CampaignFailure(message);
  }

  // ---- The clock (every transaction is mined in its own block, the head's successor) ----

  private roundAt(block: bigint): bigint {
    if (this.roundLength === 0n) return 0n;
    return this.anchorRound + (block - this.anchorStart) / this.roundLength;
  }

  private startOf(round: bigint): bigint {
    return this.anchorStart + (round - this.anchorRound) * this.roundLength;
  }

  /** Where the next transaction lands. */
  private next() {
    const block = this.head + 1n;
    const round = this.roundAt(block);
    return {
      block,
      round,
      initialized: this.lastInitialized === round,
      locked: block >= this.startOf(round) + this.roundLength - this.lockBlocks,
    };
  }

  private async mineBlocks(count: bigint): Promise<void> {
    if (count <= 0n) return;
    await mine(count);
    this.head += count;
  }

  // ---- Sending ----

  /** Sends a transaction whose outcome is `expected`; returns its decoded events, or undefined after a revert. */
  private async send(
    label: string,
    tx: () => Promise<ContractTransactionResponse>,
    expected: Expect,
  ): Promise<Parsed[] | undefined> {
    this.note(`${label} => ${showExpect(expected)}`);
    this.count(`${(label.split(".")[1] ?? label).split(/[ (]/)[0]} ${"ok" in expected ? "ok" : expected.error}`);
    let receipt: ContractTransactionReceipt | null = null;
    let failure: unknown;
    try {
      receipt = await (await tx()).wait();
    } catch (error) {
      failure = error;
    }
    this.head += 1n;
    if (failure !== undefined) {
      const data = revertDataOf(failure);
      if (data === undefined) throw failure;
      const decoded = this.decodeError(data);
      if ("ok" in expected) this.fail(`${label}: expected success, reverted with ${decoded.text}`);
      if (decoded.name !== expected.error) {
        this.fail(`${label}: expected ${showExpect(expected)}, reverted with ${decoded.text}`);
      }
      if (expected.args !== undefined && show(decoded.args) !== show(expected.args)) {
        this.fail(`${label}: expected ${showExpect(expected)}, reverted with ${decoded.text}`);
      }
      return undefined;
    }
    if (!("ok" in expected)) this.fail(`${label}: expected ${showExpect(expected)}, but it succeeded`);
    const events = this.parseLogs(receipt!.logs);
    this.absorb(events);
    return events;
  }

  private decodeError(data: string): { name: string; args: unknown[]; text: string } {
    for (const iface of this.errorInterfaces) {
      try {
        const parsed = iface.parseError(data);
        if (parsed !== null) {
          const args = [...parsed.args];
          return { name: parsed.name, args, text: `${parsed.name}${show(args)}` };
        }
      } catch {
        // not this interface's
      }
    }
    return { name: `unknown(${data})`, args: [], text: `undecoded revert data ${data}` };
  }

  private parseLogs(logs: readonly Log[]): Parsed[] {
    const parsed: Parsed[] = [];
    for (const log of logs) {
      const entry = this.interfaces.find(([address]) => address === lower(log.address));
      if (entry === undefined) continue;
      const description = entry[2].parseLog(log);
      if (description !== null) parsed.push({ contract: entry[1], name: description.name, args: description.args });
    }
    return parsed;
  }

  /** Folds a successful transaction's events into the model. */
  private absorb(events: Parsed[]): void {
    let penalized = 0n;
    let rewarded = 0n;
    for (const { contract, name, args } of events) {
      const key = `${contract}.${name}`;
      switch (key) {
        case "rounds.NewRound":
          this.lastInitialized = args[0];
          break;
        case "bm.Rewarded":
          this.minted += args[2];
          if (args[2] !== 0n) this.notePoolRound(args[0], args[1]);
          break;
        case "bm.TranscoderSlashed":
          this.burned += (args[2] as bigint) - (args[3] as bigint);
          this.slashedSinceCheck.add(lower(args[0]));
          break;
        case "bm.FeesCredited":
          this.feesCredited += args[2];
          if (args[2] !== 0n) this.notePoolRound(args[0], args[1]);
          break;
        case "bm.FeesWithdrawn":
          expect(lower(args[1]), "fees go to the sink").to.equal(lower(FEE_SINK));
          this.feesWithdrawn += args[2];
          break;
        case "bm.Unbonded": {
          const delegator = lower(args[1]);
          if (this.openDisputesAgainst(delegator) > 0n) this.fail(`${args[1]} unbonded while under dispute`);
          const locks = this.locksOf(delegator);
          if (locks.has(args[2])) this.fail(`lock ${args[2]} of ${args[1]} created twice`);
          locks.set(args[2], { amount: args[3], withdrawRound: args[4] });
          break;
        }
        case "bm.Rebonded":
        case "bm.StakeWithdrawn": {
          const delegator = lower(key === "bm.Rebonded" ? args[1] : args[0]);
          const lockId: bigint = key === "bm.Rebonded" ? args[2] : args[1];
          const amount: bigint = key === "bm.Rebonded" ? args[3] : args[2];
          const lock = this.locksOf(delegator).get(lockId);
          if (lock === undefined || lock.amount !== amount) {
            this.fail(`${name} of lock ${lockId} (${amount}) of ${delegator}: the model has ${show(lock)}`);
          }
          this.locksOf(delegator).delete(lockId);
          break;
        }
        case "tb.WinningTicketRedeemed": {
          const hash = lower(args[0]);
          if (this.paidTickets.has(hash)) this.fail(`ticket ${hash} paid twice`);
          this.paidTickets.add(hash);
          const amount: bigint = args[4];
          if (amount > args[3]) this.fail(`ticket ${hash} paid ${amount}, more than its face value ${args[3]}`);
          this.senderModel(args[1]).paid += amount;
          this.ticketsPaid += amount;
          break;
        }
        case "tb.Withdrawal":
          this.senderModel(args[0]).withdrawn += (args[1] as bigint) + (args[2] as bigint);
          break;
        case "dm.DisputeOpened": {
          const disputeId: bigint = args[0];
          this.disputeCount = disputeId;
          this.disputes.set(disputeId, {
            id: disputeId,
            broadcaster: lower(args[1]),
            orchestrator: lower(args[2]),
            bond: args[6],
            seedBlock: args[7],
            drawn: false,
            members: [],
            weights: [],
            commitEnd: 0n,
            revealEnd: 0n,
            plans: new Map(),
            committed: new Set(),
            revealed: new Map(),
            resolved: false,
            outcome: Outcome.None,
          });
          this.drawQueue.push({ id: disputeId, seedBlock: args[7] });
          break;
        }
        case "dm.CommitteeReseeded": {
          this.count("event CommitteeReseeded");
          const d = this.disputes.get(args[0])!;
          d.seedBlock = args[1];
          this.drawQueue.push({ id: d.id, seedBlock: args[1] });
          break;
        }
        case "dm.CommitteeDrawn": {
          const d = this.disputes.get(args[0])!;
          d.drawn = true;
          d.members = [...args[1]].map(lower);
          d.weights = [...args[2]];
          d.commitEnd = args[3];
          d.revealEnd = args[4];
          // Most members judge right; some never commit, some commit and never reveal.
          const truth: VoteValue = this.chance(0.5) ? Vote.Fault : Vote.NoFault;
          for (const member of d.members) {
            const vote: VoteValue = this.chance(0.8) ? truth : truth === Vote.Fault ? Vote.NoFault : Vote.Fault;
            const commits = this.chance(0.92);
            d.plans.set(member, { vote, commits, reveals: commits && this.chance(0.88) });
          }
          break;
        }
        case "dm.VoteCommitted":
          this.disputes.get(args[0])!.committed.add(lower(args[1]));
          break;
        case "dm.VoteRevealed":
          this.disputes.get(args[0])!.revealed.set(lower(args[1]), Number(args[2]) as VoteValue);
          break;
        case "dm.DisputeResolved": {
          const d = this.disputes.get(args[0])!;
          d.resolved = true;
          d.outcome = args[1];
          break;
        }
        case "dm.VerifierPenalized":
          penalized += args[2];
          break;
        case "dm.VerifierRewarded":
          rewarded += args[2];
          break;
        case "dm.BondPaid":
          if (!args[3]) this.payoutsOwed.set(lower(args[1]), (this.payoutsOwed.get(lower(args[1])) ?? 0n) + args[2]);
          break;
        case "dm.PayoutWithdrawn":
          this.payoutsOwed.set(lower(args[0]), (this.payoutsOwed.get(lower(args[0])) ?? 0n) - args[1]);
          break;
        default:
          break;
      }
    }
    // Verifier penalties not paid out to the winning side are burned.
    this.burned += penalized - rewarded;
  }

  private notePoolRound(account: string, round: bigint): void {
    const key = lower(account);
    const rounds = this.poolRounds.get(key) ?? [];
    if (rounds[rounds.length - 1] !== round) rounds.push(round);
    this.poolRounds.set(key, rounds);
  }

  private locksOf(account: string): Map<bigint, Lock> {
    let locks = this.locks.get(lower(account));
    if (locks === undefined) {
      locks = new Map();
      this.locks.set(lower(account), locks);
    }
    return locks;
  }

  private senderModel(address: string): SenderModel {
    const model = this.senders.find((m) => lower(m.actor.address) === lower(address));
    if (model === undefined) this.fail(`unknown ticket sender ${address}`);
    return model;
  }

  private openDisputesAgainst(account: string): bigint {
    let open = 0n;
    for (const d of this.disputes.values()) if (!d.resolved && d.orchestrator === lower(account)) open += 1n;
    return open;
  }

  private actorOf(address: string): Actor {
    const all = [...this.bonders, ...this.verifiers, ...this.broadcasters, this.contractBroadcaster];
    const actor = all.find((a) => lower(a.address) === lower(address));
    if (actor === undefined) this.fail(`no actor for ${address}`);
    return actor;
  }

  // ---- Set-up ----

  async setUp(): Promise<void> {
    const keyed = (name: string, label: string): Actor => {
      const wallet = keyedWallet(label);
      this.keys.set(lower(wallet.address), wallet);
      return { name, address: wallet.address, signer: wallet };
    };
    const plain = async (name: string, signer: Signer): Promise<Actor> => ({
      name,
      address: await signer.getAddress(),
      signer,
    });
    // Keyed wallets sign off chain (receipts, tickets); Hardhat's accounts are the delegators and verifiers.
    for (let i = 0; i < N_ORCHESTRATORS; i++) this.orchestrators.push(keyed(`O${i}`, `campaign-orchestrator-${i}`));
    for (let i = 0; i < 2; i++) this.broadcasters.push(keyed(`B${i}`, `campaign-broadcaster-${i}`));
    for (let i = 0; i < N_DELEGATORS; i++) this.delegators.push(await plain(`D${i}`, this.signers[1 + i]));
    for (let i = 0; i < N_VERIFIERS; i++) {
      this.verifierOnly.push(await plain(`V${i}`, this.signers[1 + N_DELEGATORS + i]));
    }
    this.contractBroadcaster.address = await this.contractBroadcasterContract.getAddress();
    for (const [i, name] of ["T1", "T2"].entries()) {
      this.twins.push(await plain(name, this.signers[1 + N_DELEGATORS + N_VERIFIERS + i]));
    }
    this.stakers.push(...this.orchestrators, ...this.delegators);
    this.bonders.push(...this.stakers, ...this.twins);
    this.verifiers.push(...this.verifierOnly, this.orchestrators[0], this.broadcasters[0]);
    this.recipients.push(...this.orchestrators, this.delegators[0]);

    this.addresses = {
      bm: lower(await this.bm.getAddress()),
      tb: lower(await this.tb.getAddress()),
      dm: lower(await this.dm.getAddress()),
      minter: lower(await this.minter.getAddress()),
      rounds: lower(await this.rounds.getAddress()),
      token: lower(await this.token.getAddress()),
      batcher: lower(await this.batcher.getAddress()),
    };
    this.interfaces.push(
      [this.addresses.bm, "bm", this.bm.interface],
      [this.addresses.tb, "tb", this.tb.interface],
      [this.addresses.dm, "dm", this.dm.interface],
      [this.addresses.minter, "minter", this.minter.interface],
      [this.addresses.rounds, "rounds", this.rounds.interface],
      [this.addresses.token, "token", this.token.interface],
    );
    this.errorInterfaces.push(
      this.bm.interface,
      this.tb.interface,
      this.dm.interface,
      this.minter.interface,
      this.rounds.interface,
      this.token.interface,
      this.contractBroadcasterContract.interface,
    );
    this.chainId = (await ethers.provider.getNetwork()).chainId;
    this.hasher = new TicketHasher(this.domain());
    for (const actor of this.broadcasters) {
      this.senders.push({
        actor,
        tickets: new TicketSender({
          privateKey: this.keys.get(lower(actor.address))!.privateKey,
          domain: this.domain(),
        }),
        funded: 0n,
        withdrawn: 0n,
        paid: 0n,
        basis: 0n,
        basisRound: -1n,
      });
    }
    this.receiptDomain = { chainId: this.chainId, verifyingContract: await this.dm.getAddress() };

    this.roundLength = await this.rounds.roundLength();
    this.lockBlocks = (this.roundLength * (await this.rounds.roundLockAmount())) / PERC;
    this.anchorRound = await this.rounds.currentRound();
    this.anchorStart = await this.rounds.currentRoundStartBlock();
    this.unbondingPeriod = await this.bm.unbondingPeriod();
    this.unlockPeriod = await this.tb.unlockPeriod();
    this.validityPeriod = await this.tb.ticketValidityPeriod();
    this.verifierUnlockPeriod = await this.dm.verifierUnlockPeriod();
    this.disputeBond = await this.dm.disputeBond();
    this.committeeSize = Number(await this.dm.committeeSize());
    this.quorum = await this.dm.quorum();
    this.commitPeriod = await this.dm.commitPeriod();
    this.faultSlash = await this.dm.faultSlashAmount();
    this.finderFee = await this.dm.finderFee();
    this.verifierSlash = await this.dm.verifierSlashAmount();
    this.lastInitialized = await this.rounds.lastInitializedRound();

    for (const [i, recipient] of this.recipients.entries()) {
      this.ticketRecipients.set(
        lower(recipient.address),
        new TicketRecipient({
          address: recipient.address,
          secret: getBytes(id(`campaign-recipient-secret-${i}`)),
          domain: this.domain(),
          ticketValidityPeriod: this.validityPeriod,
        }),
      );
    }

    // Money: LPT for everyone who bonds or verifies, ETH for the keyed wallets.
    const bmAddress = await this.bm.getAddress();
    const dmAddress = await this.dm.getAddress();
    for (const actor of [...this.orchestrators, ...this.broadcasters]) await setBalance(actor.address, ETH_EACH);
    for (const actor of [...this.bonders, ...this.verifierOnly, this.broadcasters[0]]) {
      await (await this.token.connect(this.owner).transfer(actor.address, LPT_EACH)).wait();
      await (await this.token.connect(actor.signer).approve(bmAddress, MaxUint256)).wait();
      await (await this.token.connect(actor.signer).approve(dmAddress, MaxUint256)).wait();
    }
    await (await this.bm.connect(this.owner).setNumActiveTranscoders(POOL_CAPACITY)).wait();

    this.head = BigInt(await ethers.provider.getBlockNumber());
    this.supply0 = await this.token.totalSupply();
    this.minterEth0 = await ethers.provider.getBalance(this.addresses.minter);
    this.sinkEth0 = await ethers.provider.getBalance(FEE_SINK);

    // A first round: orchestrators bond and register, delegators delegate, verifiers lock stake, senders fund.
    await this.toNextRound();
    await this.initializeRound();
    for (const o of this.orchestrators) {
      await this.send(
        `${o.name}.bond(self)`,
        () => this.bm.connect(o.signer).bond(LPT(5000 + this.int(20_000)), o.address, GAS),
        OK,
      );
      const [rewardCut, feeShare] = [this.ppm(), this.ppm()];
      await this.send(
        `${o.name}.transcoder(${rewardCut}, ${feeShare})`,
        () => this.bm.connect(o.signer).transcoder(rewardCut, feeShare, GAS),
        OK,
      );
    }
    for (const d of this.delegators) {
      const to = this.pick(this.orchestrators);
      await this.send(
        `${d.name}.bond(${to.name})`,
        () => this.bm.connect(d.signer).bond(this.lptAmount(), to.address, GAS),
        OK,
      );
    }
    for (const v of this.verifiers) {
      await this.send(
        `${v.name}.registerVerifier`,
        () => this.dm.connect(v.signer).registerVerifier(LPT(100 + this.int(3000)), GAS),
        OK,
      );
      this.verifierSlots.push(lower(v.address));
    }
    for (const m of this.senders) {
      const [deposit, reserve] = [parseEther("5"), parseEther("10")];
      await this.send(
        `${m.actor.name}.fundDepositAndReserve`,
        () =>
          this.tb.connect(m.actor.signer).fundDepositAndReserve(deposit, reserve, { value: deposit + reserve, ...GAS }),
        OK,
      );
      m.funded += deposit + reserve;
    }
    await this.toNextRound();
    await this.initializeRound();
    await this.check();
  }

  private async toNextRound(): Promise<void> {
    const nextStart = this.startOf(this.roundAt(this.head) + 1n);
    // The next transaction is the first of the next round.
    await this.mineBlocks(nextStart - 1n - this.head);
  }

  // ---- The actions ----

  actions(): Weighted[] {
    const n = () => this.next();
    const a = (name: string, weight: number | (() => number), run: () => Promise<void>): Weighted => ({
      name,
      weight: typeof weight === "number" ? () => weight : weight,
      run,
    });
    return [
      // time
      a(
        "initializeRound",
        () => (n().initialized ? 0.4 : 50),
        () => this.initializeRound(),
      ),
      a("mine", 4, () => this.mineBlocks(BigInt(1 + this.int(4)))),
      a("nextRound", 2.5, () => this.toNextRound()),
      a("skipRounds", 0.25, () => this.mineBlocks(this.roundLength * BigInt(2 + this.int(3)))),
      // bonding
      a("bond", 6, () => this.bond("delegator")),
      a("bondSelf", 3, () => this.bond("orchestrator")),
      a("changeDelegate", 2.5, () => this.bond("move")),
      a("unbond", 3.5, () => this.unbond("partial")),
      a("unbondAll", 1.2, () => this.unbond("full")),
      a("unbondBad", 0.5, () => this.unbond("bad")),
      a("rebond", 2.5, () => this.rebond()),
      a("withdrawStake", 2.5, () => this.withdrawStake()),
      a("claimEarnings", 1.5, () => this.claimEarnings()),
      a("withdrawFees", 2, () => this.withdrawFees()),
      a("reward", 5, () => this.reward()),
      a("transcoder", 2, () => this.transcoder()),
      a("twinsBond", 1.5, () => this.twinsBond()),
      a("twinClaims", 1, () => this.twinClaim()),
      // tickets
      a("fund", 4, () => this.fund()),
      a("unlock", 0.7, () => this.unlockOrWithdraw("unlock")),
      a("cancelUnlock", 0.5, () => this.unlockOrWithdraw("cancelUnlock")),
      a("withdraw", 1, () => this.unlockOrWithdraw("withdraw")),
      a("redeem", 9, () => this.redeem()),
      a("batch", 2.5, () => this.batch()),
      a("replay", 1, () => this.replay()),
      // verifiers and disputes
      a("registerVerifier", 1.5, () => this.registerVerifier()),
      a("deregisterVerifier", 0.6, () => this.deregisterVerifier()),
      a("withdrawVerifierStake", 0.8, () => this.withdrawVerifierStake()),
      a(
        "openDispute",
        () => (this.unresolved().length < 3 ? 1.5 : 0.3),
        () => this.openDispute(),
      ),
      a(
        "drawCommittee",
        () => (this.due(n().block).length > 0 ? 12 : 0.3),
        () => this.drawCommittee(),
      ),
      a(
        "commitVote",
        () => (this.pendingVotes("commit").length > 0 ? 60 : 0.4),
        () => this.commitVote(),
      ),
      a(
        "revealVote",
        () => (this.pendingVotes("reveal").length > 0 ? 60 : 0.4),
        () => this.revealVote(),
      ),
      a(
        "resolve",
        () => (this.resolvable().length > 0 ? 10 : 0.4),
        () => this.resolve(),
      ),
      a("proveEquivocation", 0.4, () => this.proveEquivocation()),
      a("payouts", 0.8, () => this.payouts()),
      a("disputeBurst", 0.12, () => this.disputeBurst()),
    ];
  }

  private async initializeRound(): Promise<void> {
    const t = this.next();
    const caller = this.pick(this.delegators);
    const expected = t.initialized ? reverts("RoundAlreadyInitialized", t.round) : OK;
    const [nextStake, poolSize] = await Promise.all([
      this.bm.nextRoundTotalActiveStake(),
      this.bm.getTranscoderPoolSize(),
    ]);
    const events = await this.send(
      `${caller.name}.initializeRound`,
      () => this.rounds.connect(caller.signer).initializeRound(GAS),
      expected,
    );
    if (events === undefined) return;
    // The snapshot is the pool as it stands: every member is active in the new round.
    expect(await this.bm.currentRoundTotalActiveStake(), "total active stake snapshot").to.equal(nextStake);
    expect(await this.bm.currentRoundPoolSize(), "pool size snapshot").to.equal(poolSize);
    const stakes = new Map<string, bigint>();
    for (const b of this.bonders) stakes.set(lower(b.address), await this.bm.transcoderTotalStake(b.address));
    this.roundStart = { round: t.round, stakes };
  }

  /** `account`'s stake when round `round` (the current, initialized one) started. */
  private stakeAtRoundStart(account: string, round: bigint): bigint {
    if (this.roundStart.round !== round) this.fail(`no stake snapshot for round ${round}`);
    return this.roundStart.stakes.get(lower(account)) ?? 0n;
  }

  /**
   * The factors an update of `account`'s earnings pool in round `round` starts from: the reward factor the round
   * opened with, and the current reward and fee factors (the latest written pool's; PRECISION and 0 before any).
   */
  private async factorsOf(account: string, round: bigint) {
    const rounds = this.poolRounds.get(lower(account)) ?? [];
    const written: { round: bigint; rewardFactor: bigint; feeFactor: bigint }[] = [];
    for (let i = rounds.length - 1; i >= 0 && written.length < 2; i--) {
      const [rewardFactor, feeFactor] = await this.bm.getTranscoderEarningsPoolForRound(account, rounds[i]);
      if (rewardFactor !== 0n) written.push({ round: rounds[i], rewardFactor, feeFactor });
      // A past round that was not written never will be.
      else if (rounds[i] < round) rounds.splice(i, 1);
    }
    const [latest, previous] = written;
    if (latest === undefined) {
      return { openingRewardFactor: PRECISION, rewardFactor: PRECISION, feeFactor: 0n, writtenNow: false };
    }
    const writtenNow = latest.round === round;
    return {
      openingRewardFactor: writtenNow ? (previous?.rewardFactor ?? PRECISION) : latest.rewardFactor,
      rewardFactor: latest.rewardFactor,
      feeFactor: latest.feeFactor,
      writtenNow,
    };
  }

  /** A delegate for a delegator: an orchestrator mostly, sometimes a plain account. */
  private delegateFor(): string {
    if (this.chance(0.02)) return ZeroAddress;
    return this.chance(0.88) ? this.pick(this.orchestrators).address : this.delegators[0].address;
  }

  /** Pool position hints, right or wrong: the pool must come out sorted whatever they are. */
  private hints(): [string, string] {
    const hint = () => (this.chance(0.2) ? ZeroAddress : this.pick(this.bonders).address);
    return [hint(), hint()];
  }

  private async bond(kind: "delegator" | "orchestrator" | "move"): Promise<void> {
    const t = this.next();
    const who =
      kind === "orchestrator"
        ? this.pick(this.orchestrators)
        : kind === "move"
          ? this.pick(this.stakers)
          : this.pick(this.delegators);
    const [d, registered, wallet] = await Promise.all([
      this.bm.getDelegator(who.address),
      this.bm.isRegisteredTranscoder(who.address),
      this.token.balanceOf(who.address),
    ]);
    let to: string;
    let amount: bigint;
    if (kind === "orchestrator") {
      to = who.address;
      amount = min(this.lptAmount(), wallet);
    } else if (kind === "move") {
      to = this.chance(0.15) ? who.address : this.delegateFor();
      amount = this.chance(0.5) ? 0n : min(this.lptAmount(), wallet);
    } else {
      to = d.delegateAddress !== ZeroAddress && this.chance(0.8) ? d.delegateAddress : this.delegateFor();
      amount = min(this.lptAmount(), wallet);
    }
    if (this.chance(0.01)) amount = wallet + 1n;
    const old = d.delegateAddress;
    const moving = old !== ZeroAddress && lower(old) !== lower(to);
    const expected = !t.initialized
      ? reverts("CurrentRoundNotInitialized", t.round)
      : to === ZeroAddress
        ? reverts("ZeroDelegate")
        : moving && lower(old) === lower(who.address) && registered
          ? reverts("TranscoderCannotChangeDelegate", who.address)
          : !moving && amount === 0n
            ? reverts("ZeroAmount")
            : amount > wallet
              ? reverts("ERC20InsufficientBalance", who.address, wallet, amount)
              : OK;
    const events = await this.send(
      `${who.name}.bond(${amount}, ${this.nameOf(to)})`,
      () => {
        const bm = this.bm.connect(who.signer);
        if (!this.chance(0.35)) return bm.bond(amount, to, GAS);
        return bm.bondWithHint(amount, to, ...this.hints(), ...this.hints(), GAS);
      },
      expected,
    );
    if (events === undefined) return;
    const bonded = events.find((e) => e.name === "Bonded")!;
    const after = await this.bm.getDelegator(who.address);
    expect(norm([...bonded.args]), "Bonded").to.deep.equal(norm([to, old, who.address, amount, after.bondedAmount]));
    expect(lower(after.delegateAddress), "delegate after bond").to.equal(lower(to));
  }

  private nameOf(address: string): string {
    if (address === ZeroAddress) return "0x0";
    const all = [...this.bonders, ...this.verifiers, ...this.broadcasters, this.contractBroadcaster];
    return all.find((a) => lower(a.address) === lower(address))?.name ?? address;
  }

  private async unbond(mode: "partial" | "full" | "bad"): Promise<void> {
    const who = mode === "full" && this.chance(0.6) ? this.pick(this.delegators) : this.pick(this.stakers);
    if (mode === "full") await this.claimEarnings(who, true);
    const t = this.next();
    const [d, disputes, registered] = await Promise.all([
      this.bm.getDelegator(who.address),
      this.dm.openDisputesAgainst(who.address),
      this.bm.isRegisteredTranscoder(who.address),
    ]);
    let amount: bigint;
    let tooMuch = false;
    if (mode === "full") amount = d.bondedAmount;
    else if (mode === "partial") amount = (d.bondedAmount * this.ppm()) / PERC;
    else if (this.chance(0.4)) amount = 0n;
    else {
      // More than any settlement can find: the views count the current round too.
      amount = (await this.bm.pendingStake(who.address, this.roundAt(this.head))) + 1n + this.between(0n, LPT(10));
      tooMuch = true;
    }
    const expected = !t.initialized
      ? reverts("CurrentRoundNotInitialized", t.round)
      : amount === 0n
        ? reverts("ZeroAmount")
        : d.delegateAddress === ZeroAddress
          ? reverts("NotBonded", who.address)
          : disputes !== 0n
            ? reverts("TranscoderUnderDispute", who.address, disputes)
            : tooMuch
              ? revertsNamed("InsufficientBondedAmount")
              : OK;
    const events = await this.send(
      `${who.name}.unbond(${amount})${mode === "full" ? " [all]" : ""}`,
      () =>
        this.chance(0.35)
          ? this.bm.connect(who.signer).unbondWithHint(amount, ...this.hints(), GAS)
          : this.bm.connect(who.signer).unbond(amount, GAS),
      expected,
    );
    if (events === undefined) return;
    const unbonded = events.find((e) => e.name === "Unbonded")!;
    expect(norm([...unbonded.args]), "Unbonded").to.deep.equal(
      norm([d.delegateAddress, who.address, d.nextUnbondingLockId, amount, t.round + this.unbondingPeriod]),
    );
    if (mode === "full") {
      const after = await this.bm.getDelegator(who.address);
      expect(after.bondedAmount, "nothing left after unbonding all").to.equal(0n);
      expect(after.delegateAddress, "no delegate after unbonding all").to.equal(ZeroAddress);
      if (registered && lower(d.delegateAddress) === lower(who.address)) {
        expect(await this.bm.isRegisteredTranscoder(who.address), "resigned").to.equal(false);
        expect(await this.bm.isInPool(who.address), "out of the pool after resigning").to.equal(false);
      }
    }
  }

  private async rebond(): Promise<void> {
    const withLocks = this.stakers.filter((b) => this.locksOf(b.address).size > 0);
    const who = withLocks.length > 0 && this.chance(0.95) ? this.pick(withLocks) : this.pick(this.stakers);
    const t = this.next();
    const d = await this.bm.getDelegator(who.address);
    const ids = [...this.locksOf(who.address).keys()];
    const lockId = ids.length > 0 && this.chance(0.95) ? this.pick(ids) : d.nextUnbondingLockId + BigInt(this.int(3));
    const exists = this.locksOf(who.address).has(lockId);
    const bonded = d.delegateAddress !== ZeroAddress;
    // Mostly the call that fits the account's state; sometimes the other one.
    const fromUnbonded = this.chance(0.9) ? !bonded : bonded;
    if (fromUnbonded) {
      const to = this.delegateFor();
      const expected = !t.initialized
        ? reverts("CurrentRoundNotInitialized", t.round)
        : to === ZeroAddress
          ? reverts("ZeroDelegate")
          : bonded
            ? reverts("AlreadyBonded", who.address)
            : !exists
              ? reverts("UnbondingLockNotFound", who.address, lockId)
              : OK;
      await this.send(
        `${who.name}.rebondFromUnbonded(${this.nameOf(to)}, ${lockId})`,
        () =>
          this.chance(0.35)
            ? this.bm.connect(who.signer).rebondFromUnbondedWithHint(to, lockId, ...this.hints(), GAS)
            : this.bm.connect(who.signer).rebondFromUnbonded(to, lockId, GAS),
        expected,
      );
    } else {
      const expected = !t.initialized
        ? reverts("CurrentRoundNotInitialized", t.round)
        : !bonded
          ? reverts("NotBonded", who.address)
          : !exists
            ? reverts("UnbondingLockNotFound", who.address, lockId)
            : OK;
      await this.send(
        `${who.name}.rebond(${lockId})`,
        () =>
          this.chance(0.35)
            ? this.bm.connect(who.signer).rebondWithHint(lockId, ...this.hints(), GAS)
            : this.bm.connect(who.signer).rebond(lockId, GAS),
        expected,
      );
    }
  }

  private async withdrawStake(): Promise<void> {
    const t = this.next();
    const withdrawable = (l: Lock) => l.withdrawRound <= t.round;
    const ready = this.stakers.filter((b) => [...this.locksOf(b.address).values()].some(withdrawable));
    const withLocks = this.stakers.filter((b) => this.locksOf(b.address).size > 0);
    const who =
      ready.length > 0 && this.chance(0.8)
        ? this.pick(ready)
        : withLocks.length > 0 && this.chance(0.9)
          ? this.pick(withLocks)
          : this.pick(this.stakers);
    const locks = this.locksOf(who.address);
    const readyIds = [...locks.entries()].filter(([, l]) => withdrawable(l)).map(([lockId]) => lockId);
    const lockId =
      readyIds.length > 0 && this.chance(0.8)
        ? this.pick(readyIds)
        : locks.size > 0 && this.chance(0.9)
          ? this.pick([...locks.keys()])
          : (await this.bm.getDelegator(who.address)).nextUnbondingLockId + BigInt(this.int(3));
    const lock = locks.get(lockId);
    const expected = !t.initialized
      ? reverts("CurrentRoundNotInitialized", t.round)
      : lock === undefined
        ? reverts("UnbondingLockNotFound", who.address, lockId)
        : lock.withdrawRound > t.round
          ? reverts("UnbondingLockNotWithdrawable", lockId, lock.withdrawRound, t.round)
          : OK;
    const before = lock === undefined ? 0n : await this.token.balanceOf(who.address);
    const events = await this.send(
      `${who.name}.withdrawStake(${lockId})`,
      () => this.bm.connect(who.signer).withdrawStake(lockId, GAS),
      expected,
    );
    if (events === undefined) return;
    expect(await this.token.balanceOf(who.address), "stake withdrawn to the wallet").to.equal(before + lock!.amount);
  }

  private async claimEarnings(who = this.pick(this.stakers), exact = false): Promise<void> {
    const t = this.next();
    const endRound = exact || this.chance(0.9) ? t.round : t.round + (this.chance(0.5) ? 1n : -1n);
    const expected = !t.initialized
      ? reverts("CurrentRoundNotInitialized", t.round)
      : endRound !== t.round
        ? reverts("InvalidEndRound", endRound, t.round)
        : OK;
    await this.send(
      `${who.name}.claimEarnings(${endRound})`,
      () => this.bm.connect(who.signer).claimEarnings(endRound, GAS),
      expected,
    );
  }

  private async withdrawFees(): Promise<void> {
    const t = this.next();
    let who = this.pick(this.stakers);
    let d = await this.bm.getDelegator(who.address);
    for (let tries = 0; tries < 3 && d.fees === 0n; tries++) {
      who = this.pick(this.stakers);
      d = await this.bm.getDelegator(who.address);
    }
    const roll = this.random();
    const recipient = roll < 0.02 ? ZeroAddress : FEE_SINK;
    let amount: bigint;
    let tooMuch = false;
    if (roll < 0.08) {
      amount = (await this.bm.pendingFees(who.address, this.roundAt(this.head))) + 1n;
      tooMuch = true;
    } else {
      // Settled fees only grow at the next settlement, so this much is always there.
      amount = this.chance(0.3) ? d.fees : (d.fees * this.ppm()) / PERC;
    }
    const expected = !t.initialized
      ? reverts("CurrentRoundNotInitialized", t.round)
      : recipient === ZeroAddress
        ? reverts("ZeroRecipient")
        : amount === 0n
          ? reverts("ZeroAmount")
          : tooMuch
            ? revertsNamed("InsufficientFees")
            : OK;
    await this.send(
      `${who.name}.withdrawFees(${this.nameOf(recipient)}, ${amount})`,
      () => this.bm.connect(who.signer).withdrawFees(recipient, amount, GAS),
      expected,
    );
  }

  private isActive(t: { activationRound: bigint; deactivationRound: bigint }, round: bigint): boolean {
    return t.activationRound !== 0n && t.activationRound <= round && round < t.deactivationRound;
  }

  private async reward(): Promise<void> {
    const t = this.next();
    // Mostly an orchestrator that can mint now; sometimes anyone.
    const able = [];
    for (const o of this.orchestrators) {
      const info = await this.bm.getTranscoder(o.address);
      if (info.registered && this.isActive(info, t.round) && info.lastRewardRound !== t.round) able.push(o);
    }
    const who =
      able.length > 0 && this.chance(0.6)
        ? this.pick(able)
        : this.chance(0.95)
          ? this.pick(this.orchestrators)
          : this.pick(this.delegators);
    const info = await this.bm.getTranscoder(who.address);
    let expected = !t.initialized
      ? reverts("CurrentRoundNotInitialized", t.round)
      : !info.registered || !this.isActive(info, t.round)
        ? reverts("TranscoderNotActive", who.address, t.round)
        : info.lastRewardRound === t.round
          ? reverts("RewardAlreadyMinted", who.address, t.round)
          : OK;
    // What it mints: its share of the round's mintable tokens by its stake at the round's start, within what is left.
    let minted = 0n;
    let rewardFactor = 0n;
    if ("ok" in expected) {
      const stake = this.stakeAtRoundStart(who.address, t.round);
      const [mintable, mintedBefore, totalActive] = await Promise.all([
        this.minter.currentMintableTokens(),
        this.minter.currentMintedTokens(),
        this.bm.currentRoundTotalActiveStake(),
      ]);
      if (stake > totalActive) this.fail(`${who.name}'s stake ${stake} exceeds the total active stake ${totalActive}`);
      if (stake !== 0n) minted = min(mulDiv(mintable, stake, totalActive), mintable - mintedBefore);
      if (minted !== 0n) {
        const delegatorsReward = minted - (minted * info.rewardCut) / PERC;
        const factors = await this.factorsOf(who.address, t.round);
        rewardFactor = factors.rewardFactor + mulDiv(factors.rewardFactor, delegatorsReward, stake);
        // Documented limit (EarningsPool.sol): the reward factor holds a growth of 3e11x.
        if (rewardFactor > MAX_UINT128) expected = reverts("SafeCastOverflowedUintDowncast", 128n, rewardFactor);
      }
    }
    const events = await this.send(
      `${who.name}.reward`,
      () =>
        this.chance(0.35)
          ? this.bm.connect(who.signer).rewardWithHint(...this.hints(), GAS)
          : this.bm.connect(who.signer).reward(GAS),
      expected,
    );
    if (events === undefined) return;
    const rewarded = events.find((e) => e.name === "Rewarded")!;
    expect(rewarded.args[2], `${who.name}'s reward`).to.equal(minted);
    if (minted !== 0n) {
      const [poolRewardFactor] = await this.bm.getTranscoderEarningsPoolForRound(who.address, t.round);
      expect(poolRewardFactor, `${who.name}'s reward factor`).to.equal(rewardFactor);
    }
  }

  private async transcoder(): Promise<void> {
    const t = this.next();
    const who = this.chance(0.9) ? this.pick(this.orchestrators) : this.pick(this.delegators);
    const cut = () =>
      this.chance(0.04)
        ? PERC + 1n + this.between(0n, PERC)
        : this.chance(0.1)
          ? this.pick([0n, PERC])
          : this.between(0n, PERC);
    const [rewardCut, feeShare] = [cut(), cut()];
    const d = await this.bm.getDelegator(who.address);
    const expected = !t.initialized
      ? reverts("CurrentRoundNotInitialized", t.round)
      : t.locked
        ? reverts("RoundLocked", t.round)
        : rewardCut > PERC
          ? reverts("InvalidRewardCut", rewardCut)
          : feeShare > PERC
            ? reverts("InvalidFeeShare", feeShare)
            : lower(d.delegateAddress) !== lower(who.address)
              ? reverts("NotSelfBonded", who.address)
              : OK;
    const events = await this.send(
      `${who.name}.transcoder(${rewardCut}, ${feeShare})`,
      () =>
        this.chance(0.35)
          ? this.bm.connect(who.signer).transcoderWithHint(rewardCut, feeShare, ...this.hints(), GAS)
          : this.bm.connect(who.signer).transcoder(rewardCut, feeShare, GAS),
      expected,
    );
    if (events === undefined) return;
    const info = await this.bm.getTranscoder(who.address);
    expect([info.registered, info.rewardCut, info.feeShare], "registration").to.deep.equal([true, rewardCut, feeShare]);
  }

  // ---- The twins ----

  /** The factors of `delegate`'s latest earnings pool written in `round` or before (PRECISION and 0 if none). */
  private async factorsAt(delegate: string, round: bigint): Promise<Factors> {
    const key = `${lower(delegate)}:${round}`;
    const known = this.pastFactors.get(key);
    if (known !== undefined) return known;
    let factors: Factors = { rewardFactor: PRECISION, feeFactor: 0n };
    const rounds = this.poolRounds.get(lower(delegate)) ?? [];
    for (let i = rounds.length - 1; i >= 0; i--) {
      if (rounds[i] > round) continue;
      const [rewardFactor, feeFactor] = await this.bm.getTranscoderEarningsPoolForRound(delegate, rounds[i]);
      if (rewardFactor === 0n) continue;
      factors = { rewardFactor, feeFactor };
      break;
    }
    if (round < this.roundAt(this.head)) this.pastFactors.set(key, factors);
    return factors;
  }

  /** What `ExactDelegator` asks for: the twins' tranches at their rounds, and their delegates now. */
  private async twinLookup(round: bigint): Promise<FactorLookup> {
    const table = new Map<string, Factors>();
    const pairs: [string, bigint][] = [
      ...this.twinTranches.map((t): [string, bigint] => [t.delegate, t.round]),
      ...[...this.twinDelegates].map((d): [string, bigint] => [d, round]),
    ];
    for (const [delegate, at] of pairs) table.set(`${lower(delegate)}:${at}`, await this.factorsAt(delegate, at));
    return (delegate, at) => {
      const factors = table.get(`${lower(delegate)}:${at}`);
      if (factors === undefined) this.fail(`no factors of ${delegate} at round ${at} for the twins`);
      return factors;
    };
  }

  /** Both twins bond the same amount to the same delegate (a top-up, a first bond or a move) in the same round. */
  private async twinsBond(): Promise<void> {
    const t = this.next();
    // Two transactions in this initialized round, or none.
    if (!t.initialized || this.roundAt(t.block + 1n) !== t.round) return;
    const moving = this.twinDelegate !== undefined && this.chance(0.3);
    const target =
      this.twinDelegate === undefined || moving
        ? this.pick(this.orchestrators.filter((o) => lower(o.address) !== this.twinDelegate)).address
        : this.twinDelegate;
    const wallet = await this.token.balanceOf(this.twins[0].address);
    const amount = moving && this.chance(0.5) ? 0n : min(this.lptAmount(), wallet);
    if (amount === 0n && !moving) return;
    if (moving) {
      this.exact.move(target, amount, t.round, await this.twinLookup(t.round));
      this.twinTranches = [{ delegate: target, round: t.round }];
    } else {
      this.exact.bond(target, amount, t.round);
      this.twinTranches.push({ delegate: target, round: t.round });
    }
    for (const twin of this.twins) {
      await this.send(
        `${twin.name}.bond(${amount}, ${this.nameOf(target)})`,
        () => this.bm.connect(twin.signer).bond(amount, target, GAS),
        OK,
      );
    }
    this.twinDelegate = lower(target);
    this.twinDelegates.add(lower(target));
    this.twinBonds += 1n;
  }

  private async twinClaim(): Promise<void> {
    const t = this.next();
    if (this.twinDelegate === undefined || !t.initialized) return;
    const claimer = this.twins[0];
    await this.send(
      `${claimer.name}.claimEarnings(${t.round})`,
      () => this.bm.connect(claimer.signer).claimEarnings(t.round, GAS),
      OK,
    );
    this.twinClaims += 1n;
  }

  // ---- Ticket funds ----

  /** Starts round `round`'s reserve basis from the reserve as it stands, before the round's first claim. */
  private async refreshBasis(m: SenderModel, round: bigint): Promise<void> {
    if (m.basisRound === round) return;
    const [, reserve] = await this.tb.getSenderInfo(m.actor.address);
    m.basis = reserve.fundsRemaining;
    m.basisRound = round;
  }

  private async fund(): Promise<void> {
    const t = this.next();
    const m = this.pick(this.senders);
    const what = this.pick(["deposit", "reserve", "both"] as const);
    const amount = this.chance(0.03) ? 0n : this.ethAmount();
    const deposit = what === "deposit" ? amount : what === "reserve" ? 0n : (amount * this.ppm()) / PERC;
    const reserve = amount - deposit;
    const mismatch = what === "both" && amount > 0n && this.chance(0.05);
    const value = amount + (mismatch ? 1n : 0n);
    const expected =
      value === 0n ? reverts("ZeroFunding") : mismatch ? reverts("FundingMismatch", value, deposit, reserve) : OK;
    await this.refreshBasis(m, t.round);
    const b = this.tb.connect(m.actor.signer);
    const events = await this.send(
      `${m.actor.name}.fund ${what}(${deposit}, ${reserve})${mismatch ? " +1 wei" : ""}`,
      () =>
        what === "deposit"
          ? b.fundDeposit({ value, ...GAS })
          : what === "reserve"
            ? b.fundReserve({ value, ...GAS })
            : b.fundDepositAndReserve(deposit, reserve, { value, ...GAS }),
      expected,
    );
    if (events === undefined) return;
    m.funded += value;
    m.basis += reserve;
  }

  private async unlockOrWithdraw(kind: "unlock" | "cancelUnlock" | "withdraw"): Promise<void> {
    const t = this.next();
    // Mostly a sender the call can succeed for (a withdrawal: one past its unlock, else one unlocking).
    const infos = await Promise.all(this.senders.map((x) => this.tb.getSenderInfo(x.actor.address)));
    const can = (i: number, strict: boolean) => {
      const wr = infos[i][0].withdrawRound;
      if (kind === "unlock") return wr === 0n && infos[i][0].deposit + infos[i][1].fundsRemaining > 0n;
      return wr !== 0n && (kind === "cancelUnlock" || !strict || t.round >= wr);
    };
    const candidates = [true, false]
      .map((strict) => this.senders.map((_, i) => i).filter((i) => can(i, strict)))
      .find((c) => c.length > 0);
    const index = candidates !== undefined && this.chance(0.75) ? this.pick(candidates) : this.int(this.senders.length);
    const m = this.senders[index];
    const [info, reserveInfo] = infos[index];
    const wr = info.withdrawRound;
    const b = this.tb.connect(m.actor.signer);
    const who = m.actor.name;
    if (kind === "unlock") {
      const expected =
        info.deposit === 0n && reserveInfo.fundsRemaining === 0n
          ? reverts("NoFunds", m.actor.address)
          : wr !== 0n
            ? reverts("UnlockInProgress", m.actor.address, wr)
            : OK;
      const events = await this.send(`${who}.unlock`, () => b.unlock(GAS), expected);
      if (events !== undefined) {
        const [after] = await this.tb.getSenderInfo(m.actor.address);
        expect(after.withdrawRound, "unlock's withdraw round").to.equal(t.round + this.unlockPeriod);
      }
    } else if (kind === "cancelUnlock") {
      const expected = wr === 0n ? reverts("NoUnlockInProgress", m.actor.address) : OK;
      await this.send(`${who}.cancelUnlock`, () => b.cancelUnlock(GAS), expected);
    } else {
      const expected =
        wr === 0n
          ? reverts("NoUnlockInProgress", m.actor.address)
          : t.round < wr
            ? reverts("FundsLocked", m.actor.address, wr, t.round)
            : OK;
      await this.refreshBasis(m, t.round);
      const events = await this.send(`${who}.withdraw`, () => b.withdraw(GAS), expected);
      if (events === undefined) return;
      const withdrawal = events.find((e) => e.name === "Withdrawal")!;
      expect(norm([...withdrawal.args]), "Withdrawal").to.deep.equal(
        norm([m.actor.address, info.deposit, reserveInfo.fundsRemaining]),
      );
      // The per-recipient claims of this round stay on the books: the basis keeps what was funded this round.
    }
  }

  // ---- Tickets ----

  /** What the broker knows of `senders` and `recipients`, as the next transaction will see it. */
  private async brokerState(senders: SenderModel[], recipients: Actor[]): Promise<BrokerState> {
    const t = this.next();
    const state: BrokerState = {
      round: t.round,
      initialized: t.initialized,
      poolSize: await this.bm.currentRoundPoolSize(),
      senders: new Map(),
      active: new Map(),
      used: new Set(this.paidTickets),
      earnings: new Map(),
    };
    for (const m of senders) {
      if (state.senders.has(lower(m.actor.address))) continue;
      await this.refreshBasis(m, t.round);
      const [info, reserve] = await this.tb.getSenderInfo(m.actor.address);
      const claimedBy = new Map<string, bigint>();
      for (const r of this.recipients) {
        claimedBy.set(lower(r.address), await this.tb.claimedReserve(m.actor.address, r.address, t.round));
      }
      state.senders.set(lower(m.actor.address), {
        deposit: info.deposit,
        reserve: reserve.fundsRemaining,
        withdrawRound: info.withdrawRound,
        // The view counts the head's round; a new round has no claims yet.
        claimedInRound: this.roundAt(this.head) === t.round ? reserve.claimedInCurrentRound : 0n,
        claimedBy,
      });
    }
    for (const r of recipients) {
      if (state.active.has(lower(r.address))) continue;
      const info = await this.bm.getTranscoder(r.address);
      const active = this.isActive(info, t.round);
      state.active.set(lower(r.address), active);
      if (!active || !t.initialized) continue;
      const factors = await this.factorsOf(r.address, t.round);
      state.earnings.set(lower(r.address), {
        feeShare: info.feeShare,
        stake: this.stakeAtRoundStart(r.address, t.round),
        openingRewardFactor: factors.openingRewardFactor,
        feeFactor: factors.feeFactor,
        written: factors.writtenNow,
      });
    }
    return state;
  }

  private allowance(st: BrokerState, sender: BrokerSender, recipient: string): bigint {
    return reserveAllowance({
      fundsRemaining: sender.reserve,
      claimedInCurrentRound: sender.claimedInRound,
      poolSize: st.poolSize,
      claimedByRecipient: sender.claimedBy.get(lower(recipient)) ?? 0n,
    });
  }

  private async newTicket(st: BrokerState, m: SenderModel, recipient: Actor): Promise<TicketRecord> {
    const sender = st.senders.get(lower(m.actor.address))!;
    const roll = this.random();
    let creationRound = st.round;
    if (roll < 0.06) creationRound = st.round - 1n;
    else if (roll < 0.1) creationRound = st.round - 2n - BigInt(this.int(2));
    else if (roll < 0.12) creationRound = st.round + 1n;
    let blockHash = await this.rounds.blockHashForRound(creationRound);
    if (this.chance(0.02)) blockHash = id(`not a block hash ${this.ticketCounter}`);

    const pastUnlock = sender.withdrawRound !== 0n && st.round >= sender.withdrawRound;
    const payable = sender.deposit + (pastUnlock ? 0n : this.allowance(st, sender, recipient.address));
    const faceRoll = this.random();
    let faceValue: bigint;
    if (faceRoll < 0.45) faceValue = this.ethAmount();
    else if (faceRoll < 0.6) faceValue = ((sender.deposit + sender.reserve) * this.between(0n, 2n * PERC)) / PERC;
    else if (faceRoll < 0.95) {
      const base = this.pick([sender.deposit, payable, sender.deposit + sender.reserve]) + BigInt(this.int(3)) - 1n;
      faceValue = base < 0n ? 0n : base;
    } else faceValue = this.pick([MaxUint256, 1n << 112n, 0n]);
    const winProb = this.chance(0.03) ? 0n : MAX_WIN_PROB;

    const seed = toBeHex(++this.ticketCounter, 32);
    const tr = this.ticketRecipients.get(lower(recipient.address))!;
    const paramsInput = {
      sender: m.actor.address,
      faceValue,
      winProb,
      expirationBlock: EXPIRATION_BLOCK,
      creationRound,
      creationRoundBlockHash: blockHash,
      seed,
    };
    const params = tr.ticketParams(paramsInput);
    let rand = tr.recipientRand(seed, m.actor.address, faceValue, winProb, EXPIRATION_BLOCK, creationRound);
    let signed: SignedTicket;
    let signedBySender = true;
    if (this.chance(0.03)) {
      // Signed by the other sender, presented as this one's.
      const other = this.senders.find((x) => x !== m)!;
      const [forged] = other.tickets.createTickets({ ...params }, 1);
      signed = { ticket: { ...forged.ticket, sender: m.actor.address }, sig: forged.sig };
      signedBySender = false;
    } else {
      [signed] = m.tickets.createTickets(params, 1);
    }
    if (this.chance(0.03)) rand ^= 1n;
    const hash = "0x" + this.hasher.hash(signed.ticket).toString("hex");
    const record: TicketRecord = {
      label: `T${this.ticketCounter}(${m.actor.name}->${recipient.name}, face ${faceValue}, r${creationRound})`,
      signed,
      rand,
      hash,
      sender: m,
      recipient,
      wins: isWinningTicket(getBytes(signed.sig), rand, winProb),
      signedBySender,
    };
    this.tickets.push(record);
    if (this.tickets.length > 400) this.tickets.splice(0, 100);
    return record;
  }

  /** What redeeming `t` does now, when called by `caller` (`this` for a batch's inner call); updates `st` if it pays. */
  private async predictRedeem(t: TicketRecord, caller: string, st: BrokerState): Promise<RedeemPrediction> {
    const ticket = t.signed.ticket;
    const no = (error: string, ...args: unknown[]): RedeemPrediction => ({ ok: false, on: "tb", error, args });
    if (!st.initialized) return no("CurrentRoundNotInitialized", st.round);
    if (caller !== "this" && lower(caller) !== lower(ticket.recipient)) {
      return no("CallerNotRecipient", caller, ticket.recipient);
    }
    const blockHash = await this.rounds.blockHashForRound(ticket.creationRound);
    if (blockHash === ZeroHash || blockHash !== ticket.creationRoundBlockHash) {
      return no("InvalidCreationRoundBlockHash", ticket.creationRound, ticket.creationRoundBlockHash);
    }
    const expiry = ticket.creationRound + this.validityPeriod;
    if (expiry <= st.round) return no("TicketExpired", ticket.creationRound, expiry);
    if (keccak256(toBeHex(t.rand, 32)) !== ticket.recipientRandHash) {
      return no("InvalidRecipientRand", ticket.recipientRandHash);
    }
    if (st.used.has(lower(t.hash))) return no("TicketUsed", t.hash);
    if (!t.signedBySender) return no("InvalidSenderSignature", ticket.sender);
    if (!t.wins) return no("TicketNotWinning");
    const sender = st.senders.get(lower(ticket.sender))!;
    if (sender.withdrawRound !== 0n && st.round >= sender.withdrawRound) {
      return no("SenderUnlocked", ticket.sender, sender.withdrawRound);
    }
    const face = ticket.faceValue;
    let fromReserve = 0n;
    let amount: bigint;
    if (face <= sender.deposit) amount = face;
    else {
      fromReserve = min(this.allowance(st, sender, ticket.recipient), face - sender.deposit);
      amount = sender.deposit + fromReserve;
    }
    if (amount === 0n) return no("NothingToPay", ticket.sender, ticket.recipient);
    if (!st.active.get(lower(ticket.recipient))) {
      return { ok: false, on: "bm", error: "TranscoderNotActive", args: [ticket.recipient, st.round] };
    }
    // The delegators' share of the fees goes through the fee factor, over the stake the round started with.
    const credit = st.earnings.get(lower(ticket.recipient))!;
    const delegatorsFees = credit.stake === 0n ? 0n : (amount * credit.feeShare) / PERC;
    let feeFactor = credit.feeFactor;
    if (delegatorsFees !== 0n) {
      feeFactor += mulDiv(credit.openingRewardFactor, delegatorsFees, credit.stake);
      // Documented limit (docs/bonding.md): past 3e11 wei of fees per wei of stake only this recipient's credits revert.
      if (feeFactor > MAX_UINT128) {
        return { ok: false, on: "bm", error: "SafeCastOverflowedUintDowncast", args: [128n, feeFactor] };
      }
      credit.feeFactor = feeFactor;
      credit.written = true;
    }
    sender.deposit -= amount - fromReserve;
    sender.reserve -= fromReserve;
    sender.claimedInRound += fromReserve;
    const key = lower(ticket.recipient);
    sender.claimedBy.set(key, (sender.claimedBy.get(key) ?? 0n) + fromReserve);
    st.used.add(lower(t.hash));
    return { ok: true, amount, fromReserve };
  }

  private ticketArgs(list: TicketRecord[]) {
    return [list.map((t) => t.signed.ticket), list.map((t) => t.signed.sig), list.map((t) => t.rand)] as const;
  }

  private async checkPaid(t: TicketRecord, p: RedeemPrediction, events: Parsed[], round: bigint): Promise<void> {
    if (!p.ok) return;
    const ticket = t.signed.ticket;
    const expectedEvents = [
      ...(p.fromReserve > 0n ? [["ReserveClaimed", ticket.sender, ticket.recipient, round, p.fromReserve]] : []),
      ["WinningTicketRedeemed", t.hash, ticket.sender, ticket.recipient, ticket.faceValue, p.amount],
    ];
    expect(norm(events.map((e) => [e.name, ...e.args])), `events of ${t.label}`).to.deep.equal(norm(expectedEvents));
  }

  /** After redemptions: each recipient's fee factor is where the model's credits took it. */
  private async checkFeeFactors(st: BrokerState): Promise<void> {
    for (const [recipient, credit] of st.earnings) {
      if (!credit.written) continue;
      const [, feeFactor] = await this.bm.getTranscoderEarningsPoolForRound(recipient, st.round);
      expect(feeFactor, `${this.nameOf(recipient)}'s fee factor in round ${st.round}`).to.equal(credit.feeFactor);
    }
  }

  private async redeem(): Promise<void> {
    const m = this.pick(this.senders);
    // Mostly an orchestrator active now (the pool holds three of four); sometimes anyone, or a plain account.
    const active = [];
    for (const o of this.orchestrators) if (await this.bm.isActiveTranscoder(o.address)) active.push(o);
    const recipient =
      active.length > 0 && this.chance(0.7)
        ? this.pick(active)
        : this.chance(0.85)
          ? this.pick(this.orchestrators)
          : this.delegators[0];
    const st = await this.brokerState([m], [recipient]);
    const t = await this.newTicket(st, m, recipient);
    await this.redeemOne(t, st);
  }

  private async replay(): Promise<void> {
    if (this.tickets.length === 0) return;
    const t = this.pick(this.tickets);
    const st = await this.brokerState([t.sender], [t.recipient]);
    await this.redeemOne(t, st);
  }

  private async redeemOne(t: TicketRecord, st: BrokerState): Promise<void> {
    const caller = this.chance(0.04)
      ? this.pick(this.delegators.filter((d) => d !== t.recipient))
      : this.actorOf(t.recipient.address);
    const p = await this.predictRedeem(t, caller.address, st);
    const expected = p.ok ? OK : reverts(p.error, ...p.args);
    const usedBefore = this.paidTickets.has(lower(t.hash));
    const events = await this.send(
      `${caller.name}.redeem ${t.label}`,
      () => this.tb.connect(caller.signer).redeemWinningTicket(t.signed.ticket, t.signed.sig, t.rand, GAS),
      expected,
    );
    expect(await this.tb.usedTickets(t.hash), `${t.label} used`).to.equal(events !== undefined || usedBefore);
    if (events !== undefined)
      await this.checkPaid(
        t,
        p,
        events.filter((e) => e.contract === "tb"),
        st.round,
      );
    await this.checkFeeFactors(st);
  }

  private async batch(): Promise<void> {
    const caller = this.chance(0.9) ? this.pick(this.orchestrators) : this.delegators[0];
    const size = 2 + this.int(3);
    const specs: ("mine" | "other" | "replay" | "duplicate")[] = Array.from({ length: size }, (_, i) => {
      const roll = this.random();
      return roll < 0.7 || i === 0 ? "mine" : roll < 0.8 ? "other" : roll < 0.9 ? "replay" : "duplicate";
    });
    const involvedRecipients = [caller, ...this.orchestrators];
    const st = await this.brokerState(this.senders, involvedRecipients);
    const list: TicketRecord[] = [];
    for (const spec of specs) {
      if (spec === "mine") list.push(await this.newTicket(st, this.pick(this.senders), caller));
      else if (spec === "other") {
        const other = this.pick(this.orchestrators.filter((o) => o !== caller));
        list.push(await this.newTicket(st, this.pick(this.senders), other));
      } else if (spec === "replay") {
        const mine = this.tickets.filter((t) => t.recipient === caller && !list.includes(t));
        list.push(mine.length > 0 ? this.pick(mine) : await this.newTicket(st, this.pick(this.senders), caller));
      } else list.push(this.pick(list));
    }
    const predictions: RedeemPrediction[] = [];
    for (const t of list) {
      predictions.push(
        lower(t.signed.ticket.recipient) !== lower(caller.address)
          ? { ok: false, on: "tb", error: "CallerNotRecipient", args: [caller.address, t.signed.ticket.recipient] }
          : await this.predictRedeem(t, "this", st),
      );
    }
    this.note(
      `batch of ${list.length}: ${list.map((t, i) => `${t.label} => ${predictions[i].ok ? "pays " + (predictions[i] as { amount: bigint }).amount : (predictions[i] as { error: string }).error}`).join("; ")}`,
    );
    const events = await this.send(
      `${caller.name}.batchRedeemWinningTickets(${list.length})`,
      () => this.tb.connect(caller.signer).batchRedeemWinningTickets(...this.ticketArgs(list), GAS),
      OK,
    );
    const brokerEvents = events!.filter((e) => e.contract === "tb");
    let cursor = 0;
    for (const [i, t] of list.entries()) {
      const p = predictions[i];
      if (p.ok) {
        const count = p.fromReserve > 0n ? 2 : 1;
        await this.checkPaid(t, p, brokerEvents.slice(cursor, cursor + count), st.round);
        cursor += count;
        continue;
      }
      const failed = brokerEvents[cursor++];
      if (failed?.name !== "BatchTicketFailed" || failed.args[0] !== BigInt(i)) {
        this.fail(`batch[${i}] ${t.label}: expected ${p.error}, got ${show(failed && [failed.name, ...failed.args])}`);
      }
      const decoded = this.decodeError(failed.args[1]);
      if (decoded.name !== p.error || show(decoded.args) !== show(p.args)) {
        this.fail(`batch[${i}] ${t.label}: expected ${p.error}${show(p.args)}, failed with ${decoded.text}`);
      }
    }
    expect(cursor, "batch events").to.equal(brokerEvents.length);
    for (const t of list) {
      expect(await this.tb.usedTickets(t.hash), `${t.label} used`).to.equal(this.paidTickets.has(lower(t.hash)));
    }
    await this.checkFeeFactors(st);
  }

  // ---- Verifiers ----

  /** Undrawn disputes whose seed block is mined by `block`, in draw-queue order. */
  private due(block: bigint): DisputeModel[] {
    return this.unresolved().filter((d) => !d.drawn && d.seedBlock < block);
  }

  private unresolved(): DisputeModel[] {
    return [...this.disputes.values()].filter((d) => !d.resolved);
  }

  /** What `_drawDue` does in block `block`: the draws (or re-seeds) it makes, or the dispute it stops at. */
  private async simulateDrawDue(block: bigint): Promise<DrawSimulation> {
    const draws: PredictedDraw[] = [];
    const queue = this.drawQueue.map((e) => ({ ...e }));
    const seeds = new Map<bigint, bigint>();
    const drawnNow = new Set<bigint>();
    let entries: Awaited<ReturnType<typeof treeEntries>> | undefined;
    let made = 0;
    for (let head = this.drawHead; head < queue.length; head++) {
      const entry = queue[head];
      const d = this.disputes.get(entry.id)!;
      const seedBlock = seeds.get(d.id) ?? d.seedBlock;
      if (d.drawn || drawnNow.has(d.id) || seedBlock !== entry.seedBlock) continue;
      if (block <= seedBlock) break;
      if (made === 4) return { pending: d.id, draws };
      if (block - seedBlock > 256n) {
        const reseed = block + 1n;
        seeds.set(d.id, reseed);
        queue.push({ id: d.id, seedBlock: reseed });
        draws.push({ id: d.id, reseed, members: [], weights: [] });
      } else {
        entries ??= await treeEntries(this.dm, this.verifierSlots);
        const seedHash = (await ethers.provider.getBlock(Number(seedBlock)))!.hash!;
        const drawn = modelDraw(seedHash, d.id, entries, this.committeeSize, [d.broadcaster, d.orchestrator]);
        drawnNow.add(d.id);
        draws.push({ id: d.id, members: drawn.members.map(lower), weights: drawn.weights });
      }
      made++;
    }
    return { draws };
  }

  /** Checks a successful transaction's draws against the simulation's, and advances the queue as `_drawDue` did. */
  private checkDraws(sim: DrawSimulation, events: Parsed[], block: bigint, advanceQueue: boolean): void {
    const seen = events
      .filter((e) => e.name === "CommitteeDrawn" || e.name === "CommitteeReseeded")
      .map((e) =>
        e.name === "CommitteeReseeded"
          ? { id: e.args[0], reseed: e.args[1], members: [], weights: [] }
          : { id: e.args[0], members: [...e.args[1]].map(lower), weights: [...e.args[2]], commitEnd: e.args[3] },
      );
    const expected = sim.draws.map((d) =>
      d.reseed !== undefined ? d : { ...d, commitEnd: block + this.commitPeriod },
    );
    expect(show(seen), "committee draws (the model draw of test/contracts/helpers/disputes.ts)").to.equal(
      show(expected),
    );
    if (!advanceQueue) return;
    // `_drawDue` stops at the first entry that is still live and not due.
    let head = this.drawHead;
    while (head < this.drawQueue.length) {
      const entry = this.drawQueue[head];
      const d = this.disputes.get(entry.id)!;
      if (!d.drawn && d.seedBlock === entry.seedBlock && block <= entry.seedBlock) break;
      head++;
    }
    this.drawHead = head;
  }

  private async registerVerifier(): Promise<void> {
    const t = this.next();
    const v = this.pick(this.verifiers);
    const [info, wallet] = await Promise.all([this.dm.getVerifier(v.address), this.token.balanceOf(v.address)]);
    let amount = this.chance(0.03) ? 0n : min(LPT(10 + this.int(3000)), wallet);
    if (amount === 0n && wallet === 0n) amount = 1n;
    const sim = amount === 0n ? { draws: [] } : await this.simulateDrawDue(t.block);
    const expected =
      amount === 0n
        ? reverts("ZeroAmount")
        : sim.pending !== undefined
          ? reverts("CommitteeDrawsPending", sim.pending)
          : info.unlockRound !== 0n
            ? reverts("VerifierUnlocking", v.address, info.unlockRound)
            : amount > wallet
              ? reverts("ERC20InsufficientBalance", v.address, wallet, amount)
              : OK;
    const events = await this.send(
      `${v.name}.registerVerifier(${amount})`,
      () => this.dm.connect(v.signer).registerVerifier(amount, GAS),
      expected,
    );
    if (events === undefined) return;
    this.checkDraws(sim, events, t.block, true);
    if (!this.verifierSlots.includes(lower(v.address))) this.verifierSlots.push(lower(v.address));
  }

  private async deregisterVerifier(): Promise<void> {
    const t = this.next();
    const v = this.pick(this.verifiers);
    const [info, sim] = await Promise.all([this.dm.getVerifier(v.address), this.simulateDrawDue(t.block)]);
    const duties = info.openDuties + BigInt(sim.draws.filter((d) => d.members.includes(lower(v.address))).length);
    const expected =
      sim.pending !== undefined
        ? reverts("CommitteeDrawsPending", sim.pending)
        : info.stake === 0n
          ? reverts("NotVerifier", v.address)
          : info.unlockRound !== 0n
            ? reverts("VerifierUnlocking", v.address, info.unlockRound)
            : duties !== 0n
              ? reverts("VerifierOnCommittee", v.address, duties)
              : OK;
    const events = await this.send(
      `${v.name}.deregisterVerifier`,
      () => this.dm.connect(v.signer).deregisterVerifier(GAS),
      expected,
    );
    if (events === undefined) return;
    this.checkDraws(sim, events, t.block, true);
    const after = await this.dm.getVerifier(v.address);
    expect(after.unlockRound, "verifier unlock round").to.equal(t.round + this.verifierUnlockPeriod);
  }

  private async withdrawVerifierStake(): Promise<void> {
    const t = this.next();
    const unlocking = [];
    for (const v of this.verifiers) if ((await this.dm.getVerifier(v.address)).unlockRound !== 0n) unlocking.push(v);
    const v = unlocking.length > 0 && this.chance(0.85) ? this.pick(unlocking) : this.pick(this.verifiers);
    const info = await this.dm.getVerifier(v.address);
    const expected =
      info.stake === 0n
        ? reverts("NotVerifier", v.address)
        : info.unlockRound === 0n
          ? reverts("VerifierNotDeregistered", v.address)
          : t.round < info.unlockRound
            ? reverts("VerifierStakeLocked", v.address, info.unlockRound)
            : OK;
    const before = await this.token.balanceOf(v.address);
    const events = await this.send(
      `${v.name}.withdrawVerifierStake`,
      () => this.dm.connect(v.signer).withdrawVerifierStake(GAS),
      expected,
    );
    if (events === undefined) return;
    expect(await this.token.balanceOf(v.address), "verifier stake back in the wallet").to.equal(before + info.stake);
  }

  // ---- Disputes ----

  private receipt(broadcaster: string, orchestrator: string, seq: bigint, outputs: string): TranscodeReceipt {
    return {
      broadcaster,
      orchestrator,
      streamId: STREAM,
      seq,
      sourceHash: word(`campaign-source-${seq}`),
      profilesHash: PROFILES,
      outputsHash: word(outputs),
      deterministic: true,
    };
  }

  private sign(receipt: TranscodeReceipt, signer: string = receipt.orchestrator): string {
    return signReceipt(receipt, this.receiptDomain, getBytes(this.keys.get(lower(signer))!.privateKey));
  }

  private digest(receipt: TranscodeReceipt): string {
    return "0x" + receiptDigest(receipt, this.receiptDomain).toString("hex");
  }

  /** Phase of `d` in block `block`. */
  private phaseAt(d: DisputeModel, block: bigint): bigint {
    if (d.resolved) return Phase.Resolved;
    if (!d.drawn) return Phase.AwaitingCommittee;
    if (d.revealed.size === d.members.length) return Phase.Resolvable;
    if (block <= d.commitEnd) return Phase.Commit;
    if (block <= d.revealEnd) return Phase.Reveal;
    return Phase.Resolvable;
  }

  /**
   * Several disputes opened in consecutive blocks, sometimes followed by more than 256 idle blocks: the next stake
   * change or resolution has more than four committees to draw (CommitteeDrawsPending), and seed hashes expire
   * (CommitteeReseeded).
   */
  private async disputeBurst(): Promise<void> {
    const count = 5 + this.int(3);
    for (let i = 0; i < count; i++) await this.openDispute(true);
    await this.mineBlocks(this.chance(0.5) ? 257n + BigInt(this.int(40)) : 1n);
    // A stake change now finds them all due.
    if (this.chance(0.6)) await (this.chance(0.5) ? this.registerVerifier() : this.deregisterVerifier());
  }

  private async openDispute(valid = false): Promise<void> {
    const t = this.next();
    const byContract = this.chance(0.3);
    const broadcaster = byContract ? this.contractBroadcaster : this.pick(this.broadcasters);
    const orchestrator = this.pick(this.orchestrators);
    let receipt = this.receipt(broadcaster.address, orchestrator.address, ++this.seq, `campaign-outputs-${this.seq}`);
    let signer = orchestrator.address;
    let caller = broadcaster;
    let value = this.disputeBond;
    let uri = EVIDENCE;
    const roll = valid ? 1 : this.random();
    if (roll < 0.03) value = this.pick([0n, this.disputeBond + 1n, this.disputeBond - 1n]);
    else if (roll < 0.06 && !byContract) caller = this.broadcasters.find((b) => b !== broadcaster)!;
    else if (roll < 0.08) uri = "";
    else if (roll < 0.11) signer = this.pick(this.orchestrators.filter((o) => o !== orchestrator)).address;
    else if (roll < 0.15 && this.disputedReceipts.length > 0) {
      const earlier = this.pick(this.disputedReceipts);
      receipt = earlier.receipt;
      const sender = [...this.broadcasters, this.contractBroadcaster].find(
        (b) => lower(b.address) === lower(receipt.broadcaster),
      )!;
      caller = sender;
      signer = receipt.orchestrator;
    }
    const digest = this.digest(receipt);
    const existing = this.disputedReceipts.find((r) => r.digest === digest);
    const expected =
      value !== this.disputeBond
        ? reverts("WrongBond", value, this.disputeBond)
        : lower(caller.address) !== lower(receipt.broadcaster)
          ? reverts("CallerNotBroadcaster", caller.address, receipt.broadcaster)
          : uri === ""
            ? reverts("EmptyEvidenceURI")
            : lower(signer) !== lower(receipt.orchestrator)
              ? reverts("InvalidReceiptSignature", receipt.orchestrator)
              : existing !== undefined
                ? reverts("ReceiptAlreadyDisputed", digest, existing.id)
                : OK;
    const sig = this.sign(receipt, signer);
    const label = `${caller.name}.openDispute(${this.nameOf(receipt.orchestrator)}, seq ${receipt.seq})`;
    const events = await this.send(
      label,
      () =>
        caller === this.contractBroadcaster
          ? this.contractBroadcasterContract
              .connect(this.owner)
              .execute(this.addresses.dm, this.dm.interface.encodeFunctionData("openDispute", [receipt, sig, uri]), {
                value,
                ...GAS,
              })
          : this.dm.connect(caller.signer).openDispute(receipt, sig, uri, { value, ...GAS }),
      expected,
    );
    if (events === undefined) return;
    const opened = events.find((e) => e.name === "DisputeOpened")!;
    expect(opened.args[0], "dispute id").to.equal(this.disputeCount);
    expect(norm([opened.args[4], opened.args[7]]), "digest and seed block").to.deep.equal(norm([digest, t.block + 1n]));
    this.disputedReceipts.push({ receipt, digest, id: opened.args[0] });
  }

  private async drawCommittee(): Promise<void> {
    const t = this.next();
    const due = this.due(t.block);
    const roll = this.random();
    let target: bigint;
    if (due.length > 0 && roll < 0.9) target = this.pick(due).id;
    else if (roll < 0.95 && this.disputes.size > 0) target = this.pick([...this.disputes.keys()]);
    else target = this.disputeCount + 1n + BigInt(this.int(3));
    const d = this.disputes.get(target);
    let expected: Expect;
    let sim: DrawSimulation = { draws: [] };
    if (d === undefined) expected = reverts("UnknownDispute", target);
    else if (d.drawn) expected = reverts("WrongPhase", target, this.phaseAt(d, t.block));
    else if (t.block <= d.seedBlock) expected = reverts("CommitteeNotDue", target, d.seedBlock);
    else {
      expected = OK;
      if (t.block - d.seedBlock > 256n) sim = { draws: [{ id: d.id, reseed: t.block + 1n, members: [], weights: [] }] };
      else {
        const entries = await treeEntries(this.dm, this.verifierSlots);
        const seedHash = (await ethers.provider.getBlock(Number(d.seedBlock)))!.hash!;
        const drawn = modelDraw(seedHash, d.id, entries, this.committeeSize, [d.broadcaster, d.orchestrator]);
        sim = { draws: [{ id: d.id, members: drawn.members.map(lower), weights: drawn.weights }] };
      }
    }
    const caller = this.pick(this.delegators);
    const events = await this.send(
      `${caller.name}.drawCommittee(${target})`,
      () => this.dm.connect(caller.signer).drawCommittee(target, GAS),
      expected,
    );
    if (events !== undefined) this.checkDraws(sim, events, t.block, false);
  }

  private pendingVotes(kind: "commit" | "reveal"): { d: DisputeModel; member: string }[] {
    const block = this.head + 1n;
    const out: { d: DisputeModel; member: string }[] = [];
    for (const d of this.unresolved()) {
      const phase = this.phaseAt(d, block);
      if (kind === "commit" && phase !== Phase.Commit) continue;
      if (kind === "reveal" && phase !== Phase.Reveal) continue;
      for (const member of d.members) {
        const plan = d.plans.get(member)!;
        if (kind === "commit" && plan.commits && !d.committed.has(member)) out.push({ d, member });
        if (kind === "reveal" && plan.reveals && d.committed.has(member) && !d.revealed.has(member)) {
          out.push({ d, member });
        }
      }
    }
    return out;
  }

  /** A dispute and a voter for a vote that is not due: wrong phase, not a member, already done. */
  private strayVoter(): { d: DisputeModel; voter: Actor } | undefined {
    if (this.disputes.size === 0) return undefined;
    const d = this.pick([...this.disputes.values()]);
    const voter =
      d.members.length > 0 && this.chance(0.6) ? this.actorOf(this.pick(d.members)) : this.pick(this.verifiers);
    return { d, voter };
  }

  private async commitVote(): Promise<void> {
    const t = this.next();
    const pending = this.pendingVotes("commit");
    let d: DisputeModel;
    let voter: Actor;
    let zero = false;
    if (pending.length > 0 && this.chance(0.95)) {
      const choice = this.pick(pending);
      d = choice.d;
      voter = this.actorOf(choice.member);
      zero = this.chance(0.02);
    } else {
      const stray = this.strayVoter();
      if (stray === undefined) return;
      ({ d, voter } = stray);
    }
    const member = lower(voter.address);
    const plan = d.plans.get(member);
    const vote = plan?.vote ?? Vote.Fault;
    const commitment = zero ? ZeroHash : commitmentOf(vote, saltOf(d.id, voter.address));
    const phase = this.phaseAt(d, t.block);
    const expected =
      phase !== Phase.Commit
        ? reverts("WrongPhase", d.id, phase)
        : !d.members.includes(member)
          ? reverts("NotCommitteeMember", d.id, voter.address)
          : zero
            ? reverts("InvalidVote")
            : d.committed.has(member)
              ? reverts("AlreadyCommitted", d.id, voter.address)
              : OK;
    await this.send(
      `${voter.name}.commitVote(${d.id}, ${vote === Vote.Fault ? "Fault" : "NoFault"})`,
      () => this.dm.connect(voter.signer).commitVote(d.id, commitment, GAS),
      expected,
    );
  }

  private async revealVote(): Promise<void> {
    const t = this.next();
    const pending = this.pendingVotes("reveal");
    let d: DisputeModel;
    let voter: Actor;
    let twist: "none" | "salt" | "vote" | "noneVote" = "none";
    if (pending.length > 0 && this.chance(0.95)) {
      const choice = this.pick(pending);
      d = choice.d;
      voter = this.actorOf(choice.member);
      const roll = this.random();
      twist = roll < 0.02 ? "salt" : roll < 0.04 ? "vote" : roll < 0.05 ? "noneVote" : "none";
    } else {
      const stray = this.strayVoter();
      if (stray === undefined) return;
      ({ d, voter } = stray);
    }
    const member = lower(voter.address);
    const planned = d.plans.get(member)?.vote ?? Vote.Fault;
    const vote: VoteValue =
      twist === "noneVote"
        ? Vote.None
        : twist === "vote"
          ? planned === Vote.Fault
            ? Vote.NoFault
            : Vote.Fault
          : planned;
    const someoneElse = this.verifiers.find((v) => lower(v.address) !== member)!.address;
    const salt = twist === "salt" ? saltOf(d.id, someoneElse) : saltOf(d.id, voter.address);
    const phase = this.phaseAt(d, t.block);
    const expected =
      phase !== Phase.Reveal
        ? reverts("WrongPhase", d.id, phase)
        : !d.members.includes(member)
          ? reverts("NotCommitteeMember", d.id, voter.address)
          : vote === Vote.None
            ? reverts("InvalidVote")
            : !d.committed.has(member)
              ? reverts("NotCommitted", d.id, voter.address)
              : d.revealed.has(member)
                ? reverts("AlreadyRevealed", d.id, voter.address)
                : twist === "salt"
                  ? reverts("SaltNotBound", d.id, voter.address)
                  : twist === "vote"
                    ? reverts("RevealMismatch", d.id, voter.address)
                    : OK;
    await this.send(
      `${voter.name}.revealVote(${d.id}, ${vote})${twist !== "none" ? ` [${twist}]` : ""}`,
      () => this.dm.connect(voter.signer).revealVote(d.id, vote, salt, GAS),
      expected,
    );
  }

  private resolvable(): DisputeModel[] {
    const block = this.head + 1n;
    return this.unresolved().filter((d) => this.phaseAt(d, block) === Phase.Resolvable);
  }

  /** The outcome the votes revealed so far give, as `resolve` decides it. */
  private outcomeOf(d: DisputeModel): bigint {
    let fault = 0n;
    let noFault = 0n;
    for (const [i, member] of d.members.entries()) {
      const vote = d.revealed.get(member);
      if (vote === Vote.Fault) fault += d.weights[i];
      if (vote === Vote.NoFault) noFault += d.weights[i];
    }
    if (BigInt(d.revealed.size) < this.quorum || fault === noFault) return Outcome.NoQuorum;
    return fault > noFault ? Outcome.Fault : Outcome.NoFault;
  }

  private async resolve(): Promise<void> {
    const t = this.next();
    const ready = this.resolvable();
    const target =
      ready.length > 0 && this.chance(0.95)
        ? this.pick(ready).id
        : this.disputes.size > 0 && this.chance(0.9)
          ? this.pick([...this.disputes.keys()])
          : this.disputeCount + 1n;
    const d = this.disputes.get(target);
    let expected: Expect;
    let sim: DrawSimulation = { draws: [] };
    let outcome = Outcome.None;
    if (d === undefined) expected = reverts("UnknownDispute", target);
    else if (this.phaseAt(d, t.block) !== Phase.Resolvable) {
      expected = reverts("WrongPhase", target, this.phaseAt(d, t.block));
    } else {
      sim = await this.simulateDrawDue(t.block);
      outcome = this.outcomeOf(d);
      expected =
        sim.pending !== undefined
          ? reverts("CommitteeDrawsPending", sim.pending)
          : outcome === Outcome.Fault && !t.initialized
            ? reverts("CurrentRoundNotInitialized", t.round)
            : OK;
    }
    // What the committee and the orchestrator hold before, to check the settlement after.
    const members = d?.members ?? [];
    const stakesBefore = await Promise.all(members.map((m) => this.dm.getVerifier(m).then((v) => v.stake)));
    const orchestrator = d?.orchestrator ?? ZeroAddress;
    const [ownBefore, pendingBefore] = await Promise.all([
      this.bm.getDelegator(orchestrator).then((x) => x.bondedAmount),
      this.bm.pendingStake(orchestrator, this.roundAt(this.head)),
    ]);
    const caller = this.pick(this.delegators);
    const events = await this.send(
      `${caller.name}.resolve(${target})`,
      () => this.dm.connect(caller.signer).resolve(target, GAS),
      expected,
    );
    if (events === undefined || d === undefined) return;
    this.checkDraws(sim, events, t.block, true);
    const resolved = events.find((e) => e.name === "DisputeResolved")!;
    expect(resolved.args[1], `outcome of dispute ${target}`).to.equal(outcome);

    // Members who did not reveal or voted against a decisive outcome lose a share of their stake, paid to the winners.
    const winning = outcome === Outcome.Fault ? Vote.Fault : outcome === Outcome.NoFault ? Vote.NoFault : Vote.None;
    const expectedStakes = [...stakesBefore];
    let penalties = 0n;
    let winnersWeight = 0n;
    const won = members.map((m, i) => {
      const vote = d.revealed.get(m);
      const wins = vote !== undefined && (winning === Vote.None || vote === winning);
      if (wins) winnersWeight += d.weights[i];
      else {
        const penalty = (stakesBefore[i] * this.verifierSlash) / PERC;
        expectedStakes[i] -= penalty;
        penalties += penalty;
      }
      return wins;
    });
    if (penalties > 0n && winnersWeight > 0n) {
      for (const [i, wins] of won.entries()) if (wins) expectedStakes[i] += (penalties * d.weights[i]) / winnersWeight;
    }
    const stakesAfter = await Promise.all(members.map((m) => this.dm.getVerifier(m).then((v) => v.stake)));
    expect(stakesAfter, `committee stakes after resolving ${target}`).to.deep.equal(expectedStakes);

    const bondPaid = events.find((e) => e.name === "BondPaid")!;
    const bondRecipient = outcome === Outcome.NoFault ? d.orchestrator : d.broadcaster;
    const pushed = bondRecipient !== lower(this.contractBroadcaster.address) || this.acceptsEther;
    expect(norm([...bondPaid.args]), "BondPaid").to.deep.equal(norm([target, bondRecipient, d.bond, pushed]));
    const slashed = events.find((e) => e.name === "TranscoderSlashed");
    if (outcome === Outcome.Fault)
      await this.checkSlash(slashed, d.orchestrator, d.broadcaster, ownBefore, pendingBefore);
    else expect(slashed, "no slash without a Fault").to.equal(undefined);
  }

  /** A slash took `faultSlashAmount` of the orchestrator's own settled stake and paid `finderFee` of it to the finder. */
  private async checkSlash(
    slashed: Parsed | undefined,
    orchestrator: string,
    finder: string,
    ownBefore: bigint,
    pendingBefore: bigint,
  ): Promise<void> {
    expect(slashed, "TranscoderSlashed").to.not.equal(undefined);
    const [who, paidTo, penalty, finderReward] = slashed!.args;
    expect(norm([who, paidTo]), "slashed and finder").to.deep.equal(norm([orchestrator, finder]));
    const after = await this.bm.getDelegator(orchestrator);
    const own = after.bondedAmount + penalty;
    expect(penalty, "penalty = own stake x faultSlashAmount").to.equal((own * this.faultSlash) / PERC);
    expect(finderReward, "finder's reward = penalty x finderFee").to.equal((penalty * this.finderFee) / PERC);
    expect(own, "slashed stake is the settled stake").to.be.gte(ownBefore);
    expect(own, "slashed stake is at most the pending stake").to.be.lte(pendingBefore);
    expect(await this.bm.isRegisteredTranscoder(orchestrator), "unregistered after a slash").to.equal(false);
    expect(await this.bm.isInPool(orchestrator), "out of the pool after a slash").to.equal(false);
  }

  private async proveEquivocation(): Promise<void> {
    const t = this.next();
    const finder = this.chance(0.5) ? this.pick(this.delegators) : this.pick(this.broadcasters);
    const orchestrator = this.pick(this.orchestrators);
    const seq = ++this.seq;
    let a = this.receipt(finder.address, orchestrator.address, seq, `equivocation-a-${seq}`);
    let b = { ...a, outputsHash: word(`equivocation-b-${seq}`) };
    let signerB = orchestrator.address;
    const roll = this.random();
    let expected: Expect = OK;
    if (roll < 0.15 && this.proven.length > 0) {
      ({ a, b } = this.pick(this.proven));
      signerB = b.orchestrator;
      const key = keccak256(
        coder.encode(
          ["address", "bytes32", "uint256", "bytes32", "bytes32"],
          [a.orchestrator, a.streamId, a.seq, a.sourceHash, a.profilesHash],
        ),
      );
      expected = reverts("EquivocationAlreadyProven", key);
    } else if (roll < 0.22) {
      const other = this.pick(this.orchestrators.filter((o) => o !== orchestrator));
      b = { ...b, orchestrator: other.address };
      signerB = other.address;
      expected = reverts("NotEquivocation", "orchestrators differ");
    } else if (roll < 0.29) {
      b = { ...b, seq: b.seq + 1n };
      expected = reverts("NotEquivocation", "different segments");
    } else if (roll < 0.36) {
      b = { ...b, deterministic: false };
      expected = reverts("NotEquivocation", "not deterministic");
    } else if (roll < 0.43) {
      b = { ...b, outputsHash: a.outputsHash };
      expected = reverts("NotEquivocation", "same outputs");
    } else if (roll < 0.5) {
      signerB = this.pick(this.orchestrators.filter((o) => o !== orchestrator)).address;
      expected = reverts("InvalidReceiptSignature", orchestrator.address);
    }
    if ("ok" in expected && !t.initialized) expected = reverts("CurrentRoundNotInitialized", t.round);
    const [ownBefore, pendingBefore] = await Promise.all([
      this.bm.getDelegator(a.orchestrator).then((x) => x.bondedAmount),
      this.bm.pendingStake(a.orchestrator, this.roundAt(this.head)),
    ]);
    const [sigA, sigB] = [this.sign(a), this.sign(b, signerB)];
    const events = await this.send(
      `${finder.name}.proveEquivocation(${this.nameOf(a.orchestrator)}, seq ${a.seq})`,
      () => this.dm.connect(finder.signer).proveEquivocation(a, sigA, b, sigB, GAS),
      expected,
    );
    if (events === undefined) return;
    this.proven.push({ a, b });
    await this.checkSlash(
      events.find((e) => e.name === "TranscoderSlashed"),
      lower(a.orchestrator),
      lower(finder.address),
      ownBefore,
      pendingBefore,
    );
  }

  /** The contract broadcaster refuses or accepts ETH, or someone collects a bond that could not be pushed. */
  private async payouts(): Promise<void> {
    const b2 = this.contractBroadcasterContract.connect(this.owner);
    if (this.chance(0.4)) {
      const accepts = !this.acceptsEther;
      await this.send(`B2.setAcceptsEther(${accepts})`, () => b2.setAcceptsEther(accepts, GAS), OK);
      this.acceptsEther = accepts;
      return;
    }
    if (this.chance(0.2)) {
      const who = this.pick([...this.broadcasters, ...this.orchestrators]);
      await this.send(
        `${who.name}.withdrawPayout`,
        () => this.dm.connect(who.signer).withdrawPayout(GAS),
        reverts("NothingToWithdraw", who.address),
      );
      return;
    }
    const owed = this.payoutsOwed.get(lower(this.contractBroadcaster.address)) ?? 0n;
    const expected =
      owed === 0n
        ? reverts("NothingToWithdraw", this.contractBroadcaster.address)
        : !this.acceptsEther
          ? reverts("PayoutFailed", this.contractBroadcaster.address, owed)
          : OK;
    await this.send(
      `B2.withdrawPayout(${owed})`,
      () => b2.execute(this.addresses.dm, this.dm.interface.encodeFunctionData("withdrawPayout"), GAS),
      expected,
    );
  }

  // ---- The invariants ----

  async check(): Promise<void> {
    const where = ` [step ${this.step}]`;
    const head = BigInt(await ethers.provider.getBlockNumber());
    expect(head, "the model's block count").to.equal(this.head);
    const round = this.roundAt(head);
    const initialized = this.lastInitialized === round;
    const bonders = this.bonders.map((b) => b.address);
    const names = this.bonders.map((b) => b.name);
    const holders = [
      await this.owner.getAddress(),
      ...bonders,
      ...this.verifierOnly.map((v) => v.address),
      ...this.broadcasters.map((b) => b.address),
      this.contractBroadcaster.address,
      FEE_SINK,
      this.addresses.minter,
      this.addresses.bm,
      this.addresses.tb,
      this.addresses.dm,
      this.addresses.rounds,
      this.s.record.contracts.Controller,
      this.s.record.contracts.ServiceRegistry,
    ];
    const unresolved = this.unresolved();
    // Disputes name orchestrators (whose keys sign receipts); only a contract can refuse a bond and be owed it.
    const accused = this.orchestrators.map((o) => o.address);
    const payees = [this.contractBroadcaster];

    // Everything is read in one call, at the head.
    const batch = new Batch(this.batcher);
    const on =
      (address: string, iface: Interface) =>
      <T>(method: string, ...args: unknown[]) =>
        batch.add<T>(address, iface, method, args);
    const [bm, tb, dm, token, minter, rounds] = (["bm", "tb", "dm", "token", "minter", "rounds"] as const).map((k) =>
      on(this.addresses[k], this.interfaceOf(k)),
    );
    const ethOf = (account: string) =>
      batch.add<bigint>(this.addresses.batcher, this.batcher.interface, "ethBalance", [account]);
    const q = {
      round: rounds<bigint>("currentRound"),
      supply: token<bigint>("totalSupply"),
      balances: holders.map((h) => token<bigint>("balanceOf", h)),
      totalBonded: bm<bigint>("getTotalBonded"),
      delegated: bonders.map((b) => bm<bigint>("transcoderTotalStake", b)),
      stakes: bonders.map((b) => bm<bigint>("pendingStake", b, round)),
      fees: bonders.map((b) => bm<bigint>("pendingFees", b, round)),
      delegators: bonders.map((b) => bm<Result>("getDelegator", b)),
      locks: this.bonders.flatMap((b) =>
        [...this.locksOf(b.address)].map(([lockId, lock]) => ({
          label: `${b.name} lock ${lockId}`,
          lock,
          chain: bm<Result>("getUnbondingLock", b.address, lockId),
        })),
      ),
      first: bm<string>("getFirstTranscoderInPool"),
      next: bonders.map((b) => bm<string>("getNextTranscoderInPool", b)),
      transcoders: bonders.map((b) =>
        bm<{ activationRound: bigint; deactivationRound: bigint; registered: boolean }>("getTranscoder", b),
      ),
      poolSize: bm<bigint>("getTranscoderPoolSize"),
      capacity: bm<bigint>("numActiveTranscoders"),
      nextStake: bm<bigint>("nextRoundTotalActiveStake"),
      currentPoolSize: bm<bigint>("currentRoundPoolSize"),
      mintable: minter<bigint>("currentMintableTokens"),
      minted: minter<bigint>("currentMintedTokens"),
      senders: this.senders.map((m) => tb<Result>("getSenderInfo", m.actor.address)),
      claims: this.senders.map((m) =>
        this.recipients.map((r) => tb<bigint>("claimedReserve", m.actor.address, r.address, round)),
      ),
      minterEth: ethOf(this.addresses.minter),
      sinkEth: ethOf(FEE_SINK),
      dmEth: ethOf(this.addresses.dm),
      verifiers: this.verifiers.map((v) => dm<Result>("getVerifier", v.address)),
      totalVerifierStake: dm<bigint>("totalVerifierStake"),
      disputeCount: dm<bigint>("disputeCount"),
      openAgainst: accused.map((o) => dm<bigint>("openDisputesAgainst", o)),
      disputes: unresolved.map((d) => dm<Result>("getDispute", d.id)),
      payouts: payees.map((a) => dm<bigint>("payouts", a.address)),
    };
    await batch.run();
    expect(q.round(), "the model's clock").to.equal(round);

    // ---- LPT ----
    const balances = q.balances.map((b) => b());
    const supply = q.supply();
    // Conservation: every LPT is held by someone the campaign knows, and supply moves only by rewards and burns.
    expect(sum(balances), `total supply == sum of balances${where}`).to.equal(supply);
    expect(supply, `supply == genesis + minted - burned${where}`).to.equal(this.supply0 + this.minted - this.burned);
    const minterLpt = balances[holders.indexOf(this.addresses.minter)];
    const dmLpt = balances[holders.indexOf(this.addresses.dm)];

    // ---- Bonding ----
    const books: BondingBooks = {
      totalBonded: q.totalBonded(),
      delegated: q.delegated.map((x) => x()),
      stakes: q.stakes.map((x) => x()),
      fees: q.fees.map((x) => x()),
      delegators: q.delegators.map((x) => {
        const d = x();
        return { bondedAmount: d.bondedAmount, fees: d.fees, delegateAddress: d.delegateAddress };
      }),
    };
    expectBondingBooks(books, names, this.feesCredited - this.feesWithdrawn, where);
    for (const [i, delegate] of bonders.entries()) {
      let delegated = 0n;
      for (const [j, d] of books.delegators.entries()) {
        if (lower(d.delegateAddress) === lower(delegate)) delegated += books.stakes[j];
      }
      expect(delegated, `stake of ${names[i]}'s delegators <= its transcoderTotalStake${where}`).to.be.lte(
        books.delegated[i],
      );
    }
    for (const [i, d] of books.delegators.entries()) {
      if (d.delegateAddress !== ZeroAddress) {
        expect(bonders.map(lower), `${names[i]} delegates to a known account${where}`).to.include(
          lower(d.delegateAddress),
        );
      }
    }
    let locked = 0n;
    for (const { label, lock, chain } of q.locks) {
      const [amount, withdrawRound] = chain();
      expect([amount, withdrawRound], `${label}${where}`).to.deep.equal([lock.amount, lock.withdrawRound]);
      locked += lock.amount;
    }
    expectLptCustody(minterLpt, books.totalBonded, locked, where);

    // ---- The pool ----
    const nextOf = new Map(bonders.map((b, i) => [lower(b), q.next[i]()]));
    const members: string[] = [];
    for (let member = q.first(); member !== ZeroAddress; member = nextOf.get(lower(member)) ?? ZeroAddress) {
      if (members.length > bonders.length) this.fail(`the pool's list does not end${where}`);
      members.push(member);
    }
    const indexOf = (address: string) => bonders.map(lower).indexOf(lower(address));
    for (const member of members) expect(indexOf(member), `pool member ${member} is known${where}`).to.be.gte(0);
    const stakes = members.map((m) => books.delegated[indexOf(m)]);
    expectDescending(members, stakes, where);
    const poolSize = q.poolSize();
    const currentPoolSize = q.currentPoolSize();
    expect(BigInt(members.length), `pool walk == getTranscoderPoolSize${where}`).to.equal(poolSize);
    expect(poolSize, `pool size <= numActiveTranscoders${where}`).to.be.lte(q.capacity());
    expect(sum(stakes), `nextRoundTotalActiveStake == the pool's stake${where}`).to.equal(q.nextStake());
    for (const [i, name] of names.entries()) {
      const member = members.some((m) => lower(m) === lower(bonders[i]));
      const registration = q.transcoders[i]();
      expect(registration.deactivationRound === IN_POOL, `${name} in the pool == walked into${where}`).to.equal(member);
      if (member) expect(registration.registered, `pool member ${name} is registered${where}`).to.equal(true);
    }
    if (initialized) {
      const active = q.transcoders.filter((tr) => this.isActive(tr(), round)).length;
      expect(BigInt(active), `active orchestrators == currentRoundPoolSize${where}`).to.equal(currentPoolSize);
    }
    expect(q.minted(), `minted this round <= mintable${where}`).to.be.lte(q.mintable());

    // ---- ETH: the broker's senders and the fees ----
    let held = 0n;
    for (const [i, m] of this.senders.entries()) {
      const [info, reserve] = q.senders[i]();
      expectSenderConservation(m.actor.name, m, info.deposit, reserve.fundsRemaining, where);
      held += info.deposit + reserve.fundsRemaining;
      const claims = q.claims[i].map((c) => c());
      expect(sum(claims), `${m.actor.name} claimedInCurrentRound${where}`).to.equal(reserve.claimedInCurrentRound);
      if (m.basisRound === round) {
        expectReserveSplit(`${m.actor.name} round ${round}`, claims, m.basis, currentPoolSize, where);
      } else {
        expect(sum(claims), `${m.actor.name} draws in round ${round} before the model saw it${where}`).to.equal(0n);
      }
    }
    expect(this.feesCredited, `fees credited == paid on tickets${where}`).to.equal(this.ticketsPaid);
    const minterEth = q.minterEth();
    expectMinterEth(minterEth - this.minterEth0, held, this.ticketsPaid, this.feesWithdrawn, where);
    expect(q.sinkEth() - this.sinkEth0, `fees withdrawn${where}`).to.equal(this.feesWithdrawn);
    expect(minterEth - this.minterEth0, `Minter ETH >= senders' funds + fees owed${where}`).to.be.gte(
      held + sum(books.fees),
    );

    // ---- The DisputeManager ----
    const verifierInfo = q.verifiers.map((v) => v());
    const registeredStake = sum(verifierInfo.filter((v) => v.unlockRound === 0n).map((v) => v.stake));
    expect(q.totalVerifierStake(), `totalVerifierStake == registered verifiers' stake${where}`).to.equal(
      registeredStake,
    );
    expect(dmLpt, `DisputeManager LPT == all verifiers' stake${where}`).to.equal(sum(verifierInfo.map((v) => v.stake)));
    for (const [i, v] of this.verifiers.entries()) {
      const duties = unresolved.filter((d) => d.drawn && d.members.includes(lower(v.address))).length;
      expect(verifierInfo[i].openDuties, `${v.name}'s open duties${where}`).to.equal(BigInt(duties));
    }
    expect(q.disputeCount(), `dispute count${where}`).to.equal(this.disputeCount);
    for (const [i, o] of accused.entries()) {
      expect(q.openAgainst[i](), `openDisputesAgainst(${this.nameOf(o)})${where}`).to.equal(
        this.openDisputesAgainst(o),
      );
    }
    for (const [i, d] of unresolved.entries()) {
      const info = q.disputes[i]();
      let fault = 0n;
      let noFault = 0n;
      for (const [j, member] of d.members.entries()) {
        if (d.revealed.get(member) === Vote.Fault) fault += d.weights[j];
        if (d.revealed.get(member) === Vote.NoFault) noFault += d.weights[j];
      }
      expect(
        norm([
          info.phase,
          info.seedBlock,
          info.commitEnd,
          info.revealEnd,
          info.reveals,
          info.faultStake,
          info.noFaultStake,
        ]),
        `dispute ${d.id}${where}`,
      ).to.deep.equal(
        norm([this.phaseAt(d, head), d.seedBlock, d.commitEnd, d.revealEnd, d.revealed.size, fault, noFault]),
      );
    }
    let owed = 0n;
    for (const [i, account] of payees.entries()) {
      const payout = this.payoutsOwed.get(lower(account.address)) ?? 0n;
      expect(q.payouts[i](), `payouts(${account.name})${where}`).to.equal(payout);
      owed += payout;
    }
    expect(q.dmEth(), `DisputeManager ETH == open bonds + payouts owed${where}`).to.equal(
      sum(unresolved.map((d) => d.bond)) + owed,
    );

    // ---- (d) Path independence: the twins against their exact earnings ----
    if (this.twinDelegate !== undefined) {
      const lookup = await this.twinLookup(round);
      const [c, h] = this.twins.map((twin) => this.bonders.indexOf(twin));
      expectTwinsExact(
        {
          claimer: { stake: books.stakes[c], fees: books.fees[c] },
          holder: { stake: books.stakes[h], fees: books.fees[h] },
        },
        this.exact.value(round, lookup),
        {
          claimer: this.twinBonds + this.twinClaims,
          holder: this.twinBonds,
          current: [...this.twinDelegates].map((d) => lookup(d, round)),
        },
        where,
      );
    }

    // ---- Nobody under dispute gets stake out of reach ----
    for (const [i, b] of this.bonders.entries()) {
      const key = lower(b.address);
      const own = books.delegators[i].bondedAmount;
      if (this.openDisputesAgainst(key) === 0n) {
        this.stakeUnderDispute.delete(key);
        continue;
      }
      const before = this.stakeUnderDispute.get(key);
      if (before !== undefined && !this.slashedSinceCheck.has(key)) {
        expect(own, `${b.name}'s own stake shrank while under dispute${where}`).to.be.gte(before);
      }
      this.stakeUnderDispute.set(key, own);
    }
    this.slashedSinceCheck.clear();
  }

  /** Runs one step: a weighted random action. */
  async runStep(actions: Weighted[]): Promise<void> {
    const weights = actions.map((a) => a.weight());
    let roll = this.random() * weights.reduce((x, y) => x + y, 0);
    let chosen = actions[actions.length - 1];
    for (const [i, a] of actions.entries()) {
      roll -= weights[i];
      if (roll < 0) {
        chosen = a;
        break;
      }
    }
    this.count(`step ${chosen.name}`);
    await chosen.run();
  }
}

describe("Invariant campaign (issue 9)", () => {
  it(`keeps every invariant over ${STEPS} random steps (seed ${SEED})`, async function () {
    this.timeout(Math.max(600_000, STEPS * 400));
    const { s, contractBroadcaster, batcher } = await loadFixture(campaignSuite);
    const signers = await ethers.getSigners();
    const campaign = new Campaign(s, contractBroadcaster, batcher, signers, SEED);
    const started = Date.now();
    let stepMs = 0;
    let checkMs = 0;
    try {
      await campaign.setUp();
      const actions = campaign.actions();
      for (campaign.step = 1; campaign.step <= STEPS; campaign.step++) {
        const t0 = Date.now();
        await campaign.runStep(actions);
        const t1 = Date.now();
        if (campaign.step % CHECK_EVERY === 0 || campaign.step === STEPS) await campaign.check();
        stepMs += t1 - t0;
        checkMs += Date.now() - t1;
      }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(
        `invariant campaign failed at step ${campaign.step} of ${STEPS} (seed ${SEED}; replay with ` +
          `INVARIANT_SEED=${SEED} INVARIANT_STEPS=${campaign.step}):\n  ${message}\n  last steps:\n    ${campaign.tail()}`,
        { cause: error },
      );
    }
    if (process.env.INVARIANT_SUMMARY === "1" || VERBOSE) {
      const byCall = new Map<string, string[]>();
      for (const [key, n] of [...campaign.counts.entries()].sort(([a], [b]) => a.localeCompare(b))) {
        const [call, outcome] = key.split(" ");
        byCall.set(call, [...(byCall.get(call) ?? []), `${outcome} ${n}`]);
      }
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      console.log(
        `    ${STEPS} steps in ${seconds} s (actions ${stepMs} ms, checks ${checkMs} ms), seed ${SEED}\n` +
          [...byCall.entries()].map(([call, outcomes]) => `      ${call}: ${outcomes.join(", ")}`).join("\n"),
      );
    }
  });
});
