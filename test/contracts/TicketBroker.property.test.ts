import { expect } from "chai";
import { ethers } from "hardhat";
import { MaxUint256, Wallet, getAddress, id, parseEther, toBeHex } from "ethers";
import type { ContractTransactionReceipt, Interface } from "ethers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import fc from "fast-check";
import { loadFixture, setBalance } from "@nomicfoundation/hardhat-network-helpers";

import { deployedSuite } from "../support/fixtures";
import { startNextRound } from "../support/chain";
import { expectMinterEth, expectReserveSplit, expectSenderConservation, sum } from "../support/invariants";
import {
  MAX_WIN_PROB,
  type SignedTicket,
  TicketHasher,
  TicketRecipient,
  TicketSender,
  isWinningTicket,
  reserveAllowance,
} from "../../offchain/pm";

/**
 * Random histories of funding, redemptions (single, batched and replayed), unlocks, withdrawals, fee withdrawals and
 * round changes against the real suite, with three active orchestrators (self-stake only, feeShare 0, so every fee
 * credited to one is its own) and three senders. Each step is predicted by a TypeScript model (success with the exact
 * amount, or the exact custom error), and after each step the broker's books, the BondingManager's fees and the ETH
 * held by the Minter and by every account are checked against the model:
 *   1. conservation: per sender, paid + withdrawn + deposit + reserve == funded; total paid == growth of the
 *      recipients' fees; Minter ETH == senders' funds + fees credited and not withdrawn;
 *   2. the reserve split: no recipient draws more than floor(basis / poolSize) of a sender's reserve in a round, where
 *      basis is the reserve before the round's first claim plus the round's funding, and all draws of a round fit in
 *      the basis;
 *   3. a failing redemption changes nothing (the ticket stays unused, and can pay later) and NothingToPay happens
 *      exactly when the model has nothing to pay (failures include tickets submitted by someone other than their
 *      recipient, replays, expired tickets, senders past their unlock and a recipient that is not an orchestrator);
 *   4. the amount paid is min(faceValue, deposit + allowance).
 */

const POOL = 3n;
/** Recipients 0-2 are the orchestrators; recipient 3 is an account that never registered. */
const OUTSIDER = 3;
const N_SENDERS = 3;
const SELF_STAKE = parseEther("1000");
const SENDER_ETH = parseEther("1000000");
const EXPIRATION_BLOCK = 1_000_000_000n;
const PPM = 1_000_000n;
/** Transactions of a round go in blocks start+1 .. start+LAST_TX_OFFSET, well before the round ends (20 blocks). */
const LAST_TX_OFFSET = 15n;
const DOMAIN_CHAIN_ID = 31337n;

const SENDER_KEYS = Array.from({ length: N_SENDERS }, (_, i) => id(`streamflow ticket broker property sender ${i}`));
const RECIPIENT_SECRET = (i: number) => new Uint8Array(32).fill(0x40 + i);
const FEE_SINK = getAddress("0x00000000000000000000000000000000fee5f00d");

// ---- Generated actions (indices are resolved when the action runs) ----

/** A face value: absolute, a fraction of the sender's funds, or at/next to a boundary of what it can pay. */
type Face =
  { mode: "abs"; value: bigint } | { mode: "ratio"; ppm: bigint } | { mode: "edge"; at: 0 | 1 | 2; delta: bigint };

interface TicketSpec {
  who: number;
  to: number;
  face: Face;
}

type Action =
  | { kind: "fund"; who: number; what: "deposit" | "reserve" | "both"; amount: bigint; ppm: bigint; mismatch: boolean }
  /** `byOther`: submitted by an account that is not the recipient (CallerNotRecipient). */
  | ({ kind: "redeem"; byOther: boolean } & TicketSpec)
  /** Submitted by recipient `caller`; a ticket that is not `mine` goes to recipient `to`, whoever that is. */
  | { kind: "batch"; caller: number; tickets: (TicketSpec & { mine: boolean })[]; duplicate: boolean }
  | { kind: "replay"; pick: number; byOther: boolean }
  /** `aimed`: the sender is picked among those the call can succeed for (when any), else `who` as is. */
  | { kind: "unlock" | "cancelUnlock" | "withdraw"; who: number; aimed: boolean }
  | { kind: "withdrawFees"; orch: number; ppm: bigint }
  | { kind: "advance"; rounds: number };

const weiArb = fc.oneof(
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 1000n }) },
  { weight: 2, arbitrary: fc.bigInt({ min: 10n ** 9n, max: 10n ** 17n }) },
  { weight: 3, arbitrary: fc.bigInt({ min: 10n ** 17n, max: parseEther("50") }) },
);
const faceArb: fc.Arbitrary<Face> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ mode: fc.constant("abs" as const), value: weiArb }) },
  {
    weight: 1,
    arbitrary: fc.record({ mode: fc.constant("abs" as const), value: fc.constantFrom(MaxUint256, 1n << 112n) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ mode: fc.constant("ratio" as const), ppm: fc.bigInt({ min: 0n, max: 2n * PPM }) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      mode: fc.constant("edge" as const),
      at: fc.constantFrom(0 as const, 1 as const, 2 as const),
      delta: fc.constantFrom(-1n, 0n, 1n),
    }),
  },
);
const senderArb = fc.nat({ max: N_SENDERS - 1 });
const recipientArb = fc.oneof(
  { weight: 6, arbitrary: fc.nat({ max: 2 }) },
  { weight: 1, arbitrary: fc.constant(OUTSIDER) },
);
const rarely = fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) });

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("fund" as const),
      who: senderArb,
      what: fc.constantFrom("deposit" as const, "reserve" as const, "both" as const),
      amount: weiArb,
      ppm: fc.bigInt({ min: 0n, max: PPM }),
      mismatch: rarely,
    }),
  },
  {
    weight: 7,
    arbitrary: fc.record({
      kind: fc.constant("redeem" as const),
      who: senderArb,
      to: recipientArb,
      face: faceArb,
      byOther: rarely,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("batch" as const),
      caller: recipientArb,
      tickets: fc.array(
        fc.record({
          who: senderArb,
          to: recipientArb,
          face: faceArb,
          mine: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
        }),
        { minLength: 1, maxLength: 3 },
      ),
      duplicate: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("replay" as const), pick: fc.nat({ max: 1000 }), byOther: rarely }),
  },
  ...(
    [
      ["unlock", 3],
      ["cancelUnlock", 1],
      ["withdraw", 4],
    ] as const
  ).map(([kind, weight]) => ({
    weight,
    arbitrary: fc.record({
      kind: fc.constant(kind),
      who: senderArb,
      aimed: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    }),
  })),
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("withdrawFees" as const),
      orch: fc.nat({ max: 2 }),
      ppm: fc.bigInt({ min: 1n, max: PPM }),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({ kind: fc.constant("advance" as const), rounds: fc.integer({ min: 1, max: 3 }) }),
  },
);

const scenarioArb = fc.record({
  /** Each sender's opening deposit and reserve (either may be zero). */
  initial: fc.array(
    fc.tuple(
      fc.oneof({ weight: 1, arbitrary: fc.constant(0n) }, { weight: 3, arbitrary: weiArb }),
      fc.oneof({ weight: 1, arbitrary: fc.constant(0n) }, { weight: 3, arbitrary: weiArb }),
    ),
    { minLength: N_SENDERS, maxLength: N_SENDERS },
  ),
  actions: fc.array(actionArb, { minLength: 10, maxLength: 25 }),
});

// ---- Fixture: three active orchestrators, three funded senders with known keys ----

async function ticketSuite() {
  const s = await deployedSuite();
  const signers = await ethers.getSigners();
  /** Never a recipient: submits tickets that are not its own. */
  const stranger = signers[0];
  const orchestrators = signers.slice(1, 4);
  const outsider = signers[4];
  const bmAddress = await s.bondingManager.getAddress();
  await startNextRound(s.rounds);
  for (const o of orchestrators) {
    await (await s.token.transfer(o.address, SELF_STAKE)).wait();
    await (await s.token.connect(o).approve(bmAddress, MaxUint256)).wait();
    await (await s.bondingManager.connect(o).bond(SELF_STAKE, o.address)).wait();
    // feeShare 0: every fee credited to an orchestrator is its own, exactly.
    await (await s.bondingManager.connect(o).transcoder(0n, 0n)).wait();
  }
  const senders = SENDER_KEYS.map((key) => new Wallet(key, ethers.provider));
  for (const w of senders) await setBalance(w.address, SENDER_ETH);
  await startNextRound(s.rounds);
  return { s, stranger, orchestrators, outsider, senders };
}

// ---- The model ----

interface SenderModel {
  wallet: Wallet;
  address: string;
  tickets: TicketSender;
  deposit: bigint;
  reserve: bigint;
  withdrawRound: bigint;
  /** The reserve as it stood before this round's claims, plus this round's funding: what the round's split is of. */
  basis: bigint;
  /** Reserve drawn per round, per recipient. */
  claims: Map<bigint, bigint[]>;
  funded: bigint;
  withdrawn: bigint;
  /** Sum of `amount` in this sender's WinningTicketRedeemed events. */
  paid: bigint;
  /** Expected ETH balance of the sender's wallet (funding and gas out, withdrawals in). */
  eth: bigint;
}

interface TicketRecord {
  label: string;
  signed: SignedTicket;
  rand: bigint;
  hash: string;
  si: number;
  ri: number;
  face: bigint;
  creationRound: bigint;
  used: boolean;
}

type Expected =
  | { ok: true; amount: bigint; fromDeposit: bigint; fromReserve: bigint }
  | { ok: false; on: "broker" | "bm"; name: string; args: unknown[] };

interface LogEntry {
  name: string;
  args: unknown[];
}

const min = (a: bigint, b: bigint) => (a < b ? a : b);
/** Addresses and hashes compared case-insensitively, numbers as bigints. */
const norm = (values: readonly unknown[]): unknown[] =>
  values.map((v) => (typeof v === "string" ? v.toLowerCase() : typeof v === "number" ? BigInt(v) : v));

function describeAction(a: Action): string {
  return JSON.stringify(a, (_, v) => (typeof v === "bigint" ? v.toString() : v));
}

describe("TicketBroker (property: payments, reserve split and custody over random histories)", () => {
  it("pays min(faceValue, deposit + allowance), never more than funded, and keeps every account's books", async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async ({ initial, actions }) => {
        const { s, stranger, orchestrators, outsider, senders: wallets } = await loadFixture(ticketSuite);
        const broker = s.ticketBroker;
        const bm = s.bondingManager;
        const brokerAddress = await broker.getAddress();
        const minterAddress = await s.minter.getAddress();
        const validity = await broker.ticketValidityPeriod();
        const unlockPeriod = await broker.unlockPeriod();
        expect([validity, unlockPeriod]).to.deep.equal([2n, 2n]);

        const domain = { chainId: DOMAIN_CHAIN_ID, verifyingContract: brokerAddress };
        const hasher = new TicketHasher(domain);
        const recipientSigners = [...orchestrators, outsider];
        const recipientAddresses = recipientSigners.map((r) => r.address);
        const recipients = recipientAddresses.map(
          (address, i) =>
            new TicketRecipient({ address, secret: RECIPIENT_SECRET(i), domain, ticketValidityPeriod: validity }),
        );
        const senders: SenderModel[] = await Promise.all(
          wallets.map(async (wallet, i) => ({
            wallet,
            address: wallet.address,
            tickets: new TicketSender({ privateKey: SENDER_KEYS[i], domain }),
            deposit: 0n,
            reserve: 0n,
            withdrawRound: 0n,
            basis: 0n,
            claims: new Map<bigint, bigint[]>(),
            funded: 0n,
            withdrawn: 0n,
            paid: 0n,
            eth: await ethers.provider.getBalance(wallet.address),
          })),
        );
        const paidTo = recipientAddresses.map(() => 0n);
        const feesWithdrawn = orchestrators.map(() => 0n);
        const minter0 = await ethers.provider.getBalance(minterAddress);
        const sink0 = await ethers.provider.getBalance(FEE_SINK);
        const tickets: TicketRecord[] = [];
        const log: string[] = [];
        let seedCounter = 0n;

        let round = await s.rounds.currentRound();
        let roundStart = await s.rounds.currentRoundStartBlock();
        let blockHash = await s.rounds.blockHashForRound(round);
        expect(await bm.currentRoundPoolSize()).to.equal(POOL);
        const fees0 = await Promise.all(orchestrators.map((o) => bm.pendingFees(o.address, round)));

        const where = () => `\n  ${log.join("\n  ")}\n`;
        const claimsOf = (m: SenderModel, r: bigint) => {
          let c = m.claims.get(r);
          if (c === undefined) {
            c = recipientAddresses.map(() => 0n);
            m.claims.set(r, c);
          }
          return c;
        };
        const pastUnlock = (m: SenderModel) => m.withdrawRound !== 0n && round >= m.withdrawRound;
        /** floor(basis / poolSize) less what the recipient drew this round, at most the reserve left. */
        const allowance = (m: SenderModel, ri: number) => {
          const share = m.basis / POOL;
          const claimed = claimsOf(m, round)[ri];
          return share > claimed ? min(share - claimed, m.reserve) : 0n;
        };

        const nextRound = async () => {
          await startNextRound(s.rounds);
          const r = await s.rounds.currentRound();
          expect(r, `round after ${round}${where()}`).to.equal(round + 1n);
          round = r;
          roundStart = await s.rounds.currentRoundStartBlock();
          blockHash = await s.rounds.blockHashForRound(round);
          for (const m of senders) m.basis = m.reserve;
          log.push(`-- round ${round}`);
          expect(await bm.currentRoundPoolSize(), `pool size${where()}`).to.equal(POOL);
        };
        /** Starts the next round when the next transaction would not fit in this round's window. */
        const ensureWindow = async () => {
          if (BigInt(await ethers.provider.getBlockNumber()) + 1n > roundStart + LAST_TX_OFFSET) await nextRound();
        };
        const brokerEvents = (rc: ContractTransactionReceipt | null): LogEntry[] => {
          expect(rc).to.not.equal(null);
          return rc!.logs
            .filter((l) => l.address.toLowerCase() === brokerAddress.toLowerCase())
            .map((l) => {
              const parsed = broker.interface.parseLog(l)!;
              return { name: parsed.name, args: [...parsed.args] };
            });
        };
        const expectEvents = (actual: LogEntry[], expected: LogEntry[], what: string) => {
          expect(
            actual.map((e) => [e.name, ...norm(e.args)]),
            `${what} events${where()}`,
          ).to.deep.equal(expected.map((e) => [e.name, ...norm(e.args)]));
        };
        /** Sends a sender's transaction that the model says succeeds, and charges its value and gas to the model. */
        const sendAsSender = async (
          m: SenderModel,
          value: bigint,
          tx: Promise<{ wait(): Promise<ContractTransactionReceipt | null> }>,
        ) => {
          const rc = await (await tx).wait();
          m.eth -= value + rc!.fee;
          return rc;
        };
        const expectRevert = async (call: Promise<unknown>, on: "broker" | "bm", name: string, args: unknown[]) => {
          await expect(call, `${name}${where()}`)
            .to.be.revertedWithCustomError(on === "broker" ? broker : bm, name)
            .withArgs(...args);
        };

        // ---- Tickets ----

        const resolveFace = (spec: TicketSpec): bigint => {
          const m = senders[spec.who];
          const f = spec.face;
          if (f.mode === "abs") return f.value;
          if (f.mode === "ratio") return ((m.deposit + m.reserve) * f.ppm) / PPM;
          const payable = m.deposit + (pastUnlock(m) ? 0n : allowance(m, spec.to));
          const base = [m.deposit, payable, m.deposit + m.reserve][f.at] + f.delta;
          return base < 0n ? 0n : base;
        };
        const newTicket = (spec: TicketSpec): TicketRecord => {
          const m = senders[spec.who];
          const face = resolveFace(spec);
          const seed = toBeHex(++seedCounter, 32);
          const recipient = recipients[spec.to];
          const params = recipient.ticketParams({
            sender: m.address,
            faceValue: face,
            winProb: MAX_WIN_PROB,
            expirationBlock: EXPIRATION_BLOCK,
            creationRound: round,
            creationRoundBlockHash: blockHash,
            seed,
          });
          const [signed] = m.tickets.createTickets(params, 1);
          const rand = recipient.recipientRand(seed, m.address, face, MAX_WIN_PROB, EXPIRATION_BLOCK, round);
          expect(isWinningTicket(Buffer.from(signed.sig.slice(2), "hex"), rand, MAX_WIN_PROB)).to.equal(true);
          const t: TicketRecord = {
            label: `T${tickets.length}(S${spec.who}->R${spec.to}, face ${face}, r${round})`,
            signed,
            rand,
            hash: "0x" + hasher.hash(signed.ticket).toString("hex"),
            si: spec.who,
            ri: spec.to,
            face,
            creationRound: round,
            used: false,
          };
          tickets.push(t);
          return t;
        };
        /** What redeeming `t` now does, by the spec alone. */
        const predict = (t: TicketRecord, caller: string): Expected => {
          const m = senders[t.si];
          if (caller !== recipientAddresses[t.ri]) {
            return { ok: false, on: "broker", name: "CallerNotRecipient", args: [caller, recipientAddresses[t.ri]] };
          }
          const expiry = t.creationRound + validity;
          if (expiry <= round) {
            return { ok: false, on: "broker", name: "TicketExpired", args: [t.creationRound, expiry] };
          }
          if (t.used) return { ok: false, on: "broker", name: "TicketUsed", args: [t.hash] };
          if (pastUnlock(m)) {
            return { ok: false, on: "broker", name: "SenderUnlocked", args: [m.address, m.withdrawRound] };
          }
          const amount = min(t.face, m.deposit + allowance(m, t.ri));
          if (amount === 0n) {
            return { ok: false, on: "broker", name: "NothingToPay", args: [m.address, recipientAddresses[t.ri]] };
          }
          if (t.ri === OUTSIDER) {
            return { ok: false, on: "bm", name: "TranscoderNotActive", args: [recipientAddresses[t.ri], round] };
          }
          const fromDeposit = min(t.face, m.deposit);
          return { ok: true, amount, fromDeposit, fromReserve: amount - fromDeposit };
        };
        /** The broker events a paying redemption emits. */
        const paidEvents = (t: TicketRecord, e: Expected & { ok: true }): LogEntry[] => {
          const m = senders[t.si];
          const r = recipientAddresses[t.ri];
          return [
            ...(e.fromReserve > 0n ? [{ name: "ReserveClaimed", args: [m.address, r, round, e.fromReserve] }] : []),
            { name: "WinningTicketRedeemed", args: [t.hash, m.address, r, t.face, e.amount] },
          ];
        };
        const applyPaid = (t: TicketRecord, e: Expected & { ok: true }, events: LogEntry[]) => {
          const m = senders[t.si];
          const redeemed = events.find((x) => x.name === "WinningTicketRedeemed")!;
          const amount = redeemed.args[4] as bigint;
          m.deposit -= e.fromDeposit;
          m.reserve -= e.fromReserve;
          claimsOf(m, round)[t.ri] += e.fromReserve;
          m.paid += amount;
          paidTo[t.ri] += amount;
          t.used = true;
        };

        const redeem = async (t: TicketRecord, caller: HardhatEthersSigner) => {
          const e = predict(t, caller.address);
          log.push(
            `redeem ${t.label}${caller === stranger ? " by a stranger" : ""}: ` +
              (e.ok ? `pays ${e.amount} (${e.fromReserve} from reserve)` : e.name),
          );
          const call = broker
            .connect(caller)
            .redeemWinningTicket(t.signed.ticket, t.signed.sig, t.rand, { gasLimit: 1_000_000 });
          if (!e.ok) {
            // Mined and reverted on chain: the checks after the step show that it changed nothing.
            await expectRevert(call, e.on, e.name, e.args);
            expect(await broker.usedTickets(t.hash), `${t.label} used after a revert${where()}`).to.equal(t.used);
            return;
          }
          const events = brokerEvents(await (await call).wait());
          expectEvents(events, paidEvents(t, e), t.label);
          applyPaid(t, e, events);
        };

        const batch = async (list: TicketRecord[], caller: HardhatEthersSigner) => {
          const args = [
            list.map((t) => t.signed.ticket),
            list.map((t) => t.signed.sig),
            list.map((t) => t.rand),
          ] as const;
          const count = await broker.connect(caller).batchRedeemWinningTickets.staticCall(...args);
          const rc = await (
            await broker.connect(caller).batchRedeemWinningTickets(...args, { gasLimit: 3_000_000 })
          ).wait();
          const events = brokerEvents(rc);
          let cursor = 0;
          let paid = 0n;
          for (const [i, t] of list.entries()) {
            const e = predict(t, caller.address);
            log.push(`  batch[${i}] ${t.label}: ${e.ok ? `pays ${e.amount} (${e.fromReserve} from reserve)` : e.name}`);
            if (e.ok) {
              const expected = paidEvents(t, e);
              const mine = events.slice(cursor, cursor + expected.length);
              cursor += expected.length;
              expectEvents(mine, expected, `batch[${i}] ${t.label}`);
              applyPaid(t, e, mine);
              paid += 1n;
            } else {
              const failed = events[cursor++];
              expect(failed?.name, `batch[${i}] ${t.label} failure${where()}`).to.equal("BatchTicketFailed");
              expect(failed.args[0], `batch[${i}] index`).to.equal(BigInt(i));
              const reason = failed.args[1] as string;
              const iface: Interface = e.on === "broker" ? broker.interface : bm.interface;
              const decoded = iface.parseError(reason);
              expect(decoded?.name, `batch[${i}] ${t.label} reason ${reason}${where()}`).to.equal(e.name);
              expect(norm([...decoded!.args]), `batch[${i}] ${t.label} reason args${where()}`).to.deep.equal(
                norm(e.args),
              );
            }
          }
          expect(cursor, `batch events${where()}`).to.equal(events.length);
          expect(count, `batch redeemed count${where()}`).to.equal(paid);
        };

        // ---- Actions ----

        /** Funds `dep` and `res` through the entry point `what`; `mismatch` sends one wei too many. */
        const fund = async (
          m: SenderModel,
          what: "deposit" | "reserve" | "both",
          dep: bigint,
          res: bigint,
          mismatch: boolean,
        ) => {
          await ensureWindow();
          const b = broker.connect(m.wallet);
          const value = dep + res + (what === "both" && mismatch ? 1n : 0n);
          const call = () =>
            what === "deposit"
              ? b.fundDeposit({ value })
              : what === "reserve"
                ? b.fundReserve({ value })
                : b.fundDepositAndReserve(dep, res, { value });
          if (value === 0n) return expectRevert(call(), "broker", "ZeroFunding", []);
          if (what === "both" && mismatch) return expectRevert(call(), "broker", "FundingMismatch", [value, dep, res]);
          const expected: LogEntry[] = [
            ...(dep !== 0n ? [{ name: "DepositFunded", args: [m.address, dep] }] : []),
            ...(res !== 0n ? [{ name: "ReserveFunded", args: [m.address, res] }] : []),
            ...(m.withdrawRound !== 0n ? [{ name: "UnlockCancelled", args: [m.address] }] : []),
          ];
          expectEvents(brokerEvents(await sendAsSender(m, value, call())), expected, "fund");
          m.deposit += dep;
          m.reserve += res;
          m.basis += res;
          m.funded += value;
          m.withdrawRound = 0n;
        };
        /** The sender an unlock, cancelUnlock or withdraw goes to: see `aimed`. */
        const senderFor = (a: { kind: "unlock" | "cancelUnlock" | "withdraw"; who: number; aimed: boolean }) => {
          if (!a.aimed) return senders[a.who];
          const can = (m: SenderModel) =>
            a.kind === "unlock"
              ? m.withdrawRound === 0n && m.deposit + m.reserve > 0n
              : a.kind === "cancelUnlock"
                ? m.withdrawRound !== 0n
                : pastUnlock(m);
          // A withdrawal with no unlock complete goes to a sender still waiting for one, if any (FundsLocked).
          const unlocking = (m: SenderModel) => m.withdrawRound !== 0n;
          const candidates = [can, ...(a.kind === "withdraw" ? [unlocking] : [])]
            .map((f) => senders.filter(f))
            .find((c) => c.length > 0);
          return candidates === undefined ? senders[a.who] : candidates[a.who % candidates.length];
        };

        const run = async (a: Action) => {
          log.push(describeAction(a));
          switch (a.kind) {
            case "fund": {
              const dep = a.what === "deposit" ? a.amount : a.what === "reserve" ? 0n : (a.amount * a.ppm) / PPM;
              return fund(senders[a.who], a.what, dep, a.amount - dep, a.mismatch);
            }
            case "redeem": {
              await ensureWindow();
              const t = newTicket(a);
              return redeem(t, a.byOther ? stranger : recipientSigners[t.ri]);
            }
            case "batch": {
              await ensureWindow();
              const list = a.tickets.map((spec) => newTicket({ ...spec, to: spec.mine ? a.caller : spec.to }));
              if (a.duplicate) list.push(list[0]);
              return batch(list, recipientSigners[a.caller]);
            }
            case "replay": {
              if (tickets.length === 0) return;
              await ensureWindow();
              const t = tickets[a.pick % tickets.length];
              return redeem(t, a.byOther ? stranger : recipientSigners[t.ri]);
            }
            case "unlock": {
              await ensureWindow();
              const m = senderFor(a);
              const call = () => broker.connect(m.wallet).unlock();
              if (m.deposit === 0n && m.reserve === 0n) return expectRevert(call(), "broker", "NoFunds", [m.address]);
              if (m.withdrawRound !== 0n) {
                return expectRevert(call(), "broker", "UnlockInProgress", [m.address, m.withdrawRound]);
              }
              const rc = await sendAsSender(m, 0n, call());
              m.withdrawRound = round + unlockPeriod;
              expectEvents(brokerEvents(rc), [{ name: "Unlock", args: [m.address, round, m.withdrawRound] }], "unlock");
              return;
            }
            case "cancelUnlock": {
              await ensureWindow();
              const m = senderFor(a);
              const call = () => broker.connect(m.wallet).cancelUnlock();
              if (m.withdrawRound === 0n) return expectRevert(call(), "broker", "NoUnlockInProgress", [m.address]);
              const rc = await sendAsSender(m, 0n, call());
              m.withdrawRound = 0n;
              expectEvents(brokerEvents(rc), [{ name: "UnlockCancelled", args: [m.address] }], "cancelUnlock");
              return;
            }
            case "withdraw": {
              await ensureWindow();
              const m = senderFor(a);
              const call = () => broker.connect(m.wallet).withdraw();
              if (m.withdrawRound === 0n) return expectRevert(call(), "broker", "NoUnlockInProgress", [m.address]);
              if (round < m.withdrawRound) {
                return expectRevert(call(), "broker", "FundsLocked", [m.address, m.withdrawRound, round]);
              }
              const rc = await sendAsSender(m, 0n, call());
              expectEvents(
                brokerEvents(rc),
                [{ name: "Withdrawal", args: [m.address, m.deposit, m.reserve] }],
                "withdraw",
              );
              m.eth += m.deposit + m.reserve;
              m.withdrawn += m.deposit + m.reserve;
              m.deposit = 0n;
              m.reserve = 0n;
              m.basis = 0n;
              m.withdrawRound = 0n;
              return;
            }
            case "withdrawFees": {
              const o = orchestrators[a.orch];
              const amount = ((fees0[a.orch] + paidTo[a.orch] - feesWithdrawn[a.orch]) * a.ppm) / PPM;
              if (amount === 0n) return;
              await ensureWindow();
              await (await bm.connect(o).withdrawFees(FEE_SINK, amount)).wait();
              feesWithdrawn[a.orch] += amount;
              return;
            }
            case "advance": {
              for (let i = 0; i < a.rounds; i++) await nextRound();
              return;
            }
          }
        };

        // ---- Checks ----

        const check = async () => {
          const w = where();
          const chain = await Promise.all(
            senders.map((m) =>
              Promise.all([
                broker.getSenderInfo(m.address),
                broker.isUnlockInProgress(m.address),
                Promise.all(recipientAddresses.map((r) => broker.claimedReserve(m.address, r, round))),
                Promise.all(recipientAddresses.map((r) => broker.claimableReserve(m.address, r))),
                ethers.provider.getBalance(m.address),
              ]),
            ),
          );
          const [fees, minterEth, sinkEth, poolSize] = await Promise.all([
            Promise.all(orchestrators.map((o) => bm.pendingFees(o.address, round))),
            ethers.provider.getBalance(minterAddress),
            ethers.provider.getBalance(FEE_SINK),
            bm.currentRoundPoolSize(),
          ]);
          let held = 0n;
          for (const [i, m] of senders.entries()) {
            const [[info, reserveInfo], unlocking, claimed, claimable, eth] = chain[i];
            const n = `S${i}`;
            const roundClaims = claimsOf(m, round);
            // The broker's books are the model's.
            expect(info.deposit, `${n} deposit${w}`).to.equal(m.deposit);
            expect(reserveInfo.fundsRemaining, `${n} reserve${w}`).to.equal(m.reserve);
            expect(info.withdrawRound, `${n} withdrawRound${w}`).to.equal(m.withdrawRound);
            expect(unlocking, `${n} isUnlockInProgress${w}`).to.equal(m.withdrawRound !== 0n);
            expect(reserveInfo.claimedInCurrentRound, `${n} claimedInCurrentRound${w}`).to.equal(sum(roundClaims));
            expect(eth, `${n} ETH balance${w}`).to.equal(m.eth);
            // (1) conservation per sender, on the chain's numbers.
            expectSenderConservation(n, m, info.deposit, reserveInfo.fundsRemaining, w);
            held += info.deposit + reserveInfo.fundsRemaining;
            // (2) the reserve split, on the chain's numbers.
            for (const [ri] of recipientAddresses.entries()) {
              expect(claimed[ri], `${n} claimedReserve(R${ri}, ${round})${w}`).to.equal(roundClaims[ri]);
              const expectedClaimable = pastUnlock(m) || ri === OUTSIDER ? 0n : allowance(m, ri);
              expect(claimable[ri], `${n} claimableReserve(R${ri})${w}`).to.equal(expectedClaimable);
              expect(
                reserveAllowance({
                  fundsRemaining: reserveInfo.fundsRemaining,
                  claimedInCurrentRound: reserveInfo.claimedInCurrentRound,
                  poolSize,
                  claimedByRecipient: claimed[ri],
                }),
                `offchain reserveAllowance ${n} R${ri}${w}`,
              ).to.equal(allowance(m, ri));
            }
            expectReserveSplit(`${n} round ${round}`, claimed, m.basis, POOL, w);
          }
          // (1) totals: paid never exceeds what is funded and not withdrawn; it is exactly the recipients' fee growth.
          const totalPaid = sum(senders.map((m) => m.paid));
          const totalFunded = sum(senders.map((m) => m.funded));
          const totalWithdrawn = sum(senders.map((m) => m.withdrawn));
          const totalFeesWithdrawn = sum(feesWithdrawn);
          expect(totalPaid, `(1) paid <= funded - withdrawn${w}`).to.be.lte(totalFunded - totalWithdrawn);
          expect(sum(paidTo), `(1) paid by sender == paid to recipients${w}`).to.equal(totalPaid);
          expect(paidTo[OUTSIDER], `nothing paid to a non-orchestrator${w}`).to.equal(0n);
          for (const [oi] of orchestrators.entries()) {
            expect(fees[oi] - fees0[oi] + feesWithdrawn[oi], `(1) fees credited to O${oi}${w}`).to.equal(paidTo[oi]);
          }
          expect(sinkEth - sink0, `fees withdrawn${w}`).to.equal(totalFeesWithdrawn);
          expectMinterEth(minterEth - minter0, held, totalPaid, totalFeesWithdrawn, w);
          expect(minterEth - minter0, `(1) Minter ETH == funded - withdrawn - fees withdrawn${w}`).to.equal(
            totalFunded - totalWithdrawn - totalFeesWithdrawn,
          );
        };

        for (const [i, [dep, res]] of initial.entries()) {
          log.push(`S${i} opens with deposit ${dep}, reserve ${res}`);
          if (dep + res > 0n) await fund(senders[i], "both", dep, res, false);
        }
        await check();
        for (const action of actions) {
          await run(action);
          await check();
        }
        // At the end: every ticket is used exactly when the model paid it, and past rounds' draws are as recorded.
        const used = await Promise.all(tickets.map((t) => broker.usedTickets(t.hash)));
        expect(used, `usedTickets${where()}`).to.deep.equal(tickets.map((t) => t.used));
        for (const [i, m] of senders.entries()) {
          for (const [r, c] of m.claims) {
            const onChain = await Promise.all(recipientAddresses.map((a) => broker.claimedReserve(m.address, a, r)));
            expect(onChain, `S${i} claimedReserve in round ${r}${where()}`).to.deep.equal(c);
          }
        }
      }),
      { numRuns: 30 },
    );
  });
});
