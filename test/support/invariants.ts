/**
 * Invariants shared by the property tests (BondingManager, TicketBroker, the pool) and the invariant campaign
 * (test/contracts/Invariants.campaign.test.ts). Each takes what the chain says (and, where the chain cannot say it,
 * what the caller's model tracked) and fails with `where`, the caller's account of how it got there.
 */
import { expect } from "chai";
import { ZeroAddress } from "ethers";

import type { BondingManager } from "../../typechain-types";
import { type Factors, type Fraction, floorOf, roundingAllowance } from "./exactEarnings";

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32), so a failing sequence can be replayed. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function sum(values: bigint[]): bigint {
  return values.reduce((a, b) => a + b, 0n);
}

// ---- The pool ----

type PoolView = Pick<BondingManager, "getFirstTranscoderInPool" | "getNextTranscoderInPool" | "transcoderTotalStake">;

/** The pool's members, walked from the first (most stake) to the last. */
export async function poolOrder(bm: PoolView): Promise<string[]> {
  const order: string[] = [];
  for (let member = await bm.getFirstTranscoderInPool(); member !== ZeroAddress;) {
    order.push(member);
    member = await bm.getNextTranscoderInPool(member);
  }
  return order;
}

export async function stakesOf(bm: PoolView, members: string[]): Promise<bigint[]> {
  const stakes: bigint[] = [];
  for (const member of members) stakes.push(await bm.transcoderTotalStake(member));
  return stakes;
}

/** Asserts that `stakes`, those of the pool's members walked from the first, never increase. */
export function expectDescending(members: string[], stakes: bigint[], where = ""): void {
  for (let i = 1; i < stakes.length; i++) {
    expect(stakes[i], `member ${i} of ${members.length}${where}`).to.be.at.most(stakes[i - 1]);
  }
}

/** Asserts that, walked from the first member, every stake is at most the one before it. */
export async function expectPoolDescending(bm: PoolView, where = ""): Promise<{ members: string[]; stakes: bigint[] }> {
  const members = await poolOrder(bm);
  const stakes = await stakesOf(bm, members);
  expectDescending(members, stakes, where);
  return { members, stakes };
}

// ---- The BondingManager's books ----

type BondingView = Pick<
  BondingManager,
  "getTotalBonded" | "transcoderTotalStake" | "pendingStake" | "pendingFees" | "getDelegator"
>;

export interface BondingBooks {
  totalBonded: bigint;
  /** `transcoderTotalStake` of each account */
  delegated: bigint[];
  /** `pendingStake(account, round)` */
  stakes: bigint[];
  /** `pendingFees(account, round)` */
  fees: bigint[];
  /** `getDelegator(account)`: the settled books */
  delegators: { bondedAmount: bigint; fees: bigint; delegateAddress: string }[];
}

/** Everything the bonding invariants look at, for `accounts` in `round` (the current round). */
export async function readBondingBooks(bm: BondingView, accounts: string[], round: bigint): Promise<BondingBooks> {
  const [totalBonded, delegated, stakes, fees, delegators] = await Promise.all([
    bm.getTotalBonded(),
    Promise.all(accounts.map((a) => bm.transcoderTotalStake(a))),
    Promise.all(accounts.map((a) => bm.pendingStake(a, round))),
    Promise.all(accounts.map((a) => bm.pendingFees(a, round))),
    Promise.all(accounts.map((a) => bm.getDelegator(a))),
  ]);
  return {
    totalBonded,
    delegated,
    stakes,
    fees,
    delegators: delegators.map((d) => ({
      bondedAmount: d.bondedAmount,
      fees: d.fees,
      delegateAddress: d.delegateAddress,
    })),
  };
}

/**
 * The BondingManager's books agree with each other. `books` must cover every account anything is delegated to and
 * every account that delegates; `feesOwed` is the ETH credited as fees and not withdrawn yet.
 *  (a) total bonded is exactly the stake delegated to all delegates;
 *  - what has been settled is part of what is pending: the views never report less than the books;
 *  (b) nobody can claim more than is bonded or was credited.
 */
export function expectBondingBooks(books: BondingBooks, names: string[], feesOwed: bigint, where: string): void {
  expect(sum(books.delegated), `(a) sum of transcoderTotalStake ${where}`).to.equal(books.totalBonded);
  for (const [i, name] of names.entries()) {
    const settled = books.delegators[i];
    expect(books.stakes[i], `pendingStake(${name}) >= settled stake ${where}`).to.be.gte(settled.bondedAmount);
    expect(books.fees[i], `pendingFees(${name}) >= settled fees ${where}`).to.be.gte(settled.fees);
  }
  expect(sum(books.stakes), `(b) sum of pendingStake ${where}`).to.be.lte(books.totalBonded);
  expect(sum(books.fees), `(b) sum of pendingFees ${where}`).to.be.lte(feesOwed);
}

/** (c) The Minter holds exactly everything bonded plus everything waiting in unbonding locks. */
export function expectLptCustody(custody: bigint, totalBonded: bigint, locked: bigint, where: string): void {
  expect(custody, `(c) Minter LPT >= total bonded + unbonding locks ${where}`).to.be.gte(totalBonded + locked);
  expect(custody, `(c) Minter LPT == total bonded + unbonding locks ${where}`).to.equal(totalBonded + locked);
}

/**
 * (d) Path independence: two delegators with the same bonds at the same times, one of which (the claimer) also
 * settles at random points, against their exact earnings (`ExactDelegator.value`). Neither has more than the exact
 * value (rounding only ever favours the contract), and each is at most a few wei per settlement it went through below
 * it, so the twins agree whether or not one of them claims along the way. `settlements` counts each twin's
 * settlements (bonds, and the claimer's claims too); `current` holds the current factors of every delegate they used.
 */
export function expectTwinsExact(
  twins: { claimer: { stake: bigint; fees: bigint }; holder: { stake: bigint; fees: bigint } },
  ideal: { stake: Fraction; fees: Fraction },
  settlements: { claimer: bigint; holder: bigint; current: Factors[] },
  where: string,
): void {
  const [idealStake, idealFees] = [floorOf(ideal.stake), floorOf(ideal.fees)];
  const allowed = {
    claimer: roundingAllowance(settlements.claimer, settlements.current),
    holder: roundingAllowance(settlements.holder, settlements.current),
  };
  for (const who of ["claimer", "holder"] as const) {
    const { stake, fees } = twins[who];
    expect(stake, `(d) ${who}'s stake <= exact ${idealStake} ${where}`).to.be.lte(idealStake);
    expect(idealStake - stake, `(d) ${who}'s stake below exact ${where}`).to.be.lte(allowed[who].stake);
    expect(fees, `(d) ${who}'s fees <= exact ${idealFees} ${where}`).to.be.lte(idealFees);
    expect(idealFees - fees, `(d) ${who}'s fees below exact ${where}`).to.be.lte(allowed[who].fees);
  }
  const gap = (a: bigint, b: bigint) => (a > b ? a - b : b - a);
  const { claimer, holder } = twins;
  expect(gap(claimer.stake, holder.stake), `(d) twins' stakes agree ${where}`).to.be.lte(allowed.claimer.stake);
  expect(gap(claimer.fees, holder.fees), `(d) twins' fees agree ${where}`).to.be.lte(allowed.claimer.fees);
}

// ---- The TicketBroker's funds ----

/** What a model knows of a sender's ETH: funded through the broker, withdrawn from it, paid on its tickets. */
export interface SenderFlows {
  funded: bigint;
  withdrawn: bigint;
  paid: bigint;
}

/** (1) Per sender, on the chain's deposit and reserve: paid + withdrawn + deposit + reserve == funded. */
export function expectSenderConservation(
  label: string,
  flows: SenderFlows,
  deposit: bigint,
  reserve: bigint,
  where: string,
): void {
  expect(
    flows.paid + flows.withdrawn + deposit + reserve,
    `(1) ${label} paid + withdrawn + deposit + reserve == funded${where}`,
  ).to.equal(flows.funded);
}

/**
 * (2) The reserve split of one sender in one round: `claims[i]` is what recipient i drew this round; none draws more
 * than floor(basis / poolSize), and all together fit in the basis (the reserve before the round's first claim plus
 * the round's funding).
 */
export function expectReserveSplit(
  label: string,
  claims: bigint[],
  basis: bigint,
  poolSize: bigint,
  where: string,
): void {
  for (const [i, claimed] of claims.entries()) {
    const share = poolSize === 0n ? 0n : basis / poolSize;
    expect(claimed, `(2) ${label} recipient ${i} drew more than basis ${basis} / ${poolSize}${where}`).to.be.lte(share);
  }
  expect(sum(claims), `(2) ${label} draws exceed basis ${basis}${where}`).to.be.lte(basis);
}

/**
 * (1) totals: the ETH the Minter gained is the senders' funds still held, plus what was paid on tickets (credited
 * as fees), less the fees withdrawn.
 */
export function expectMinterEth(
  minterEthGained: bigint,
  held: bigint,
  paid: bigint,
  feesWithdrawn: bigint,
  where: string,
): void {
  expect(minterEthGained, `(1) Minter ETH == senders' funds + unwithdrawn fees${where}`).to.equal(
    held + paid - feesWithdrawn,
  );
}
