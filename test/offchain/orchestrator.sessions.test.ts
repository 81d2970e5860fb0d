/**
 * Admission control (offchain/orchestrator/sessions.ts): a cap on streams (fixed, or "auto" from the transcoders'
 * capacity), a queue per stream, 503 codes with Retry-After, idempotent release, and idle sessions expiring on the
 * injected clock.
 */
import { expect } from "chai";

import { type Admission, SessionTable, type SessionOptions } from "../../offchain/orchestrator/sessions";

type Refusal = Extract<Admission, { ok: false }>;
type Granted = Extract<Admission, { ok: true }>;

function granted(admission: Admission): Granted {
  expect(admission.ok, admission.ok ? "" : `refused: ${admission.code}`).to.equal(true);
  return admission as Granted;
}

function refused(admission: Admission): Refusal {
  expect(admission.ok).to.equal(false);
  return admission as Refusal;
}

describe("orchestrator: SessionTable", () => {
  let now: number;
  let capacity: number;

  beforeEach(() => {
    now = 1_000_000;
    capacity = 0;
  });

  function table(options: Partial<SessionOptions> = {}): SessionTable {
    return new SessionTable({ maxSessions: 2, capacity: () => capacity, clock: () => now, ...options });
  }

  it("has a fixed limit, or with auto the transcoders' capacity at the moment it is asked", () => {
    expect(table({ maxSessions: 7 }).limit).to.equal(7);
    const auto = table({ maxSessions: "auto" });
    capacity = 3;
    expect(auto.limit).to.equal(3);
    capacity = 9;
    expect(auto.limit).to.equal(9);
  });

  it("admits new streams up to the limit, then refuses new ones with ORCHESTRATOR_CAPPED", () => {
    const sessions = table({ maxSessions: 2, idleMs: 30_000 });
    granted(sessions.admit("a"));
    granted(sessions.admit("b"));
    const refusal = refused(sessions.admit("c"));
    expect(refusal.code).to.equal("ORCHESTRATOR_CAPPED");
    expect(refusal.retryAfterS).to.equal(30);
    expect(refusal.message).to.contain("2 streams");
    expect(sessions.active).to.equal(2);
  });

  it("still admits segments of streams it already serves when capped", () => {
    const sessions = table({ maxSessions: 2 });
    granted(sessions.admit("a")).release(true);
    granted(sessions.admit("b"));
    refused(sessions.admit("c"));
    granted(sessions.admit("a"));
    granted(sessions.admit("b"));
    expect(sessions.active).to.equal(2);
  });

  it("follows the capacity with auto: more transcoders, more streams", () => {
    const sessions = table({ maxSessions: "auto" });
    capacity = 1;
    granted(sessions.admit("a"));
    expect(refused(sessions.admit("b")).code).to.equal("ORCHESTRATOR_CAPPED");
    capacity = 2;
    granted(sessions.admit("b"));
  });

  it("refuses a new stream with NO_TRANSCODERS when auto finds no capacity", () => {
    const sessions = table({ maxSessions: "auto" });
    capacity = 0;
    const refusal = refused(sessions.admit("a"));
    expect(refusal.code).to.equal("NO_TRANSCODERS");
    expect(refusal.retryAfterS).to.be.a("number").and.above(0);
    expect(sessions.active).to.equal(0);
  });

  it("refuses a stream's segment with SESSION_QUEUE_FULL once perSessionQueue are in flight", () => {
    const sessions = table({ perSessionQueue: 3 });
    const held = [granted(sessions.admit("a")), granted(sessions.admit("a")), granted(sessions.admit("a"))];
    const refusal = refused(sessions.admit("a"));
    expect(refusal.code).to.equal("SESSION_QUEUE_FULL");
    expect(refusal.retryAfterS).to.equal(1);
    expect(refusal.message).to.contain("at most 3");
    // Another stream has a queue of its own.
    granted(sessions.admit("b"));
    // One returns: the next may go.
    held[0].release(true);
    granted(sessions.admit("a"));
    expect(refused(sessions.admit("a")).code).to.equal("SESSION_QUEUE_FULL");
  });

  it("queues 4 segments per stream by default", () => {
    const sessions = table();
    for (let i = 0; i < 4; i++) granted(sessions.admit("a"));
    expect(refused(sessions.admit("a")).code).to.equal("SESSION_QUEUE_FULL");
  });

  it("releases a slot once however often release is called", () => {
    const sessions = table({ perSessionQueue: 2 });
    const first = granted(sessions.admit("a"));
    granted(sessions.admit("a"));
    first.release(true);
    first.release(true);
    first.release(true);
    granted(sessions.admit("a"));
    expect(refused(sessions.admit("a")).code).to.equal("SESSION_QUEUE_FULL");
  });

  it("gives back the session of a new stream whose only request was refused, so refusals cannot fill the slots", () => {
    const sessions = table({ maxSessions: 1 });
    granted(sessions.admit("unpaid")).release(false);
    expect(sessions.active).to.equal(0);
    const served = granted(sessions.admit("paying"));
    served.release(true);
    refused(sessions.admit("unpaid"));
  });

  it("keeps the session of a stream already served when a later request is refused", () => {
    const sessions = table({ maxSessions: 1 });
    granted(sessions.admit("a")).release(true);
    granted(sessions.admit("a")).release(false);
    expect(sessions.active).to.equal(1);
    refused(sessions.admit("b"));
  });

  it("keeps an unserved stream's session while another of its requests is in flight", () => {
    const sessions = table({ maxSessions: 1 });
    const first = granted(sessions.admit("a"));
    granted(sessions.admit("a")).release(false);
    expect(sessions.active).to.equal(1);
    first.release(false);
    expect(sessions.active).to.equal(0);
  });

  it("expires a stream idle for longer than idleMs, freeing its slot", () => {
    const sessions = table({ maxSessions: 1, idleMs: 10_000 });
    granted(sessions.admit("a")).release(true);
    now += 10_000;
    expect(refused(sessions.admit("b")).code).to.equal("ORCHESTRATOR_CAPPED"); // exactly idleMs: still held
    expect(sessions.active).to.equal(1);
    now += 1;
    expect(sessions.active).to.equal(0);
    granted(sessions.admit("b"));
    expect(refused(sessions.admit("a")).code).to.equal("ORCHESTRATOR_CAPPED");
  });

  it("counts idleness from the last segment's release, not its admission", () => {
    const sessions = table({ maxSessions: 1, idleMs: 10_000 });
    const admission = granted(sessions.admit("a"));
    now += 50_000;
    admission.release(true);
    now += 10_000;
    expect(sessions.active).to.equal(1);
    now += 1;
    expect(sessions.active).to.equal(0);
  });

  it("never expires a stream with a segment in flight, however long it takes", () => {
    const sessions = table({ maxSessions: 1, idleMs: 10_000 });
    granted(sessions.admit("a"));
    now += 10 * 60_000;
    expect(sessions.active).to.equal(1);
    expect(refused(sessions.admit("b")).code).to.equal("ORCHESTRATOR_CAPPED");
  });

  it("uses 60 s of idleness by default, and says so in Retry-After", () => {
    const sessions = table({ maxSessions: 1 });
    granted(sessions.admit("a")).release(true);
    expect(refused(sessions.admit("b")).retryAfterS).to.equal(60);
    now += 60_001;
    granted(sessions.admit("b"));
  });

  it("gives a Retry-After with every refusal", () => {
    const capped = table({ maxSessions: 1, perSessionQueue: 1 });
    granted(capped.admit("a"));
    const none = table({ maxSessions: "auto" });
    const refusals = [refused(capped.admit("b")), refused(capped.admit("a")), refused(none.admit("a"))];
    expect(refusals.map((r) => r.code)).to.deep.equal(["ORCHESTRATOR_CAPPED", "SESSION_QUEUE_FULL", "NO_TRANSCODERS"]);
    for (const r of refusals) {
      expect(r.retryAfterS, r.code).to.satisfy((s: number) => Number.isInteger(s) && s > 0);
      expect(r.message, r.code).to.be.a("string").and.not.equal("");
    }
  });
});
