/**
 * End to end: a real `streamflow orchestrator` process (with its in-process transcoder) against a `hardhat node`
 * with the suite deployed, an active orchestrator and a funded broadcaster. A paid segment round trip, refusals with
 * distinct codes, winning tickets redeemed on chain with the fees visible in the BondingManager, admission control,
 * the monitoring endpoints, and the command line's own errors.
 *
 * Other files: test/faults/orchestrator-recovery.test.ts (a restart with winning tickets queued, a remote transcoder killed
 * mid-job), orchestrator-rounds.test.ts (initializeRound, reward and the service URI).
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import { Wallet, toQuantity } from "ethers";

import { type MediaTools, mediaTools } from "../../offchain/media/binaries";
import { PRESETS, type Rendition } from "../../offchain/media/ladder";
import { generateTestSegment } from "../../offchain/media/testsrc";
import { OrchestratorClient, OrchestratorError, checkSegmentResponse } from "../../offchain/orchestrator/client";
import { estimateOutputPixels, feeFor } from "../../offchain/orchestrator/pricing";
import {
  type ErrorBody,
  HEADERS,
  type OrchestratorInfo,
  encodePayment,
  infoRequestMessage,
  personalMessageDigest,
} from "../../offchain/orchestrator/wire";
import { signDigest } from "../../offchain/pm/crypto";
import { TicketSender } from "../../offchain/pm/sender";
import { type SignedTicket, TicketHasher, fromHex, toHex } from "../../offchain/pm/ticket";
import { BondingManager__factory, TicketBroker__factory } from "../../typechain-types";
import { rejectionOf } from "../support/assertions";
import { BROADCASTER_KEY, type OrchestratorChain, devKey, startOrchestratorChain } from "../support/orchestratorChain";
import {
  ProcessGroup,
  getJson,
  metricValue,
  postSegment,
  segmentHeaders,
  status,
  waitForDaemonBlock,
  waitUntil,
} from "../support/orchestratorDaemon";
import { freePort } from "../support/processes";

const LADDER: Rendition[] = [{ ...PRESETS["360p30"] }, { ...PRESETS["240p30"] }];
/** What one 2 s 640x360 segment of LADDER costs at the default price (1 wei per pixel): what the broadcaster pays. */
const SEGMENT_FEE = feeFor(estimateOutputPixels(LADDER, 2000, { width: 640, height: 360, fps: 30 }), {
  pricePerUnit: 1n,
  pixelsPerUnit: 1n,
});

/** Dev accounts funded as broadcasters of their own, so that one test's credit never pays for another's segment. */
const ACCOUNTS = {
  refusals: 3,
  forger: 4,
  replay: 5,
  wrongRecipient: 6,
  expired: 7,
  notMpegts: 8,
  capacity: 9,
  monitoring: 10,
  unpaidSession: 11,
  malformedMix: 12,
} as const;

interface Broadcaster {
  key: string;
  client: OrchestratorClient;
  sender(info: OrchestratorInfo): TicketSender;
}

function broadcaster(index: number, url: string): Broadcaster {
  const key = devKey(index);
  return {
    key,
    client: new OrchestratorClient(url, key),
    sender: (info) =>
      new TicketSender({ privateKey: key, domain: { chainId: info.chainId, verifyingContract: info.ticketBroker } }),
  };
}

/** The refusal a request ends in: an OrchestratorError, never a 5xx. */
async function refusalOf(promise: Promise<unknown>): Promise<OrchestratorError> {
  const error = await rejectionOf(promise);
  expect(error, String(error)).to.be.instanceOf(OrchestratorError);
  return error as OrchestratorError;
}

/** The same ticket, signed by another key over the same EIP-712 digest. */
function forge(signed: SignedTicket, info: OrchestratorInfo, forgerKey: string): SignedTicket {
  const digest = new TicketHasher({ chainId: info.chainId, verifyingContract: info.ticketBroker }).hash(signed.ticket);
  return { ticket: signed.ticket, sig: toHex(signDigest(digest, fromHex(forgerKey, 32, "forgerKey"))) };
}

describe("e2e: streamflow orchestrator on a hardhat node", function () {
  this.timeout(60_000);

  let chain: OrchestratorChain;
  let tools: MediaTools;
  /** 640x360, 30 fps, 2 s. */
  let segment: Buffer;
  const dirs: string[] = [];
  /** Processes a single test started; stopped after each test. */
  const processes = new ProcessGroup();

  const newDataDir = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "streamflow-orch-data-"));
    dirs.push(dir);
    return dir;
  };

  before(async () => {
    tools = await mediaTools();
    segment = await generateTestSegment(tools, { width: 640, height: 360, fps: 30, durationSec: 2 });
    chain = await startOrchestratorChain("orch");
    for (const index of Object.values(ACCOUNTS)) await chain.fundBroadcaster(index);
  });

  afterEach(async function () {
    if (this.currentTest?.state === "failed") console.log(processes.output());
    await processes.stopAll();
  });

  after(async () => {
    await processes.stopAll();
    await chain?.stop();
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("transcodes a paid segment, signs the receipt, and redeems the winning ticket on chain", async () => {
    // Every ticket wins: its EV is its face value.
    const { url, daemon } = await processes.startOrchestrator(chain, {
      dataDir: newDataDir(),
      args: ["--ticket-ev", "1000000000000000000000"],
    });
    const client = new OrchestratorClient(url, BROADCASTER_KEY);
    const info: OrchestratorInfo = await client.info();
    expect(info.address).to.equal(chain.orchestrator);
    const sender = new TicketSender({
      privateKey: BROADCASTER_KEY,
      domain: { chainId: info.chainId, verifyingContract: info.ticketBroker },
    });
    const tickets = sender.createTickets(info.ticketParams, 1);
    const response = await client.segment(info, {
      streamId: "e2e-stream",
      seq: 0,
      body: segment,
      durationMs: 2000,
      renditions: LADDER,
      tickets,
    });
    expect(
      checkSegmentResponse(response, info, {
        chainId: info.chainId,
        verifyingContract: chain.record.contracts.DisputeManager,
      }),
    ).to.equal(undefined);
    expect(response.result.tickets).to.deep.equal({ accepted: 1, won: 1 });
    expect(response.renditions).to.have.length(2);

    const bonding = BondingManager__factory.connect(chain.record.contracts.BondingManager, chain.provider);
    const broker = TicketBroker__factory.connect(chain.record.contracts.TicketBroker, chain.provider);
    await daemon.waitForLog("redemption transaction mined");
    const round = await chain.nextRound();
    const fees = await bonding.pendingFees(chain.orchestrator, round);
    expect(fees > 0n).to.equal(true);
    const [books] = await broker.getSenderInfo(chain.broadcaster);
    expect(books.deposit).to.equal(10n ** 19n - info.ticketParams.faceValue);
  });

  describe("refusals: one daemon, a distinct status and code for each", () => {
    /** `--max-segment-bytes`: twice the test segment. */
    let maxSegmentBytes: number;
    let url: string;
    const shared = new ProcessGroup();

    before(async () => {
      maxSegmentBytes = 2 * segment.length;
      // One ticket pays for exactly one segment (EV rounds down by at most 1 wei), so no credit is left over to pay
      // for a later request whose tickets are refused.
      ({ url } = await shared.startOrchestrator(chain, {
        dataDir: newDataDir(),
        args: [
          "--ticket-ev",
          String(SEGMENT_FEE + 1n),
          "--max-sessions",
          "64",
          "--max-segment-bytes",
          String(maxSegmentBytes),
        ],
      }));
    });

    afterEach(function () {
      if (this.currentTest?.state === "failed") console.log(shared.output());
    });

    after(async () => {
      await shared.stopAll();
    });

    const request = (streamId: string, seq: number, tickets?: SignedTicket[], body = segment) => ({
      streamId,
      seq,
      body,
      durationMs: 2000,
      renditions: LADDER,
      tickets,
    });

    it("an unpaid segment: 402 INSUFFICIENT_CREDIT", async () => {
      const b = broadcaster(ACCOUNTS.refusals, url);
      const info = await b.client.info();
      const error = await refusalOf(b.client.segment(info, request("unpaid", 0)));
      expect([error.status, error.code], error.message).to.deep.equal([402, "INSUFFICIENT_CREDIT"]);
      expect(error.message).to.include(`this segment's ${SEGMENT_FEE} wei`);
    });

    it("a ticket signed by another key: 402 TICKET_BAD_SIGNATURE; its nonce stays usable", async () => {
      const b = broadcaster(ACCOUNTS.forger, url);
      const info = await b.client.info();
      const [ticket] = b.sender(info).createTickets(info.ticketParams, 1);
      const forger = Wallet.createRandom();
      const error = await refusalOf(
        b.client.segment(info, request("forged", 0, [forge(ticket, info, forger.privateKey)])),
      );
      expect([error.status, error.code], error.message).to.deep.equal([402, "TICKET_BAD_SIGNATURE"]);
      expect(error.message).to.include(forger.address.toLowerCase());

      // The genuine ticket with the same nonce is accepted afterwards.
      const paid = await b.client.segment(info, request("forged", 1, [ticket]));
      expect(paid.result.tickets.accepted).to.equal(1);
    });

    it("a replayed ticket: 402 TICKET_NONCE_REPLAYED", async () => {
      const b = broadcaster(ACCOUNTS.replay, url);
      const info = await b.client.info();
      expect(TicketSender.ev(info.ticketParams) >= SEGMENT_FEE, "one ticket pays for one segment").to.equal(true);
      const tickets = b.sender(info).createTickets(info.ticketParams, 1);
      const first = await b.client.segment(info, request("replay", 0, tickets));
      expect(first.result.tickets.accepted).to.equal(1);
      expect(BigInt(first.result.balance) < SEGMENT_FEE, "the credit left cannot pay for another segment").to.equal(
        true,
      );

      const error = await refusalOf(b.client.segment(info, request("replay", 1, tickets)));
      expect([error.status, error.code], error.message).to.deep.equal([402, "TICKET_NONCE_REPLAYED"]);
    });

    it("a ticket that pays another recipient: 402 TICKET_WRONG_RECIPIENT", async () => {
      const b = broadcaster(ACCOUNTS.wrongRecipient, url);
      const info = await b.client.info();
      const params = { ...info.ticketParams, recipient: Wallet.createRandom().address.toLowerCase() };
      const tickets = b.sender(info).createTickets(params, 1);
      const error = await refusalOf(
        b.client.segment({ ...info, ticketParams: params }, request("elsewhere", 0, tickets)),
      );
      expect([error.status, error.code], error.message).to.deep.equal([402, "TICKET_WRONG_RECIPIENT"]);
    });

    it("tickets on parameters past their expirationBlock: 402 TICKET_PARAMS_EXPIRED", async () => {
      const b = broadcaster(ACCOUNTS.expired, url);
      const info = await b.client.info();
      const tickets = b.sender(info).createTickets(info.ticketParams, 1);
      // The parameters live 40 blocks, rounds 20 and tickets 2 rounds: once the expiration block has passed the
      // creation round is too old as well, but the parameters' expiry is what the recipient checks first.
      const head = BigInt(await chain.provider.getBlockNumber());
      const target = info.ticketParams.expirationBlock + 1n;
      expect(target > head).to.equal(true);
      await chain.provider.send("hardhat_mine", [toQuantity(target - head)]);
      await waitForDaemonBlock(url, target);
      try {
        const error = await refusalOf(b.client.segment(info, request("expired", 0, tickets)));
        expect([error.status, error.code], error.message).to.deep.equal([402, "TICKET_PARAMS_EXPIRED"]);
        expect(error.message).to.include(`expired at block ${info.ticketParams.expirationBlock}`);
      } finally {
        // Back to an initialized round, for /info.
        await chain.nextRound();
        await waitUntil(
          "the orchestrator to see the initialized round",
          async () => (await status(url)).chain.roundInitialized,
        );
      }
      // Fresh parameters pay.
      const fresh = await b.client.info();
      const paid = await b.client.segment(
        fresh,
        request("expired", 1, b.sender(fresh).createTickets(fresh.ticketParams, 1)),
      );
      expect(paid.result.tickets.accepted).to.equal(1);
    });

    it("no auth token, or a spoiled one: 401 AUTH_INVALID", async () => {
      const b = broadcaster(ACCOUNTS.refusals, url);
      const info = await b.client.info();
      const headers = segmentHeaders(info, b.key, request("auth", 0));
      const { [HEADERS.auth]: token, ...withoutToken } = headers;
      const none = await postSegment(url, withoutToken, segment);
      expect([none.status, none.error?.code], none.error?.message).to.deep.equal([401, "AUTH_INVALID"]);

      const spoiled = token.slice(0, -1) + (token.endsWith("0") ? "1" : "0");
      const bad = await postSegment(url, { ...headers, [HEADERS.auth]: spoiled }, segment);
      expect([bad.status, bad.error?.code], bad.error?.message).to.deep.equal([401, "AUTH_INVALID"]);
    });

    it("segment metadata signed by another key: 401 SEGMENT_SIGNATURE_INVALID", async () => {
      const b = broadcaster(ACCOUNTS.refusals, url);
      const info = await b.client.info();
      const headers = segmentHeaders(info, Wallet.createRandom().privateKey, request("badsig", 0));
      const answer = await postSegment(url, headers, segment);
      expect([answer.status, answer.error?.code], answer.error?.message).to.deep.equal([
        401,
        "SEGMENT_SIGNATURE_INVALID",
      ]);
    });

    it("a body that is not MPEG-TS: 400 SEGMENT_NOT_MPEGTS before any payment, and the daemon keeps serving", async () => {
      const b = broadcaster(ACCOUNTS.notMpegts, url);
      const info = await b.client.info();
      const noise = randomBytes(64 * 1024);
      noise[0] = 0; // not the 0x47 sync byte
      const tickets = b.sender(info).createTickets(info.ticketParams, 1);
      const error = await refusalOf(b.client.segment(info, request("noise", 0, tickets, noise)));
      expect(error.status, error.message).to.equal(400);
      expect(error.code).to.equal("SEGMENT_NOT_MPEGTS");

      // Refused before the payment was looked at: the same ticket still pays for a good segment.
      const good = await b.client.segment(info, request("noise", 1, tickets));
      expect(
        checkSegmentResponse(good, info, {
          chainId: info.chainId,
          verifyingContract: chain.record.contracts.DisputeManager,
        }),
      ).to.equal(undefined);
      expect(good.result.tickets.accepted).to.equal(1);
      expect(good.renditions).to.have.length(2);
      expect((await getJson(`${url}/healthz`)).status).to.equal(200);
    });

    it("a malformed payment header: 400 with a code saying what is wrong", async () => {
      const b = broadcaster(ACCOUNTS.refusals, url);
      const info = await b.client.info();
      const [ticket] = b.sender(info).createTickets(info.ticketParams, 1);
      const good = JSON.parse(encodePayment(b.client.address, info.ticketParams, [ticket]));
      const uint256Overflow = "9".repeat(78);
      const payments: Array<[string, string, string]> = [
        ["not JSON", "{tickets: oops", "BAD_REQUEST"],
        ["not an object", "[1]", "BAD_REQUEST"],
        ["tickets not an array", JSON.stringify({ ...good, tickets: "many" }), "BAD_REQUEST"],
        [
          "a short signature",
          JSON.stringify({ ...good, tickets: [{ senderNonce: "0", sig: "0x1234" }] }),
          "BAD_REQUEST",
        ],
        ["a negative face value", JSON.stringify({ ...good, faceValue: "-1" }), "BAD_REQUEST"],
        ["no recipient", JSON.stringify({ ...good, recipient: undefined }), "BAD_REQUEST"],
        ["a face value beyond uint256", JSON.stringify({ ...good, faceValue: uint256Overflow }), "TICKET_MALFORMED"],
        ["another sender", JSON.stringify({ ...good, sender: "0x" + "11".repeat(20) }), "PAYMENT_SENDER_MISMATCH"],
        [
          "49 tickets",
          JSON.stringify({
            ...good,
            tickets: Array.from({ length: 49 }, (_, n) => ({ senderNonce: String(n), sig: ticket.sig })),
          }),
          "TOO_MANY_TICKETS",
        ],
      ];
      const answers = [];
      for (const [i, [what, payment]] of payments.entries()) {
        const headers = { ...segmentHeaders(info, b.key, request("payment", i)), [HEADERS.payment]: payment };
        const answer = await postSegment(url, headers, segment);
        answers.push([what, answer.status, answer.error?.code]);
      }
      expect(answers).to.deep.equal(payments.map(([what, , code]) => [what, 400, code]));
    });

    it("a payment with a malformed ticket after a good one: 400, and the good one's credit is kept", async () => {
      const b = broadcaster(ACCOUNTS.malformedMix, url);
      const info = await b.client.info();
      const [good] = b.sender(info).createTickets(info.ticketParams, 1);
      const payment = JSON.parse(encodePayment(b.client.address, info.ticketParams, [good]));
      payment.tickets.push({ senderNonce: "9".repeat(78), sig: good.sig }); // a nonce beyond uint256
      const headers = {
        ...segmentHeaders(info, b.key, request("mixed", 0)),
        [HEADERS.payment]: JSON.stringify(payment),
      };
      const answer = await postSegment(url, headers, segment);
      expect([answer.status, answer.error?.code]).to.deep.equal([400, "TICKET_MALFORMED"]);
      // The good ticket was accepted (its nonce is used) and its credit pays for the next segment.
      const paid = await b.client.segment(info, request("mixed", 1));
      expect(paid.result.tickets.accepted).to.equal(0);
      expect(BigInt(paid.result.fee) > 0n).to.equal(true);
    });

    it("a body sent with another Content-Type: 415 UNSUPPORTED_MEDIA_TYPE", async () => {
      const b = broadcaster(ACCOUNTS.refusals, url);
      const info = await b.client.info();
      const types = [undefined, "multipart/form-data; boundary=x", "text/plain", "application/json"];
      const answers = [];
      for (const [i, type] of types.entries()) {
        const { "content-type": _, ...headers } = segmentHeaders(info, b.key, request("content-type", i));
        const answer = await postSegment(
          url,
          type === undefined ? headers : { ...headers, "content-type": type },
          segment,
        );
        answers.push([type ?? "(none)", answer.status, answer.error?.code]);
      }
      expect(answers).to.deep.equal(types.map((type) => [type ?? "(none)", 415, "UNSUPPORTED_MEDIA_TYPE"]));
    });

    it("GET /info refusals: 400 INFO_REQUEST_INVALID, 401 INFO_REQUEST_STALE and INFO_SIGNATURE_INVALID, 402 for an unfunded sender", async () => {
      const b = broadcaster(ACCOUNTS.refusals, url);
      const now = Math.floor(Date.now() / 1000);
      const sign = (key: string, timestamp: number) =>
        toHex(
          signDigest(personalMessageDigest(infoRequestMessage(b.client.address, timestamp)), fromHex(key, 32, "key")),
        );
      const cases: Array<[string, Record<string, string>, number, string]> = [
        ["no headers", {}, 400, "INFO_REQUEST_INVALID"],
        [
          "a timestamp that is not a number",
          {
            [HEADERS.broadcaster]: b.client.address,
            [HEADERS.timestamp]: "soon",
            [HEADERS.signature]: sign(b.key, now),
          },
          400,
          "INFO_REQUEST_INVALID",
        ],
        [
          "a timestamp an hour old",
          {
            [HEADERS.broadcaster]: b.client.address,
            [HEADERS.timestamp]: String(now - 3600),
            [HEADERS.signature]: sign(b.key, now - 3600),
          },
          401,
          "INFO_REQUEST_STALE",
        ],
        [
          "signed by another key",
          {
            [HEADERS.broadcaster]: b.client.address,
            [HEADERS.timestamp]: String(now),
            [HEADERS.signature]: sign(Wallet.createRandom().privateKey, now),
          },
          401,
          "INFO_SIGNATURE_INVALID",
        ],
      ];
      const answers = [];
      for (const [what, headers] of cases) {
        const response = await fetch(`${url}/info`, { headers });
        answers.push([what, response.status, ((await response.json()) as ErrorBody).error?.code]);
      }
      expect(answers).to.deep.equal(cases.map(([what, , code, name]) => [what, code, name]));

      // A sender with no deposit or reserve (dev account 15 never funded) cannot back a ticket.
      const error = await refusalOf(new OrchestratorClient(url, devKey(15)).info());
      expect([error.status, error.code], error.message).to.deep.equal([402, "SENDER_INSUFFICIENT_FUNDS"]);
    });

    it("a segment over --max-segment-bytes: 413 SEGMENT_TOO_LARGE", async () => {
      const b = broadcaster(ACCOUNTS.refusals, url);
      const info = await b.client.info();
      expect(info.limits.maxSegmentBytes).to.equal(maxSegmentBytes);
      const big = Buffer.concat([segment, segment, Buffer.alloc(1)]);
      const answer = await postSegment(url, segmentHeaders(info, b.key, request("big", 0, undefined, big)), big);
      expect([answer.status, answer.error?.code], answer.error?.message).to.deep.equal([413, "SEGMENT_TOO_LARGE"]);

      const error = await refusalOf(b.client.segment(info, request("big", 1, undefined, big)));
      expect([error.status, error.code]).to.deep.equal([413, "SEGMENT_TOO_LARGE"]);
    });

    it("/healthz, /metrics and /status report the daemon's state and its traffic; no refusal was a 500", async () => {
      const health = await getJson<{ ok: boolean; transcoders: number; capacity: number; address: string }>(
        `${url}/healthz`,
      );
      expect(health.status).to.equal(200);
      expect(health.body).to.deep.include({ ok: true, address: chain.orchestrator });
      expect(health.body.transcoders).to.be.greaterThan(0);
      expect(health.body.capacity).to.be.greaterThan(0);

      const metrics = async () => {
        const response = await fetch(`${url}/metrics`);
        expect(response.status).to.equal(200);
        return response.text();
      };
      const sample = (text: string, name: string) => metricValue(text, name) ?? 0;
      const OK = 'streamflow_orchestrator_segments_total{outcome="ok"}';
      const REFUSED = 'streamflow_orchestrator_segments_total{outcome="TICKET_BAD_SIGNATURE"}';
      const ACCEPTED = 'streamflow_orchestrator_tickets_received_total{outcome="accepted"}';
      const BAD_SIG = 'streamflow_orchestrator_tickets_received_total{outcome="TICKET_BAD_SIGNATURE"}';
      const CREDITED = "streamflow_orchestrator_ev_credited_wei_total";
      const FEES = "streamflow_orchestrator_fees_wei_total";
      const before = await metrics();

      const b = broadcaster(ACCOUNTS.monitoring, url);
      const info = await b.client.info();
      const [ticket, next] = b.sender(info).createTickets(info.ticketParams, 2);
      await b.client.segment(info, request("monitored", 0, [ticket]));
      const error = await refusalOf(
        b.client.segment(info, request("monitored", 1, [forge(next, info, Wallet.createRandom().privateKey)])),
      );
      expect(error.code).to.equal("TICKET_BAD_SIGNATURE");

      const after = await metrics();
      expect(sample(after, OK) - sample(before, OK), OK).to.equal(1);
      expect(sample(after, REFUSED) - sample(before, REFUSED), REFUSED).to.equal(1);
      expect(sample(after, ACCEPTED) - sample(before, ACCEPTED), ACCEPTED).to.equal(1);
      expect(sample(after, BAD_SIG) - sample(before, BAD_SIG), BAD_SIG).to.equal(1);
      expect(sample(after, CREDITED) - sample(before, CREDITED), CREDITED).to.equal(
        Number(TicketSender.ev(info.ticketParams)),
      );
      expect(sample(after, FEES) - sample(before, FEES), FEES).to.be.greaterThan(0);
      for (const name of [
        "streamflow_orchestrator_tickets_won_total",
        "streamflow_orchestrator_tickets_redeemed_total",
        "streamflow_orchestrator_tickets_pending",
        "streamflow_orchestrator_transcoders",
      ]) {
        expect(metricValue(after, name), name).to.be.a("number");
      }
      expect(metricValue(after, "streamflow_orchestrator_transcoders")).to.equal(1);
      // Every refusal above was a 4xx: nothing was answered with the catch-all.
      expect(after).to.not.include('outcome="INTERNAL"');

      const s = await status(url);
      expect(s.address).to.equal(chain.orchestrator);
      expect(s.chain).to.deep.include({ roundInitialized: true, active: true });
      expect(s.sessions.limit).to.equal(64);
      expect(s.transcoders).to.have.length(1);
      expect(s.tickets).to.have.all.keys(
        "pending",
        "submitted",
        "redeemed",
        "failed",
        "expired",
        "outstandingFaceValue",
        "redeemedFaceValue",
      );
      for (const key of ["pending", "submitted", "redeemed", "failed", "expired"] as const) {
        expect(s.tickets[key], key).to.be.a("number");
      }
      expect(s.tickets.outstandingFaceValue).to.match(/^\d+$/);
      expect(s.tickets.redeemedFaceValue).to.match(/^\d+$/);
      expect(s.redeemer).to.be.an("object");
    });
  });

  it("over capacity (--max-sessions 1): another stream gets 503 ORCHESTRATOR_CAPPED with Retry-After", async () => {
    const { url } = await processes.startOrchestrator(chain, { dataDir: newDataDir(), args: ["--max-sessions", "1"] });
    const b = broadcaster(ACCOUNTS.capacity, url);
    const info = await b.client.info();
    const segmentOf = (streamId: string, seq: number, tickets?: SignedTicket[]) => ({
      streamId,
      seq,
      body: segment,
      durationMs: 2000,
      renditions: LADDER,
      tickets,
    });
    // Stream A: paid (the default EV pays for several of these small segments), and now holds the one session for
    // the idle window (60 s).
    const first = await b.client.segment(
      info,
      segmentOf("stream-a", 0, b.sender(info).createTickets(info.ticketParams, 1)),
    );
    expect(BigInt(first.result.balance) >= SEGMENT_FEE, "credit left for another segment").to.equal(true);
    expect((await status(url)).sessions).to.deep.equal({ active: 1, limit: 1 });

    const error = await refusalOf(b.client.segment(info, segmentOf("stream-b", 0)));
    expect([error.status, error.code], error.message).to.deep.equal([503, "ORCHESTRATOR_CAPPED"]);
    expect(error.retryAfterS, "Retry-After").to.be.a("number").and.be.greaterThan(0);
    const raw = await postSegment(url, segmentHeaders(info, b.key, segmentOf("stream-b", 1)), segment);
    expect([raw.status, raw.error?.code]).to.deep.equal([503, "ORCHESTRATOR_CAPPED"]);
    expect(raw.retryAfter).to.match(/^\d+$/);

    // Stream A is still served, from its credit.
    const again = await b.client.segment(info, segmentOf("stream-a", 1));
    expect(again.renditions).to.have.length(2);
  });

  it("a refused (unpaid) request does not take one of the --max-sessions sessions", async () => {
    const { url } = await processes.startOrchestrator(chain, { dataDir: newDataDir(), args: ["--max-sessions", "1"] });
    const b = broadcaster(ACCOUNTS.unpaidSession, url);
    const info = await b.client.info();
    const segmentOf = (streamId: string, tickets?: SignedTicket[]) => ({
      streamId,
      seq: 0,
      body: segment,
      durationMs: 2000,
      renditions: LADDER,
      tickets,
    });
    const unpaid = await refusalOf(b.client.segment(info, segmentOf("never-paid")));
    expect([unpaid.status, unpaid.code]).to.deep.equal([402, "INSUFFICIENT_CREDIT"]);
    // Nothing was admitted to work: a paying stream must still find the one session free.
    const paid = b.client.segment(info, segmentOf("paying", b.sender(info).createTickets(info.ticketParams, 1)));
    const outcome = await paid.then(
      (response) => `200 (${response.renditions.length} renditions)`,
      (error: OrchestratorError) => `${error.status} ${error.code}`,
    );
    expect(outcome).to.equal("200 (2 renditions)");
  });

  describe("the command line", () => {
    it("without a key: exits 1 with a fatal line naming the key flags", async () => {
      const port = await freePort();
      const daemon = processes.spawn(
        [
          "orchestrator",
          "--rpc-url",
          chain.node.url,
          "--deployment",
          chain.deploymentFile,
          "--transcoder",
          "--http-addr",
          `127.0.0.1:${port}`,
          "--data-dir",
          newDataDir(),
        ],
        { STREAMFLOW_PRIVATE_KEY: undefined, STREAMFLOW_KEYSTORE_PASSWORD: undefined },
      );
      expect(await daemon.exited, daemon.output).to.deep.equal({ code: 1, signal: null });
      const fatal = daemon.logs.find((r) => r.level === 60);
      expect(fatal, daemon.output).to.not.equal(undefined);
      expect(fatal!.msg).to.include("A key is required").and.include("--keystore").and.include("--dev-account");
      expect(daemon.logs.map((r) => r.msg)).to.not.include("orchestrator started");
    });

    it("with --rpc-url where nothing listens: exits 1 with 'Cannot reach the chain'", async () => {
      const rpcPort = await freePort();
      const daemon = processes.spawn([
        "orchestrator",
        "--rpc-url",
        `http://127.0.0.1:${rpcPort}`,
        "--deployment",
        chain.deploymentFile,
        "--dev-account",
        "1",
        "--transcoder",
        "--http-addr",
        `127.0.0.1:${await freePort()}`,
        "--data-dir",
        newDataDir(),
      ]);
      expect(await daemon.exited, daemon.output).to.deep.equal({ code: 1, signal: null });
      const fatal = daemon.logs.find((r) => r.level === 60);
      expect(fatal, daemon.output).to.not.equal(undefined);
      expect(fatal!.msg).to.include("Cannot reach the chain").and.include(`127.0.0.1:${rpcPort}`);
    });

    it("--help lists the flags", async () => {
      const daemon = processes.spawn(["orchestrator", "--help"]);
      expect(await daemon.exited, daemon.output).to.deep.equal({ code: 0, signal: null });
      for (const flag of [
        "--rpc-url",
        "--deployment",
        "--keystore",
        "--keystore-password-file",
        "--private-key-file",
        "--dev-account",
        "--http-addr",
        "--service-addr",
        "--data-dir",
        "--price-per-unit",
        "--pixels-per-unit",
        "--ticket-ev",
        "--max-sessions",
        "--orch-secret-file",
        "--transcoder",
        "--transcoder-sessions",
        "--initialize-round",
        "--reward",
        "--max-gas-price",
        "--max-segment-bytes",
        "--redeem-batch",
        "--redeem-interval",
        "--log-level",
      ]) {
        expect(daemon.output, flag).to.include(flag);
      }
    });
  });
});
