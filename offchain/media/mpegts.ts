/**
 * MPEG-TS checks and inspection in plain TypeScript: cheap enough to run on every segment before any process is
 * started (to refuse what is not a transport stream) and on every rendition after (to count frames and read the
 * coded size from the SPS). Assumes PSI sections fit one packet, which every muxer we meet does.
 */
import { MediaError } from "./errors";
import { H264ParseError, type SequenceParameterSet, nalUnits, parseSps } from "./h264";

export const TS_PACKET_BYTES = 188;
const SYNC_BYTE = 0x47;
const PTS_CLOCK_HZ = 90_000;

/** Stream types of video elementary streams in a PMT. */
export const VIDEO_STREAM_TYPES: Readonly<Record<number, string>> = {
  0x01: "mpeg1video",
  0x02: "mpeg2video",
  0x10: "mpeg4",
  0x1b: "h264",
  0x24: "hevc",
};

/** Stream types of audio elementary streams in a PMT, named as ffprobe names them. */
export const AUDIO_STREAM_TYPES: Readonly<Record<number, string>> = {
  0x03: "mp3",
  0x04: "mp3",
  0x0f: "aac",
  0x11: "aac_latm",
  0x81: "ac3",
  0x87: "eac3",
};

/** Refuses bytes that cannot be a whole MPEG-TS segment; returns the packet count. */
export function checkTransportStream(bytes: Uint8Array, maxBytes: number): number {
  if (bytes.length === 0) throw new MediaError("SEGMENT_EMPTY", "The segment is empty (0 bytes).");
  if (bytes.length > maxBytes) {
    throw new MediaError("SEGMENT_TOO_LARGE", `The segment is ${bytes.length} bytes; the limit is ${maxBytes}.`);
  }
  if (bytes[0] !== SYNC_BYTE || (bytes.length > TS_PACKET_BYTES && bytes[TS_PACKET_BYTES] !== SYNC_BYTE)) {
    throw new MediaError(
      "SEGMENT_NOT_MPEGTS",
      `The segment is not MPEG-TS (it starts with 0x${Buffer.from(bytes.subarray(0, 4)).toString("hex")}, not the 0x47 sync byte every 188 bytes). Send 188-byte-packet MPEG transport stream segments.`,
    );
  }
  if (bytes.length % TS_PACKET_BYTES !== 0) {
    throw new MediaError(
      "SEGMENT_TRUNCATED",
      `The segment is truncated: ${bytes.length} bytes is not a whole number of 188-byte packets (the last one has ${bytes.length % TS_PACKET_BYTES} bytes).`,
    );
  }
  for (let offset = 0; offset < bytes.length; offset += TS_PACKET_BYTES) {
    if (bytes[offset] !== SYNC_BYTE) {
      throw new MediaError(
        "SEGMENT_UNREADABLE",
        `The segment loses MPEG-TS sync at byte ${offset} (packet ${offset / TS_PACKET_BYTES}).`,
      );
    }
  }
  return bytes.length / TS_PACKET_BYTES;
}

export interface TransportStreamVideo {
  pid: number;
  streamType: number;
  codec: string;
  /** PES packets on the video PID: one per frame for every muxer that writes one access unit per PES (ffmpeg does). */
  frames: number;
  /** Lowest and highest presentation timestamps, in 90 kHz ticks (undefined without PTS). */
  minPts?: number;
  maxPts?: number;
  /** For H.264: the first SPS (coded size, profile, level). */
  sps?: SequenceParameterSet;
  /** The first audio stream of the program, if any. */
  audio?: { pid: number; streamType: number; codec: string };
}

const SPS_SEARCH_BYTES = 8 * 1024;

function payloadOffset(bytes: Uint8Array, packet: number): number {
  const control = (bytes[packet + 3] >> 4) & 0x3;
  if ((control & 0x1) === 0) return -1; // no payload
  const offset = control === 0x3 ? packet + 5 + bytes[packet + 4] : packet + 4;
  return offset < packet + TS_PACKET_BYTES ? offset : -1;
}

/** The section after the pointer field of a PSI packet, or undefined if it does not fit the packet. */
function section(bytes: Uint8Array, start: number, end: number): Uint8Array | undefined {
  const sectionStart = start + 1 + bytes[start];
  if (sectionStart + 3 > end) return undefined;
  const length = ((bytes[sectionStart + 1] & 0x0f) << 8) | bytes[sectionStart + 2];
  if (sectionStart + 3 + length > end) return undefined;
  return bytes.subarray(sectionStart, sectionStart + 3 + length);
}

function readPts(pes: Uint8Array): number | undefined {
  if (pes.length < 14 || pes[0] !== 0 || pes[1] !== 0 || pes[2] !== 1 || (pes[7] & 0x80) === 0) return undefined;
  const p = pes.subarray(9, 14);
  const high = (p[0] >> 1) & 0x07; // PTS bits 32..30
  const low = ((p[1] << 22) | ((p[2] >> 1) << 15) | (p[3] << 7) | (p[4] >> 1)) >>> 0; // bits 29..0
  return high * 2 ** 30 + low;
}

/** Finds the first video stream of the first program and counts its frames. Throws SEGMENT_NO_VIDEO without one. */
export function inspectTransportStream(bytes: Uint8Array): TransportStreamVideo {
  let pmtPid = -1;
  let video: TransportStreamVideo | undefined;
  // The start of the first video PES (where the SPS is): collected until that PES ends or SPS_SEARCH_BYTES are in.
  const firstPes: Uint8Array[] = [];
  let firstPesBytes = 0;
  let collecting = false;
  for (let packet = 0; packet + TS_PACKET_BYTES <= bytes.length; packet += TS_PACKET_BYTES) {
    if (bytes[packet] !== SYNC_BYTE) continue;
    const pid = ((bytes[packet + 1] & 0x1f) << 8) | bytes[packet + 2];
    const unitStart = (bytes[packet + 1] & 0x40) !== 0;
    const start = payloadOffset(bytes, packet);
    if (start < 0) continue;
    const end = packet + TS_PACKET_BYTES;
    if (pid === 0 && unitStart && pmtPid < 0) {
      const pat = section(bytes, start, end);
      for (let i = 8; pat && i + 4 <= pat.length - 4; i += 4) {
        const program = (pat[i] << 8) | pat[i + 1];
        if (program !== 0) {
          pmtPid = ((pat[i + 2] & 0x1f) << 8) | pat[i + 3];
          break;
        }
      }
    } else if (pid === pmtPid && unitStart && !video) {
      const pmt = section(bytes, start, end);
      if (!pmt || pmt[0] !== 0x02) continue;
      let i = 12 + (((pmt[10] & 0x0f) << 8) | pmt[11]);
      let audio: TransportStreamVideo["audio"];
      while (i + 5 <= pmt.length - 4) {
        const streamType = pmt[i];
        const esPid = ((pmt[i + 1] & 0x1f) << 8) | pmt[i + 2];
        if (VIDEO_STREAM_TYPES[streamType] && !video) {
          video = { pid: esPid, streamType, codec: VIDEO_STREAM_TYPES[streamType], frames: 0 };
        } else if (AUDIO_STREAM_TYPES[streamType] && !audio) {
          audio = { pid: esPid, streamType, codec: AUDIO_STREAM_TYPES[streamType] };
        }
        i += 5 + (((pmt[i + 3] & 0x0f) << 8) | pmt[i + 4]);
      }
      if (video && audio) video.audio = audio;
    } else if (video && pid === video.pid) {
      const payload = bytes.subarray(start, end);
      if (unitStart) {
        video.frames++;
        const pts = readPts(payload);
        if (pts !== undefined) {
          video.minPts = video.minPts === undefined ? pts : Math.min(video.minPts, pts);
          video.maxPts = video.maxPts === undefined ? pts : Math.max(video.maxPts, pts);
        }
        collecting = video.frames === 1;
        if (collecting) {
          const headerEnd = payload.length >= 9 ? 9 + payload[8] : payload.length;
          firstPes.push(payload.subarray(Math.min(headerEnd, payload.length)));
          firstPesBytes = firstPes[0].length;
        }
      } else if (collecting && firstPesBytes < SPS_SEARCH_BYTES) {
        firstPes.push(payload);
        firstPesBytes += payload.length;
      }
    }
  }
  if (!video) throw new MediaError("SEGMENT_NO_VIDEO", "The transport stream has no video stream.");
  if (video.codec === "h264" && firstPes.length > 0) {
    for (const nal of nalUnits(Buffer.concat(firstPes))) {
      if ((nal[0] & 0x1f) !== 7) continue;
      try {
        video.sps = parseSps(nal);
      } catch (error) {
        if (!(error instanceof H264ParseError)) throw error;
      }
      break;
    }
  }
  return video;
}

/** Duration of a constant-frame-rate video from its PTS span, plus the last frame's own duration. */
export function videoDurationMs(video: TransportStreamVideo, fps: number): number {
  if (video.frames === 0) return 0;
  const span = video.minPts === undefined || video.maxPts === undefined ? 0 : video.maxPts - video.minPts;
  return (span / PTS_CLOCK_HZ) * 1000 + 1000 / fps;
}
