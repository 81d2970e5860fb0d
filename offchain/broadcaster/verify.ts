/**
 * Checking an orchestrator's answer before anything is published: the signed receipt is for this request (our
 * address, the stream, seq, source hash, ladder) and names the bytes received; each rendition has the size the
 * ladder fitted to the source, the source's frames and duration; and, with a decoder, each one decodes cleanly.
 */
import { keccak256 } from "../pm/crypto";
import { type FittedRendition, type Rendition, profilesHash } from "../media/ladder";
import type { MediaTools } from "../media/binaries";
import { logTail, runProcess } from "../media/run";
import { describeOutput } from "../media/transcode";
import { durationToleranceMs, expectedFrames } from "../media/compare";

export { expectedFrames };
import { type SegmentResponse, checkSegmentResponse } from "../orchestrator/client";
import { type ReceiptDomain, outputsHash } from "../orchestrator/receipt";
import { type OrchestratorInfo, streamIdHash } from "../orchestrator/wire";

export interface VerifyRequest {
  broadcaster: string;
  streamId: string;
  seq: number;
  source: Buffer;
  /** keccak256 of `source`, when the caller already has it (hashing a 2 MB segment costs ~6 ms). */
  sourceHash?: string;
  durationMs: number;
  /** Frames in the source segment and its frame rate. */
  sourceFrames: number;
  sourceFps: number;
  ladder: readonly Rendition[];
  fitted: readonly FittedRendition[];
}

export class VerificationError extends Error {
  override readonly name = "VerificationError";
}

/** Throws VerificationError with the first problem found (cheap checks first; decoding, if any, last). */
export async function verifySegment(
  request: VerifyRequest,
  response: SegmentResponse,
  info: OrchestratorInfo,
  domain: ReceiptDomain,
  decoder?: MediaTools,
): Promise<void> {
  const problem = checkSegmentResponse(response, info, domain);
  if (problem) throw new VerificationError(problem);
  const { receipt } = response.result;
  // The receipt must bind the orchestrator to exactly what it delivered: a dispute rests on it.
  const delivered = outputsHash(response.renditions.map((data) => "0x" + keccak256(data).toString("hex")));
  const expect: Array<[string, string, string]> = [
    ["broadcaster", receipt.broadcaster.toLowerCase(), request.broadcaster.toLowerCase()],
    ["orchestrator", receipt.orchestrator.toLowerCase(), info.address.toLowerCase()],
    ["outputsHash", receipt.outputsHash.toLowerCase(), delivered.toLowerCase()],
    ["deterministic", String(receipt.deterministic), String(request.ladder.every((r) => r.deterministic))],
    ["streamId", receipt.streamId.toLowerCase(), streamIdHash(request.streamId)],
    ["seq", receipt.seq, String(request.seq)],
    [
      "sourceHash",
      receipt.sourceHash.toLowerCase(),
      request.sourceHash ?? "0x" + keccak256(request.source).toString("hex"),
    ],
    ["profilesHash", receipt.profilesHash.toLowerCase(), profilesHash(request.ladder).toLowerCase()],
  ];
  for (const [field, got, want] of expect) {
    if (got !== want) throw new VerificationError(`receipt ${field} is ${got}, not ${want}`);
  }
  if (response.renditions.length !== request.fitted.length) {
    throw new VerificationError(`${response.renditions.length} renditions for a ladder of ${request.fitted.length}`);
  }
  for (const [i, fitted] of request.fitted.entries()) {
    let measured;
    try {
      measured = describeOutput(fitted.rendition.name, response.renditions[i], fitted.fps);
    } catch (error) {
      throw new VerificationError(
        `rendition ${fitted.rendition.name} is not a readable H.264 transport stream: ${(error as Error).message}`,
      );
    }
    if (measured.width !== fitted.width || measured.height !== fitted.height) {
      throw new VerificationError(
        `rendition ${fitted.rendition.name} is ${measured.width}x${measured.height}, not ${fitted.width}x${fitted.height}`,
      );
    }
    const frames = expectedFrames(request.sourceFrames, request.sourceFps, fitted.fps);
    if (Math.abs(measured.frames - frames) > 1) {
      throw new VerificationError(`rendition ${fitted.rendition.name} has ${measured.frames} frames, not ${frames}`);
    }
    const tolerance = durationToleranceMs(fitted.fps);
    if (Math.abs(measured.durationMs - request.durationMs) > tolerance) {
      throw new VerificationError(
        `rendition ${fitted.rendition.name} lasts ${measured.durationMs} ms, not ${request.durationMs} ms (±${Math.round(tolerance)})`,
      );
    }
  }
  if (decoder) await decodeAll(decoder, request.fitted, response.renditions);
}

/** Decodes every rendition's video, one ffmpeg each, all at once; any decoder message fails the segment. */
async function decodeAll(tools: MediaTools, fitted: readonly FittedRendition[], renditions: Buffer[]): Promise<void> {
  const results = await Promise.all(
    renditions.map((data) =>
      runProcess(tools.ffmpeg.path, {
        args: [
          "-hide_banner",
          "-nostdin",
          "-v",
          "error",
          "-xerror",
          "-f",
          "mpegts",
          "-i",
          "pipe:0",
          "-map",
          "0:v:0",
          "-f",
          "null",
          "-",
        ],
        input: data,
        timeoutMs: 20_000,
      }),
    ),
  );
  for (const [i, result] of results.entries()) {
    if (result.code !== 0 || result.stderrTail.trim() !== "") {
      throw new VerificationError(
        `rendition ${fitted[i].rendition.name} does not decode: ${logTail(result.stderrTail) || `exit ${result.code}`}`,
      );
    }
  }
}
