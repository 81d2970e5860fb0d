/**
 * Which orchestrator gets a stream's next segment: the book of known orchestrators (stake, price, measured
 * latency, failures), a weighted draw among the eligible ones, stickiness while an orchestrator performs, and
 * suspension with exponential back-off when it fails. Pure: the clock and the random source are passed in.
 */

export type OrchestratorState = "available" | "in-use" | "suspended";

export interface OrchestratorEntry {
  url: string;
  /** On-chain address: from the pool (chain discovery) or from its /info once asked. */
  address?: string;
  /** Total bonded stake in LPT wei; 0n when unknown (a static list). */
  stake: bigint;
  /** wei per output pixel (pricePerUnit / pixelsPerUnit) from its last /info; undefined until asked. */
  pricePerPixel?: number;
  /** Exponential moving average of round trip / segment duration; undefined until a segment came back. */
  latencyScore?: number;
  segments: number;
  failures: number;
  verifyFailures: number;
  consecutiveFailures: number;
  suspendedUntil: number;
  /** Consecutive segments slower than real time. */
  slowStreak: number;
}

export interface SelectionOptions {
  /** Highest acceptable price, wei per pixel (undefined: any). */
  maxPricePerPixel?: number;
  /** First suspension after a failure; doubles with each consecutive failure up to suspendMaxMs. */
  suspendBaseMs?: number;
  suspendMaxMs?: number;
  /** A score above this (round trip / segment duration) counts as slower than real time. */
  slowScore?: number;
  /** How many slow segments in a row make a stream move elsewhere (if somewhere else is eligible). */
  slowStreakLimit?: number;
}

const DEFAULTS = { suspendBaseMs: 5_000, suspendMaxMs: 5 * 60_000, slowScore: 1, slowStreakLimit: 3 };
/** Weight of the stake share against a uniform share (the rest), so that stake alone does not decide. */
const STAKE_WEIGHT = 0.7;
/** Moving-average weight of the newest latency sample. */
const LATENCY_ALPHA = 0.3;

export class OrchestratorBook {
  private readonly entries = new Map<string, OrchestratorEntry>();
  /** stream id → the orchestrator it currently uses */
  private readonly current = new Map<string, string>();
  private readonly options: Required<Omit<SelectionOptions, "maxPricePerPixel">> & SelectionOptions;

  constructor(
    options: SelectionOptions = {},
    private readonly clock: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {
    this.options = { ...DEFAULTS, ...options };
  }

  /** Adds or updates an orchestrator (discovery runs this on every refresh); returns its entry. */
  upsert(url: string, details: { address?: string; stake?: bigint } = {}): OrchestratorEntry {
    let entry = this.entries.get(url);
    if (!entry) {
      entry = {
        url,
        stake: 0n,
        segments: 0,
        failures: 0,
        verifyFailures: 0,
        consecutiveFailures: 0,
        suspendedUntil: 0,
        slowStreak: 0,
      };
      this.entries.set(url, entry);
    }
    if (details.address) entry.address = details.address.toLowerCase();
    if (details.stake !== undefined) entry.stake = details.stake;
    return entry;
  }

  /** Forgets orchestrators that discovery no longer lists (streams using one move on at their next segment). */
  retain(urls: ReadonlySet<string>): void {
    for (const url of this.entries.keys()) if (!urls.has(url)) this.entries.delete(url);
    for (const [stream, url] of this.current) if (!urls.has(url)) this.current.delete(stream);
  }

  get(url: string): OrchestratorEntry | undefined {
    return this.entries.get(url);
  }

  list(): OrchestratorEntry[] {
    return [...this.entries.values()];
  }

  state(entry: OrchestratorEntry): OrchestratorState {
    if (entry.suspendedUntil > this.clock()) return "suspended";
    return [...this.current.values()].includes(entry.url) ? "in-use" : "available";
  }

  currentFor(streamId: string): string | undefined {
    return this.current.get(streamId);
  }

  /** Streams stop counting as users of an orchestrator when they end. */
  release(streamId: string): void {
    this.current.delete(streamId);
  }

  /** When the first suspended orchestrator not in `exclude` becomes eligible again (undefined: none suspended). */
  nextEligibleAt(exclude: ReadonlySet<string> = new Set()): number | undefined {
    const times = this.list()
      .filter((e) => !exclude.has(e.url) && this.isAffordable(e) && e.suspendedUntil > this.clock())
      .map((e) => e.suspendedUntil);
    return times.length > 0 ? Math.min(...times) : undefined;
  }

  /** Within --max-price-per-pixel (an orchestrator not asked yet is given the benefit of the doubt). */
  isAffordable(entry: OrchestratorEntry): boolean {
    const max = this.options.maxPricePerPixel;
    return max === undefined || entry.pricePerPixel === undefined || entry.pricePerPixel <= max;
  }

  private eligible(entry: OrchestratorEntry, exclude: ReadonlySet<string>): boolean {
    return !exclude.has(entry.url) && entry.suspendedUntil <= this.clock() && this.isAffordable(entry);
  }

  /**
   * The orchestrator for a stream's next segment: the one it uses now while that one is eligible and keeps up with
   * real time; otherwise a weighted draw (see `weights`), which becomes the stream's current one. Undefined when none
   * is eligible.
   */
  pick(streamId: string, exclude: ReadonlySet<string> = new Set()): OrchestratorEntry | undefined {
    const sticky = this.entries.get(this.current.get(streamId) ?? "");
    if (sticky && this.eligible(sticky, exclude)) {
      const others = this.list().some((e) => e !== sticky && this.eligible(e, exclude));
      if (sticky.slowStreak < this.options.slowStreakLimit || !others) return sticky;
    }
    const chosen = this.draw(sticky ? new Set([...exclude, sticky.url]) : exclude) ?? this.draw(exclude);
    if (!chosen) return undefined;
    this.current.set(streamId, chosen.url);
    chosen.slowStreak = 0;
    return chosen;
  }

  /** A weighted draw among the eligible orchestrators not in `exclude` (extra ones for redundancy). */
  draw(exclude: ReadonlySet<string> = new Set()): OrchestratorEntry | undefined {
    const pool = this.list().filter((e) => this.eligible(e, exclude));
    if (pool.length === 0) return undefined;
    const weights = this.weights(pool);
    let draw = this.random() * weights.reduce((a, b) => a + b, 0);
    for (const [i, w] of weights.entries()) {
      if (draw < w) return pool[i];
      draw -= w;
    }
    return pool[pool.length - 1];
  }

  /**
   * Draw weights: (0.7 × stake share + 0.3 × uniform share) × price factor × latency factor. The price factor is the
   * cheapest known price over this one's; the latency factor 1 / (1 + score), unknown latency taken as the median.
   */
  weights(pool: readonly OrchestratorEntry[]): number[] {
    const totalStake = pool.reduce((sum, e) => sum + e.stake, 0n);
    const prices = pool.map((e) => e.pricePerPixel).filter((p): p is number => p !== undefined && p > 0);
    const cheapest = prices.length > 0 ? Math.min(...prices) : undefined;
    const scores = pool.map((e) => e.latencyScore).filter((s): s is number => s !== undefined);
    const median = scores.length > 0 ? [...scores].sort((a, b) => a - b)[Math.floor(scores.length / 2)] : 0.5;
    return pool.map((e) => {
      // Stake shares in parts per million: bigint division, then a float small enough to be exact.
      const stakeShare = totalStake > 0n ? Number((e.stake * 1_000_000n) / totalStake) / 1_000_000 : 1 / pool.length;
      const base = STAKE_WEIGHT * stakeShare + (1 - STAKE_WEIGHT) / pool.length;
      const price = cheapest !== undefined && e.pricePerPixel ? cheapest / e.pricePerPixel : 1;
      const latency = 1 / (1 + (e.latencyScore ?? median));
      return base * price * latency;
    });
  }

  /** A segment came back verified: latency sample in, failure streak cleared. */
  recordSuccess(url: string, roundTripMs: number, segmentMs: number): void {
    const entry = this.entries.get(url);
    if (!entry) return;
    const score = roundTripMs / Math.max(1, segmentMs);
    entry.latencyScore =
      entry.latencyScore === undefined ? score : LATENCY_ALPHA * score + (1 - LATENCY_ALPHA) * entry.latencyScore;
    entry.segments++;
    entry.consecutiveFailures = 0;
    entry.slowStreak = score > this.options.slowScore ? entry.slowStreak + 1 : 0;
  }

  /**
   * A request failed or its result did not verify: suspended for base × 2^(streak − 1), capped; streams using it
   * move at their next segment. `retryAfterMs` (a 503's Retry-After) lengthens the suspension if longer. A "fault"
   * (a signed result a re-encode shows to be wrong: cheating, not bad luck) suspends for the longest back-off at once.
   */
  recordFailure(url: string, kind: "error" | "verification" | "busy" | "fault", retryAfterMs = 0): void {
    const entry = this.entries.get(url);
    if (!entry) return;
    entry.failures++;
    if (kind === "busy") {
      // Capacity or a round change: it said when to come back; no back-off, and streams may stay with it.
      entry.suspendedUntil = Math.max(entry.suspendedUntil, this.clock() + Math.max(1000, retryAfterMs));
      return;
    }
    if (kind === "verification" || kind === "fault") entry.verifyFailures++;
    entry.consecutiveFailures++;
    const backoff =
      kind === "fault"
        ? this.options.suspendMaxMs
        : Math.min(
            this.options.suspendMaxMs,
            this.options.suspendBaseMs * 2 ** Math.min(20, entry.consecutiveFailures - 1),
          );
    entry.suspendedUntil = this.clock() + Math.max(backoff, retryAfterMs);
    for (const [stream, current] of this.current) if (current === url) this.current.delete(stream);
  }
}

/** At most `perMinute` retries in any sliding minute, across all streams: faults cannot be amplified. */
export class RetryBudget {
  private readonly spent: number[] = [];

  constructor(
    readonly perMinute: number,
    private readonly clock: () => number = Date.now,
  ) {}

  take(): boolean {
    const now = this.clock();
    while (this.spent.length > 0 && this.spent[0] <= now - 60_000) this.spent.shift();
    if (this.spent.length >= this.perMinute) return false;
    this.spent.push(now);
    return true;
  }

  get remaining(): number {
    const now = this.clock();
    return this.perMinute - this.spent.filter((t) => t > now - 60_000).length;
  }
}
