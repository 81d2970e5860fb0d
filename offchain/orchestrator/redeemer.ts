/**
 * The redeemer loop: turns the winning tickets in the store into ETH. On every new block it expires what the broker
 * would refuse, reconciles transactions already out (after a restart too: the broker's `usedTickets` is the truth,
 * since only this orchestrator can redeem its tickets), then batches pending tickets that are worth their gas and
 * whose senders can pay, and sends one `batchRedeemWinningTickets`. The transaction's hash is recorded before it is
 * broadcast, so no ticket is ever in two transactions, and a crash at any point loses nothing.
 */
import { EventEmitter } from "node:events";

import type { Contract, Log, TransactionReceipt } from "ethers";

import type { Logger } from "../common/log";
import type { ChainView } from "../chain/view";
import { TxError, type TxSender } from "../chain/txSender";
import type { StoredTicket, WinningTicketStore } from "./ticketStore";

export interface RedeemerOptions {
  /** Tickets per transaction at most. */
  batchSize?: number;
  /** Gas a redemption adds to a batch (the gas snapshot: ~130k-180k). */
  gasPerTicket?: bigint;
  /** A ticket is redeemed once its face value is this many times its share of the gas (default 3). */
  minFaceValueToGas?: bigint;
  /** Runs also this often without new blocks (chains that mine only on demand), ms (default 10 s). */
  intervalMs?: number;
}

/** Broker errors that mean "not now" rather than "never": the ticket stays pending and is retried. */
const RETRYABLE = new Set(["NothingToPay", "CurrentRoundNotInitialized", "TranscoderNotActive", "SystemIsPaused"]);

export interface RedeemerStatus {
  lastTx?: string;
  lastError?: string;
  lastRunAt?: number;
  /** Why pending tickets are waiting, when they are (not active, round not initialized, gas, sender funds). */
  waiting?: string;
}

export class Redeemer extends EventEmitter {
  readonly status: RedeemerStatus = {};
  private running?: Promise<void>;
  private again = false;
  private stopped = false;
  private readonly onBlock = () => this.kick();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly store: WinningTicketStore,
    private readonly chain: ChainView,
    private readonly broker: Contract,
    private readonly tx: TxSender,
    private readonly log: Logger,
    private readonly options: RedeemerOptions = {},
  ) {
    super();
  }

  start(): void {
    this.chain.on("block", this.onBlock);
    this.timer = setInterval(() => void this.kick(), this.options.intervalMs ?? 10_000);
    this.timer.unref();
    void this.kick();
  }

  /** Stops after the run in progress (its transaction is recorded either way). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.chain.off("block", this.onBlock);
    await this.running;
  }

  /** Runs once now, or once more after the run in progress. Resolves when that run is over. */
  kick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.runOnce();
          this.status.lastError = undefined;
        } catch (error) {
          // Transient (RPC down, gas above the ceiling): logged, counted, retried on the next block.
          this.status.lastError = (error as Error).message;
          this.emit("error-run", error);
          this.log.warn({ err: (error as Error).message }, "redemption run failed; retrying on the next block");
        }
        this.status.lastRunAt = Date.now();
      } while (this.again && !this.stopped);
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  private async runOnce(): Promise<void> {
    const chain = this.chain.snapshot;
    // Reconcile first: a ticket found unsent goes back to pending, and must then be expired if its time is up.
    await this.reconcile();
    const expired = this.store.expire(chain.round);
    if (expired > 0) {
      this.emit("expired", expired);
      this.log.warn(
        { expired, round: chain.round.toString() },
        "winning tickets expired before they could be redeemed",
      );
    }
    await this.redeemPending();
  }

  /** Settles tickets marked submitted: mined → apply the receipt; gone → ask the broker whether each was used. */
  async reconcile(): Promise<void> {
    const submitted = this.store.list("submitted", 10_000);
    const byTx = new Map<string, StoredTicket[]>();
    for (const t of submitted) byTx.set(t.txHash!, [...(byTx.get(t.txHash!) ?? []), t]);
    for (const [hash, tickets] of byTx) {
      const receipt = await this.chain.provider.getTransactionReceipt(hash);
      if (receipt) {
        this.apply(receipt, await this.inBatchOrder(hash, tickets));
        continue;
      }
      if (await this.chain.provider.getTransaction(hash)) continue; // still waiting to be mined
      // Never broadcast (crash between recording and sending), dropped, or replaced by another transaction: the
      // broker knows which tickets were paid, and its event says by which transaction.
      for (const t of tickets) {
        if (await this.broker.usedTickets(t.ticketHash)) {
          this.chain.forgetFunds(faceValueBySender([t]));
          const events = await this.broker.queryFilter(this.broker.filters.WinningTicketRedeemed(t.ticketHash));
          this.store.markRedeemed([t.ticketHash], events.at(-1)?.transactionHash ?? hash);
          this.emit("redeemed", t);
        } else {
          this.store.markPending([t.ticketHash]);
        }
      }
      this.log.info({ tx: hash, tickets: tickets.length }, "reconciled a redemption transaction that is not on chain");
    }
  }

  /**
   * The stored tickets of a mined batch in the order the transaction carried them (its events refer to positions),
   * read back from the transaction's input.
   */
  private async inBatchOrder(hash: string, tickets: StoredTicket[]): Promise<Array<StoredTicket | undefined>> {
    const tx = await this.chain.provider.getTransaction(hash);
    if (!tx) return tickets;
    const key = (sender: string, nonce: bigint, randHash: string) =>
      `${sender.toLowerCase()}:${nonce}:${randHash.toLowerCase()}`;
    const byKey = new Map(
      tickets.map((t) => [
        key(t.signed.ticket.sender, t.signed.ticket.senderNonce, t.signed.ticket.recipientRandHash),
        t,
      ]),
    );
    const [sent] = this.broker.interface.decodeFunctionData("batchRedeemWinningTickets", tx.data) as unknown as [
      Array<{ sender: string; senderNonce: bigint; recipientRandHash: string }>,
    ];
    return sent.map((t) => byKey.get(key(t.sender, t.senderNonce, t.recipientRandHash)));
  }

  private async redeemPending(): Promise<void> {
    const chain = this.chain.snapshot;
    const pending = this.store.list("pending", 1000);
    if (pending.length === 0) {
      this.status.waiting = undefined;
      return;
    }
    if (!chain.roundInitialized) {
      this.status.waiting = `round ${chain.round} is not initialized`;
      return;
    }
    if (!chain.active) {
      this.status.waiting = `this orchestrator is not active in round ${chain.round}: the broker would refuse`;
      return;
    }
    const gasPerTicket = this.options.gasPerTicket ?? 180_000n;
    const ticketGasCost = gasPerTicket * chain.gasPrice;
    const minRatio = this.options.minFaceValueToGas ?? 3n;
    const batch: StoredTicket[] = [];
    const available = new Map<string, bigint>();
    let deferredForGas = 0;
    let deferredForFunds = 0;
    for (const t of pending) {
      if (batch.length >= (this.options.batchSize ?? 20)) break;
      const face = t.signed.ticket.faceValue;
      if (t.lastValidRound < chain.round) continue; // the broker would refuse it; expire() takes it next run
      const lastChance = t.lastValidRound === chain.round;
      // Worth it comfortably, or at all when this is the ticket's last round.
      if (face < minRatio * ticketGasCost && !(lastChance && face > ticketGasCost)) {
        deferredForGas++;
        continue;
      }
      const sender = t.signed.ticket.sender.toLowerCase();
      let left = available.get(sender);
      if (left === undefined) {
        const funds = await this.chain.senderFunds(sender);
        left = funds.deposit + funds.reserveAllowance;
      }
      if (left <= 0n) {
        deferredForFunds++; // NothingToPay now; its reserve may pay next round
        available.set(sender, 0n);
        continue;
      }
      available.set(sender, left - face);
      batch.push(t);
    }
    const reasons = [
      deferredForGas > 0 ? `${deferredForGas} worth less than ${minRatio}x their gas at the current price` : "",
      deferredForFunds > 0 ? `${deferredForFunds} from senders with nothing left to pay this round` : "",
    ].filter(Boolean);
    this.status.waiting = reasons.length > 0 ? reasons.join("; ") : undefined;
    if (batch.length === 0) return;
    await this.send(batch);
  }

  private async send(batch: StoredTicket[]): Promise<void> {
    const hashes = batch.map((t) => t.ticketHash);
    const args = [batch.map((t) => t.signed.ticket), batch.map((t) => t.signed.sig), batch.map((t) => t.recipientRand)];
    let receipt: TransactionReceipt;
    try {
      receipt = await this.tx.send(this.broker, "batchRedeemWinningTickets", args, {
        beforeBroadcast: (hash, previous) => {
          if (previous === undefined) this.store.markSubmitted(hashes, hash);
          else this.store.replaceTx(previous, hash);
          this.status.lastTx = hash;
        },
      });
    } catch (error) {
      if (error instanceof TxError && error.code === "REVERTED") {
        // The whole batch reverted (paused system, round not initialized): nothing was paid; retry later.
        this.store.markPending(hashes);
      }
      throw error;
    }
    this.apply(receipt, batch);
  }

  /** Applies a mined batch: paid tickets → redeemed; refused ones → pending (retryable) or failed. */
  private apply(receipt: TransactionReceipt, batch: ReadonlyArray<StoredTicket | undefined>): void {
    const tickets = batch.filter((t): t is StoredTicket => t !== undefined);
    // Before the store stops counting them as pending: the funds are read afresh, never stale and short of them.
    this.chain.forgetFunds(faceValueBySender(tickets));
    if (receipt.status !== 1) {
      this.store.markPending(tickets.map((t) => t.ticketHash));
      return;
    }
    const paid = new Set<string>();
    const failures = new Map<number, string>();
    for (const log of receipt.logs as Log[]) {
      let parsed;
      try {
        parsed = this.broker.interface.parseLog(log);
      } catch {
        continue;
      }
      if (!parsed) continue;
      if (parsed.name === "WinningTicketRedeemed") paid.add((parsed.args.ticketHash as string).toLowerCase());
      if (parsed.name === "BatchTicketFailed") {
        const reason = this.broker.interface.parseError(parsed.args.reason as string);
        failures.set(Number(parsed.args.index), reason?.name ?? `revert data ${parsed.args.reason as string}`);
      }
    }
    batch.forEach((t, index) => {
      if (t === undefined) return; // not ours to settle (another record)
      if (paid.has(t.ticketHash)) {
        this.store.markRedeemed([t.ticketHash], receipt.hash);
        this.emit("redeemed", t);
        return;
      }
      const reason = failures.get(index) ?? "not paid";
      if (reason === "TicketUsed") {
        // Only this orchestrator can redeem its tickets: an earlier transaction of ours already did.
        this.store.markRedeemed([t.ticketHash], receipt.hash);
        this.emit("redeemed", t);
      } else if (RETRYABLE.has(reason)) {
        this.store.markPending([t.ticketHash]);
        this.log.info({ ticket: t.ticketHash, reason }, "ticket not paid this time; will retry");
      } else {
        this.store.markFailed([t.ticketHash], reason);
        this.emit("failed", t, reason);
        this.log.warn({ ticket: t.ticketHash, reason }, "the broker refused a winning ticket for good");
      }
    });
    this.log.info(
      { tx: receipt.hash, tickets: tickets.length, paid: paid.size, gasUsed: receipt.gasUsed.toString() },
      "redemption transaction mined",
    );
  }
}

/** The most each sender can have paid for these tickets: their face values. */
function faceValueBySender(tickets: readonly StoredTicket[]): Map<string, bigint> {
  const paid = new Map<string, bigint>();
  for (const { signed } of tickets) {
    const sender = signed.ticket.sender.toLowerCase();
    paid.set(sender, (paid.get(sender) ?? 0n) + signed.ticket.faceValue);
  }
  return paid;
}
