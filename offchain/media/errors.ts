/**
 * Typed media errors. Every refusal carries a stable code (for metrics, HTTP bodies and the transcoder protocol)
 * and a message that says what was found and what to do.
 */
export type MediaErrorCode =
  | "FFMPEG_NOT_FOUND" // no usable ffmpeg/ffprobe binary
  | "FFMPEG_UNSUPPORTED" // found, but too old or missing libx264 / a muxer / a filter we need
  | "LADDER_INVALID" // a rendition ladder that cannot be encoded
  | "SEGMENT_EMPTY" // zero bytes
  | "SEGMENT_TOO_LARGE" // more bytes than the configured limit
  | "SEGMENT_NOT_MPEGTS" // another container (or not media at all)
  | "SEGMENT_TRUNCATED" // MPEG-TS that stops mid-packet
  | "SEGMENT_NO_VIDEO" // a transport stream without a video stream
  | "SEGMENT_UNREADABLE" // ffprobe could not make sense of it
  | "SEGMENT_DIMENSIONS" // width/height/pixels beyond the configured limits
  | "PROBE_TIMEOUT" // ffprobe ran past its time limit and was killed
  | "TRANSCODE_TIMEOUT" // ffmpeg ran past the per-segment time limit and was killed
  | "TRANSCODE_FAILED" // ffmpeg exited non-zero (the message has the tail of its log)
  | "TRANSCODE_NO_OUTPUT" // ffmpeg exited 0 but a rendition has no video frames
  | "TRANSCODE_CANCELLED" // the caller aborted (shutdown, a lost connection)
  | "GPU_UNAVAILABLE"; // asked for an NVIDIA GPU that the self-test could not use

export class MediaError extends Error {
  override readonly name = "MediaError";
  constructor(
    readonly code: MediaErrorCode,
    message: string,
  ) {
    super(message);
  }

  /** Input errors are the sender's fault: retrying the same bytes elsewhere cannot help. */
  get isInputError(): boolean {
    return this.code.startsWith("SEGMENT_") || this.code === "LADDER_INVALID";
  }
}

export function isMediaError(error: unknown): error is MediaError {
  return error instanceof MediaError;
}
