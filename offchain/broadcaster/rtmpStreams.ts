/**
 * RTMP publishes turned into streams: a publisher's key is checked, then a segmenter pulls the publish from the RTMP
 * server and feeds each segment to the pipeline. A publisher back within the reconnect grace continues the same pull;
 * a pull that dies while its publisher is still there is started again (after a discontinuity), a few times.
 */
import path from "node:path";

import type { Logger } from "../common/log";
import type { Pipeline } from "./pipeline";
import type { RtmpIngest, RtmpPublish } from "./rtmp";
import { type CutSegment, Segmenter } from "./segmenter";
import type { StreamAuthorizer } from "./streamKeys";

export interface RtmpStreamsOptions {
  ffmpeg: string;
  dataDir: string;
  segmentSeconds: number;
  authorize: StreamAuthorizer;
  pipeline: Pipeline;
  log: Logger;
}

/** How many times one publish's pull is started again after dying on its own. */
const MAX_PULL_RESTARTS = 3;

interface Pull {
  streamId: string;
  segmenter: Segmenter;
  restarts: number;
  /** The server said the publisher is gone for good. */
  unpublished: boolean;
}

export class RtmpStreams {
  private readonly pulls = new Map<string, Pull>();
  private stopping = false;

  constructor(
    private readonly rtmp: RtmpIngest,
    private readonly options: RtmpStreamsOptions,
  ) {
    rtmp.on("publish", (publish: RtmpPublish) => void this.accept(publish));
    rtmp.on("unpublish", ({ sessionId }: { sessionId: string }) => {
      // The server closes our pull too: the segmenter reads the end, publishes the last segment, ends the stream.
      const pull = this.pulls.get(sessionId);
      if (!pull) return;
      pull.unpublished = true;
      options.log.info({ stream: pull.streamId }, "RTMP publish ended");
    });
  }

  private async accept(publish: RtmpPublish): Promise<void> {
    const { log } = this.options;
    let publisher;
    try {
      publisher = await this.options.authorize({
        streamKey: publish.streamKey,
        protocol: "rtmp",
        remoteAddress: publish.remoteAddress,
      });
    } catch (error) {
      log.error({ reason: (error as Error).message }, "stream authorization failed: publisher dropped");
    }
    if (!publisher) {
      log.warn({ remoteAddress: publish.remoteAddress }, "RTMP publish refused: unknown stream key");
      publish.reject();
      return;
    }
    const streamId = publisher.streamId;
    if ([...this.pulls.values()].some((p) => p.streamId === streamId && p.segmenter.running)) {
      // Back within the reconnect grace: the server resumes the same publish (timestamps continued) and our pull,
      // still attached, carries on.
      log.info({ stream: streamId }, "RTMP publisher reconnected: the stream continues");
      return;
    }
    this.options.pipeline.open(streamId, "rtmp");
    this.pull(publish, { streamId, restarts: 0, unpublished: false });
    log.info({ stream: streamId, remoteAddress: publish.remoteAddress }, "RTMP publish started");
  }

  private pull(publish: RtmpPublish, state: Omit<Pull, "segmenter">): void {
    const { pipeline, log } = this.options;
    const segmenter = new Segmenter({
      ffmpeg: this.options.ffmpeg,
      input: publish.playUrl,
      dir: path.join(this.options.dataDir, "ingest", publish.sessionId),
      targetSeconds: this.options.segmentSeconds,
    });
    const pull: Pull = { ...state, segmenter };
    this.pulls.set(publish.sessionId, pull);
    segmenter.on("segment", (cut: CutSegment) => {
      const stream = pipeline.streams.get(pull.streamId);
      if (!stream) return;
      pipeline.ingest(stream, cut.data, undefined, cut.durationMs).catch((error: Error) => {
        log.error({ stream: pull.streamId, index: cut.index, reason: error.message }, "segment refused at ingest");
      });
    });
    segmenter.on("end", ({ code, stderr }: { code: number | null; stderr: string }) => {
      this.pulls.delete(publish.sessionId);
      const again = !pull.unpublished && !this.stopping && code !== 0 && pull.restarts < MAX_PULL_RESTARTS;
      log[again ? "warn" : "info"]({ stream: pull.streamId, code, stderr: stderr || undefined }, "segmenter stopped");
      if (again) {
        const stream = pipeline.streams.get(pull.streamId);
        if (stream) stream.discontinuityNext = true;
        this.pull(publish, { ...pull, restarts: pull.restarts + 1 });
        return;
      }
      if (![...this.pulls.values()].some((p) => p.streamId === pull.streamId)) void pipeline.end(pull.streamId);
    });
    segmenter.start();
  }

  /** Closing the server ends our pulls too: each ffmpeg reads the end and flushes its last segment. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.rtmp.stop();
    await Promise.all([...this.pulls.values()].map((p) => p.segmenter.finish()));
  }
}
