/**
 * TranscodeReceipt (protocol.md): EIP-712 typed data under the "Streamflow" v1 domain, signed by the orchestrator for
 * every segment it transcodes. The verifying contract is the DisputeManager when the deployment has one.
 */
import { TypedDataEncoder } from "ethers";

import { keccak256, recoverSigner, signDigest } from "../pm/crypto";
import { fromHex, toHex } from "../pm/ticket";
import type { ReceiptJson } from "./wire";

export interface TranscodeReceipt {
  broadcaster: string;
  orchestrator: string;
  /** bytes32: keccak256 of the stream's name */
  streamId: string;
  seq: bigint;
  sourceHash: string;
  profilesHash: string;
  outputsHash: string;
  deterministic: boolean;
}

export interface ReceiptDomain {
  chainId: bigint;
  /** The DisputeManager proxy, once deployed; omitted from the domain until then. */
  verifyingContract?: string;
}

export const RECEIPT_TYPES = {
  TranscodeReceipt: [
    { name: "broadcaster", type: "address" },
    { name: "orchestrator", type: "address" },
    { name: "streamId", type: "bytes32" },
    { name: "seq", type: "uint256" },
    { name: "sourceHash", type: "bytes32" },
    { name: "profilesHash", type: "bytes32" },
    { name: "outputsHash", type: "bytes32" },
    { name: "deterministic", type: "bool" },
  ],
};

export function receiptEip712Domain(domain: ReceiptDomain) {
  return {
    name: "Streamflow",
    version: "1",
    chainId: domain.chainId,
    ...(domain.verifyingContract ? { verifyingContract: domain.verifyingContract } : {}),
  };
}

export function receiptDigest(receipt: TranscodeReceipt, domain: ReceiptDomain): Buffer {
  const hash = TypedDataEncoder.hash(receiptEip712Domain(domain), RECEIPT_TYPES, receipt);
  return Buffer.from(hash.slice(2), "hex");
}

/**
 * protocol.md: the keccak256 of the output bytes for one rendition (its hash as is), and for several the keccak256
 * of their hashes concatenated in profile order.
 */
export function outputsHash(renditionHashes: readonly string[]): string {
  if (renditionHashes.length === 1) return toHex(fromHex(renditionHashes[0], 32, "rendition hash"));
  const joined = Buffer.concat(renditionHashes.map((h) => fromHex(h, 32, "rendition hash")));
  return "0x" + keccak256(joined).toString("hex");
}

export function signReceipt(receipt: TranscodeReceipt, domain: ReceiptDomain, privateKey: Uint8Array): string {
  return "0x" + signDigest(receiptDigest(receipt, domain), privateKey).toString("hex");
}

/** The receipt's signer, lower case, or undefined for a malformed signature. */
export function receiptSigner(receipt: TranscodeReceipt, domain: ReceiptDomain, signature: string): string | undefined {
  let sig: Buffer;
  try {
    sig = fromHex(signature, 65, "signature");
  } catch {
    return undefined;
  }
  return recoverSigner(receiptDigest(receipt, domain), sig);
}

export function receiptToJson(r: TranscodeReceipt): ReceiptJson {
  return { ...r, seq: r.seq.toString() };
}

export function receiptFromJson(r: ReceiptJson): TranscodeReceipt {
  return { ...r, seq: BigInt(r.seq) };
}
