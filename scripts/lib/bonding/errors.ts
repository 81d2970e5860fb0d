// Reverts in plain words. A failed call carries the revert data somewhere in the provider's error; it is decoded
// against the custom errors of every protocol contract (a call into the BondingManager can fail in the token or the
// Minter) and each known error becomes a sentence that says what to do. An error two contracts declare alike
// (CurrentRoundNotInitialized) has one selector, so it has one sentence that fits both. No I/O: the ABIs come in as
// arguments.
import { AbiCoder, ErrorFragment, Interface, type InterfaceAbi, type Result, dataSlice, isHexString } from "ethers";

import { formatEth, formatLpt, formatPercent } from "./amounts";

export interface DecodedRevert {
  /** The error's name (`CurrentRoundNotInitialized`), or `Error`/`Panic` for the built-in ones. */
  name: string;
  /** Its arguments in order: bigint, string (addresses, strings, hex bytes) or boolean. */
  args: unknown[];
}

export interface ErrorContext {
  /** The network the tasks run on, for commands the message suggests (`--network localhost`). */
  network: string;
}

const ERROR_STRING = "0x08c379a0"; // Error(string)
const PANIC = "0x4e487b71"; // Panic(uint256)

const PANIC_REASONS: Record<string, string> = {
  "1": "an assertion failed",
  "17": "arithmetic overflow or underflow",
  "18": "division by zero",
  "33": "an invalid enum value",
  "34": "invalid storage data",
  "49": "pop from an empty array",
  "50": "an array index out of bounds",
  "65": "too much memory allocated",
  "81": "a call to an uninitialized function",
};

/** One interface holding every custom error of `abis` (errors shared through IManager appear once). */
export function errorInterface(abis: readonly InterfaceAbi[]): Interface {
  const bySelector = new Map<string, ErrorFragment>();
  for (const abi of abis) {
    for (const fragment of new Interface(abi).fragments) {
      if (fragment instanceof ErrorFragment && !bySelector.has(fragment.selector)) {
        bySelector.set(fragment.selector, fragment);
      }
    }
  }
  return new Interface([...bySelector.values()]);
}

/**
 * The revert data carried by an error from ethers, hardhat-ethers or a JSON-RPC node, wherever it sits (`data`,
 * `data.data`, `error.data`, `info.error.data`, the `parent`/`cause` chain). Undefined when there is none.
 */
export function revertDataOf(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  const visit = (value: unknown, depth: number): string | undefined => {
    if (value === null || typeof value !== "object" || seen.has(value) || depth > 6) return undefined;
    seen.add(value);
    const record = value as Record<string, unknown>;
    const data = record.data;
    if (typeof data === "string" && isHexString(data) && (data === "0x" || data.length >= 10)) return data;
    for (const key of ["data", "error", "info", "parent", "cause", "receipt"]) {
      const found = visit(record[key], depth + 1);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  return visit(error, 0);
}

function plain(value: unknown): unknown {
  if (typeof value === "object" && value !== null && "toArray" in value) {
    return (value as Result).toArray().map(plain);
  }
  return value;
}

/** Decodes revert data into the error's name and arguments; undefined when the selector is unknown. */
export function decodeRevert(data: string, errors: Interface): DecodedRevert | undefined {
  if (data.length < 10) return undefined;
  const selector = dataSlice(data, 0, 4);
  try {
    if (selector === ERROR_STRING) {
      return { name: "Error", args: [AbiCoder.defaultAbiCoder().decode(["string"], dataSlice(data, 4))[0]] };
    }
    if (selector === PANIC) {
      return { name: "Panic", args: [AbiCoder.defaultAbiCoder().decode(["uint256"], dataSlice(data, 4))[0]] };
    }
    const parsed = errors.parseError(data);
    if (parsed === null) return undefined;
    return { name: parsed.name, args: parsed.args.toArray().map(plain) };
  } catch {
    return undefined;
  }
}

function formatArg(value: unknown): string {
  if (typeof value === "string") return value.startsWith("0x") ? value : JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(formatArg).join(", ")}]`;
  return String(value);
}

/** `Name(arg, arg)`: the fallback for errors without a sentence. */
export function formatRevert(decoded: DecodedRevert): string {
  return `${decoded.name}(${decoded.args.map(formatArg).join(", ")})`;
}

function rounds(count: bigint): string {
  return count === 1n ? "1 round" : `${count} rounds`;
}

/** A sentence for a decoded revert: what went wrong and, where there is one, what to do about it. */
export function describeRevert(decoded: DecodedRevert, context: ErrorContext): string {
  const network = `--network ${context.network}`;
  const a = decoded.args;
  const big = (index: number) => a[index] as bigint;
  const text = (index: number) => String(a[index]);
  switch (decoded.name) {
    // Rounds
    case "CurrentRoundNotInitialized":
      return `round ${big(0)} has not been initialized yet: run \`npx hardhat initialize-round ${network}\``;
    case "RoundAlreadyInitialized":
      return `round ${big(0)} is already initialized`;
    case "RoundLocked":
      return (
        `round ${big(0)} is in its lock period (its last blocks), when the reward cut and fee share cannot ` +
        `change: try again once round ${big(0) + 1n} has started and is initialized`
      );
    case "RoundOutOfRange":
      return `round ${big(0)} is past the last round the BondingManager can store (2^32 - 2)`;
    // Bonding
    case "ZeroAmount":
      return "the amount must be more than zero";
    case "ZeroDelegate":
      return "stake cannot be delegated to the zero address";
    case "TranscoderCannotChangeDelegate":
      return (
        `${text(0)} is a registered orchestrator and stays bonded to itself: ` +
        "it cannot delegate to anyone else unless it unbonds everything first"
      );
    case "InsufficientBondedAmount":
      return (
        `cannot unbond ${formatLpt(big(0))}: only ${formatLpt(big(1))} is bonded ` +
        "(rewards earned this round can be unbonded from the next round)"
      );
    case "NotBonded":
      return (
        `${text(0)} has nothing bonded: ` +
        `bond first with \`npx hardhat bond --amount <LPT> --to <address> ${network}\``
      );
    case "AlreadyBonded":
      return `${text(0)} is still bonded: rebond without --to, and the lock goes back to the current delegate`;
    case "UnbondingLockNotFound":
      return (
        `${text(0)} has no unbonding lock ${big(1)} (never created, or already rebonded or withdrawn): ` +
        `\`npx hardhat status ${network}\` lists the locks`
      );
    case "UnbondingLockNotWithdrawable": {
      const [lockId, withdrawRound, currentRound] = [big(0), big(1), big(2)];
      return (
        `unbonding lock ${lockId} becomes withdrawable in round ${withdrawRound}; ` +
        `it is round ${currentRound} (${rounds(withdrawRound - currentRound)} to go)`
      );
    }
    // Orchestrators
    case "InvalidRewardCut":
      return `a reward cut of ${formatPercent(big(0))} is more than 100%`;
    case "InvalidFeeShare":
      return `a fee share of ${formatPercent(big(0))} is more than 100%`;
    case "NotSelfBonded":
      return (
        `${text(0)} is not bonded to itself: an orchestrator needs its own stake ` +
        "(pass --amount <LPT> to register to bond it first)"
      );
    case "TranscoderNotActive":
      return (
        `${text(0)} is not an active orchestrator in round ${big(1)} ` +
        "(an orchestrator is active from the round after it joins the pool, until it leaves)"
      );
    case "RewardAlreadyMinted":
      return (
        `${text(0)} already minted its reward for round ${big(1)}; ` +
        `the next one can be minted in round ${big(1) + 1n}`
      );
    // Earnings and fees
    case "InsufficientFees":
      return `cannot withdraw ${formatEth(big(0))} of fees: only ${formatEth(big(1))} can be withdrawn now`;
    case "ZeroRecipient":
      return "fees cannot be sent to the zero address";
    case "InvalidEndRound":
      return `earnings can be settled only up to the current round ${big(1)}, not round ${big(0)}`;
    case "EarningsFactorsUnavailable":
      return `the earnings of ${text(0)} at round ${big(1)} are no longer known; ask about the current round instead`;
    // Tickets: senders
    case "ZeroFunding":
      return "funding needs ETH: the amount must be more than zero";
    case "FundingMismatch":
      return (
        `${formatEth(big(0))} was sent, not the ${formatEth(big(1))} of deposit plus ` +
        `${formatEth(big(2))} of reserve it had to match`
      );
    case "NoFunds":
      return (
        `${text(0)} has no deposit or reserve: ` +
        `fund first with \`npx hardhat fund --deposit <ETH> --reserve <ETH> ${network}\``
      );
    case "UnlockInProgress":
      return (
        `${text(0)} has already unlocked its funds; they can be withdrawn from round ${big(1)} ` +
        `(\`npx hardhat cancel-unlock ${network}\` cancels the unlock)`
      );
    case "NoUnlockInProgress":
      return (
        `${text(0)} has no unlock in progress: ` +
        `start one with \`npx hardhat unlock-funds ${network}\`, then withdraw when it is over`
      );
    case "FundsLocked": {
      const [withdrawRound, currentRound] = [big(1), big(2)];
      return (
        `the funds of ${text(0)} unlock in round ${withdrawRound}; ` +
        `it is round ${currentRound} (${rounds(withdrawRound - currentRound)} to go)`
      );
    }
    case "SenderUnlocked":
      return (
        `${text(0)} unlocked its funds, withdrawable since round ${big(1)}: its tickets no longer pay ` +
        "(the sender can fund again to make them pay)"
      );
    case "NothingToPay":
      return (
        `${text(0)} can pay ${text(1)} nothing now: its deposit is empty and its reserve allowance for ` +
        `${text(1)} this round is used up; the ticket stays unused and can be redeemed once the sender funds again ` +
        "(while the ticket is valid)"
      );
    // Tickets: redemption
    case "BatchLengthMismatch":
      return (
        `the batch has ${big(0)} tickets, ${big(1)} signatures and ${big(2)} recipient rands: ` +
        "it needs one of each per ticket"
      );
    case "CallerNotRecipient":
      return `${text(0)} cannot redeem a ticket that pays ${text(1)}: only a ticket's recipient may redeem it`;
    case "InvalidCreationRoundBlockHash":
      return (
        `the ticket's creation round ${big(0)} was never initialized or its block hash is not ${text(1)}: ` +
        "ask the orchestrator for fresh ticket parameters"
      );
    case "TicketExpired":
      return (
        `the ticket was created in round ${big(0)} and could be redeemed only before round ${big(1)}: ` +
        "it has expired"
      );
    case "InvalidRecipientRand":
      return `the recipient's secret does not hash to the ticket's recipientRandHash ${text(0)}`;
    case "TicketUsed":
      return `the ticket ${text(0)} has already been redeemed`;
    case "InvalidSenderSignature":
      return `the ticket's signature is malformed or was not made by its sender ${text(0)}`;
    case "TicketNotWinning":
      return "the ticket did not win: only winning tickets can be redeemed";
    // Tickets: governance
    case "InvalidPeriod":
      return `a period of ${big(0)} rounds is not allowed: it must be at least 1 round and fit in 32 bits`;
    // Minter
    case "InsufficientETH":
      return `the Minter holds ${formatEth(big(1))}, less than the ${formatEth(big(0))} requested`;
    case "ETHTransferFailed":
      return `sending ${formatEth(big(1))} to ${text(0)} failed: the recipient does not accept ETH`;
    // Token
    case "ERC20InsufficientBalance":
      return `${text(0)} holds ${formatLpt(big(1))}, less than the ${formatLpt(big(2))} needed`;
    case "ERC20InsufficientAllowance":
      return `the LPT allowance of ${text(0)} is ${formatLpt(big(1))}, less than the ${formatLpt(big(2))} needed`;
    case "SafeERC20FailedOperation":
      return `a transfer of the token at ${text(0)} failed`;
    // Every manager
    case "SystemIsPaused":
      return "the protocol is paused by its owner: no state can change until it is unpaused";
    case "SystemIsNotPaused":
      return "this is only allowed while the protocol is paused";
    case "CallerNotControllerOwner":
      return `${text(0)} is not the Controller's owner, who alone may do this`;
    case "CallerNotManager":
      return `${text(0)} is not the protocol contract allowed to do this`;
    case "ContractNotRegistered":
      return `a protocol contract (id ${text(0)}) is not registered in the Controller: is the deployment complete?`;
    case "SafeCastOverflowedUintDowncast":
      return `the value ${big(1)} does not fit in ${big(0)} bits`;
    // Built in
    case "Error":
      return `reverted: ${text(0)}`;
    case "Panic":
      return `panic: ${PANIC_REASONS[text(0)] ?? `code ${text(0)}`}`;
    default:
      return `reverted with ${formatRevert(decoded)}`;
  }
}

/**
 * The one line a user sees for a failed call or transaction: the revert in plain words when the error carries revert
 * data, else the provider's own short message.
 */
export function describeFailure(error: unknown, errors: Interface, context: ErrorContext): string {
  const data = revertDataOf(error);
  if (data !== undefined) {
    if (data === "0x") return "the call reverted without a reason";
    const decoded = decodeRevert(data, errors);
    if (decoded !== undefined) return describeRevert(decoded, context);
    const selector = dataSlice(data, 0, 4);
    return `the call reverted with an error none of the protocol contracts declares (selector ${selector})`;
  }
  if (error instanceof Error) {
    const short = (error as Error & { shortMessage?: unknown }).shortMessage;
    const message = typeof short === "string" ? short : error.message;
    // One line: Hardhat's own errors wrap their advice onto a second line ("Please make sure your node is running").
    const line = message
      .split("\n")
      .map((part) => part.trim())
      .filter((part) => part !== "")
      .join(" ");
    return line.length > 400 ? `${line.slice(0, 397)}...` : line;
  }
  return String(error);
}
