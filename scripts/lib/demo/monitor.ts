/**
 * Reads the running network once: the broadcaster's /api/status, each orchestrator's /status and the winning
 * tickets paid on chain. Each read is bounded and may fail (a daemon busy or starting) without failing the demo.
 */
import type { HardhatRuntimeEnvironment } from "hardhat/types";

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
    return { at: Date.now(), broadcaster, orchestrators: byUrl, won, outstanding, redeemed };
  }

  private async redeemedCount(): Promise<number> {
    const broker = await this.hre.ethers.getContractAt("TicketBroker", this.record.contracts.TicketBroker);
    return (await broker.queryFilter(broker.filters.WinningTicketRedeemed(), this.fromBlock)).length;
  }
}
