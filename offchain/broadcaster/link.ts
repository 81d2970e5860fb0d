/**
 * The broadcaster's session with one orchestrator: its OrchestratorInfo (refreshed before the auth token or the
 * ticket parameters expire), the credit it reports holding for us, and paying for a segment with just enough tickets:
 * `ceil((max(fee, EV) − credit) / EV)` where the fee is the same estimate the orchestrator holds before working.
 */
import type { Rendition } from "../media/ladder";
import { TicketSender, ticketsNeeded } from "../pm/sender";
import { OrchestratorClient, OrchestratorError, type SegmentResponse } from "../orchestrator/client";
import { type SourceShape, estimateOutputPixels, feeFor } from "../orchestrator/pricing";
import { MAX_TICKETS_PER_REQUEST, type OrchestratorInfo } from "../orchestrator/wire";

export interface LinkExpectations {
  /** When known (chain discovery or a deployment): the chain and broker an orchestrator's tickets must be for. */
  chainId?: bigint;
  ticketBroker?: string;
  /** The address discovery found at this URL: /info must be signed... answered for it. */
  address?: string;
}

export class LinkError extends Error {
  override readonly name = "LinkError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface LinkSegment {
  streamId: string;
  seq: number;
  body: Buffer;
  sourceHash?: string;
  durationMs: number;
  ladder: Rendition[];
  source?: SourceShape;
}

export interface LinkResult {
  response: SegmentResponse;
  info: OrchestratorInfo;
  ticketsSent: number;
  /** Expected value of the tickets sent, wei. */
  ev: bigint;
}

/** Refresh the info this long before its auth token expires, or this many blocks before its tickets do. */
const TOKEN_MARGIN_MS = 30_000;
const PARAMS_MARGIN_BLOCKS = 3n;

export class OrchestratorLink {
  private info?: OrchestratorInfo;
  private infoPromise?: Promise<OrchestratorInfo>;
  private senders = new Map<string, TicketSender>();
  /** What the orchestrator last said it holds for us (negative: we owe). */
  credit = 0n;
  ticketsSent = 0;
  evSent = 0n;
  fees = 0n;

  constructor(
    readonly url: string,
    private readonly client: OrchestratorClient,
    private readonly privateKey: string,
    private readonly expectations: LinkExpectations,
    /** The chain's latest block, when there is a chain. */
    private readonly currentBlock: () => bigint | undefined,
    private readonly clock: () => number = Date.now,
  ) {}

  get lastInfo(): OrchestratorInfo | undefined {
    return this.info;
  }

  private stale(info: OrchestratorInfo): boolean {
    if (info.authTokenExpiresAt * 1000 - this.clock() < TOKEN_MARGIN_MS) return true;
    const block = this.currentBlock();
    return block !== undefined && info.ticketParams.expirationBlock <= block + PARAMS_MARGIN_BLOCKS;
  }

  /** The orchestrator's current info, asked for again when it is about to expire (or `force`). */
  async ensureInfo(force = false): Promise<OrchestratorInfo> {
    if (!force && this.info && !this.stale(this.info)) return this.info;
    this.infoPromise ??= this.client
      .info()
      .then((info) => {
        this.check(info);
        this.info = info;
        return info;
      })
      .finally(() => (this.infoPromise = undefined));
    return this.infoPromise;
  }

  private check(info: OrchestratorInfo): void {
    const want = this.expectations;
    if (want.chainId !== undefined && info.chainId !== want.chainId) {
      throw new LinkError("WRONG_CHAIN", `${this.url} sells tickets on chain ${info.chainId}, not ${want.chainId}`);
    }
    if (want.ticketBroker && info.ticketBroker.toLowerCase() !== want.ticketBroker.toLowerCase()) {
      throw new LinkError(
        "WRONG_CHAIN",
        `${this.url} uses the TicketBroker ${info.ticketBroker}, not ours (${want.ticketBroker})`,
      );
    }
    if (want.address && info.address.toLowerCase() !== want.address.toLowerCase()) {
      throw new LinkError(
        "WRONG_ADDRESS",
        `${this.url} answers as ${info.address}, but the chain lists it for ${want.address}`,
      );
    }
    if (info.ticketParams.recipient.toLowerCase() !== info.address.toLowerCase()) {
      throw new LinkError("BAD_TICKET_PARAMS", `${this.url} asks to pay ${info.ticketParams.recipient}, not itself`);
    }
    if (info.ticketEV <= 0n) throw new LinkError("BAD_TICKET_PARAMS", `${this.url} offers tickets worth nothing`);
  }

  private sender(info: OrchestratorInfo): TicketSender {
    const key = `${info.chainId}:${info.ticketBroker.toLowerCase()}`;
    let sender = this.senders.get(key);
    if (!sender) {
      sender = new TicketSender({
        privateKey: this.privateKey,
        domain: { chainId: info.chainId, verifyingContract: info.ticketBroker },
      });
      this.senders.set(key, sender);
    }
    return sender;
  }

  /** What the orchestrator will hold before working on this segment, wei. */
  static estimate(info: OrchestratorInfo, segment: LinkSegment, sourceDurationMs?: number): bigint {
    const durationMs = Math.max(segment.durationMs, sourceDurationMs ?? 0);
    return feeFor(estimateOutputPixels(segment.ladder, durationMs, segment.source), info.priceInfo);
  }

  /**
   * Sends a segment with enough tickets. Tries again, once for each reason: with fresh info when the orchestrator
   * refuses the parameters or the token (they expired in between, or it restarted), and with tickets for the whole
   * fee when our view of the credit was too high. A restarted orchestrator can need both: it forgot the credit, then
   * refuses the parameters the tickets were made on.
   */
  async send(segment: LinkSegment, timeoutMs: number, signal?: AbortSignal): Promise<LinkResult> {
    let info = await this.ensureInfo();
    let assumedCredit = this.credit;
    let refreshed = false;
    let creditReset = false;
    for (;;) {
      const ev = info.ticketEV;
      const required = OrchestratorLink.estimate(info, segment);
      const needed = ticketsNeeded(required, ev, assumedCredit > 0n ? assumedCredit : 0n);
      const count = needed > BigInt(MAX_TICKETS_PER_REQUEST) ? MAX_TICKETS_PER_REQUEST : Number(needed);
      const tickets = this.sender(info).createTickets(info.ticketParams, count);
      this.ticketsSent += count;
      this.evSent += ev * BigInt(count);
      try {
        const response = await this.client.segment(
          info,
          {
            streamId: segment.streamId,
            seq: segment.seq,
            body: segment.body,
            sourceHash: segment.sourceHash,
            durationMs: segment.durationMs,
            renditions: segment.ladder,
            tickets,
          },
          { timeoutMs, signal },
        );
        this.credit = BigInt(response.result.balance);
        this.fees += BigInt(response.result.fee);
        return { response, info, ticketsSent: count, ev: ev * BigInt(count) };
      } catch (error) {
        if (!(error instanceof OrchestratorError)) throw error;
        if (!refreshed && (error.status === 401 || error.code.startsWith("TICKET_"))) {
          refreshed = true;
          info = await this.ensureInfo(true);
          assumedCredit = 0n;
        } else if (!creditReset && error.status === 402 && !error.code.startsWith("TICKET_")) {
          // The tickets just sent were credited; our view of the credit was too high.
          creditReset = true;
          this.credit = 0n;
          assumedCredit = 0n;
        } else {
          throw error;
        }
      }
    }
  }
}
