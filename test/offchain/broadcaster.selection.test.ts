/**
 * The broadcaster's choice of orchestrator (offchain/broadcaster/selection.ts), with an injected clock and random
 * source: the draw weights (stake share, price, latency) to the digit and the draw they drive, stickiness while an
 * orchestrator keeps up, switching after a slow streak, suspension with capped exponential back-off and Retry-After,
 * forgetting orchestrators discovery dropped, the price ceiling, and the per-minute retry budget.
 */
import { expect } from "chai";

import { OrchestratorBook, type OrchestratorEntry, RetryBudget } from "../../offchain/broadcaster/selection";

const A = "http://orch-a.test:8935";
const B = "http://orch-b.test:8935";
const C = "http://orch-c.test:8935";
const LPT = 10n ** 18n;

/** A random source that returns `values` in turn (then keeps returning the last one). */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)];
}

describe("broadcaster: OrchestratorBook", () => {
  let now: number;
  let next: () => number;
  const clock = () => now;
  const random = () => next();

  beforeEach(() => {
    now = 1_700_000_000_000;
    next = () => 0;
  });

  const book = (options: ConstructorParameters<typeof OrchestratorBook>[0] = {}) =>
    new OrchestratorBook(options, clock, random);

  describe("upsert, list, get", () => {
    it("adds an entry with empty counters, then updates address (lower case) and stake without resetting them", () => {
      const b = book();
      const entry = b.upsert(A);
      expect(entry).to.include({
        url: A,
        stake: 0n,
        segments: 0,
        failures: 0,
        verifyFailures: 0,
        consecutiveFailures: 0,
        suspendedUntil: 0,
        slowStreak: 0,
      });
      expect(entry.address).to.equal(undefined);
      b.recordSuccess(A, 500, 2000);
      const again = b.upsert(A, { address: "0xABCDEF0000000000000000000000000000000001", stake: 7n });
      expect(again).to.equal(entry);
      expect(again).to.include({ address: "0xabcdef0000000000000000000000000000000001", stake: 7n, segments: 1 });
      b.upsert(A); // no details: nothing changes
      expect(b.get(A)).to.include({ address: "0xabcdef0000000000000000000000000000000001", stake: 7n });
      b.upsert(B);
      expect(b.list().map((e) => e.url)).to.deep.equal([A, B]);
      expect(b.get(C)).to.equal(undefined);
    });
  });

  describe("weights", () => {
    const entries = (b: OrchestratorBook, ...specs: Array<Partial<OrchestratorEntry> & { url: string }>) =>
      specs.map((spec) => Object.assign(b.upsert(spec.url), spec));

    it("mixes 0.7 × stake share with 0.3 × a uniform share; unknown latency counts as 0.5 when none is known", () => {
      const b = book();
      const pool = entries(
        b,
        { url: A, stake: 600n * LPT },
        { url: B, stake: 300n * LPT },
        { url: C, stake: 100n * LPT },
      );
      const latency = 1 / (1 + 0.5);
      const expected = [0.7 * 0.6 + 0.1, 0.7 * 0.3 + 0.1, 0.7 * 0.1 + 0.1].map((w) => w * latency);
      const weights = b.weights(pool);
      expect(weights).to.have.length(3);
      weights.forEach((w, i) => expect(w).to.be.closeTo(expected[i], 1e-12));
    });

    it("shares equally when no stake is known (a static list)", () => {
      const b = book();
      const pool = entries(b, { url: A }, { url: B });
      for (const w of b.weights(pool)) expect(w).to.be.closeTo(0.5 / 1.5, 1e-12);
    });

    it("computes stake shares of large bigint stakes in parts per million", () => {
      const b = book();
      const pool = entries(b, { url: A, stake: 2_000_000n * LPT }, { url: B, stake: 1_000_000n * LPT });
      const [wa, wb] = b.weights(pool);
      expect(wa).to.be.closeTo((0.7 * 0.666666 + 0.15) / 1.5, 1e-12);
      expect(wb).to.be.closeTo((0.7 * 0.333333 + 0.15) / 1.5, 1e-12);
    });

    it("multiplies by the cheapest known price over each one's (unknown or zero price: factor 1)", () => {
      const b = book();
      const pool = entries(
        b,
        { url: A, pricePerPixel: 2 },
        { url: B, pricePerPixel: 8 },
        { url: C, pricePerPixel: undefined },
      );
      const base = (1 / 3) * (1 / 1.5);
      const [wa, wb, wc] = b.weights(pool);
      expect(wa).to.be.closeTo(base, 1e-12);
      expect(wb).to.be.closeTo(base * 0.25, 1e-12);
      expect(wc).to.be.closeTo(base, 1e-12);
      b.get(C)!.pricePerPixel = 0;
      expect(b.weights(pool)[2]).to.be.closeTo(base, 1e-12);
    });

    it("multiplies by 1 / (1 + latency score), an unknown score taken as the known ones' median", () => {
      const b = book();
      const pool = entries(
        b,
        { url: A, latencyScore: 0.25 },
        { url: B, latencyScore: 1 },
        { url: C, latencyScore: undefined },
        { url: "http://orch-d.test:8935", latencyScore: 3 },
      );
      const share = 1 / 4;
      const weights = b.weights(pool);
      expect(weights[0]).to.be.closeTo(share / 1.25, 1e-12);
      expect(weights[1]).to.be.closeTo(share / 2, 1e-12);
      expect(weights[2]).to.be.closeTo(share / 2, 1e-12); // median of 0.25, 1, 3
      expect(weights[3]).to.be.closeTo(share / 4, 1e-12);
    });

    it("combines stake, price and latency by multiplication", () => {
      const b = book();
      const pool = entries(
        b,
        { url: A, stake: 3n * LPT, pricePerPixel: 1, latencyScore: 0.5 },
        { url: B, stake: 1n * LPT, pricePerPixel: 4, latencyScore: 1.5 },
      );
      const [wa, wb] = b.weights(pool);
      expect(wa).to.be.closeTo((0.7 * 0.75 + 0.15) * 1 * (1 / 1.5), 1e-12);
      expect(wb).to.be.closeTo((0.7 * 0.25 + 0.15) * 0.25 * (1 / 2.5), 1e-12);
    });
  });

  describe("draw", () => {
    /** Stakes 60/30/10: weights 0.52, 0.31, 0.17 (times the same latency factor), cumulative 0.52, 0.83, 1. */
    function staked(): OrchestratorBook {
      const b = book();
      b.upsert(A, { stake: 60n });
      b.upsert(B, { stake: 30n });
      b.upsert(C, { stake: 10n });
      return b;
    }

    it("walks the cumulative weights with the random number", () => {
      const b = staked();
      next = sequence(0, 0.51, 0.53, 0.82, 0.84, 0.999999);
      expect([1, 2, 3, 4, 5, 6].map(() => b.draw()!.url)).to.deep.equal([A, A, B, B, C, C]);
    });

    it("draws each orchestrator in proportion to its weight", () => {
      const b = staked();
      const n = 10_000;
      let i = 0;
      next = () => (i++ + 0.5) / n; // an even spread over [0, 1)
      const counts = new Map<string, number>();
      for (let k = 0; k < n; k++) {
        const url = b.draw()!.url;
        counts.set(url, (counts.get(url) ?? 0) + 1);
      }
      expect(counts.get(A)).to.be.closeTo(5200, 1);
      expect(counts.get(B)).to.be.closeTo(3100, 1);
      expect(counts.get(C)).to.be.closeTo(1700, 1);
    });

    it("never draws an excluded orchestrator, and renormalizes over the rest", () => {
      const b = staked();
      // Without A: stake shares 0.75 and 0.25 of the smaller pool, so weights 0.675 and 0.325 (times latency).
      const wb = 0.7 * 0.75 + 0.15;
      const wc = 0.7 * 0.25 + 0.15;
      next = sequence(0, wb / (wb + wc) - 0.001, wb / (wb + wc) + 0.001);
      const exclude = new Set([A]);
      expect([1, 2, 3].map(() => b.draw(exclude)!.url)).to.deep.equal([B, B, C]);
      expect(b.draw(new Set([A, B]))!.url).to.equal(C);
      expect(b.draw(new Set([A, B, C]))).to.equal(undefined);
    });

    it("answers undefined when nothing is eligible", () => {
      expect(book().draw()).to.equal(undefined);
      expect(book().pick("s")).to.equal(undefined);
      const b = book();
      b.upsert(A);
      b.recordFailure(A, "error");
      expect(b.draw()).to.equal(undefined);
      expect(b.pick("s")).to.equal(undefined);
      expect(b.currentFor("s")).to.equal(undefined);
    });
  });

  describe("pick: stickiness and switching", () => {
    function two(options = {}): OrchestratorBook {
      const b = book(options);
      b.upsert(A);
      b.upsert(B);
      return b;
    }

    it("keeps a stream on the same orchestrator while it is healthy, whatever the random source says", () => {
      const b = two();
      next = sequence(0);
      expect(b.pick("s")!.url).to.equal(A);
      expect(b.currentFor("s")).to.equal(A);
      next = sequence(0.99);
      for (let i = 0; i < 5; i++) {
        b.recordSuccess(A, 500, 2000);
        expect(b.pick("s")!.url).to.equal(A);
      }
      // Another stream draws on its own.
      expect(b.pick("t")!.url).to.equal(B);
      expect(b.currentFor("s")).to.equal(A);
    });

    it("reports available, in-use and suspended states, and release frees a stream's orchestrator", () => {
      const b = two();
      expect(b.state(b.get(A)!)).to.equal("available");
      next = sequence(0);
      b.pick("s");
      expect(b.state(b.get(A)!)).to.equal("in-use");
      expect(b.state(b.get(B)!)).to.equal("available");
      b.release("s");
      expect(b.currentFor("s")).to.equal(undefined);
      expect(b.state(b.get(A)!)).to.equal("available");
      b.recordFailure(B, "error");
      expect(b.state(b.get(B)!)).to.equal("suspended");
    });

    it("moves a stream after slowStreakLimit slow segments in a row, to another orchestrator", () => {
      const b = two({ slowStreakLimit: 3, slowScore: 1 });
      next = sequence(0);
      expect(b.pick("s")!.url).to.equal(A);
      b.recordSuccess(A, 2500, 2000); // 1.25 × real time
      b.recordSuccess(A, 2500, 2000);
      expect(b.get(A)!.slowStreak).to.equal(2);
      expect(b.pick("s")!.url).to.equal(A);
      b.recordSuccess(A, 2500, 2000);
      expect(b.get(A)!.slowStreak).to.equal(3);
      next = sequence(0); // A would win the draw: it must be left out of it
      const moved = b.pick("s")!;
      expect(moved.url).to.equal(B);
      expect(moved.slowStreak).to.equal(0);
      expect(b.currentFor("s")).to.equal(B);
      expect(b.pick("s")!.url).to.equal(B);
    });

    it("a segment in real time breaks the slow streak", () => {
      const b = two({ slowStreakLimit: 3, slowScore: 1 });
      next = sequence(0);
      b.pick("s");
      b.recordSuccess(A, 2500, 2000);
      b.recordSuccess(A, 2500, 2000);
      b.recordSuccess(A, 1000, 2000);
      expect(b.get(A)!.slowStreak).to.equal(0);
      b.recordSuccess(A, 2500, 2000);
      b.recordSuccess(A, 2500, 2000);
      expect(b.pick("s")!.url).to.equal(A);
    });

    it("stays on a slow orchestrator when no other is eligible", () => {
      const b = two({ slowStreakLimit: 2 });
      next = sequence(0);
      b.pick("s");
      b.recordSuccess(A, 5000, 2000);
      b.recordSuccess(A, 5000, 2000);
      b.recordFailure(B, "error");
      expect(b.pick("s")!.url).to.equal(A);
      const alone = book({ slowStreakLimit: 1 });
      alone.upsert(A);
      alone.pick("s");
      alone.recordSuccess(A, 5000, 2000);
      expect(alone.pick("s")!.url).to.equal(A);
    });

    it("leaves the current orchestrator when the caller excludes it (a retry of the same segment)", () => {
      const b = two();
      next = sequence(0);
      expect(b.pick("s")!.url).to.equal(A);
      expect(b.pick("s", new Set([A]))!.url).to.equal(B);
      expect(b.currentFor("s")).to.equal(B);
      expect(b.pick("s", new Set([A, B]))).to.equal(undefined);
      expect(b.currentFor("s")).to.equal(B);
    });

    it("keeps an exponential moving average of the latency score (newest sample weighs 0.3)", () => {
      const b = two();
      b.recordSuccess(A, 1000, 2000);
      expect(b.get(A)!.latencyScore).to.equal(0.5);
      b.recordSuccess(A, 3000, 2000);
      expect(b.get(A)!.latencyScore).to.be.closeTo(0.3 * 1.5 + 0.7 * 0.5, 1e-12);
      expect(b.get(A)!.segments).to.equal(2);
      b.recordSuccess("http://unknown.test", 1000, 2000); // ignored
      expect(b.get("http://unknown.test")).to.equal(undefined);
    });
  });

  describe("suspension", () => {
    it("suspends a failing orchestrator for base × 2^(streak − 1), capped at suspendMaxMs", () => {
      const b = book({ suspendBaseMs: 1000, suspendMaxMs: 20_000 });
      b.upsert(A);
      const durations: number[] = [];
      for (let i = 0; i < 7; i++) {
        b.recordFailure(A, "error");
        durations.push(b.get(A)!.suspendedUntil - now);
      }
      expect(durations).to.deep.equal([1000, 2000, 4000, 8000, 16_000, 20_000, 20_000]);
      expect(b.get(A)).to.include({ failures: 7, consecutiveFailures: 7, verifyFailures: 0 });
    });

    it("uses 5 s doubling to at most 5 minutes by default", () => {
      const b = book();
      b.upsert(A);
      const durations: number[] = [];
      for (let i = 0; i < 30; i++) {
        b.recordFailure(A, "verification");
        durations.push(b.get(A)!.suspendedUntil - now);
      }
      expect(durations.slice(0, 7)).to.deep.equal([5000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000]);
      expect(new Set(durations.slice(6))).to.deep.equal(new Set([300_000]));
      expect(b.get(A)).to.include({ failures: 30, verifyFailures: 30 });
    });

    it("is not eligible until the suspension ends, then is again", () => {
      const b = book({ suspendBaseMs: 1000 });
      b.upsert(A);
      b.recordFailure(A, "error");
      now += 999;
      expect(b.draw()).to.equal(undefined);
      expect(b.state(b.get(A)!)).to.equal("suspended");
      now += 1;
      expect(b.draw()!.url).to.equal(A);
      expect(b.state(b.get(A)!)).to.equal("available");
    });

    it("honours a Retry-After longer than the back-off, and ignores a shorter one", () => {
      const b = book({ suspendBaseMs: 1000 });
      b.upsert(A);
      b.recordFailure(A, "error", 60_000);
      expect(b.get(A)!.suspendedUntil - now).to.equal(60_000);
      b.recordFailure(A, "error", 500);
      expect(b.get(A)!.suspendedUntil - now).to.equal(2000);
    });

    it("starts the back-off again after a success", () => {
      const b = book({ suspendBaseMs: 1000 });
      b.upsert(A);
      b.recordFailure(A, "error");
      b.recordFailure(A, "error");
      now += 10_000;
      b.recordSuccess(A, 100, 2000);
      expect(b.get(A)!.consecutiveFailures).to.equal(0);
      b.recordFailure(A, "error");
      expect(b.get(A)!.suspendedUntil - now).to.equal(1000);
      expect(b.get(A)!.failures).to.equal(3);
    });

    it("moves the streams using a failed orchestrator at their next pick", () => {
      const b = book();
      b.upsert(A);
      b.upsert(B);
      next = sequence(0);
      b.pick("s");
      b.pick("t");
      expect(b.currentFor("s")).to.equal(A);
      b.recordFailure(A, "error");
      expect(b.currentFor("s")).to.equal(undefined);
      expect(b.currentFor("t")).to.equal(undefined);
      expect(b.pick("s")!.url).to.equal(B);
      b.recordFailure("http://unknown.test", "error"); // ignored
      expect(b.list()).to.have.length(2);
    });
  });

  describe("busy (a 503)", () => {
    it("suspends for the Retry-After (at least 1 s) without back-off, and keeps the stream on it", () => {
      const b = book();
      b.upsert(A);
      b.upsert(B);
      expect(b.pick("s")!.url).to.equal(A);
      b.recordFailure(A, "busy", 5000);
      const entry = b.get(A)!;
      expect(entry.suspendedUntil).to.equal(now + 5000);
      expect(entry).to.include({ failures: 1, consecutiveFailures: 0, verifyFailures: 0 });
      b.recordFailure(A, "busy", 0);
      expect(entry.suspendedUntil, "a shorter answer does not shorten it").to.equal(now + 5000);
      expect(b.currentFor("s")).to.equal(A);
      expect(b.pick("s")!.url, "B while A is busy").to.equal(B);
    });

    it("nextEligibleAt: the earliest end of a suspension outside the exclusions", () => {
      const b = book();
      b.upsert(A);
      b.upsert(B);
      b.upsert(C);
      expect(b.nextEligibleAt()).to.equal(undefined);
      b.recordFailure(A, "busy", 3000);
      b.recordFailure(B, "busy", 2000);
      expect(b.nextEligibleAt()).to.equal(now + 2000);
      expect(b.nextEligibleAt(new Set([B]))).to.equal(now + 3000);
      now += 2500;
      expect(b.nextEligibleAt()).to.equal(now + 500);
    });
  });

  describe("retain", () => {
    it("forgets orchestrators discovery no longer lists, and the streams using them pick again", () => {
      const b = book();
      b.upsert(A);
      b.upsert(B);
      b.upsert(C);
      next = sequence(0);
      expect(b.pick("s")!.url).to.equal(A);
      b.retain(new Set([B, C]));
      expect(b.get(A)).to.equal(undefined);
      expect(b.list().map((e) => e.url)).to.deep.equal([B, C]);
      expect(b.currentFor("s")).to.equal(undefined);
      expect(b.pick("s")!.url).to.equal(B);
      b.retain(new Set());
      expect(b.list()).to.deep.equal([]);
      expect(b.pick("s")).to.equal(undefined);
    });
  });

  describe("maximum price", () => {
    it("isAffordable: at or below the maximum, or price not known yet", () => {
      const b = book({ maxPricePerPixel: 2 });
      const entry = b.upsert(A);
      expect(b.isAffordable(entry)).to.equal(true);
      entry.pricePerPixel = 2;
      expect(b.isAffordable(entry)).to.equal(true);
      entry.pricePerPixel = 2.5;
      expect(b.isAffordable(entry)).to.equal(false);
      const any = book();
      const dear = any.upsert(A);
      dear.pricePerPixel = 1e12;
      expect(any.isAffordable(dear)).to.equal(true);
    });

    it("leaves orchestrators above the maximum out of the draw and moves a stream off one", () => {
      const b = book({ maxPricePerPixel: 2 });
      b.upsert(A).pricePerPixel = 1;
      b.upsert(B).pricePerPixel = 3;
      b.upsert(C); // unknown: given the benefit of the doubt
      next = sequence(0.99);
      expect(b.draw()!.url).to.equal(C);
      next = sequence(0);
      expect(b.pick("s")!.url).to.equal(A);
      b.get(A)!.pricePerPixel = 5; // its /info now says more
      b.get(C)!.pricePerPixel = 4;
      expect(b.pick("s")).to.equal(undefined);
    });
  });
});

describe("broadcaster: RetryBudget", () => {
  it("allows perMinute retries in any sliding minute", () => {
    let now = 1_000_000;
    const budget = new RetryBudget(3, () => now);
    expect(budget.remaining).to.equal(3);
    expect(budget.take()).to.equal(true); // t = 0
    now += 10_000;
    expect(budget.take()).to.equal(true); // t = 10 s
    now += 10_000;
    expect(budget.take()).to.equal(true); // t = 20 s
    expect(budget.remaining).to.equal(0);
    expect(budget.take()).to.equal(false);
    now += 39_999; // t = 59.999 s: the first is still within the minute
    expect(budget.take()).to.equal(false);
    expect(budget.remaining).to.equal(0);
    now += 1; // t = 60 s: the first one has left the window
    expect(budget.remaining).to.equal(1);
    expect(budget.take()).to.equal(true);
    expect(budget.take()).to.equal(false);
    now += 10_000; // t = 70 s: the second one has left
    expect(budget.take()).to.equal(true);
    expect(budget.remaining).to.equal(0);
    now += 120_000;
    expect(budget.remaining).to.equal(3);
  });

  it("does not count refused retries", () => {
    let now = 0;
    const budget = new RetryBudget(1, () => now);
    expect(budget.take()).to.equal(true);
    for (let i = 0; i < 10; i++) {
      now += 5_000;
      expect(budget.take()).to.equal(false);
    }
    now = 60_000;
    expect(budget.take()).to.equal(true);
  });
});
