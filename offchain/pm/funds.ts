/**
 * What a sender can pay one recipient: the broker's reserve split, reproduced exactly, and the max float built on
 * it. Inputs are what `TicketBroker.getSenderInfo`, `claimedReserve` and `BondingManager.currentRoundPoolSize`
 * return; the caller reads them and tracks its own tickets pending redemption.
 */

export interface ReserveState {
  /** `getSenderInfo(sender).reserve.fundsRemaining` */
  fundsRemaining: bigint;
  /** `getSenderInfo(sender).reserve.claimedInCurrentRound` */
  claimedInCurrentRound: bigint;
  /** `BondingManager.currentRoundPoolSize()`: the orchestrators active this round */
  poolSize: bigint;
  /** `claimedReserve(sender, recipient, currentRound)` */
  claimedByRecipient: bigint;
}

/**
 * What the recipient may still draw from the reserve this round, as the broker computes it: an equal share of the
 * reserve as it stood before this round's claims (rounded down), less what the recipient drew, at most the funds
 * remaining. Zero with an empty pool.
 */
export function reserveAllowance(reserve: ReserveState): bigint {
  const { fundsRemaining, claimedInCurrentRound, poolSize, claimedByRecipient } = reserve;
  if (poolSize <= 0n || fundsRemaining <= 0n) return 0n;
  const share = (fundsRemaining + claimedInCurrentRound) / poolSize;
  if (share <= claimedByRecipient) return 0n;
  const allowance = share - claimedByRecipient;
  return allowance < fundsRemaining ? allowance : fundsRemaining;
}

export interface FloatInputs {
  /** `getSenderInfo(sender).sender.deposit` */
  deposit: bigint;
  /** `reserveAllowance(...)`, or the broker's `claimableReserve(sender, recipient)` */
  reserveAllowance: bigint;
  /** Face value of this sender's winning tickets the recipient holds but has not redeemed yet */
  pendingFaceValue: bigint;
}

/**
 * The most the recipient can count on being paid by the sender: `reserve / poolSize - claimed` plus the deposit,
 * minus tickets pending redemption. Never negative.
 */
export function maxFloat({ deposit, reserveAllowance, pendingFaceValue }: FloatInputs): bigint {
  const float = deposit + reserveAllowance - pendingFaceValue;
  return float > 0n ? float : 0n;
}
