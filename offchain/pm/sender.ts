/**
 * The broadcaster's side: turning an orchestrator's ticket parameters into signed tickets worth a required amount,
 * with a nonce counter per recipientRandHash (a nonce may never repeat on one set of parameters).
 */
import { addressOfPrivateKey, signDigest } from "./crypto";
import { TicketError } from "./errors";
import type { TicketParams } from "./recipient";
import {
  type SignedTicket,
  type Ticket,
  type TicketDomain,
  TicketHasher,
  expectedValue,
  fromHex,
  toHex,
} from "./ticket";

export interface SenderOptions {
  /** 32-byte private key, 0x-hex */
  privateKey: string;
  domain: TicketDomain;
}

/**
 * How many tickets of expected value `ev` cover `required` wei given `credit` already held by the recipient:
 * `ceil((max(required, ev) - credit) / ev)`, at least zero. At least one ticket goes with every paid request
 * unless the credit covers it.
 */
export function ticketsNeeded(required: bigint, ev: bigint, credit = 0n): bigint {
  if (ev <= 0n) {
    throw new TicketError("TICKET_PARAMS_INVALID", "the ticket parameters give tickets no expected value");
  }
  const owed = (required > ev ? required : ev) - credit;
  return owed <= 0n ? 0n : (owed + ev - 1n) / ev;
}

export class TicketSender {
  readonly address: string;
  private readonly privateKey: Buffer;
  private readonly hasher: TicketHasher;
  /** next nonce, and the block after which the parameters expire, per recipientRandHash */
  private readonly nonces = new Map<string, { next: bigint; expirationBlock: bigint }>();

  constructor(options: SenderOptions) {
    this.privateKey = fromHex(options.privateKey, 32, "privateKey");
    this.address = addressOfPrivateKey(this.privateKey);
    this.hasher = new TicketHasher(options.domain);
  }

  /** The expected value of one ticket made from `params`, in wei. */
  static ev(params: TicketParams): bigint {
    return expectedValue(params.faceValue, params.winProb);
  }

  /** Enough signed tickets on `params` to pay `required` wei beyond `credit` (see `ticketsNeeded`). */
  ticketsFor(params: TicketParams, required: bigint, credit = 0n): SignedTicket[] {
    return this.createTickets(params, ticketsNeeded(required, TicketSender.ev(params), credit));
  }

  /** `count` signed tickets on `params`, with consecutive fresh nonces. */
  createTickets(params: TicketParams, count: bigint | number): SignedTicket[] {
    const total = BigInt(count);
    if (total < 0n) throw new RangeError("count must not be negative");
    const key = params.recipientRandHash.toLowerCase();
    let entry = this.nonces.get(key);
    if (entry === undefined) {
      entry = { next: 0n, expirationBlock: params.expirationBlock };
      this.nonces.set(key, entry);
    }
    const tickets: SignedTicket[] = [];
    for (let i = 0n; i < total; i++) {
      const ticket: Ticket = {
        recipient: params.recipient,
        sender: this.address,
        faceValue: params.faceValue,
        winProb: params.winProb,
        senderNonce: entry.next++,
        recipientRandHash: params.recipientRandHash,
        creationRound: params.creationRound,
        creationRoundBlockHash: params.creationRoundBlockHash,
      };
      tickets.push({ ticket, sig: toHex(signDigest(this.hasher.hash(ticket), this.privateKey)) });
    }
    return tickets;
  }

  /** Drops the nonce counters of parameters expired before `currentBlock` (their tickets would be refused). */
  forgetExpired(currentBlock: bigint): number {
    let dropped = 0;
    for (const [hash, entry] of this.nonces) {
      if (entry.expirationBlock < currentBlock) {
        this.nonces.delete(hash);
        dropped++;
      }
    }
    return dropped;
  }
}
