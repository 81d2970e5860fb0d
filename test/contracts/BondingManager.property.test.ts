import { expect } from "chai";
import { ethers } from "hardhat";
import { MaxUint256, parseEther } from "ethers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import fc from "fast-check";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";

import { callAs, suiteWithMockTicketBroker } from "../support/fixtures";
import { startNextRound } from "../support/chain";
import { ExactDelegator, type FactorLookup, type Factors, PRECISION } from "../support/exactEarnings";
import { expectBondingBooks, expectLptCustody, expectTwinsExact, readBondingBooks, sum } from "../support/invariants";

/**
 * Random multi-round histories of bonds, unbonds, rebonds, withdrawals, rewards, fee credits and claims against the
 * real suite. Every action is resolved against a TypeScript model so that only valid calls are sent: any revert fails
 * the property. After every round the BondingManager's books are checked against each other and against custody, and a
 * pair of twin delegators (same bonds, same orchestrator, same rounds; one claims at random points, the other never)
 * must end up with the same stake and fees up to rounding in the contract's favour.
 */

const PPM = 1_000_000n;
const WALLET = parseEther("400000");
const ETH_RESERVE = parseEther("1000");
/** Transactions of a round go in blocks start+1 .. start+LAST_TX_OFFSET, well before the round ends (20 blocks). */
const LAST_TX_OFFSET = 15n;
const MAX_ORCHESTRATORS = 3;
const MAX_DELEGATORS = 4;

// ---- Generated actions (indices are resolved modulo what exists when the action runs) ----

type Action =
  | { kind: "bond"; who: number; orch: number; amount: bigint; move: boolean; withAmount: boolean }
  | { kind: "unbond"; who: number; ppm: bigint; full: boolean }
  | { kind: "rebond"; who: number; lock: number }
  | { kind: "rebondFromUnbonded"; who: number; orch: number; lock: number }
  | { kind: "withdrawStake"; who: number; lock: number }
  | { kind: "withdrawFees"; who: number; ppm: bigint }
  | { kind: "claim"; who: number }
  | { kind: "reward"; orch: number }
  | { kind: "fees"; orch: number; amount: bigint }
  | { kind: "twinBond"; orch: number; amount: bigint; move: boolean }
  | { kind: "twinClaim" };

const lptArb = fc.oneof(
  { weight: 1, arbitrary: fc.bigInt({ min: 1n, max: 10n ** 6n }) },
  { weight: 4, arbitrary: fc.bigInt({ min: 10n ** 18n, max: parseEther("30000") }) },
);
const ethArb = fc.oneof(
  { weight: 1, arbitrary: fc.bigInt({ min: 1n, max: 10n ** 6n }) },
  { weight: 4, arbitrary: fc.bigInt({ min: 10n ** 15n, max: parseEther("1") }) },
);
const whoArb = fc.nat({ max: MAX_ORCHESTRATORS + MAX_DELEGATORS - 1 });
const orchArb = fc.nat({ max: MAX_ORCHESTRATORS - 1 });
const lockArb = fc.nat({ max: 7 });

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("bond" as const),
      who: whoArb,
      orch: orchArb,
      amount: lptArb,
      move: fc.boolean(),
      withAmount: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("unbond" as const),
      who: whoArb,
      ppm: fc.bigInt({ min: 1n, max: PPM - 1n }),
      full: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("rebond" as const), who: whoArb, lock: lockArb }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("rebondFromUnbonded" as const),
      who: whoArb,
      orch: orchArb,
      lock: lockArb,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("withdrawStake" as const), who: whoArb, lock: lockArb }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("withdrawFees" as const),
      who: whoArb,
      ppm: fc.bigInt({ min: 1n, max: PPM }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("claim" as const), who: whoArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("reward" as const), orch: orchArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("fees" as const), orch: orchArb, amount: ethArb }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("twinBond" as const),
      orch: orchArb,
      amount: lptArb,
      move: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: "twinClaim" as const }) },
);

const orchestratorArb = fc.record({
  rewardCut: fc.bigInt({ min: 0n, max: PPM }),
  feeShare: fc.bigInt({ min: 0n, max: PPM }),
  selfBond: fc.bigInt({ min: parseEther("1000"), max: parseEther("100000") }),
});

const scenarioArb = fc.record({
  orchestrators: fc.array(orchestratorArb, { minLength: 2, maxLength: MAX_ORCHESTRATORS }),
  delegators: fc.integer({ min: 3, max: MAX_DELEGATORS }),
  rounds: fc.array(fc.array(actionArb, { minLength: 3, maxLength: 10 }), { minLength: 3, maxLength: 8 }),
});

// ---- The model ----

interface Lock {
  amount: bigint;
  withdrawRound: bigint;
}

interface Account {
  signer: HardhatEthersSigner;
  address: string;
  /** LPT held outside the protocol. */
  wallet: bigint;
  /** Current delegate, null while unbonded. */
  delegate: string | null;
  /** Live unbonding locks by id. */
  locks: Map<number, Lock>;
  nextLockId: number;
}

async function fundedSuite() {
  const s = await suiteWithMockTicketBroker();
  const signers = await ethers.getSigners();
  const spender = await s.bondingManager.getAddress();
  for (const account of signers.slice(1, 1 + MAX_ORCHESTRATORS + MAX_DELEGATORS + 2)) {
    await s.token.transfer(account.address, WALLET);
    await s.token.connect(account).approve(spender, MaxUint256);
  }
  // ETH for every fee credit of a run, held by the Minter as the TicketBroker would leave it.
  await callAs(s.ticketBroker, s.minter, "depositETH", [], ETH_RESERVE);
  return { s, signers };
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

describe("BondingManager (property: accounting over random multi-round histories)", () => {
  it("keeps total bonded, stakes, fees and custody consistent, and claims path-independent", async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (scenario) => {
        const { s, signers } = await loadFixture(fundedSuite);
        const bm = s.bondingManager;
        const minterAddress = await s.minter.getAddress();
        const unbondingPeriod = await bm.unbondingPeriod();
        const feeSink = signers[1 + MAX_ORCHESTRATORS + MAX_DELEGATORS + 2];
        const sinkStart = await ethers.provider.getBalance(feeSink.address);

        const account = (signer: HardhatEthersSigner): Account => ({
          signer,
          address: signer.address,
          wallet: WALLET,
          delegate: null,
          locks: new Map(),
          nextLockId: 0,
        });
        const nO = scenario.orchestrators.length;
        const orchestrators = signers.slice(1, 1 + nO).map(account);
        const delegators = signers
          .slice(1 + MAX_ORCHESTRATORS, 1 + MAX_ORCHESTRATORS + scenario.delegators)
          .map(account);
        const stakers = [...orchestrators, ...delegators];
        const claimer = account(signers[1 + MAX_ORCHESTRATORS + MAX_DELEGATORS]);
        const holder = account(signers[2 + MAX_ORCHESTRATORS + MAX_DELEGATORS]);
        const everyone = [...stakers, claimer, holder];
        const isOrchestrator = (a: Account) => orchestrators.includes(a);

        let ethCredited = 0n;
        let ethWithdrawn = 0n;
        let twinClaims = 0n;
        let twinBonds = 0n;
        const exact = new ExactDelegator();
        /** Earnings pools of past rounds (final), by `delegate:round`; null where none was written. */
        const pastPools = new Map<string, Factors | null>();
        let round = 0n;
        let roundStart = 0n;
        let activationRound = 0n;
        const rewarded = new Set<string>();
        const log: string[] = [];

        const nextRound = async () => {
          await startNextRound(s.rounds);
          round = await s.rounds.currentRound();
          roundStart = await s.rounds.currentRoundStartBlock();
          rewarded.clear();
        };
        /** Whether `txs` more transactions fit in this round's transaction window. */
        const fits = async (txs: number) =>
          BigInt(await ethers.provider.getBlockNumber()) + BigInt(txs) <= roundStart + LAST_TX_OFFSET;
        const as = (a: Account) => bm.connect(a.signer);
        const send = async (label: string, tx: Promise<{ wait(): Promise<unknown> }>) => {
          log.push(`r${round}: ${label}`);
          await (await tx).wait();
        };
        const name = (a: Account) => {
          if (a === claimer) return "twinClaimer";
          if (a === holder) return "twinHolder";
          const o = orchestrators.indexOf(a);
          return o >= 0 ? `O${o}` : `D${delegators.indexOf(a)}`;
        };
        const lockIds = (a: Account, filter: (l: Lock) => boolean = () => true) =>
          [...a.locks.entries()].filter(([, l]) => filter(l)).map(([id]) => id);

        /** Reads every orchestrator's earnings pools up to the current round (past ones once). */
        const factorLookup = async (): Promise<FactorLookup> => {
          const table = new Map<string, Factors | null>();
          await Promise.all(
            orchestrators.flatMap((o) =>
              Array.from({ length: Number(round) + 1 }, async (_, i) => {
                const key = `${o.address}:${i}`;
                let pool = pastPools.get(key);
                if (pool === undefined) {
                  const p = await bm.getTranscoderEarningsPoolForRound(o.address, i);
                  pool =
                    p.cumulativeRewardFactor === 0n
                      ? null
                      : { rewardFactor: p.cumulativeRewardFactor, feeFactor: p.cumulativeFeeFactor };
                  if (BigInt(i) < round) pastPools.set(key, pool);
                }
                table.set(key, pool);
              }),
            ),
          );
          return (delegate, at) => {
            for (let i = at; i >= 0n; i--) {
              const pool = table.get(`${delegate}:${i}`);
              if (pool) return pool;
            }
            return { rewardFactor: PRECISION, feeFactor: 0n };
          };
        };

        /** The `who`-th staker (cyclically) among those the action applies to. */
        const pick = (who: number, applies: (a: Account) => boolean) => {
          const candidates = stakers.filter(applies);
          return candidates.length === 0 ? undefined : candidates[who % candidates.length];
        };

        const bond = async (a: Account, amount: bigint, to: Account) => {
          await send(`${name(a)}.bond(${amount}, ${name(to)})`, as(a).bond(amount, to.address));
          a.wallet -= amount;
          a.delegate = to.address;
        };
        const unbond = async (a: Account, amount: bigint, full: boolean) => {
          await send(`${name(a)}.unbond(${amount})${full ? " [full]" : ""}`, as(a).unbond(amount));
          a.locks.set(a.nextLockId++, { amount, withdrawRound: round + unbondingPeriod });
          if (full) a.delegate = null;
        };
        const claim = async (a: Account) => {
          await send(`${name(a)}.claimEarnings(${round})`, as(a).claimEarnings(round));
        };

        const run = async (action: Action) => {
          switch (action.kind) {
            case "bond": {
              const a = stakers[action.who % stakers.length];
              if (isOrchestrator(a)) {
                const amount = min(action.amount, a.wallet);
                if (amount > 0n && (await fits(1))) await bond(a, amount, a);
                return;
              }
              const to = orchestrators[action.orch % nO];
              if (a.delegate === null) {
                const amount = min(action.amount, a.wallet);
                if (amount > 0n && (await fits(1))) await bond(a, amount, to);
              } else if (action.move && a.delegate !== to.address) {
                const amount = action.withAmount ? min(action.amount, a.wallet) : 0n;
                if (await fits(1)) await bond(a, amount, to);
              } else {
                const amount = min(action.amount, a.wallet);
                const current = orchestrators.find((o) => o.address === a.delegate)!;
                if (amount > 0n && (await fits(1))) await bond(a, amount, current);
              }
              return;
            }
            case "unbond": {
              const a = stakers[action.who % stakers.length];
              if (a.delegate === null) return;
              if (action.full && !isOrchestrator(a)) {
                if (!(await fits(2))) return;
                // Settle first so the whole stake is known exactly, then unbond all of it.
                await claim(a);
                const { bondedAmount } = await bm.getDelegator(a.address);
                await unbond(a, bondedAmount, true);
                return;
              }
              // The last settled stake never exceeds what the next settlement finds, so this is a partial unbond.
              const { bondedAmount } = await bm.getDelegator(a.address);
              const amount = (bondedAmount * action.ppm) / PPM;
              if (amount > 0n && (await fits(1))) await unbond(a, amount, false);
              return;
            }
            case "rebond": {
              const a = pick(action.who, (x) => x.delegate !== null && x.locks.size > 0);
              if (a === undefined || !(await fits(1))) return;
              const ids = lockIds(a);
              const id = ids[action.lock % ids.length];
              await send(`${name(a)}.rebond(${id})`, as(a).rebond(id));
              a.locks.delete(id);
              return;
            }
            case "rebondFromUnbonded": {
              const a = pick(action.who, (x) => x.delegate === null && x.locks.size > 0);
              if (a === undefined || !(await fits(1))) return;
              const ids = lockIds(a);
              const id = ids[action.lock % ids.length];
              const to = orchestrators[action.orch % nO];
              await send(`${name(a)}.rebondFromUnbonded(${name(to)}, ${id})`, as(a).rebondFromUnbonded(to.address, id));
              a.locks.delete(id);
              a.delegate = to.address;
              return;
            }
            case "withdrawStake": {
              const withdrawable = (l: Lock) => l.withdrawRound <= round;
              const a = pick(action.who, (x) => lockIds(x, withdrawable).length > 0);
              if (a === undefined || !(await fits(1))) return;
              const ids = lockIds(a, withdrawable);
              const id = ids[action.lock % ids.length];
              await send(`${name(a)}.withdrawStake(${id})`, as(a).withdrawStake(id));
              a.wallet += a.locks.get(id)!.amount;
              a.locks.delete(id);
              return;
            }
            case "withdrawFees": {
              const a = stakers[action.who % stakers.length];
              // Settled fees only grow at the next settlement, so this much is always available.
              const { fees } = await bm.getDelegator(a.address);
              const amount = (fees * action.ppm) / PPM;
              if (amount === 0n || !(await fits(1))) return;
              await send(`${name(a)}.withdrawFees(${amount})`, as(a).withdrawFees(feeSink.address, amount));
              ethWithdrawn += amount;
              return;
            }
            case "claim": {
              const a = stakers[action.who % stakers.length];
              if (await fits(1)) await claim(a);
              return;
            }
            case "reward": {
              const o = orchestrators[action.orch % nO];
              if (round < activationRound || rewarded.has(o.address) || !(await fits(1))) return;
              await send(`${name(o)}.reward()`, as(o).reward());
              rewarded.add(o.address);
              return;
            }
            case "fees": {
              const o = orchestrators[action.orch % nO];
              if (round < activationRound || !(await fits(1))) return;
              await send(
                `credit ${action.amount} wei to ${name(o)}`,
                callAs(s.ticketBroker, bm, "updateTranscoderWithFees", [o.address, action.amount, round]),
              );
              ethCredited += action.amount;
              return;
            }
            case "twinBond": {
              const to = orchestrators[action.orch % nO];
              const moving = claimer.delegate !== null && claimer.delegate !== to.address && action.move;
              const target =
                claimer.delegate === null || moving ? to : orchestrators.find((o) => o.address === claimer.delegate)!;
              const amount = min(action.amount, claimer.wallet);
              if ((amount === 0n && !moving) || !(await fits(2))) return;
              if (moving) exact.move(target.address, amount, round, await factorLookup());
              else exact.bond(target.address, amount, round);
              await bond(claimer, amount, target);
              await bond(holder, amount, target);
              twinBonds += 1n;
              return;
            }
            case "twinClaim": {
              if (claimer.delegate === null || !(await fits(1))) return;
              await claim(claimer);
              twinClaims += 1n;
              return;
            }
          }
        };

        const check = async () => {
          const where = `after round ${round}:\n  ${log.join("\n  ")}\n`;
          const addresses = everyone.map((a) => a.address);
          const [books, custody, wallets, chainLocks] = await Promise.all([
            readBondingBooks(bm, addresses, round),
            s.token.balanceOf(minterAddress),
            Promise.all(addresses.map((a) => s.token.balanceOf(a))),
            Promise.all(
              everyone.flatMap((a) => lockIds(a).map((id) => bm.getUnbondingLock(a.address, id).then((l) => l.amount))),
            ),
          ]);
          const { stakes, fees } = books;
          const locked = sum(everyone.flatMap((a) => [...a.locks.values()].map((l) => l.amount)));

          // The model agrees with the chain on wallets and live locks.
          expect(wallets, `wallets ${where}`).to.deep.equal(everyone.map((a) => a.wallet));
          expect(chainLocks, `locks ${where}`).to.deep.equal(
            everyone.flatMap((a) => [...a.locks.values()].map((l) => l.amount)),
          );
          // (a) total bonded is exactly the stake delegated to all delegates; settled books never exceed the views;
          // (b) nobody can claim more than is bonded or was credited.
          expectBondingBooks(books, everyone.map(name), ethCredited - ethWithdrawn, where);
          expect((await ethers.provider.getBalance(feeSink.address)) - sinkStart, `fees paid ${where}`).to.equal(
            ethWithdrawn,
          );
          // (c) custody covers everything bonded plus everything waiting in unbonding locks (exactly, in fact).
          expectLptCustody(custody, books.totalBonded, locked, where);
          // (d) path independence: neither twin has more than its exact earnings (rounding only ever favours the
          // contract), and each is at most a few wei (per settlement it went through) below them, so the twins agree
          // whether or not one of them claims along the way.
          const factorsAt = await factorLookup();
          const c = everyone.indexOf(claimer);
          const h = everyone.indexOf(holder);
          expectTwinsExact(
            { claimer: { stake: stakes[c], fees: fees[c] }, holder: { stake: stakes[h], fees: fees[h] } },
            exact.value(round, factorsAt),
            {
              claimer: twinBonds + twinClaims,
              holder: twinBonds,
              current: orchestrators.map((o) => factorsAt(o.address, round)),
            },
            where,
          );
        };

        // Setup round: orchestrators bond to themselves and register (outside the round lock), active next round.
        await nextRound();
        activationRound = round + 1n;
        for (const [i, o] of orchestrators.entries()) {
          const { rewardCut, feeShare, selfBond } = scenario.orchestrators[i];
          await bond(o, selfBond, o);
          await send(`${name(o)}.transcoder(${rewardCut}, ${feeShare})`, as(o).transcoder(rewardCut, feeShare));
        }
        for (const [i, actions] of scenario.rounds.entries()) {
          if (i > 0) await nextRound();
          for (const action of actions) await run(action);
          await check();
        }
      }),
      { numRuns: 12 },
    );
  });
});
