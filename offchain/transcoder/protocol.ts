/**
 * The transcoder ⇄ orchestrator wire format (docs/transcoder-protocol.md), shared by both ends.
 * Every WebSocket message is one binary frame: a 4-byte big-endian header length, a UTF-8 JSON header, then the
 * payload (a source segment, or the renditions back to back). Decoding validates everything a peer sends.
 */
import type { Rendition } from "../media/ladder";
import type { RenditionMetadata } from "../media/transcode";

export const PROTOCOL_VERSION = 1;
export const SUBPROTOCOL = "streamflow-transcoder.v1";
export const TRANSCODERS_PATH = "/transcoders";
/** The largest frame either side accepts: a big source segment or its renditions, with room to spare. */
export const MAX_FRAME_BYTES = 256 * 1024 * 1024;
const MAX_HEADER_BYTES = 64 * 1024;

/** WebSocket close codes of this protocol (4000-4999 are for applications). */
export const CLOSE = {
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 4000,
  UNAUTHORIZED: 4001,
  VERSION_MISMATCH: 4002,
} as const;

export interface GpuCapability {
  index: number;
  decode: boolean;
  encode: boolean;
}

export interface Capabilities {
  /** Source codecs this transcoder's ffmpeg decodes (of those a broadcaster would send). */
  decoders: string[];
  /** Output codecs. */
  encoders: string[];
  /** GPUs that passed the self-test. */
  gpus: GpuCapability[];
  /** Deterministic renditions are supported (always, on the CPU). */
  deterministic: boolean;
}

export interface Hello {
  type: "hello";
  protocol: number;
  capacity: number;
  capabilities: Capabilities;
  name?: string;
  version?: string;
}

export interface Welcome {
  type: "welcome";
  protocol: number;
  transcoderId: string;
}

export interface Job {
  type: "job";
  jobId: string;
  renditions: Rendition[];
  /** The orchestrator's deadline for this job; the transcoder kills ffmpeg past it. */
  timeoutMs: number;
}

/** Per-rendition metadata as offchain/media measures it (bytes, keccak hash, size, frames, pixels, ...). */
export type RenditionMeta = RenditionMetadata;

export interface Result {
  type: "result";
  jobId: string;
  renditions: RenditionMeta[];
  device: string;
  timings: { probeMs: number; transcodeMs: number; totalMs: number };
}

export interface JobError {
  type: "error";
  jobId: string;
  code: string;
  message: string;
  /** False when the input itself is bad: no other transcoder can do better. */
  retryable: boolean;
}

export interface Cancel {
  type: "cancel";
  jobId: string;
}

export interface Draining {
  type: "draining";
}

export type TranscoderMessage = Hello | Result | JobError | Draining;
export type OrchestratorMessage = Welcome | Job | Cancel;
export type Message = TranscoderMessage | OrchestratorMessage;

export interface Envelope<M extends Message = Message> {
  header: M;
  payload: Buffer;
}

export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
}

export function encodeFrame(header: Message, payload: Uint8Array | readonly Uint8Array[] = []): Buffer {
  const json = Buffer.from(JSON.stringify(header), "utf8");
  const parts = payload instanceof Uint8Array ? [payload] : payload;
  const length = Buffer.allocUnsafe(4);
  length.writeUInt32BE(json.length, 0);
  return Buffer.concat([length, json, ...parts]);
}

function fail(message: string): never {
  throw new ProtocolError(message);
}

const isString = (v: unknown, max = 256): v is string => typeof v === "string" && v.length > 0 && v.length <= max;
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

function checkRenditionMeta(value: unknown, i: number): RenditionMeta {
  const m = value as RenditionMeta;
  if (typeof m !== "object" || m === null) fail(`renditions[${i}] is not an object`);
  if (!isString(m.name, 64)) fail(`renditions[${i}].name`);
  if (!isString(m.hash, 66) || !/^0x[0-9a-f]{64}$/.test(m.hash)) fail(`renditions[${i}].hash must be 0x + 64 hex`);
  for (const field of ["bytes", "width", "height", "frames", "pixels", "durationMs"] as const) {
    if (!isCount(m[field])) fail(`renditions[${i}].${field} must be a non-negative integer`);
  }
  if (!isString(m.codec, 64)) fail(`renditions[${i}].codec`);
  return m;
}

/** Checks a decoded header's shape; the payload must match what the header announces. */
function checkMessage(header: unknown, payload: Buffer): Message {
  if (typeof header !== "object" || header === null || Array.isArray(header)) fail("header is not a JSON object");
  const h = header as Record<string, unknown> & { type?: unknown };
  switch (h.type) {
    case "hello":
      if (!isCount(h.protocol)) fail("hello.protocol");
      if (!isCount(h.capacity) || (h.capacity as number) < 1) fail("hello.capacity must be a positive integer");
      if (typeof h.capabilities !== "object" || h.capabilities === null) fail("hello.capabilities");
      return h as unknown as Hello;
    case "welcome":
      if (!isCount(h.protocol) || !isString(h.transcoderId)) fail("welcome");
      return h as unknown as Welcome;
    case "job":
      if (!isString(h.jobId)) fail("job.jobId");
      if (!Array.isArray(h.renditions) || h.renditions.length === 0) fail("job.renditions must be a non-empty array");
      if (!isCount(h.timeoutMs) || (h.timeoutMs as number) < 1) fail("job.timeoutMs must be a positive integer");
      if (payload.length === 0) fail("a job carries its source segment as the payload");
      return h as unknown as Job;
    case "result": {
      if (!isString(h.jobId)) fail("result.jobId");
      if (!Array.isArray(h.renditions)) fail("result.renditions");
      const metas = h.renditions.map(checkRenditionMeta);
      const total = metas.reduce((sum, m) => sum + m.bytes, 0);
      if (total !== payload.length) fail(`result payload is ${payload.length} bytes; its renditions announce ${total}`);
      return h as unknown as Result;
    }
    case "error":
      if (
        !isString(h.jobId) ||
        !isString(h.code, 64) ||
        typeof h.message !== "string" ||
        typeof h.retryable !== "boolean"
      ) {
        fail("error needs jobId, code, message and retryable");
      }
      return h as unknown as JobError;
    case "cancel":
      if (!isString(h.jobId)) fail("cancel.jobId");
      return h as unknown as Cancel;
    case "draining":
      return h as unknown as Draining;
    default:
      return fail(`unknown message type ${JSON.stringify(h.type)}`);
  }
}

export function decodeFrame(frame: Buffer): Envelope {
  if (frame.length < 4) fail("frame shorter than its length prefix");
  const headerLength = frame.readUInt32BE(0);
  if (headerLength > MAX_HEADER_BYTES || 4 + headerLength > frame.length) fail(`bad header length ${headerLength}`);
  let header: unknown;
  try {
    header = JSON.parse(frame.subarray(4, 4 + headerLength).toString("utf8"));
  } catch {
    fail("header is not JSON");
  }
  const payload = frame.subarray(4 + headerLength);
  return { header: checkMessage(header, payload), payload };
}

/** Splits a result's payload into its renditions' bytes, in order. */
export function splitRenditions(result: Result, payload: Buffer): Buffer[] {
  let offset = 0;
  return result.renditions.map((m) => {
    const part = payload.subarray(offset, offset + m.bytes);
    offset += m.bytes;
    return part;
  });
}

/** "127.0.0.1:8935", "http://host:8935", "wss://host/transcoders" → the WebSocket URL of the transcoder endpoint. */
export function transcoderEndpoint(address: string): string {
  const trimmed = address.trim();
  const withScheme = /^[a-z]+:\/\//i.test(trimmed) ? trimmed : `ws://${trimmed}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new Error(`--orch-addr "${address}" is not a host:port or URL`);
  }
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  else if (url.protocol !== "ws:" && url.protocol !== "wss:")
    throw new Error(`--orch-addr "${address}": use ws://, wss://, http:// or https://`);
  if (url.pathname === "/" || url.pathname === "") url.pathname = TRANSCODERS_PATH;
  return url.toString();
}
