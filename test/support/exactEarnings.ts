/**
 * Exact (unrounded) earnings of a delegator, computed with fractions from the cumulative factors the BondingManager
 * recorded. Stake `s` added in round p grows to `s * CRF_now / CRF_p` and earns `s * (CFF_now - CFF_p) / CRF_p` in
 * fees, where CRF_p/CFF_p are the delegate's factors at the end of round p (docs/bonding.md). The contract rounds
 * every step down, so what it reports may only be a little below these values, never above.
 */

export const PRECISION = 10n ** 27n;

export interface Factors {
  rewardFactor: bigint;
  feeFactor: bigint;
}

/** A non-negative fraction. */
export interface Fraction {
  num: bigint;
  den: bigint;
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

export function fraction(num: bigint, den = 1n): Fraction {
  const g = gcd(num, den);
  return g > 1n ? { num: num / g, den: den / g } : { num, den };
}

export function addFractions(a: Fraction, b: Fraction): Fraction {
  return fraction(a.num * b.den + b.num * a.den, a.den * b.den);
}

/** `a * num / den`, exactly. */
export function scale(a: Fraction, num: bigint, den: bigint): Fraction {
  return fraction(a.num * num, a.den * den);
}

export function floorOf(a: Fraction): bigint {
  return a.num / a.den;
}

/**
 * The delegate's factors at `round`: those of its latest earnings pool written in `round` or before (the starting
 * factors if none). For a past round these are its closing factors; for the current round, the factors so far.
 */
export type FactorLookup = (delegate: string, round: bigint) => Factors;

interface Tranche {
  delegate: string;
  amount: Fraction;
  /** Added in this round; earns from the next one. */
  round: bigint;
}

/** One delegator's stake and fees without rounding, fed the same bonds as the real account. */
export class ExactDelegator {
  private tranches: Tranche[] = [];
  private settledFees: Fraction = fraction(0n);

  /** `amount` bonded to `delegate` in `round`. */
  bond(delegate: string, amount: bigint, round: bigint): void {
    this.tranches.push({ delegate, amount: fraction(amount), round });
  }

  /** The whole stake, valued now (this round's earnings so far included), moves to `delegate` with `amount` more. */
  move(delegate: string, amount: bigint, round: bigint, factorsAt: FactorLookup): void {
    const { stake, fees } = this.value(round, factorsAt);
    this.settledFees = fees;
    this.tranches = [{ delegate, amount: addFractions(stake, fraction(amount)), round }];
  }

  /** Stake and fees as of the current round `round` (what `pendingStake`/`pendingFees(addr, round)` report). */
  value(round: bigint, factorsAt: FactorLookup): { stake: Fraction; fees: Fraction } {
    let stake = fraction(0n);
    let fees = this.settledFees;
    for (const t of this.tranches) {
      if (t.round >= round) {
        stake = addFractions(stake, t.amount);
        continue;
      }
      const start = factorsAt(t.delegate, t.round);
      const end = factorsAt(t.delegate, round);
      stake = addFractions(stake, scale(t.amount, end.rewardFactor, start.rewardFactor));
      fees = addFractions(fees, scale(t.amount, end.feeFactor - start.feeFactor, start.rewardFactor));
    }
    return { stake, fees };
  }
}

function ceilDiv(a: bigint, b: bigint): bigint {
  return (a + b - 1n) / b;
}

/**
 * How far below its exact stake and fees a delegator may be after `settlements` settlements of its own (plus the
 * view's own rounding), given the current factors of every delegate it used. Each settlement rounds at most two
 * tranches (settled and pending) down by under a wei of stake and under a wei of fees each; a wei of stake lost
 * early then misses the growth since (at most the reward factors' growth from 1) and the fees since (at most the
 * fee factors per unit of stake).
 */
export function roundingAllowance(settlements: bigint, current: Factors[]): { stake: bigint; fees: bigint } {
  const steps = 3n * (settlements + 1n);
  const growth = current.reduce((g, f) => g * ceilDiv(f.rewardFactor, PRECISION), 1n);
  const feesPerStake = current.reduce((sum, f) => sum + ceilDiv(f.feeFactor, PRECISION), 0n);
  const stake = steps * growth;
  return { stake, fees: steps + stake * feesPerStake };
}
