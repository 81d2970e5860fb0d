/**
 * Reads the running network once: the broadcaster's /api/status, each orchestrator's /status, the winning tickets
 * paid on chain and, once the broadcaster has opened one, where its dispute stands on chain. Each read is bounded and
 * may fail (a daemon busy or starting) without failing the demo.
 */
import type { HardhatRuntimeEnvironment } from "hardhat/types";

import { OUTCOME_NAMES, type OutcomeName, PHASE_NAMES, type PhaseName } from "../../../offchain/chain/abi";
import type { DeploymentRecord } from "../deployment";
import {
  type BroadcasterStatus,
  type OrchestratorStatus,
  type SegmentReport,
  getJson,
  ticketsOutstanding,
  ticketsWon,
} from "./status";

export interface Snapshot {
  at: number;
  broadcaster: BroadcasterStatus | undefined;
  /** By orchestrator URL; missing when its /status did not answer. */
  orchestrators: Map<string, OrchestratorStatus>;
  /** Winning tickets stored by the orchestrators, and still pending or in flight. */
  won: number;
  outstanding: number;
  /** WinningTicketRedeemed events on chain. */
  redeemed: number;
  /** The first dispute the broadcaster opened (mined), as the chain has it; undefined while there is none. */
  dispute: DisputeProgress | undefined;
}

export interface DisputeProgress {
  id: number;
  /** The accused orchestrator's service URL, as the broadcaster knows it. */
  orchestratorUrl: string;
  phase: PhaseName;
  outcome: OutcomeName;
  /** Committee size (0 until drawn), members who committed, and who revealed. */
  members: number;
  committed: number;
  revealed: number;
}

export class Monitor {
  /** Every segment of the stream seen so far (the status lists only the last few), by sequence number. */
  readonly segments = new Map<number, SegmentReport>();

  constructor(
    private readonly hre: HardhatRuntimeEnvironment,
    private readonly record: DeploymentRecord,
    private readonly broadcasterUrl: string,
    private readonly streamId: string,
    private readonly orchestratorUrls: readonly string[],
    /** Count events from this block on. */
    private readonly fromBlock: number,
  ) {}

  async read(): Promise<Snapshot> {
    const [broadcaster, orchestrators, redeemed] = await Promise.all([
      getJson<BroadcasterStatus>(`${this.broadcasterUrl}/api/status`).catch(() => undefined),
      Promise.all(
        this.orchestratorUrls.map(async (url) => {
          const status = await getJson<OrchestratorStatus>(`${url}/status`).catch(() => undefined);
          return [url, status] as const;
        }),
      ),
      this.redeemedCount(),
    ]);
    const stream = broadcaster?.streams.find((s) => s.id === this.streamId);
    for (const segment of stream?.lastSegments ?? []) this.segments.set(segment.seq, segment);
    const byUrl = new Map<string, OrchestratorStatus>();
    for (const [url, status] of orchestrators) if (status) byUrl.set(url, status);
    let won = 0;
    let outstanding = 0;
    for (const status of byUrl.values()) {
      won += ticketsWon(status);
      outstanding += ticketsOutstanding(status);
    }
    // Newest first: the first one opened is the last with an id.
    const opened = broadcaster?.disputes.filter((d) => d.id !== null).at(-1);
    const dispute = opened
      ? await this.disputeProgress(opened.id!, opened.orchestratorUrl).catch(() => undefined)
      : undefined;
    return { at: Date.now(), broadcaster, orchestrators: byUrl, won, outstanding, redeemed, dispute };
  }

  private async disputeProgress(id: number, orchestratorUrl: string): Promise<DisputeProgress> {
    const disputes = await this.hre.ethers.getContractAt("DisputeManager", this.record.contracts.DisputeManager);
    const info = await disputes.getDispute(id);
    const [phase, [members], committed] = await Promise.all([
      disputes.disputePhase(id),
      disputes.getCommittee(id),
      disputes.queryFilter(disputes.filters.VoteCommitted(id), Number(info.openedBlock)),
    ]);
    return {
      id,
      orchestratorUrl,
      phase: PHASE_NAMES[Number(phase)]!,
      outcome: OUTCOME_NAMES[Number(info.outcome)]!,
      members: members.length,
      committed: committed.length,
      revealed: Number(info.reveals),
    };
  }

  private async redeemedCount(): Promise<number> {
    const broker = await this.hre.ethers.getContractAt("TicketBroker", this.record.contracts.TicketBroker);
    return (await broker.queryFilter(broker.filters.WinningTicketRedeemed(), this.fromBlock)).length;
  }
}
