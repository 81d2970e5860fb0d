/** `/api/status`: what the status page (and the demo's progress line) shows, amounts as decimal wei strings. */
import type { BroadcasterChain } from "./chain";
import type { Disputer } from "./disputes";
import type { OrchestratorLink } from "./link";
import type { Pipeline } from "./pipeline";
import type { OrchestratorBook } from "./selection";

export interface StatusSources {
  address: string;
  version: string;
  chain?: BroadcasterChain;
  pipeline: Pipeline;
  book: OrchestratorBook;
  links: ReadonlyMap<string, OrchestratorLink>;
  disputer?: Disputer;
}

export function buildStatus({ address, version, chain, pipeline, book, links, disputer }: StatusSources) {
  let ticketsSent = 0;
  let ticketsEV = 0n;
  let fees = 0n;
  for (const link of links.values()) {
    ticketsSent += link.ticketsSent;
    ticketsEV += link.evSent;
    fees += link.fees;
  }
  const streams = [...pipeline.streams.values()];
  const sum = (pick: (s: (typeof streams)[number]) => number) => streams.reduce((total, s) => total + pick(s), 0);
  return {
    address,
    version,
    chain: chain?.block !== undefined ? { block: Number(chain.block), round: String(chain.round) } : null,
    ticketFunds: chain?.funds ? { deposit: String(chain.funds.deposit), reserve: String(chain.funds.reserve) } : null,
    totals: {
      segmentsIn: sum((s) => s.segmentsIn),
      segmentsOut: sum((s) => s.segmentsOut),
      segmentsLost: sum((s) => s.segmentsFailed),
      ticketsSent,
      ticketsEV: String(ticketsEV),
      fees: String(fees),
      errors: pipeline.errorCount,
    },
    streams: streams.map((s) => ({
      id: s.id,
      state: s.state,
      source: s.ingest,
      ready: s.output.ready,
      startedAt: s.startedAt,
      endedAt: s.endedAt ?? null,
      segmentsIn: s.segmentsIn,
      segmentsOut: s.segmentsOut,
      segmentsFailed: s.segmentsFailed,
      inFlight: s.inFlight.size,
      renditions: s.output.renditionNames,
      playlist: `/stream/${s.id}.m3u8`,
      lastSegments: s.recent.slice(0, 10),
    })),
    orchestrators: book.list().map((e) => {
      const link = links.get(e.url);
      return {
        url: e.url,
        address: e.address ?? null,
        state: book.state(e),
        suspendedUntil: e.suspendedUntil > Date.now() ? e.suspendedUntil : null,
        pricePerPixel: e.pricePerPixel === undefined ? null : String(e.pricePerPixel),
        stake: e.stake > 0n ? String(e.stake) : null,
        latencyScore: e.latencyScore === undefined ? null : Math.round(e.latencyScore * 1000) / 1000,
        segments: e.segments,
        failures: e.failures,
        verifyFailures: e.verifyFailures,
        ticketsSent: link?.ticketsSent ?? 0,
        fees: String(link?.fees ?? 0n),
        credit: String(link?.credit ?? 0n),
      };
    }),
    errors: pipeline.errors.slice(0, 20),
    disputes: (disputer?.records ?? []).slice(0, 20).map((d) => ({
      id: d.id ?? null,
      orchestrator: d.orchestrator,
      orchestratorUrl: d.orchestratorUrl,
      stream: d.streamId,
      seq: d.seq,
      phase: d.phase,
      outcome: d.outcome ?? null,
      reasons: d.reasons,
      evidence: d.evidenceUri,
      error: d.error ?? null,
    })),
  };
}

/** `/api/status` as JSON: what the demo, the tests and any client read. */
export type BroadcasterStatus = ReturnType<typeof buildStatus>;
export type StreamStatus = BroadcasterStatus["streams"][number];
export type SegmentStatus = StreamStatus["lastSegments"][number];
export type OrchestratorStatus = BroadcasterStatus["orchestrators"][number];
