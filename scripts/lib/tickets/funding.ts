// What `fund` sends: the amounts from --deposit and --reserve, exact, and which TicketBroker function takes them.
// Pure, so it is tested without a chain.
import { InputError, parseTokenAmount } from "../bonding/amounts";

export interface Funding {
  /** Wei added to the deposit (0 when --deposit is not given). */
  deposit: bigint;
  /** Wei added to the reserve (0 when --reserve is not given). */
  reserve: bigint;
}

/** --deposit and --reserve as wei: either or both, each more than zero. */
export function parseFunding(args: { deposit?: string; reserve?: string }): Funding {
  if (args.deposit === undefined && args.reserve === undefined) {
    throw new InputError(
      "fund: say how much ETH to add with --deposit <ETH>, --reserve <ETH> or both (e.g. --deposit 1.5 --reserve 0.5)",
    );
  }
  const amount = (text: string | undefined, flag: string) =>
    text === undefined ? 0n : parseTokenAmount(text, { flag, unit: "ETH" });
  return { deposit: amount(args.deposit, "--deposit"), reserve: amount(args.reserve, "--reserve") };
}

export type FundingCall =
  | { method: "fundDeposit"; args: []; value: bigint }
  | { method: "fundReserve"; args: []; value: bigint }
  | { method: "fundDepositAndReserve"; args: [bigint, bigint]; value: bigint };

/** The one call that adds `funding`: `fundDepositAndReserve` only when both parts are given. */
export function fundingCall({ deposit, reserve }: Funding): FundingCall {
  if (reserve === 0n) return { method: "fundDeposit", args: [], value: deposit };
  if (deposit === 0n) return { method: "fundReserve", args: [], value: reserve };
  return { method: "fundDepositAndReserve", args: [deposit, reserve], value: deposit + reserve };
}
