/**
 * The gas targets of shared/design/anchors.md (0.75x the reference's previous version), keyed by the label of the
 * matching operation in gas-snapshot.json. `reference` is that previous version's figure.
 */
export interface GasTarget {
  label: string;
  /** The operation as anchors.md names it. */
  anchor: string;
  target: number;
  reference: number;
}

export const GAS_TARGETS: GasTarget[] = [
  {
    label: "RoundsManager.initializeRound (steady state)",
    anchor: "initializeRound",
    target: 112_000,
    reference: 149_892,
  },
  {
    label: "BondingManager.bond (first self-bond, empty pool)",
    anchor: "bond: first self-bond, empty pool",
    target: 348_000,
    reference: 463_841,
  },
  {
    label: "BondingManager.bond (new delegator to a pooled orchestrator)",
    anchor: "bond: new delegator to a pooled orchestrator",
    target: 197_000,
    reference: 262_193,
  },
  {
    label: "BondingManager.bond (existing delegator tops up)",
    anchor: "bond: existing delegator tops up",
    target: 140_000,
    reference: 187_373,
  },
  {
    label: "BondingManager.transcoder (joins a non-empty pool, with hint)",
    anchor: "transcoder(rewardCut, feeShare)",
    target: 103_000,
    reference: 137_995,
  },
  {
    label: "BondingManager.reward (steady state, with hint)",
    anchor: "reward, steady state",
    target: 234_000,
    reference: 312_195,
  },
  {
    label: "BondingManager.unbond (partial, auto-claims 1 round)",
    anchor: "unbond partial, auto-claims 1 round",
    target: 194_000,
    reference: 258_064,
  },
  { label: "BondingManager.rebond", anchor: "rebond", target: 108_000, reference: 143_655 },
  {
    label: "BondingManager.claimEarnings (after 7 rounds)",
    anchor: "claimEarnings over 7 rounds",
    target: 93_000,
    reference: 123_504,
  },
  { label: "BondingManager.withdrawStake", anchor: "withdrawStake", target: 77_000, reference: 102_278 },
  { label: "BondingManager.withdrawFees", anchor: "withdrawFees", target: 109_000, reference: 145_714 },
  {
    label: "TicketBroker.fundDeposit (first)",
    anchor: "fundDeposit first",
    target: 62_000,
    reference: 82_932,
  },
  { label: "TicketBroker.fundDeposit (top-up)", anchor: "fundDeposit top-up", target: 49_000, reference: 65_832 },
  {
    label: "TicketBroker.redeemWinningTicket (first fees this round)",
    anchor: "redeemWinningTicket: first fees this round",
    target: 195_000,
    reference: 260_642,
  },
  {
    label: "TicketBroker.redeemWinningTicket (second ticket, same round)",
    anchor: "redeemWinningTicket: second ticket, same round",
    target: 152_000,
    reference: 202_125,
  },
  {
    label: "TicketBroker.batchRedeemWinningTickets (2 tickets, first fees this round)",
    anchor: "batchRedeemWinningTickets, 2 tickets",
    target: 300_000,
    reference: 430_517,
  },
  {
    label: "BondingManager.reward (pool of 100, last member, with hint)",
    anchor: "pool of 100, reward by last member with hint",
    target: 202_000,
    reference: 269_519,
  },
];

export interface GasComparison extends GasTarget {
  /** Our figure; undefined when the snapshot has no such operation. */
  measured?: number;
}

export function compareWithTargets(snapshot: Record<string, number>): GasComparison[] {
  return GAS_TARGETS.map((target) => ({ ...target, measured: snapshot[target.label] }));
}

/** A fixed-width table: ours, target, ours/target, reference, ours/reference. */
export function formatComparison(rows: GasComparison[]): string {
  const ratio = (a: number | undefined, b: number) => (a === undefined ? "-" : (a / b).toFixed(2));
  const header = ["operation", "ours", "target", "ours/target", "reference", "ours/reference", ""];
  const lines = rows.map((row) => [
    row.anchor,
    row.measured?.toLocaleString("en-US") ?? "missing",
    row.target.toLocaleString("en-US"),
    ratio(row.measured, row.target),
    row.reference.toLocaleString("en-US"),
    ratio(row.measured, row.reference),
    row.measured !== undefined && row.measured <= row.target ? "ok" : "over target",
  ]);
  const widths = header.map((_, i) => Math.max(...[header, ...lines].map((line) => line[i].length)));
  const format = (line: string[]) =>
    line.map((cell, i) => (i === 0 || i === line.length - 1 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])));
  return [header, ...lines].map((line) => format(line).join("  ").trimEnd()).join("\n");
}
