/** offchain/pm: probabilistic micropayments, pure (no network, disk or clock). See docs/tickets.md. */
export { addressOfPrivateKey, keccak256, nativeCrypto, recoverSigner, signDigest } from "./crypto";
export { TicketError, type TicketErrorCode, formatEth } from "./errors";
export { type FloatInputs, type ReserveState, maxFloat, reserveAllowance } from "./funds";
export { DEFAULT_FACE_VALUE_MULTIPLIER, type FaceValueInputs, faceValueFor, winProbFor } from "./params";
export {
  type RecipientOptions,
  type SenderStanding,
  TicketRecipient,
  type TicketExpiration,
  type TicketParams,
  type ValidTicket,
  type ValidationContext,
} from "./recipient";
export { type SenderOptions, TicketSender, ticketsNeeded } from "./sender";
export {
  MAX_WIN_PROB,
  type SignedTicket,
  TICKET_TYPE,
  TICKET_TYPES,
  type Ticket,
  type TicketDomain,
  TicketFieldError,
  TicketHasher,
  eip712Domain,
  expectedValue,
  isWinningTicket,
  recipientRandHash,
  winProbForEV,
} from "./ticket";
