import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";

import { type StoredTicket, WinningTicketStore } from "../../offchain/orchestrator/ticketStore";
import type { SignedTicket } from "../../offchain/pm/ticket";
import { ROOT } from "../support/processes";

const MAX_UINT256 = 2n ** 256n - 1n;

function signedTicket(nonce: bigint, faceValue = 10n ** 16n): SignedTicket {
  return {
    ticket: {
      recipient: "0x" + "22".repeat(20),
      sender: "0x" + "11".repeat(20),
      faceValue,
      winProb: MAX_UINT256 / 100n,
      senderNonce: nonce,
      recipientRandHash: "0x" + "33".repeat(32),
      creationRound: 7n,
      creationRoundBlockHash: "0x" + "44".repeat(32),
    },
    sig: "0x" + "55".repeat(65),
  };
}

const hashOf = (n: number) => "0x" + n.toString(16).padStart(64, "0");

describe("orchestrator: WinningTicketStore", () => {
  let dir: string;
  let store: WinningTicketStore;
  let now: number;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "streamflow-tickets-"));
    now = 1_000;
    store = new WinningTicketStore(path.join(dir, "tickets.db"), () => now);
  });

  afterEach(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("stores a winning ticket exactly, uint256 amounts included, and refuses to store the same hash twice", () => {
    const signed = signedTicket(MAX_UINT256, MAX_UINT256);
    const hash = hashOf(0xabcdef);
    expect(store.add(hash, signed, MAX_UINT256 - 1n, 9n)).to.equal(true);
    // The same hash in capitals is the same ticket.
    expect(store.add("0x" + hash.slice(2).toUpperCase(), signedTicket(2n), 5n, 9n)).to.equal(false);
    const stored = store.get(hash) as StoredTicket;
    expect(stored.signed).to.deep.equal(signed);
    expect(stored.recipientRand).to.equal(MAX_UINT256 - 1n);
    expect(stored.lastValidRound).to.equal(9n);
    expect(stored.status).to.equal("pending");
    expect(stored.receivedAt).to.equal(1_000);
    expect(store.stats()).to.deep.include({ pending: 1, outstandingFaceValue: MAX_UINT256 });
  });

  it("lists pending tickets soonest-expiring first, then oldest first", () => {
    store.add(hashOf(1), signedTicket(1n), 1n, 12n);
    now++;
    store.add(hashOf(2), signedTicket(2n), 2n, 10n);
    now++;
    store.add(hashOf(3), signedTicket(3n), 3n, 12n);
    store.add(hashOf(4), signedTicket(4n), 4n, 100n);
    expect(store.list("pending").map((t) => t.ticketHash)).to.deep.equal([hashOf(2), hashOf(1), hashOf(3), hashOf(4)]);
    expect(store.list("pending", 2).map((t) => t.ticketHash)).to.deep.equal([hashOf(2), hashOf(1)]);
  });

  it("never puts a ticket into two redemption transactions", () => {
    store.add(hashOf(1), signedTicket(1n), 1n, 10n);
    store.add(hashOf(2), signedTicket(2n), 2n, 10n);
    expect(store.markSubmitted([hashOf(1), hashOf(2)], "0xaa")).to.equal(2);
    expect(store.markSubmitted([hashOf(1), hashOf(2)], "0xbb")).to.equal(0);
    expect(store.list("pending")).to.deep.equal([]);
    expect(store.get(hashOf(1))?.txHash).to.equal("0xaa");
    // The transaction was dropped: the tickets may go out again, in a new one.
    expect(store.markPending([hashOf(1)])).to.equal(1);
    expect(store.markSubmitted([hashOf(1)], "0xcc")).to.equal(1);
    expect(store.markRedeemed([hashOf(1), hashOf(2)], "0xcc")).to.equal(2);
    // Redeemed is final: nothing moves it back or out again.
    expect(store.markPending([hashOf(1)])).to.equal(0);
    expect(store.markSubmitted([hashOf(1)], "0xdd")).to.equal(0);
    expect(store.markFailed([hashOf(1)], "late")).to.equal(0);
    expect(store.stats()).to.deep.include({
      pending: 0,
      submitted: 0,
      redeemed: 2,
      redeemedFaceValue: 2n * 10n ** 16n,
    });
  });

  it("records failures with their reason, and expires pending tickets past their last valid round", () => {
    store.add(hashOf(1), signedTicket(1n), 1n, 10n);
    store.add(hashOf(2), signedTicket(2n), 2n, 11n);
    store.add(hashOf(3), signedTicket(3n), 3n, 9n);
    expect(store.markFailed([hashOf(3)], "TicketAlreadyUsed")).to.equal(1);
    expect(store.get(hashOf(3))).to.deep.include({ status: "failed", reason: "TicketAlreadyUsed" });
    expect(store.expire(11n)).to.equal(1); // round 10 is past; 11 is still valid; failed ones stay failed
    expect(store.get(hashOf(1))?.status).to.equal("expired");
    expect(store.get(hashOf(2))?.status).to.equal("pending");
    expect(store.stats()).to.deep.include({ pending: 1, failed: 1, expired: 1, outstandingFaceValue: 10n ** 16n });
  });

  it("keeps every ticket and its state across a reopen", () => {
    store.add(hashOf(1), signedTicket(1n), 1n, 10n);
    store.add(hashOf(2), signedTicket(2n), 2n, 10n);
    store.markSubmitted([hashOf(2)], "0xaa");
    store.close();
    store = new WinningTicketStore(path.join(dir, "tickets.db"));
    expect(store.list("pending").map((t) => t.ticketHash)).to.deep.equal([hashOf(1)]);
    expect(store.list("submitted").map((t) => [t.ticketHash, t.txHash])).to.deep.equal([[hashOf(2), "0xaa"]]);
  });

  it("commits a ticket before add() returns: a process killed right after loses nothing it acknowledged", () => {
    const file = path.join(dir, "killed.db");
    // A separate process stores one ticket and kills itself (SIGKILL: no exit handlers, no close) right after.
    const script = `
      require("ts-node").register({ transpileOnly: true, project: ${JSON.stringify(path.join(ROOT, "tsconfig.json"))} });
      const { WinningTicketStore } = require(${JSON.stringify(path.join(ROOT, "offchain/orchestrator/ticketStore.ts"))});
      const store = new WinningTicketStore(${JSON.stringify(file)});
      const ticket = { recipient: "0x01", sender: "0x02", faceValue: 5n, winProb: 1n, senderNonce: 3n,
        recipientRandHash: "0x03", creationRound: 1n, creationRoundBlockHash: "0x04" };
      if (!store.add(${JSON.stringify(hashOf(7))}, { ticket, sig: "0x05" }, 6n, 2n)) process.exit(3);
      process.kill(process.pid, "SIGKILL");`;
    let signal: string | undefined;
    try {
      execFileSync(process.execPath, ["-e", script], { cwd: ROOT, stdio: "pipe" });
    } catch (error) {
      signal = (error as { signal?: string }).signal;
    }
    expect(signal).to.equal("SIGKILL");
    store.close();
    store = new WinningTicketStore(file);
    expect(store.get(hashOf(7))).to.deep.include({ status: "pending", recipientRand: 6n });
  });
});

describe("orchestrator: WinningTicketStore replaceTx and outstandingFaceValue", () => {
  let store: WinningTicketStore;

  beforeEach(() => {
    store = new WinningTicketStore(":memory:", () => 1_000);
  });

  afterEach(() => {
    store.close();
  });

  /** A ticket from `sender` (written as given) worth `faceValue`. */
  function ticketFrom(sender: string, nonce: bigint, faceValue: bigint): SignedTicket {
    const signed = signedTicket(nonce, faceValue);
    return { ...signed, ticket: { ...signed.ticket, sender } };
  }

  it("moves the submitted tickets of the replaced transaction to the new one, and nothing else", () => {
    for (let n = 1; n <= 6; n++) store.add(hashOf(n), signedTicket(BigInt(n)), BigInt(n), 10n);
    store.markSubmitted([hashOf(1), hashOf(2), hashOf(4), hashOf(5)], "0xaa");
    store.markSubmitted([hashOf(3)], "0xbb");
    store.markRedeemed([hashOf(4)], "0xaa");
    store.markFailed([hashOf(5)], "TicketUsed");
    // 6 stays pending.
    expect(store.replaceTx("0xaa", "0xcc")).to.equal(2);
    const submitted = store.list("submitted").map((t) => [t.ticketHash, t.txHash]);
    expect(submitted.sort()).to.deep.equal([
      [hashOf(1), "0xcc"],
      [hashOf(2), "0xcc"],
      [hashOf(3), "0xbb"],
    ]);
    expect(store.get(hashOf(4))).to.deep.include({ status: "redeemed", txHash: "0xaa" });
    expect(store.get(hashOf(5))).to.deep.include({ status: "failed", txHash: "0xaa" });
    expect(store.get(hashOf(6))).to.deep.include({ status: "pending", txHash: undefined });
    expect(store.stats()).to.deep.include({ pending: 1, submitted: 3, redeemed: 1, failed: 1 });
  });

  it("changes nothing when no submitted ticket waits on the old transaction", () => {
    store.add(hashOf(1), signedTicket(1n), 1n, 10n);
    store.markSubmitted([hashOf(1)], "0xaa");
    expect(store.replaceTx("0xdd", "0xee")).to.equal(0);
    expect(store.get(hashOf(1))?.txHash).to.equal("0xaa");
  });

  it("lets the replacement be replaced again, and redeemed under its own hash", () => {
    store.add(hashOf(1), signedTicket(1n), 1n, 10n);
    store.markSubmitted([hashOf(1)], "0xaa");
    expect(store.replaceTx("0xaa", "0xbb")).to.equal(1);
    expect(store.replaceTx("0xaa", "0xcc")).to.equal(0);
    expect(store.replaceTx("0xbb", "0xcc")).to.equal(1);
    expect(store.markRedeemed([hashOf(1)], "0xcc")).to.equal(1);
    expect(store.get(hashOf(1))).to.deep.include({ status: "redeemed", txHash: "0xcc" });
  });

  it("sums a sender's pending and submitted face value, not redeemed, failed or expired", () => {
    const sender = "0x" + "11".repeat(20);
    store.add(hashOf(1), ticketFrom(sender, 1n, 1n), 1n, 10n); // pending
    store.add(hashOf(2), ticketFrom(sender, 2n, 20n), 2n, 10n); // submitted
    store.add(hashOf(3), ticketFrom(sender, 3n, 300n), 3n, 10n); // redeemed
    store.add(hashOf(4), ticketFrom(sender, 4n, 4_000n), 4n, 10n); // failed
    store.add(hashOf(5), ticketFrom(sender, 5n, 50_000n), 5n, 5n); // expired
    store.markSubmitted([hashOf(2), hashOf(3)], "0xaa");
    store.markRedeemed([hashOf(3)], "0xaa");
    store.markFailed([hashOf(4)], "TicketUsed");
    expect(store.expire(6n)).to.equal(1);
    expect(store.outstandingFaceValue(sender)).to.equal(21n);
    expect(store.outstandingCount()).to.equal(2);
    expect(store.stats()).to.include({ pending: 1, submitted: 1, redeemed: 1, failed: 1, expired: 1 });
    expect(store.stats().outstandingFaceValue).to.equal(21n);
    expect(store.stats().redeemedFaceValue).to.equal(300n);
    // A dropped transaction's tickets are still owed.
    store.markPending([hashOf(2)]);
    expect(store.outstandingFaceValue(sender)).to.equal(21n);
    store.markRedeemed([hashOf(1), hashOf(2)], "0xbb");
    expect(store.outstandingFaceValue(sender)).to.equal(0n);
    expect(store.outstandingCount()).to.equal(0);
  });

  it("counts only that sender's tickets, matching the address in any case", () => {
    const sender = "0x" + "ab".repeat(20);
    const other = "0x" + "cd".repeat(20);
    store.add(hashOf(1), ticketFrom("0x" + "AB".repeat(20), 1n, 5n), 1n, 10n);
    store.add(hashOf(2), ticketFrom(sender, 2n, 7n), 2n, 10n);
    store.add(hashOf(3), ticketFrom(other, 3n, 1_000n), 3n, 10n);
    expect(store.outstandingFaceValue(sender)).to.equal(12n);
    expect(store.outstandingFaceValue("0x" + "AB".repeat(20))).to.equal(12n);
    expect(store.outstandingFaceValue("0x" + "aB".repeat(20))).to.equal(12n);
    expect(store.outstandingFaceValue(other)).to.equal(1_000n);
    expect(store.outstandingFaceValue("0x" + "ef".repeat(20))).to.equal(0n);
  });

  it("sums uint256 face values exactly", () => {
    const sender = "0x" + "11".repeat(20);
    store.add(hashOf(1), ticketFrom(sender, 1n, MAX_UINT256), 1n, 10n);
    store.add(hashOf(2), ticketFrom(sender, 2n, MAX_UINT256 - 1n), 2n, 10n);
    store.add(hashOf(3), ticketFrom(sender, 3n, 2n ** 64n + 1n), 3n, 10n);
    expect(store.outstandingFaceValue(sender)).to.equal(2n * MAX_UINT256 - 1n + 2n ** 64n + 1n);
  });
});
