/**
 * The numbers in the ticket parameters an orchestrator offers: a face value worth redeeming at the current gas
 * price, capped by what the sender can actually pay, and the win probability that gives the asked-for expected
 * value.
 */
import { TicketError, formatEth } from "./errors";
import { winProbForEV } from "./ticket";

export interface FaceValueInputs {
  /** wei per gas the redemption is expected to cost */
  gasPrice: bigint;
  /** gas a redemption uses (the gas snapshot measures it) */
  redeemGas: bigint;
  /** face value as a multiple of the redemption's cost, so that redeeming costs a small fraction (default 100) */
  multiplier?: bigint;
  /** `maxFloat(...)` for this sender */
  maxFloat: bigint;
  /** for messages */
  sender: string;
}

export const DEFAULT_FACE_VALUE_MULTIPLIER = 100n;

/**
 * `multiplier * redeemGas * gasPrice`, capped by the sender's max float. Refuses only when even the capped value
 * would not pay for its own redemption: a later gas spike does not invalidate parameters already issued, because
 * validation checks tickets against the parameters, not against the gas price.
 */
export function faceValueFor(inputs: FaceValueInputs): bigint {
  const multiplier = inputs.multiplier ?? DEFAULT_FACE_VALUE_MULTIPLIER;
  if (inputs.gasPrice <= 0n || inputs.redeemGas <= 0n || multiplier <= 0n) {
    // The face value is a multiple of the redemption's cost: with a free redemption there is nothing to scale.
    throw new RangeError("gasPrice, redeemGas and multiplier must be positive");
  }
  const redeemCost = inputs.redeemGas * inputs.gasPrice;
  const wanted = multiplier * redeemCost;
  const faceValue = wanted < inputs.maxFloat ? wanted : inputs.maxFloat;
  if (faceValue === 0n || faceValue <= redeemCost) {
    throw new TicketError(
      "SENDER_INSUFFICIENT_FUNDS",
      `sender ${inputs.sender} can back at most ${formatEth(inputs.maxFloat)} per ticket to this orchestrator ` +
        `(its deposit plus its reserve allowance, less tickets pending redemption), and a redemption costs ` +
        `${formatEth(redeemCost)} at the current gas price: the broadcaster must add to its deposit or reserve ` +
        `(\`npx hardhat fund --deposit <ETH>\`) before this orchestrator can take its work`,
    );
  }
  return faceValue;
}

/** The winProb for a face value and the expected value per ticket the orchestrator asks for. */
export function winProbFor(faceValue: bigint, ev: bigint): bigint {
  if (ev <= 0n) throw new RangeError("the expected value per ticket must be positive");
  return winProbForEV(ev, faceValue);
}
