/** The transcoder's Prometheus metrics (one registry per daemon, so tests can run several in one process). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export class TranscoderMetrics {
  readonly registry = new Registry();
  readonly jobs = new Counter({
    name: "streamflow_transcoder_jobs_total",
    help: "Jobs finished, by outcome (ok or the error code)",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });
  readonly jobSeconds = new Histogram({
    name: "streamflow_transcoder_job_seconds",
    help: "Wall time of successful jobs (probe + transcode + inspection)",
    buckets: [0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32],
    registers: [this.registry],
  });
  readonly pixels = new Counter({
    name: "streamflow_transcoder_pixels_total",
    help: "Output pixels encoded (width x height x frames, summed over renditions)",
    registers: [this.registry],
  });
  readonly inFlight = new Gauge({
    name: "streamflow_transcoder_jobs_in_flight",
    help: "Jobs running now",
    registers: [this.registry],
  });
  readonly capacity = new Gauge({
    name: "streamflow_transcoder_capacity",
    help: "Concurrent jobs announced to the orchestrator",
    registers: [this.registry],
  });
  readonly connected = new Gauge({
    name: "streamflow_transcoder_connected",
    help: "1 while registered with the orchestrator",
    registers: [this.registry],
  });
  readonly reconnects = new Counter({
    name: "streamflow_transcoder_reconnects_total",
    help: "Connection attempts after the first",
    registers: [this.registry],
  });

  constructor(defaults = true) {
    if (defaults) collectDefaultMetrics({ register: this.registry, prefix: "streamflow_transcoder_" });
  }
}
