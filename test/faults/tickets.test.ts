/**
 * Fault suite: tickets and payment. A real `streamflow orchestrator` (with its in-process transcoder) on a `hardhat
 * node` with the suite deployed. Each class of bad ticket is refused with its own code, counted in /metrics, and
 * earns no credit: the sender's next unpaid segment is refused, and the refusal reads back its credit. The daemon
 * keeps serving other senders, and a broadcaster that stops paying gets exactly the work its credit covers.
 * (test/e2e/orchestrator.test.ts has the single refusals; this file checks the accounting around them.)
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import { Wallet, formatEther, parseEther } from "ethers";

import { mediaTools } from "../../offchain/media/binaries";
import { PRESETS, type Rendition } from "../../offchain/media/ladder";
import { generateTestSegment } from "../../offchain/media/testsrc";
import { OrchestratorClient, OrchestratorError, type SegmentResponse } from "../../offchain/orchestrator/client";
import { estimateOutputPixels, feeFor } from "../../offchain/orchestrator/pricing";
import type { OrchestratorInfo, PriceInfo } from "../../offchain/orchestrator/wire";
import { signDigest } from "../../offchain/pm/crypto";
import { TicketSender } from "../../offchain/pm/sender";
import { type SignedTicket, TicketHasher, fromHex, toHex } from "../../offchain/pm/ticket";
import { RoundsManager__factory, TicketBroker__factory } from "../../typechain-types";
import { type OrchestratorChain, devKey, startOrchestratorChain } from "../support/orchestratorChain";
import { type OrchestratorProcess, ProcessGroup, metricValue, status, waitUntil } from "../support/orchestratorDaemon";

const LADDER: Rendition[] = [{ ...PRESETS["360p30"] }, { ...PRESETS["240p30"] }];
/** Output pixels of one 2 s 640x360 segment of LADDER: what the daemon holds before the work and debits after. */
const SEGMENT_PIXELS = estimateOutputPixels(LADDER, 2000, { width: 640, height: 360, fps: 30 });
const PRICE: PriceInfo = { pricePerUnit: 1n, pixelsPerUnit: 1n };
const SEGMENT_FEE = feeFor(SEGMENT_PIXELS, PRICE);
/** A ticket pays for a segment and a half: what one leaves never pays for another segment. */
const TICKET_EV = (SEGMENT_FEE * 3n) / 2n;
/** The over-float sender's whole funds (no reserve): less than the face value the daemon wants, so it is the cap. */
const SMALL_DEPOSIT = parseEther("0.005");

/** Dev accounts 12..19: no two tests here share a broadcaster. */
const ACCOUNTS = {
  acrossRestart: 12,
  replay: 13,
  forged: 14,
  wrongRecipient: 15,
  expired: 16,
  overFloat: 17,
  stopsPaying: 18,
  good: 19,
};

const TICKETS = (outcome: string) => `streamflow_orchestrator_tickets_received_total{outcome="${outcome}"}`;
const SEGMENTS = (outcome: string) => `streamflow_orchestrator_segments_total{outcome="${outcome}"}`;
const CREDITED = "streamflow_orchestrator_ev_credited_wei_total";
const FEES = "streamflow_orchestrator_fees_wei_total";
const WON = "streamflow_orchestrator_tickets_won_total";
/** Jobs the in-process transcoder finished: the work actually done. */
const TRANSCODED = 'streamflow_transcoder_jobs_total{outcome="ok"}';

type Counters = (sample: string) => number;

/** Daemon flags: `price`, `ticketEV` per ticket (capped at each sender's float), room for every stream here. */
const pricing = (price: PriceInfo, ticketEV: bigint) => [
  ...["--price-per-unit", String(price.pricePerUnit), "--pixels-per-unit", String(price.pixelsPerUnit)],
  ...["--ticket-ev", String(ticketEV), "--max-sessions", "64"],
];

/** The orchestrator's and its transcoder's counters, as of now. */
async function counters(orch: OrchestratorProcess): Promise<Counters> {
  const [own, transcoder] = await Promise.all([
    fetch(`${orch.url}/metrics`).then((response) => response.text()),
    orch.daemon.metrics(),
  ]);
  return (sample) => metricValue(sample.startsWith("streamflow_transcoder_") ? transcoder : own, sample) ?? 0;
}

/** How much each of `expected`'s samples moved; compared whole, so that a failure shows every counter. */
function changes(before: Counters, after: Counters, expected: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.keys(expected).map((sample) => [sample, after(sample) - before(sample)]));
}

/** Checks how a segment request ended: "200 (n accepted)" or "<status> <code>", so that a failure says which. */
async function ends(request: Promise<SegmentResponse>, expected: string, why = "") {
  const ended = await request.then(
    (response) => ({ answer: `200 (${response.result.tickets.accepted} accepted)`, message: "", response }),
    (error: unknown) => {
      if (!(error instanceof OrchestratorError)) throw error;
      return { answer: `${error.status} ${error.code}`, message: error.message, response: undefined };
    },
  );
  expect(ended.answer, [why, ended.message].filter(Boolean).join(": ")).to.equal(expected);
  return ended;
}

/**
 * How many segments a stream gets when `paid[seq]` wei of credit comes with segment `seq` (none after it): the
 * ledger admits a segment while its credit covers the fee. Also returns the credit left at the first refusal.
 */
function creditCovers(paid: readonly bigint[], fee: bigint): { served: number; left: bigint } {
  let balance = 0n;
  for (let seq = 0; ; seq++) {
    balance += paid[seq] ?? 0n;
    if (balance < fee) return { served: seq, left: balance };
    balance -= fee;
  }
}

interface Broadcaster {
  client: OrchestratorClient;
  sender(info: OrchestratorInfo): TicketSender;
}

function broadcaster(index: number, url: string): Broadcaster {
  const privateKey = devKey(index);
  return {
    client: new OrchestratorClient(url, privateKey),
    sender: (info) =>
      new TicketSender({ privateKey, domain: { chainId: info.chainId, verifyingContract: info.ticketBroker } }),
  };
}

/** The same ticket, signed over the same digest by `forgerKey` instead of its sender. */
function forge(signed: SignedTicket, info: OrchestratorInfo, forgerKey: string): SignedTicket {
  const digest = new TicketHasher({ chainId: info.chainId, verifyingContract: info.ticketBroker }).hash(signed.ticket);
  return { ticket: signed.ticket, sig: toHex(signDigest(digest, fromHex(forgerKey, 32, "forgerKey"))) };
}

describe("faults: tickets and payment", function () {
  this.timeout(300_000);

  let chain: OrchestratorChain;
  let segment: Buffer;
  /** Price 1 wei per pixel, TICKET_EV per ticket; serves every test but the over-float one. */
  let shared: OrchestratorProcess;
  const sharedGroup = new ProcessGroup();
  const processes = new ProcessGroup();
  const dirs: string[] = [];
  const newDataDir = () => {
    dirs.push(fs.mkdtempSync(path.join(os.tmpdir(), "streamflow-faults-tickets-")));
    return dirs.at(-1)!;
  };

  const request = (streamId: string, seq: number, tickets?: SignedTicket[]) => ({
    streamId,
    seq,
    body: segment,
    durationMs: 2000,
    renditions: LADDER,
    tickets,
  });

  /** Waits until the daemon's chain view has reached the node's head, in a round initialized or not. */
  async function daemonAtHead(url: string, initialized: boolean): Promise<void> {
    const head = BigInt(await chain.provider.getBlockNumber());
    await waitUntil(`the orchestrator to see block ${head} (round initialized: ${initialized})`, async () => {
      const view = (await status(url)).chain;
      return BigInt(view.block) >= head && view.roundInitialized === initialized;
    });
  }

  /** A paid segment from the good sender (a fresh ticket); returns the credit its ticket brought. */
  async function paidByGoodSender(orch: OrchestratorProcess, streamId: string): Promise<bigint> {
    const good = broadcaster(ACCOUNTS.good, orch.url);
    const info = await good.client.info();
    const tickets = good.sender(info).createTickets(info.ticketParams, 1);
    const served = await ends(good.client.segment(info, request(streamId, 0, tickets)), "200 (1 accepted)");
    expect(served.response!.renditions).to.have.length(LADDER.length);
    return TicketSender.ev(info.ticketParams);
  }

  /**
   * The check for tickets that must earn nothing: the segment they come with is refused with `code` and each is
   * counted under it; the sender's unpaid segment next is refused for want of credit (`credit` is what it has); and
   * another sender is served. Over all of it, the only credit, fee and transcoding are that other sender's.
   */
  async function refusedWithoutCredit(
    b: Broadcaster,
    info: OrchestratorInfo,
    tickets: SignedTicket[],
    code: string,
    credit = 0n,
  ): Promise<void> {
    const before = await counters(shared);
    await ends(b.client.segment(info, request(code, 1, tickets)), `402 ${code}`);
    const unpaid = await ends(b.client.segment(info, request(code, 2)), "402 INSUFFICIENT_CREDIT");
    expect(unpaid.message).to.include(`the credit of ${credit} wei does not cover this segment's ${SEGMENT_FEE} wei`);
    const goodCredit = await paidByGoodSender(shared, `good-after-${code}`);
    const expected = {
      [TICKETS(code)]: tickets.length,
      [TICKETS("accepted")]: 1,
      [CREDITED]: Number(goodCredit),
      [FEES]: Number(SEGMENT_FEE),
      [SEGMENTS(code)]: 1,
      [SEGMENTS("INSUFFICIENT_CREDIT")]: 1,
      [SEGMENTS("ok")]: 1,
      [SEGMENTS("INTERNAL")]: 0,
      [TRANSCODED]: 1,
    };
    expect(changes(before, await counters(shared), expected)).to.deep.equal(expected);
  }

  before(async () => {
    segment = await generateTestSegment(await mediaTools(), { width: 640, height: 360, fps: 30, durationSec: 2 });
    chain = await startOrchestratorChain("faults-tickets");
    for (const [name, index] of Object.entries(ACCOUNTS)) {
      const funds = name === "overFloat" ? { deposit: formatEther(SMALL_DEPOSIT), reserve: "0" } : {};
      await chain.fundBroadcaster(index, funds);
    }
    shared = await sharedGroup.startOrchestrator(chain, { dataDir: newDataDir(), args: pricing(PRICE, TICKET_EV) });
  });

  afterEach(async function () {
    if (this.currentTest?.state === "failed") console.log(sharedGroup.output(), processes.output());
    await processes.stopAll();
  });

  after(async () => {
    await processes.stopAll();
    await sharedGroup.stopAll();
    await chain?.stop();
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  describe("a bad ticket is refused with its code, counted, earns nothing, and the daemon keeps serving", () => {
    it("replayed: TICKET_NONCE_REPLAYED; the credit left by its first use stays what it was", async () => {
      const b = broadcaster(ACCOUNTS.replay, shared.url);
      const info = await b.client.info();
      const tickets = b.sender(info).createTickets(info.ticketParams, 1);
      const first = await b.client.segment(info, request("replay", 0, tickets));
      const left = TicketSender.ev(info.ticketParams) - SEGMENT_FEE;
      expect(first.result.balance).to.equal(String(left));
      await refusedWithoutCredit(b, info, tickets, "TICKET_NONCE_REPLAYED", left);
    });

    it("replayed after the orchestrator restarted: TICKET_BAD_RAND_HASH (the nonces seen are gone, so are the parameters)", async () => {
      const dataDir = newDataDir();
      const first = await processes.startOrchestrator(chain, { dataDir, args: pricing(PRICE, TICKET_EV) });
      const b = broadcaster(ACCOUNTS.acrossRestart, first.url);
      const info = await b.client.info();
      const tickets = b.sender(info).createTickets(info.ticketParams, 1);
      await ends(b.client.segment(info, request("across-restart", 0, tickets)), "200 (1 accepted)");
      await first.daemon.stop();

      const second = await processes.startOrchestrator(chain, { dataDir, args: pricing(PRICE, TICKET_EV) });
      const after = broadcaster(ACCOUNTS.acrossRestart, second.url);
      const before = await counters(second);
      await ends(after.client.segment(info, request("across-restart", 1, tickets)), "402 TICKET_BAD_RAND_HASH");
      // What a broadcaster does on that refusal: fresh parameters, and they pay.
      const fresh = await after.client.info();
      const paid = after.sender(fresh).createTickets(fresh.ticketParams, 1);
      await ends(after.client.segment(fresh, request("across-restart", 2, paid)), "200 (1 accepted)");
      const expected = {
        [TICKETS("TICKET_BAD_RAND_HASH")]: 1,
        [TICKETS("accepted")]: 1,
        [CREDITED]: Number(TicketSender.ev(fresh.ticketParams)),
        [SEGMENTS("ok")]: 1,
      };
      expect(changes(before, await counters(second), expected)).to.deep.equal(expected);
    });

    it("forged (the sender's tickets signed by another key): TICKET_BAD_SIGNATURE", async () => {
      const b = broadcaster(ACCOUNTS.forged, shared.url);
      const info = await b.client.info();
      const forger = Wallet.createRandom().privateKey;
      const tickets = b.sender(info).createTickets(info.ticketParams, 2);
      await refusedWithoutCredit(
        b,
        info,
        tickets.map((t) => forge(t, info, forger)),
        "TICKET_BAD_SIGNATURE",
      );
    });

    it("paying another recipient: TICKET_WRONG_RECIPIENT", async () => {
      const b = broadcaster(ACCOUNTS.wrongRecipient, shared.url);
      const info = await b.client.info();
      const ticketParams = { ...info.ticketParams, recipient: Wallet.createRandom().address.toLowerCase() };
      const tickets = b.sender(info).createTickets(ticketParams, 2);
      await refusedWithoutCredit(b, { ...info, ticketParams }, tickets, "TICKET_WRONG_RECIPIENT");
    });

    it("on parameters past their expirationBlock: TICKET_PARAMS_EXPIRED", async () => {
      const b = broadcaster(ACCOUNTS.expired, shared.url);
      const info = await b.client.info();
      const tickets = b.sender(info).createTickets(info.ticketParams, 2);
      // Whole rounds, each initialized, so that /info keeps answering the good sender.
      while (BigInt(await chain.provider.getBlockNumber()) <= info.ticketParams.expirationBlock)
        await chain.nextRound();
      await daemonAtHead(shared.url, true);
      await refusedWithoutCredit(b, info, tickets, "TICKET_PARAMS_EXPIRED");
    });

    it("beyond the sender's float: SENDER_INSUFFICIENT_FUNDS while the first ticket is pending and once it is redeemed", async () => {
      // Every ticket wins (its EV is its face value, capped at the sender's float) and a segment costs two thirds of
      // SMALL_DEPOSIT: one ticket takes the whole float and pays one segment; what it leaves pays no other.
      const price: PriceInfo = { pricePerUnit: 2n * SMALL_DEPOSIT, pixelsPerUnit: 3n * SEGMENT_PIXELS };
      const fee = feeFor(SEGMENT_PIXELS, price);
      const orch = await processes.startOrchestrator(chain, {
        dataDir: newDataDir(),
        args: pricing(price, 10n ** 21n),
      });
      const b = broadcaster(ACCOUNTS.overFloat, orch.url);
      const info = await b.client.info();
      expect(info.ticketParams.faceValue, "the face value is capped at the float").to.equal(SMALL_DEPOSIT);
      expect(TicketSender.ev(info.ticketParams), "every ticket wins").to.equal(SMALL_DEPOSIT);
      const [first, second] = b.sender(info).createTickets(info.ticketParams, 2);
      // A round nobody has initialized yet: the redeemer waits, so the first winning ticket stays pending.
      await chain.mineToNextRound();
      await daemonAtHead(orch.url, false);
      const before = await counters(orch);

      const both = await ends(b.client.segment(info, request("float", 0, [first, second])), "200 (1 accepted)");
      const credit = SMALL_DEPOSIT - fee;
      expect(both.response!.result).to.deep.include({ balance: String(credit), tickets: { accepted: 1, won: 1 } });
      await ends(b.client.segment(info, request("float", 1, [second])), "402 SENDER_INSUFFICIENT_FUNDS");

      // The round starts, the first ticket is redeemed and the deposit is gone. Sent as soon as the daemon logs the
      // redemption, while its chain view may still be a block behind.
      const rounds = RoundsManager__factory.connect(chain.record.contracts.RoundsManager, await chain.signer(0));
      await (await rounds.initializeRound()).wait();
      await orch.daemon.waitForLog("redemption transaction mined");
      await ends(
        b.client.segment(info, request("float", 2, [second])),
        "402 SENDER_INSUFFICIENT_FUNDS",
        "a ticket the sender can no longer cover, as the first took its whole deposit on chain, must earn nothing",
      );
      const unpaid = await ends(b.client.segment(info, request("float", 3)), "402 INSUFFICIENT_CREDIT");
      expect(unpaid.message).to.include(`the credit of ${credit} wei`);

      // Prometheus counters are doubles: these amounts stay below 2^53 wei, so they are exact.
      const expected = {
        [TICKETS("accepted")]: 1,
        [TICKETS("SENDER_INSUFFICIENT_FUNDS")]: 3,
        [WON]: 1,
        [CREDITED]: Number(SMALL_DEPOSIT),
        [FEES]: Number(fee),
        [SEGMENTS("ok")]: 1,
        [SEGMENTS("SENDER_INSUFFICIENT_FUNDS")]: 2,
        [SEGMENTS("INSUFFICIENT_CREDIT")]: 1,
        [SEGMENTS("INTERNAL")]: 0,
        [TRANSCODED]: 1,
      };
      expect(changes(before, await counters(orch), expected)).to.deep.equal(expected);
      // Nothing paid is lost: the one ticket accepted was paid from the whole deposit.
      const broker = TicketBroker__factory.connect(chain.record.contracts.TicketBroker, chain.provider);
      const [books] = await broker.getSenderInfo(b.client.address);
      expect(books.deposit).to.equal(0n);
      await paidByGoodSender(orch, "good-after-float");
    });
  });

  describe("a broadcaster that stops paying mid-stream", () => {
    it("gets exactly the segments its credit covers, then 402 INSUFFICIENT_CREDIT, and keeps what is left", async () => {
      const b = broadcaster(ACCOUNTS.stopsPaying, shared.url);
      const info = await b.client.info();
      const sender = b.sender(info);
      const ev = TicketSender.ev(info.ticketParams);
      // Two tickets with the first segment, one with the second, then none.
      const ticketsWith = [2, 1];
      const paid = ticketsWith.map((n) => BigInt(n) * ev);
      const { served, left } = creditCovers(paid, SEGMENT_FEE);
      expect(served, "some unpaid segments are covered by the credit").to.be.greaterThan(ticketsWith.length);
      const before = await counters(shared);

      for (let seq = 0; seq < served; seq++) {
        const tickets = sender.createTickets(info.ticketParams, ticketsWith[seq] ?? 0);
        const response = await b.client.segment(info, request("stops-paying", seq, tickets));
        expect(response.result.fee, `segment ${seq}`).to.equal(String(SEGMENT_FEE));
      }
      const beyond = await ends(b.client.segment(info, request("stops-paying", served)), "402 INSUFFICIENT_CREDIT");
      expect(beyond.message).to.include(`the credit of ${left} wei does not cover this segment's ${SEGMENT_FEE} wei`);

      const expected = {
        [TICKETS("accepted")]: ticketsWith.reduce((sum, n) => sum + n, 0),
        [CREDITED]: Number(paid.reduce((sum, wei) => sum + wei, 0n)),
        [FEES]: served * Number(SEGMENT_FEE),
        [SEGMENTS("ok")]: served,
        [SEGMENTS("INSUFFICIENT_CREDIT")]: 1,
        [TRANSCODED]: served,
      };
      const moved = changes(before, await counters(shared), expected);
      expect(moved).to.deep.equal(expected);
      expect(moved[FEES], "fees debited within the EV credited").to.be.at.most(moved[CREDITED]);

      // Paying again: the credit left over was kept.
      const resumed = await b.client.segment(
        info,
        request("stops-paying", served + 1, sender.createTickets(info.ticketParams, 1)),
      );
      expect(resumed.result.balance).to.equal(String(left + ev - SEGMENT_FEE));
    });
  });
});
