/** The daemons' status endpoints as the demo reads them, and bounded polling. Amounts are decimal strings in wei. */

export interface SegmentReport {
  seq: number;
  durationMs: number;
  status: "in-flight" | "ok" | "failed";
  orchestrator?: string;
  attempts: number;
  /** Segment sent to renditions back, and the transcoder's part of it. */
  latencyMs?: number;
  transcodeMs?: number;
  at: number;
  error?: string;
}

export interface StreamReport {
  id: string;
  state: string;
  source: string;
  startedAt: number;
  endedAt: number | null;
  segmentsIn: number;
  segmentsOut: number;
  segmentsFailed: number;
  inFlight?: number;
  renditions: string[];
  playlist: string;
  /** Newest first. */
  lastSegments: SegmentReport[];
}

export interface OrchestratorReport {
  url: string;
  address: string | null;
  state: string;
  suspendedUntil: number | null;
  pricePerPixel: string | null;
  stake: string | null;
  latencyScore: number | null;
  segments: number;
  failures: number;
  verifyFailures: number;
}

/** The broadcaster's `GET /api/status`. */
export interface BroadcasterStatus {
  address: string;
  chain: { block: number; round: string } | null;
  ticketFunds: { deposit: string; reserve: string } | null;
  totals: {
    segmentsIn: number;
    segmentsOut: number;
    segmentsLost: number;
    ticketsSent: number;
    ticketsEV: string;
    fees: string;
    errors: number;
  };
  streams: StreamReport[];
  orchestrators: OrchestratorReport[];
  /** Newest first. */
  errors: { at: number; message: string }[];
}

/** The part of an orchestrator's `GET /status` the demo uses. */
export interface OrchestratorStatus {
  address: string;
  chain: { block: string; round: string; roundInitialized: boolean; active: boolean };
  tickets: { pending: number; submitted: number; redeemed: number; failed: number; expired: number };
  redeemer?: { waiting?: string; lastError?: string };
}

/** Winning tickets an orchestrator holds in any state: what it has won so far. */
export function ticketsWon(status: Pick<OrchestratorStatus, "tickets">): number {
  const { pending, submitted, redeemed, failed, expired } = status.tickets;
  return pending + submitted + redeemed + failed + expired;
}

/** Winning tickets not settled yet (waiting for, or carried by, a redemption transaction). */
export function ticketsOutstanding(status: OrchestratorStatus): number {
  return status.tickets.pending + status.tickets.submitted;
}

/** GET `url` as JSON; throws on a non-2xx answer or after `timeoutMs`. */
export async function getJson<T>(url: string, timeoutMs = 2000): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`);
  return (await response.json()) as T;
}

/** GET `url` and return the status code (and drop the body). */
export async function getStatusCode(url: string, timeoutMs = 2000): Promise<number> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  await response.arrayBuffer();
  return response.status;
}

/**
 * Calls `probe` every `intervalMs` until it returns something other than undefined or false; throws after
 * `timeoutMs` with the last error. `check` runs before each attempt and may throw to give up early (a daemon died).
 */
export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  options: { timeoutMs: number; intervalMs?: number; check?: () => void },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let last: unknown;
  for (;;) {
    options.check?.();
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? ` (last error: ${last.message})` : "";
      throw new Error(`timed out after ${options.timeoutMs / 1000} s waiting for ${what}${why}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 250));
  }
}
