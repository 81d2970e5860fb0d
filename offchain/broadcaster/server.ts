/**
 * The broadcaster's HTTP side: HTTP push ingest (`PUT /live/<streamId>/<seq>.ts`), HLS playback under `/stream/`
 * with CORS, the status page at `/` and its data at `/api/status`.
 */
import fs from "node:fs";
import path from "node:path";

import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

import { IngestError, type Pipeline } from "./pipeline";
import type { StreamAuthorizer } from "./streamKeys";

export interface ServerContext {
  pipeline: Pipeline;
  authorize: StreamAuthorizer;
  /** Open mode (no keys, no webhook): the path's stream id is the key. */
  open: boolean;
  maxSegmentBytes: number;
  status(): unknown;
  /** A pushed stream with no segment for this long is ended. */
  httpIdleMs: number;
  /** Each HTTP push refused, by its code (metrics). */
  pushRefused(code: string): void;
}

/** What a push's headers allow, checked before its body is read. */
interface PushTarget {
  streamId: string;
  seq: number;
  durationMs: number;
}

const PAGE_DIR = path.join(__dirname, "statusPage");
const ASSETS: Record<string, { file: string; type: string }> = {
  "app.js": { file: path.join(PAGE_DIR, "app.js"), type: "text/javascript; charset=utf-8" },
  "style.css": { file: path.join(PAGE_DIR, "style.css"), type: "text/css; charset=utf-8" },
  "hls.min.js": { file: require.resolve("hls.js/dist/hls.min.js"), type: "text/javascript; charset=utf-8" },
};
const PLAYLIST_TYPE = "application/vnd.apple.mpegurl";

function cors(reply: FastifyReply): FastifyReply {
  return reply
    .header("access-control-allow-origin", "*")
    .header("access-control-allow-methods", "GET, HEAD, OPTIONS")
    .header("access-control-allow-headers", "range, content-type")
    .header("access-control-expose-headers", "content-length, content-range");
}

function refuse(reply: FastifyReply, status: number, code: string, message: string) {
  return reply.code(status).send({ error: { code, message } });
}

export function registerRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const idleTimers = new Map<string, NodeJS.Timeout>();
  const refusePush = (reply: FastifyReply, status: number, code: string, message: string) => {
    ctx.pushRefused(code);
    return refuse(reply, status, code, message);
  };
  const pushTargets = new WeakMap<FastifyRequest, PushTarget>();

  /** Refuses a push from its headers alone (so an unauthorised client cannot make this daemon read its body). */
  const checkPush = async (
    request: FastifyRequest<{ Params: { streamId: string; file: string } }>,
    reply: FastifyReply,
  ): Promise<FastifyReply | undefined> => {
    const { streamId, file } = request.params;
    const match = /^(\d{1,15})\.ts$/.exec(file);
    if (!match) return refusePush(reply, 404, "NOT_FOUND", "push segments to /live/<streamId>/<seq>.ts");
    const durationHeader = request.headers["content-duration"];
    const durationMs = Number(durationHeader);
    if (typeof durationHeader !== "string" || !Number.isFinite(durationMs) || durationMs <= 0 || durationMs > 60_000) {
      return refusePush(
        reply,
        400,
        "CONTENT_DURATION_REQUIRED",
        "Content-Duration: the segment's duration in ms (1-60000)",
      );
    }
    const bearer = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? "")?.[1];
    const key = bearer ?? (ctx.open ? streamId : undefined);
    if (!key)
      return refusePush(reply, 401, "STREAM_KEY_REQUIRED", "send the stream key as Authorization: Bearer <key>");
    let publisher;
    try {
      publisher = await ctx.authorize({ streamKey: key, protocol: "http", remoteAddress: request.ip });
    } catch (error) {
      request.log.error({ error: (error as Error).message }, "stream authorization failed");
      return refusePush(reply, 503, "AUTH_UNAVAILABLE", "the stream key could not be checked; try again");
    }
    if (!publisher) return refusePush(reply, 403, "STREAM_KEY_REFUSED", "this stream key may not publish");
    if (publisher.streamId !== streamId) {
      return refusePush(
        reply,
        403,
        "STREAM_KEY_REFUSED",
        `this key publishes stream ${publisher.streamId}, not ${streamId}`,
      );
    }
    pushTargets.set(request, { streamId, seq: Number(match[1]), durationMs });
    return undefined;
  };
  app.addHook("onClose", async () => {
    for (const timer of idleTimers.values()) clearTimeout(timer);
  });

  app.addContentTypeParser(["video/mp2t", "application/octet-stream"], { parseAs: "buffer" }, (_request, body, done) =>
    done(null, body),
  );
  // Every refusal in one shape, fastify's own (body too large, bad media type) included; no internals leak.
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const status = typeof error.statusCode === "number" && error.statusCode < 500 ? error.statusCode : 500;
    const answer = request.method === "PUT" && request.url.startsWith("/live/") ? refusePush : refuse;
    if (status === 500) {
      request.log.error({ err: error.message }, "request failed");
      return answer(reply, 500, "INTERNAL", "internal error");
    }
    if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      return answer(reply, 413, "SEGMENT_TOO_LARGE", `a segment may be at most ${ctx.maxSegmentBytes} bytes`);
    }
    if (error.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
      return answer(reply, 415, "UNSUPPORTED_MEDIA_TYPE", "push segments with Content-Type: video/mp2t");
    }
    return answer(reply, status, "BAD_REQUEST", error.message);
  });

  app.get("/", async (_request, reply) =>
    reply.type("text/html; charset=utf-8").send(fs.createReadStream(path.join(PAGE_DIR, "index.html"))),
  );
  app.get<{ Params: { name: string } }>("/assets/:name", async (request, reply) => {
    const asset = ASSETS[request.params.name];
    if (!asset) return refuse(reply, 404, "NOT_FOUND", "no such asset");
    return reply.type(asset.type).header("cache-control", "max-age=300").send(fs.createReadStream(asset.file));
  });
  app.get("/api/status", async (_request, reply) => reply.header("cache-control", "no-store").send(ctx.status()));

  // ---- HTTP push ----
  app.put<{ Params: { streamId: string; file: string } }>(
    "/live/:streamId/:file",
    { bodyLimit: ctx.maxSegmentBytes, onRequest: checkPush },
    async (request, reply) => {
      const { streamId, seq, durationMs } = pushTargets.get(request)!;
      if (!Buffer.isBuffer(request.body))
        return refusePush(reply, 400, "SEGMENT_EMPTY", "the body must be one MPEG-TS segment");
      const existing = ctx.pipeline.streams.get(streamId);
      const stream = existing?.state === "live" ? existing : ctx.pipeline.open(streamId, "http");
      clearTimeout(idleTimers.get(streamId));
      const idle = setTimeout(() => {
        idleTimers.delete(streamId);
        void ctx.pipeline.end(streamId);
      }, ctx.httpIdleMs);
      idle.unref();
      idleTimers.set(streamId, idle);
      try {
        const record = await ctx.pipeline.ingest(stream, request.body, seq, durationMs);
        return reply.send({ stream: streamId, ...record, transcoded: record.status === "ok" });
      } catch (error) {
        if (error instanceof IngestError) return refusePush(reply, error.status, error.code, error.message);
        throw error;
      }
    },
  );
  app.delete<{ Params: { streamId: string } }>("/live/:streamId", async (request, reply) => {
    const { streamId } = request.params;
    const bearer = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? "")?.[1];
    const key = bearer ?? (ctx.open ? streamId : undefined);
    const publisher = key
      ? await ctx.authorize({ streamKey: key, protocol: "http", remoteAddress: request.ip }).catch(() => undefined)
      : undefined;
    if (publisher?.streamId !== streamId)
      return refuse(reply, 403, "STREAM_KEY_REFUSED", "this key may not end the stream");
    if (!ctx.pipeline.streams.has(streamId)) return refuse(reply, 404, "NOT_FOUND", `no stream ${streamId}`);
    clearTimeout(idleTimers.get(streamId));
    idleTimers.delete(streamId);
    await ctx.pipeline.end(streamId);
    return reply.code(204).send();
  });

  // ---- HLS playback ----
  app.options("/stream/*", async (_request, reply) => cors(reply).code(204).send());
  const streamOf = (id: string) => ctx.pipeline.streams.get(id);
  const notFound = (reply: FastifyReply, what: string) => refuse(cors(reply), 404, "NOT_FOUND", `${what} not found`);

  app.get<{ Params: { file: string } }>("/stream/:file", async (request, reply) => {
    const id = /^(.+)\.m3u8$/.exec(request.params.file)?.[1];
    const playlist = id ? streamOf(id)?.output.masterPlaylist() : undefined;
    if (!playlist) return notFound(reply, "stream (or its first segment)");
    return cors(reply).type(PLAYLIST_TYPE).header("cache-control", "no-cache").send(playlist);
  });
  app.get<{ Params: { id: string; file: string } }>("/stream/:id/:file", async (request, reply) => {
    const rendition = /^([A-Za-z0-9_.-]+)\.m3u8$/.exec(request.params.file)?.[1];
    const playlist = rendition ? streamOf(request.params.id)?.output.mediaPlaylist(rendition) : undefined;
    if (!playlist) return notFound(reply, "playlist");
    return cors(reply).type(PLAYLIST_TYPE).header("cache-control", "no-cache").send(playlist);
  });
  app.get<{ Params: { id: string; rendition: string; file: string } }>(
    "/stream/:id/:rendition/:file",
    async (request: FastifyRequest<{ Params: { id: string; rendition: string; file: string } }>, reply) => {
      const seq = /^(\d{1,15})\.ts$/.exec(request.params.file)?.[1];
      const file = seq
        ? streamOf(request.params.id)?.output.segmentFile(request.params.rendition, Number(seq))
        : undefined;
      if (!file) return notFound(reply, "segment");
      let data: Buffer;
      try {
        data = await fs.promises.readFile(file);
      } catch {
        return notFound(reply, "segment"); // slid out of the window and deleted meanwhile
      }
      // A name is never reused while the stream directory is kept (a restart continues its numbering); short anyway.
      return cors(reply).type("video/mp2t").header("cache-control", "public, max-age=60").send(data);
    },
  );
}
