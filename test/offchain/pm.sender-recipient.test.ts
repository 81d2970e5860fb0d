/**
 * The two ends of a payment: TicketSender (nonces, signing, how many tickets) and TicketRecipient (parameters with
 * an HMAC recipientRand, and validation with one error code per reason to refuse a ticket).
 */
import { expect } from "chai";
import { TypedDataEncoder, Wallet, keccak256, toBeHex } from "ethers";
import secp256k1 from "secp256k1";

import {
  MAX_WIN_PROB,
  type SenderStanding,
  type SignedTicket,
  TICKET_TYPES,
  type Ticket,
  TicketError,
  type TicketErrorCode,
  TicketFieldError,
  TicketHasher,
  type TicketParams,
  TicketRecipient,
  TicketSender,
  type ValidationContext,
  eip712Domain,
  expectedValue,
  isWinningTicket,
  recipientRandHash,
  recoverSigner,
  ticketsNeeded,
  winProbForEV,
} from "../../offchain/pm";

const ETH = 10n ** 18n;
const DOMAIN = { chainId: 31337n, verifyingContract: "0x5FbDB2315678afecb367f032d93F642f64180aa3" };
// Hardhat's well-known development keys: never hold value.
const SENDER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const OTHER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const ORCHESTRATOR = new Wallet("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdf639a4").address;
const OTHER_ORCHESTRATOR = new Wallet("0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6").address;
const SECRET = Buffer.alloc(32, 0x42);
const VALIDITY = 2n;

const blockHash = (round: bigint) => keccak256(toBeHex(round + 1000n, 32));
const SEED = "0x" + "5e".repeat(32);
const EXPIRATION = 1_000n;
const ROUND = 10n;
const FACE_VALUE = ETH / 10n;
const EV = 10n ** 12n;
/** What a ticket on the default parameters is worth: winProbForEV rounds down, so EV - 1 wei here. */
const TICKET_EV = expectedValue(FACE_VALUE, winProbForEV(EV, FACE_VALUE));

const hex = (bytes: Uint8Array) => "0x" + Buffer.from(bytes).toString("hex");

function recipientWith(overrides: { secret?: Uint8Array; address?: string; maxTicketsPerParams?: number } = {}) {
  return new TicketRecipient({
    address: overrides.address ?? ORCHESTRATOR,
    secret: overrides.secret ?? SECRET,
    domain: DOMAIN,
    ticketValidityPeriod: VALIDITY,
    maxTicketsPerParams: overrides.maxTicketsPerParams,
  });
}

function senderWith(privateKey = SENDER_KEY) {
  return new TicketSender({ privateKey, domain: DOMAIN });
}

/** Parameters `recipient` issues to `sender` (fixed seed unless given). */
function paramsFrom(recipient: TicketRecipient, sender: string, overrides: Partial<TicketParams> = {}): TicketParams {
  return recipient.ticketParams({
    sender,
    faceValue: overrides.faceValue ?? FACE_VALUE,
    winProb: overrides.winProb ?? winProbForEV(EV, overrides.faceValue ?? FACE_VALUE),
    expirationBlock: overrides.expirationBlock ?? EXPIRATION,
    creationRound: overrides.creationRound ?? ROUND,
    creationRoundBlockHash: overrides.creationRoundBlockHash ?? blockHash(overrides.creationRound ?? ROUND),
    seed: overrides.seed ?? SEED,
  });
}

/** A chain where rounds 1..currentRound are initialized with `blockHash(round)`. */
function contextWith(
  overrides: Partial<Omit<ValidationContext, "senderStanding">> & { standing?: Partial<SenderStanding> } = {},
): ValidationContext {
  const currentRound = overrides.currentRound ?? ROUND;
  return {
    currentBlock: overrides.currentBlock ?? 900n,
    currentRound,
    blockHashForRound:
      overrides.blockHashForRound ?? ((round) => (round >= 1n && round <= currentRound ? blockHash(round) : undefined)),
    senderStanding: () => ({ maxFloat: 10n * ETH, unlocking: false, ...overrides.standing }),
  };
}

const expirationOf = (params: TicketParams) => ({ seed: params.seed, expirationBlock: params.expirationBlock });

/** Signs `ticket` with `privateKey` as a sender would, whatever its fields. */
function signedBy(ticket: Ticket, privateKey = SENDER_KEY): SignedTicket {
  const wallet = new Wallet(privateKey);
  const digest = TypedDataEncoder.hash(eip712Domain(DOMAIN), TICKET_TYPES, ticket);
  return { ticket, sig: wallet.signingKey.sign(digest).serialized };
}

/** The TicketError `fn` throws; fails the test if it returns or throws anything else. */
function ticketErrorOf(fn: () => unknown): TicketError {
  try {
    fn();
  } catch (error) {
    expect(error).to.be.instanceOf(TicketError);
    return error as TicketError;
  }
  throw new Error("expected a TicketError");
}

/** Asserts the code, and a message that says what the operator or broadcaster must do. */
function expectRefusal(fn: () => unknown, code: TicketErrorCode, advice: RegExp): TicketError {
  const error = ticketErrorOf(fn);
  expect(error.code).to.equal(code);
  expect(error.message.length).to.be.greaterThan(20);
  expect(error.message).to.match(advice);
  return error;
}

describe("TicketSender", () => {
  it("has the address ethers derives from its key", () => {
    for (const key of [SENDER_KEY, OTHER_KEY, "0x" + "00".repeat(31) + "01"]) {
      expect(senderWith(key).address).to.equal(new Wallet(key).address.toLowerCase());
    }
  });

  it("refuses a private key that is not 32 bytes", () => {
    expect(() => senderWith("0x" + "11".repeat(31))).to.throw(TicketFieldError, /privateKey/);
  });

  it("fills tickets from the parameters, with itself as the sender", () => {
    const sender = senderWith();
    const params = paramsFrom(recipientWith(), sender.address);
    const [{ ticket }] = sender.createTickets(params, 1);
    expect(ticket).to.deep.equal({
      recipient: params.recipient,
      sender: sender.address,
      faceValue: params.faceValue,
      winProb: params.winProb,
      senderNonce: 0n,
      recipientRandHash: params.recipientRandHash,
      creationRound: params.creationRound,
      creationRoundBlockHash: params.creationRoundBlockHash,
    });
  });

  it("signs exactly as ethers' signTypedData signs the same ticket", async () => {
    const sender = senderWith();
    const [{ ticket, sig }] = sender.createTickets(paramsFrom(recipientWith(), sender.address), 1);
    expect(sig).to.equal(await new Wallet(SENDER_KEY).signTypedData(eip712Domain(DOMAIN), TICKET_TYPES, ticket));
  });

  it("numbers tickets on one set of parameters consecutively, across calls", () => {
    const sender = senderWith();
    const params = paramsFrom(recipientWith(), sender.address);
    const nonces = [...sender.createTickets(params, 3), ...sender.createTickets(params, 2)].map(
      (t) => t.ticket.senderNonce,
    );
    expect(nonces).to.deep.equal([0n, 1n, 2n, 3n, 4n]);
  });

  it("keeps an independent nonce counter per set of parameters", () => {
    const sender = senderWith();
    const recipient = recipientWith();
    const first = paramsFrom(recipient, sender.address);
    const second = paramsFrom(recipient, sender.address, { seed: "0x" + "77".repeat(32) });
    expect(second.recipientRandHash).to.not.equal(first.recipientRandHash);
    sender.createTickets(first, 3);
    expect(sender.createTickets(second, 2).map((t) => t.ticket.senderNonce)).to.deep.equal([0n, 1n]);
    expect(sender.createTickets(first, 1)[0].ticket.senderNonce).to.equal(3n);
  });

  it("shares one counter between spellings of the same recipientRandHash", () => {
    const sender = senderWith();
    const params = paramsFrom(recipientWith(), sender.address);
    sender.createTickets(params, 2);
    const upper = { ...params, recipientRandHash: "0x" + params.recipientRandHash.slice(2).toUpperCase() };
    expect(sender.createTickets(upper, 1)[0].ticket.senderNonce).to.equal(2n);
  });

  it("creates no ticket for a count of zero, and uses no nonce", () => {
    const sender = senderWith();
    const params = paramsFrom(recipientWith(), sender.address);
    expect(sender.createTickets(params, 0)).to.deep.equal([]);
    expect(sender.createTickets(params, 1)[0].ticket.senderNonce).to.equal(0n);
  });

  it("refuses a negative count", () => {
    const sender = senderWith();
    expect(() => sender.createTickets(paramsFrom(recipientWith(), sender.address), -1)).to.throw(RangeError);
  });

  it("makes ticketsNeeded(required, ev, credit) tickets in ticketsFor", () => {
    const sender = senderWith();
    const params = paramsFrom(recipientWith(), sender.address);
    const ev = TicketSender.ev(params);
    expect(ev).to.equal(expectedValue(params.faceValue, params.winProb));
    const required = (5n * ev) / 2n; // two and a half tickets' worth
    const tickets = sender.ticketsFor(params, required, ev / 4n);
    expect(BigInt(tickets.length)).to.equal(ticketsNeeded(required, ev, ev / 4n));
    expect(tickets.length).to.equal(3);
  });

  it("makes no ticket in ticketsFor when the credit covers the requirement, and uses no nonce", () => {
    const sender = senderWith();
    const params = paramsFrom(recipientWith(), sender.address);
    const ev = TicketSender.ev(params);
    expect(sender.ticketsFor(params, 3n * ev, 3n * ev)).to.deep.equal([]);
    expect(sender.ticketsFor(params, ev)[0].ticket.senderNonce).to.equal(0n);
  });

  it("refuses in ticketsFor when the parameters give tickets no expected value", () => {
    const sender = senderWith();
    const params = paramsFrom(recipientWith(), sender.address, { winProb: 0n });
    expect(ticketErrorOf(() => sender.ticketsFor(params, 1n)).code).to.equal("TICKET_PARAMS_INVALID");
  });

  it("forgets the counters of parameters expired before the current block, and only those", () => {
    const sender = senderWith();
    const recipient = recipientWith();
    const early = paramsFrom(recipient, sender.address, { expirationBlock: 100n });
    const late = paramsFrom(recipient, sender.address, { expirationBlock: 200n });
    sender.createTickets(early, 2);
    sender.createTickets(late, 2);
    expect(sender.forgetExpired(100n)).to.equal(0); // still valid at its expiration block
    expect(sender.forgetExpired(101n)).to.equal(1);
    expect(sender.createTickets(late, 1)[0].ticket.senderNonce).to.equal(2n);
    expect(sender.createTickets(early, 1)[0].ticket.senderNonce).to.equal(0n); // the counter was dropped
  });
});

describe("TicketRecipient", () => {
  it("refuses a secret shorter than 32 bytes", () => {
    expect(() => recipientWith({ secret: Buffer.alloc(31, 1) })).to.throw(RangeError, /32 bytes/);
  });

  it("accepts a secret of exactly 32 bytes", () => {
    expect(recipientWith({ secret: Buffer.alloc(32, 1) }).address).to.equal(ORCHESTRATOR.slice(2).toLowerCase());
  });

  it("refuses an address that is not 20 bytes", () => {
    expect(() => recipientWith({ address: "0x1234" })).to.throw(TicketFieldError);
  });

  describe("recipientRand", () => {
    const args = [SEED, new Wallet(SENDER_KEY).address, FACE_VALUE, 5n, EXPIRATION, ROUND] as const;

    it("is the same for the same inputs and secret, in another instance", () => {
      expect(recipientWith().recipientRand(...args)).to.equal(recipientWith().recipientRand(...args));
    });

    it("differs under a different secret", () => {
      expect(recipientWith({ secret: Buffer.alloc(32, 0x43) }).recipientRand(...args)).to.not.equal(
        recipientWith().recipientRand(...args),
      );
    });

    it("depends on each of seed, sender, faceValue, winProb, expirationBlock and creationRound", () => {
      const recipient = recipientWith();
      const rands = new Set([
        recipient.recipientRand(...args),
        recipient.recipientRand("0x" + "5f".repeat(32), args[1], args[2], args[3], args[4], args[5]),
        recipient.recipientRand(args[0], new Wallet(OTHER_KEY).address, args[2], args[3], args[4], args[5]),
        recipient.recipientRand(args[0], args[1], args[2] + 1n, args[3], args[4], args[5]),
        recipient.recipientRand(args[0], args[1], args[2], args[3] + 1n, args[4], args[5]),
        recipient.recipientRand(args[0], args[1], args[2], args[3], args[4] + 1n, args[5]),
        recipient.recipientRand(args[0], args[1], args[2], args[3], args[4], args[5] + 1n),
      ]);
      expect(rands.size).to.equal(7);
    });

    it("ignores the letter case of the sender address", () => {
      const recipient = recipientWith();
      expect(recipient.recipientRand(args[0], args[1].toLowerCase(), args[2], args[3], args[4], args[5])).to.equal(
        recipient.recipientRand(...args),
      );
    });
  });

  describe("ticketParams", () => {
    it("commits to the recipientRand it will recompute", () => {
      const recipient = recipientWith();
      const sender = senderWith().address;
      const params = paramsFrom(recipient, sender);
      const rand = recipient.recipientRand(
        params.seed,
        sender,
        params.faceValue,
        params.winProb,
        params.expirationBlock,
        params.creationRound,
      );
      expect(params.recipientRandHash).to.equal(recipientRandHash(rand));
      expect(params.recipient).to.equal(ORCHESTRATOR.toLowerCase());
      expect(params.seed).to.equal(SEED);
    });

    it("draws a fresh 32-byte seed, and so a fresh commitment, when none is given", () => {
      const recipient = recipientWith();
      const input = {
        sender: senderWith().address,
        faceValue: FACE_VALUE,
        winProb: 5n,
        expirationBlock: EXPIRATION,
        creationRound: ROUND,
        creationRoundBlockHash: blockHash(ROUND),
      };
      const a = recipient.ticketParams(input);
      const b = recipient.ticketParams(input);
      expect(a.seed).to.match(/^0x[0-9a-f]{64}$/);
      expect(a.seed).to.not.equal(b.seed);
      expect(a.recipientRandHash).to.not.equal(b.recipientRandHash);
    });
  });

  describe("validate", () => {
    function setup(options: { maxTicketsPerParams?: number; params?: Partial<TicketParams> } = {}) {
      const recipient = recipientWith({ maxTicketsPerParams: options.maxTicketsPerParams });
      const sender = senderWith();
      const params = paramsFrom(recipient, sender.address, options.params);
      return { recipient, sender, params, expiration: expirationOf(params) };
    }

    it("accepts a valid ticket and reports its hash, recipientRand, win and expected value", () => {
      const { recipient, sender, params, expiration } = setup();
      const [signed] = sender.createTickets(params, 1);
      const valid = recipient.validate(signed, expiration, contextWith());
      const rand = recipient.recipientRand(
        params.seed,
        sender.address,
        params.faceValue,
        params.winProb,
        params.expirationBlock,
        params.creationRound,
      );
      expect(valid.ticketHash).to.equal(TypedDataEncoder.hash(eip712Domain(DOMAIN), TICKET_TYPES, signed.ticket));
      expect(valid.ticketHash).to.equal(hex(new TicketHasher(DOMAIN).hash(signed.ticket)));
      expect(valid.recipientRand).to.equal(rand);
      expect(keccak256(toBeHex(valid.recipientRand, 32))).to.equal(params.recipientRandHash);
      expect(valid.ev).to.equal(expectedValue(params.faceValue, params.winProb));
      expect(valid.ev).to.equal(EV - 1n); // winProbForEV rounded down
      expect(valid.wins).to.equal(isWinningTicket(Buffer.from(signed.sig.slice(2), "hex"), rand, params.winProb));
    });

    it("reports a certain ticket as winning, worth its face value", () => {
      const { recipient, sender, params, expiration } = setup({ params: { winProb: MAX_WIN_PROB } });
      const valid = recipient.validate(sender.createTickets(params, 1)[0], expiration, contextWith());
      expect(valid.wins).to.equal(true);
      expect(valid.ev).to.equal(FACE_VALUE);
    });

    it("reports a ticket with winProb 0 as losing, worth nothing", () => {
      const { recipient, sender, params, expiration } = setup({ params: { winProb: 0n } });
      const valid = recipient.validate(sender.createTickets(params, 1)[0], expiration, contextWith());
      expect(valid.wins).to.equal(false);
      expect(valid.ev).to.equal(0n);
    });

    it("accepts addresses and hashes in any letter case", () => {
      const { recipient, params, expiration } = setup();
      const sender = new Wallet(SENDER_KEY).address;
      const ticket: Ticket = {
        recipient: "0x" + params.recipient.slice(2).toUpperCase(),
        sender, // checksummed
        faceValue: params.faceValue,
        winProb: params.winProb,
        senderNonce: 0n,
        recipientRandHash: "0x" + params.recipientRandHash.slice(2).toUpperCase(),
        creationRound: params.creationRound,
        creationRoundBlockHash: params.creationRoundBlockHash.toUpperCase().replace("0X", "0x"),
      };
      const ethersTicket = { ...ticket, recipient: params.recipient };
      const { sig } = signedBy(ethersTicket);
      expect(recipient.validate({ ticket, sig }, expiration, contextWith()).ev).to.equal(TICKET_EV);
    });

    it("accepts the ticket in the last block of its parameters", () => {
      const { recipient, sender, params, expiration } = setup();
      const context = contextWith({ currentBlock: params.expirationBlock });
      expect(recipient.validate(sender.createTickets(params, 1)[0], expiration, context).ev).to.equal(TICKET_EV);
    });

    it("accepts the ticket in the last round the broker accepts it", () => {
      const { recipient, sender, params, expiration } = setup();
      const context = contextWith({ currentRound: ROUND + VALIDITY - 1n });
      expect(recipient.validate(sender.createTickets(params, 1)[0], expiration, context).ev).to.equal(TICKET_EV);
    });

    it("accepts a ticket whose face value equals the sender's max float", () => {
      const { recipient, sender, params, expiration } = setup();
      const context = contextWith({ standing: { maxFloat: FACE_VALUE } });
      expect(recipient.validate(sender.createTickets(params, 1)[0], expiration, context).ev).to.equal(TICKET_EV);
    });

    describe("refusals", () => {
      it("refuses a signature that is not 65 bytes of hex as TICKET_MALFORMED, naming the field", () => {
        const { recipient, sender, params, expiration } = setup();
        const [signed] = sender.createTickets(params, 1);
        const error = expectRefusal(
          () => recipient.validate({ ...signed, sig: signed.sig.slice(0, 130) }, expiration, contextWith()),
          "TICKET_MALFORMED",
          /sig: expected 0x followed by 130 hex digits/,
        );
        expect(error.cause).to.be.instanceOf(TicketFieldError);
      });

      it("refuses a sender that is not an address as TICKET_MALFORMED", () => {
        const { recipient, sender, params, expiration } = setup();
        const [signed] = sender.createTickets(params, 1);
        const ticket = { ...signed.ticket, sender: "0xsender" };
        expectRefusal(
          () => recipient.validate({ ...signed, ticket }, expiration, contextWith()),
          "TICKET_MALFORMED",
          /sender: expected 0x followed by 40 hex digits/,
        );
      });

      it("refuses a face value beyond uint256 as TICKET_MALFORMED", () => {
        const { recipient, sender, params, expiration } = setup();
        const [signed] = sender.createTickets(params, 1);
        const ticket = { ...signed.ticket, faceValue: 1n << 256n };
        expectRefusal(
          () => recipient.validate({ ...signed, ticket }, expiration, contextWith()),
          "TICKET_MALFORMED",
          /faceValue/,
        );
      });

      it("refuses a nonce beyond uint256 as TICKET_MALFORMED", () => {
        const { recipient, sender, params, expiration } = setup();
        const [signed] = sender.createTickets(params, 1);
        const ticket = { ...signed.ticket, senderNonce: -1n };
        expectRefusal(
          () => recipient.validate({ ...signed, ticket }, expiration, contextWith()),
          "TICKET_MALFORMED",
          /senderNonce/,
        );
      });

      it("refuses a recipientRandHash that is not 32 bytes as TICKET_MALFORMED", () => {
        const { recipient, sender, params, expiration } = setup();
        const [signed] = sender.createTickets(params, 1);
        const ticket = { ...signed.ticket, recipientRandHash: "0x1234" };
        expectRefusal(
          () => recipient.validate({ ...signed, ticket }, expiration, contextWith()),
          "TICKET_MALFORMED",
          /recipientRandHash/,
        );
      });

      it("refuses a ticket missing its recipientRandHash as TICKET_MALFORMED, not with a TypeError", () => {
        const { recipient, sender, params, expiration } = setup();
        const [signed] = sender.createTickets(params, 1);
        const ticket = { ...signed.ticket, recipientRandHash: undefined as unknown as string };
        expectRefusal(
          () => recipient.validate({ ...signed, ticket }, expiration, contextWith()),
          "TICKET_MALFORMED",
          /recipientRandHash/,
        );
      });

      it("refuses a negative creation round as TICKET_MALFORMED without asking the chain for its hash", () => {
        const { recipient, sender, params, expiration } = setup();
        const [signed] = sender.createTickets(params, 1);
        const ticket = { ...signed.ticket, creationRound: -1n };
        const asked: bigint[] = [];
        const context = contextWith({ currentRound: 0n, blockHashForRound: (round) => (asked.push(round), undefined) });
        expectRefusal(
          () => recipient.validate({ ...signed, ticket }, expiration, context),
          "TICKET_MALFORMED",
          /creationRound/,
        );
        expect(asked).to.deep.equal([]);
      });

      it("refuses a creationRoundBlockHash that is not 32 bytes as TICKET_MALFORMED", () => {
        const { recipient, sender, params, expiration } = setup();
        const [signed] = sender.createTickets(params, 1);
        const ticket = { ...signed.ticket, creationRoundBlockHash: "0x1234" };
        expectRefusal(
          () => recipient.validate({ ...signed, ticket }, expiration, contextWith()),
          "TICKET_MALFORMED",
          /creationRoundBlockHash/,
        );
      });

      it("refuses a ticket for another orchestrator as TICKET_WRONG_RECIPIENT", () => {
        const { recipient, sender, expiration } = setup();
        const foreign = paramsFrom(recipientWith({ address: OTHER_ORCHESTRATOR }), sender.address);
        const [signed] = sender.createTickets(foreign, 1);
        expectRefusal(
          () => recipient.validate(signed, expiration, contextWith()),
          "TICKET_WRONG_RECIPIENT",
          /must fetch this one's from GET \/info/,
        );
      });

      it("refuses a ticket signed by another key as TICKET_BAD_SIGNATURE, naming both addresses", () => {
        const { recipient, sender, params, expiration } = setup();
        const [signed] = sender.createTickets(params, 1);
        const forged = signedBy(signed.ticket, OTHER_KEY);
        const error = expectRefusal(
          () => recipient.validate(forged, expiration, contextWith()),
          "TICKET_BAD_SIGNATURE",
          /key and address do not match/,
        );
        expect(error.message).to.contain(new Wallet(OTHER_KEY).address.toLowerCase());
        expect(error.message).to.contain(sender.address);
      });

      it("refuses the high-s twin of a valid signature as TICKET_BAD_SIGNATURE", () => {
        const { recipient, sender, params, expiration } = setup();
        const [signed] = sender.createTickets(params, 1);
        const sig = Buffer.from(signed.sig.slice(2), "hex");
        const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
        Buffer.from(toBeHex(n - BigInt(hex(sig.subarray(32, 64))), 32).slice(2), "hex").copy(sig, 32);
        sig[64] = sig[64] === 27 ? 28 : 27;
        expectRefusal(
          () => recipient.validate({ ...signed, sig: hex(sig) }, expiration, contextWith()),
          "TICKET_BAD_SIGNATURE",
          /must be 65 bytes r \|\| s \|\| v, low s, v 27 or 28/,
        );
      });

      it("refuses a signature with v = 29 as TICKET_BAD_SIGNATURE", () => {
        const { recipient, sender, params, expiration } = setup();
        const [signed] = sender.createTickets(params, 1);
        const sig = signed.sig.slice(0, 130) + "1d";
        expectRefusal(
          () => recipient.validate({ ...signed, sig }, expiration, contextWith()),
          "TICKET_BAD_SIGNATURE",
          /low s, v 27 or 28/,
        );
      });

      for (const [field, alter] of [
        ["faceValue", (t: Ticket) => ({ ...t, faceValue: t.faceValue * 2n })],
        ["winProb", (t: Ticket) => ({ ...t, winProb: t.winProb * 2n })],
        [
          "creationRound",
          (t: Ticket) => ({ ...t, creationRound: ROUND - 1n, creationRoundBlockHash: blockHash(ROUND - 1n) }),
        ],
        ["recipientRandHash", (t: Ticket) => ({ ...t, recipientRandHash: "0x" + "aa".repeat(32) })],
      ] as const) {
        it(`refuses a ticket whose ${field} was altered and re-signed as TICKET_BAD_RAND_HASH`, () => {
          const { recipient, sender, params, expiration } = setup();
          const [signed] = sender.createTickets(params, 1);
          const altered = signedBy(alter(signed.ticket));
          expectRefusal(
            () => recipient.validate(altered, expiration, contextWith()),
            "TICKET_BAD_RAND_HASH",
            /must fetch fresh parameters from GET \/info/,
          );
        });
      }

      it("refuses a ticket presented with another seed as TICKET_BAD_RAND_HASH", () => {
        const { recipient, sender, params, expiration } = setup();
        const [signed] = sender.createTickets(params, 1);
        const error = ticketErrorOf(() =>
          recipient.validate(signed, { ...expiration, seed: "0x" + "00".repeat(32) }, contextWith()),
        );
        expect(error.code).to.equal("TICKET_BAD_RAND_HASH");
      });

      it("refuses a ticket presented with another expirationBlock as TICKET_BAD_RAND_HASH", () => {
        const { recipient, sender, params, expiration } = setup();
        const [signed] = sender.createTickets(params, 1);
        const error = ticketErrorOf(() =>
          recipient.validate(signed, { ...expiration, expirationBlock: EXPIRATION + 1_000n }, contextWith()),
        );
        expect(error.code).to.equal("TICKET_BAD_RAND_HASH");
      });

      it("refuses a ticket on parameters issued under another secret as TICKET_BAD_RAND_HASH", () => {
        const { sender, params, expiration } = setup();
        const restarted = recipientWith({ secret: Buffer.alloc(32, 0x99) });
        const error = ticketErrorOf(() =>
          restarted.validate(sender.createTickets(params, 1)[0], expiration, contextWith()),
        );
        expect(error.code).to.equal("TICKET_BAD_RAND_HASH");
      });

      it("refuses a ticket after its parameters expired as TICKET_PARAMS_EXPIRED", () => {
        const { recipient, sender, params, expiration } = setup();
        const context = contextWith({ currentBlock: params.expirationBlock + 1n });
        const error = expectRefusal(
          () => recipient.validate(sender.createTickets(params, 1)[0], expiration, context),
          "TICKET_PARAMS_EXPIRED",
          /must fetch fresh ones from GET \/info/,
        );
        expect(error.message).to.contain(`block ${params.expirationBlock}`);
      });

      it("refuses a ticket whose creation round has no block hash as TICKET_BAD_CREATION_ROUND", () => {
        const { recipient, sender, params, expiration } = setup();
        const context = contextWith({ blockHashForRound: () => undefined });
        const error = expectRefusal(
          () => recipient.validate(sender.createTickets(params, 1)[0], expiration, context),
          "TICKET_BAD_CREATION_ROUND",
          /must fetch fresh parameters/,
        );
        expect(error.message).to.contain("not initialized");
      });

      it("refuses a ticket whose creation round reads as the zero hash as TICKET_BAD_CREATION_ROUND", () => {
        const { recipient, sender, params, expiration } = setup();
        const context = contextWith({ blockHashForRound: () => "0x" + "00".repeat(32) });
        const error = ticketErrorOf(() => recipient.validate(sender.createTickets(params, 1)[0], expiration, context));
        expect(error.code).to.equal("TICKET_BAD_CREATION_ROUND");
      });

      it("refuses a ticket whose creationRoundBlockHash is not the round's as TICKET_BAD_CREATION_ROUND", () => {
        const { recipient, sender } = setup();
        const params = paramsFrom(recipient, sender.address, { creationRoundBlockHash: blockHash(ROUND - 1n) });
        const error = ticketErrorOf(() =>
          recipient.validate(sender.createTickets(params, 1)[0], expirationOf(params), contextWith()),
        );
        expect(error.code).to.equal("TICKET_BAD_CREATION_ROUND");
        expect(error.message).to.contain(blockHash(ROUND));
      });

      it("refuses a ticket created in a future round as TICKET_BAD_CREATION_ROUND", () => {
        const { recipient, sender } = setup();
        const params = paramsFrom(recipient, sender.address, {
          creationRound: ROUND + 1n,
          creationRoundBlockHash: blockHash(ROUND + 1n),
        });
        // Even a chain reader that answers for future rounds must not make the ticket acceptable.
        const context = contextWith({ blockHashForRound: (round) => blockHash(round) });
        const error = ticketErrorOf(() =>
          recipient.validate(sender.createTickets(params, 1)[0], expirationOf(params), context),
        );
        expect(error.code).to.equal("TICKET_BAD_CREATION_ROUND");
      });

      it("refuses a ticket once the broker's validity period passed as TICKET_ROUND_EXPIRED", () => {
        const { recipient, sender, params, expiration } = setup();
        const context = contextWith({ currentRound: ROUND + VALIDITY });
        const error = expectRefusal(
          () => recipient.validate(sender.createTickets(params, 1)[0], expiration, context),
          "TICKET_ROUND_EXPIRED",
          /must fetch fresh parameters/,
        );
        expect(error.message).to.contain(`until round ${ROUND + VALIDITY - 1n}`);
      });

      it("refuses an exact replay as TICKET_NONCE_REPLAYED", () => {
        const { recipient, sender, params, expiration } = setup();
        const [signed] = sender.createTickets(params, 1);
        recipient.validate(signed, expiration, contextWith());
        expectRefusal(
          () => recipient.validate(signed, expiration, contextWith()),
          "TICKET_NONCE_REPLAYED",
          /must fetch fresh parameters/,
        );
      });

      it("refuses the same ticket under a second valid signature (another draw) as TICKET_NONCE_REPLAYED", () => {
        const { recipient, sender, params, expiration } = setup();
        const [signed] = sender.createTickets(params, 1);
        recipient.validate(signed, expiration, contextWith());
        // ECDSA with extra nonce entropy: another valid low-s signature over the same digest, so another draw.
        const digest = new TicketHasher(DOMAIN).hash(signed.ticket);
        const { signature, recid } = secp256k1.ecdsaSign(digest, Buffer.from(SENDER_KEY.slice(2), "hex"), {
          data: Buffer.alloc(32, 1),
        });
        const sig = hex(Buffer.concat([signature, Buffer.from([27 + recid])]));
        expect(sig).to.not.equal(signed.sig);
        expect(recoverSigner(digest, Buffer.from(sig.slice(2), "hex"))).to.equal(sender.address);
        expect(ticketErrorOf(() => recipient.validate({ ...signed, sig }, expiration, contextWith())).code).to.equal(
          "TICKET_NONCE_REPLAYED",
        );
      });

      it("refuses tickets beyond maxTicketsPerParams as TICKET_NONCE_LIMIT", () => {
        const { recipient, sender, params, expiration } = setup({ maxTicketsPerParams: 3 });
        const tickets = sender.createTickets(params, 4);
        for (const signed of tickets.slice(0, 3)) recipient.validate(signed, expiration, contextWith());
        expectRefusal(
          () => recipient.validate(tickets[3], expiration, contextWith()),
          "TICKET_NONCE_LIMIT",
          /must fetch fresh ones from GET \/info/,
        );
      });

      it("refuses a sender that is unlocking as SENDER_UNLOCKING", () => {
        const { recipient, sender, params, expiration } = setup();
        const context = contextWith({ standing: { unlocking: true } });
        expectRefusal(
          () => recipient.validate(sender.createTickets(params, 1)[0], expiration, context),
          "SENDER_UNLOCKING",
          /must cancel the unlock \(`npx hardhat cancel-unlock`/,
        );
      });

      it("refuses a ticket whose face value exceeds the sender's max float as SENDER_INSUFFICIENT_FUNDS", () => {
        const { recipient, sender, params, expiration } = setup();
        const context = contextWith({ standing: { maxFloat: FACE_VALUE - 1n } });
        const error = expectRefusal(
          () => recipient.validate(sender.createTickets(params, 1)[0], expiration, context),
          "SENDER_INSUFFICIENT_FUNDS",
          /must add to its deposit or reserve/,
        );
        expect(error.message).to.contain("0.099999999999999999 ETH");
        expect(error.message).to.contain("0.1 ETH");
      });
    });

    describe("nonces", () => {
      it("accepts nonces out of order (5, 2, 9, 0)", () => {
        const { recipient, sender, params, expiration } = setup();
        const tickets = sender.createTickets(params, 10);
        for (const nonce of [5, 2, 9, 0]) {
          expect(recipient.validate(tickets[nonce], expiration, contextWith()).ev).to.equal(TICKET_EV);
        }
      });

      it("still refuses a replay of an out-of-order nonce", () => {
        const { recipient, sender, params, expiration } = setup();
        const tickets = sender.createTickets(params, 10);
        for (const nonce of [5, 2, 9, 0]) recipient.validate(tickets[nonce], expiration, contextWith());
        expect(ticketErrorOf(() => recipient.validate(tickets[2], expiration, contextWith())).code).to.equal(
          "TICKET_NONCE_REPLAYED",
        );
      });

      it("does not use up the nonce of a ticket refused for insufficient funds", () => {
        const { recipient, sender, params, expiration } = setup();
        const [signed] = sender.createTickets(params, 1);
        const poor = contextWith({ standing: { maxFloat: 0n } });
        expect(ticketErrorOf(() => recipient.validate(signed, expiration, poor)).code).to.equal(
          "SENDER_INSUFFICIENT_FUNDS",
        );
        expect(recipient.validate(signed, expiration, contextWith()).ev).to.equal(TICKET_EV);
      });

      it("does not use up the nonce of a ticket refused while the sender was unlocking", () => {
        const { recipient, sender, params, expiration } = setup();
        const [signed] = sender.createTickets(params, 1);
        const unlocking = contextWith({ standing: { unlocking: true } });
        expect(ticketErrorOf(() => recipient.validate(signed, expiration, unlocking)).code).to.equal(
          "SENDER_UNLOCKING",
        );
        expect(recipient.validate(signed, expiration, contextWith()).ev).to.equal(TICKET_EV);
      });

      it("does not let a forged ticket burn the nonce of the sender's real one", () => {
        const { recipient, sender, params, expiration } = setup();
        const [signed] = sender.createTickets(params, 1);
        const forged = signedBy(signed.ticket, OTHER_KEY);
        expect(ticketErrorOf(() => recipient.validate(forged, expiration, contextWith())).code).to.equal(
          "TICKET_BAD_SIGNATURE",
        );
        expect(recipient.validate(signed, expiration, contextWith()).ev).to.equal(TICKET_EV);
      });

      it("does not count refused tickets toward maxTicketsPerParams", () => {
        const { recipient, sender, params, expiration } = setup({ maxTicketsPerParams: 2 });
        const tickets = sender.createTickets(params, 2);
        const poor = contextWith({ standing: { maxFloat: 0n } });
        for (let i = 0; i < 5; i++) ticketErrorOf(() => recipient.validate(tickets[0], expiration, poor));
        for (const signed of tickets)
          expect(recipient.validate(signed, expiration, contextWith()).ev).to.equal(TICKET_EV);
      });

      it("keeps the nonce limit per set of parameters", () => {
        const { recipient, sender, params, expiration } = setup({ maxTicketsPerParams: 1 });
        recipient.validate(sender.createTickets(params, 1)[0], expiration, contextWith());
        const other = paramsFrom(recipient, sender.address, { seed: "0x" + "77".repeat(32) });
        expect(recipient.validate(sender.createTickets(other, 1)[0], expirationOf(other), contextWith()).ev).to.equal(
          TICKET_EV,
        );
      });

      it("refuses a replay as TICKET_NONCE_REPLAYED even at the nonce limit", () => {
        const { recipient, sender, params, expiration } = setup({ maxTicketsPerParams: 1 });
        const [signed] = sender.createTickets(params, 1);
        recipient.validate(signed, expiration, contextWith());
        expect(ticketErrorOf(() => recipient.validate(signed, expiration, contextWith())).code).to.equal(
          "TICKET_NONCE_REPLAYED",
        );
      });
    });

    describe("forgetExpired", () => {
      it("keeps the nonces of parameters still valid at the current block", () => {
        const { recipient, sender, params, expiration } = setup();
        recipient.validate(sender.createTickets(params, 1)[0], expiration, contextWith());
        expect(recipient.forgetExpired(params.expirationBlock)).to.equal(0);
        expect(recipient.trackedParams).to.equal(1);
      });

      it("drops the nonces of parameters expired before the current block, and only those", () => {
        const { recipient, sender, params, expiration } = setup();
        const later = paramsFrom(recipient, sender.address, { expirationBlock: EXPIRATION + 100n });
        recipient.validate(sender.createTickets(params, 1)[0], expiration, contextWith());
        recipient.validate(sender.createTickets(later, 1)[0], expirationOf(later), contextWith());
        expect(recipient.trackedParams).to.equal(2);
        expect(recipient.forgetExpired(EXPIRATION + 1n)).to.equal(1);
        expect(recipient.trackedParams).to.equal(1);
        const [replay] = senderWith().createTickets(later, 1);
        expect(ticketErrorOf(() => recipient.validate(replay, expirationOf(later), contextWith())).code).to.equal(
          "TICKET_NONCE_REPLAYED",
        );
      });

      it("leaves a forgotten ticket refused, as expired rather than replayed", () => {
        const { recipient, sender, params, expiration } = setup();
        const [signed] = sender.createTickets(params, 1);
        recipient.validate(signed, expiration, contextWith());
        const now = params.expirationBlock + 1n;
        recipient.forgetExpired(now);
        expect(recipient.trackedParams).to.equal(0);
        expect(
          ticketErrorOf(() => recipient.validate(signed, expiration, contextWith({ currentBlock: now }))).code,
        ).to.equal("TICKET_PARAMS_EXPIRED");
      });
    });
  });
});
