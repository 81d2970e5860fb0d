/**
 * Who may publish to the broadcaster (offchain/broadcaster/streamKeys.ts): `--stream-keys` parsing (named and bare
 * keys, @file lists with comments, clear refusals that never repeat a key), the key-list and open authorizers, and
 * the auth webhook against a real HTTP server on a loopback port.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";

import {
  type AuthRequest,
  isValidStreamId,
  keyListAuthorizer,
  openAuthorizer,
  parseStreamKeys,
  streamIdOfKey,
  webhookAuthorizer,
} from "../../offchain/broadcaster/streamKeys";
import { rejectionOf } from "../support/assertions";

const KEY_A = "alice-secret-key-1";
const KEY_B = "bob-secret-key-22";
const BARE = "bare-key-0123456789";

/** The error message `run` throws (it must throw). */
function messageOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("expected an error, but nothing was thrown");
}

describe("broadcaster: stream keys", () => {
  describe("parseStreamKeys", () => {
    it("maps name:key entries, comma- or newline-separated, key → stream name", () => {
      const keys = parseStreamKeys(`alice:${KEY_A}, bob:${KEY_B}\ncarol.cam-2:carol-key-333`);
      expect([...keys]).to.deep.equal([
        [KEY_A, "alice"],
        [KEY_B, "bob"],
        ["carol-key-333", "carol.cam-2"],
      ]);
    });

    it("gives a bare key a hashed stream id that does not contain the key", () => {
      const keys = parseStreamKeys(BARE);
      const id = keys.get(BARE)!;
      const expected = "s-" + createHash("sha256").update(BARE).digest("hex").slice(0, 12);
      expect(id).to.equal(expected);
      expect(id).to.equal(streamIdOfKey(BARE));
      expect(id).to.match(/^s-[0-9a-f]{12}$/);
      expect(id).to.not.include(BARE);
      expect(isValidStreamId(id)).to.equal(true);
      expect(streamIdOfKey("another-key-000")).to.not.equal(id);
    });

    it("reads @file: one entry per line, # comments and blank lines ignored", () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "streamflow-keys-"));
      try {
        const file = path.join(dir, "keys.txt");
        fs.writeFileSync(
          file,
          ["# publishers", "", `alice:${KEY_A}   # the main camera`, `  ${BARE}  `, "   # bob is away", ""].join("\n"),
        );
        const keys = parseStreamKeys(`@${file}`);
        expect([...keys]).to.deep.equal([
          [KEY_A, "alice"],
          [BARE, streamIdOfKey(BARE)],
        ]);
        expect(messageOf(() => parseStreamKeys(`@${path.join(dir, "missing.txt")}`))).to.equal(
          `Cannot read --stream-keys file ${path.join(dir, "missing.txt")}: ENOENT`,
        );
        fs.writeFileSync(file, "# nothing here yet\n\n");
        expect(messageOf(() => parseStreamKeys(`@${file}`))).to.equal("--stream-keys lists no key");
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it("uses the injected reader for @file", () => {
      const keys = parseStreamKeys("@/etc/streamflow/keys", (file) => {
        expect(file).to.equal("/etc/streamflow/keys");
        return `alice:${KEY_A}\n`;
      });
      expect(keys.get(KEY_A)).to.equal("alice");
    });

    it("refuses keys that are too short, too long, or hold spaces or colons, without repeating the key", () => {
      const cases = [
        { spec: "alice:short", key: "short" },
        { spec: `alice:${"k".repeat(257)}`, key: "k".repeat(257) },
        { spec: "alice:has space-in-key", key: "has space-in-key" },
        { spec: "alice:key:with:colons", key: "key:with:colons" },
      ];
      for (const { spec, key } of cases) {
        const message = messageOf(() => parseStreamKeys(spec));
        expect(message, spec).to.equal(
          '--stream-keys: a key must be 8-256 characters without spaces, commas or colons (entry "alice")',
        );
        expect(message).to.not.include(key);
      }
      // A bare key that is refused is not named at all.
      const bare = messageOf(() => parseStreamKeys("tiny"));
      expect(bare).to.match(/a key must be 8-256 characters.*\(entry "…"\)$/);
      expect(bare).to.not.include("tiny");
      expect(parseStreamKeys(`alice:${"k".repeat(256)}`).size).to.equal(1);
      expect(parseStreamKeys("alice:12345678").size).to.equal(1);
    });

    it("refuses stream names that cannot be a stream id", () => {
      for (const name of ["-alice", ".alice", "_alice", "al ice", "al/ice", "a".repeat(65), ""]) {
        const message = messageOf(() => parseStreamKeys(`${name}:${KEY_A}`));
        expect(message, name).to.equal(
          `--stream-keys: stream name ${JSON.stringify(name.trim())} must be 1-64 of A-Z a-z 0-9 _ . - (not starting with . _ -)`,
        );
        expect(message).to.not.include(KEY_A);
      }
      expect(parseStreamKeys(`${"a".repeat(64)}:${KEY_A}`).get(KEY_A)).to.equal("a".repeat(64));
    });

    it("refuses a stream name listed twice", () => {
      expect(messageOf(() => parseStreamKeys(`alice:${KEY_A},alice:${KEY_B}`))).to.equal(
        "--stream-keys: stream name alice is listed twice",
      );
      expect(messageOf(() => parseStreamKeys(`${BARE}\n${BARE}`))).to.equal(
        `--stream-keys: stream name ${streamIdOfKey(BARE)} is listed twice`,
      );
    });

    it("refuses a key listed for two streams (one of them could never publish)", () => {
      const message = messageOf(() => parseStreamKeys(`alice:${KEY_A},bob:${KEY_A}`));
      expect(message).to.match(/^--stream-keys: /);
      expect(message).to.not.include(KEY_A);
    });

    it("never keeps a key cut short at a '#' (a shorter key than the one configured would publish)", () => {
      let keys: Map<string, string> | undefined;
      try {
        keys = parseStreamKeys("alice:abcdefgh#tail");
      } catch {
        return; // refusing such a key is fine
      }
      expect(keys.has("abcdefgh"), "the key was truncated at '#'").to.equal(false);
    });

    it("refuses an empty list", () => {
      for (const spec of ["", " , ,\n", "# only a comment"]) {
        expect(messageOf(() => parseStreamKeys(spec))).to.equal("--stream-keys lists no key");
      }
    });
  });

  const request = (streamKey: string): AuthRequest => ({ streamKey, protocol: "rtmp", remoteAddress: "127.0.0.1" });

  describe("keyListAuthorizer", () => {
    it("resolves a listed key to its stream and refuses anything else", async () => {
      const authorize = keyListAuthorizer(parseStreamKeys(`alice:${KEY_A},${BARE}`));
      expect(await authorize(request(KEY_A))).to.deep.equal({ streamId: "alice" });
      expect(await authorize(request(BARE))).to.deep.equal({ streamId: streamIdOfKey(BARE) });
      expect(await authorize(request(KEY_B))).to.equal(undefined);
      expect(await authorize(request(KEY_A.slice(0, -1)))).to.equal(undefined);
      expect(await authorize(request(KEY_A + "x"))).to.equal(undefined);
      expect(await authorize(request("alice"))).to.equal(undefined); // the name is not the key
      expect(await authorize(request(""))).to.equal(undefined);
    });
  });

  describe("openAuthorizer", () => {
    it("publishes any valid stream id as the stream of that name", async () => {
      expect(await openAuthorizer(request("demo"))).to.deep.equal({ streamId: "demo" });
      expect(await openAuthorizer(request("cam-1.main_2"))).to.deep.equal({ streamId: "cam-1.main_2" });
      for (const key of ["", "../etc", "a b", "-x", "a".repeat(65)]) {
        expect(await openAuthorizer(request(key)), key).to.equal(undefined);
      }
    });
  });

  describe("webhookAuthorizer", () => {
    let server: http.Server;
    let url: string;
    let handler: (req: http.IncomingMessage, body: string, res: http.ServerResponse) => void;
    const received: Array<{ method?: string; contentType?: string; body: string }> = [];

    before(async () => {
      server = http.createServer((req, res) => {
        let body = "";
        req.setEncoding("utf8");
        req.on("data", (chunk: string) => (body += chunk));
        req.on("end", () => {
          received.push({ method: req.method, contentType: req.headers["content-type"], body });
          handler(req, body, res);
        });
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/auth`;
    });

    after(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });

    beforeEach(() => {
      received.length = 0;
    });

    const answer =
      (status: number, body = "", type = "application/json") =>
      (_req: http.IncomingMessage, _body: string, res: http.ServerResponse) => {
        res.writeHead(status, { "content-type": type });
        res.end(body);
      };

    it("POSTs the request as JSON and takes the streamId of a 2xx answer", async () => {
      handler = answer(200, JSON.stringify({ streamId: "alice" }));
      const auth: AuthRequest = { streamKey: KEY_A, protocol: "http", remoteAddress: "127.0.0.5" };
      expect(await webhookAuthorizer(url)(auth)).to.deep.equal({ streamId: "alice" });
      expect(received).to.have.length(1);
      expect(received[0].method).to.equal("POST");
      expect(received[0].contentType).to.equal("application/json");
      expect(JSON.parse(received[0].body)).to.deep.equal(auth);
    });

    it("accepts a 2xx without a streamId as the stream of the key's hash", async () => {
      for (const [status, body] of [
        [204, ""],
        [200, ""],
        [200, "{}"],
        [201, JSON.stringify({ ok: true })],
        [200, "null"],
      ] as const) {
        handler = answer(status, body);
        expect(await webhookAuthorizer(url)(request(KEY_B)), `${status} ${body}`).to.deep.equal({
          streamId: streamIdOfKey(KEY_B),
        });
      }
    });

    it("throws on a 2xx with an invalid streamId", async () => {
      for (const streamId of ["../etc/passwd", "", 42, null, "a b"]) {
        handler = answer(200, JSON.stringify({ streamId }));
        const error = await rejectionOf(webhookAuthorizer(url)(request(KEY_A)));
        expect(error.message).to.equal(`auth webhook ${url} answered an invalid streamId ${JSON.stringify(streamId)}`);
      }
    });

    it("refuses the key on 403 and on any other non-2xx answer", async () => {
      for (const status of [403, 401, 404, 500, 302]) {
        handler = answer(status, JSON.stringify({ streamId: "alice" }));
        expect(await webhookAuthorizer(url)(request(KEY_A)), String(status)).to.equal(undefined);
      }
    });

    it("throws on a 2xx whose body is not JSON", async () => {
      handler = answer(200, "<html>ok</html>", "text/html");
      const error = await rejectionOf(webhookAuthorizer(url)(request(KEY_A)));
      expect(error.message).to.equal(`auth webhook ${url} answered 200 with a body that is not JSON`);
    });

    it("throws when the webhook does not answer within the timeout", async () => {
      handler = () => {}; // never answers
      const started = Date.now();
      const error = await rejectionOf(webhookAuthorizer(url, 200)(request(KEY_A)));
      expect(error.message).to.match(new RegExp(`^auth webhook ${url} did not answer: `));
      expect(Date.now() - started).to.be.below(5000);
      server.closeAllConnections();
    });

    it("throws when nothing listens at the webhook's address", async () => {
      const closed = http.createServer();
      await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
      const deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/auth`;
      await new Promise((resolve) => closed.close(resolve));
      const error = await rejectionOf(webhookAuthorizer(deadUrl)(request(KEY_A)));
      expect(error.message).to.match(new RegExp(`^auth webhook ${deadUrl} did not answer: `));
    });
  });
});
