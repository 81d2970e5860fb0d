/** The verifier's Prometheus metrics (one registry per daemon, so tests can run several in one process). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export class VerifierMetrics {
  readonly registry = new Registry();
  readonly disputesSeen = new Counter({
    name: "streamflow_verifier_disputes_seen_total",
    help: "DisputeOpened events read",
    registers: [this.registry],
  });
  readonly votes = new Counter({
    name: "streamflow_verifier_votes_total",
    help: "Votes committed, by vote",
    labelNames: ["vote"] as const,
    registers: [this.registry],
  });
  readonly outcomes = new Counter({
    name: "streamflow_verifier_outcomes_total",
    help: "Disputes settled, by outcome and whether this verifier's vote agreed (yes, no, not-voted)",
    labelNames: ["outcome", "agreed"] as const,
    registers: [this.registry],
  });
  readonly judgeSeconds = new Histogram({
    name: "streamflow_verifier_judge_seconds",
    help: "Time to fetch and judge one dispute's evidence",
    buckets: [0.25, 0.5, 1, 2, 4, 8, 16, 32],
    registers: [this.registry],
  });
  readonly transactions = new Counter({
    name: "streamflow_verifier_transactions_total",
    help: "Transactions sent, by method and result (mined, or the revert)",
    labelNames: ["method", "result"] as const,
    registers: [this.registry],
  });
  readonly stake = new Gauge({
    name: "streamflow_verifier_stake_lpt",
    help: "LPT locked as verifier stake",
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "streamflow_verifier_" });
  }
}
