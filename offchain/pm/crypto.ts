/**
 * The two primitives ticket handling spends its time in, on native code: keccak-256 and secp256k1 recovery and
 * signing (libsecp256k1 through the `secp256k1` package; its pure-JS fallback is used only if the native build is
 * missing, see `nativeCrypto`). Everything else in offchain/pm is plain TypeScript on top of these.
 */
import createKeccakHash from "keccak";
import secp256k1 from "secp256k1";

/** secp256k1's group order n, and n / 2: Ethereum (and the broker, through OpenZeppelin's ECDSA) accept s <= n / 2. */
const CURVE_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HALF_CURVE_ORDER = CURVE_ORDER >> 1n;

export function keccak256(data: Uint8Array): Buffer {
  return createKeccakHash("keccak256")
    .update(Buffer.from(data.buffer, data.byteOffset, data.byteLength))
    .digest();
}

/** Whether the native libsecp256k1 and keccak bindings are loaded (the benchmark reports it). */
export function nativeCrypto(): boolean {
  // The packages export their native binding module itself when it loaded, and an elliptic/JS one otherwise.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return secp256k1 === require("secp256k1/bindings") && createKeccakHash === require("keccak/bindings");
}

/** The Ethereum address of an uncompressed (65-byte) public key, lower case. */
function addressOfPublicKey(publicKey: Uint8Array): string {
  return "0x" + keccak256(publicKey.subarray(1)).subarray(12).toString("hex");
}

/** The address of a 32-byte private key, lower case. */
export function addressOfPrivateKey(privateKey: Uint8Array): string {
  return addressOfPublicKey(secp256k1.publicKeyCreate(privateKey, false));
}

/** Signs a 32-byte digest: the 65-byte `r || s || v` with low s and v in {27, 28}, as ethers and the broker expect. */
export function signDigest(digest: Uint8Array, privateKey: Uint8Array): Buffer {
  const { signature, recid } = secp256k1.ecdsaSign(digest, privateKey);
  const out = Buffer.allocUnsafe(65);
  out.set(signature, 0);
  out[64] = 27 + recid;
  return out;
}

/**
 * The signer of `digest`, lower case, or undefined for anything the broker would refuse: not 65 bytes, v not 27
 * or 28, r or s zero or out of range, s in the upper half (a malleated copy of a valid signature).
 */
export function recoverSigner(digest: Uint8Array, sig: Uint8Array): string | undefined {
  if (sig.length !== 65) return undefined;
  const v = sig[64];
  if (v !== 27 && v !== 28) return undefined;
  const r = bigintOf(sig.subarray(0, 32));
  const s = bigintOf(sig.subarray(32, 64));
  if (r === 0n || r >= CURVE_ORDER || s === 0n || s > HALF_CURVE_ORDER) return undefined;
  try {
    return addressOfPublicKey(secp256k1.ecdsaRecover(sig.subarray(0, 64), v - 27, digest, false));
  } catch {
    return undefined; // no point on the curve has this r
  }
}

function bigintOf(bytes: Uint8Array): bigint {
  return BigInt("0x" + Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex"));
}
