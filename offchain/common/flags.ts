/**
 * Flag parsers and the flags every daemon shares (its HTTP port's limits). Parsing and validation only.
 */
import { type Command, InvalidArgumentError, Option } from "commander";

import { DEFAULT_HTTP_LIMITS, type HttpLimits } from "./http";

export function positiveInt(flag: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < 1)
      throw new InvalidArgumentError(`${flag} must be a positive integer.`);
    return Number(value);
  };
}

/** Seconds on the command line, milliseconds in the config. */
export function seconds(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${flag} must be a number of seconds above 0.`);
    return Math.round(n * 1000);
  };
}

export interface HttpLimitFlags {
  httpHeadersTimeout: number;
  httpRequestTimeout: number;
  httpMaxConnections: number;
  httpMaxConnectionsPerIp: number;
}

export function httpLimitOptions(command: Command): Command {
  const d = DEFAULT_HTTP_LIMITS;
  return command
    .addOption(
      new Option("--http-headers-timeout <seconds>", "a client must send its request headers within this")
        .argParser(seconds("--http-headers-timeout"))
        .default(d.headersTimeoutMs, String(d.headersTimeoutMs / 1000)),
    )
    .addOption(
      new Option("--http-request-timeout <seconds>", "a client must send its whole request (body too) within this")
        .argParser(seconds("--http-request-timeout"))
        .default(d.requestTimeoutMs, String(d.requestTimeoutMs / 1000)),
    )
    .addOption(
      new Option("--http-max-connections <n>", "open HTTP connections in all; more are closed on arrival")
        .argParser(positiveInt("--http-max-connections"))
        .default(d.maxConnections),
    )
    .addOption(
      new Option("--http-max-connections-per-ip <n>", "open HTTP connections from one address")
        .argParser(positiveInt("--http-max-connections-per-ip"))
        .default(d.maxConnectionsPerAddress),
    );
}

/** The limits the flags give (createHttpApp checks them together at start-up). */
export function httpLimitsOf(flags: HttpLimitFlags): HttpLimits {
  return {
    headersTimeoutMs: flags.httpHeadersTimeout,
    requestTimeoutMs: flags.httpRequestTimeout,
    maxConnections: flags.httpMaxConnections,
    maxConnectionsPerAddress: flags.httpMaxConnectionsPerIp,
  };
}
