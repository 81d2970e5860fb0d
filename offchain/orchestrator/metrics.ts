/** The orchestrator's Prometheus metrics (one registry per daemon, so tests can run several in one process). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export class OrchestratorMetrics {
  readonly registry = new Registry();
  readonly segments = new Counter({
    name: "streamflow_orchestrator_segments_total",
    help: "Segment requests answered, by outcome (ok or the error code)",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });
  readonly overheadSeconds = new Histogram({
    name: "streamflow_orchestrator_overhead_seconds",
    help: "Time per successful segment spent outside the transcoder (validation, payment, signing, I/O)",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25],
    registers: [this.registry],
  });
  readonly segmentSeconds = new Histogram({
    name: "streamflow_orchestrator_segment_seconds",
    help: "Wall time per successful segment, request in to response out",
    buckets: [0.1, 0.25, 0.5, 1, 2, 4, 8, 16],
    registers: [this.registry],
  });
  readonly ticketsReceived = new Counter({
    name: "streamflow_orchestrator_tickets_received_total",
    help: "Tickets received, by outcome (accepted or the refusal code)",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });
  readonly ticketsWon = new Counter({
    name: "streamflow_orchestrator_tickets_won_total",
    help: "Winning tickets stored for redemption",
    registers: [this.registry],
  });
  readonly ticketsRedeemed = new Counter({
    name: "streamflow_orchestrator_tickets_redeemed_total",
    help: "Winning tickets paid on chain",
    registers: [this.registry],
  });
  readonly ticketsFailed = new Counter({
    name: "streamflow_orchestrator_tickets_failed_total",
    help: "Winning tickets refused by the broker for good, or expired unredeemed",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly evCreditedWei = new Counter({
    name: "streamflow_orchestrator_ev_credited_wei_total",
    help: "Expected value of accepted tickets credited to broadcasters, wei",
    registers: [this.registry],
  });
  readonly feesWei = new Counter({
    name: "streamflow_orchestrator_fees_wei_total",
    help: "Fees debited for transcoded segments, wei",
    registers: [this.registry],
  });
  readonly pendingTickets = new Gauge({
    name: "streamflow_orchestrator_tickets_pending",
    help: "Winning tickets waiting for (or in) a redemption transaction",
    registers: [this.registry],
  });
  readonly transcoders = new Gauge({
    name: "streamflow_orchestrator_transcoders",
    help: "Transcoders connected",
    registers: [this.registry],
  });
  readonly transcoderCapacity = new Gauge({
    name: "streamflow_orchestrator_transcoder_capacity",
    help: "Concurrent segments the connected transcoders can take",
    registers: [this.registry],
  });
  readonly transcoderLoad = new Gauge({
    name: "streamflow_orchestrator_transcoder_jobs_in_flight",
    help: "Segments being transcoded now",
    registers: [this.registry],
  });
  readonly sessions = new Gauge({
    name: "streamflow_orchestrator_sessions",
    help: "Streams holding a session",
    registers: [this.registry],
  });
  readonly chainErrors = new Counter({
    name: "streamflow_orchestrator_chain_errors_total",
    help: "Failed chain reads or transactions, by component",
    labelNames: ["component"] as const,
    registers: [this.registry],
  });

  /** `defaults`: process metrics (CPU, memory, event loop lag); off when several daemons share a process. */
  constructor(defaults = true) {
    if (defaults) collectDefaultMetrics({ register: this.registry, prefix: "streamflow_orchestrator_" });
  }
}
