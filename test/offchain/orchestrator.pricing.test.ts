/**
 * What a segment costs and who has paid (offchain/orchestrator/pricing.ts): the fee's rounding, the output pixel
 * bound with and without the source's shape, and the CreditLedger's credit / hold / release / settle / prune.
 */
import { expect } from "chai";
import fc from "fast-check";

import { PRESETS, type Rendition, fitRendition } from "../../offchain/media/ladder";
import { CreditLedger, type SourceShape, estimateOutputPixels, feeFor } from "../../offchain/orchestrator/pricing";

const MAX_UINT256 = (1n << 256n) - 1n;
const SENDER = "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc";
const OTHER = "0x90f79bf6eb2c4f870365e785982e1f101e93b906";
const DAY_MS = 24 * 3600_000;

describe("orchestrator pricing: feeFor", () => {
  it("rounds a fraction of a wei up, in the orchestrator's favour", () => {
    expect(feeFor(3n, { pricePerUnit: 1n, pixelsPerUnit: 2n })).to.equal(2n);
    expect(feeFor(1n, { pricePerUnit: 1n, pixelsPerUnit: 1_000_000n })).to.equal(1n);
    expect(feeFor(1_000_001n, { pricePerUnit: 1n, pixelsPerUnit: 1_000_000n })).to.equal(2n);
  });

  it("is exact when the price divides evenly", () => {
    expect(feeFor(4n, { pricePerUnit: 1n, pixelsPerUnit: 2n })).to.equal(2n);
    expect(feeFor(13_824_000n, { pricePerUnit: 1n, pixelsPerUnit: 1n })).to.equal(13_824_000n);
    expect(feeFor(2_000_000n, { pricePerUnit: 7n, pixelsPerUnit: 1_000_000n })).to.equal(14n);
  });

  it("is 0 for no pixels, whatever the price", () => {
    expect(feeFor(0n, { pricePerUnit: 10n ** 18n, pixelsPerUnit: 3n })).to.equal(0n);
    expect(feeFor(-5n, { pricePerUnit: 10n ** 18n, pixelsPerUnit: 3n })).to.equal(0n);
  });

  it("is exact for values far beyond 2^53", () => {
    const pixels = 2n ** 200n + 12345n;
    const price = { pricePerUnit: 10n ** 30n + 7n, pixelsPerUnit: 3n };
    const product = pixels * price.pricePerUnit;
    expect(product % 3n).to.not.equal(0n);
    expect(feeFor(pixels, price)).to.equal(product / 3n + 1n);
    expect(feeFor(MAX_UINT256, { pricePerUnit: MAX_UINT256, pixelsPerUnit: MAX_UINT256 })).to.equal(MAX_UINT256);
  });

  it("is the least fee that covers pixels × price / pixelsPerUnit, for any values", () => {
    const uint = fc.bigInt({ min: 0n, max: MAX_UINT256 });
    fc.assert(
      fc.property(uint, uint, fc.bigInt({ min: 1n, max: MAX_UINT256 }), (pixels, pricePerUnit, pixelsPerUnit) => {
        const fee = feeFor(pixels, { pricePerUnit, pixelsPerUnit });
        const owed = pixels * pricePerUnit;
        expect(fee * pixelsPerUnit >= owed).to.equal(true);
        expect(fee === 0n || (fee - 1n) * pixelsPerUnit < owed).to.equal(true);
      }),
    );
  });
});

describe("orchestrator pricing: estimateOutputPixels", () => {
  const r720 = { ...PRESETS["720p30"] };
  const r360 = { ...PRESETS["360p30"] };

  it("without a source, is each rendition's box times its frames over the duration", () => {
    expect(estimateOutputPixels([r720], 2000)).to.equal(1280n * 720n * 60n);
    expect(estimateOutputPixels([r720, r360], 2000)).to.equal(1280n * 720n * 60n + 640n * 360n * 60n);
  });

  it("counts a started frame as a whole one", () => {
    expect(estimateOutputPixels([r360], 2001)).to.equal(640n * 360n * 61n);
    expect(estimateOutputPixels([{ ...r360, fps: 29.97 }], 2000)).to.equal(640n * 360n * 60n);
    expect(estimateOutputPixels([{ ...r360, fps: 25 }], 1)).to.equal(640n * 360n * 1n);
  });

  it("never upscales: a 640x360 source with a 720p rendition is charged 640x360", () => {
    const source = { width: 640, height: 360, fps: 30 };
    expect(estimateOutputPixels([r720], 2000, source)).to.equal(640n * 360n * 60n);
  });

  it("uses the source's frame rate when it is below the rendition's", () => {
    const source = { width: 1920, height: 1080, fps: 25 };
    expect(estimateOutputPixels([r720], 2000, source)).to.equal(1280n * 720n * 50n);
    // An unknown source rate (0) falls back to the rendition's.
    expect(estimateOutputPixels([r720], 2000, { ...source, fps: 0 })).to.equal(1280n * 720n * 60n);
  });

  it("with a source, equals the sum over fitRendition outputs of width × height × ceil(fps × duration)", () => {
    const ladder: Rendition[] = ["1080p30", "720p30", "480p30", "360p30", "240p30"].map((n) => ({ ...PRESETS[n] }));
    const sources: SourceShape[] = [
      { width: 1920, height: 1080, fps: 30 },
      { width: 1440, height: 1080, fps: 29.97 },
      { width: 720, height: 576, fps: 25, sampleAspect: 16 / 15 },
      { width: 1080, height: 1920, fps: 60 },
      { width: 426, height: 240, fps: 24 },
      { width: 3840, height: 2160, fps: 50 },
    ];
    for (const source of sources) {
      for (const durationMs of [1, 1999, 2000, 6006, 60_000]) {
        let expected = 0n;
        for (const r of ladder) {
          const fitted = fitRendition(r, source);
          expected += BigInt(fitted.width * fitted.height) * BigInt(Math.ceil((fitted.fps * durationMs) / 1000));
        }
        expect(estimateOutputPixels(ladder, durationMs, source), `${JSON.stringify(source)} ${durationMs}`).to.equal(
          expected,
        );
      }
    }
  });

  it("fits a portrait source inside each box, so it costs less than the box", () => {
    const source = { width: 1080, height: 1920, fps: 30 };
    const fitted = fitRendition(r720, source);
    expect(fitted.width * fitted.height).to.be.lessThan(1280 * 720);
    expect(estimateOutputPixels([r720], 2000, source)).to.equal(BigInt(fitted.width * fitted.height) * 60n);
  });

  it("is 0 for an empty ladder", () => {
    expect(estimateOutputPixels([], 2000)).to.equal(0n);
  });
});

describe("orchestrator pricing: CreditLedger", () => {
  let now: number;
  let ledger: CreditLedger;

  beforeEach(() => {
    now = 1_000_000;
    ledger = new CreditLedger(DAY_MS, () => now);
  });

  it("credits a sender by address in any case, and knows nothing of others", () => {
    ledger.credit(SENDER.toUpperCase().replace("0X", "0x"), 100n);
    ledger.credit(SENDER, 50n);
    expect(ledger.balance(SENDER)).to.equal(150n);
    expect(ledger.available(SENDER.toUpperCase().replace("0X", "0x"))).to.equal(150n);
    expect(ledger.balance(OTHER)).to.equal(0n);
    expect(ledger.available(OTHER)).to.equal(0n);
    expect(ledger.size).to.equal(1);
  });

  it("holds credit out of what is available without changing the balance", () => {
    ledger.credit(SENDER, 100n);
    expect(ledger.hold(SENDER, 60n)).to.equal(true);
    expect(ledger.balance(SENDER)).to.equal(100n);
    expect(ledger.available(SENDER)).to.equal(40n);
  });

  it("refuses a hold larger than what is available and changes nothing", () => {
    ledger.credit(SENDER, 100n);
    ledger.hold(SENDER, 30n);
    expect(ledger.hold(SENDER, 71n)).to.equal(false);
    expect(ledger.balance(SENDER)).to.equal(100n);
    expect(ledger.available(SENDER)).to.equal(70n);
    // Exactly what is available can still be held.
    expect(ledger.hold(SENDER, 70n)).to.equal(true);
    expect(ledger.available(SENDER)).to.equal(0n);
  });

  it("refuses any hold for a sender with no credit, without making it an account", () => {
    expect(ledger.hold(OTHER, 1n)).to.equal(false);
    expect(ledger.available(OTHER)).to.equal(0n);
    expect(ledger.balance(OTHER)).to.equal(0n);
    expect(ledger.size).to.equal(0);
  });

  it("does not let concurrent holds spend the same credit", () => {
    ledger.credit(SENDER, 100n);
    const results = [60n, 60n, 40n, 1n].map((amount) => ledger.hold(SENDER, amount));
    expect(results).to.deep.equal([true, false, true, false]);
    expect(ledger.available(SENDER)).to.equal(0n);
  });

  it("keeps one sender's credit for that sender", () => {
    ledger.credit(SENDER, 100n);
    expect(ledger.hold(OTHER, 50n)).to.equal(false);
    expect(ledger.available(SENDER)).to.equal(100n);
  });

  it("gives a released hold back to what is available", () => {
    ledger.credit(SENDER, 100n);
    ledger.hold(SENDER, 60n);
    ledger.release(SENDER, 60n);
    expect(ledger.available(SENDER)).to.equal(100n);
    expect(ledger.balance(SENDER)).to.equal(100n);
    expect(ledger.hold(SENDER, 100n)).to.equal(true);
  });

  it("settles to the actual fee: the rest of the hold becomes available again", () => {
    ledger.credit(SENDER, 100n);
    ledger.hold(SENDER, 60n);
    ledger.hold(SENDER, 20n);
    expect(ledger.settle(SENDER, 60n, 45n)).to.equal(55n);
    expect(ledger.balance(SENDER)).to.equal(55n);
    expect(ledger.available(SENDER)).to.equal(35n); // 20 still held
  });

  it("settles a fee above the hold, taking the balance below zero", () => {
    ledger.credit(SENDER, 100n);
    ledger.hold(SENDER, 100n);
    expect(ledger.settle(SENDER, 100n, 130n)).to.equal(-30n);
    expect(ledger.balance(SENDER)).to.equal(-30n);
    expect(ledger.available(SENDER)).to.equal(-30n);
    expect(ledger.hold(SENDER, 0n)).to.equal(false);
    // New credit pays the debt first.
    ledger.credit(SENDER, 50n);
    expect(ledger.available(SENDER)).to.equal(20n);
  });

  it("keeps uint256-sized amounts exact", () => {
    ledger.credit(SENDER, MAX_UINT256);
    ledger.credit(SENDER, MAX_UINT256);
    expect(ledger.hold(SENDER, MAX_UINT256 + 1n)).to.equal(true);
    expect(ledger.settle(SENDER, MAX_UINT256 + 1n, 1n)).to.equal(2n * MAX_UINT256 - 1n);
  });

  it("prunes only accounts idle for longer than idleMs", () => {
    ledger.credit(SENDER, 10n);
    now += DAY_MS;
    expect(ledger.prune()).to.equal(0); // exactly idleMs: not yet
    now += 1;
    expect(ledger.prune()).to.equal(1);
    expect(ledger.size).to.equal(0);
    expect(ledger.balance(SENDER)).to.equal(0n);
  });

  it("counts credit, holds and settles as activity, but not reading a balance", () => {
    ledger.credit(SENDER, 100n);
    ledger.credit(OTHER, 100n);
    now += DAY_MS / 2;
    ledger.hold(SENDER, 10n);
    ledger.settle(SENDER, 10n, 10n);
    ledger.balance(OTHER);
    ledger.available(OTHER);
    now += DAY_MS / 2 + 1;
    expect(ledger.prune()).to.equal(1);
    expect(ledger.balance(SENDER)).to.equal(90n);
    expect(ledger.balance(OTHER)).to.equal(0n);
  });

  it("never prunes an account that owes or holds, however idle", () => {
    const HOLDER = "0x" + "aa".repeat(20);
    const DEBTOR = "0x" + "bb".repeat(20);
    const IDLE = "0x" + "cc".repeat(20);
    ledger.credit(HOLDER, 100n);
    ledger.hold(HOLDER, 1n);
    ledger.credit(DEBTOR, 1n);
    ledger.settle(DEBTOR, 0n, 2n);
    ledger.credit(IDLE, 0n);
    now += 10 * DAY_MS;
    expect(ledger.prune()).to.equal(1);
    expect(ledger.size).to.equal(2);
    expect(ledger.available(HOLDER)).to.equal(99n);
    expect(ledger.balance(DEBTOR)).to.equal(-1n);
    expect(ledger.balance(IDLE)).to.equal(0n);
    // Once the hold is released and the debt paid, they go like any other.
    ledger.release(HOLDER, 1n);
    ledger.credit(DEBTOR, 1n);
    now += DAY_MS + 1;
    expect(ledger.prune()).to.equal(2);
    expect(ledger.size).to.equal(0);
  });

  it("forgets idle accounts after a day by default", () => {
    const defaults = new CreditLedger(undefined, () => now);
    defaults.credit(SENDER, 1n);
    now += DAY_MS;
    expect(defaults.prune()).to.equal(0);
    now += 1;
    expect(defaults.prune()).to.equal(1);
  });
});
