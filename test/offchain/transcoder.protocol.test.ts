/**
 * Unit tests of the transcoder's pure parts: the wire format (encodeFrame/decodeFrame and every refusal), the
 * orchestrator address, reconnect back-off, where the secret comes from, the listen address, and what the daemon
 * announces (autoSessions, capabilitiesOf).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import fc from "fast-check";

import { resolveSecret } from "../../offchain/cli";
import { parseListenAddress } from "../../offchain/common/http";
import type { MediaTools } from "../../offchain/media/binaries";
import type { GpuSelfTest } from "../../offchain/media/gpu";
import { PRESETS } from "../../offchain/media/ladder";
import { keccak256 } from "../../offchain/pm/crypto";
import { DEFAULT_BACKOFF, backoffDelay } from "../../offchain/transcoder/client";
import { autoSessions, capabilitiesOf } from "../../offchain/transcoder/daemon";
import {
  type Message,
  PROTOCOL_VERSION,
  ProtocolError,
  type RenditionMeta,
  type Result,
  decodeFrame,
  encodeFrame,
  splitRenditions,
  transcoderEndpoint,
} from "../../offchain/transcoder/protocol";
import { thrownBy } from "../support/assertions";

const hashOf = (data: Uint8Array) => "0x" + keccak256(data).toString("hex");

function meta(name: string, data: Buffer, overrides: Partial<RenditionMeta> = {}): RenditionMeta {
  return {
    name,
    bytes: data.length,
    hash: hashOf(data),
    width: 640,
    height: 360,
    frames: 60,
    pixels: 640 * 360 * 60,
    durationMs: 2000,
    codec: "avc1.64001e",
    ...overrides,
  };
}

const LOW = Buffer.from("the 360p rendition's bytes");
const HIGH = Buffer.from("the 720p rendition's bytes, a few more of them");

function resultHeader(renditions: RenditionMeta[]): Result {
  return {
    type: "result",
    jobId: "job-1",
    renditions,
    device: "cpu",
    timings: { probeMs: 1, transcodeMs: 20, totalMs: 22 },
  };
}

/** A frame with an arbitrary header text (valid JSON or not) and payload. */
function rawFrame(headerText: string, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const json = Buffer.from(headerText, "utf8");
  const length = Buffer.alloc(4);
  length.writeUInt32BE(json.length, 0);
  return Buffer.concat([length, json, payload]);
}

/** A frame whose header is `header` as JSON, unchecked (encodeFrame takes only well-typed messages). */
const frameOf = (header: unknown, payload?: Uint8Array) => rawFrame(JSON.stringify(header), payload);

function refused(frame: Buffer, message?: RegExp): ProtocolError {
  const error = thrownBy(ProtocolError, () => decodeFrame(frame));
  if (message) expect(error.message).to.match(message);
  return error;
}

describe("transcoder protocol: frames", () => {
  describe("round trips", () => {
    const headerOnly: Message[] = [
      {
        type: "hello",
        protocol: PROTOCOL_VERSION,
        capacity: 4,
        capabilities: {
          decoders: ["h264", "hevc"],
          encoders: ["h264"],
          gpus: [{ index: 0, decode: true, encode: false }],
          deterministic: true,
        },
        name: "transcodér ✓", // multi-byte UTF-8: the length prefix counts bytes
        version: "0.1.0",
      },
      { type: "welcome", protocol: PROTOCOL_VERSION, transcoderId: "t-1" },
      {
        type: "error",
        jobId: "job-1",
        code: "SEGMENT_NOT_MPEGTS",
        message: "not a transport stream",
        retryable: false,
      },
      { type: "error", jobId: "job-2", code: "TRANSCODER_BUSY", message: "", retryable: true },
      { type: "cancel", jobId: "job-1" },
      { type: "draining" },
    ];
    for (const header of headerOnly) {
      it(`${header.type}${header.type === "error" ? ` (${header.code})` : ""}`, () => {
        const frame = encodeFrame(header);
        expect(frame.readUInt32BE(0)).to.equal(frame.length - 4);
        const decoded = decodeFrame(frame);
        expect(decoded.header).to.deep.equal(header);
        expect(decoded.payload.length).to.equal(0);
      });
    }

    it("job, with its source segment as the payload", () => {
      const segment = Buffer.from([0x47, 1, 2, 3, 4, 5]);
      const header: Message = {
        type: "job",
        jobId: "job-1",
        renditions: [PRESETS["720p30"], PRESETS["360p30"]],
        timeoutMs: 8000,
      };
      const decoded = decodeFrame(encodeFrame(header, segment));
      expect(decoded.header).to.deep.equal(header);
      expect(decoded.payload.equals(segment)).to.equal(true);
    });

    it("job whose renditions are preset names", () => {
      const header = { type: "job", jobId: "job-1", renditions: ["720p", "360p30"], timeoutMs: 1 };
      expect(decodeFrame(frameOf(header, Buffer.from([1]))).header).to.deep.equal(header);
    });

    it("result, whose payload splitRenditions cuts back into the renditions", () => {
      const header = resultHeader([meta("720p30", HIGH, { width: 1280, height: 720 }), meta("360p30", LOW)]);
      // Renditions are sent back to back, as separate buffers.
      const frame = encodeFrame(header, [HIGH, LOW]);
      const decoded = decodeFrame(frame);
      expect(decoded.header).to.deep.equal(header);
      expect(decoded.payload.length).to.equal(HIGH.length + LOW.length);
      const parts = splitRenditions(decoded.header as Result, decoded.payload);
      expect(parts.map((p) => p.toString())).to.deep.equal([HIGH.toString(), LOW.toString()]);
      parts.forEach((part, i) => expect(hashOf(part)).to.equal(header.renditions[i].hash));
    });

    it("result with no renditions and no payload", () => {
      const header = resultHeader([]);
      expect(decodeFrame(encodeFrame(header)).header).to.deep.equal(header);
    });

    it("a payload given as one buffer is the same frame as the same bytes in parts", () => {
      const header = resultHeader([meta("720p30", HIGH), meta("360p30", LOW)]);
      expect(encodeFrame(header, Buffer.concat([HIGH, LOW])).equals(encodeFrame(header, [HIGH, LOW]))).to.equal(true);
    });
  });

  describe("malformed frames throw ProtocolError", () => {
    it("a frame shorter than its 4-byte length prefix", () => {
      for (const length of [0, 1, 3]) refused(Buffer.alloc(length), /shorter/);
    });

    it("a header length beyond the end of the frame", () => {
      const frame = encodeFrame({ type: "draining" });
      refused(frame.subarray(0, frame.length - 1), /header length/);
      const lying = Buffer.from(frame);
      lying.writeUInt32BE(frame.length - 3, 0); // one byte more than there is
      refused(lying, /header length/);
      const huge = Buffer.from(frame);
      huge.writeUInt32BE(0xffffffff, 0);
      refused(huge, /header length/);
    });

    it("a header over 64 KiB, even when the frame holds it all and it is valid JSON", () => {
      const padded = (bytes: number) => {
        const base = JSON.stringify({ type: "draining", pad: "" });
        return JSON.stringify({ type: "draining", pad: "x".repeat(bytes - base.length) });
      };
      expect(Buffer.byteLength(padded(64 * 1024))).to.equal(64 * 1024);
      expect(decodeFrame(rawFrame(padded(64 * 1024))).header.type).to.equal("draining");
      refused(rawFrame(padded(64 * 1024 + 1)), /header length 65537/);
    });

    it("a header that is not JSON", () => {
      refused(rawFrame("{type: draining}"), /not JSON/);
      refused(rawFrame(""), /not JSON/);
      refused(rawFrame(JSON.stringify({ type: "draining" }).slice(0, -1)), /not JSON/);
    });

    it("a header that is JSON but not an object", () => {
      for (const text of ['[{"type":"draining"}]', "[]", "null", '"draining"', "42", "true"]) {
        refused(rawFrame(text), /not a JSON object/);
      }
    });

    it("an unknown or missing message type", () => {
      refused(frameOf({ type: "hi" }), /unknown message type "hi"/);
      refused(frameOf({ type: "Draining" }), /unknown message type/);
      refused(frameOf({ jobId: "job-1" }), /unknown message type/);
      refused(frameOf({ type: 1 }), /unknown message type/);
    });

    it("a job without a payload", () => {
      refused(
        encodeFrame({ type: "job", jobId: "job-1", renditions: [PRESETS["360p30"]], timeoutMs: 5000 }),
        /payload/,
      );
    });

    it("a job with no renditions, or renditions that are not an array", () => {
      const payload = Buffer.from([0x47]);
      refused(frameOf({ type: "job", jobId: "job-1", renditions: [], timeoutMs: 5000 }, payload), /renditions/);
      refused(frameOf({ type: "job", jobId: "job-1", renditions: "360p", timeoutMs: 5000 }, payload), /renditions/);
      refused(frameOf({ type: "job", jobId: "job-1", timeoutMs: 5000 }, payload), /renditions/);
    });

    it("a job with a zero, negative, fractional or missing timeout", () => {
      const payload = Buffer.from([0x47]);
      for (const timeoutMs of [0, -1, 1.5, "5000", null, undefined]) {
        refused(frameOf({ type: "job", jobId: "job-1", renditions: ["360p"], timeoutMs }, payload), /timeoutMs/);
      }
    });

    it("a job without a job id", () => {
      for (const jobId of ["", 7, undefined, "x".repeat(257)]) {
        refused(frameOf({ type: "job", jobId, renditions: ["360p"], timeoutMs: 1 }, Buffer.from([1])), /jobId/);
      }
    });

    it("a result whose payload is longer or shorter than its renditions announce", () => {
      const header = resultHeader([meta("720p30", HIGH), meta("360p30", LOW)]);
      refused(
        encodeFrame(header, [HIGH]),
        new RegExp(`payload is ${HIGH.length} bytes; its renditions announce ${HIGH.length + LOW.length}`),
      );
      refused(encodeFrame(header, [HIGH, LOW, Buffer.from([0])]), /announce/);
      refused(encodeFrame(header), /announce/);
      refused(encodeFrame(resultHeader([]), [LOW]), /announce 0/);
    });

    it("a rendition hash that is not 0x + 64 lowercase hex digits", () => {
      const good = hashOf(LOW);
      for (const hash of [
        good.slice(2),
        good.slice(0, -1),
        good + "0",
        "0x" + "g".repeat(64),
        "0X" + good.slice(2),
        "",
        42,
      ]) {
        const header = resultHeader([meta("360p30", LOW, { hash: hash as string })]);
        refused(encodeFrame(header, LOW), /hash/);
      }
    });

    it("negative, fractional or non-numeric counts in a rendition", () => {
      for (const field of ["bytes", "width", "height", "frames", "pixels", "durationMs"] as const) {
        for (const value of [-1, 1.5, "60", null, Number.MAX_SAFE_INTEGER + 2]) {
          const header = resultHeader([{ ...meta("360p30", LOW), [field]: value as number }]);
          refused(encodeFrame(header, LOW), new RegExp(`renditions\\[0\\]\\.${field} must be a non-negative integer`));
        }
      }
    });

    it("a rendition that is not an object, or has no name or codec", () => {
      refused(frameOf(resultHeader([null as unknown as RenditionMeta])), /not an object/);
      refused(encodeFrame(resultHeader([meta("", LOW)]), LOW), /name/);
      refused(encodeFrame(resultHeader([meta("360p30", LOW, { codec: "" })]), LOW), /codec/);
    });

    it("an error without retryable (or with it as a string), or without a code or message", () => {
      const error = {
        type: "error",
        jobId: "job-1",
        code: "TRANSCODE_FAILED",
        message: "ffmpeg failed",
        retryable: true,
      };
      const { retryable: _retryable, ...withoutRetryable } = error;
      refused(frameOf(withoutRetryable), /retryable/);
      refused(frameOf({ ...error, retryable: "true" }), /retryable/);
      refused(frameOf({ ...error, code: "" }), /retryable/);
      refused(frameOf({ ...error, message: undefined }), /retryable/);
      expect(decodeFrame(frameOf(error)).header).to.deep.equal(error);
    });

    it("a hello without a positive capacity or capabilities, and a welcome without an id", () => {
      const hello = {
        type: "hello",
        protocol: 1,
        capacity: 2,
        capabilities: { decoders: [], encoders: [], gpus: [], deterministic: true },
      };
      refused(frameOf({ ...hello, capacity: 0 }), /capacity/);
      refused(frameOf({ ...hello, capacity: 1.5 }), /capacity/);
      refused(frameOf({ ...hello, capabilities: null }), /capabilities/);
      refused(frameOf({ ...hello, protocol: -1 }), /protocol/);
      refused(frameOf({ type: "welcome", protocol: 1, transcoderId: "" }), /welcome/);
      refused(frameOf({ type: "cancel" }), /cancel/);
    });
  });
});

describe("transcoder protocol: transcoderEndpoint", () => {
  const cases: Array<[string, string]> = [
    ["127.0.0.1:8935", "ws://127.0.0.1:8935/transcoders"],
    ["  127.0.0.1:8935 ", "ws://127.0.0.1:8935/transcoders"],
    ["orch.example:8935", "ws://orch.example:8935/transcoders"],
    ["[::1]:8935", "ws://[::1]:8935/transcoders"],
    ["http://127.0.0.1:8935", "ws://127.0.0.1:8935/transcoders"],
    ["http://orch.example:8935/", "ws://orch.example:8935/transcoders"],
    ["HTTPS://orch.example", "wss://orch.example/transcoders"],
    ["https://orch.example:8443", "wss://orch.example:8443/transcoders"],
    ["ws://orch.example:8935", "ws://orch.example:8935/transcoders"],
    ["wss://orch.example/transcoders", "wss://orch.example/transcoders"],
    ["ws://orch.example:8935/custom/path", "ws://orch.example:8935/custom/path"],
    ["https://orch.example/pool-a/transcoders", "wss://orch.example/pool-a/transcoders"],
  ];
  for (const [address, url] of cases) {
    it(`${JSON.stringify(address)} → ${url}`, () => expect(transcoderEndpoint(address)).to.equal(url));
  }

  it("refuses other schemes", () => {
    for (const address of ["ftp://orch.example:21", "file:///tmp/socket", "unix://orch.sock"]) {
      expect(() => transcoderEndpoint(address)).to.throw(/use ws:\/\/, wss:\/\/, http:\/\/ or https:\/\//);
    }
  });

  it("refuses what is neither host:port nor a URL", () => {
    for (const address of ["", "   ", "not an address", "127.0.0.1:99999", "http://", "::::"]) {
      expect(() => transcoderEndpoint(address), address).to.throw(/--orch-addr .* is not a host:port or URL/);
    }
  });
});

describe("transcoder client: backoffDelay", () => {
  const options = { initialMs: 500, maxMs: 30_000 };
  const noJitter = () => 0.5; // 0.8 + 0.4 × 0.5 = 1

  it("starts at initialMs and doubles with each attempt", () => {
    expect([1, 2, 3, 4, 5, 6].map((attempt) => backoffDelay(attempt, options, noJitter))).to.deep.equal([
      500, 1000, 2000, 4000, 8000, 16_000,
    ]);
    expect(backoffDelay(0, options, noJitter), "attempt 0 is treated as the first").to.equal(500);
  });

  it("is capped at maxMs, however many attempts", () => {
    for (const attempt of [7, 8, 20, 100, 5000]) expect(backoffDelay(attempt, options, noJitter)).to.equal(30_000);
    expect(backoffDelay(3, { initialMs: 100, maxMs: 250 }, noJitter)).to.equal(250);
  });

  it("jitters by ±20% at the extremes of the random source", () => {
    expect(backoffDelay(1, options, () => 0)).to.equal(400);
    expect(backoffDelay(1, options, () => 0.999_999)).to.equal(600);
    expect(backoffDelay(10, options, () => 0)).to.equal(24_000);
    expect(backoffDelay(10, options, () => 0.999_999)).to.equal(36_000);
  });

  it("stays within ±20% of the capped doubling for any random value in [0, 1)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, r) => {
          const base = Math.min(DEFAULT_BACKOFF.maxMs, DEFAULT_BACKOFF.initialMs * 2 ** (attempt - 1));
          const delay = backoffDelay(attempt, DEFAULT_BACKOFF, () => r);
          return Number.isInteger(delay) && delay >= Math.round(base * 0.8) && delay <= Math.round(base * 1.2);
        },
      ),
    );
  });

  it("uses Math.random when no random source is given (values spread, within bounds)", () => {
    const delays = Array.from({ length: 200 }, () => backoffDelay(1, options));
    for (const d of delays) expect(d).to.be.within(400, 600);
    expect(new Set(delays).size).to.be.greaterThan(20);
  });
});

describe("streamflow transcoder: resolveSecret", () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "streamflow-secret-"));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const file = (name: string, content: string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, content);
    return p;
  };

  it("takes --orch-secret, ahead of the environment", () => {
    expect(resolveSecret({ orchSecret: "flag-secret" }, {})).to.equal("flag-secret");
    expect(resolveSecret({ orchSecret: "flag-secret" }, { STREAMFLOW_ORCH_SECRET: "env-secret" })).to.equal(
      "flag-secret",
    );
  });

  it("reads --orch-secret-file, trimmed, ahead of the environment", () => {
    const p = file("secret.txt", "  file-secret \n\n");
    expect(resolveSecret({ orchSecretFile: p }, {})).to.equal("file-secret");
    expect(resolveSecret({ orchSecretFile: p }, { STREAMFLOW_ORCH_SECRET: "env-secret" })).to.equal("file-secret");
  });

  it("falls back to STREAMFLOW_ORCH_SECRET", () => {
    expect(resolveSecret({}, { STREAMFLOW_ORCH_SECRET: "env-secret" })).to.equal("env-secret");
  });

  it("refuses both flags at once", () => {
    const p = file("both.txt", "file-secret");
    expect(() => resolveSecret({ orchSecret: "flag-secret", orchSecretFile: p }, {})).to.throw(
      /--orch-secret or --orch-secret-file, not both/,
    );
  });

  it("names a secret file it cannot read, and why", () => {
    const missing = path.join(dir, "no-such-file");
    expect(() => resolveSecret({ orchSecretFile: missing }, { STREAMFLOW_ORCH_SECRET: "env-secret" })).to.throw(
      `Cannot read --orch-secret-file ${missing}: ENOENT`,
    );
    expect(() => resolveSecret({ orchSecretFile: dir }, {})).to.throw(`Cannot read --orch-secret-file ${dir}: EISDIR`);
  });

  it("refuses to run without any secret (an empty one included), naming every way to give one", () => {
    for (const [options, env] of [
      [{}, {}],
      [{}, { STREAMFLOW_ORCH_SECRET: "" }],
      [{ orchSecret: "" }, {}],
      [{ orchSecretFile: file("empty.txt", " \n") }, {}],
    ] as const) {
      expect(() => resolveSecret(options, env)).to.throw(
        /--orch-secret-file FILE, --orch-secret S or STREAMFLOW_ORCH_SECRET/,
      );
    }
  });

  it("reads process.env when no environment is passed", () => {
    const saved = process.env.STREAMFLOW_ORCH_SECRET;
    process.env.STREAMFLOW_ORCH_SECRET = "process-secret";
    try {
      expect(resolveSecret({})).to.equal("process-secret");
    } finally {
      if (saved === undefined) delete process.env.STREAMFLOW_ORCH_SECRET;
      else process.env.STREAMFLOW_ORCH_SECRET = saved;
    }
  });
});

describe("common/http: parseListenAddress", () => {
  const good: Array<[string, { host: string; port: number }]> = [
    ["127.0.0.1:7936", { host: "127.0.0.1", port: 7936 }],
    ["0.0.0.0:80", { host: "0.0.0.0", port: 80 }],
    ["localhost:0", { host: "localhost", port: 0 }],
    ["[::1]:9000", { host: "::1", port: 9000 }],
    ["7936", { host: "127.0.0.1", port: 7936 }],
    [" 127.0.0.1:65535 ", { host: "127.0.0.1", port: 65535 }],
  ];
  for (const [address, expected] of good) {
    it(`${JSON.stringify(address)} → ${expected.host} port ${expected.port}`, () => {
      expect(parseListenAddress(address, "--http-addr")).to.deep.equal(expected);
    });
  }

  it("a bare port binds loopback, never every interface", () => {
    expect(parseListenAddress("0", "--http-addr").host).to.equal("127.0.0.1");
  });

  it("refuses anything else, naming the flag and the address", () => {
    for (const address of ["", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:123456", "host:port", "-1"]) {
      expect(() => parseListenAddress(address, "--http-addr"), address).to.throw(
        `--http-addr "${address}": expected host:port (e.g. 127.0.0.1:7936 or [::1]:7936) or a port`,
      );
    }
  });

  // The host part matches any characters but "]": a URL or a name with spaces passes as a "host" and only fails
  // later, when the server tries to bind it (getaddrinfo ENOTFOUND), without naming --http-addr.
  it("refuses a URL or a host name that cannot be one, naming the flag", () => {
    for (const address of ["http://127.0.0.1:7936", "my host:7936", "127.0.0.1/metrics:7936"]) {
      expect(() => parseListenAddress(address, "--http-addr"), address).to.throw(
        `--http-addr "${address}": expected host:port (e.g. 127.0.0.1:7936 or [::1]:7936) or a port`,
      );
    }
  });
});

describe("transcoder daemon: autoSessions and capabilitiesOf", () => {
  it("autoSessions: 8 per usable GPU, else half the CPU cores, at least 1", () => {
    expect(autoSessions(1, 64)).to.equal(8);
    expect(autoSessions(2, 4)).to.equal(16);
    expect(autoSessions(0, 16)).to.equal(8);
    expect(autoSessions(0, 7)).to.equal(3);
    expect(autoSessions(0, 2)).to.equal(1);
    expect(autoSessions(0, 1)).to.equal(1);
    expect(autoSessions(0)).to.equal(Math.max(1, Math.floor(os.availableParallelism() / 2)));
  });

  const tools = (decoders: string[]) => ({ decoders: new Set(decoders) }) as unknown as MediaTools;
  const gpu = (index: number, decode: boolean, encode: boolean): GpuSelfTest => ({
    gpu: index,
    decode,
    encode,
    problems: [],
  });

  it("capabilitiesOf announces the source decoders it has (in a fixed order), H.264 out, and determinism", () => {
    const caps = capabilitiesOf(tools(["av1", "aac", "h264", "vp8", "mpeg2video", "png"]), []);
    expect(caps).to.deep.equal({
      decoders: ["h264", "mpeg2video", "av1"],
      encoders: ["h264"],
      gpus: [],
      deterministic: true,
    });
    expect(capabilitiesOf(tools([]), []).decoders).to.deep.equal([]);
  });

  it("capabilitiesOf lists only GPUs with a working half, by index", () => {
    const caps = capabilitiesOf(tools(["h264"]), [
      gpu(0, true, true),
      gpu(1, false, false),
      gpu(2, true, false),
      gpu(3, false, true),
    ]);
    expect(caps.gpus).to.deep.equal([
      { index: 0, decode: true, encode: true },
      { index: 2, decode: true, encode: false },
      { index: 3, decode: false, encode: true },
    ]);
  });
});
