/** offchain/media: every use of ffmpeg/ffprobe in Streamflow goes through this module. See docs/media.md. */
export { type Binary, type MediaTools, locateBinary, mediaTools, probeEnv } from "./binaries";
export {
  CLEAR_FAULT_PSNR_DB,
  CLEAR_FAULT_SSIM,
  CLEAR_FAULT_THRESHOLDS,
  type CompareOptions,
  FAULT_PSNR_DB,
  FAULT_SSIM,
  FAULT_THRESHOLDS,
  type FaultThresholds,
  type Judgement,
  type QualityMeasure,
  type RenditionComparison,
  type SegmentComparison,
  compareRendition,
  compareSegment,
  decodeProblem,
  durationToleranceMs,
  expectedFrames,
  isClearFault,
  judgeComparison,
  measureQuality,
} from "./compare";
export { MediaError, type MediaErrorCode, isMediaError } from "./errors";
export { GpuPool, type GpuSelfTest, detectNvidiaGpus, parseGpuList, selfTestGpu } from "./gpu";
export { avcCodecString, parseSps } from "./h264";
export {
  type PlaylistKind,
  type PlaylistSegment,
  type Variant,
  audioCodecString,
  masterPlaylist,
  measuredBandwidth,
  mediaPlaylist,
  nominalVariant,
  targetDurationFor,
} from "./hls";
export {
  DEFAULT_LADDER,
  type FittedRendition,
  PRESETS,
  type Rendition,
  canonicalLadderJson,
  fitLadder,
  fitRendition,
  ladderFromJson,
  ladderFromPresets,
  profilesHash,
  renditionFromJson,
  validateLadder,
} from "./ladder";
export { checkTransportStream, inspectTransportStream } from "./mpegts";
export { type SourceInfo, probeSegment } from "./probe";
export {
  DEFAULT_SEGMENT_LIMITS,
  type EncodeSettings,
  type HardwarePlan,
  type RenditionOutput,
  type SegmentLimits,
  TAMPER_FILTERS,
  type Tamper,
  type TranscodeResult,
  buildTranscodeArgs,
  segmentTimeoutMs,
  transcodeSegment,
} from "./transcode";
export { type TestSegmentOptions, generateTestSegment } from "./testsrc";
