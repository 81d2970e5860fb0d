/**
 * The verifier's durable state (SQLite, synchronous commits): the disputes it has seen, its judgement, and the salt
 * of its vote, written before the commit transaction is sent. A verifier restarted mid-dispute reveals the vote it
 * committed; losing the salt would cost it `verifierSlashAmount` of its stake.
 */
import fs from "node:fs";
import path from "node:path";

import Database from "better-sqlite3";

import type { ReceiptJson } from "../orchestrator/wire";

export type VoteName = "Fault" | "NoFault";

export interface DisputeRow {
  id: number;
  broadcaster: string;
  orchestrator: string;
  receipt: ReceiptJson;
  evidenceUri: string;
  openedBlock: number;
  /** Our judgement, once made (members only). */
  vote?: VoteName;
  reasons?: string[];
  /** 0x-hex 32 bytes; set together with `vote`, before the commit is sent. */
  salt?: string;
  /** The dispute's outcome once resolved; the row is then done. */
  outcome?: string;
}

interface Row {
  id: number;
  broadcaster: string;
  orchestrator: string;
  receipt: string;
  evidence_uri: string;
  opened_block: number;
  vote: string | null;
  reasons: string | null;
  salt: string | null;
  outcome: string | null;
}

function fromRow(row: Row): DisputeRow {
  return {
    id: row.id,
    broadcaster: row.broadcaster,
    orchestrator: row.orchestrator,
    receipt: JSON.parse(row.receipt) as ReceiptJson,
    evidenceUri: row.evidence_uri,
    openedBlock: row.opened_block,
    vote: (row.vote as VoteName | null) ?? undefined,
    reasons: row.reasons ? (JSON.parse(row.reasons) as string[]) : undefined,
    salt: row.salt ?? undefined,
    outcome: row.outcome ?? undefined,
  };
}

export class VerifierStore {
  private readonly db: Database.Database;

  constructor(file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = FULL");
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS disputes (
        id INTEGER PRIMARY KEY,
        broadcaster TEXT NOT NULL,
        orchestrator TEXT NOT NULL,
        receipt TEXT NOT NULL,
        evidence_uri TEXT NOT NULL,
        opened_block INTEGER NOT NULL,
        vote TEXT,
        reasons TEXT,
        salt TEXT,
        outcome TEXT
      );
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    `);
  }

  /** The last block whose DisputeOpened events were read. */
  get scannedBlock(): number | undefined {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'scannedBlock'").get() as
      { value: string } | undefined;
    return row ? Number(row.value) : undefined;
  }

  /** Records disputes and the scan cursor in one transaction, so a crash never skips an event. */
  addScanned(disputes: readonly DisputeRow[], toBlock: number): void {
    const insert = this.db.prepare(
      `INSERT OR IGNORE INTO disputes (id, broadcaster, orchestrator, receipt, evidence_uri, opened_block)
       VALUES (@id, @broadcaster, @orchestrator, @receipt, @evidenceUri, @openedBlock)`,
    );
    const cursor = this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('scannedBlock', ?)");
    this.db.transaction(() => {
      for (const d of disputes) insert.run({ ...d, receipt: JSON.stringify(d.receipt) });
      cursor.run(String(toBlock));
    })();
  }

  get(id: number): DisputeRow | undefined {
    const row = this.db.prepare("SELECT * FROM disputes WHERE id = ?").get(id) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  unresolved(): DisputeRow[] {
    return (this.db.prepare("SELECT * FROM disputes WHERE outcome IS NULL ORDER BY id").all() as Row[]).map(fromRow);
  }

  recent(limit: number): DisputeRow[] {
    return (this.db.prepare("SELECT * FROM disputes ORDER BY id DESC LIMIT ?").all(limit) as Row[]).map(fromRow);
  }

  /** Stores the judgement once: a second call (after a restart) keeps the first vote and salt. */
  setJudgement(id: number, vote: VoteName, reasons: readonly string[], salt: string): DisputeRow | undefined {
    this.db
      .prepare("UPDATE disputes SET vote = ?, reasons = ?, salt = ? WHERE id = ? AND vote IS NULL")
      .run(vote, JSON.stringify(reasons), salt, id);
    return this.get(id);
  }

  setOutcome(id: number, outcome: string): void {
    this.db.prepare("UPDATE disputes SET outcome = ? WHERE id = ?").run(outcome, id);
  }

  close(): void {
    this.db.close();
  }
}
