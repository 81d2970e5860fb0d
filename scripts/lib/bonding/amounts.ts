// Parsing and formatting of what people type and read: token amounts, percentages, lock ids and accounts.
// Everything here is exact (bigint, no floats) and free of I/O so it can be unit-tested without a chain.
import { formatUnits, getAddress, isAddress } from "ethers";

/** A command-line value that cannot be used; the message names the flag and says what to write instead. */
export class InputError extends Error {
  readonly code = "STREAMFLOW_INVALID_INPUT";
  constructor(message: string) {
    super(message);
    this.name = "InputError";
  }
}

/** Both LPT and ETH have 18 decimals. */
export const TOKEN_DECIMALS = 18;
/** Parts per million: 100% = 1,000,000 ppm, the protocol's unit for cuts. */
export const PERC = 1_000_000n;
/** Decimals a percentage may have: 0.0001% is 1 ppm. */
export const PERCENT_DECIMALS = 4;

const MAX_UINT256 = (1n << 256n) - 1n;
const MAX_UINT32 = (1n << 32n) - 1n;
const DECIMAL = /^(\d*)(?:\.(\d*))?$/;

export interface AmountOptions {
  /** The flag the value came from, for messages (`--amount`). */
  flag: string;
  /** "LPT" or "ETH". */
  unit: string;
  /** Whether 0 is a meaningful value here (default false). */
  allowZero?: boolean;
}

/**
 * A decimal amount of tokens ("12.5", "0.000000000000000001", "100") as wei. Rejects negatives, exponents, hex,
 * separators, more than 18 decimals and, unless `allowZero`, zero.
 */
export function parseTokenAmount(text: string, options: AmountOptions): bigint {
  const { flag, unit } = options;
  const trimmed = text.trim();
  if (trimmed.startsWith("-")) {
    throw new InputError(`${flag}: "${text}" is negative; write an amount of ${unit} such as 12.5`);
  }
  const match = DECIMAL.exec(trimmed);
  if (match === null || (match[1] === "" && (match[2] ?? "") === "")) {
    throw new InputError(`${flag}: "${text}" is not an amount of ${unit}; write a decimal number such as 12.5`);
  }
  const whole = match[1] ?? "";
  const fraction = match[2] ?? "";
  if (fraction.length > TOKEN_DECIMALS) {
    throw new InputError(
      `${flag}: "${text}" has ${fraction.length} decimals; ${unit} has at most ${TOKEN_DECIMALS} ` +
        `(1 wei = ${formatUnits(1n, TOKEN_DECIMALS)})`,
    );
  }
  const wei =
    BigInt(whole || "0") * 10n ** BigInt(TOKEN_DECIMALS) + BigInt(fraction.padEnd(TOKEN_DECIMALS, "0") || "0");
  if (wei > MAX_UINT256) throw new InputError(`${flag}: "${text}" is too large`);
  if (wei === 0n && !options.allowZero) throw new InputError(`${flag}: the amount must be more than 0 ${unit}`);
  return wei;
}

/** A percentage ("10", "12.5", "12.5%", "0.0001") as parts per million, 0 to 100% with at most 4 decimals. */
export function parsePercent(text: string, flag: string): bigint {
  const trimmed = text.trim();
  const number = trimmed.endsWith("%") ? trimmed.slice(0, -1).trimEnd() : trimmed;
  if (number.startsWith("-")) throw new InputError(`${flag}: "${text}" is negative; write a percentage from 0 to 100`);
  const match = DECIMAL.exec(number);
  if (match === null || (match[1] === "" && (match[2] ?? "") === "")) {
    throw new InputError(`${flag}: "${text}" is not a percentage; write a number from 0 to 100 such as 12.5`);
  }
  const fraction = match[2] ?? "";
  if (fraction.length > PERCENT_DECIMALS) {
    throw new InputError(
      `${flag}: "${text}" has ${fraction.length} decimals; ` +
        `percentages have at most ${PERCENT_DECIMALS} (0.0001% = 1 ppm)`,
    );
  }
  const ppm =
    BigInt(match[1] || "0") * 10n ** BigInt(PERCENT_DECIMALS) + BigInt(fraction.padEnd(PERCENT_DECIMALS, "0"));
  if (ppm > PERC) throw new InputError(`${flag}: "${text}" is more than 100%`);
  return ppm;
}

/** An unbonding lock id: a whole number the BondingManager stores in 32 bits. */
export function parseLockId(text: string, flag = "--lock"): bigint {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed) || BigInt(trimmed) > MAX_UINT32) {
    throw new InputError(
      `${flag}: "${text}" is not an unbonding lock id (a whole number from 0; \`status\` lists your locks)`,
    );
  }
  return BigInt(trimmed);
}

/** A checksummed address, or an InputError naming the flag. */
export function parseAddress(text: string, flag: string): string {
  const trimmed = text.trim();
  if (!isAddress(trimmed)) throw new InputError(`${flag}: "${text}" is not an address (0x followed by 40 hex digits)`);
  return getAddress(trimmed);
}

/**
 * Which of `accounts` `--from` names: a signer index ("0", "3") or one of their addresses (any case).
 * Default: the first.
 */
export function pickAccount(accounts: readonly string[], from: string | undefined): number {
  if (accounts.length === 0) {
    throw new InputError("no accounts are configured for this network (on a testnet, set DEPLOYER_KEY)");
  }
  if (from === undefined || from.trim() === "") return 0;
  const trimmed = from.trim();
  if (/^\d+$/.test(trimmed)) {
    const index = Number(trimmed);
    if (index >= accounts.length) {
      throw new InputError(
        `--from: there is no signer ${trimmed}; this network has ${accounts.length} (0 to ${accounts.length - 1})`,
      );
    }
    return index;
  }
  if (!isAddress(trimmed)) {
    throw new InputError(`--from: "${from}" is neither a signer index nor an address`);
  }
  const index = accounts.findIndex((account) => account.toLowerCase() === trimmed.toLowerCase());
  if (index < 0) {
    throw new InputError(`--from: ${getAddress(trimmed)} is not one of this network's ${accounts.length} signers`);
  }
  return index;
}

/** Wei as a decimal number of tokens without trailing zeros: 12500000000000000000n -> "12.5", 10n ** 18n -> "1". */
export function formatTokens(wei: bigint): string {
  const text = formatUnits(wei, TOKEN_DECIMALS);
  return text.includes(".") ? text.replace(/0+$/, "").replace(/\.$/, "") : text;
}

export function formatLpt(wei: bigint): string {
  return `${formatTokens(wei)} LPT`;
}

export function formatEth(wei: bigint): string {
  return `${formatTokens(wei)} ETH`;
}

/** Parts per million as a percentage: 125000n -> "12.5%", 1n -> "0.0001%". */
export function formatPercent(ppm: bigint): string {
  const sign = ppm < 0n ? "-" : "";
  const magnitude = ppm < 0n ? -ppm : ppm;
  const scale = 10n ** BigInt(PERCENT_DECIMALS);
  const whole = magnitude / scale;
  const fraction = (magnitude % scale).toString().padStart(PERCENT_DECIMALS, "0").replace(/0+$/, "");
  return `${sign}${whole}${fraction === "" ? "" : `.${fraction}`}%`;
}
