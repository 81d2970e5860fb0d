/**
 * The orchestrator's HTTP API (docs/orchestrator-api.md): `GET /info`, `POST /segment`, `GET /status`, on the shared
 * fastify app that already serves /healthz and /metrics. Every refusal is a WireError with a status, a stable code and
 * a message; bad input is never a 500.
 */
import { randomBytes } from "node:crypto";

import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

import type { Logger } from "../common/log";
import type { ChainSnapshot, ChainView } from "../chain/view";
import { MediaError } from "../media/errors";
import { profilesHash } from "../media/ladder";
import { checkTransportStream } from "../media/mpegts";
import { sourceInfoFromTransportStream } from "../media/probe";
import { segmentTimeoutMs } from "../media/transcode";
import { keccak256 } from "../pm/crypto";
import { TicketError } from "../pm/errors";
import { maxFloat } from "../pm/funds";
import { faceValueFor, winProbFor } from "../pm/params";
import type { TicketRecipient } from "../pm/recipient";
import type { AuthTokens } from "./authToken";
import type { OrchestratorMetrics } from "./metrics";
import { type CreditLedger, estimateOutputPixels, feeFor } from "./pricing";
import { type ReceiptDomain, type TranscodeReceipt, outputsHash, receiptToJson, signReceipt } from "./receipt";
import type { SessionTable } from "./sessions";
import type { WinningTicketStore } from "./ticketStore";
import { PoolError, type TranscoderPool } from "./transcoderPool";
import {
  API_VERSION,
  type ErrorBody,
  HEADERS,
  INFO_REQUEST_MAX_SKEW_S,
  MAX_TICKETS_PER_REQUEST,
  type OrchestratorInfo,
  type PriceInfo,
  type SegmentResult,
  WireError,
  asWireError,
  decodePayment,
  decodeSegmentMetadata,
  encodeMultipart,
  infoRequestMessage,
  infoToJson,
  paymentTickets,
  personalMessageSigner,
  streamIdHash,
} from "./wire";

export interface ServerContext {
  address: string;
  privateKey: Uint8Array;
  /** This service's public URL (what broadcasters POST segments to). */
  serviceUrl: string;
  chainId: bigint;
  ticketBroker: string;
  receiptDomain: ReceiptDomain;
  price: PriceInfo;
  ticketEV: bigint;
  redeemGas: bigint;
  faceValueMultiplier: bigint;
  /** Blocks a set of ticket parameters stays valid (the reference node: ~40). */
  paramsValidityBlocks: bigint;
  maxSegmentBytes: number;
  chain: ChainView;
  recipient: TicketRecipient;
  auth: AuthTokens;
  ledger: CreditLedger;
  store: WinningTicketStore;
  pool: TranscoderPool;
  sessions: SessionTable;
  metrics: OrchestratorMetrics;
  log: Logger;
  /** Extra fields for /status (redeemer, round services). */
  status: () => Record<string, unknown>;
}

/** Segments answered recently, so a captured request cannot be replayed to spend the broadcaster's credit. */
class RecentSegments {
  private readonly entries = new Map<string, "in-flight" | "done">();
  constructor(private readonly max = 100_000) {}
  start(key: string): boolean {
    if (this.entries.has(key)) return false;
    this.entries.set(key, "in-flight");
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
    return true;
  }
  finish(key: string, ok: boolean): void {
    if (ok) this.entries.set(key, "done");
    else this.entries.delete(key);
  }
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function chainUnavailable(error: unknown): WireError {
  return new WireError(
    503,
    "CHAIN_UNAVAILABLE",
    `the orchestrator cannot read the chain right now (${(error as Error).message}); try again shortly`,
  );
}

/** Segment requests in flight, so shutdown can wait for them before it lets the transcoders go. */
export interface RequestTracker {
  readonly inFlight: number;
  /** Resolves once no segment request is in flight (at once if none is). */
  idle(): Promise<void>;
}

/**
 * The block after which new tickets on these parameters are refused: `validityBlocks` from now, but no later than
 * half a round before tickets of the creation round stop being redeemable (when round creationRound + validity
 * starts), so that the last ticket accepted still has time to be redeemed.
 */
export function expirationBlockFor(state: ChainSnapshot, creationRound: bigint, validityBlocks: bigint): bigint {
  const creationStart = state.roundStartBlock - (state.round - creationRound) * state.roundLength;
  const margin = state.roundLength / 2n > 0n ? state.roundLength / 2n : 1n;
  const lastUseful = creationStart + state.ticketValidityPeriod * state.roundLength - margin;
  const wanted = state.block + validityBlocks;
  const capped = wanted < lastUseful ? wanted : lastUseful;
  return capped > state.block ? capped : state.block + 1n;
}

export function registerRoutes(app: FastifyInstance, ctx: ServerContext): RequestTracker {
  const recent = new RecentSegments();
  let inFlight = 0;
  let waiters: Array<() => void> = [];
  const tracker: RequestTracker = {
    get inFlight() {
      return inFlight;
    },
    idle: () => (inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve))),
  };
  app.addHook("onRequest", async (request) => {
    if (request.url.startsWith("/segment")) inFlight++;
  });
  app.addHook("onResponse", async (request) => {
    if (!request.url.startsWith("/segment")) return;
    if (--inFlight === 0) {
      const done = waiters;
      waiters = [];
      for (const resolve of done) resolve();
    }
  });
  const me = ctx.address.toLowerCase();

  app.setErrorHandler((error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) => {
    const mapped = asWireError(error);
    let status = 500;
    let code = "INTERNAL";
    let message = "internal error";
    if (mapped instanceof WireError) {
      ({ status, code, message } = mapped);
    } else if (mapped instanceof TicketError) {
      status = 402;
      ({ code, message } = mapped);
    } else if (typeof (error as FastifyError).statusCode === "number" && (error as FastifyError).statusCode! < 500) {
      // fastify's own refusals: body too large, unsupported media type, malformed request.
      const fastifyError = error as FastifyError;
      status = fastifyError.statusCode!;
      code =
        fastifyError.code === "FST_ERR_CTP_BODY_TOO_LARGE"
          ? "SEGMENT_TOO_LARGE"
          : fastifyError.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE"
            ? "UNSUPPORTED_MEDIA_TYPE"
            : "BAD_REQUEST";
      message =
        code === "SEGMENT_TOO_LARGE"
          ? `the segment is larger than this orchestrator's limit of ${ctx.maxSegmentBytes} bytes`
          : code === "UNSUPPORTED_MEDIA_TYPE"
            ? "send the segment with Content-Type: video/mp2t"
            : fastifyError.message;
    } else {
      request.log.error({ err: error }, "unexpected error");
    }
    if (request.url.startsWith("/segment")) ctx.metrics.segments.inc({ outcome: code });
    if (mapped instanceof WireError && mapped.retryAfterS !== undefined) {
      void reply.header("retry-after", String(mapped.retryAfterS));
    }
    const body: ErrorBody = { error: { code, message } };
    return reply.code(status).send(body);
  });

  // ---- GET /info ----
  app.get("/info", async (request) => {
    const broadcaster = header(request, HEADERS.broadcaster)?.toLowerCase();
    const timestamp = Number(header(request, HEADERS.timestamp));
    const signature = header(request, HEADERS.signature);
    if (!broadcaster || !/^0x[0-9a-f]{40}$/.test(broadcaster) || !Number.isSafeInteger(timestamp) || !signature) {
      throw new WireError(
        400,
        "INFO_REQUEST_INVALID",
        `send ${HEADERS.broadcaster} (address), ${HEADERS.timestamp} (unix seconds) and ${HEADERS.signature} ` +
          "(signature of the info request message)",
      );
    }
    if (Math.abs(Date.now() / 1000 - timestamp) > INFO_REQUEST_MAX_SKEW_S) {
      throw new WireError(
        401,
        "INFO_REQUEST_STALE",
        `the request's timestamp is more than ${INFO_REQUEST_MAX_SKEW_S} s from this orchestrator's clock`,
      );
    }
    if (personalMessageSigner(infoRequestMessage(broadcaster, timestamp), signature) !== broadcaster) {
      throw new WireError(401, "INFO_SIGNATURE_INVALID", `the signature is not ${broadcaster}'s`);
    }
    const state = ctx.chain.snapshot;
    let creationRound = state.round;
    let blockHash = state.roundInitialized ? ctx.chain.blockHashForRound(state.round) : undefined;
    if (!blockHash && state.ticketValidityPeriod >= 2n && ctx.chain.blockHashForRound(state.round - 1n)) {
      // The round has just started and nobody has initialized it yet: tickets of the previous round stay
      // redeemable through this one, so streams carry on instead of stalling on the round change.
      creationRound = state.round - 1n;
      blockHash = ctx.chain.blockHashForRound(creationRound);
    }
    if (!blockHash) {
      throw new WireError(
        503,
        "ROUND_NOT_INITIALIZED",
        `round ${state.round} is not initialized, so tickets created now could not be redeemed; it will be once ` +
          "anyone calls initializeRound (`npx hardhat initialize-round`, or an orchestrator with --initialize-round)",
        5,
      );
    }
    let funds;
    try {
      funds = await ctx.chain.senderFunds(broadcaster);
    } catch (error) {
      throw chainUnavailable(error);
    }
    if (funds.unlocking) {
      throw new WireError(
        402,
        "SENDER_UNLOCKING",
        `sender ${broadcaster} is unlocking its deposit and reserve: cancel the unlock (\`npx hardhat cancel-unlock\`) ` +
          "to be served",
      );
    }
    const float = maxFloat({
      deposit: funds.deposit,
      reserveAllowance: funds.reserveAllowance,
      pendingFaceValue: ctx.store.outstandingFaceValue(broadcaster),
    });
    const faceValue = faceValueFor({
      gasPrice: state.gasPrice > 0n ? state.gasPrice : 1n,
      redeemGas: ctx.redeemGas,
      multiplier: ctx.faceValueMultiplier,
      maxFloat: float,
      sender: broadcaster,
    });
    const ev = ctx.ticketEV < faceValue ? ctx.ticketEV : faceValue;
    const ticketParams = ctx.recipient.ticketParams({
      sender: broadcaster,
      faceValue,
      winProb: winProbFor(faceValue, ev),
      expirationBlock: expirationBlockFor(state, creationRound, ctx.paramsValidityBlocks),
      creationRound,
      creationRoundBlockHash: blockHash,
    });
    const { token, expiresAt } = ctx.auth.issue(broadcaster);
    const info: OrchestratorInfo = {
      version: API_VERSION,
      address: me,
      transcoderUrl: ctx.serviceUrl,
      chainId: ctx.chainId,
      ticketBroker: ctx.ticketBroker,
      priceInfo: ctx.price,
      ticketParams,
      ticketEV: ev,
      capabilities: {
        renditions: { maxRenditions: 8, deterministic: true },
        transcoders: ctx.pool.transcoders.length,
        capacity: ctx.pool.capacity,
      },
      authToken: token,
      authTokenExpiresAt: expiresAt,
      limits: { maxSegmentBytes: ctx.maxSegmentBytes, maxTicketsPerRequest: MAX_TICKETS_PER_REQUEST },
    };
    return infoToJson(info);
  });

  // ---- POST /segment ----
  // Only segments have bodies here: without fastify's JSON and text parsers, any other type is a clear 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(["video/mp2t", "application/octet-stream"], { parseAs: "buffer" }, (_request, body, done) =>
    done(null, body),
  );

  app.post(
    "/segment",
    {
      bodyLimit: ctx.maxSegmentBytes,
      // The token is checked before the body is read: an unauthenticated upload costs no bandwidth.
      onRequest: async (request) => {
        const verdict = ctx.auth.verify(header(request, HEADERS.auth));
        if ("problem" in verdict) throw new WireError(401, "AUTH_INVALID", verdict.problem);
        (request as FastifyRequest & { sender?: string }).sender = verdict.sender;
      },
    },
    async (request, reply) => {
      const started = performance.now();
      const sender = (request as FastifyRequest & { sender: string }).sender;
      const body = request.body;
      if (!Buffer.isBuffer(body) || body.length === 0) {
        throw new WireError(400, "SEGMENT_EMPTY", "the request body must be one MPEG-TS segment");
      }
      try {
        // Not MPEG-TS at all, truncated, lost sync: refused before any payment or session is involved.
        checkTransportStream(body, ctx.maxSegmentBytes);
      } catch (error) {
        if (error instanceof MediaError) throw new WireError(400, error.code, error.message);
        throw error;
      }
      const metaText = header(request, HEADERS.segment);
      const meta = decodeSegmentMetadata(metaText);
      if (personalMessageSigner(metaText!, header(request, HEADERS.segmentSig) ?? "") !== sender) {
        throw new WireError(
          401,
          "SEGMENT_SIGNATURE_INVALID",
          `${HEADERS.segmentSig} must be ${sender}'s signature over the ${HEADERS.segment} header, as sent`,
        );
      }
      if (meta.orchestrator !== me) {
        throw new WireError(400, "WRONG_ORCHESTRATOR", `the segment is addressed to ${meta.orchestrator}, not ${me}`);
      }
      if ("0x" + keccak256(body).toString("hex") !== meta.sourceHash) {
        throw new WireError(400, "SOURCE_HASH_MISMATCH", "the body's keccak256 is not the metadata's sourceHash");
      }
      // Pure and cheap: a source beyond the limits is refused before it can touch payment or a session.
      let source;
      try {
        source = sourceInfoFromTransportStream(body);
      } catch (error) {
        if (error instanceof MediaError) throw new WireError(400, error.code, error.message);
        throw error;
      }
      const ladderHash = profilesHash(meta.renditions);
      const key = `${sender}:${meta.streamId}:${meta.seq}:${meta.sourceHash}:${ladderHash}`;
      if (!recent.start(key)) {
        throw new WireError(
          409,
          "SEGMENT_DUPLICATE",
          `segment ${meta.seq} of stream ${meta.streamId} was already sent here (a replay, or a retry while the ` +
            "first is in flight); send a retry to another orchestrator",
        );
      }
      let ok = false;
      const admission = ctx.sessions.admit(`${sender}:${meta.streamId}`);
      try {
        if (!admission.ok) throw new WireError(503, admission.code, admission.message, admission.retryAfterS);
        const tickets = await acceptPayment(ctx, sender, header(request, HEADERS.payment));

        const durationMs = Math.max(meta.durationMs, source?.durationMs ?? 0);
        const required = feeFor(estimateOutputPixels(meta.renditions, durationMs, source?.video), ctx.price);
        if (!ctx.ledger.hold(sender, required)) {
          const available = ctx.ledger.available(sender);
          const because = tickets.refusal ? `${tickets.refusal.message}; and ` : "";
          throw new WireError(
            402,
            tickets.refusal?.code ?? "INSUFFICIENT_CREDIT",
            `${because}the credit of ${available} wei does not cover this segment's ${required} wei (price ` +
              `${ctx.price.pricePerUnit} wei per ${ctx.price.pixelsPerUnit} pixels): send tickets worth at least ` +
              `${required - available} wei more`,
          );
        }

        let transcoded;
        try {
          transcoded = await ctx.pool.transcode(body, meta.renditions, segmentTimeoutMs(durationMs), {
            queueMs: Math.max(1000, durationMs),
          });
        } catch (error) {
          ctx.ledger.release(sender, required);
          if (error instanceof PoolError) {
            if (error.code === "NO_TRANSCODER_CAPACITY")
              throw new WireError(503, "ORCHESTRATOR_BUSY", error.message, 1);
            if (error.inputError) throw new WireError(400, error.code, error.message);
            throw new WireError(502, error.code, `transcoding failed: ${error.message}`);
          }
          throw error;
        }
        const metas = transcoded.result.renditions;
        const pixels = metas.reduce((total, r) => total + BigInt(r.pixels), 0n);
        const fee = feeFor(pixels, ctx.price);
        const balance = ctx.ledger.settle(sender, required, fee);
        ctx.metrics.feesWei.inc(Number(fee));

        const receipt: TranscodeReceipt = {
          broadcaster: sender,
          orchestrator: me,
          streamId: streamIdHash(meta.streamId),
          seq: BigInt(meta.seq),
          sourceHash: meta.sourceHash,
          profilesHash: ladderHash,
          outputsHash: outputsHash(metas.map((r) => r.hash)),
          deterministic: meta.renditions.every((r) => r.deterministic),
        };
        const totalMs = performance.now() - started;
        const result: SegmentResult = {
          receipt: receiptToJson(receipt),
          signature: signReceipt(receipt, ctx.receiptDomain, ctx.privateKey),
          renditions: metas.map((r) => ({ ...r })),
          fee: fee.toString(),
          balance: balance.toString(),
          tickets: { accepted: tickets.accepted, won: tickets.won },
          timings: { transcodeMs: transcoded.result.timings.totalMs, totalMs: Math.round(totalMs) },
        };
        const boundary = randomBytes(12).toString("hex");
        const payload = encodeMultipart(
          boundary,
          result,
          metas.map((r, i) => ({ name: r.name, data: transcoded.renditions[i] })),
        );
        ok = true;
        ctx.metrics.segments.inc({ outcome: "ok" });
        ctx.metrics.segmentSeconds.observe(totalMs / 1000);
        // Overhead: everything but the transcoder's own work (which it reports).
        ctx.metrics.overheadSeconds.observe(Math.max(0, totalMs - transcoded.result.timings.totalMs) / 1000);
        request.log.debug(
          { stream: meta.streamId, seq: meta.seq, fee: fee.toString(), transcoder: transcoded.transcoderId },
          "segment transcoded",
        );
        return reply.type(`multipart/mixed; boundary=${boundary}`).send(payload);
      } finally {
        if (admission.ok) admission.release(ok);
        recent.finish(key, ok);
      }
    },
  );

  // ---- GET /status ----
  app.get("/status", async () => {
    const chain = ctx.chain.snapshot;
    const stats = ctx.store.stats();
    return {
      address: me,
      serviceUrl: ctx.serviceUrl,
      chain: {
        chainId: ctx.chainId.toString(),
        block: chain.block.toString(),
        round: chain.round.toString(),
        roundInitialized: chain.roundInitialized,
        active: chain.active,
        gasPrice: chain.gasPrice.toString(),
        lastError: ctx.chain.lastError?.message,
      },
      price: { pricePerUnit: ctx.price.pricePerUnit.toString(), pixelsPerUnit: ctx.price.pixelsPerUnit.toString() },
      ticketEV: ctx.ticketEV.toString(),
      sessions: { active: ctx.sessions.active, limit: ctx.sessions.limit },
      transcoders: ctx.pool.transcoders,
      tickets: {
        ...stats,
        outstandingFaceValue: stats.outstandingFaceValue.toString(),
        redeemedFaceValue: stats.redeemedFaceValue.toString(),
      },
      ...ctx.status(),
    };
  });
  return tracker;
}

interface AcceptedPayment {
  accepted: number;
  won: number;
  /** The first ticket refused, if any (the 402's reason when the credit then falls short). */
  refusal?: TicketError;
}

/** Validates the request's tickets, stores the winners durably, and credits the sender with their EV. */
async function acceptPayment(ctx: ServerContext, sender: string, text: string | undefined): Promise<AcceptedPayment> {
  const payment = decodePayment(text);
  if (!payment || payment.tickets.length === 0) return { accepted: 0, won: 0 };
  if (payment.sender !== sender) {
    throw new WireError(400, "PAYMENT_SENDER_MISMATCH", `the tickets are from ${payment.sender}, not ${sender}`);
  }
  let funds;
  try {
    await ctx.chain.ensureBlockHash(payment.params.creationRound);
    funds = await ctx.chain.senderFunds(sender);
  } catch (error) {
    throw chainUnavailable(error);
  }
  const state = ctx.chain.snapshot;
  let float = maxFloat({
    deposit: funds.deposit,
    reserveAllowance: funds.reserveAllowance,
    pendingFaceValue: ctx.store.outstandingFaceValue(sender),
  });
  const context = {
    currentBlock: state.block,
    currentRound: state.round,
    blockHashForRound: (round: bigint) => ctx.chain.blockHashForRound(round),
    senderStanding: () => ({ maxFloat: float, unlocking: funds.unlocking }),
  };
  const expiration = { seed: payment.params.seed, expirationBlock: payment.params.expirationBlock };
  const lastValidRound = payment.params.creationRound + state.ticketValidityPeriod - 1n;
  let accepted = 0;
  let won = 0;
  let credit = 0n;
  let refusal: TicketError | undefined;
  let malformed: TicketError | undefined;
  for (const signed of paymentTickets(payment)) {
    let valid;
    try {
      valid = ctx.recipient.validate(signed, expiration, context);
    } catch (error) {
      if (!(error instanceof TicketError)) throw asWireError(error);
      if (error.code === "TICKET_MALFORMED") malformed ??= error;
      else refusal ??= error;
      ctx.metrics.ticketsReceived.inc({ outcome: error.code });
      continue;
    }
    accepted++;
    credit += valid.ev;
    ctx.metrics.ticketsReceived.inc({ outcome: "accepted" });
    if (valid.wins) {
      // On disk (fsync'd) before the response that accepts it is sent.
      ctx.store.add(valid.ticketHash, signed, valid.recipientRand, lastValidRound);
      float -= signed.ticket.faceValue;
      won++;
      ctx.metrics.ticketsWon.inc();
    }
  }
  // Credit first: tickets accepted before a malformed one keep their value (their nonces are used up).
  if (credit > 0n) {
    ctx.ledger.credit(sender, credit);
    ctx.metrics.evCreditedWei.inc(Number(credit));
  }
  if (malformed) throw new WireError(400, malformed.code, malformed.message);
  return { accepted, won, refusal };
}
