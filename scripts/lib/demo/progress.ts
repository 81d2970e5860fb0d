/**
 * What the demo prints, as pure functions of what it read: the live progress line, the summary, and the verdict
 * (what makes the run broken, as opposed to merely unlucky).
 */
import {
  type BroadcasterStatus,
  type OrchestratorStatus,
  type SegmentReport,
  type StreamReport,
  ticketsWon,
} from "./status";

/** `wei` in units of 10^18, truncated to `decimals` places: "0.018000". */
export function formatUnits18(wei: bigint, decimals = 6): string {
  const sign = wei < 0n ? "-" : "";
  const abs = wei < 0n ? -wei : wei;
  const whole = abs / 10n ** 18n;
  const fraction = (abs % 10n ** 18n).toString().padStart(18, "0").slice(0, decimals);
  return `${sign}${whole}${decimals > 0 ? "." + fraction : ""}`;
}

export const eth = (wei: bigint, decimals = 6) => `${formatUnits18(wei, decimals)} ETH`;
export const lpt = (wei: bigint, decimals = 4) => `${formatUnits18(wei, decimals)} LPT`;

/** "m:ss". */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export function findStream(status: BroadcasterStatus | undefined, id: string): StreamReport | undefined {
  return status?.streams.find((stream) => stream.id === id);
}

export interface ProgressInput {
  elapsedSec: number;
  durationSec: number;
  status: BroadcasterStatus | undefined;
  streamId: string;
  /** Orchestrator service URL → label ("A"). */
  labels: ReadonlyMap<string, string>;
  /** Winning tickets the orchestrators hold, and those paid on chain. */
  won: number;
  redeemed: number;
}

/** The newest segment that is no longer in flight (whatever order the list is in). */
export function latestDone(segments: readonly SegmentReport[]): SegmentReport | undefined {
  let latest: SegmentReport | undefined;
  for (const segment of segments) {
    if (segment.status !== "in-flight" && (latest === undefined || segment.seq > latest.seq)) latest = segment;
  }
  return latest;
}

/** The value below which `share` of the sorted `values` fall (nearest rank). */
export function percentile(sorted: readonly number[], share: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(share * sorted.length) - 1))]!;
}

/** One line: time, segments, renditions, the last segment, tickets and ETH. */
export function progressLine(input: ProgressInput): string {
  const time = `${clock(input.elapsedSec)}/${clock(input.durationSec)}`;
  const status = input.status;
  if (!status) return `${time}  waiting for the broadcaster's status…`;
  const stream = findStream(status, input.streamId);
  if (!stream) return `${time}  waiting for the stream to reach the broadcaster…`;
  const { segmentsIn, segmentsOut, segmentsLost, ticketsSent, ticketsEV } = status.totals;
  const parts = [
    `${time} ${stream.state}`,
    `segments ${segmentsIn} in, ${segmentsOut} out${segmentsLost > 0 ? `, ${segmentsLost} lost` : ""}`,
  ];
  if (stream.renditions.length > 0) parts.push(stream.renditions.join("+"));
  const last = latestDone(stream.lastSegments);
  if (last) {
    if (last.status === "failed") parts.push(`last #${last.seq} lost`);
    else {
      const via = last.orchestrator ? (input.labels.get(last.orchestrator) ?? last.orchestrator) : "?";
      parts.push(`last #${last.seq} ${last.latencyMs ?? "?"} ms via ${via}`);
    }
  }
  parts.push(`tickets ${ticketsSent} sent, ${input.won} won, ${input.redeemed} redeemed`);
  parts.push(`paid ${eth(BigInt(ticketsEV), 4)} (EV)`);
  return parts.join(" | ");
}

/**
 * Lines worth printing above the status line, from successive snapshots: the stream arriving, segments moving to
 * another orchestrator, new broadcaster errors. Keeps only what it has already reported.
 */
export class EventLines {
  streamSeen = false;
  private via: string | undefined;
  private errorsSeen = 0;

  constructor(
    private readonly streamId: string,
    private readonly labels: ReadonlyMap<string, string>,
  ) {}

  from(snapshot: { broadcaster: BroadcasterStatus | undefined }): string[] {
    const status = snapshot.broadcaster;
    const stream = findStream(status, this.streamId);
    const lines: string[] = [];
    if (!status || !stream) return lines;
    if (!this.streamSeen) {
      this.streamSeen = true;
      lines.push(`  the stream "${stream.id}" is ${stream.state} at the broadcaster (${stream.source} ingest)`);
    }
    const last = latestDone(stream.lastSegments);
    if (last?.status === "ok" && last.orchestrator && last.orchestrator !== this.via) {
      const label = this.labels.get(last.orchestrator) ?? last.orchestrator;
      lines.push(`  segment #${last.seq} and on: transcoded by orchestrator ${label}`);
      this.via = last.orchestrator;
    }
    // `errors` is newest first; the total says how many are new.
    const fresh = Math.min(status.totals.errors - this.errorsSeen, status.errors.length);
    for (const error of status.errors.slice(0, Math.max(0, fresh)).reverse()) {
      lines.push(`  broadcaster: ${error.message}`);
    }
    this.errorsSeen = status.totals.errors;
    return lines;
  }
}

export interface OrchestratorSummary {
  label: string;
  url: string;
  address: string;
  pricePerPixel: bigint;
  /** Segments the broadcaster got from it (undefined: not in its book). */
  segments: number | undefined;
  failures: number;
  /** Its winning tickets by state, from its /status (undefined: it did not answer). */
  tickets: OrchestratorStatus["tickets"] | undefined;
  /** Redeemed on chain (WinningTicketRedeemed to it) and what they paid. */
  redeemed: number;
  paid: bigint;
  feesCredited: bigint;
  /** Claimable by the orchestrator's own account now. */
  claimableFees: bigint;
  rewards: bigint;
}

export interface DemoSummary {
  streamId: string;
  requestedSec: number;
  status: BroadcasterStatus | undefined;
  /** Every segment seen in the broadcaster's status during the run, by sequence number. */
  segments: SegmentReport[];
  /** The stream was seen at the broadcaster. */
  streamSeen: boolean;
  orchestrators: OrchestratorSummary[];
  winners: { count: number; paid: bigint };
  /** EV sent / face value; undefined when the face value is unknown. */
  expectedWinners: number | undefined;
  /** Winning tickets still pending or in flight when the demo stopped waiting. */
  outstanding: number;
  rewards: { count: number; minted: bigint };
  delegator: { address: string; to: string; bonded: bigint; fees: bigint; rewards: bigint };
  round: bigint;
  playlistServed: boolean;
  /** The broadcaster's ticket funds on chain: [at the start, at the end]. */
  broadcasterFunds: { deposit: [bigint, bigint]; reserve: [bigint, bigint] };
}

/** Reasons the run is broken (exit code 1). Chance (no winning ticket) is not one of them. */
export function problems(summary: DemoSummary): string[] {
  const found: string[] = [];
  if (!summary.streamSeen) {
    found.push(`the stream "${summary.streamId}" never reached the broadcaster`);
    return found;
  }
  const totals = summary.status?.totals;
  if (!totals) return [...found, "the broadcaster's status could not be read at the end"];
  if (totals.segmentsOut === 0) found.push("no segment was transcoded");
  const unaccounted = totals.segmentsIn - totals.segmentsOut - totals.segmentsLost;
  if (unaccounted !== 0) {
    found.push(
      `${unaccounted} segment(s) neither published nor counted as lost ` +
        `(in ${totals.segmentsIn}, out ${totals.segmentsOut}, lost ${totals.segmentsLost})`,
    );
  }
  return found;
}

/** Probability that a Poisson count with mean `mean` is 0, as a percentage. */
function chanceOfNone(mean: number): string {
  return `${(100 * Math.exp(-mean)).toFixed(mean > 4 ? 2 : 1)}%`;
}

/** "5 winning tickets: 4 redeemed on chain (0.072 ETH), 1 expired". */
function ticketStates(o: OrchestratorSummary): string {
  const paid = `${o.redeemed} redeemed on chain (${eth(o.paid)})`;
  if (!o.tickets) return `winning tickets: ${paid}; its /status did not answer`;
  const others = (["pending", "submitted", "failed", "expired"] as const)
    .filter((state) => o.tickets![state] > 0)
    .map((state) => `${o.tickets![state]} ${state}`);
  return [`${ticketsWon({ tickets: o.tickets })} winning tickets: ${paid}`, ...others].join(", ");
}

/** Winning tickets that will never be paid (refused by the broker, or expired before they were redeemed). */
export function unpaidWinners(orchestrators: readonly OrchestratorSummary[]): number {
  return orchestrators.reduce((n, o) => n + (o.tickets ? o.tickets.failed + o.tickets.expired : 0), 0);
}

export function summaryLines(summary: DemoSummary): string[] {
  const lines: string[] = ["", `Summary of a ${summary.requestedSec} s stream`];
  const totals = summary.status?.totals;
  const stream = findStream(summary.status, summary.streamId);
  if (totals) {
    lines.push(
      `  segments: ${totals.segmentsIn} in, ${totals.segmentsOut} out, ${totals.segmentsLost} lost` +
        (stream ? ` (${stream.renditions.join(", ")}; stream ${stream.state})` : ""),
    );
    const latencies = summary.segments.flatMap((s) =>
      s.status === "ok" && s.latencyMs !== undefined ? [s.latencyMs] : [],
    );
    if (latencies.length > 0) {
      const sorted = [...latencies].sort((a, b) => a - b);
      lines.push(
        `  latency (segment sent → renditions back, ${sorted.length} segments transcoded): median ${percentile(sorted, 0.5)} ms, ` +
          `p95 ${percentile(sorted, 0.95)} ms, max ${sorted.at(-1)} ms`,
      );
    }
    const retried = summary.segments.filter((s) => s.attempts > 1).length;
    if (retried > 0) lines.push(`  segments that needed more than one attempt: ${retried}`);
    lines.push(
      `  tickets: ${totals.ticketsSent} sent, worth ${eth(BigInt(totals.ticketsEV))} in expected value; ` +
        `fees charged ${eth(BigInt(totals.fees))}`,
    );
    if (totals.errors > 0) lines.push(`  broadcaster errors: ${totals.errors} (last ones below)`);
  }
  lines.push(`  HLS playlist: ${summary.playlistServed ? "served" : "not seen"}`);

  lines.push("  orchestrators:");
  for (const o of summary.orchestrators) {
    lines.push(
      `    ${o.label} ${o.address} ${o.url}: ${o.segments ?? 0} segments` +
        (o.failures > 0 ? ` (${o.failures} failures)` : "") +
        ` at ${o.pricePerPixel} wei/pixel; ${ticketStates(o)}`,
    );
    lines.push(
      `      fees credited ${eth(o.feesCredited)}, claimable by the orchestrator ${eth(o.claimableFees)}; ` +
        `rewards ${lpt(o.rewards)}`,
    );
  }

  const { count, paid } = summary.winners;
  const expected = summary.expectedWinners === undefined ? "" : ` (expected ≈ ${summary.expectedWinners.toFixed(1)})`;
  lines.push(`  winning tickets redeemed on chain: ${count}, ${eth(paid)}${expected}`);
  if (count === 0 && summary.expectedWinners !== undefined) {
    lines.push(
      `    no ticket won: that happens by chance ${chanceOfNone(summary.expectedWinners)} of the time ` +
        "with this much paid; a longer run (--duration) makes it rarer",
    );
  }
  const unpaid = unpaidWinners(summary.orchestrators);
  if (unpaid > 0) {
    lines.push(
      `    ${unpaid} winning ticket(s) will never be paid (failed or expired): see the orchestrators' logs ` +
        "(redeemer) for why",
    );
  }
  if (summary.outstanding > 0) {
    lines.push(`    ${summary.outstanding} winning ticket(s) still waiting to be redeemed when the demo stopped`);
  }
  const funds = summary.broadcasterFunds;
  lines.push(
    `  broadcaster's funds: deposit ${eth(funds.deposit[0], 4)} → ${eth(funds.deposit[1])}, ` +
      `reserve ${eth(funds.reserve[0], 4)} → ${eth(funds.reserve[1])}`,
  );
  lines.push(`  rewards: reward() called ${summary.rewards.count} times, ${lpt(summary.rewards.minted)} minted`);
  const d = summary.delegator;
  lines.push(
    `  delegator ${d.address} (${lpt(d.bonded, 0)} bonded to ${d.to}), claimable in round ${summary.round}: ` +
      `${eth(d.fees)} in fees and ${lpt(d.rewards)} in rewards`,
  );
  const errors = summary.status?.errors ?? [];
  for (const error of errors.slice(0, 3)) lines.push(`  broadcaster error: ${error.message}`);
  return lines;
}
