/**
 * Who may publish: stream keys from a list (`name:key` entries, or bare keys) or an auth webhook, each resolving a
 * key to the stream id that playback uses, so a key never appears in a public URL.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import fs from "node:fs";

export interface Publisher {
  streamId: string;
}

export interface AuthRequest {
  streamKey: string;
  protocol: "rtmp" | "http";
  remoteAddress: string;
}

/** Resolves a key to its stream, or undefined when the key is refused. */
export type StreamAuthorizer = (request: AuthRequest) => Promise<Publisher | undefined>;

const STREAM_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function isValidStreamId(id: string): boolean {
  return STREAM_ID.test(id);
}

/** A bare key's stream id: a hash prefix, so the key itself is never published. */
export function streamIdOfKey(key: string): string {
  return "s-" + createHash("sha256").update(key).digest("hex").slice(0, 12);
}

/**
 * Parses `--stream-keys`: comma- or newline-separated `name:key` or `key` entries, or `@file` with one per line
 * (`#` after a space or at a line's start begins a comment). Keys are 8-256 characters without whitespace, commas or colons.
 */
export function parseStreamKeys(
  spec: string,
  readFile = (f: string) => fs.readFileSync(f, "utf8"),
): Map<string, string> {
  let text = spec;
  if (spec.startsWith("@")) {
    try {
      text = readFile(spec.slice(1));
    } catch (error) {
      throw new Error(
        `Cannot read --stream-keys file ${spec.slice(1)}: ${(error as NodeJS.ErrnoException).code ?? error}`,
      );
    }
  }
  const keys = new Map<string, string>();
  // A comment starts with '#' at the start of a line or after a space (keys have no spaces, so a '#' inside a key
  // stays part of it).
  const entries = text
    .split("\n")
    .map((line) => line.replace(/(^|\s)#.*$/, ""))
    .flatMap((line) => line.split(","))
    .map((entry) => entry.trim())
    .filter(Boolean);
  for (const entry of entries) {
    const colon = entry.indexOf(":");
    const [name, key] = colon >= 0 ? [entry.slice(0, colon), entry.slice(colon + 1)] : [undefined, entry];
    if (!/^[^\s,:]{8,256}$/.test(key)) {
      throw new Error(
        `--stream-keys: a key must be 8-256 characters without spaces, commas or colons (entry ${JSON.stringify(name ?? "…")})`,
      );
    }
    const id = name ?? streamIdOfKey(key);
    if (!isValidStreamId(id)) {
      throw new Error(
        `--stream-keys: stream name ${JSON.stringify(id)} must be 1-64 of A-Z a-z 0-9 _ . - (not starting with . _ -)`,
      );
    }
    if ([...keys.values()].includes(id)) throw new Error(`--stream-keys: stream name ${id} is listed twice`);
    if (keys.has(key)) throw new Error(`--stream-keys: the key of ${id} is also given to ${keys.get(key)}`);
    keys.set(key, id);
  }
  if (keys.size === 0) throw new Error("--stream-keys lists no key");
  return keys;
}

function sameKey(a: string, b: string): boolean {
  const x = createHash("sha256").update(a).digest();
  const y = createHash("sha256").update(b).digest();
  return timingSafeEqual(x, y);
}

export function keyListAuthorizer(keys: ReadonlyMap<string, string>): StreamAuthorizer {
  return async ({ streamKey }) => {
    for (const [key, streamId] of keys) if (sameKey(key, streamKey)) return { streamId };
    return undefined;
  };
}

/**
 * Asks a webhook: POST {streamKey, protocol, remoteAddress} as JSON. A 2xx answer accepts, with `{"streamId": ...}`
 * in the body or else the key's hash as the id; anything else (or no answer within the timeout) refuses.
 */
export function webhookAuthorizer(url: string, timeoutMs = 3000): StreamAuthorizer {
  return async (request) => {
    let response: Response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(request),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new Error(`auth webhook ${url} did not answer: ${(error as Error).message}`);
    }
    if (!response.ok) return undefined;
    const text = await response.text();
    let streamId = streamIdOfKey(request.streamKey);
    if (text.trim() !== "") {
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new Error(`auth webhook ${url} answered ${response.status} with a body that is not JSON`);
      }
      const named = (body as { streamId?: unknown } | null)?.streamId;
      if (named !== undefined) {
        if (typeof named !== "string" || !isValidStreamId(named)) {
          throw new Error(`auth webhook ${url} answered an invalid streamId ${JSON.stringify(named)}`);
        }
        streamId = named;
      }
    }
    return { streamId };
  };
}

/** Without keys or a webhook (loopback only): any key publishes, as the stream of that name. */
export const openAuthorizer: StreamAuthorizer = async ({ streamKey }) =>
  isValidStreamId(streamKey) ? { streamId: streamKey } : undefined;
