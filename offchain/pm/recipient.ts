/**
 * The orchestrator's side: issuing ticket parameters and validating the tickets that come back. The recipient's
 * secret for a set of parameters is an HMAC of those parameters, so nothing is stored per ticket or per set of
 * parameters except the nonces seen, which are what replay protection needs.
 */
import { createHmac, randomBytes } from "node:crypto";

import { recoverSigner } from "./crypto";
import { TicketError, formatEth } from "./errors";
import {
  type SignedTicket,
  type Ticket,
  type TicketDomain,
  TicketFieldError,
  TicketHasher,
  expectedValue,
  fromHex,
  isWinningTicket,
  recipientRandHash,
  toHex,
  uint256Bytes,
} from "./ticket";

/** What `GET /info` hands a broadcaster (offchain.md), and what it echoes back with its tickets. */
export interface TicketParams {
  recipient: string;
  faceValue: bigint;
  winProb: bigint;
  recipientRandHash: string;
  /** 32 random bytes, 0x-hex: makes each set of parameters (and so each recipientRand) distinct */
  seed: string;
  /** the parameters are refused after this block */
  expirationBlock: bigint;
  creationRound: bigint;
  creationRoundBlockHash: string;
}

/** The parts of the parameters a ticket does not carry but its recipientRand is derived from. */
export interface TicketExpiration {
  seed: string;
  expirationBlock: bigint;
}

export interface RecipientOptions {
  /** This orchestrator's address: the ticket recipient */
  address: string;
  /**
   * HMAC key for recipientRand, at least 32 bytes. Parameters are valid only under the key they were issued with, and
   * the nonces seen live as long as this object: the daemon takes a new key with every start, so that no ticket
   * issued before a restart can be replayed after it.
   */
  secret: Uint8Array;
  domain: TicketDomain;
  /** `TicketBroker.ticketValidityPeriod()` */
  ticketValidityPeriod: bigint;
  /** Most tickets accepted on one set of parameters; bounds the memory replay protection uses (default 10,000). */
  maxTicketsPerParams?: number;
}

export interface SenderStanding {
  /** `maxFloat(...)` for this sender and recipient */
  maxFloat: bigint;
  /** whether `TicketBroker.isUnlockInProgress(sender)` */
  unlocking: boolean;
}

/** What validation needs from the chain, read by the caller (pure core: no I/O here). */
export interface ValidationContext {
  currentBlock: bigint;
  currentRound: bigint;
  /** `RoundsManager.blockHashForRound(round)`, undefined (or zero) for a round not initialized */
  blockHashForRound(round: bigint): string | undefined;
  senderStanding(sender: string): SenderStanding;
}

export interface ValidTicket {
  /** the EIP-712 digest, 0x-hex: the broker's `usedTickets` key */
  ticketHash: string;
  recipientRand: bigint;
  /** whether it wins, i.e. is worth redeeming */
  wins: boolean;
  /** the credit it earns the sender, in wei */
  ev: bigint;
}

const ZERO_HASH = "0x" + "00".repeat(32);

export class TicketRecipient {
  readonly address: string;
  private readonly hasher: TicketHasher;
  private readonly secret: Buffer;
  private readonly maxTicketsPerParams: number;
  /** nonces seen, per recipientRandHash, with the block after which the parameters expire */
  private readonly seen = new Map<string, { expirationBlock: bigint; nonces: Set<bigint> }>();
  private lastRand?: { key: string; rand: bigint; hash: string };

  constructor(private readonly options: RecipientOptions) {
    if (options.secret.length < 32) throw new RangeError("the recipient secret must be at least 32 bytes");
    this.address = fromHex(options.address, 20, "address").toString("hex");
    this.secret = Buffer.from(options.secret);
    this.hasher = new TicketHasher(options.domain);
    this.maxTicketsPerParams = options.maxTicketsPerParams ?? 10_000;
  }

  /**
   * Ticket parameters for `sender`. `faceValue` and `winProb` come from `faceValueFor` and `winProbFor`; the
   * creation round is the current initialized round and its block hash.
   */
  ticketParams(input: {
    sender: string;
    faceValue: bigint;
    winProb: bigint;
    expirationBlock: bigint;
    creationRound: bigint;
    creationRoundBlockHash: string;
    /** 32 bytes, 0x-hex; random by default */
    seed?: string;
  }): TicketParams {
    const seed = input.seed ?? toHex(randomBytes(32));
    const recipientRand = this.recipientRand(
      seed,
      input.sender,
      input.faceValue,
      input.winProb,
      input.expirationBlock,
      input.creationRound,
    );
    return {
      recipient: "0x" + this.address,
      faceValue: input.faceValue,
      winProb: input.winProb,
      recipientRandHash: recipientRandHash(recipientRand),
      seed,
      expirationBlock: input.expirationBlock,
      creationRound: input.creationRound,
      creationRoundBlockHash: input.creationRoundBlockHash,
    };
  }

  /** `HMAC-SHA256(secret, seed || sender || faceValue || winProb || expirationBlock || creationRound)` as a uint256. */
  recipientRand(
    seed: string,
    sender: string,
    faceValue: bigint,
    winProb: bigint,
    expirationBlock: bigint,
    creationRound: bigint,
  ): bigint {
    // The tickets of one payment share their parameters: the last result is reused for the rest of them.
    const key = `${seed}|${sender}|${faceValue}|${winProb}|${expirationBlock}|${creationRound}`.toLowerCase();
    if (this.lastRand?.key === key) return this.lastRand.rand;
    const rand = this.computeRecipientRand(seed, sender, faceValue, winProb, expirationBlock, creationRound);
    this.lastRand = { key, rand, hash: recipientRandHash(rand) };
    return rand;
  }

  /** `recipientRandHash(recipientRand(...))`, from the same one-entry cache. */
  private recipientRandHashOf(rand: bigint): string {
    return this.lastRand?.rand === rand ? this.lastRand.hash : recipientRandHash(rand);
  }

  private computeRecipientRand(
    seed: string,
    sender: string,
    faceValue: bigint,
    winProb: bigint,
    expirationBlock: bigint,
    creationRound: bigint,
  ): bigint {
    const mac = createHmac("sha256", this.secret)
      .update(fromHex(seed, 32, "seed"))
      .update(fromHex(sender, 20, "sender"))
      .update(uint256Bytes(faceValue, "faceValue"))
      .update(uint256Bytes(winProb, "winProb"))
      .update(uint256Bytes(expirationBlock, "expirationBlock"))
      .update(uint256Bytes(creationRound, "creationRound"))
      .digest();
    return BigInt("0x" + mac.toString("hex"));
  }

  /**
   * Checks a ticket as the broker would and more (parameters, replays, the sender's funds), and records its nonce.
   * Throws a TicketError with a distinct code for each reason; a refused ticket's nonce stays unused.
   */
  validate(signed: SignedTicket, expiration: TicketExpiration, context: ValidationContext): ValidTicket {
    const { ticket } = signed;
    let sig: Buffer;
    let sender: string;
    let ticketHash: Buffer;
    let recipientRand: bigint;
    try {
      // Hashing first checks every field's type and range, so nothing below sees a malformed value.
      ticketHash = this.hasher.hash(ticket);
      sig = fromHex(signed.sig, 65, "sig");
      sender = "0x" + fromHex(ticket.sender, 20, "sender").toString("hex");
      if (typeof expiration.expirationBlock !== "bigint") {
        throw new TicketFieldError("expirationBlock", "expected a bigint");
      }
      if (fromHex(ticket.recipient, 20, "recipient").toString("hex") !== this.address) {
        throw new TicketError(
          "TICKET_WRONG_RECIPIENT",
          `ticket pays ${ticket.recipient}, not this orchestrator (0x${this.address}): the broadcaster is using ` +
            "another orchestrator's ticket parameters and must fetch this one's from GET /info",
        );
      }
      this.checkRounds(ticket, expiration, context);
      recipientRand = this.recipientRand(
        expiration.seed,
        ticket.sender,
        ticket.faceValue,
        ticket.winProb,
        expiration.expirationBlock,
        ticket.creationRound,
      );
      if (this.recipientRandHashOf(recipientRand) !== ticket.recipientRandHash.toLowerCase()) {
        throw new TicketError(
          "TICKET_BAD_RAND_HASH",
          "the ticket does not match parameters this orchestrator issued (face value, win probability, seed, " +
            "expiration or round altered, or issued before this orchestrator restarted): " +
            "the broadcaster must fetch fresh parameters from GET /info",
        );
      }
    } catch (error) {
      if (error instanceof TicketFieldError) throw new TicketError("TICKET_MALFORMED", error.message, { cause: error });
      throw error;
    }

    // Replays are refused before the signature is checked: a flood of them costs no signature recovery.
    const seen = this.seen.get(ticket.recipientRandHash.toLowerCase());
    if (seen?.nonces.has(ticket.senderNonce)) {
      throw new TicketError(
        "TICKET_NONCE_REPLAYED",
        `nonce ${ticket.senderNonce} was already used with these parameters: a replayed ticket earns no credit; ` +
          "a broadcaster that restarted must fetch fresh parameters",
      );
    }
    if (seen !== undefined && seen.nonces.size >= this.maxTicketsPerParams) {
      throw new TicketError(
        "TICKET_NONCE_LIMIT",
        `${this.maxTicketsPerParams} tickets were already sent on these parameters: the broadcaster must fetch ` +
          "fresh ones from GET /info",
      );
    }
    const signer = recoverSigner(ticketHash, sig);
    if (signer === undefined || signer !== sender) {
      throw new TicketError(
        "TICKET_BAD_SIGNATURE",
        signer === undefined
          ? "the ticket signature is malformed (it must be 65 bytes r || s || v, low s, v 27 or 28)"
          : `the ticket is signed by ${signer}, not by its sender ${ticket.sender}: the broadcaster's key and ` +
              "address do not match",
      );
    }

    const standing = context.senderStanding(ticket.sender);
    if (standing.unlocking) {
      throw new TicketError(
        "SENDER_UNLOCKING",
        `sender ${ticket.sender} is unlocking its deposit and reserve to withdraw them: its tickets may soon pay ` +
          "nothing; the broadcaster must cancel the unlock (`npx hardhat cancel-unlock`, or fund again) to be served",
      );
    }
    if (ticket.faceValue > standing.maxFloat) {
      throw new TicketError(
        "SENDER_INSUFFICIENT_FUNDS",
        `sender ${ticket.sender} can back only ${formatEth(standing.maxFloat)} to this orchestrator (deposit plus ` +
          `reserve allowance, less tickets pending redemption), less than the ticket's face value of ` +
          `${formatEth(ticket.faceValue)}: the broadcaster must add to its deposit or reserve (\`npx hardhat fund\`), or fetch ` +
          "parameters with a lower face value",
      );
    }

    this.remember(ticket.recipientRandHash.toLowerCase(), expiration.expirationBlock, ticket.senderNonce);
    return {
      ticketHash: toHex(ticketHash),
      recipientRand,
      wins: isWinningTicket(sig, recipientRand, ticket.winProb),
      ev: expectedValue(ticket.faceValue, ticket.winProb),
    };
  }

  /** Drops the nonces of parameters expired before `currentBlock`: their tickets are refused anyway. */
  forgetExpired(currentBlock: bigint): number {
    let dropped = 0;
    for (const [hash, entry] of this.seen) {
      if (entry.expirationBlock < currentBlock) {
        this.seen.delete(hash);
        dropped++;
      }
    }
    return dropped;
  }

  /** How many sets of parameters have nonces remembered (for metrics). */
  get trackedParams(): number {
    return this.seen.size;
  }

  private checkRounds(ticket: Ticket, expiration: TicketExpiration, context: ValidationContext): void {
    if (expiration.expirationBlock < context.currentBlock) {
      throw new TicketError(
        "TICKET_PARAMS_EXPIRED",
        `the ticket parameters expired at block ${expiration.expirationBlock} (now ${context.currentBlock}): ` +
          "the broadcaster must fetch fresh ones from GET /info",
      );
    }
    const expiryRound = ticket.creationRound + this.options.ticketValidityPeriod;
    if (expiryRound <= context.currentRound) {
      throw new TicketError(
        "TICKET_ROUND_EXPIRED",
        `the ticket was created in round ${ticket.creationRound} and the broker accepts it only until round ` +
          `${expiryRound - 1n} (now ${context.currentRound}): the broadcaster must fetch fresh parameters`,
      );
    }
    const blockHash =
      ticket.creationRound <= context.currentRound ? context.blockHashForRound(ticket.creationRound) : undefined;
    if (
      blockHash === undefined ||
      blockHash.toLowerCase() === ZERO_HASH ||
      blockHash.toLowerCase() !== ticket.creationRoundBlockHash.toLowerCase()
    ) {
      throw new TicketError(
        "TICKET_BAD_CREATION_ROUND",
        `round ${ticket.creationRound} has ${blockHash === undefined || blockHash.toLowerCase() === ZERO_HASH ? "no block hash on chain (not initialized)" : `block hash ${blockHash}`}, ` +
          `not the ticket's ${ticket.creationRoundBlockHash}: the broker would refuse it; the broadcaster must ` +
          "fetch fresh parameters",
      );
    }
  }

  private remember(randHash: string, expirationBlock: bigint, nonce: bigint): void {
    let entry = this.seen.get(randHash);
    if (entry === undefined) {
      entry = { expirationBlock, nonces: new Set() };
      this.seen.set(randHash, entry);
    }
    entry.nonces.add(nonce);
  }
}
