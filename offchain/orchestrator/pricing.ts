/**
 * What a segment costs and who has paid for what: the price per pixel, the credit a segment needs before work starts,
 * and each broadcaster's balance (EV of accepted tickets in, fees out). Pure: no clock except the one passed in.
 */
import type { Rendition } from "../media/ladder";
import { fitRendition } from "../media/ladder";
import type { PriceInfo } from "./wire";

/** `ceil(pixels * pricePerUnit / pixelsPerUnit)`: rounding favours the orchestrator, never by more than 1 wei. */
export function feeFor(pixels: bigint, price: PriceInfo): bigint {
  if (pixels <= 0n) return 0n;
  return (pixels * price.pricePerUnit + price.pixelsPerUnit - 1n) / price.pixelsPerUnit;
}

export interface SourceShape {
  width: number;
  height: number;
  fps: number;
  sampleAspect?: number;
}

/**
 * The most output pixels a segment can produce: per rendition width × height × frames over the duration. With the
 * source's shape known, the renditions are fitted to it exactly as the transcoder will (no upscaling); without it,
 * each rendition's box is the bound. The broadcaster computes the same number to know what to pay in advance.
 */
export function estimateOutputPixels(
  renditions: readonly Rendition[],
  durationMs: number,
  source?: SourceShape,
): bigint {
  let total = 0n;
  for (const r of renditions) {
    const fitted = source ? fitRendition(r, source) : { width: r.width, height: r.height, fps: r.fps };
    const frames = Math.ceil((fitted.fps * durationMs) / 1000);
    total += BigInt(fitted.width) * BigInt(fitted.height) * BigInt(frames);
  }
  return total;
}

interface Account {
  balance: bigint;
  /** Fees held for segments in flight (estimated), released or settled when they finish. */
  held: bigint;
  touchedAt: number;
}

/**
 * Credit per broadcaster. A segment is admitted only if the balance, after crediting its tickets, covers its
 * estimated fee; the estimate is held while it is transcoded (so concurrent segments cannot spend the same credit)
 * and settled to the actual fee afterwards, or released if the work fails.
 */
export class CreditLedger {
  private readonly accounts = new Map<string, Account>();

  constructor(
    /** Idle accounts with no debt are forgotten after this long (their credit is small: a ticket's EV or so). */
    private readonly idleMs = 24 * 3600_000,
    private readonly clock: () => number = Date.now,
  ) {}

  private account(sender: string): Account {
    const key = sender.toLowerCase();
    let a = this.accounts.get(key);
    if (!a) {
      a = { balance: 0n, held: 0n, touchedAt: this.clock() };
      this.accounts.set(key, a);
    }
    a.touchedAt = this.clock();
    return a;
  }

  credit(sender: string, amount: bigint): void {
    this.account(sender).balance += amount;
  }

  /** Balance less what is held for segments in flight. */
  available(sender: string): bigint {
    const a = this.accounts.get(sender.toLowerCase());
    return a ? a.balance - a.held : 0n;
  }

  balance(sender: string): bigint {
    return this.accounts.get(sender.toLowerCase())?.balance ?? 0n;
  }

  /** Holds `amount` if available; false (nothing held) otherwise. */
  hold(sender: string, amount: bigint): boolean {
    // A refusal creates nothing: senders without credit must not grow the table.
    if (this.available(sender) < amount) return false;
    const a = this.account(sender);
    a.held += amount;
    return true;
  }

  release(sender: string, held: bigint): void {
    const a = this.account(sender);
    a.held -= held;
  }

  /** Releases the hold and debits the actual fee (which may exceed the hold: the balance then goes negative). */
  settle(sender: string, held: bigint, fee: bigint): bigint {
    const a = this.account(sender);
    a.held -= held;
    a.balance -= fee;
    return a.balance;
  }

  /** Forgets idle accounts that owe nothing and hold nothing; returns how many. */
  prune(): number {
    const cutoff = this.clock() - this.idleMs;
    let dropped = 0;
    for (const [key, a] of this.accounts) {
      if (a.touchedAt < cutoff && a.held === 0n && a.balance >= 0n) {
        this.accounts.delete(key);
        dropped++;
      }
    }
    return dropped;
  }

  get size(): number {
    return this.accounts.size;
  }
}
