/**
 * Huge request bodies for upload-limit tests, made lazily: a 1 GiB upload never holds more than one small chunk in
 * memory, and the bytes actually handed to the socket are counted, so a test can tell a daemon that refused early
 * from one that read everything.
 */
import http from "node:http";
import { Readable } from "node:stream";

export const ONE_GIB = 1024 ** 3;
const TS_PACKET_BYTES = 188;

/** `total` bytes of MPEG-TS null packets (sync byte, PID 0x1fff), produced only as fast as the consumer pulls. */
export class LazyTransportStream extends Readable {
  /** Bytes handed to the consumer so far. */
  produced = 0;
  private readonly chunk = Buffer.alloc(1024 * TS_PACKET_BYTES);

  constructor(readonly total: number) {
    super();
    for (let i = 0; i < this.chunk.length; i += TS_PACKET_BYTES) this.chunk.set([0x47, 0x1f, 0xff, 0x10], i);
  }

  override _read(): void {
    const left = this.total - this.produced;
    if (left <= 0) {
      this.push(null);
      return;
    }
    // The same buffer every time: it is never written to again, so sharing it is safe.
    const piece = left < this.chunk.length ? this.chunk.subarray(0, left) : this.chunk;
    this.produced += piece.length;
    this.push(piece);
  }
}

export interface UploadOutcome {
  /** The answer's status and body, if one came before the connection closed. */
  status?: number;
  text?: string;
  /** The socket error (ECONNRESET, EPIPE) or "TIMEOUT", if there was no answer. */
  error?: string;
  /** Body bytes the request pulled from the stream: an upper bound on what the daemon can have read. */
  bytesSent: number;
  ms: number;
}

export interface UploadOptions {
  method: "PUT" | "POST";
  headers: Record<string, string>;
  /** Declared as Content-Length; without it node sends the body chunked. */
  contentLength?: number;
  totalBytes: number;
  timeoutMs: number;
}

/** Streams a lazy body to `url` and settles at the first answer, socket error or the timeout (never rejects). */
export function streamUpload(url: string, options: UploadOptions): Promise<UploadOutcome> {
  const body = new LazyTransportStream(options.totalBytes);
  const started = performance.now();
  const headers = { ...options.headers };
  if (options.contentLength !== undefined) headers["content-length"] = String(options.contentLength);
  return new Promise((resolve) => {
    const request = http.request(url, { method: options.method, headers });
    let settled = false;
    const finish = (outcome: Omit<UploadOutcome, "bytesSent" | "ms">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      body.unpipe(request);
      body.destroy();
      request.destroy();
      resolve({ ...outcome, bytesSent: body.produced, ms: performance.now() - started });
    };
    const timer = setTimeout(() => finish({ error: "TIMEOUT" }), options.timeoutMs);
    let status: number | undefined;
    const chunks: Buffer[] = [];
    const answered = () => finish({ status, text: Buffer.concat(chunks).toString("utf8") });
    request.on("response", (response) => {
      status = response.statusCode;
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      for (const event of ["end", "close", "error"]) response.on(event, answered);
    });
    // A daemon that answers and closes while the body is still being written resets the connection, so the write
    // may fail (EPIPE, ECONNRESET) after the answer came in: then the answer's own events settle it.
    request.on("error", (error: NodeJS.ErrnoException) => {
      if (status === undefined) finish({ error: error.code ?? error.message });
    });
    body.pipe(request);
  });
}
