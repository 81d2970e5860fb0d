/**
 * Dispute evidence (offchain/disputes/evidence.ts): the content-addressed EvidenceStore on disk, the manifest that
 * putEvidence writes, blobUri, and fetchEvidence against a real fastify server on a loopback port serving the store
 * with the broadcaster's own route (registerEvidenceRoutes, offchain/broadcaster/disputes.ts). The honest path
 * returns exactly what was stored; every way the evidence can fail to be what the disputed receipt names is refused
 * with an EvidenceError that says why. The bytes are not video: nothing here decodes them.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import { Wallet, id, keccak256 } from "ethers";
import Fastify, { type FastifyInstance } from "fastify";

import { registerEvidenceRoutes } from "../../offchain/broadcaster/disputes";
import {
  EVIDENCE_VERSION,
  type EvidenceManifest,
  EvidenceError,
  EvidenceStore,
  blobUri,
  fetchEvidence,
  hashOf,
} from "../../offchain/disputes/evidence";
import { PRESETS, type Rendition, canonicalLadderJson, profilesHash } from "../../offchain/media/ladder";
import { type TranscodeReceipt, outputsHash, receiptToJson } from "../../offchain/orchestrator/receipt";
import { rejectionOf, thrownBy } from "../support/assertions";
import { freePort } from "../support/processes";

const LADDER: Rendition[] = [{ ...PRESETS["360p30"] }, { ...PRESETS["240p30"] }];
const CHAIN_ID = 31337n;
const DISPUTE_MANAGER = "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9";
const SIGNATURE = "0x" + "ab".repeat(65);
const BROADCASTER = Wallet.createRandom().address.toLowerCase();
const ORCHESTRATOR = Wallet.createRandom().address.toLowerCase();

/** What a broadcaster keeps of one segment: the source, one output per rendition, and the receipt over them. */
interface Segment {
  source: Buffer;
  outputs: Buffer[];
  ladder: Rendition[];
  receipt: TranscodeReceipt;
}

function segment(options: { ladder?: Rendition[]; sourceBytes?: number; seq?: bigint } = {}): Segment {
  const ladder = options.ladder ?? LADDER;
  const source = randomBytes(options.sourceBytes ?? 3000);
  const outputs = ladder.map((_, i) => randomBytes(1000 + 100 * i));
  return {
    source,
    outputs,
    ladder,
    receipt: {
      broadcaster: BROADCASTER,
      orchestrator: ORCHESTRATOR,
      streamId: id("cam-1"),
      seq: options.seq ?? 7n,
      sourceHash: keccak256(source),
      profilesHash: profilesHash(ladder),
      outputsHash: outputsHash(outputs.map((o) => keccak256(o))),
      deterministic: false,
    },
  };
}

function putSegment(store: EvidenceStore, s: Segment, overrides: { ladder?: Rendition[] } = {}): string {
  return store.putEvidence({
    chainId: CHAIN_ID,
    disputeManager: DISPUTE_MANAGER,
    receipt: s.receipt,
    signature: SIGNATURE,
    ladder: overrides.ladder ?? s.ladder,
    source: s.source,
    durationMs: 2000,
    outputs: s.outputs,
  });
}

/** A hand-written manifest, stored as is: for manifests putEvidence would never write. */
function putManifest(store: EvidenceStore, manifest: unknown): string {
  return store.put(Buffer.from(JSON.stringify(manifest), "utf8"));
}

function readManifest(store: EvidenceStore, hash: string): EvidenceManifest {
  return JSON.parse(store.get(hash)!.toString("utf8")) as EvidenceManifest;
}

function blobFile(store: EvidenceStore, hash: string): string {
  return path.join(store.dir, hash.slice(2));
}

async function evidenceError(promise: Promise<unknown>): Promise<EvidenceError> {
  const error = await rejectionOf(promise);
  expect(error, String(error)).to.be.instanceOf(EvidenceError);
  return error as EvidenceError;
}

describe("dispute evidence", function () {
  const dirs: string[] = [];
  const newStore = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "streamflow-evidence-"));
    dirs.push(dir);
    return new EvidenceStore(path.join(dir, "store"));
  };

  after(() => {
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  describe("EvidenceStore", () => {
    it("names each blob by the keccak256 of its bytes and reads it back", () => {
      const store = newStore();
      const bytes = randomBytes(5000);
      const hash = store.put(bytes);
      expect(hash).to.equal(keccak256(bytes));
      expect(hashOf(bytes)).to.equal(keccak256(bytes));
      expect(fs.readdirSync(store.dir)).to.deep.equal([hash.slice(2)]);
      expect(store.get(hash)).to.deep.equal(bytes);
    });

    it("creates its directory, nested, if missing", () => {
      const store = newStore();
      expect(fs.statSync(store.dir).isDirectory()).to.equal(true);
      const nested = new EvidenceStore(path.join(store.dir, "a", "b"));
      expect(nested.get(nested.put(Buffer.from("x")))).to.deep.equal(Buffer.from("x"));
    });

    it("is idempotent: the same bytes twice give the same name and one file", () => {
      const store = newStore();
      const bytes = randomBytes(100);
      const first = store.put(bytes);
      const second = store.put(Buffer.from(bytes));
      expect(second).to.equal(first);
      expect(fs.readdirSync(store.dir)).to.deep.equal([first.slice(2)]);
      expect(store.get(first)).to.deep.equal(bytes);
    });

    it("stores an empty blob under the hash of nothing", () => {
      const store = newStore();
      const hash = store.put(Buffer.alloc(0));
      expect(hash).to.equal(keccak256(new Uint8Array(0)));
      expect(store.get(hash)).to.deep.equal(Buffer.alloc(0));
    });

    it("writes atomically: no temporary file is left, and a crashed writer's partial file does not count", () => {
      const store = newStore();
      const bytes = randomBytes(2000);
      const hash = hashOf(bytes);
      // What a writer that died mid-write leaves: a partial temporary file next to where the blob would go.
      const stale = `${blobFile(store, hash)}.${process.pid}.tmp`;
      fs.writeFileSync(stale, bytes.subarray(0, 100));
      expect(store.get(hash)).to.equal(undefined);
      expect(store.put(bytes)).to.equal(hash);
      expect(store.get(hash)).to.deep.equal(bytes);
      expect(fs.readdirSync(store.dir)).to.deep.equal([hash.slice(2)]);
    });

    it("answers undefined for an unknown hash and for anything that is not a lower-case 0x hash", () => {
      const store = newStore();
      const hash = store.put(Buffer.from("evidence"));
      expect(store.get(keccak256(Buffer.from("other")))).to.equal(undefined);
      for (const malformed of [
        "",
        "0x",
        hash.slice(2), // no 0x
        hash.slice(0, -1), // 63 digits
        hash + "0",
        hash.toUpperCase().replace("0X", "0x"),
        "0x" + "zz".repeat(32),
        "../" + hash,
        `${hash}/../${hash.slice(2)}`,
        `0x${"0".repeat(62)}/.`,
      ]) {
        expect(store.get(malformed), malformed).to.equal(undefined);
      }
    });

    describe("putEvidence", () => {
      it("stores the source, every output and a manifest that ties them to the receipt", () => {
        const store = newStore();
        const s = segment();
        const manifestHash = putSegment(store, s);
        const bytes = store.get(manifestHash)!;
        expect(keccak256(bytes)).to.equal(manifestHash);
        const manifest = JSON.parse(bytes.toString("utf8"));
        expect(manifest).to.deep.equal({
          streamflowEvidence: EVIDENCE_VERSION,
          chainId: "31337",
          disputeManager: DISPUTE_MANAGER.toLowerCase(),
          receipt: receiptToJson(s.receipt),
          signature: SIGNATURE,
          renditions: JSON.parse(canonicalLadderJson(LADDER)),
          source: { hash: keccak256(s.source), bytes: s.source.length, durationMs: 2000 },
          outputs: [
            { name: "360p30", hash: keccak256(s.outputs[0]), bytes: s.outputs[0].length },
            { name: "240p30", hash: keccak256(s.outputs[1]), bytes: s.outputs[1].length },
          ],
        });
        expect(EVIDENCE_VERSION).to.equal(1);
        expect(manifest.receipt.seq).to.equal("7"); // JSON has no bigint
        expect(store.get(manifest.source.hash)).to.deep.equal(s.source);
        expect(store.get(manifest.outputs[0].hash)).to.deep.equal(s.outputs[0]);
        expect(store.get(manifest.outputs[1].hash)).to.deep.equal(s.outputs[1]);
        expect(fs.readdirSync(store.dir)).to.have.length(4);
      });

      it("lists the renditions so that they hash to the receipt's profilesHash", () => {
        const store = newStore();
        const s = segment();
        const manifest = readManifest(store, putSegment(store, s));
        expect(keccak256(Buffer.from(JSON.stringify(manifest.renditions), "utf8"))).to.equal(s.receipt.profilesHash);
        expect(outputsHash(manifest.outputs.map((o) => o.hash))).to.equal(s.receipt.outputsHash);
      });

      it("refuses outputs that do not match the ladder one for one", () => {
        const store = newStore();
        const s = segment();
        const error = thrownBy(EvidenceError, () =>
          store.putEvidence({
            chainId: CHAIN_ID,
            disputeManager: DISPUTE_MANAGER,
            receipt: s.receipt,
            signature: SIGNATURE,
            ladder: LADDER,
            source: s.source,
            durationMs: 2000,
            outputs: s.outputs.slice(0, 1),
          }),
        );
        expect(error.message).to.equal("1 outputs for 2 renditions");
        expect(fs.readdirSync(store.dir)).to.deep.equal([]);
      });

      it("gives the same evidence the same id", () => {
        const store = newStore();
        const s = segment();
        expect(putSegment(store, s)).to.equal(putSegment(store, s));
      });
    });
  });

  describe("blobUri", () => {
    const manifest = "0x" + "11".repeat(32);
    const blob = "0x" + "22".repeat(32);

    it("replaces the manifest's hash with the blob's, keeping scheme, host, port and path", () => {
      expect(blobUri(`http://127.0.0.1:8935/evidence/${manifest}`, blob)).to.equal(
        `http://127.0.0.1:8935/evidence/${blob}`,
      );
      expect(blobUri(`https://cdn.example.com/a/b/${manifest}`, blob)).to.equal(`https://cdn.example.com/a/b/${blob}`);
      expect(blobUri(`http://[::1]:9/${manifest}`, blob)).to.equal(`http://[::1]:9/${blob}`);
    });

    it("drops the query string", () => {
      expect(blobUri(`http://h.example/evidence/${manifest}?token=secret`, blob)).to.equal(
        `http://h.example/evidence/${blob}`,
      );
    });
  });

  describe("the /evidence/:hash route", () => {
    let app: FastifyInstance;
    let store: EvidenceStore;

    beforeEach(async () => {
      store = newStore();
      app = Fastify();
      registerEvidenceRoutes(app, store);
      await app.ready();
    });

    afterEach(async () => {
      await app.close();
    });

    it("serves a blob's exact bytes as immutable, cacheable and open to any origin", async () => {
      const bytes = randomBytes(4000);
      const hash = store.put(bytes);
      const response = await app.inject({ method: "GET", url: `/evidence/${hash}` });
      expect(response.statusCode).to.equal(200);
      expect(response.rawPayload).to.deep.equal(bytes);
      expect(response.headers["cache-control"]).to.equal("public, max-age=31536000, immutable");
      expect(response.headers["content-type"]).to.equal("application/octet-stream");
      expect(response.headers["access-control-allow-origin"]).to.equal("*");
      expect(Number(response.headers["content-length"])).to.equal(bytes.length);
    });

    it("accepts the hash in upper case", async () => {
      const hash = store.put(Buffer.from("blob"));
      const response = await app.inject({ method: "GET", url: `/evidence/0x${hash.slice(2).toUpperCase()}` });
      expect(response.statusCode).to.equal(200);
      expect(response.body).to.equal("blob");
    });

    it("answers 404 with the error JSON for an unknown hash", async () => {
      const unknown = keccak256(Buffer.from("never stored"));
      const response = await app.inject({ method: "GET", url: `/evidence/${unknown}` });
      expect(response.statusCode).to.equal(404);
      expect(response.headers["content-type"]).to.match(/^application\/json/);
      expect(response.headers["cache-control"]).to.equal(undefined); // a miss may be filled later
      expect(response.json()).to.deep.equal({ error: { code: "NOT_FOUND", message: `no evidence ${unknown}` } });
    });

    it("answers 404 with the error JSON for a malformed hash, never reading outside the store", async () => {
      const hash = store.put(Buffer.from("inside"));
      fs.writeFileSync(path.join(path.dirname(store.dir), "outside"), "secret");
      for (const malformed of ["abc", hash.slice(2), hash.slice(0, 65), "0x" + "zz".repeat(32), "..%2Foutside"]) {
        const response = await app.inject({ method: "GET", url: `/evidence/${malformed}` });
        expect(response.statusCode, malformed).to.equal(404);
        const body = response.json();
        expect(body.error.code).to.equal("NOT_FOUND");
        expect(body.error.message)
          .to.be.a("string")
          .and.match(/^no evidence /);
        expect(Object.keys(body)).to.deep.equal(["error"]);
        expect(Object.keys(body.error)).to.deep.equal(["code", "message"]);
      }
    });
  });

  describe("fetchEvidence from a real server", function () {
    this.timeout(20_000);

    let app: FastifyInstance;
    let store: EvidenceStore;
    let base: string;

    beforeEach(async () => {
      store = newStore();
      app = Fastify();
      registerEvidenceRoutes(app, store);
      await app.listen({ host: "127.0.0.1", port: 0 });
      base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/evidence`;
    });

    afterEach(async () => {
      await app.close();
    });

    it("returns the exact source, outputs, ladder, receipt and manifest", async () => {
      const s = segment();
      const manifestHash = putSegment(store, s);
      const evidence = await fetchEvidence(`${base}/${manifestHash}`, s.receipt);
      expect(evidence.source).to.deep.equal(s.source);
      expect(evidence.outputs).to.deep.equal(s.outputs);
      expect(evidence.ladder).to.deep.equal(LADDER);
      expect(evidence.receipt).to.deep.equal(s.receipt);
      expect(evidence.manifest).to.deep.equal(readManifest(store, manifestHash));
    });

    it("compares addresses and hashes of the receipt regardless of case", async () => {
      const s = segment();
      const manifestHash = putSegment(store, s);
      const upper = (hex: string) => "0x" + hex.slice(2).toUpperCase();
      const expected: TranscodeReceipt = {
        ...s.receipt,
        orchestrator: upper(s.receipt.orchestrator),
        sourceHash: upper(s.receipt.sourceHash),
        outputsHash: upper(s.receipt.outputsHash),
        profilesHash: upper(s.receipt.profilesHash),
        streamId: upper(s.receipt.streamId),
      };
      const evidence = await fetchEvidence(`${base}/${manifestHash}`, expected);
      expect(evidence.source).to.deep.equal(s.source);
    });

    it("accepts a manifest that names its renditions by preset", async () => {
      const s = segment();
      const manifest = readManifest(store, putSegment(store, s));
      const named = putManifest(store, { ...manifest, renditions: ["360p30", "240p"] });
      const evidence = await fetchEvidence(`${base}/${named}`, s.receipt);
      expect(evidence.ladder).to.deep.equal(LADDER);
    });

    it("refuses a URI that does not end in a hash", async () => {
      const s = segment();
      const manifestHash = putSegment(store, s);
      for (const uri of [
        `${base}/manifest.json`,
        `${base}/${manifestHash}/`,
        `${base}/${manifestHash.slice(2)}`,
        `${base}/${manifestHash.slice(0, -1)}`,
        `${base}/${manifestHash}.json`,
        `ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi/segment-0`,
      ]) {
        const error = await evidenceError(fetchEvidence(uri, s.receipt));
        expect(error.message, uri).to.equal(`the evidence URI "${uri}" does not end in a keccak256 hash`);
      }
    });

    it("refuses a URI that is not a URL", async () => {
      const error = await evidenceError(fetchEvidence("0x" + "11".repeat(32), segment().receipt));
      expect(error.message).to.match(/is not a URL/);
    });

    it("refuses a manifest whose bytes do not hash to its name (modified on the server)", async () => {
      const s = segment();
      const manifestHash = putSegment(store, s);
      const file = blobFile(store, manifestHash);
      fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace('"chainId":"31337"', '"chainId":"1"'));
      const uri = `${base}/${manifestHash}`;
      const error = await evidenceError(fetchEvidence(uri, s.receipt));
      expect(error.message).to.equal(`${uri} does not hash to ${manifestHash}`);
    });

    it("refuses a source whose bytes were altered on disk", async () => {
      const s = segment();
      const manifestHash = putSegment(store, s);
      const sourceHash = keccak256(s.source);
      const altered = Buffer.from(s.source);
      altered[100] ^= 0xff;
      fs.writeFileSync(blobFile(store, sourceHash), altered);
      const error = await evidenceError(fetchEvidence(`${base}/${manifestHash}`, s.receipt));
      expect(error.message).to.equal(`${base}/${sourceHash} does not hash to ${sourceHash}`);
    });

    it("refuses an output whose bytes were altered on disk, even by one byte at the end", async () => {
      const s = segment();
      const manifestHash = putSegment(store, s);
      const outputHash = keccak256(s.outputs[1]);
      fs.appendFileSync(blobFile(store, outputHash), Buffer.from([0]));
      const error = await evidenceError(fetchEvidence(`${base}/${manifestHash}`, s.receipt));
      expect(error.message).to.equal(`${base}/${outputHash} does not hash to ${outputHash}`);
    });

    describe("a manifest whose receipt is not the disputed one", () => {
      const fields: Array<[string, (r: TranscodeReceipt) => Partial<TranscodeReceipt>]> = [
        ["orchestrator", () => ({ orchestrator: Wallet.createRandom().address })],
        ["seq", (r) => ({ seq: r.seq + 1n })],
        ["streamId", () => ({ streamId: id("cam-2") })],
        ["sourceHash", () => ({ sourceHash: keccak256(Buffer.from("another source")) })],
        ["outputsHash", () => ({ outputsHash: keccak256(Buffer.from("other outputs")) })],
        ["profilesHash", () => ({ profilesHash: profilesHash([{ ...PRESETS["720p30"] }]) })],
      ];
      for (const [field, change] of fields) {
        it(`refuses it when the ${field} differs`, async () => {
          const s = segment();
          const manifestHash = putSegment(store, s);
          const disputed = { ...s.receipt, ...change(s.receipt) };
          const error = await evidenceError(fetchEvidence(`${base}/${manifestHash}`, disputed));
          expect(error.message).to.equal("the manifest's receipt is not the disputed one");
        });
      }
    });

    it("refuses renditions that do not hash to the receipt's profilesHash", async () => {
      const s = segment();
      // Two renditions, as many as the outputs, but not the ones the receipt was signed for.
      const other: Rendition[] = [{ ...PRESETS["480p30"] }, { ...PRESETS["240p30"] }];
      const manifestHash = putSegment(store, s, { ladder: other });
      const error = await evidenceError(fetchEvidence(`${base}/${manifestHash}`, s.receipt));
      expect(error.message).to.equal("the manifest's renditions do not hash to the receipt's profilesHash");
    });

    it("refuses renditions that are not a valid ladder", async () => {
      const s = segment();
      const manifest = readManifest(store, putSegment(store, s));
      const broken = putManifest(store, { ...manifest, renditions: [{ name: "360p30", width: -1 }] });
      const error = await evidenceError(fetchEvidence(`${base}/${broken}`, s.receipt));
      expect(error.message).to.match(/^the manifest's renditions are invalid: /);
    });

    it("refuses a manifest with fewer outputs than renditions", async () => {
      const s = segment();
      const manifest = readManifest(store, putSegment(store, s));
      // One output for a ladder of two, and a receipt signed over that one output: consistent, but incomplete.
      const receipt = { ...s.receipt, outputsHash: manifest.outputs[0].hash };
      const short = putManifest(store, {
        ...manifest,
        receipt: receiptToJson(receipt),
        outputs: manifest.outputs.slice(0, 1),
      });
      const error = await evidenceError(fetchEvidence(`${base}/${short}`, receipt));
      expect(error.message).to.equal("1 outputs for 2 renditions");
    });

    it("refuses a manifest with more outputs than renditions", async () => {
      const s = segment();
      const manifest = readManifest(store, putSegment(store, s));
      const extra = { name: "extra", hash: store.put(randomBytes(10)), bytes: 10 };
      const outputs = [...manifest.outputs, extra];
      const receipt = { ...s.receipt, outputsHash: outputsHash(outputs.map((o) => o.hash)) };
      const long = putManifest(store, { ...manifest, receipt: receiptToJson(receipt), outputs });
      const error = await evidenceError(fetchEvidence(`${base}/${long}`, receipt));
      expect(error.message).to.equal("3 outputs for 2 renditions");
    });

    it("refuses outputs listed in another order than the receipt's outputsHash", async () => {
      const s = segment();
      const manifest = readManifest(store, putSegment(store, s));
      const swapped = putManifest(store, { ...manifest, outputs: [manifest.outputs[1], manifest.outputs[0]] });
      const error = await evidenceError(fetchEvidence(`${base}/${swapped}`, s.receipt));
      expect(error.message).to.equal("the manifest's outputs do not hash to the receipt's outputsHash");
    });

    it("refuses a manifest whose source is not the receipt's", async () => {
      const s = segment();
      const manifest = readManifest(store, putSegment(store, s));
      const other = store.put(randomBytes(3000));
      const wrong = putManifest(store, { ...manifest, source: { ...manifest.source, hash: other } });
      const error = await evidenceError(fetchEvidence(`${base}/${wrong}`, s.receipt));
      expect(error.message).to.equal("the manifest's source is not the receipt's sourceHash");
    });

    it("refuses a manifest that is not JSON, not version 1, or has malformed blobs", async () => {
      const s = segment();
      const manifest = readManifest(store, putSegment(store, s));
      const cases: Array<[string, string]> = [
        [store.put(Buffer.from("not json")), "the manifest is not JSON: "],
        [putManifest(store, null), "not a version 1 evidence manifest"],
        [putManifest(store, { ...manifest, streamflowEvidence: 2 }), "not a version 1 evidence manifest"],
        [putManifest(store, { ...manifest, source: undefined }), "the manifest's source or outputs are malformed"],
        [putManifest(store, { ...manifest, outputs: "none" }), "the manifest's source or outputs are malformed"],
        [
          putManifest(store, { ...manifest, outputs: [{ ...manifest.outputs[0], hash: "../../etc/passwd" }] }),
          "the manifest's source or outputs are malformed",
        ],
      ];
      for (const [hash, message] of cases) {
        const error = await evidenceError(fetchEvidence(`${base}/${hash}`, s.receipt));
        expect(error.message.startsWith(message), `${error.message} (expected ${message})`).to.equal(true);
      }
    });

    it("refuses a manifest without a usable receipt, with an EvidenceError", async () => {
      const s = segment();
      const manifest = readManifest(store, putSegment(store, s));
      const { receipt: _receipt, ...withoutReceipt } = manifest;
      for (const broken of [
        withoutReceipt,
        { ...manifest, receipt: { ...manifest.receipt, seq: "seven" } },
        { ...manifest, receipt: { ...manifest.receipt, orchestrator: undefined } },
      ]) {
        const error = await rejectionOf(fetchEvidence(`${base}/${putManifest(store, broken)}`, s.receipt));
        expect(error, `${error.name}: ${error.message}`).to.be.instanceOf(EvidenceError);
      }
    });

    it("refuses a manifest the server does not have (404)", async () => {
      const s = segment();
      putSegment(store, s);
      const unknown = keccak256(Buffer.from("missing"));
      const uri = `${base}/${unknown}`;
      const error = await evidenceError(fetchEvidence(uri, s.receipt));
      expect(error.message).to.equal(`${uri} answered 404`);
    });

    it("refuses evidence whose output the server lost (404)", async () => {
      const s = segment();
      const manifestHash = putSegment(store, s);
      const outputHash = keccak256(s.outputs[0]);
      fs.rmSync(blobFile(store, outputHash));
      const error = await evidenceError(fetchEvidence(`${base}/${manifestHash}`, s.receipt));
      expect(error.message).to.equal(`${base}/${outputHash} answered 404`);
    });

    it("refuses evidence on an unreachable server", async () => {
      const s = segment();
      const manifestHash = putSegment(store, s);
      const uri = `http://127.0.0.1:${await freePort()}/evidence/${manifestHash}`;
      const error = await evidenceError(fetchEvidence(uri, s.receipt, { timeoutMs: 5000 }));
      expect(error.message).to.match(new RegExp(`^cannot fetch ${escape(uri)}: `));
    });

    it("refuses a blob over maxBytes, as declared by its Content-Length", async () => {
      const s = segment({ sourceBytes: 4096 });
      const manifestHash = putSegment(store, s);
      const sourceUri = `${base}/${keccak256(s.source)}`;
      const error = await evidenceError(fetchEvidence(`${base}/${manifestHash}`, s.receipt, { maxBytes: 4095 }));
      expect(error.message).to.equal(`${sourceUri} is 4096 bytes, over the 4095 limit`);
      // Exactly at the limit is allowed.
      const evidence = await fetchEvidence(`${base}/${manifestHash}`, s.receipt, { maxBytes: 4096 });
      expect(evidence.source).to.deep.equal(s.source);
    });

    it("refuses a blob over maxBytes that comes without a Content-Length", async () => {
      const s = segment({ sourceBytes: 4096 });
      const manifestHash = putSegment(store, s);
      const withoutLength: typeof fetch = async (input, init) => {
        const response = await fetch(input, init);
        return new Response(response.body, { status: response.status }); // streamed: no Content-Length
      };
      const error = await evidenceError(
        fetchEvidence(`${base}/${manifestHash}`, s.receipt, { maxBytes: 4095, fetch: withoutLength }),
      );
      expect(error.message).to.equal(`${base}/${keccak256(s.source)} is over the 4095 byte limit`);
    });

    it("refuses a manifest over 1 MiB, whatever maxBytes says", async () => {
      const s = segment();
      const manifest = readManifest(store, putSegment(store, s));
      const huge = putManifest(store, { ...manifest, padding: "x".repeat(1024 * 1024) });
      const error = await evidenceError(fetchEvidence(`${base}/${huge}`, s.receipt, { maxBytes: 64 * 1024 * 1024 }));
      expect(error.message).to.match(/over the 1048576 limit$/);
    });
  });

  describe("fetchEvidence from a hostile server", function () {
    this.timeout(20_000);

    /** A server that streams `totalBytes` without a Content-Length (or stalls after one chunk); counts what it sent. */
    async function streamingServer(totalBytes: number, stall = false) {
      const state = { sent: 0 };
      const server = http.createServer((_request, response) => {
        response.writeHead(200, { "content-type": "application/octet-stream" });
        const chunk = Buffer.alloc(64 * 1024, 0x47);
        if (stall) {
          response.write(chunk);
          return;
        }
        const pump = () => {
          while (state.sent < totalBytes) {
            state.sent += chunk.length;
            if (!response.write(chunk)) {
              response.once("drain", pump);
              return;
            }
          }
          response.end();
        };
        response.on("close", () => response.removeAllListeners("drain"));
        pump();
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      return {
        url,
        state,
        close: () =>
          new Promise<void>((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
          }),
      };
    }

    it("stops reading a blob without a Content-Length once it passes the limit", async () => {
      // A manifest is at most 1 MiB; this server would send 128 MiB (a verifier at 256 MiB per blob would be
      // fed until it runs out of memory or time).
      const server = await streamingServer(128 * 1024 * 1024);
      try {
        const uri = `${server.url}/evidence/${keccak256(Buffer.from("anything"))}`;
        const error = await evidenceError(fetchEvidence(uri, segment().receipt));
        expect(error.message).to.match(/over the 1048576 byte limit$/);
        expect(
          server.state.sent,
          `the verifier read ${server.state.sent} bytes of a blob limited to 1 MiB`,
        ).to.be.below(16 * 1024 * 1024);
      } finally {
        await server.close();
      }
    });

    it("gives up on a blob that stalls after timeoutMs, with an EvidenceError", async () => {
      const server = await streamingServer(0, true);
      try {
        const uri = `${server.url}/evidence/${keccak256(Buffer.from("anything"))}`;
        const started = Date.now();
        const error = await rejectionOf(fetchEvidence(uri, segment().receipt, { timeoutMs: 300 }));
        expect(Date.now() - started).to.be.below(5000);
        expect(error, `${error.name}: ${error.message}`).to.be.instanceOf(EvidenceError);
      } finally {
        await server.close();
      }
    });
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
