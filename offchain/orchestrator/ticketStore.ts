/**
 * Durable storage of winning tickets (SQLite through better-sqlite3, WAL, fully synchronous commits): a ticket is on
 * disk before the orchestrator answers the request that carried it, and its redemption state survives restarts.
 *
 * Each ticket moves pending → submitted (a redemption transaction is out) → redeemed, or back to pending when that
 * transaction is dropped, or to failed / expired. The ticket hash is the primary key, so the same ticket can never
 * be stored, or queued for redemption, twice. Amounts are stored as decimal text: exact for any uint256.
 */
import fs from "node:fs";
import path from "node:path";

import Database from "better-sqlite3";

import type { SignedTicket } from "../pm/ticket";

export type TicketStatus = "pending" | "submitted" | "redeemed" | "failed" | "expired";

export interface StoredTicket {
  ticketHash: string;
  signed: SignedTicket;
  recipientRand: bigint;
  /** Last round in which the broker still accepts it (creationRound + ticketValidityPeriod - 1). */
  lastValidRound: bigint;
  status: TicketStatus;
  /** The redemption transaction, once one was sent. */
  txHash?: string;
  /** Why it failed, for failed tickets. */
  reason?: string;
  receivedAt: number;
}

export interface TicketStats {
  pending: number;
  submitted: number;
  redeemed: number;
  failed: number;
  expired: number;
  /** Face value of the pending and submitted tickets, in wei. */
  outstandingFaceValue: bigint;
  /** Face value redeemed so far, in wei. */
  redeemedFaceValue: bigint;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS winning_tickets (
  ticket_hash TEXT PRIMARY KEY,
  recipient TEXT NOT NULL,
  sender TEXT NOT NULL,
  face_value TEXT NOT NULL,
  win_prob TEXT NOT NULL,
  sender_nonce TEXT NOT NULL,
  recipient_rand_hash TEXT NOT NULL,
  creation_round TEXT NOT NULL,
  creation_round_block_hash TEXT NOT NULL,
  sig TEXT NOT NULL,
  recipient_rand TEXT NOT NULL,
  last_valid_round TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'submitted', 'redeemed', 'failed', 'expired')),
  tx_hash TEXT,
  reason TEXT,
  received_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS winning_tickets_status ON winning_tickets (status, last_valid_round);
CREATE INDEX IF NOT EXISTS winning_tickets_sender ON winning_tickets (sender, status);
`;

interface Row {
  ticket_hash: string;
  recipient: string;
  sender: string;
  face_value: string;
  win_prob: string;
  sender_nonce: string;
  recipient_rand_hash: string;
  creation_round: string;
  creation_round_block_hash: string;
  sig: string;
  recipient_rand: string;
  last_valid_round: string;
  status: TicketStatus;
  tx_hash: string | null;
  reason: string | null;
  received_at: number;
}

function fromRow(row: Row): StoredTicket {
  return {
    ticketHash: row.ticket_hash,
    signed: {
      ticket: {
        recipient: row.recipient,
        sender: row.sender,
        faceValue: BigInt(row.face_value),
        winProb: BigInt(row.win_prob),
        senderNonce: BigInt(row.sender_nonce),
        recipientRandHash: row.recipient_rand_hash,
        creationRound: BigInt(row.creation_round),
        creationRoundBlockHash: row.creation_round_block_hash,
      },
      sig: row.sig,
    },
    recipientRand: BigInt(row.recipient_rand),
    lastValidRound: BigInt(row.last_valid_round),
    status: row.status,
    txHash: row.tx_hash ?? undefined,
    reason: row.reason ?? undefined,
    receivedAt: row.received_at,
  };
}

export class WinningTicketStore {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly selectByStatus: Database.Statement;
  private readonly outstandingBySender: Database.Statement;
  private readonly countOutstanding: Database.Statement;
  private readonly countByStatus: Database.Statement;
  private readonly outstandingFaceValues: Database.Statement;
  private readonly redeemedFaceValues: Database.Statement;

  /** Opens (creating if needed) the store at `file`; ":memory:" for a throwaway one. */
  constructor(
    file: string,
    private readonly clock: () => number = Date.now,
  ) {
    if (file !== ":memory:") fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    // FULL: a commit is on disk when it returns, so "stored" means stored even if the machine loses power.
    this.db.pragma("synchronous = FULL");
    this.db.pragma("busy_timeout = 5000");
    this.db.exec(SCHEMA);
    this.insert = this.db.prepare(`INSERT OR IGNORE INTO winning_tickets VALUES (
      @ticket_hash, @recipient, @sender, @face_value, @win_prob, @sender_nonce, @recipient_rand_hash, @creation_round,
      @creation_round_block_hash, @sig, @recipient_rand, @last_valid_round, 'pending', NULL, NULL, @now, @now)`);
    this.countOutstanding = this.db.prepare(
      "SELECT COUNT(*) AS n FROM winning_tickets WHERE status IN ('pending', 'submitted')",
    );
    this.countByStatus = this.db.prepare("SELECT status, COUNT(*) AS n FROM winning_tickets GROUP BY status");
    this.outstandingFaceValues = this.db.prepare(
      "SELECT face_value FROM winning_tickets WHERE status IN ('pending', 'submitted')",
    );
    this.redeemedFaceValues = this.db.prepare("SELECT face_value FROM winning_tickets WHERE status = 'redeemed'");
    this.outstandingBySender = this.db.prepare(
      "SELECT face_value FROM winning_tickets WHERE sender = ? AND status IN ('pending', 'submitted')",
    );
    this.selectByStatus = this.db.prepare(
      "SELECT * FROM winning_tickets WHERE status = ? ORDER BY CAST(last_valid_round AS INTEGER), received_at LIMIT ?",
    );
  }

  /** Stores a winning ticket as pending. Returns false if this ticket hash is already stored (nothing changes). */
  add(ticketHash: string, signed: SignedTicket, recipientRand: bigint, lastValidRound: bigint): boolean {
    const t = signed.ticket;
    const now = this.clock();
    const info = this.insert.run({
      ticket_hash: ticketHash.toLowerCase(),
      recipient: t.recipient,
      sender: t.sender.toLowerCase(),
      face_value: t.faceValue.toString(),
      win_prob: t.winProb.toString(),
      sender_nonce: t.senderNonce.toString(),
      recipient_rand_hash: t.recipientRandHash,
      creation_round: t.creationRound.toString(),
      creation_round_block_hash: t.creationRoundBlockHash,
      sig: signed.sig,
      recipient_rand: recipientRand.toString(),
      last_valid_round: lastValidRound.toString(),
      now,
    });
    return info.changes === 1;
  }

  get(ticketHash: string): StoredTicket | undefined {
    const row = this.db.prepare("SELECT * FROM winning_tickets WHERE ticket_hash = ?").get(ticketHash.toLowerCase());
    return row ? fromRow(row as Row) : undefined;
  }

  /** Tickets in one state, those expiring soonest first. */
  list(status: TicketStatus, limit = 1000): StoredTicket[] {
    return (this.selectByStatus.all(status, limit) as Row[]).map(fromRow);
  }

  private transition(hashes: readonly string[], from: readonly TicketStatus[], set: string, values: unknown[]): number {
    const placeholders = from.map(() => "?").join(", ");
    const update = this.db.prepare(
      `UPDATE winning_tickets SET ${set}, updated_at = ? WHERE ticket_hash = ? AND status IN (${placeholders})`,
    );
    const now = this.clock();
    const run = this.db.transaction((list: readonly string[]) =>
      list.reduce((changed, hash) => changed + update.run(...values, now, hash.toLowerCase(), ...from).changes, 0),
    );
    return run(hashes);
  }

  /**
   * Marks pending tickets as carried by a redemption transaction. Only pending ones move: a ticket already out in
   * another transaction is never sent twice. Returns how many moved.
   */
  markSubmitted(hashes: readonly string[], txHash: string): number {
    return this.transition(hashes, ["pending"], "status = 'submitted', tx_hash = ?", [txHash]);
  }

  /** The transaction was mined and paid these tickets. */
  markRedeemed(hashes: readonly string[], txHash: string): number {
    return this.transition(hashes, ["pending", "submitted"], "status = 'redeemed', tx_hash = ?, reason = NULL", [
      txHash,
    ]);
  }

  /** A submitted transaction was replaced (same nonce, higher fees): its tickets now wait on `newTx`. */
  replaceTx(oldTx: string, newTx: string): number {
    return this.db
      .prepare("UPDATE winning_tickets SET tx_hash = ?, updated_at = ? WHERE status = 'submitted' AND tx_hash = ?")
      .run(newTx, this.clock(), oldTx).changes;
  }

  /**
   * Face value of a sender's tickets not yet redeemed (pending or submitted), in wei: what its funds must still
   * cover before it can back new tickets.
   */
  outstandingFaceValue(sender: string): bigint {
    const rows = this.outstandingBySender.all(sender.toLowerCase()) as Array<{ face_value: string }>;
    return rows.reduce((total, r) => total + BigInt(r.face_value), 0n);
  }

  /** The transaction was dropped or replaced without paying them: they may go out again. */
  markPending(hashes: readonly string[]): number {
    return this.transition(hashes, ["submitted"], "status = 'pending', tx_hash = NULL", []);
  }

  /** The broker refused them for good (already used, sender cannot pay, ...). */
  markFailed(hashes: readonly string[], reason: string): number {
    return this.transition(hashes, ["pending", "submitted"], "status = 'failed', reason = ?", [reason]);
  }

  /** Pending tickets the broker no longer accepts (their last valid round has passed) become expired. */
  expire(currentRound: bigint): number {
    const now = this.clock();
    return this.db
      .prepare(
        "UPDATE winning_tickets SET status = 'expired', updated_at = ? WHERE status = 'pending' AND CAST(last_valid_round AS INTEGER) < ?",
      )
      .run(now, currentRound.toString()).changes;
  }

  /** Tickets not yet settled (pending or submitted): cheap (the status index), for gauges updated per segment. */
  outstandingCount(): number {
    return (this.countOutstanding.get() as { n: number }).n;
  }

  /** Counts per state and face-value totals; reads every row, so for /status rather than per segment. */
  stats(): TicketStats {
    const counts = Object.fromEntries(
      (this.countByStatus.all() as Array<{ status: TicketStatus; n: number }>).map((r) => [r.status, r.n]),
    ) as Partial<Record<TicketStatus, number>>;
    const sum = (statement: Database.Statement) =>
      (statement.all() as Array<{ face_value: string }>).reduce((total, r) => total + BigInt(r.face_value), 0n);
    return {
      pending: counts.pending ?? 0,
      submitted: counts.submitted ?? 0,
      redeemed: counts.redeemed ?? 0,
      failed: counts.failed ?? 0,
      expired: counts.expired ?? 0,
      outstandingFaceValue: sum(this.outstandingFaceValues),
      redeemedFaceValue: sum(this.redeemedFaceValues),
    };
  }

  close(): void {
    this.db.close();
  }
}
