/**
 * The broadcaster ↔ orchestrator wire format (docs/orchestrator-api.md): header names, the JSON carried in them,
 * the messages the broadcaster signs, and the multipart response. Pure: both sides (the orchestrator's server, the
 * broadcaster's client, tests and benchmarks) encode and decode through this one module.
 */
import { keccak256, recoverSigner } from "../pm/crypto";
import type { TicketParams } from "../pm/recipient";
import { type SignedTicket, TicketFieldError, fromHex } from "../pm/ticket";
import { type Rendition, renditionFromJson, validateLadder } from "../media/ladder";
import { MediaError } from "../media/errors";
import type { RenditionMetadata } from "../media/transcode";

export const API_VERSION = 1;

/** Request headers (lower case, as Node presents them). */
export const HEADERS = {
  /** GET /info: the broadcaster's address, a unix time in seconds, and its signature over `infoRequestMessage`. */
  broadcaster: "streamflow-broadcaster",
  timestamp: "streamflow-timestamp",
  signature: "streamflow-signature",
  /** POST /segment: the auth token from /info. */
  auth: "streamflow-auth",
  /** POST /segment: SegmentMetadata as JSON, and the broadcaster's signature over exactly those characters. */
  segment: "streamflow-segment",
  segmentSig: "streamflow-segment-sig",
  /** POST /segment: Payment as JSON (optional when the broadcaster's credit covers the segment). */
  payment: "streamflow-payment",
} as const;

/** Tickets in one request: keeps the payment header well under Node's 16 KiB header limit. */
export const MAX_TICKETS_PER_REQUEST = 48;
/** How far a /info request's timestamp may be from the orchestrator's clock. */
export const INFO_REQUEST_MAX_SKEW_S = 300;

/** A refusal: HTTP status, a stable code, and a message that says what to do. */
export class WireError extends Error {
  override readonly name: string = "WireError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** For 503s: when to try again, in seconds (sent as Retry-After). */
    readonly retryAfterS?: number,
  ) {
    super(message);
  }
}

/** The body of every error response. */
export interface ErrorBody {
  error: { code: string; message: string };
}

// ---- /info ----

export interface PriceInfo {
  /** wei per `pixelsPerUnit` output pixels */
  pricePerUnit: bigint;
  pixelsPerUnit: bigint;
}

export interface OrchestratorInfo {
  version: number;
  /** The orchestrator's on-chain address (the ticket recipient, the receipt signer). */
  address: string;
  /** Where to POST segments (this service's public URL). */
  transcoderUrl: string;
  chainId: bigint;
  ticketBroker: string;
  priceInfo: PriceInfo;
  ticketParams: TicketParams;
  /** Expected value of one ticket on these parameters, in wei. */
  ticketEV: bigint;
  capabilities: {
    renditions: { maxRenditions: number; deterministic: boolean };
    transcoders: number;
    capacity: number;
  };
  /** Present on /segment as `Streamflow-Auth`; valid until `authTokenExpiresAt` (unix seconds). */
  authToken: string;
  authTokenExpiresAt: number;
  /** Limits a broadcaster must respect. */
  limits: { maxSegmentBytes: number; maxTicketsPerRequest: number };
}

/** The text a broadcaster signs (EIP-191 personal message) to ask for /info. */
export function infoRequestMessage(broadcaster: string, timestamp: number): string {
  return `Streamflow OrchestratorInfo request\nbroadcaster: ${broadcaster.toLowerCase()}\ntimestamp: ${timestamp}`;
}

/** EIP-191 `personal_sign` digest of a text (what ethers' `signMessage` signs). */
export function personalMessageDigest(text: string): Buffer {
  const body = Buffer.from(text, "utf8");
  return keccak256(Buffer.concat([Buffer.from(`\x19Ethereum Signed Message:\n${body.length}`, "utf8"), body]));
}

/** The signer of a personal message, lower case, or undefined for a malformed signature. */
export function personalMessageSigner(text: string, signature: string): string | undefined {
  let sig: Buffer;
  try {
    sig = fromHex(signature, 65, "signature");
  } catch {
    return undefined;
  }
  return recoverSigner(personalMessageDigest(text), sig);
}

/** Decimal strings for JSON; bigints back from them. */
function dec(value: bigint): string {
  return value.toString();
}

function big(value: unknown, field: string): bigint {
  if (typeof value !== "string" || !/^(0|[1-9]\d{0,77})$/.test(value)) {
    throw new WireError(400, "BAD_REQUEST", `${field}: expected a decimal integer string`);
  }
  return BigInt(value);
}

function hex(value: unknown, bytes: number, field: string): string {
  if (typeof value !== "string" || value.length !== 2 + 2 * bytes || !/^0x[0-9a-fA-F]*$/.test(value)) {
    throw new WireError(400, "BAD_REQUEST", `${field}: expected 0x followed by ${2 * bytes} hex digits`);
  }
  return value.toLowerCase();
}

export function ticketParamsToJson(p: TicketParams) {
  return {
    recipient: p.recipient,
    faceValue: dec(p.faceValue),
    winProb: dec(p.winProb),
    recipientRandHash: p.recipientRandHash,
    seed: p.seed,
    expirationBlock: dec(p.expirationBlock),
    creationRound: dec(p.creationRound),
    creationRoundBlockHash: p.creationRoundBlockHash,
  };
}

export function ticketParamsFromJson(value: unknown, where = "ticketParams"): TicketParams {
  const o = object(value, where);
  return {
    recipient: hex(o.recipient, 20, `${where}.recipient`),
    faceValue: big(o.faceValue, `${where}.faceValue`),
    winProb: big(o.winProb, `${where}.winProb`),
    recipientRandHash: hex(o.recipientRandHash, 32, `${where}.recipientRandHash`),
    seed: hex(o.seed, 32, `${where}.seed`),
    expirationBlock: big(o.expirationBlock, `${where}.expirationBlock`),
    creationRound: big(o.creationRound, `${where}.creationRound`),
    creationRoundBlockHash: hex(o.creationRoundBlockHash, 32, `${where}.creationRoundBlockHash`),
  };
}

export function infoToJson(info: OrchestratorInfo) {
  return {
    ...info,
    chainId: dec(info.chainId),
    priceInfo: { pricePerUnit: dec(info.priceInfo.pricePerUnit), pixelsPerUnit: dec(info.priceInfo.pixelsPerUnit) },
    ticketParams: ticketParamsToJson(info.ticketParams),
    ticketEV: dec(info.ticketEV),
  };
}

export function infoFromJson(value: unknown): OrchestratorInfo {
  const o = object(value, "info");
  const price = object(o.priceInfo, "priceInfo");
  return {
    ...(o as unknown as OrchestratorInfo),
    address: hex(o.address, 20, "address"),
    chainId: big(o.chainId, "chainId"),
    ticketBroker: hex(o.ticketBroker, 20, "ticketBroker"),
    priceInfo: {
      pricePerUnit: big(price.pricePerUnit, "priceInfo.pricePerUnit"),
      pixelsPerUnit: big(price.pixelsPerUnit, "priceInfo.pixelsPerUnit"),
    },
    ticketParams: ticketParamsFromJson(o.ticketParams),
    ticketEV: big(o.ticketEV, "ticketEV"),
  };
}

// ---- /segment: metadata ----

export interface SegmentMetadata {
  /** The orchestrator the request is for: a request cannot be replayed against another one. */
  orchestrator: string;
  /** The broadcaster's name for the stream (1-128 printable characters); the receipt carries its keccak256. */
  streamId: string;
  seq: number;
  /** keccak256 of the body, 0x-hex. */
  sourceHash: string;
  /** The segment's duration as the broadcaster's ingest measured it. */
  durationMs: number;
  renditions: Rendition[];
}

/** What the broadcaster puts in `Streamflow-Segment` (and signs, character for character). */
export function encodeSegmentMetadata(meta: SegmentMetadata): string {
  return JSON.stringify({
    orchestrator: meta.orchestrator.toLowerCase(),
    streamId: meta.streamId,
    seq: meta.seq,
    sourceHash: meta.sourceHash.toLowerCase(),
    durationMs: meta.durationMs,
    renditions: meta.renditions,
  });
}

export function decodeSegmentMetadata(text: string | undefined): SegmentMetadata {
  if (text === undefined || text === "") {
    throw new WireError(400, "SEGMENT_METADATA_MISSING", `the ${HEADERS.segment} header is required`);
  }
  const o = object(parseJson(text, HEADERS.segment), HEADERS.segment);
  if (typeof o.streamId !== "string" || !/^[\x21-\x7e]{1,128}$/.test(o.streamId)) {
    throw new WireError(400, "BAD_REQUEST", "streamId: expected 1-128 printable ASCII characters without spaces");
  }
  if (!Number.isSafeInteger(o.seq) || (o.seq as number) < 0) {
    throw new WireError(400, "BAD_REQUEST", "seq: expected a non-negative integer");
  }
  if (typeof o.durationMs !== "number" || !(o.durationMs > 0 && o.durationMs <= 60_000)) {
    throw new WireError(400, "BAD_REQUEST", "durationMs: expected a duration above 0 and at most 60000 ms");
  }
  if (!Array.isArray(o.renditions)) throw new WireError(400, "BAD_REQUEST", "renditions: expected an array");
  let renditions: Rendition[];
  try {
    renditions = validateLadder(o.renditions.map((r, i) => renditionFromJson(r, `renditions[${i}]`)));
  } catch (error) {
    if (error instanceof MediaError) throw new WireError(400, "LADDER_INVALID", error.message);
    throw error;
  }
  return {
    orchestrator: hex(o.orchestrator, 20, "orchestrator"),
    streamId: o.streamId,
    seq: o.seq as number,
    sourceHash: hex(o.sourceHash, 32, "sourceHash"),
    durationMs: o.durationMs,
    renditions,
  };
}

/** The receipt's `streamId`: keccak256 of the stream's name. */
export function streamIdHash(streamId: string): string {
  return "0x" + keccak256(Buffer.from(streamId, "utf8")).toString("hex");
}

// ---- /segment: payment ----

/** Tickets on one set of parameters: the shared fields once, then a nonce and signature per ticket. */
export interface Payment {
  sender: string;
  params: TicketParams;
  tickets: Array<{ senderNonce: bigint; sig: string }>;
}

export function encodePayment(sender: string, params: TicketParams, tickets: readonly SignedTicket[]): string {
  return JSON.stringify({
    sender: sender.toLowerCase(),
    ...ticketParamsToJson(params),
    tickets: tickets.map((t) => ({ senderNonce: dec(t.ticket.senderNonce), sig: t.sig })),
  });
}

export function decodePayment(text: string | undefined): Payment | undefined {
  if (text === undefined || text === "") return undefined;
  const o = object(parseJson(text, HEADERS.payment), HEADERS.payment);
  if (!Array.isArray(o.tickets)) throw new WireError(400, "BAD_REQUEST", "payment.tickets: expected an array");
  if (o.tickets.length > MAX_TICKETS_PER_REQUEST) {
    throw new WireError(
      400,
      "TOO_MANY_TICKETS",
      `${o.tickets.length} tickets in one request; at most ${MAX_TICKETS_PER_REQUEST}: ask for parameters with a ` +
        "higher expected value, or pay ahead over several segments",
    );
  }
  return {
    sender: hex(o.sender, 20, "payment.sender"),
    params: ticketParamsFromJson(o, "payment"),
    tickets: o.tickets.map((t, i) => {
      const ticket = object(t, `payment.tickets[${i}]`);
      return {
        senderNonce: big(ticket.senderNonce, `payment.tickets[${i}].senderNonce`),
        sig: hex(ticket.sig, 65, `payment.tickets[${i}].sig`),
      };
    }),
  };
}

/** The signed tickets a payment stands for. */
export function paymentTickets(payment: Payment): SignedTicket[] {
  const p = payment.params;
  return payment.tickets.map((t) => ({
    ticket: {
      recipient: p.recipient,
      sender: payment.sender,
      faceValue: p.faceValue,
      winProb: p.winProb,
      senderNonce: t.senderNonce,
      recipientRandHash: p.recipientRandHash,
      creationRound: p.creationRound,
      creationRoundBlockHash: p.creationRoundBlockHash,
    },
    sig: t.sig,
  }));
}

// ---- /segment: the response ----

/** The receipt as JSON (`deterministic` a boolean, `seq` a decimal string). */
export interface ReceiptJson {
  broadcaster: string;
  orchestrator: string;
  streamId: string;
  seq: string;
  sourceHash: string;
  profilesHash: string;
  outputsHash: string;
  deterministic: boolean;
}

/** The first part of a /segment response. */
export interface SegmentResult {
  receipt: ReceiptJson;
  /** The orchestrator's 65-byte signature over the receipt's EIP-712 digest. */
  signature: string;
  renditions: RenditionMetadata[];
  /** What this segment cost, and the broadcaster's credit left (wei, decimal; negative means owed). */
  fee: string;
  balance: string;
  /** Tickets accepted with the request, and how many of them won. */
  tickets: { accepted: number; won: number };
  timings: { transcodeMs: number; totalMs: number };
}

/** `multipart/mixed`: a JSON part, then one `video/mp2t` part per rendition, in ladder order. */
export function encodeMultipart(
  boundary: string,
  json: unknown,
  renditions: ReadonlyArray<{ name: string; data: Buffer }>,
) {
  const parts: Buffer[] = [];
  const head = (headers: string) => Buffer.from(`--${boundary}\r\n${headers}\r\n\r\n`, "utf8");
  const body = Buffer.from(JSON.stringify(json), "utf8");
  parts.push(head(`Content-Type: application/json\r\nContent-Length: ${body.length}`), body, Buffer.from("\r\n"));
  for (const r of renditions) {
    parts.push(
      head(
        `Content-Type: video/mp2t\r\nContent-Disposition: attachment; filename="${r.name}.ts"\r\n` +
          `Rendition-Name: ${r.name}\r\nContent-Length: ${r.data.length}`,
      ),
      r.data,
      Buffer.from("\r\n"),
    );
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`, "utf8"));
  return Buffer.concat(parts);
}

export interface MultipartPart {
  headers: Record<string, string>;
  body: Buffer;
}

/** Parses a multipart body; parts with a Content-Length are read by length (binary-safe, no boundary scan inside). */
export function decodeMultipart(contentType: string | undefined, body: Buffer): MultipartPart[] {
  const match = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? "");
  if (!match) throw new Error(`not a multipart response (Content-Type: ${contentType ?? "none"})`);
  const delimiter = Buffer.from(`--${match[1] ?? match[2]}`, "utf8");
  const parts: MultipartPart[] = [];
  let at = body.indexOf(delimiter);
  if (at < 0) throw new Error("multipart body has no boundary");
  for (;;) {
    at += delimiter.length;
    if (body.subarray(at, at + 2).toString() === "--") return parts;
    at += 2; // CRLF after the delimiter
    const headerEnd = body.indexOf("\r\n\r\n", at);
    if (headerEnd < 0) throw new Error("multipart part without a header end");
    const headers: Record<string, string> = {};
    for (const line of body.subarray(at, headerEnd).toString("utf8").split("\r\n")) {
      const colon = line.indexOf(":");
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const start = headerEnd + 4;
    let end: number;
    if (headers["content-length"] !== undefined) {
      end = start + Number(headers["content-length"]);
      if (!Number.isSafeInteger(end) || end > body.length) throw new Error("multipart part is truncated");
    } else {
      end = body.indexOf(Buffer.concat([Buffer.from("\r\n"), delimiter]), start);
      if (end < 0) throw new Error("multipart part is not terminated");
    }
    parts.push({ headers, body: body.subarray(start, end) });
    at = body.indexOf(delimiter, end);
    if (at < 0) throw new Error("multipart body is not terminated");
  }
}

// ---- helpers ----

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new WireError(400, "BAD_REQUEST", `${where}: not valid JSON`);
  }
}

function object(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new WireError(400, "BAD_REQUEST", `${where}: expected a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** TicketFieldErrors (from hashing) as 400s. */
export function asWireError(error: unknown): unknown {
  return error instanceof TicketFieldError ? new WireError(400, "TICKET_MALFORMED", error.message) : error;
}
