/**
 * Why a ticket, or a request for ticket parameters, was refused. Each reason has a stable code (for metrics, logs
 * and the HTTP layer) and a message that says what the operator or the broadcaster can do about it.
 */
export type TicketErrorCode =
  /** A field is not a valid address, uint256 or 32-byte hash. */
  | "TICKET_MALFORMED"
  /** The ticket pays another orchestrator. */
  | "TICKET_WRONG_RECIPIENT"
  /** The signature is malformed, malleated, or not the sender's. */
  | "TICKET_BAD_SIGNATURE"
  /** The recipientRandHash does not match the parameters this orchestrator issued (altered, or another secret). */
  | "TICKET_BAD_RAND_HASH"
  /** The ticket parameters expired (their expirationBlock passed). */
  | "TICKET_PARAMS_EXPIRED"
  /** The creation round is unknown on chain or its block hash is not the ticket's. */
  | "TICKET_BAD_CREATION_ROUND"
  /** The creation round is too old: the broker would refuse the ticket. */
  | "TICKET_ROUND_EXPIRED"
  /** This nonce was already used with these parameters. */
  | "TICKET_NONCE_REPLAYED"
  /** Too many tickets were sent on one set of parameters. */
  | "TICKET_NONCE_LIMIT"
  /** The sender is withdrawing its funds. */
  | "SENDER_UNLOCKING"
  /** The sender's deposit and reserve allowance cannot cover the ticket. */
  | "SENDER_INSUFFICIENT_FUNDS"
  /** The tickets a broadcaster asked for cannot be made from these parameters. */
  | "TICKET_PARAMS_INVALID";

export class TicketError extends Error {
  constructor(
    readonly code: TicketErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "TicketError";
  }
}

/** Formats wei as ETH for messages, exactly (no float). */
export function formatEth(wei: bigint): string {
  const negative = wei < 0n;
  const abs = negative ? -wei : wei;
  const whole = abs / 10n ** 18n;
  const fraction = (abs % 10n ** 18n).toString().padStart(18, "0").replace(/0+$/, "");
  return `${negative ? "-" : ""}${whole}${fraction === "" ? "" : "." + fraction} ETH`;
}
