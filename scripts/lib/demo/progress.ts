/**
 * What the demo prints, as pure functions of what it read: the live progress line, the summary, and the verdict
 * (what makes the run broken, as opposed to merely unlucky).
 */
import type { OutcomeName, PhaseName } from "../../../offchain/chain/abi";
import type { DisputeProgress } from "./monitor";
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
  /** The broadcaster's dispute, once one is open on chain. */
  dispute?: DisputeProgress;
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
  if (input.dispute) parts.push(disputeState(input.dispute, input.labels));
  return parts.join(" | ");
}

/** An orchestrator's label from its service URL (written with or without a trailing slash); the URL if unknown. */
export function labelOf(labels: ReadonlyMap<string, string>, url: string): string {
  return labels.get(url) ?? labels.get(url.replace(/\/+$/, "")) ?? url;
}

/** "dispute #1 vs A: Commit, 2/3 committed". */
export function disputeState(dispute: DisputeProgress, labels: ReadonlyMap<string, string>): string {
  const against = labelOf(labels, dispute.orchestratorUrl);
  const where: Partial<Record<PhaseName, string>> = {
    AwaitingCommittee: "waiting for the committee draw",
    Commit: `Commit, ${dispute.committed}/${dispute.members} committed`,
    Reveal: `Reveal, ${dispute.revealed}/${dispute.members} revealed`,
    Resolvable: `Resolvable, ${dispute.revealed}/${dispute.members} revealed`,
    Resolved: `Resolved: ${dispute.outcome}`,
  };
  return `dispute #${dispute.id} vs ${against}: ${where[dispute.phase] ?? dispute.phase}`;
}

/**
 * Lines worth printing above the status line, from successive snapshots: the stream arriving, segments moving to
 * another orchestrator, new broadcaster errors, a dispute opened and each of its phases. Keeps only what it has
 * already reported.
 */
export class EventLines {
  streamSeen = false;
  private via: string | undefined;
  private errorsSeen = 0;
  private readonly faultsSeen = new Set<string>();
  private disputePhase: string | undefined;

  constructor(
    private readonly streamId: string,
    private readonly labels: ReadonlyMap<string, string>,
  ) {}

  from(snapshot: { broadcaster: BroadcasterStatus | undefined; dispute?: DisputeProgress }): string[] {
    const status = snapshot.broadcaster;
    const lines: string[] = [];
    // Before the stream check: a dispute goes on after the stream ended.
    for (const dispute of [...(status?.disputes ?? [])].reverse()) {
      const key = `${dispute.orchestrator}:${dispute.seq}`;
      if (this.faultsSeen.has(key)) continue;
      this.faultsSeen.add(key);
      const label = labelOf(this.labels, dispute.orchestratorUrl);
      // The reasons are in the broadcaster's error line about the same segment.
      lines.push(
        `  broadcaster: orchestrator ${label}'s segment #${dispute.seq} is a clear fault: refused, ${label} ` +
          "suspended, opening a dispute on chain",
      );
    }
    const dispute = snapshot.dispute;
    const phase = dispute && `${dispute.id}:${dispute.phase}`;
    if (dispute && phase !== this.disputePhase) {
      this.disputePhase = phase;
      lines.push(`  ${disputeState(dispute, this.labels)}`);
    }
    const stream = findStream(status, this.streamId);
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
  /** Of the failures, results refused after verification (a cheat caught, with --cheat). */
  verifyFailures: number;
  /** Its winning tickets by state, from its /status (undefined: it did not answer). */
  tickets: OrchestratorStatus["tickets"] | undefined;
  /** Redeemed on chain (WinningTicketRedeemed to it) and what they paid. */
  redeemed: number;
  paid: bigint;
  feesCredited: bigint;
  /** Claimable by the orchestrator's own account now. */
  claimableFees: bigint;
  /** Its stake (pendingStake) minus what it bonded. */
  rewards: bigint;
  /** With --cheat, when it was slashed: its stake then mixes rewards and the penalty. */
  slashed?: { bonded: bigint; penalty: bigint };
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
  /** With --cheat: what became of the cheat. */
  cheat?: CheatSummary;
}

export interface CheatSummary {
  /** The cheating orchestrator's label and address. */
  cheater: string;
  address: string;
  broadcaster: string;
  /** Segments published from the cheater's renditions (must be none). */
  publishedByCheater: number;
  /** The first dispute the broadcaster opened on chain; undefined if none was. */
  dispute: DisputeSummary | undefined;
  /** Why the broadcaster could not open a dispute, if it said so. */
  openError?: string;
}

export interface CommitteeMember {
  address: string;
  /** "V1", when it is one of the demo's verifiers. */
  label: string | undefined;
  /** Locked stake when the committee was drawn: the vote's weight. */
  weight: bigint;
  committed: boolean;
  vote: "None" | "Fault" | "NoFault";
  /** Stake it lost or gained at the resolution (no reveal, or on the wrong side). */
  penalized: bigint;
  rewarded: bigint;
}

export interface SlashSummary {
  finder: string;
  penalty: bigint;
  finderReward: bigint;
  /**
   * The slashed share (ppm) and the stake it was taken from: bonded as slashTranscoder settles it (through the
   * previous round; the orchestrator's share of the current round's rewards is not in it, and then grows on what is
   * left, which is why before − after is not the penalty).
   */
  fractionPpm: bigint;
  slashedFrom: bigint;
  /** What the orchestrator could claim (pendingStake) just before and after, this round's rewards included. */
  stakeBefore: bigint;
  stakeAfter: bigint;
}

export interface DisputeSummary {
  id: number;
  /** Disputes the broadcaster opened on chain during the run (one per orchestrator at a time). */
  opened: number;
  orchestrator: string;
  /** The accused orchestrator's label ("A"), when it is one of the demo's. */
  label: string | undefined;
  streamId: string;
  seq: number;
  /** What the broadcaster's re-encode showed, and where the evidence is served. */
  reasons: string[];
  evidence: string;
  bond: bigint;
  blocks: { opened: number; seed: number; commitEnd: number; revealEnd: number; resolved: number | undefined };
  /** From the opening block to the resolving one, by their timestamps. */
  seconds: number | undefined;
  phase: PhaseName;
  outcome: OutcomeName;
  faultStake: bigint;
  noFaultStake: bigint;
  reveals: number;
  committee: CommitteeMember[];
  /** TranscoderSlashed, and the orchestrator's own stake around it. */
  slash: SlashSummary | undefined;
  /** BondPaid: the dispute bond, back to the broadcaster on a Fault. */
  bondPaid: { recipient: string; amount: bigint; pushed: boolean } | undefined;
  /** The accused orchestrator in the BondingManager now. */
  pool: { inPool: boolean; registered: boolean; active: boolean; deactivationRound: bigint; round: bigint };
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
  if (summary.cheat) found.push(...cheatProblems(summary.cheat));
  return found;
}

/** With --cheat, the run fails unless the cheater was disputed, found at fault, and none of its output published. */
export function cheatProblems(cheat: CheatSummary): string[] {
  const found: string[] = [];
  if (cheat.publishedByCheater > 0) {
    found.push(`${cheat.publishedByCheater} segment(s) transcoded by the cheater ${cheat.cheater} were published`);
  }
  const dispute = cheat.dispute;
  if (!dispute) {
    const why = cheat.openError ? ` (${cheat.openError})` : "";
    return [...found, `no dispute was opened against the cheater, orchestrator ${cheat.cheater}${why}`];
  }
  if (dispute.orchestrator.toLowerCase() !== cheat.address.toLowerCase()) {
    found.push(
      `dispute #${dispute.id} accuses ${dispute.label ?? dispute.orchestrator}, not the cheater ${cheat.cheater}`,
    );
  }
  if (dispute.phase !== "Resolved") found.push(`dispute #${dispute.id} was not resolved (${dispute.phase})`);
  else if (dispute.outcome !== "Fault") found.push(`dispute #${dispute.id} ended in ${dispute.outcome}, not Fault`);
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
        (o.failures > 0
          ? ` (${o.failures} failures` +
            (o.verifyFailures > 0 ? `, ${o.verifyFailures} of them results refused after verification` : "") +
            ")"
          : "") +
        ` at ${o.pricePerPixel} wei/pixel; ${ticketStates(o)}`,
    );
    lines.push(
      `      fees credited ${eth(o.feesCredited)}, claimable by the orchestrator ${eth(o.claimableFees)}; ` +
        (o.slashed
          ? `own stake ${lpt(o.slashed.bonded + o.rewards)} (${lpt(o.slashed.bonded, 0)} bonded, plus its ` +
            `rewards, minus ${lpt(o.slashed.penalty)} slashed)`
          : `rewards ${lpt(o.rewards)}`),
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
  if (summary.cheat) lines.push(...cheatLines(summary.cheat));
  const errors = summary.status?.errors ?? [];
  for (const error of errors.slice(0, 3)) lines.push(`  broadcaster error: ${error.message}`);
  return lines;
}

/** "0x7099…79C8". */
function short(address: string): string {
  return `${address.slice(0, 6)}…${address.slice(-4)}`;
}

/** The summary's Dispute section (--cheat). */
export function cheatLines(cheat: CheatSummary): string[] {
  const lines = ["", "Dispute"];
  const dispute = cheat.dispute;
  if (cheat.publishedByCheater === 0) lines.push(`  none of the cheater ${cheat.cheater}'s renditions was published`);
  if (!dispute) {
    lines.push(`  no dispute was opened${cheat.openError ? `: ${cheat.openError}` : ""}`);
    return lines;
  }
  const who = dispute.label ?? dispute.orchestrator;
  const accused =
    dispute.orchestrator.toLowerCase() === cheat.address.toLowerCase()
      ? `the cheater, ${cheat.cheater}`
      : `not the cheater ${cheat.cheater}`;
  lines.push(
    `  dispute #${dispute.id}: orchestrator ${who} ${dispute.orchestrator} (${accused}), ` +
      `segment #${dispute.seq} of "${dispute.streamId}", bond ${eth(dispute.bond, 4)}` +
      (dispute.opened > 1 ? `; ${dispute.opened} disputes opened in all` : ""),
  );
  lines.push(`    the broadcaster's reasons: ${dispute.reasons.join("; ") || "(none given)"}`);
  lines.push(`    evidence: ${dispute.evidence}`);
  const b = dispute.blocks;
  const resolved =
    b.resolved === undefined
      ? "not resolved"
      : `resolved in block ${b.resolved}` +
        (dispute.seconds === undefined ? "" : `, ${dispute.seconds} s after opening`);
  lines.push(
    `    blocks: opened in ${b.opened}, committee drawn from block ${b.seed}'s hash` +
      (b.commitEnd > 0 ? `, commits through ${b.commitEnd}, reveals through ${b.revealEnd}` : "") +
      `; ${resolved}`,
  );
  if (dispute.committee.length === 0) lines.push("    committee: not drawn");
  else lines.push("    committee (vote weight = stake locked at the draw):");
  for (const m of dispute.committee) {
    const vote = m.vote !== "None" ? `revealed ${m.vote}` : m.committed ? "committed, never revealed" : "did not vote";
    const moved = [
      m.penalized > 0n ? `penalized ${lpt(m.penalized)}` : "",
      m.rewarded > 0n ? `rewarded ${lpt(m.rewarded)}` : "",
    ].filter(Boolean);
    lines.push(
      `      ${m.label ?? "verifier"} ${m.address}, ${lpt(m.weight, 0)}: ${vote}` +
        (moved.length > 0 ? ` (${moved.join(", ")})` : ""),
    );
  }
  lines.push(
    `    outcome: ${dispute.phase === "Resolved" ? dispute.outcome : `none yet (${dispute.phase})`}` +
      (dispute.reveals > 0
        ? ` (Fault ${lpt(dispute.faultStake, 0)}, NoFault ${lpt(dispute.noFaultStake, 0)}; ` +
          `${dispute.reveals} of ${dispute.committee.length} revealed)`
        : ""),
  );
  const slash = dispute.slash;
  if (slash) {
    lines.push(
      `    ${who}'s own stake: ${lpt(slash.stakeBefore)} before the slash → ${lpt(slash.stakeAfter)} after ` +
        "(what it can claim, this round's rewards included)",
    );
    lines.push(
      `    slashed: ${lpt(slash.penalty)}, ${Number(slash.fractionPpm) / 10_000}% of its bonded stake as settled ` +
        `for the slash (${lpt(slash.slashedFrom)}; this round's rewards are not in it)`,
    );
    const finder = slash.finder.toLowerCase() === cheat.broadcaster.toLowerCase() ? "the broadcaster" : "finder";
    lines.push(
      `    finder fee: ${lpt(slash.finderReward)} to ${finder} ${short(slash.finder)}; ` +
        `the other ${lpt(slash.penalty - slash.finderReward)} burned`,
    );
  } else {
    lines.push(`    ${who} was not slashed`);
  }
  const bond = dispute.bondPaid;
  if (bond) {
    const to =
      bond.recipient.toLowerCase() === cheat.broadcaster.toLowerCase() ? "the broadcaster" : short(bond.recipient);
    lines.push(
      `    bond: ${eth(bond.amount, 4)} returned to ${to}` + (bond.pushed ? "" : " (waiting for withdrawPayout)"),
    );
  }
  const pool = dispute.pool;
  const state = pool.inPool
    ? `yes${pool.registered ? "" : " (not registered)"}`
    : `no: ${pool.registered ? "" : "no longer registered, "}inactive from round ${pool.deactivationRound}` +
      (pool.active ? ` (still active in the current round, ${pool.round})` : "");
  lines.push(`    ${who} in the orchestrator pool: ${state}`);
  return lines;
}
