/**
 * Admission control: at most `maxSessions` streams at once (or, with "auto", as many as the transcoders' capacities
 * add up to) and a few segments queued per stream. Beyond that the orchestrator answers 503 with Retry-After at
 * once, so extra load is turned away instead of slowing every stream down.
 */

export interface SessionOptions {
  maxSessions: number | "auto";
  /** Sum of the connected transcoders' capacities (for "auto"). */
  capacity: () => number;
  /** Segments of one stream in flight at once (the reference node queues 4). */
  perSessionQueue?: number;
  /** A stream with nothing in flight for this long no longer holds a session. */
  idleMs?: number;
  clock?: () => number;
}

export type Admission =
  /** `release(served)`: a stream whose first segments are all refused (unpaid, bad input) gives its session back. */
  | { ok: true; release: (served: boolean) => void }
  | {
      ok: false;
      code: "ORCHESTRATOR_CAPPED" | "SESSION_QUEUE_FULL" | "NO_TRANSCODERS";
      message: string;
      retryAfterS: number;
    };

interface Session {
  inFlight: number;
  lastSeen: number;
  /** A segment of this stream was served: only then does the session outlive its requests. */
  served: boolean;
}

export class SessionTable {
  private readonly sessions = new Map<string, Session>();
  private readonly clock: () => number;

  constructor(private readonly options: SessionOptions) {
    this.clock = options.clock ?? Date.now;
  }

  get limit(): number {
    return this.options.maxSessions === "auto" ? this.options.capacity() : this.options.maxSessions;
  }

  /** Streams holding a session now. */
  get active(): number {
    this.prune();
    return this.sessions.size;
  }

  admit(key: string): Admission {
    this.prune();
    const now = this.clock();
    let session = this.sessions.get(key);
    if (!session) {
      const limit = this.limit;
      if (limit <= 0) {
        return {
          ok: false,
          code: "NO_TRANSCODERS",
          message: "no transcoder is connected to this orchestrator; try again shortly or use another orchestrator",
          retryAfterS: 5,
        };
      }
      if (this.sessions.size >= limit) {
        return {
          ok: false,
          code: "ORCHESTRATOR_CAPPED",
          message: `this orchestrator is serving its maximum of ${limit} streams; try another orchestrator`,
          retryAfterS: Math.ceil((this.options.idleMs ?? 60_000) / 1000),
        };
      }
      session = { inFlight: 0, lastSeen: now, served: false };
      this.sessions.set(key, session);
    }
    const queue = this.options.perSessionQueue ?? 4;
    if (session.inFlight >= queue) {
      return {
        ok: false,
        code: "SESSION_QUEUE_FULL",
        message: `${session.inFlight} segments of this stream are already in flight (at most ${queue}); send the next when one returns`,
        retryAfterS: 1,
      };
    }
    session.inFlight++;
    session.lastSeen = now;
    let released = false;
    return {
      ok: true,
      release: (served: boolean) => {
        if (released) return;
        released = true;
        session.inFlight--;
        session.lastSeen = this.clock();
        if (served) session.served = true;
        // Refused requests must not hold a slot: otherwise unpaid requests under many stream ids could fill them.
        else if (!session.served && session.inFlight === 0 && this.sessions.get(key) === session) {
          this.sessions.delete(key);
        }
      },
    };
  }

  private prune(): void {
    const cutoff = this.clock() - (this.options.idleMs ?? 60_000);
    for (const [key, s] of this.sessions) if (s.inFlight === 0 && s.lastSeen < cutoff) this.sessions.delete(key);
  }
}
