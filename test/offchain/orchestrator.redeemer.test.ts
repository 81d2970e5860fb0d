/**
 * The orchestrator's redemption loop on the in-process Hardhat network, driven by `kick()`: pending winners go out in
 * one batch and are settled from its events, crashes are reconciled against the broker's `usedTickets`, tickets
 * wait (and `/status` says why) while the broker would refuse or the gas would eat them, and expired ones are
 * given up. Every case checks the chain (used tickets, events, the sender's deposit, the orchestrator's nonce) and
 * the store.
 */
import { expect } from "chai";
import { type Log, type TransactionReceipt, Wallet, getBytes, hexlify, parseEther, toQuantity } from "ethers";
import hre from "hardhat";
import { loadFixture, mine, mineUpTo } from "@nomicfoundation/hardhat-network-helpers";

import { ChainView } from "../../offchain/chain/view";
import { TxSender } from "../../offchain/chain/txSender";
import { createLogger } from "../../offchain/common/log";
import { Redeemer } from "../../offchain/orchestrator/redeemer";
import { type StoredTicket, WinningTicketStore } from "../../offchain/orchestrator/ticketStore";
import { TicketRecipient } from "../../offchain/pm/recipient";
import { TicketSender } from "../../offchain/pm/sender";
import { MAX_WIN_PROB, type SignedTicket, type TicketDomain, TicketHasher } from "../../offchain/pm/ticket";
import { signDigest } from "../../offchain/pm/crypto";
import { deployedSuite } from "../support/fixtures";
import { startNextRound } from "../support/chain";
import { devKey } from "../support/orchestratorChain";

const STAKE = parseEther("1000");
const SECRET = new Uint8Array(32).fill(7);
/** Far beyond any block these tests reach: the parameters' expiration is an off-chain matter. */
const EXPIRATION_BLOCK = 1_000_000n;
/** The redeemer's defaults. */
const GAS_PER_TICKET = 180_000n;
const MIN_FACE_VALUE_TO_GAS = 3n;

/** Dev accounts (the in-process network's accounts come from the same mnemonic). */
const ORCHESTRATOR = 1;
/** Funded with a 10 ETH deposit and no reserve. */
const BROADCASTER = 2;
/** Funded per test. */
const LEAN_SENDER = 3;
/** Never funded. */
const PENNILESS = 4;
/** Signs forged tickets. */
const FORGER = 5;
/** Holds nothing and is registered as nothing. */
const STRANGER = 9;

const logger = createLogger("test", "silent");

/** The suite in a freshly initialized round in which dev account 1 is the only active orchestrator, and dev account 2
 * has a 10 ETH deposit. */
async function activeOrchestrator() {
  const suite = await deployedSuite();
  const signers = await hre.ethers.getSigners();
  const orchestrator = signers[ORCHESTRATOR];
  for (const i of [ORCHESTRATOR, BROADCASTER, LEAN_SENDER, PENNILESS, FORGER, STRANGER]) {
    if (new Wallet(devKey(i)).address !== signers[i].address) throw new Error(`dev account ${i} key mismatch`);
  }
  const bondingAddress = await suite.bondingManager.getAddress();
  await (await suite.token.transfer(orchestrator.address, STAKE)).wait();
  await (await suite.token.connect(orchestrator).approve(bondingAddress, STAKE)).wait();
  await startNextRound(suite.rounds);
  await (await suite.bondingManager.connect(orchestrator).bond(STAKE, orchestrator.address)).wait();
  await (await suite.bondingManager.connect(orchestrator).transcoder(100_000n, 500_000n)).wait();
  await (await suite.ticketBroker.connect(signers[BROADCASTER]).fundDeposit({ value: parseEther("10") })).wait();
  await startNextRound(suite.rounds); // the orchestrator is active from this round
  if (!(await suite.bondingManager.isActiveTranscoder(orchestrator.address))) throw new Error("not active");
  const domain: TicketDomain = {
    chainId: (await hre.ethers.provider.getNetwork()).chainId,
    verifyingContract: await suite.ticketBroker.getAddress(),
  };
  return { suite, signers, domain, ticketValidityPeriod: await suite.ticketBroker.ticketValidityPeriod() };
}

type Env = Awaited<ReturnType<typeof activeOrchestrator>>;

interface MadeTicket {
  signed: SignedTicket;
  rand: bigint;
  hash: string;
  lastValidRound: bigint;
}

describe("orchestrator: Redeemer on the in-process chain", function () {
  let env: Env;
  let cleanups: Array<() => Promise<void> | void>;

  beforeEach(async () => {
    env = await loadFixture(activeOrchestrator);
    cleanups = [];
  });

  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  const address = (index: number) => env.signers[index].address;
  const nonceOf = (index: number) => hre.ethers.provider.getTransactionCount(address(index));
  const depositOf = async (index: number) => (await env.suite.ticketBroker.getSenderInfo(address(index)))[0].deposit;
  const used = (t: MadeTicket) => env.suite.ticketBroker.usedTickets(t.hash);

  /** A store, a started chain view, a transaction sender and a redeemer (not started) for orchestrator `self`. */
  async function harness(self = ORCHESTRATOR) {
    const store = new WinningTicketStore(":memory:");
    const c = env.suite.record.contracts;
    const view = new ChainView({
      provider: hre.ethers.provider,
      contracts: {
        TicketBroker: c.TicketBroker,
        RoundsManager: c.RoundsManager,
        BondingManager: c.BondingManager,
        ServiceRegistry: c.ServiceRegistry,
      },
      self: address(self),
      pollMs: 3_600_000, // the tests poll when they mean to
    });
    await view.start();
    const txSender = new TxSender({
      wallet: new Wallet(devKey(self), hre.ethers.provider),
      provider: hre.ethers.provider,
      pollMs: 20,
    });
    const redeemer = new Redeemer(store, view, view.broker, txSender, logger, { intervalMs: 3_600_000 });
    const events = { redeemed: [] as StoredTicket[], failed: [] as string[], expired: [] as number[] };
    redeemer.on("redeemed", (t: StoredTicket) => events.redeemed.push(t));
    redeemer.on("failed", (_t: StoredTicket, reason: string) => events.failed.push(reason));
    redeemer.on("expired", (count: number) => events.expired.push(count));
    cleanups.push(async () => {
      await redeemer.stop();
      await view.stop();
      store.close();
    });
    return { store, view, redeemer, events };
  }

  /**
   * `count` always-winning tickets from dev account `sender` to `recipient` in the current round (or `creationRound`),
   * on one fresh set of parameters, with the recipient's secret for them.
   */
  async function makeTickets(
    sender: number,
    faceValue: bigint,
    count = 1,
    options: { recipient?: number; creationRound?: bigint } = {},
  ): Promise<MadeTicket[]> {
    const creationRound = options.creationRound ?? (await env.suite.rounds.currentRound());
    const creationRoundBlockHash = await env.suite.rounds.blockHashForRound(creationRound);
    const recipient = new TicketRecipient({
      address: address(options.recipient ?? ORCHESTRATOR),
      secret: SECRET,
      domain: env.domain,
      ticketValidityPeriod: env.ticketValidityPeriod,
    });
    const input = {
      sender: address(sender),
      faceValue,
      winProb: MAX_WIN_PROB,
      expirationBlock: EXPIRATION_BLOCK,
      creationRound,
      creationRoundBlockHash,
    };
    const params = recipient.ticketParams(input);
    const rand = recipient.recipientRand(
      params.seed,
      input.sender,
      faceValue,
      MAX_WIN_PROB,
      EXPIRATION_BLOCK,
      creationRound,
    );
    const hasher = new TicketHasher(env.domain);
    return new TicketSender({ privateKey: devKey(sender), domain: env.domain })
      .createTickets(params, count)
      .map((signed) => ({
        signed,
        rand,
        hash: hexlify(hasher.hash(signed.ticket)),
        lastValidRound: creationRound + env.ticketValidityPeriod - 1n,
      }));
  }

  /** The same ticket fields signed by another key: the broker refuses it with InvalidSenderSignature. */
  function forged(t: MadeTicket): MadeTicket {
    const digest = new TicketHasher(env.domain).hash(t.signed.ticket);
    return { ...t, signed: { ...t.signed, sig: hexlify(signDigest(digest, getBytes(devKey(FORGER)))) } };
  }

  function store(s: WinningTicketStore, tickets: MadeTicket[], lastValidRound?: bigint) {
    for (const t of tickets) expect(s.add(t.hash, t.signed, t.rand, lastValidRound ?? t.lastValidRound)).to.equal(true);
  }

  /** The orchestrator redeems `t` itself, outside the redeemer. */
  async function redeemDirectly(t: MadeTicket) {
    await (
      await env.suite.ticketBroker
        .connect(env.signers[ORCHESTRATOR])
        .redeemWinningTicket(t.signed.ticket, t.signed.sig, t.rand)
    ).wait();
  }

  async function receiptOf(hash: string): Promise<TransactionReceipt> {
    const receipt = await hre.ethers.provider.getTransactionReceipt(hash);
    expect(receipt, `receipt of ${hash}`).to.not.equal(null);
    return receipt!;
  }

  /** The broker's events in a receipt. */
  function brokerEvents(receipt: TransactionReceipt) {
    const iface = env.suite.ticketBroker.interface;
    const redeemed: Array<{ ticketHash: string; faceValue: bigint; amount: bigint }> = [];
    const failed: Array<{ index: number; reason: string }> = [];
    for (const log of receipt.logs as Log[]) {
      const parsed = iface.parseLog(log);
      if (parsed?.name === "WinningTicketRedeemed") {
        redeemed.push({
          ticketHash: (parsed.args.ticketHash as string).toLowerCase(),
          faceValue: parsed.args.faceValue as bigint,
          amount: parsed.args.amount as bigint,
        });
      }
      if (parsed?.name === "BatchTicketFailed") {
        failed.push({
          index: Number(parsed.args.index),
          reason: iface.parseError(parsed.args.reason as string)?.name ?? (parsed.args.reason as string),
        });
      }
    }
    return { redeemed, failed };
  }

  /** The ticket hashes a batchRedeemWinningTickets transaction carried, in order. */
  async function batchOf(txHash: string): Promise<string[]> {
    const tx = await hre.ethers.provider.getTransaction(txHash);
    const parsed = env.suite.ticketBroker.interface.parseTransaction({ data: tx!.data });
    expect(parsed?.name).to.equal("batchRedeemWinningTickets");
    const hasher = new TicketHasher(env.domain);
    return (parsed!.args[0] as Array<Parameters<TicketHasher["hash"]>[0]>).map((ticket) =>
      hexlify(
        hasher.hash({
          recipient: ticket.recipient,
          sender: ticket.sender,
          faceValue: ticket.faceValue,
          winProb: ticket.winProb,
          senderNonce: ticket.senderNonce,
          recipientRandHash: ticket.recipientRandHash,
          creationRound: ticket.creationRound,
          creationRoundBlockHash: ticket.creationRoundBlockHash,
        }),
      ),
    );
  }

  /** Mines to the first block of the next round without initializing it. */
  async function mineToNextRoundUninitialized() {
    await mineUpTo((await env.suite.rounds.currentRoundStartBlock()) + (await env.suite.rounds.roundLength()));
  }

  /** A base fee of 1 gwei in a new empty block, so the gas price the view reads is the same each time. */
  async function pinGasPrice() {
    await hre.network.provider.send("hardhat_setNextBlockBaseFeePerGas", [toQuantity(10n ** 9n)]);
    await mine(1);
  }

  const statusOf = (s: WinningTicketStore, t: MadeTicket) => s.get(t.hash)!;

  it("after a redemption, the sender's funds are read afresh before the next poll (no float it no longer has)", async () => {
    const { store: s, view, redeemer } = await harness();
    const face = parseEther("1");
    const tickets = await makeTickets(BROADCASTER, face, 2);
    store(s, tickets);
    await view.poll();
    const before = await view.senderFunds(address(BROADCASTER));
    const snapshotBlock = view.snapshot.block;

    await redeemer.kick();

    // The view has not polled: its snapshot is the block before the redemption, yet the funds are today's.
    expect(view.snapshot.block).to.equal(snapshotBlock);
    const after = await view.senderFunds(address(BROADCASTER));
    expect(after.deposit).to.equal(before.deposit - 2n * face);
    expect(after.deposit).to.equal(await depositOf(BROADCASTER));
  });

  it("redeems several pending winners of one sender in one batch, and a second run sends nothing", async () => {
    const { store: s, view, redeemer, events } = await harness();
    const faces = [parseEther("0.5"), parseEther("0.25"), parseEther("1")];
    const tickets = [
      ...(await makeTickets(BROADCASTER, faces[0], 2)),
      ...(await makeTickets(BROADCASTER, faces[1], 1)),
      ...(await makeTickets(BROADCASTER, faces[2], 1)),
    ];
    const totalFace = faces[0] * 2n + faces[1] + faces[2];
    store(s, tickets);
    await view.poll();
    const depositBefore = await depositOf(BROADCASTER);
    const nonceBefore = await nonceOf(ORCHESTRATOR);

    await redeemer.kick();

    expect(redeemer.status.lastError).to.equal(undefined);
    expect(await nonceOf(ORCHESTRATOR)).to.equal(nonceBefore + 1);
    const txHash = redeemer.status.lastTx!;
    expect(txHash).to.match(/^0x[0-9a-f]{64}$/);
    const receipt = await receiptOf(txHash);
    expect(receipt.from.toLowerCase()).to.equal(address(ORCHESTRATOR).toLowerCase());
    const { redeemed, failed } = brokerEvents(receipt);
    expect(failed).to.deep.equal([]);
    expect(redeemed.map((r) => r.ticketHash).sort()).to.deep.equal(tickets.map((t) => t.hash).sort());
    for (const r of redeemed) expect(r.amount).to.equal(r.faceValue);
    for (const t of tickets) {
      expect(await used(t)).to.equal(true);
      const stored = statusOf(s, t);
      expect(stored.status).to.equal("redeemed");
      expect(stored.txHash).to.equal(txHash);
    }
    expect(await depositOf(BROADCASTER)).to.equal(depositBefore - totalFace);
    expect(events.redeemed.map((t) => t.ticketHash).sort()).to.deep.equal(tickets.map((t) => t.hash).sort());
    expect(s.stats()).to.include({ pending: 0, submitted: 0, redeemed: 4 });
    expect(s.stats().redeemedFaceValue).to.equal(totalFace);
    expect(redeemer.status.waiting).to.equal(undefined);

    await view.poll();
    await redeemer.kick();
    expect(await nonceOf(ORCHESTRATOR)).to.equal(nonceBefore + 1);
    expect(redeemer.status.lastTx).to.equal(txHash);
    expect(s.stats()).to.include({ pending: 0, submitted: 0, redeemed: 4 });
  });

  it("settles each ticket of a batch by itself: a good one is redeemed, a forged signature fails for good", async () => {
    const { store: s, view, redeemer, events } = await harness();
    const [good, other] = await makeTickets(BROADCASTER, parseEther("1"), 2);
    const bad = forged(other);
    store(s, [good, bad]);
    await view.poll();
    const depositBefore = await depositOf(BROADCASTER);
    const nonceBefore = await nonceOf(ORCHESTRATOR);

    await redeemer.kick();

    expect(await nonceOf(ORCHESTRATOR)).to.equal(nonceBefore + 1);
    const txHash = redeemer.status.lastTx!;
    const batch = await batchOf(txHash);
    expect(batch).to.have.members([good.hash, bad.hash]);
    const { redeemed, failed } = brokerEvents(await receiptOf(txHash));
    expect(redeemed.map((r) => r.ticketHash)).to.deep.equal([good.hash]);
    expect(failed).to.deep.equal([{ index: batch.indexOf(bad.hash), reason: "InvalidSenderSignature" }]);
    expect(await used(good)).to.equal(true);
    expect(await used(bad)).to.equal(false);
    expect(await depositOf(BROADCASTER)).to.equal(depositBefore - parseEther("1"));

    expect(statusOf(s, good)).to.include({ status: "redeemed", txHash });
    expect(statusOf(s, bad)).to.include({ status: "failed", reason: "InvalidSenderSignature" });
    expect(events.failed).to.deep.equal(["InvalidSenderSignature"]);

    // Failed is final: nothing more is sent for it.
    await view.poll();
    await redeemer.kick();
    expect(await nonceOf(ORCHESTRATOR)).to.equal(nonceBefore + 1);
  });

  it("after a crash, a ticket under a transaction the node never saw goes out again unless the broker used it", async () => {
    const { store: s, view, redeemer } = await harness();
    const [lost, paid] = await makeTickets(BROADCASTER, parseEther("1"), 2);
    store(s, [lost, paid]);
    // The ticket `paid` was redeemed by a transaction of ours whose hash the store never learnt (a replacement, say).
    await redeemDirectly(paid);
    expect(await used(paid)).to.equal(true);
    // Both were recorded under a transaction that was never broadcast: the process died in between.
    const neverSent = "0x" + "ab".repeat(32);
    expect(await hre.ethers.provider.getTransaction(neverSent)).to.equal(null);
    expect(s.markSubmitted([lost.hash, paid.hash], neverSent)).to.equal(2);
    await view.poll();
    const depositBefore = await depositOf(BROADCASTER);
    const nonceBefore = await nonceOf(ORCHESTRATOR);

    await redeemer.kick();

    // One new transaction, carrying only the ticket that was not paid.
    expect(await nonceOf(ORCHESTRATOR)).to.equal(nonceBefore + 1);
    const txHash = redeemer.status.lastTx!;
    expect(txHash).to.not.equal(neverSent);
    expect(await batchOf(txHash)).to.deep.equal([lost.hash]);
    const { redeemed, failed } = brokerEvents(await receiptOf(txHash));
    expect(redeemed.map((r) => r.ticketHash)).to.deep.equal([lost.hash]);
    expect(failed).to.deep.equal([]);
    expect(await used(lost)).to.equal(true);
    expect(await depositOf(BROADCASTER)).to.equal(depositBefore - parseEther("1"));

    expect(statusOf(s, lost)).to.include({ status: "redeemed", txHash });
    expect(statusOf(s, paid).status).to.equal("redeemed");
    expect(s.stats()).to.include({ pending: 0, submitted: 0, redeemed: 2 });
  });

  it("after a crash, applies a batch that was mined but never settled, without sending anything", async () => {
    const { store: s, view, redeemer } = await harness();
    const [good, other] = await makeTickets(BROADCASTER, parseEther("1"), 2);
    const bad = forged(other);
    store(s, [good, bad]);
    // The transaction goes out and is mined, but the process dies before reading its receipt.
    const txSender = new TxSender({
      wallet: new Wallet(devKey(ORCHESTRATOR), hre.ethers.provider),
      provider: hre.ethers.provider,
      pollMs: 20,
    });
    const pending = s.list("pending");
    const receipt = await txSender.send(
      view.broker,
      "batchRedeemWinningTickets",
      [pending.map((t) => t.signed.ticket), pending.map((t) => t.signed.sig), pending.map((t) => t.recipientRand)],
      {
        beforeBroadcast: (hash) =>
          s.markSubmitted(
            pending.map((t) => t.ticketHash),
            hash,
          ),
      },
    );
    expect(s.stats()).to.include({ pending: 0, submitted: 2 });
    await view.poll();
    const nonceBefore = await nonceOf(ORCHESTRATOR);

    await redeemer.kick();

    expect(await nonceOf(ORCHESTRATOR)).to.equal(nonceBefore);
    expect(statusOf(s, good)).to.include({ status: "redeemed", txHash: receipt.hash });
    expect(statusOf(s, bad)).to.include({ status: "failed", reason: "InvalidSenderSignature" });
    expect(await used(good)).to.equal(true);
    expect(await used(bad)).to.equal(false);
  });

  it("counts a pending ticket the broker already used as redeemed (TicketUsed)", async () => {
    const { store: s, view, redeemer, events } = await harness();
    const [t] = await makeTickets(BROADCASTER, parseEther("1"));
    store(s, [t]);
    await redeemDirectly(t);
    const depositBefore = await depositOf(BROADCASTER);
    await view.poll();
    const nonceBefore = await nonceOf(ORCHESTRATOR);

    await redeemer.kick();

    expect(await nonceOf(ORCHESTRATOR)).to.equal(nonceBefore + 1);
    const txHash = redeemer.status.lastTx!;
    const { redeemed, failed } = brokerEvents(await receiptOf(txHash));
    expect(redeemed).to.deep.equal([]);
    expect(failed).to.deep.equal([{ index: 0, reason: "TicketUsed" }]);
    expect(await depositOf(BROADCASTER)).to.equal(depositBefore); // paid once, before
    expect(statusOf(s, t).status).to.equal("redeemed");
    expect(events.failed).to.deep.equal([]);
  });

  describe("waits, and says why", () => {
    it("while this orchestrator is not active", async () => {
      const { store: s, view, redeemer } = await harness(STRANGER);
      const tickets = await makeTickets(BROADCASTER, parseEther("1"), 2, { recipient: STRANGER });
      store(s, tickets);
      await view.poll();
      expect(view.snapshot.active).to.equal(false);
      const nonceBefore = await nonceOf(STRANGER);
      const depositBefore = await depositOf(BROADCASTER);

      await redeemer.kick();

      expect(await nonceOf(STRANGER)).to.equal(nonceBefore);
      expect(redeemer.status.lastTx).to.equal(undefined);
      expect(redeemer.status.lastError).to.equal(undefined);
      expect(redeemer.status.waiting).to.match(/not active in round \d+/);
      for (const t of tickets) {
        expect(statusOf(s, t).status).to.equal("pending");
        expect(await used(t)).to.equal(false);
      }
      expect(await depositOf(BROADCASTER)).to.equal(depositBefore);
    });

    it("while the round is not initialized, and redeems once it is", async () => {
      const { store: s, view, redeemer } = await harness();
      const tickets = await makeTickets(BROADCASTER, parseEther("1"), 2);
      store(s, tickets);
      await mineToNextRoundUninitialized();
      await view.poll();
      const round = await env.suite.rounds.currentRound();
      expect(view.snapshot).to.include({ round, roundInitialized: false });
      const nonceBefore = await nonceOf(ORCHESTRATOR);
      const depositBefore = await depositOf(BROADCASTER);

      await redeemer.kick();

      expect(await nonceOf(ORCHESTRATOR)).to.equal(nonceBefore);
      expect(redeemer.status.waiting).to.equal(`round ${round} is not initialized`);
      for (const t of tickets) {
        expect(statusOf(s, t).status).to.equal("pending");
        expect(await used(t)).to.equal(false);
      }
      expect(await depositOf(BROADCASTER)).to.equal(depositBefore);

      await (await env.suite.rounds.initializeRound()).wait();
      await view.poll();
      const nonceAfterInit = await nonceOf(ORCHESTRATOR);
      await redeemer.kick();
      expect(await nonceOf(ORCHESTRATOR)).to.equal(nonceAfterInit + 1);
      expect(redeemer.status.waiting).to.equal(undefined);
      for (const t of tickets) {
        expect(statusOf(s, t)).to.include({ status: "redeemed", txHash: redeemer.status.lastTx });
        expect(await used(t)).to.equal(true);
      }
      expect(await depositOf(BROADCASTER)).to.equal(depositBefore - parseEther("2"));
    });

    it("while the face value is below 3x its gas, until its last valid round when it beats the gas", async () => {
      const { store: s, view, redeemer } = await harness();
      await pinGasPrice();
      await view.poll();
      const gasPrice = view.snapshot.gasPrice;
      expect(gasPrice > 0n).to.equal(true);
      const ticketGas = GAS_PER_TICKET * gasPrice;
      const face = 2n * ticketGas; // worth more than its gas, less than 3x
      const [t] = await makeTickets(BROADCASTER, face);
      expect(t.lastValidRound > view.snapshot.round).to.equal(true); // not its last round
      store(s, [t]);
      const nonceBefore = await nonceOf(ORCHESTRATOR);
      const depositBefore = await depositOf(BROADCASTER);

      await redeemer.kick();

      expect(await nonceOf(ORCHESTRATOR)).to.equal(nonceBefore);
      expect(redeemer.status.waiting).to.equal(
        `1 worth less than ${MIN_FACE_VALUE_TO_GAS}x their gas at the current price`,
      );
      expect(statusOf(s, t).status).to.equal("pending");
      expect(await used(t)).to.equal(false);
      expect(await depositOf(BROADCASTER)).to.equal(depositBefore);

      // In its last valid round (same gas price), more than its gas is enough.
      await startNextRound(env.suite.rounds);
      await pinGasPrice();
      await view.poll();
      expect(view.snapshot.round).to.equal(t.lastValidRound);
      expect(view.snapshot.gasPrice).to.equal(gasPrice);
      const nonceLastRound = await nonceOf(ORCHESTRATOR);
      await redeemer.kick();
      expect(await nonceOf(ORCHESTRATOR)).to.equal(nonceLastRound + 1);
      expect(statusOf(s, t)).to.include({ status: "redeemed", txHash: redeemer.status.lastTx });
      expect(await used(t)).to.equal(true);
      expect(await depositOf(BROADCASTER)).to.equal(depositBefore - face);
    });

    it("while the sender has neither deposit nor reserve", async () => {
      const { store: s, view, redeemer } = await harness();
      const tickets = await makeTickets(PENNILESS, parseEther("1"), 2);
      store(s, tickets);
      await view.poll();
      const funds = await view.senderFunds(address(PENNILESS));
      expect(funds.deposit + funds.reserveAllowance).to.equal(0n);
      const nonceBefore = await nonceOf(ORCHESTRATOR);

      await redeemer.kick();

      expect(await nonceOf(ORCHESTRATOR)).to.equal(nonceBefore);
      expect(redeemer.status.waiting).to.equal("2 from senders with nothing left to pay this round");
      for (const t of tickets) {
        expect(statusOf(s, t).status).to.equal("pending");
        expect(await used(t)).to.equal(false);
      }
      expect(await depositOf(PENNILESS)).to.equal(0n);
    });
  });

  describe("expiry", () => {
    it("gives up a pending ticket whose last valid round has passed, and says so", async () => {
      const { store: s, view, redeemer, events } = await harness();
      const round = await env.suite.rounds.currentRound();
      const [late] = await makeTickets(BROADCASTER, parseEther("1"));
      store(s, [late], round - 1n);
      await view.poll();
      const nonceBefore = await nonceOf(ORCHESTRATOR);
      const depositBefore = await depositOf(BROADCASTER);

      await redeemer.kick();

      expect(events.expired).to.deep.equal([1]);
      expect(statusOf(s, late).status).to.equal("expired");
      expect(await nonceOf(ORCHESTRATOR)).to.equal(nonceBefore);
      expect(await used(late)).to.equal(false);
      expect(await depositOf(BROADCASTER)).to.equal(depositBefore);
      expect(redeemer.status.waiting).to.equal(undefined);
    });

    it("gives up a ticket left pending until the broker's validity period is over", async () => {
      const { store: s, view, redeemer, events } = await harness();
      const [t] = await makeTickets(BROADCASTER, parseEther("1"));
      store(s, [t]);
      for (let r = 0n; r < env.ticketValidityPeriod; r++) await startNextRound(env.suite.rounds);
      await view.poll();
      expect(view.snapshot.round).to.equal(t.lastValidRound + 1n);
      const nonceBefore = await nonceOf(ORCHESTRATOR);

      await redeemer.kick();

      expect(events.expired).to.deep.equal([1]);
      expect(statusOf(s, t).status).to.equal("expired");
      expect(await nonceOf(ORCHESTRATOR)).to.equal(nonceBefore);
      expect(await used(t)).to.equal(false);
    });

    it("gives up a ticket reconciled after a crash when its last valid round has passed, sending nothing", async () => {
      const { store: s, view, redeemer } = await harness();
      const [t] = await makeTickets(BROADCASTER, parseEther("1"));
      store(s, [t]);
      s.markSubmitted([t.hash], "0x" + "cd".repeat(32)); // then the process died, for longer than the validity
      for (let r = 0n; r < env.ticketValidityPeriod; r++) await startNextRound(env.suite.rounds);
      await view.poll();
      expect(view.snapshot.round > t.lastValidRound).to.equal(true);
      const nonceBefore = await nonceOf(ORCHESTRATOR);

      await redeemer.kick();
      await redeemer.kick();

      // The broker would refuse it (TicketExpired): a transaction for it only costs gas, and it expired, not failed.
      const stored = statusOf(s, t);
      expect({
        status: stored.status,
        reason: stored.reason,
        transactionsSent: (await nonceOf(ORCHESTRATOR)) - nonceBefore,
      }).to.deep.equal({ status: "expired", reason: undefined, transactionsSent: 0 });
      expect(await used(t)).to.equal(false);
    });
  });

  describe("sender funds", () => {
    it("sends a sender's tickets only while its deposit and reserve cover something; the rest wait", async () => {
      const { store: s, view, redeemer } = await harness();
      // 1 ETH deposit and 1 ETH reserve; the orchestrator is the whole pool, so all of the reserve is claimable.
      await (
        await env.suite.ticketBroker
          .connect(env.signers[LEAN_SENDER])
          .fundDepositAndReserve(parseEther("1"), parseEther("1"), { value: parseEther("2") })
      ).wait();
      const [first] = await makeTickets(LEAN_SENDER, parseEther("2")); // takes everything
      const [second] = await makeTickets(LEAN_SENDER, parseEther("1"));
      store(s, [first, second]);
      await view.poll();
      const funds = await view.senderFunds(address(LEAN_SENDER));
      expect(funds.deposit + funds.reserveAllowance).to.equal(parseEther("2"));
      const nonceBefore = await nonceOf(ORCHESTRATOR);

      await redeemer.kick();

      // One transaction, with only the first: by the redeemer's estimate the second could be paid nothing.
      expect(await nonceOf(ORCHESTRATOR)).to.equal(nonceBefore + 1);
      const txHash = redeemer.status.lastTx!;
      expect(await batchOf(txHash)).to.deep.equal([first.hash]);
      const { redeemed, failed } = brokerEvents(await receiptOf(txHash));
      expect(redeemed).to.deep.equal([{ ticketHash: first.hash, faceValue: parseEther("2"), amount: parseEther("2") }]);
      expect(failed).to.deep.equal([]);
      expect(await used(first)).to.equal(true);
      expect(await used(second)).to.equal(false);
      expect(await depositOf(LEAN_SENDER)).to.equal(0n);
      expect((await env.suite.ticketBroker.getSenderInfo(address(LEAN_SENDER)))[1].fundsRemaining).to.equal(0n);
      expect(statusOf(s, first)).to.include({ status: "redeemed", txHash });
      expect(statusOf(s, second).status).to.equal("pending");

      // Next block: the sender has nothing left this round; the ticket keeps waiting, and /status says why.
      await view.poll();
      await redeemer.kick();
      expect(await nonceOf(ORCHESTRATOR)).to.equal(nonceBefore + 1);
      expect(redeemer.status.waiting).to.equal("1 from senders with nothing left to pay this round");
      expect(statusOf(s, second).status).to.equal("pending");

      // Funded again, it is redeemed.
      await (
        await env.suite.ticketBroker.connect(env.signers[LEAN_SENDER]).fundDeposit({ value: parseEther("1") })
      ).wait();
      await view.poll();
      await redeemer.kick();
      expect(await nonceOf(ORCHESTRATOR)).to.equal(nonceBefore + 2);
      expect(statusOf(s, second)).to.include({ status: "redeemed", txHash: redeemer.status.lastTx });
      expect(await used(second)).to.equal(true);
      expect(await depositOf(LEAN_SENDER)).to.equal(0n);
    });

    it("sends a ticket the sender can pay only in part, and the broker pays what is left", async () => {
      const { store: s, view, redeemer } = await harness();
      await (
        await env.suite.ticketBroker.connect(env.signers[LEAN_SENDER]).fundDeposit({ value: parseEther("1") })
      ).wait();
      const [first] = await makeTickets(LEAN_SENDER, parseEther("0.6"));
      const [second] = await makeTickets(LEAN_SENDER, parseEther("0.6"));
      store(s, [first, second]);
      await view.poll();
      const nonceBefore = await nonceOf(ORCHESTRATOR);

      await redeemer.kick();

      // docs/orchestrator.md: a ticket goes out while "the sender can still pay something this round".
      expect(await nonceOf(ORCHESTRATOR)).to.equal(nonceBefore + 1);
      const txHash = redeemer.status.lastTx!;
      expect(await batchOf(txHash)).to.deep.equal([first.hash, second.hash]);
      const { redeemed, failed } = brokerEvents(await receiptOf(txHash));
      expect(failed).to.deep.equal([]);
      expect(redeemed).to.deep.equal([
        { ticketHash: first.hash, faceValue: parseEther("0.6"), amount: parseEther("0.6") },
        { ticketHash: second.hash, faceValue: parseEther("0.6"), amount: parseEther("0.4") },
      ]);
      expect(await depositOf(LEAN_SENDER)).to.equal(0n);
      expect(statusOf(s, first)).to.include({ status: "redeemed", txHash });
      expect(statusOf(s, second)).to.include({ status: "redeemed", txHash });
    });

    it("keeps a ticket pending when the broker finds nothing to pay (funds gone since they were read)", async () => {
      const { store: s, view, redeemer, events } = await harness();
      await (
        await env.suite.ticketBroker.connect(env.signers[LEAN_SENDER]).fundDeposit({ value: parseEther("1") })
      ).wait();
      const [drain] = await makeTickets(LEAN_SENDER, parseEther("1"));
      const [t] = await makeTickets(LEAN_SENDER, parseEther("0.5"));
      store(s, [t]);
      await view.poll();
      // The view reads the sender's funds for this block (validating a ticket, say)...
      expect((await view.senderFunds(address(LEAN_SENDER))).deposit).to.equal(parseEther("1"));
      // ...and then the deposit is emptied before the redeemer's transaction.
      await redeemDirectly(drain);
      expect(await depositOf(LEAN_SENDER)).to.equal(0n);
      const nonceBefore = await nonceOf(ORCHESTRATOR);

      await redeemer.kick();

      expect(await nonceOf(ORCHESTRATOR)).to.equal(nonceBefore + 1);
      const txHash = redeemer.status.lastTx!;
      const { redeemed, failed } = brokerEvents(await receiptOf(txHash));
      expect(redeemed).to.deep.equal([]);
      expect(failed).to.deep.equal([{ index: 0, reason: "NothingToPay" }]);
      expect(await used(t)).to.equal(false);
      const stored = statusOf(s, t);
      expect(stored.status).to.equal("pending");
      expect(stored.txHash).to.equal(undefined);
      expect(stored.reason).to.equal(undefined);
      expect(events.failed).to.deep.equal([]);

      // With the funds read afresh, it waits instead of going out again.
      await view.poll();
      await redeemer.kick();
      expect(await nonceOf(ORCHESTRATOR)).to.equal(nonceBefore + 1);
      expect(redeemer.status.waiting).to.equal("1 from senders with nothing left to pay this round");
      expect(statusOf(s, t).status).to.equal("pending");
    });
  });
});
