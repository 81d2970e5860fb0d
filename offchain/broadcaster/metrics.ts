/** The broadcaster's Prometheus metrics (one registry per daemon). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export class BroadcasterMetrics {
  readonly registry = new Registry();
  readonly segmentsIn = new Counter({
    name: "streamflow_broadcaster_segments_in_total",
    help: "Source segments ingested, by ingest (rtmp or http)",
    labelNames: ["ingest"] as const,
    registers: [this.registry],
  });
  readonly pushesRefused = new Counter({
    name: "streamflow_broadcaster_pushes_refused_total",
    help: "HTTP pushes refused before ingest, by code (bad key, duration, body)",
    labelNames: ["code"] as const,
    registers: [this.registry],
  });
  readonly segmentsOut = new Counter({
    name: "streamflow_broadcaster_segments_total",
    help: "Segments settled, by outcome: transcoded (published with every rendition) or lost (source only)",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });
  readonly latencySeconds = new Histogram({
    name: "streamflow_broadcaster_segment_latency_seconds",
    help: "From a segment's ingest to its renditions being published",
    buckets: [0.25, 0.5, 1, 1.5, 2, 3, 4, 8, 16],
    registers: [this.registry],
  });
  readonly attempts = new Counter({
    name: "streamflow_broadcaster_attempts_total",
    help: "Requests to orchestrators, by outcome (ok, error code, or verification)",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });
  readonly verificationFailures = new Counter({
    name: "streamflow_broadcaster_verification_failures_total",
    help: "Orchestrator results that failed verification (evidence kept on disk)",
    registers: [this.registry],
  });
  readonly retriesRefused = new Counter({
    name: "streamflow_broadcaster_retries_refused_total",
    help: "Retries not made because the per-minute retry budget was spent",
    registers: [this.registry],
  });
  readonly ticketsSent = new Counter({
    name: "streamflow_broadcaster_tickets_sent_total",
    help: "Tickets sent to orchestrators",
    registers: [this.registry],
  });
  readonly ticketEVWei = new Counter({
    name: "streamflow_broadcaster_ticket_ev_wei_total",
    help: "Expected value of the tickets sent, wei",
    registers: [this.registry],
  });
  readonly feesWei = new Counter({
    name: "streamflow_broadcaster_fees_wei_total",
    help: "Fees orchestrators charged for transcoded segments, wei",
    registers: [this.registry],
  });
  readonly streams = new Gauge({
    name: "streamflow_broadcaster_live_streams",
    help: "Streams being published now",
    registers: [this.registry],
  });
  readonly orchestrators = new Gauge({
    name: "streamflow_broadcaster_orchestrators",
    help: "Known orchestrators, by state (available, in-use, suspended)",
    labelNames: ["state"] as const,
    registers: [this.registry],
  });

  readonly qualityChecks = new Counter({
    name: "streamflow_broadcaster_quality_checks_total",
    help: "Sampled results re-encoded and compared (--verify-rate), by verdict (ok, suspect, clear-fault, error)",
    labelNames: ["verdict"] as const,
    registers: [this.registry],
  });
  readonly disputes = new Counter({
    name: "streamflow_broadcaster_disputes_total",
    help: "Dispute events, by event (opened, skipped, failed) and, once settled, outcome",
    labelNames: ["event"] as const,
    registers: [this.registry],
  });

  constructor(defaults = true) {
    if (defaults) collectDefaultMetrics({ register: this.registry, prefix: "streamflow_broadcaster_" });
  }
}
