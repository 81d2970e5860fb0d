/** The daemons' status endpoints as the demo reads them, and bounded polling. Amounts are decimal strings in wei. */

export type {
  BroadcasterStatus,
  SegmentStatus as SegmentReport,
  StreamStatus as StreamReport,
  OrchestratorStatus as OrchestratorReport,
} from "../../../offchain/broadcaster/status";

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
