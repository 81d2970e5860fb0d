import fs from "node:fs";
import path from "node:path";
import { parseEther } from "ethers";

/** Protocol parameters a deployment is made with (shared/design/protocol.md, "Parameters"). */
export interface ProtocolParams {
  /** LPT (wei) minted to the genesis holder when the token is created. */
  genesisSupply: bigint;
  roundLength: bigint;
  roundLockAmount: bigint;
  unbondingPeriod: bigint;
  numActiveTranscoders: bigint;
  inflation: bigint;
  inflationChange: bigint;
  targetBondingRate: bigint;
  unlockPeriod: bigint;
  ticketValidityPeriod: bigint;
  /** ETH (wei) a challenger bonds to open a dispute. */
  disputeBond: bigint;
  commitPeriod: bigint;
  revealPeriod: bigint;
  committeeSize: bigint;
  quorum: bigint;
  faultSlashAmount: bigint;
  finderFee: bigint;
  verifierSlashAmount: bigint;
  /** Rounds between `deregisterVerifier` and `withdrawVerifierStake`. */
  verifierUnlockPeriod: bigint;
}

type Kind = "lpt" | "eth" | "ppm" | "ppb" | "count";

const PERC = 1_000_000n;
const PPB = 1_000_000_000n;

/** Every parameter, its unit, and the smallest value that makes sense. */
const SCHEMA: Record<keyof ProtocolParams, { kind: Kind; min: bigint }> = {
  genesisSupply: { kind: "lpt", min: 0n },
  roundLength: { kind: "count", min: 1n },
  roundLockAmount: { kind: "ppm", min: 0n },
  unbondingPeriod: { kind: "count", min: 1n },
  numActiveTranscoders: { kind: "count", min: 1n },
  inflation: { kind: "count", min: 0n },
  inflationChange: { kind: "ppb", min: 0n },
  targetBondingRate: { kind: "ppb", min: 0n },
  unlockPeriod: { kind: "count", min: 1n },
  ticketValidityPeriod: { kind: "count", min: 1n },
  disputeBond: { kind: "eth", min: 0n },
  commitPeriod: { kind: "count", min: 1n },
  revealPeriod: { kind: "count", min: 1n },
  committeeSize: { kind: "count", min: 1n },
  quorum: { kind: "count", min: 1n },
  faultSlashAmount: { kind: "ppm", min: 0n },
  finderFee: { kind: "ppm", min: 0n },
  verifierSlashAmount: { kind: "ppm", min: 0n },
  verifierUnlockPeriod: { kind: "count", min: 1n },
};

export class ParamsError extends Error {
  readonly code = "STREAMFLOW_INVALID_PARAMS";
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid protocol parameters in ${source}:\n  - ${problems.join("\n  - ")}`);
    this.name = "ParamsError";
  }
}

function parseValue(raw: unknown, kind: Kind): bigint {
  if (kind === "lpt" || kind === "eth") {
    // Whole tokens as a decimal string ("12.5"), so no float ever touches an amount.
    if (typeof raw !== "string" || !/^\d+(\.\d{1,18})?$/.test(raw)) {
      throw new Error(`expected a decimal string of ${kind === "lpt" ? "LPT" : "ETH"}, e.g. "12.5"`);
    }
    return parseEther(raw);
  }
  if (typeof raw === "number" && Number.isSafeInteger(raw)) return BigInt(raw);
  if (typeof raw === "string" && /^\d+$/.test(raw)) return BigInt(raw);
  throw new Error("expected a non-negative integer");
}

/** Validates a parameter object (as read from JSON) and converts it to bigints. Lists every problem at once. */
export function parseProtocolParams(input: unknown, source: string): ProtocolParams {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new ParamsError(source, ["expected a JSON object"]);
  }
  const record = input as Record<string, unknown>;
  const problems: string[] = [];
  const params = {} as ProtocolParams;

  for (const [name, { kind, min }] of Object.entries(SCHEMA) as [
    keyof ProtocolParams,
    (typeof SCHEMA)[keyof ProtocolParams],
  ][]) {
    if (!(name in record)) {
      problems.push(`${name}: missing`);
      continue;
    }
    try {
      const value = parseValue(record[name], kind);
      const max = kind === "ppm" ? PERC : kind === "ppb" ? PPB : undefined;
      if (value < min) problems.push(`${name}: ${value} is below the minimum ${min}`);
      else if (max !== undefined && value > max) problems.push(`${name}: ${value} exceeds ${max} (${kind})`);
      else params[name] = value;
    } catch (error) {
      problems.push(`${name}: ${(error as Error).message}, got ${JSON.stringify(record[name])}`);
    }
  }
  for (const name of Object.keys(record)) {
    if (!(name in SCHEMA) && !name.startsWith("$")) problems.push(`${name}: unknown parameter (a typo?)`);
  }
  if (params.quorum !== undefined && params.committeeSize !== undefined && params.quorum > params.committeeSize) {
    problems.push(`quorum: ${params.quorum} exceeds committeeSize ${params.committeeSize}`);
  }
  if (problems.length > 0) throw new ParamsError(source, problems);
  return params;
}

/** The parameter file a network deploys with unless DEPLOY_PARAMS names another. */
export function defaultParamsFile(networkName: string, root: string): string {
  const profile = networkName === "hardhat" || networkName === "localhost" ? "local" : "testnet";
  return path.join(root, "deployments", "params", `${profile}.json`);
}

export function loadProtocolParams(file: string): ProtocolParams {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new ParamsError(file, [`cannot read the file: ${(error as Error).message}`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ParamsError(file, [`not valid JSON: ${(error as Error).message}`]);
  }
  return parseProtocolParams(json, file);
}

/** Parameters as JSON-safe strings, for the deployment record. */
export function serializeParams(params: ProtocolParams): Record<string, string> {
  return Object.fromEntries(Object.entries(params).map(([name, value]) => [name, value.toString()]));
}
