/**
 * The broadcaster's side of the orchestrator API: ask for OrchestratorInfo, then post segments with signed metadata
 * and tickets, and read back the renditions and the signed receipt. Uses fetch (undici) over HTTP.
 */
import { addressOfPrivateKey, keccak256, signDigest } from "../pm/crypto";
import type { SignedTicket } from "../pm/ticket";
import { fromHex, toHex } from "../pm/ticket";
import type { Rendition } from "../media/ladder";
import { type ReceiptDomain, receiptFromJson, receiptSigner } from "./receipt";
import {
  type ErrorBody,
  HEADERS,
  type OrchestratorInfo,
  type SegmentResult,
  WireError,
  decodeMultipart,
  encodePayment,
  encodeSegmentMetadata,
  infoFromJson,
  infoRequestMessage,
  personalMessageDigest,
} from "./wire";

/** A refusal from the orchestrator, as received: its HTTP status, code and message (and Retry-After for 503s). */
export class OrchestratorError extends WireError {
  override readonly name = "OrchestratorError";
}

export interface SegmentRequest {
  streamId: string;
  seq: number;
  body: Buffer;
  durationMs: number;
  renditions: Rendition[];
  /** keccak256 of the body, 0x-hex, when the caller already has it. */
  sourceHash?: string;
  /** Tickets made from `info.ticketParams` (none when the credit already covers the segment). */
  tickets?: readonly SignedTicket[];
}

export interface SegmentResponse {
  result: SegmentResult;
  /** Rendition bytes, in ladder order. */
  renditions: Buffer[];
}

export class OrchestratorClient {
  readonly address: string;
  private readonly privateKey: Buffer;

  constructor(
    readonly url: string,
    privateKey: string,
    private readonly timeoutMs = 30_000,
  ) {
    this.privateKey = fromHex(privateKey, 32, "privateKey");
    this.address = addressOfPrivateKey(this.privateKey);
  }

  private sign(text: string): string {
    return toHex(signDigest(personalMessageDigest(text), this.privateKey));
  }

  async info(): Promise<OrchestratorInfo> {
    const timestamp = Math.floor(Date.now() / 1000);
    const response = await fetch(`${this.url}/info`, {
      headers: {
        [HEADERS.broadcaster]: this.address,
        [HEADERS.timestamp]: String(timestamp),
        [HEADERS.signature]: this.sign(infoRequestMessage(this.address, timestamp)),
      },
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!response.ok) throw await refusal(response);
    return infoFromJson(await response.json());
  }

  async segment(
    info: OrchestratorInfo,
    request: SegmentRequest,
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<SegmentResponse> {
    const metadata = encodeSegmentMetadata({
      orchestrator: info.address,
      streamId: request.streamId,
      seq: request.seq,
      sourceHash: request.sourceHash ?? "0x" + keccak256(request.body).toString("hex"),
      durationMs: request.durationMs,
      renditions: request.renditions,
    });
    const headers: Record<string, string> = {
      "content-type": "video/mp2t",
      [HEADERS.auth]: info.authToken,
      [HEADERS.segment]: metadata,
      [HEADERS.segmentSig]: this.sign(metadata),
    };
    if (request.tickets && request.tickets.length > 0) {
      headers[HEADERS.payment] = encodePayment(this.address, info.ticketParams, request.tickets);
    }
    const response = await fetch(`${this.url}/segment`, {
      method: "POST",
      headers,
      body: request.body,
      signal: withTimeout(options.timeoutMs ?? this.timeoutMs, options.signal),
    });
    if (!response.ok) throw await refusal(response);
    const parts = decodeMultipart(
      response.headers.get("content-type") ?? undefined,
      Buffer.from(await response.arrayBuffer()),
    );
    if (parts.length === 0) throw new Error("the response has no parts");
    const result = JSON.parse(parts[0].body.toString("utf8")) as SegmentResult;
    return { result, renditions: parts.slice(1).map((p) => Buffer.from(p.body)) };
  }
}

function withTimeout(timeoutMs: number, signal?: AbortSignal): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  return signal ? AbortSignal.any([timeout, signal]) : timeout;
}

/** Whether a segment response is what an honest orchestrator would sign (its address, the outputs' hashes). */
export function checkSegmentResponse(
  response: SegmentResponse,
  info: OrchestratorInfo,
  domain: ReceiptDomain,
): string | undefined {
  const { result, renditions } = response;
  if (renditions.length !== result.renditions.length) return "rendition count does not match the metadata";
  for (const [i, meta] of result.renditions.entries()) {
    if ("0x" + keccak256(renditions[i]).toString("hex") !== meta.hash) return `rendition ${meta.name}: hash mismatch`;
  }
  const signer = receiptSigner(receiptFromJson(result.receipt), domain, result.signature);
  if (signer !== info.address.toLowerCase()) return `receipt signed by ${signer ?? "nobody"}, not ${info.address}`;
  return undefined;
}

async function refusal(response: Response): Promise<OrchestratorError> {
  const retryAfter = response.headers.get("retry-after");
  let body: Partial<ErrorBody> = {};
  try {
    body = (await response.json()) as ErrorBody;
  } catch {
    // not JSON: keep the status alone
  }
  return new OrchestratorError(
    response.status,
    body.error?.code ?? `HTTP_${response.status}`,
    body.error?.message ?? response.statusText,
    retryAfter === null ? undefined : Number(retryAfter),
  );
}
