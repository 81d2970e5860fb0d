/**
 * Dispute evidence, content-addressed: every blob (the source segment, each rendition, and the manifest that ties
 * them to the signed receipt) is stored and served under the keccak256 of its bytes, so a verifier can check that what
 * it fetched is what the URI names, wherever it came from. The broadcaster writes and serves it (data availability
 * is the challenger's burden); verifiers fetch and check it. Format: docs/disputes.md.
 */
import fs from "node:fs";
import path from "node:path";

import { type Rendition, canonicalLadderJson, ladderFromJson, profilesHash } from "../media/ladder";
import { keccak256 } from "../pm/crypto";
import { type TranscodeReceipt, outputsHash, receiptFromJson, receiptToJson } from "../orchestrator/receipt";
import type { ReceiptJson } from "../orchestrator/wire";

export const EVIDENCE_VERSION = 1;
const HASH = /^0x[0-9a-f]{64}$/;

export interface EvidenceManifest {
  streamflowEvidence: typeof EVIDENCE_VERSION;
  chainId: string;
  disputeManager: string;
  receipt: ReceiptJson;
  /** The orchestrator's signature over the receipt. */
  signature: string;
  /** The renditions requested, as `profilesHash` hashes them. */
  renditions: unknown[];
  source: { hash: string; bytes: number; durationMs: number };
  outputs: Array<{ name: string; hash: string; bytes: number }>;
}

export interface Evidence {
  manifest: EvidenceManifest;
  receipt: TranscodeReceipt;
  ladder: Rendition[];
  source: Buffer;
  outputs: Buffer[];
}

export class EvidenceError extends Error {
  override readonly name = "EvidenceError";
}

export function hashOf(bytes: Uint8Array): string {
  return "0x" + keccak256(bytes).toString("hex");
}

/** Blobs on disk named by their hash; writes are atomic, so a crash never leaves a blob that fails its own hash. */
export class EvidenceStore {
  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
  }

  put(bytes: Uint8Array): string {
    const hash = hashOf(bytes);
    const file = this.file(hash);
    if (!fs.existsSync(file)) {
      const temporary = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(temporary, bytes);
      fs.renameSync(temporary, file);
    }
    return hash;
  }

  /** The blob's bytes, or undefined for a malformed or unknown hash. */
  get(hash: string): Buffer | undefined {
    if (!HASH.test(hash)) return undefined;
    try {
      return fs.readFileSync(this.file(hash));
    } catch {
      return undefined;
    }
  }

  /** Stores the source, the outputs and their manifest; returns the manifest's hash (the evidence id). */
  putEvidence(input: {
    chainId: bigint;
    disputeManager: string;
    receipt: TranscodeReceipt;
    signature: string;
    ladder: readonly Rendition[];
    source: Buffer;
    durationMs: number;
    outputs: readonly Buffer[];
  }): string {
    if (input.outputs.length !== input.ladder.length) {
      throw new EvidenceError(`${input.outputs.length} outputs for ${input.ladder.length} renditions`);
    }
    const manifest: EvidenceManifest = {
      streamflowEvidence: EVIDENCE_VERSION,
      chainId: input.chainId.toString(),
      disputeManager: input.disputeManager.toLowerCase(),
      receipt: receiptToJson(input.receipt),
      signature: input.signature,
      renditions: JSON.parse(canonicalLadderJson(input.ladder)) as unknown[],
      source: { hash: this.put(input.source), bytes: input.source.length, durationMs: input.durationMs },
      outputs: input.outputs.map((bytes, i) => ({
        name: input.ladder[i].name,
        hash: this.put(bytes),
        bytes: bytes.length,
      })),
    };
    return this.put(Buffer.from(JSON.stringify(manifest), "utf8"));
  }

  private file(hash: string): string {
    return path.join(this.dir, hash.slice(2));
  }
}

/** `<base>/<hash>`: the URI of a blob next to the manifest at `manifestUri`. */
export function blobUri(manifestUri: string, hash: string): string {
  const url = new URL(manifestUri);
  url.pathname = url.pathname.replace(/[^/]*$/, hash);
  url.search = "";
  return url.toString();
}

function hashInUri(uri: string): string {
  let last: string | undefined;
  try {
    last = new URL(uri).pathname.split("/").pop();
  } catch {
    throw new EvidenceError(`the evidence URI "${uri}" is not a URL`);
  }
  if (!last || !HASH.test(last)) throw new EvidenceError(`the evidence URI "${uri}" does not end in a keccak256 hash`);
  return last;
}

export interface FetchOptions {
  timeoutMs?: number;
  /** Upper bound for any one blob. */
  maxBytes?: number;
  fetch?: typeof fetch;
}

/** Reads at most `maxBytes` of the body, whatever Content-Length says (or does not say). */
async function readCapped(response: Response, uri: string, maxBytes: number): Promise<Buffer> {
  const declared = Number(response.headers.get("content-length") ?? 0);
  if (declared > maxBytes) throw new EvidenceError(`${uri} is ${declared} bytes, over the ${maxBytes} limit`);
  if (!response.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let length = 0;
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      length += value.length;
      if (length > maxBytes) throw new EvidenceError(`${uri} is over the ${maxBytes} byte limit`);
      chunks.push(Buffer.from(value));
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks, length);
}

async function fetchBlob(uri: string, hash: string, options: FetchOptions): Promise<Buffer> {
  const maxBytes = options.maxBytes ?? 256 * 1024 * 1024;
  let bytes: Buffer;
  try {
    const response = await (options.fetch ?? fetch)(uri, {
      signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
    });
    if (!response.ok) {
      await response.body?.cancel().catch(() => undefined);
      throw new EvidenceError(`${uri} answered ${response.status}`);
    }
    bytes = await readCapped(response, uri, maxBytes);
  } catch (error) {
    if (error instanceof EvidenceError) throw error;
    throw new EvidenceError(`cannot fetch ${uri}: ${(error as Error).message}`);
  }
  if (hashOf(bytes) !== hash) throw new EvidenceError(`${uri} does not hash to ${hash}`);
  return bytes;
}

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

/** The manifest's receipt, or EvidenceError when any field is missing or malformed. */
function manifestReceipt(value: unknown): TranscodeReceipt {
  const r = value as Partial<Record<keyof ReceiptJson, unknown>> | undefined;
  const ok =
    typeof r === "object" &&
    r !== null &&
    typeof r.broadcaster === "string" &&
    ADDRESS.test(r.broadcaster) &&
    typeof r.orchestrator === "string" &&
    ADDRESS.test(r.orchestrator) &&
    [r.streamId, r.sourceHash, r.profilesHash, r.outputsHash].every(
      (h) => typeof h === "string" && /^0x[0-9a-fA-F]{64}$/.test(h),
    ) &&
    typeof r.seq === "string" &&
    /^\d{1,78}$/.test(r.seq) &&
    typeof r.deterministic === "boolean";
  if (!ok) throw new EvidenceError("the manifest's receipt is missing or malformed");
  return receiptFromJson(r as ReceiptJson);
}

function parseManifest(bytes: Buffer): EvidenceManifest {
  let manifest: EvidenceManifest;
  try {
    manifest = JSON.parse(bytes.toString("utf8")) as EvidenceManifest;
  } catch (error) {
    throw new EvidenceError(`the manifest is not JSON: ${(error as Error).message}`);
  }
  if (manifest?.streamflowEvidence !== EVIDENCE_VERSION) throw new EvidenceError("not a version 1 evidence manifest");
  const blobs = [manifest.source, ...(Array.isArray(manifest.outputs) ? manifest.outputs : [])];
  if (!Array.isArray(manifest.outputs) || blobs.some((b) => typeof b?.hash !== "string" || !HASH.test(b.hash))) {
    throw new EvidenceError("the manifest's source or outputs are malformed");
  }
  return manifest;
}

/**
 * Fetches the manifest and every blob, checking each against its hash, and the manifest against `expected` (the
 * receipt the dispute was opened with): same source, renditions and outputs. Throws EvidenceError otherwise.
 */
export async function fetchEvidence(
  uri: string,
  expected: TranscodeReceipt,
  options: FetchOptions = {},
): Promise<Evidence> {
  const manifestHash = hashInUri(uri);
  const manifest = parseManifest(await fetchBlob(uri, manifestHash, { ...options, maxBytes: 1024 * 1024 }));
  const receipt = manifestReceipt(manifest.receipt);
  const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
  if (
    !same(receipt.broadcaster, expected.broadcaster) ||
    !same(receipt.orchestrator, expected.orchestrator) ||
    receipt.deterministic !== expected.deterministic ||
    !same(receipt.streamId, expected.streamId) ||
    receipt.seq !== expected.seq ||
    !same(receipt.sourceHash, expected.sourceHash) ||
    !same(receipt.outputsHash, expected.outputsHash) ||
    !same(receipt.profilesHash, expected.profilesHash)
  ) {
    throw new EvidenceError("the manifest's receipt is not the disputed one");
  }
  let ladder: Rendition[];
  try {
    ladder = ladderFromJson(JSON.stringify(manifest.renditions));
  } catch (error) {
    throw new EvidenceError(`the manifest's renditions are invalid: ${(error as Error).message}`);
  }
  if (!same(profilesHash(ladder), expected.profilesHash)) {
    throw new EvidenceError("the manifest's renditions do not hash to the receipt's profilesHash");
  }
  if (!same(manifest.source.hash, expected.sourceHash)) {
    throw new EvidenceError("the manifest's source is not the receipt's sourceHash");
  }
  if (manifest.outputs.length !== ladder.length) {
    throw new EvidenceError(`${manifest.outputs.length} outputs for ${ladder.length} renditions`);
  }
  if (!same(outputsHash(manifest.outputs.map((o) => o.hash)), expected.outputsHash)) {
    throw new EvidenceError("the manifest's outputs do not hash to the receipt's outputsHash");
  }
  const source = await fetchBlob(blobUri(uri, manifest.source.hash), manifest.source.hash, options);
  const outputs = await Promise.all(manifest.outputs.map((o) => fetchBlob(blobUri(uri, o.hash), o.hash, options)));
  return { manifest, receipt, ladder, source, outputs };
}
