/**
 * Unit tests of offchain/pm's ticket primitives and money math: field validation, the EIP-712 domain, the
 * recipient's commitment, the win rule's boundary, EV and winProb rounding, tickets needed, the reserve split,
 * face values and ETH formatting.
 */
import { expect } from "chai";
import { TypedDataEncoder, formatEther, keccak256, solidityPackedKeccak256, toBeHex } from "ethers";
import fc from "fast-check";

import {
  DEFAULT_FACE_VALUE_MULTIPLIER,
  MAX_WIN_PROB,
  TICKET_TYPE,
  TICKET_TYPES,
  type ReserveState,
  type Ticket,
  TicketError,
  TicketFieldError,
  TicketHasher,
  eip712Domain,
  expectedValue,
  faceValueFor,
  formatEth,
  isWinningTicket,
  maxFloat,
  recipientRandHash,
  reserveAllowance,
  ticketsNeeded,
  winProbFor,
  winProbForEV,
} from "../../offchain/pm";

const UINT256_LIMIT = 1n << 256n;
const ETH = 10n ** 18n;
const GWEI = 10n ** 9n;
const BROKER = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const DOMAIN = { chainId: 31337n, verifyingContract: BROKER };

const TICKET: Ticket = {
  recipient: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
  sender: "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
  faceValue: 10n ** 17n,
  winProb: MAX_WIN_PROB / 1000n,
  senderNonce: 7n,
  recipientRandHash: "0x" + "ab".repeat(32),
  creationRound: 42n,
  creationRoundBlockHash: "0x" + "cd".repeat(32),
};

const uint256 = fc.bigInt({ min: 0n, max: MAX_WIN_PROB });
const positiveUint256 = fc.bigInt({ min: 1n, max: MAX_WIN_PROB });

/** The error `fn` throws; fails the test if it returns. */
function thrownBy(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a throw");
}

function expectFieldError(fn: () => unknown, field: string): void {
  const error = thrownBy(fn);
  expect(error).to.be.instanceOf(TicketFieldError);
  expect((error as TicketFieldError).field).to.equal(field);
  expect(error.message).to.contain(field);
}

const hex = (bytes: Uint8Array) => "0x" + Buffer.from(bytes).toString("hex");

describe("TicketHasher", () => {
  const hasher = new TicketHasher(DOMAIN);

  it("hashes a ticket as ethers' TypedDataEncoder does", () => {
    expect(hex(hasher.hash(TICKET))).to.equal(TypedDataEncoder.hash(eip712Domain(DOMAIN), TICKET_TYPES, TICKET));
  });

  it("computes the struct hash ethers' TypedDataEncoder computes", () => {
    expect(hex(hasher.structHash(TICKET))).to.equal(TypedDataEncoder.hashStruct("Ticket", TICKET_TYPES, TICKET));
  });

  it("spells the type string the way the typed-data types encode it", () => {
    expect(TICKET_TYPE).to.equal(TypedDataEncoder.from(TICKET_TYPES).encodeType("Ticket"));
  });

  it("treats addresses and hashes alike in any letter case", () => {
    const upper = {
      ...TICKET,
      recipient: "0x" + TICKET.recipient.slice(2).toUpperCase(),
      sender: TICKET.sender.toLowerCase(),
      recipientRandHash: "0x" + TICKET.recipientRandHash.slice(2).toUpperCase(),
    };
    expect(hex(hasher.hash(upper))).to.equal(hex(hasher.hash(TICKET)));
  });

  it("returns digests that later calls do not overwrite", () => {
    const first = hasher.hash(TICKET);
    const copy = Buffer.from(first);
    const other = hasher.hash({ ...TICKET, senderNonce: 8n });
    expect(first.equals(copy)).to.equal(true);
    expect(other.equals(first)).to.equal(false);
    expect(hasher.hash(TICKET).equals(copy)).to.equal(true);
  });

  it("hashes correctly after refusing a ticket halfway through its fields", () => {
    const expected = hex(hasher.hash(TICKET));
    thrownBy(() => hasher.hash({ ...TICKET, faceValue: 1n, creationRoundBlockHash: "0x00" }));
    expect(hex(hasher.hash(TICKET))).to.equal(expected);
  });

  it("changes the digest when any single field changes", () => {
    const digests = new Set([
      hex(hasher.hash(TICKET)),
      hex(hasher.hash({ ...TICKET, recipient: TICKET.sender })),
      hex(hasher.hash({ ...TICKET, sender: TICKET.recipient })),
      hex(hasher.hash({ ...TICKET, faceValue: TICKET.faceValue + 1n })),
      hex(hasher.hash({ ...TICKET, winProb: TICKET.winProb + 1n })),
      hex(hasher.hash({ ...TICKET, senderNonce: TICKET.senderNonce + 1n })),
      hex(hasher.hash({ ...TICKET, recipientRandHash: "0x" + "ac".repeat(32) })),
      hex(hasher.hash({ ...TICKET, creationRound: TICKET.creationRound + 1n })),
      hex(hasher.hash({ ...TICKET, creationRoundBlockHash: "0x" + "ce".repeat(32) })),
    ]);
    expect(digests.size).to.equal(9);
  });

  it("accepts the extremes of uint256", () => {
    const extreme = { ...TICKET, faceValue: 0n, winProb: MAX_WIN_PROB, senderNonce: MAX_WIN_PROB, creationRound: 0n };
    expect(hex(hasher.hash(extreme))).to.equal(TypedDataEncoder.hash(eip712Domain(DOMAIN), TICKET_TYPES, extreme));
  });

  describe("field validation", () => {
    it("refuses an address that is too short, naming the field", () => {
      expectFieldError(() => hasher.hash({ ...TICKET, recipient: "0x1234" }), "recipient");
    });

    it("refuses an address that is not hex, naming the field", () => {
      expectFieldError(() => hasher.hash({ ...TICKET, sender: "0x" + "zz".repeat(20) }), "sender");
    });

    it("refuses an address without its 0x prefix", () => {
      expectFieldError(() => hasher.hash({ ...TICKET, sender: TICKET.sender.slice(2) }), "sender");
    });

    it("refuses a uint256 of 2^256, naming the field", () => {
      expectFieldError(() => hasher.hash({ ...TICKET, faceValue: UINT256_LIMIT }), "faceValue");
    });

    it("refuses a negative uint256, naming the field", () => {
      expectFieldError(() => hasher.hash({ ...TICKET, winProb: -1n }), "winProb");
    });

    it("refuses a number where a bigint is expected", () => {
      expectFieldError(() => hasher.hash({ ...TICKET, senderNonce: 1 as unknown as bigint }), "senderNonce");
    });

    it("refuses a creation round out of range, naming the field", () => {
      expectFieldError(() => hasher.hash({ ...TICKET, creationRound: UINT256_LIMIT + 5n }), "creationRound");
    });

    it("refuses a 31-byte recipientRandHash, naming the field", () => {
      expectFieldError(
        () => hasher.hash({ ...TICKET, recipientRandHash: "0x" + "ab".repeat(31) }),
        "recipientRandHash",
      );
    });

    it("refuses a 33-byte creationRoundBlockHash, naming the field", () => {
      expectFieldError(
        () => hasher.hash({ ...TICKET, creationRoundBlockHash: "0x" + "cd".repeat(33) }),
        "creationRoundBlockHash",
      );
    });

    it("refuses a domain whose verifyingContract is not an address", () => {
      expectFieldError(() => new TicketHasher({ chainId: 1n, verifyingContract: "0xbroker" }), "verifyingContract");
    });

    it("refuses a negative chain id", () => {
      expectFieldError(() => new TicketHasher({ chainId: -1n, verifyingContract: BROKER }), "chainId");
    });
  });
});

describe("TicketHasher.domainSeparator", () => {
  it("equals ethers' TypedDataEncoder.hashDomain for the TicketBroker domain", () => {
    for (const chainId of [1n, 31337n, 42161n, MAX_WIN_PROB]) {
      const domain = { chainId, verifyingContract: BROKER };
      expect(hex(new TicketHasher(domain).domainSeparator), `chain ${chainId}`).to.equal(
        TypedDataEncoder.hashDomain(eip712Domain(domain)),
      );
    }
  });

  it("differs between brokers and between chains", () => {
    const base = hex(new TicketHasher(DOMAIN).domainSeparator);
    const otherBroker = hex(new TicketHasher({ ...DOMAIN, verifyingContract: "0x" + "11".repeat(20) }).domainSeparator);
    const otherChain = hex(new TicketHasher({ ...DOMAIN, chainId: 1n }).domainSeparator);
    expect(new Set([base, otherBroker, otherChain]).size).to.equal(3);
  });

  it("names the TicketBroker domain, version 1", () => {
    expect(eip712Domain(DOMAIN)).to.deep.equal({
      name: "TicketBroker",
      version: "1",
      chainId: 31337n,
      verifyingContract: BROKER,
    });
  });
});

describe("recipientRandHash", () => {
  it("is keccak256(abi.encodePacked(uint256)) for 0, 1 and 2^256 - 1", () => {
    for (const rand of [0n, 1n, MAX_WIN_PROB]) {
      expect(recipientRandHash(rand)).to.equal(solidityPackedKeccak256(["uint256"], [rand]));
    }
  });

  it("is keccak256 of the 32-byte big-endian value, for any uint256", () => {
    fc.assert(
      fc.property(uint256, (rand) => {
        expect(recipientRandHash(rand)).to.equal(keccak256(toBeHex(rand, 32)));
      }),
    );
  });

  it("refuses a negative recipientRand", () => {
    expectFieldError(() => recipientRandHash(-1n), "recipientRand");
  });

  it("refuses a recipientRand of 2^256", () => {
    expectFieldError(() => recipientRandHash(UINT256_LIMIT), "recipientRand");
  });
});

describe("isWinningTicket", () => {
  const sig = Buffer.alloc(65, 7);
  const rand = 12345n;
  const drawOf = (s: Uint8Array, r: bigint) => BigInt(solidityPackedKeccak256(["bytes", "uint256"], [s, r]));

  it("wins when the draw is one below winProb", () => {
    expect(isWinningTicket(sig, rand, drawOf(sig, rand) + 1n)).to.equal(true);
  });

  it("loses when the draw equals winProb", () => {
    expect(isWinningTicket(sig, rand, drawOf(sig, rand))).to.equal(false);
  });

  it("never wins with winProb 0", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 65, maxLength: 65 }), uint256, (s, r) => {
        expect(isWinningTicket(s, r, 0n)).to.equal(false);
      }),
    );
  });

  it("follows draw < winProb for any signature, recipientRand and winProb", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 65, maxLength: 65 }), uint256, uint256, (s, r, winProb) => {
        expect(isWinningTicket(s, r, winProb)).to.equal(drawOf(s, r) < winProb);
      }),
    );
  });

  it("refuses a recipientRand out of range", () => {
    expectFieldError(() => isWinningTicket(sig, UINT256_LIMIT, 1n), "recipientRand");
  });
});

describe("expectedValue", () => {
  it("is the face value at winProb 2^256 - 1", () => {
    expect(expectedValue(ETH, MAX_WIN_PROB)).to.equal(ETH);
  });

  it("is zero at winProb 0", () => {
    expect(expectedValue(ETH, 0n)).to.equal(0n);
  });

  it("rounds down: 3 wei at winProb (2^256 - 1) / 2 is worth 1 wei, not 1.5", () => {
    expect(expectedValue(3n, MAX_WIN_PROB / 2n)).to.equal(1n);
  });

  it("rounds down: 2 wei at winProb floor((2^256 - 1) / 2) is worth 0 wei", () => {
    expect(expectedValue(2n, MAX_WIN_PROB / 2n)).to.equal(0n);
  });

  it("is floor(faceValue * winProb / (2^256 - 1)) and never exceeds the face value", () => {
    fc.assert(
      fc.property(uint256, uint256, (faceValue, winProb) => {
        const ev = expectedValue(faceValue, winProb);
        expect(ev * MAX_WIN_PROB <= faceValue * winProb).to.equal(true);
        expect((ev + 1n) * MAX_WIN_PROB > faceValue * winProb).to.equal(true);
        expect(ev <= faceValue).to.equal(true);
      }),
    );
  });
});

describe("winProbForEV", () => {
  it("is certain when the expected value equals the face value", () => {
    expect(winProbForEV(ETH, ETH)).to.equal(MAX_WIN_PROB);
  });

  it("is certain when the expected value exceeds the face value", () => {
    expect(winProbForEV(ETH + 1n, ETH)).to.equal(MAX_WIN_PROB);
  });

  it("is zero for an expected value of zero", () => {
    expect(winProbForEV(0n, ETH)).to.equal(0n);
  });

  it("is exact when the face value divides ev * (2^256 - 1): 1 in 3 for a third", () => {
    // 2^256 - 1 is divisible by 3 (2^256 = 1 mod 3).
    expect(winProbForEV(1n, 3n)).to.equal(MAX_WIN_PROB / 3n);
    expect(expectedValue(3n, winProbForEV(1n, 3n))).to.equal(1n);
  });

  it("rounds down, so a round trip can lose one wei: ev 1 at face value 2 comes back as 0", () => {
    expect(winProbForEV(1n, 2n)).to.equal((1n << 255n) - 1n);
    expect(expectedValue(2n, winProbForEV(1n, 2n))).to.equal(0n);
  });

  it("refuses a face value of zero", () => {
    expect(() => winProbForEV(1n, 0n)).to.throw(RangeError, /faceValue/);
  });

  it("refuses a negative face value", () => {
    expect(() => winProbForEV(1n, -1n)).to.throw(RangeError, /faceValue/);
  });

  it("refuses a negative expected value", () => {
    expect(() => winProbForEV(-1n, ETH)).to.throw(RangeError, /ev/);
  });

  // With w = floor(ev * M / f), M = 2^256 - 1, r = ev * M mod f: f * w = ev * M - r, 0 <= r < f <= M, so
  // floor(f * w / M) = ev - ceil(r / M), which is ev when r = 0 and ev - 1 otherwise.
  it("round-trips to ev exactly when faceValue divides ev * (2^256 - 1), and to ev - 1 otherwise", () => {
    fc.assert(
      fc.property(positiveUint256, uint256, (faceValue, evSeed) => {
        const ev = evSeed % (faceValue + 1n); // 0 <= ev <= faceValue
        const back = expectedValue(faceValue, winProbForEV(ev, faceValue));
        expect(back).to.equal((ev * MAX_WIN_PROB) % faceValue === 0n ? ev : ev - 1n);
      }),
      { numRuns: 500 },
    );
  });

  it("round-trips to ev or ev - 1 for realistic face values and expected values", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 1000n * ETH }), fc.bigInt({ min: 0n, max: 1000n * ETH }), (f, evSeed) => {
        const ev = evSeed % (f + 1n);
        const back = expectedValue(f, winProbForEV(ev, f));
        expect(back === ev || back === ev - 1n, `f ${f}, ev ${ev}, back ${back}`).to.equal(true);
      }),
      { numRuns: 500 },
    );
  });

  it("gives the face value back when ev exceeds it (the ticket cannot be worth more than it pays)", () => {
    fc.assert(
      fc.property(positiveUint256, fc.bigInt({ min: 0n, max: MAX_WIN_PROB }), (faceValue, extra) => {
        expect(expectedValue(faceValue, winProbForEV(faceValue + extra, faceValue))).to.equal(faceValue);
      }),
    );
  });

  it("never pays the sender more than asked", () => {
    fc.assert(
      fc.property(positiveUint256, uint256, (faceValue, ev) => {
        expect(expectedValue(faceValue, winProbForEV(ev, faceValue)) <= ev).to.equal(true);
      }),
    );
  });
});

describe("ticketsNeeded", () => {
  const reference = (required: bigint, ev: bigint, credit: bigint) => {
    const owed = (required > ev ? required : ev) - credit;
    return owed <= 0n ? 0n : (owed + ev - 1n) / ev;
  };

  it("rounds up: 2.5 tickets' worth takes 3", () => {
    expect(ticketsNeeded(25n, 10n)).to.equal(3n);
  });

  it("takes exactly required / ev tickets when ev divides it", () => {
    expect(ticketsNeeded(30n, 10n)).to.equal(3n);
  });

  it("sends one ticket with a request that requires less than one ticket's worth", () => {
    expect(ticketsNeeded(1n, 10n)).to.equal(1n);
  });

  it("sends one ticket with a request that requires nothing and has no credit", () => {
    expect(ticketsNeeded(0n, 10n)).to.equal(1n);
  });

  it("counts the credit the recipient already holds", () => {
    expect(ticketsNeeded(25n, 10n, 6n)).to.equal(2n);
  });

  it("needs no ticket when the credit covers the requirement", () => {
    expect(ticketsNeeded(25n, 10n, 25n)).to.equal(0n);
  });

  it("needs no ticket when the credit covers one ticket's worth of a small requirement", () => {
    expect(ticketsNeeded(1n, 10n, 10n)).to.equal(0n);
  });

  it("refuses parameters whose tickets have no expected value", () => {
    const error = thrownBy(() => ticketsNeeded(10n, 0n));
    expect(error).to.be.instanceOf(TicketError);
    expect((error as TicketError).code).to.equal("TICKET_PARAMS_INVALID");
  });

  it("refuses a negative expected value", () => {
    expect(() => ticketsNeeded(10n, -1n)).to.throw(TicketError);
  });

  it("is ceil((max(required, ev) - credit) / ev), at least zero", () => {
    fc.assert(
      fc.property(uint256, positiveUint256, uint256, (required, ev, credit) => {
        expect(ticketsNeeded(required, ev, credit)).to.equal(reference(required, ev, credit));
      }),
    );
  });

  it("buys enough and not one ticket more", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 24n }),
        fc.bigInt({ min: 1n, max: 10n ** 20n }),
        fc.bigInt({ min: 0n, max: 10n ** 24n }),
        (required, ev, credit) => {
          const n = ticketsNeeded(required, ev, credit);
          const target = required > ev ? required : ev;
          expect(credit + n * ev >= target).to.equal(true);
          if (n > 0n) expect(credit + (n - 1n) * ev < target).to.equal(true);
        },
      ),
    );
  });
});

describe("reserveAllowance", () => {
  const state = (overrides: Partial<ReserveState>): ReserveState => ({
    fundsRemaining: 100n,
    claimedInCurrentRound: 0n,
    poolSize: 4n,
    claimedByRecipient: 0n,
    ...overrides,
  });

  it("is an equal share of the reserve", () => {
    expect(reserveAllowance(state({}))).to.equal(25n);
  });

  it("rounds the share down", () => {
    expect(reserveAllowance(state({ fundsRemaining: 10n, poolSize: 3n }))).to.equal(3n);
  });

  it("splits the reserve as it stood before this round's claims", () => {
    // Another recipient drew 25 of 100: the share is still 25.
    expect(reserveAllowance(state({ fundsRemaining: 75n, claimedInCurrentRound: 25n }))).to.equal(25n);
  });

  it("subtracts what the recipient drew this round", () => {
    expect(
      reserveAllowance(state({ fundsRemaining: 90n, claimedInCurrentRound: 10n, claimedByRecipient: 10n })),
    ).to.equal(15n);
  });

  it("is zero once the recipient drew its share", () => {
    expect(
      reserveAllowance(state({ fundsRemaining: 75n, claimedInCurrentRound: 25n, claimedByRecipient: 25n })),
    ).to.equal(0n);
  });

  it("is capped by the funds remaining", () => {
    expect(reserveAllowance(state({ fundsRemaining: 5n, claimedInCurrentRound: 95n, poolSize: 2n }))).to.equal(5n);
  });

  it("is zero with an empty pool", () => {
    expect(reserveAllowance(state({ poolSize: 0n }))).to.equal(0n);
  });

  it("is zero with no funds remaining", () => {
    expect(reserveAllowance(state({ fundsRemaining: 0n, claimedInCurrentRound: 100n }))).to.equal(0n);
  });

  it("never exceeds the funds remaining", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 30n }),
        fc.bigInt({ min: 0n, max: 10n ** 30n }),
        fc.bigInt({ min: 0n, max: 200n }),
        fc.bigInt({ min: 0n, max: 10n ** 30n }),
        (fundsRemaining, claimedInCurrentRound, poolSize, claimedByRecipient) => {
          const allowance = reserveAllowance({ fundsRemaining, claimedInCurrentRound, poolSize, claimedByRecipient });
          expect(allowance >= 0n && allowance <= fundsRemaining).to.equal(true);
        },
      ),
    );
  });

  it("lets poolSize distinct recipients, each drawing in turn, take no more than the reserve together", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 24n }),
        fc.integer({ min: 1, max: 30 }),
        // Draw order: recipient indices (repeats allowed), and the part of its allowance each draw takes (ppm).
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 1_000_000 })), { minLength: 1, maxLength: 80 }),
        (reserve, pool, draws) => {
          const poolSize = BigInt(pool);
          const claimedBy = new Array<bigint>(pool).fill(0n);
          let fundsRemaining = reserve;
          let claimedInCurrentRound = 0n;
          for (const [who, ppm] of draws) {
            const recipient = who % pool;
            const allowance = reserveAllowance({
              fundsRemaining,
              claimedInCurrentRound,
              poolSize,
              claimedByRecipient: claimedBy[recipient],
            });
            const claim = (allowance * BigInt(ppm)) / 1_000_000n;
            claimedBy[recipient] += claim;
            fundsRemaining -= claim;
            claimedInCurrentRound += claim;
            expect(fundsRemaining >= 0n).to.equal(true);
            expect(claimedBy[recipient] <= reserve / poolSize).to.equal(true);
          }
          // Finally every recipient draws its full allowance.
          for (let recipient = 0; recipient < pool; recipient++) {
            const claim = reserveAllowance({
              fundsRemaining,
              claimedInCurrentRound,
              poolSize,
              claimedByRecipient: claimedBy[recipient],
            });
            claimedBy[recipient] += claim;
            fundsRemaining -= claim;
            claimedInCurrentRound += claim;
          }
          const total = claimedBy.reduce((a, b) => a + b, 0n);
          expect(total <= reserve).to.equal(true);
          expect(total).to.equal(claimedInCurrentRound);
          // Everyone took exactly their share: the reserve is split, nothing is stranded beyond the rounding.
          expect(claimedBy.every((c) => c === reserve / poolSize)).to.equal(true);
        },
      ),
    );
  });
});

describe("maxFloat", () => {
  it("is the deposit plus the reserve allowance less pending tickets", () => {
    expect(maxFloat({ deposit: 10n * ETH, reserveAllowance: 2n * ETH, pendingFaceValue: 3n * ETH })).to.equal(9n * ETH);
  });

  it("is the deposit plus the allowance with nothing pending", () => {
    expect(maxFloat({ deposit: 1n, reserveAllowance: 2n, pendingFaceValue: 0n })).to.equal(3n);
  });

  it("is zero, never negative, when pending tickets exceed the funds", () => {
    expect(maxFloat({ deposit: 1n * ETH, reserveAllowance: 0n, pendingFaceValue: 5n * ETH })).to.equal(0n);
  });

  it("is max(0, deposit + allowance - pending) for any amounts", () => {
    fc.assert(
      fc.property(uint256, uint256, uint256, (deposit, allowance, pending) => {
        const float = maxFloat({ deposit, reserveAllowance: allowance, pendingFaceValue: pending });
        const expected = deposit + allowance - pending;
        expect(float).to.equal(expected > 0n ? expected : 0n);
      }),
    );
  });
});

describe("faceValueFor", () => {
  const SENDER = "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc";
  const base = { gasPrice: 10n * GWEI, redeemGas: 100_000n, maxFloat: 10n * ETH, sender: SENDER };

  it("is 100 times the redemption cost by default", () => {
    expect(DEFAULT_FACE_VALUE_MULTIPLIER).to.equal(100n);
    expect(faceValueFor(base)).to.equal(100n * 100_000n * 10n * GWEI);
  });

  it("uses the multiplier it is given", () => {
    expect(faceValueFor({ ...base, multiplier: 7n })).to.equal(7n * 100_000n * 10n * GWEI);
  });

  it("is capped by the sender's max float", () => {
    expect(faceValueFor({ ...base, maxFloat: ETH / 20n })).to.equal(ETH / 20n);
  });

  it("accepts a cap one wei above the redemption cost", () => {
    const redeemCost = base.redeemGas * base.gasPrice;
    expect(faceValueFor({ ...base, maxFloat: redeemCost + 1n })).to.equal(redeemCost + 1n);
  });

  it("refuses with SENDER_INSUFFICIENT_FUNDS when the cap equals the redemption cost", () => {
    const redeemCost = base.redeemGas * base.gasPrice; // 0.001 ETH
    const error = thrownBy(() => faceValueFor({ ...base, maxFloat: redeemCost }));
    expect(error).to.be.instanceOf(TicketError);
    expect((error as TicketError).code).to.equal("SENDER_INSUFFICIENT_FUNDS");
  });

  it("says in ETH what the sender can back and what a redemption costs, and what the broadcaster must do", () => {
    const error = thrownBy(() => faceValueFor({ ...base, maxFloat: ETH / 2000n }));
    expect((error as TicketError).code).to.equal("SENDER_INSUFFICIENT_FUNDS");
    expect(error.message).to.contain("0.0005 ETH"); // max float
    expect(error.message).to.contain("0.001 ETH"); // 100,000 gas at 10 gwei
    expect(error.message).to.contain(SENDER);
    expect(error.message).to.match(/npx hardhat fund --deposit/);
  });

  it("refuses with SENDER_INSUFFICIENT_FUNDS when the sender can back nothing", () => {
    const error = thrownBy(() => faceValueFor({ ...base, maxFloat: 0n }));
    expect((error as TicketError).code).to.equal("SENDER_INSUFFICIENT_FUNDS");
    expect(error.message).to.contain("0 ETH");
  });

  it("refuses a negative gas price", () => {
    expect(() => faceValueFor({ ...base, gasPrice: -1n })).to.throw(RangeError);
  });

  it("refuses a zero gas price as a bad input, not as the sender's lack of funds", () => {
    expect(() => faceValueFor({ ...base, gasPrice: 0n })).to.throw(RangeError, /gasPrice/);
  });

  it("refuses a redemption gas of zero", () => {
    expect(() => faceValueFor({ ...base, redeemGas: 0n })).to.throw(RangeError);
  });

  it("refuses a multiplier of zero", () => {
    expect(() => faceValueFor({ ...base, multiplier: 0n })).to.throw(RangeError);
  });

  it("is min(multiplier * cost, maxFloat) and always more than the redemption cost", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: 1000n * GWEI }),
        fc.bigInt({ min: 1n, max: 10_000_000n }),
        fc.bigInt({ min: 1n, max: 1000n }),
        fc.bigInt({ min: 0n, max: 1000n * ETH }),
        (gasPrice, redeemGas, multiplier, float) => {
          const cost = gasPrice * redeemGas;
          const wanted = multiplier * cost;
          const capped = wanted < float ? wanted : float;
          const inputs = { gasPrice, redeemGas, multiplier, maxFloat: float, sender: SENDER };
          if (capped > cost) {
            expect(faceValueFor(inputs)).to.equal(capped);
          } else {
            expect(() => faceValueFor(inputs)).to.throw(TicketError);
          }
        },
      ),
    );
  });
});

describe("winProbFor", () => {
  it("is winProbForEV(ev, faceValue)", () => {
    expect(winProbFor(ETH, 10n ** 12n)).to.equal(winProbForEV(10n ** 12n, ETH));
    expect(winProbFor(ETH, 10n ** 12n)).to.equal((10n ** 12n * MAX_WIN_PROB) / ETH);
  });

  it("refuses an expected value of zero", () => {
    expect(() => winProbFor(ETH, 0n)).to.throw(RangeError, /expected value/);
  });
});

describe("formatEth", () => {
  it("formats whole ether without a fraction", () => {
    expect(formatEth(ETH)).to.equal("1 ETH");
  });

  it("formats zero", () => {
    expect(formatEth(0n)).to.equal("0 ETH");
  });

  it("formats one wei exactly", () => {
    expect(formatEth(1n)).to.equal("0.000000000000000001 ETH");
  });

  it("drops trailing zeros of the fraction", () => {
    expect(formatEth((3n * ETH) / 2n)).to.equal("1.5 ETH");
  });

  it("formats negative amounts", () => {
    expect(formatEth((-9n * ETH) / 4n)).to.equal("-2.25 ETH");
  });

  it("formats amounts beyond a double's precision exactly", () => {
    expect(formatEth(123456789012345678901234n)).to.equal("123456.789012345678901234 ETH");
  });

  it("agrees with ethers' formatEther for any amount", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }), (wei) => {
        expect(formatEth(wei)).to.equal(formatEther(wei).replace(/\.0$/, "") + " ETH");
      }),
    );
  });
});

describe("TICKET_TYPES", () => {
  it("lists the fields of the Solidity struct in order", () => {
    expect(TICKET_TYPES.Ticket.map((f) => f.name)).to.deep.equal(Object.keys(TICKET));
  });
});
