/**
 * The verifier's loop: read new `DisputeOpened` events into the store, then move every unresolved dispute one step:
 * draw its committee when the seed block is mined, judge and commit while it is in the commit phase (members only),
 * reveal the stored vote in the reveal phase, and resolve it once resolvable. Drawing and resolving are open to
 * anyone; whoever is first wins and the others' estimates revert harmlessly (WrongPhase).
 */
import { randomBytes } from "node:crypto";

import { type Contract, type Provider, solidityPackedKeccak256 } from "ethers";

import { OUTCOME_NAMES, VOTE } from "../chain/abi";
import { TxError, type TxSender } from "../chain/txSender";
import type { Logger } from "../common/log";
import { committeeDue, phaseForNextBlock } from "../disputes/phase";
import type { ReceiptJson } from "../orchestrator/wire";
import type { VerifierMetrics } from "./metrics";
import type { DisputeRow, VerifierStore, VoteName } from "./store";

export interface Judgement {
  vote: VoteName;
  reasons: string[];
}

export type Judge = (dispute: DisputeRow) => Promise<Judgement>;

export interface VerifierOptions {
  provider: Provider;
  disputes: Contract;
  rounds: Contract;
  tx: TxSender;
  self: string;
  store: VerifierStore;
  judge: Judge;
  metrics: VerifierMetrics;
  log: Logger;
  /** First block to read events from when the store has no cursor (the deployment block). */
  fromBlock: number;
  pollMs: number;
  /**
   * Judge every new dispute while its committee is still to be drawn, not only once drawn onto it: the judgement is
   * ready when the short commit phase starts. Costs a re-encode per dispute for verifiers that are not drawn.
   */
  judgeEarly?: boolean;
}

/** Errors meaning someone else already did it, or it is too early: not worth a warning. */
const BENIGN = new Set(["WrongPhase", "CommitteeNotDue", "AlreadyCommitted", "AlreadyRevealed"]);
const MAX_LOG_RANGE = 2000;

/** The contract wants the salt to start with the voter's address (a copied commitment cannot be revealed). */
export function saltFor(voter: string): string {
  return "0x" + voter.slice(2).toLowerCase() + randomBytes(12).toString("hex");
}

export function commitmentOf(vote: VoteName, salt: string): string {
  return solidityPackedKeccak256(["uint8", "bytes32"], [VOTE[vote], salt]);
}

export class Verifier {
  lastError?: Error;
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private stopped = false;
  private readonly judging = new Map<number, Promise<void>>();
  private judgeQueue: Promise<unknown> = Promise.resolve();
  /** Disputes whose missed commit was already logged. */
  private readonly warned = new Set<number>();

  constructor(private readonly options: VerifierOptions) {}

  start(): void {
    const schedule = () => {
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        this.ticking = this.tick().finally(schedule);
      }, this.options.pollMs);
    };
    this.ticking = this.tick().finally(schedule);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.ticking;
    await Promise.allSettled(this.judging.values());
  }

  /** One pass; errors are logged and kept for /healthz, and the next pass tries again. */
  async tick(): Promise<void> {
    try {
      const block = await this.options.provider.getBlockNumber();
      await this.scan(block);
      for (const dispute of this.options.store.unresolved()) {
        if (this.stopped) return;
        await this.step(dispute, block).catch((error: Error) => {
          this.options.log.warn({ dispute: dispute.id, reason: error.message }, "dispute step failed; retrying");
        });
      }
      this.lastError = undefined;
    } catch (error) {
      this.lastError = error as Error;
      this.options.log.warn({ reason: (error as Error).message }, "cannot read the chain; retrying");
    }
  }

  private async scan(latest: number): Promise<void> {
    const { store, disputes, fromBlock } = this.options;
    let from = (store.scannedBlock ?? fromBlock - 1) + 1;
    while (from <= latest) {
      const to = Math.min(latest, from + MAX_LOG_RANGE - 1);
      const events = await disputes.queryFilter(disputes.filters.DisputeOpened(), from, to);
      const rows: DisputeRow[] = events.map((event) => {
        const args = (event as unknown as { args: Record<string, unknown> }).args;
        const r = args.receipt as unknown as Record<string, unknown>;
        const receipt: ReceiptJson = {
          broadcaster: String(r.broadcaster).toLowerCase(),
          orchestrator: String(r.orchestrator).toLowerCase(),
          streamId: String(r.streamId),
          seq: String(r.seq),
          sourceHash: String(r.sourceHash),
          profilesHash: String(r.profilesHash),
          outputsHash: String(r.outputsHash),
          deterministic: Boolean(r.deterministic),
        };
        return {
          id: Number(args.disputeId),
          broadcaster: receipt.broadcaster,
          orchestrator: receipt.orchestrator,
          receipt,
          evidenceUri: String(args.evidenceURI),
          openedBlock: event.blockNumber,
        };
      });
      store.addScanned(rows, to);
      for (const row of rows) {
        this.options.metrics.disputesSeen.inc();
        this.options.log.info(
          { dispute: row.id, orchestrator: row.orchestrator, seq: row.receipt.seq, evidence: row.evidenceUri },
          "dispute opened",
        );
      }
      from = to + 1;
    }
  }

  private async step(row: DisputeRow, block: number): Promise<void> {
    const { disputes, self } = this.options;
    const info = await disputes.getDispute(row.id);
    const phase = phaseForNextBlock(info, block);
    if (phase === "Resolved") return this.finish(row, OUTCOME_NAMES[Number(info.outcome)]);
    if (phase === "AwaitingCommittee") {
      if (this.options.judgeEarly && !(row.vote && row.salt)) this.startJudging(row);
      if (committeeDue(info, block)) await this.send("drawCommittee", [row.id], row.id);
      return;
    }
    if (phase === "Resolvable") return this.resolve(row.id);

    const ballot = await disputes.getVote(row.id, self);
    if (!ballot.member) return;
    const committed = ballot.commitment !== "0x" + "0".repeat(64);
    if (phase === "Commit" && !committed) {
      if (!row.vote || !row.salt) return this.startJudging(row); // the pass after the judgement commits it
      await this.send("commitVote", [row.id, commitmentOf(row.vote, row.salt)], row.id);
      this.options.metrics.votes.inc({ vote: row.vote });
      this.options.log.info({ dispute: row.id, vote: row.vote, reasons: row.reasons }, "vote committed");
      return;
    }
    if (phase === "Reveal" && committed && Number(ballot.vote) === VOTE.None) {
      if (!row.vote || !row.salt) {
        if (!this.warned.has(row.id)) {
          this.warned.add(row.id);
          this.options.log.error(
            { dispute: row.id },
            "committed but the vote and salt are not in the store: cannot reveal",
          );
        }
        return;
      }
      await this.send("revealVote", [row.id, VOTE[row.vote], row.salt], row.id);
      this.options.log.info({ dispute: row.id, vote: row.vote }, "vote revealed");
      return;
    }
    if (phase === "Reveal" && !committed && !this.warned.has(row.id)) {
      this.warned.add(row.id);
      this.options.log.warn({ dispute: row.id }, "the commit phase ended before this verifier committed");
    }
  }

  /** Judges in the background (one at a time: it re-encodes) and stores the vote with a fresh salt. */
  private startJudging(row: DisputeRow): void {
    if (this.judging.has(row.id)) return;
    const run = async () => {
      if (this.options.store.get(row.id)?.vote) return; // judged while this pass held an older row
      const started = performance.now();
      let judgement: Judgement;
      try {
        judgement = await this.options.judge(row);
      } catch (error) {
        // Evidence we cannot check does not prove a fault: data availability is the challenger's burden.
        judgement = { vote: "NoFault", reasons: [`could not judge: ${(error as Error).message}`] };
      }
      this.options.metrics.judgeSeconds.observe((performance.now() - started) / 1000);
      const salt = saltFor(this.options.self);
      this.options.store.setJudgement(row.id, judgement.vote, judgement.reasons, salt);
      this.options.log.info({ dispute: row.id, ...judgement }, "judged");
    };
    // The next pass commits the stored judgement.
    const done = this.judgeQueue.then(run, run).finally(() => this.judging.delete(row.id));
    this.judgeQueue = done.catch(() => undefined);
    this.judging.set(row.id, done);
  }

  private async resolve(id: number): Promise<void> {
    try {
      await this.sendOrThrow("resolve", [id]);
      this.options.log.info({ dispute: id }, "dispute resolved");
    } catch (error) {
      if (error instanceof TxError && error.revert === "CurrentRoundNotInitialized") {
        // The slash needs the round initialized; anyone may do it.
        await this.sendOrThrow("initializeRound", [], this.options.rounds).catch(() => undefined);
        return;
      }
      if (error instanceof TxError && error.revert && BENIGN.has(error.revert)) return;
      if (error instanceof TxError && error.code === "REVERTED") {
        // Someone resolved in the same block, or the round turned uninitialized: the next pass sees which.
        this.options.log.debug({ dispute: id, reason: error.message }, "resolve reverted on chain; checking again");
        return;
      }
      throw error;
    }
  }

  private async send(method: string, args: unknown[], id: number): Promise<void> {
    try {
      await this.sendOrThrow(method, args);
    } catch (error) {
      if (error instanceof TxError && error.revert && BENIGN.has(error.revert)) {
        this.options.log.debug({ dispute: id, method, revert: error.revert }, "already done by someone else");
        return;
      }
      // Mined after another's draw in the same block: the next pass sees the new phase.
      if (error instanceof TxError && error.code === "REVERTED" && method === "drawCommittee") {
        this.options.log.debug({ dispute: id, method }, "lost the race to draw; checking again");
        return;
      }
      throw error;
    }
  }

  private async sendOrThrow(method: string, args: unknown[], contract = this.options.disputes): Promise<void> {
    try {
      await this.options.tx.send(contract, method, args);
      this.options.metrics.transactions.inc({ method, result: "mined" });
    } catch (error) {
      this.options.metrics.transactions.inc({ method, result: (error as TxError).revert ?? "failed" });
      throw error;
    }
  }

  private finish(row: DisputeRow, outcome: string): void {
    this.options.store.setOutcome(row.id, outcome);
    const agreed = row.vote ? (row.vote === outcome ? "yes" : "no") : "not-voted";
    this.options.metrics.outcomes.inc({ outcome, agreed });
    this.options.log.info({ dispute: row.id, outcome, ourVote: row.vote ?? null }, "dispute settled");
  }
}
