/**
 * Disputes from the broadcaster: a result that a sampled re-encode shows to be clearly wrong (--verify-rate) is kept
 * as content-addressed evidence, served at `/evidence/<hash>`, and disputed on chain with the orchestrator's signed
 * receipt. One dispute per orchestrator at a time: a cheater's next bad segments need no second bond. The disputer
 * then follows each dispute: it draws the committee and resolves when nobody else has, and records the outcome.
 */
import { type Contract, type Provider, formatEther } from "ethers";
import type { FastifyInstance } from "fastify";

import { OUTCOME_NAMES } from "../chain/abi";
import { TxError, type TxSender } from "../chain/txSender";
import type { Logger } from "../common/log";
import type { EvidenceStore } from "../disputes/evidence";
import { committeeDue, phaseForNextBlock } from "../disputes/phase";
import type { Rendition } from "../media/ladder";
import type { TranscodeReceipt } from "../orchestrator/receipt";
import type { BroadcasterMetrics } from "./metrics";

export interface ClearFault {
  streamId: string;
  seq: number;
  orchestratorUrl: string;
  receipt: TranscodeReceipt;
  signature: string;
  source: Buffer;
  durationMs: number;
  outputs: Buffer[];
  reasons: string[];
}

export interface DisputeRecord {
  orchestrator: string;
  orchestratorUrl: string;
  streamId: string;
  seq: number;
  reasons: string[];
  evidenceUri: string;
  openedAt: number;
  /** Set once the opening transaction is mined. */
  id?: number;
  phase: string;
  outcome?: string;
  error?: string;
}

export interface DisputerOptions {
  tx: TxSender;
  /** The DisputeManager, connected to a provider. */
  contract: Contract;
  provider: Provider;
  chainId: bigint;
  store: EvidenceStore;
  /** Base of the evidence URLs verifiers fetch (this daemon's `/evidence`, or --evidence-url). */
  evidenceBaseUrl: () => string;
  ladder: readonly Rendition[];
  metrics: BroadcasterMetrics;
  log: Logger;
  pollMs?: number;
}

const BENIGN = new Set(["WrongPhase", "CommitteeNotDue"]);
const HASH_PATH = /^0x[0-9a-f]{64}$/;

export class Disputer {
  readonly records: DisputeRecord[] = [];
  private timer?: NodeJS.Timeout;
  private following?: Promise<void>;
  private readonly opening = new Set<Promise<void>>();

  constructor(private readonly options: DisputerOptions) {}

  start(): void {
    const schedule = () => {
      this.timer = setTimeout(() => {
        this.following = this.follow().finally(schedule);
      }, this.options.pollMs ?? 2000);
      this.timer.unref();
    };
    schedule();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    await Promise.allSettled([this.following, ...this.opening]);
  }

  /** A clear fault was found: dispute it unless this orchestrator is already under a dispute of ours. */
  report(fault: ClearFault): void {
    const orchestrator = fault.receipt.orchestrator.toLowerCase();
    const { log, metrics } = this.options;
    if (this.records.some((r) => r.orchestrator === orchestrator && !r.outcome && !r.error)) {
      metrics.disputes.inc({ event: "skipped" });
      log.info({ orchestrator, seq: fault.seq }, "another clear fault by an orchestrator already under dispute");
      return;
    }
    const hash = this.options.store.putEvidence({
      chainId: this.options.chainId,
      disputeManager: String(this.options.contract.target),
      receipt: fault.receipt,
      signature: fault.signature,
      ladder: this.options.ladder,
      source: fault.source,
      durationMs: fault.durationMs,
      outputs: fault.outputs,
    });
    const record: DisputeRecord = {
      orchestrator,
      orchestratorUrl: fault.orchestratorUrl,
      streamId: fault.streamId,
      seq: fault.seq,
      reasons: fault.reasons,
      evidenceUri: `${this.options.evidenceBaseUrl().replace(/\/+$/, "")}/${hash}`,
      openedAt: Date.now(),
      phase: "Opening",
    };
    this.records.unshift(record);
    const opening = this.open(record, fault).finally(() => this.opening.delete(opening));
    this.opening.add(opening);
  }

  private async open(record: DisputeRecord, fault: ClearFault): Promise<void> {
    const { tx, contract, log, metrics } = this.options;
    try {
      const bond = (await contract.disputeBond()) as bigint;
      const receipt = await tx.send(contract, "openDispute", [fault.receipt, fault.signature, record.evidenceUri], {
        value: bond,
      });
      const event = receipt.logs
        .map((entry) => {
          try {
            return contract.interface.parseLog(entry);
          } catch {
            return null;
          }
        })
        .find((parsed) => parsed?.name === "DisputeOpened");
      record.id = Number(event!.args.disputeId);
      record.phase = "AwaitingCommittee";
      metrics.disputes.inc({ event: "opened" });
      log.warn(
        {
          dispute: record.id,
          orchestrator: record.orchestrator,
          stream: record.streamId,
          seq: record.seq,
          bond: formatEther(bond),
          evidence: record.evidenceUri,
          reasons: record.reasons,
        },
        "dispute opened",
      );
    } catch (error) {
      record.error = (error as Error).message;
      record.phase = "NotOpened";
      metrics.disputes.inc({ event: "failed" });
      log.error({ orchestrator: record.orchestrator, reason: record.error }, "could not open the dispute");
    }
  }

  /** Moves our open disputes along: draw, resolve, and record outcomes. */
  private async follow(): Promise<void> {
    const pending = this.records.filter((r) => r.id !== undefined && !r.outcome);
    if (pending.length === 0) return;
    try {
      const block = await this.options.provider.getBlockNumber();
      for (const record of pending) await this.step(record, block);
    } catch (error) {
      this.options.log.warn({ reason: (error as Error).message }, "cannot follow disputes; retrying");
    }
  }

  private async step(record: DisputeRecord, block: number): Promise<void> {
    const { contract, tx, log, metrics } = this.options;
    const info = await contract.getDispute(record.id);
    record.phase = phaseForNextBlock(info, block);
    try {
      if (record.phase === "AwaitingCommittee" && committeeDue(info, block)) {
        await tx.send(contract, "drawCommittee", [record.id]);
      } else if (record.phase === "Resolvable") {
        await tx.send(contract, "resolve", [record.id]);
      } else if (record.phase === "Resolved") {
        record.outcome = OUTCOME_NAMES[Number(info.outcome)];
        metrics.disputes.inc({ event: record.outcome });
        log.warn(
          {
            dispute: record.id,
            orchestrator: record.orchestrator,
            outcome: record.outcome,
            fault: info.faultStake.toString(),
            noFault: info.noFaultStake.toString(),
          },
          "dispute settled",
        );
      }
    } catch (error) {
      // Someone else drew or resolved first; or the round is not initialized yet (the orchestrators do it).
      if (error instanceof TxError && error.revert && BENIGN.has(error.revert)) return;
      log.debug({ dispute: record.id, reason: (error as Error).message }, "dispute step failed; retrying");
    }
  }
}

/** `GET /evidence/<hash>`: immutable blobs, named by their keccak256. */
export function registerEvidenceRoutes(app: FastifyInstance, store: EvidenceStore): void {
  app.get<{ Params: { hash: string } }>("/evidence/:hash", async (request, reply) => {
    const hash = request.params.hash.toLowerCase();
    const bytes = HASH_PATH.test(hash) ? store.get(hash) : undefined;
    if (!bytes) {
      return reply.code(404).send({ error: { code: "NOT_FOUND", message: `no evidence ${request.params.hash}` } });
    }
    return reply
      .header("cache-control", "public, max-age=31536000, immutable")
      .header("access-control-allow-origin", "*")
      .type("application/octet-stream")
      .send(bytes);
  });
}
