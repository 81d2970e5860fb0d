/**
 * Auth tokens: `/info` checks the broadcaster's signature once and hands back a token; `/segment` checks the token
 * (one HMAC) before it reads a body, so unauthenticated uploads are refused without receiving megabytes. Stateless:
 * `<sender>.<expiry unix seconds>.<HMAC-SHA256 hex>`.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const DEFAULT_AUTH_TOKEN_TTL_S = 3600;

export class AuthTokens {
  private readonly key: Buffer;

  constructor(
    secret: Uint8Array,
    private readonly ttlS = DEFAULT_AUTH_TOKEN_TTL_S,
    private readonly clock: () => number = Date.now,
  ) {
    // A key of its own: the recipient secret's HMACs and the tokens' never share inputs.
    this.key = createHmac("sha256", Buffer.from(secret)).update("streamflow auth token v1").digest();
  }

  private mac(sender: string, expiry: number): string {
    return createHmac("sha256", this.key).update(`${sender}.${expiry}`).digest("hex");
  }

  issue(sender: string): { token: string; expiresAt: number } {
    const address = sender.toLowerCase();
    const expiresAt = Math.floor(this.clock() / 1000) + this.ttlS;
    return { token: `${address}.${expiresAt}.${this.mac(address, expiresAt)}`, expiresAt };
  }

  /** The sender the token was issued to, or a reason it is not valid. */
  verify(token: string | undefined): { sender: string } | { problem: string } {
    if (!token) return { problem: "no auth token: call GET /info first and send its authToken" };
    const match = /^(0x[0-9a-f]{40})\.(\d{1,12})\.([0-9a-f]{64})$/.exec(token);
    if (!match) return { problem: "the auth token is malformed: send the authToken from GET /info unchanged" };
    const [, sender, expiry, mac] = match;
    const expected = Buffer.from(this.mac(sender, Number(expiry)), "hex");
    if (!timingSafeEqual(expected, Buffer.from(mac, "hex"))) {
      return {
        problem: "the auth token was not issued by this orchestrator (or under another secret): call GET /info",
      };
    }
    if (Number(expiry) * 1000 < this.clock())
      return { problem: "the auth token expired: call GET /info for a new one" };
    return { sender };
  }
}
