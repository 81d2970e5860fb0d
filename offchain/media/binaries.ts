/**
 * Finds ffmpeg and ffprobe and checks, once per process, that they can do what the pipeline needs.
 * Order: FFMPEG_PATH / FFPROBE_PATH, then PATH, then the static builds shipped in npm packages (so `npm ci` is
 * enough). Nothing outside offchain/media runs either binary.
 */
import fs from "node:fs";
import path from "node:path";

import { MediaError } from "./errors";
import { logTail, runProcess } from "./run";

export type BinarySource = "env" | "PATH" | "npm";

export interface Binary {
  path: string;
  source: BinarySource;
  /** The version string the binary prints ("5.1.6-0+deb12u1", "N-47683-g0e8eb07980-static", ...). */
  version: string;
}

export interface MediaTools {
  ffmpeg: Binary;
  ffprobe: Binary;
  /** Video encoders, filters and hardware acceleration methods this ffmpeg was built with. */
  encoders: ReadonlySet<string>;
  decoders: ReadonlySet<string>;
  filters: ReadonlySet<string>;
  hwaccels: ReadonlySet<string>;
  /** Environment for ffprobe runs (see probeEnv). */
  probeEnv: NodeJS.ProcessEnv;
}

/** What the CPU pipeline cannot work without. */
export const REQUIRED_ENCODERS = ["libx264"] as const;
export const REQUIRED_FILTERS = ["split", "scale", "fps"] as const;
/** Oldest numbered release known to work here (the npm-shipped 2018 snapshot is a 4.1 development build). */
export const MIN_FFMPEG_MAJOR = 4;

const VERSION_TIMEOUT_MS = 10_000;

interface Candidate {
  path: string;
  source: BinarySource;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function onPath(name: string, envPath: string): string | undefined {
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    if (isExecutable(file)) return file;
  }
  return undefined;
}

function shippedBinary(pkg: string): string | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require(pkg) as { path: string }).path;
  } catch {
    return undefined;
  }
}

/** Where a binary comes from, without running it. Exported for tests. */
export function locateBinary(name: "ffmpeg" | "ffprobe", env: NodeJS.ProcessEnv = process.env): Candidate {
  const variable = name === "ffmpeg" ? "FFMPEG_PATH" : "FFPROBE_PATH";
  const fromEnv = env[variable];
  if (fromEnv) {
    if (!isExecutable(fromEnv)) {
      throw new MediaError(
        "FFMPEG_NOT_FOUND",
        `${variable}=${fromEnv} is not an executable file. Point it at a ${name} binary or unset it to use the one on PATH or the one shipped with the npm package.`,
      );
    }
    return { path: fromEnv, source: "env" };
  }
  const fromPath = onPath(name, env.PATH ?? "");
  if (fromPath) return { path: fromPath, source: "PATH" };
  const pkg = name === "ffmpeg" ? "@ffmpeg-installer/ffmpeg" : "@ffprobe-installer/ffprobe";
  const shipped = shippedBinary(pkg);
  if (shipped && isExecutable(shipped)) return { path: shipped, source: "npm" };
  const why = shipped
    ? `${shipped} (from ${pkg}) is not executable: run \`chmod u+x ${shipped}\``
    : `${pkg} is not installed for this platform: run \`npm ci\``;
  throw new MediaError(
    "FFMPEG_NOT_FOUND",
    `No ${name} found: ${variable} is unset, there is none on PATH, and ${why}. Or install one (apt-get install ffmpeg) or set ${variable}.`,
  );
}

/**
 * The shipped static ffprobe crashes on MPEG-TS input while it loads iconv modules; with GCONV_PATH pointing nowhere
 * it skips them (harmless for any other build).
 */
export function probeEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...base, GCONV_PATH: "/nonexistent" };
}

/** "ffmpeg version 5.1.6-0+deb12u1 Copyright ..." → "5.1.6-0+deb12u1". */
export function parseVersion(output: string): string | undefined {
  return /^ff(?:mpeg|probe) version (\S+)/m.exec(output)?.[1];
}

/** Numbered releases must be ≥ MIN_FFMPEG_MAJOR; git snapshots ("N-…") are judged by their features alone. */
export function versionSupported(version: string): boolean {
  const major = /^n?(\d+)\./.exec(version)?.[1];
  return major === undefined || Number(major) >= MIN_FFMPEG_MAJOR;
}

/** Names from `ffmpeg -encoders` / `-decoders` / `-filters` listings: the second column after the flags. */
export function parseListing(output: string): Set<string> {
  const names = new Set<string>();
  for (const line of output.split("\n")) {
    const match = /^\s*[A-Z.|]{2,}\S*\s+(\S+)\s/.exec(line);
    if (match && !match[1].startsWith("=")) names.add(match[1]);
  }
  return names;
}

export function parseHwaccels(output: string): Set<string> {
  const lines = output.split("\n").map((line) => line.trim());
  const start = lines.findIndex((line) => line.startsWith("Hardware acceleration methods"));
  return new Set(lines.slice(start + 1).filter((line) => line.length > 0));
}

async function query(binary: Candidate, args: string[], env: NodeJS.ProcessEnv, name: string): Promise<string> {
  let result;
  try {
    result = await runProcess(binary.path, { args: ["-hide_banner", ...args], timeoutMs: VERSION_TIMEOUT_MS, env });
  } catch (error) {
    throw new MediaError("FFMPEG_NOT_FOUND", `Could not run ${name} at ${binary.path}: ${(error as Error).message}`);
  }
  if (result.code !== 0) {
    throw new MediaError(
      "FFMPEG_UNSUPPORTED",
      `${name} at ${binary.path} failed \`${args.join(" ")}\` (exit ${result.code ?? result.signal}): ${logTail(result.stderrTail)}`,
    );
  }
  return result.stdout.toString("utf8");
}

async function inspect(env: NodeJS.ProcessEnv): Promise<MediaTools> {
  const ffmpegAt = locateBinary("ffmpeg", env);
  const ffprobeAt = locateBinary("ffprobe", env);
  const probeEnvironment = probeEnv(env);
  const [ffmpegVersion, ffprobeVersion, encoders, decoders, filters, hwaccels] = await Promise.all([
    query(ffmpegAt, ["-version"], env, "ffmpeg"),
    query(ffprobeAt, ["-version"], probeEnvironment, "ffprobe"),
    query(ffmpegAt, ["-encoders"], env, "ffmpeg"),
    query(ffmpegAt, ["-decoders"], env, "ffmpeg"),
    query(ffmpegAt, ["-filters"], env, "ffmpeg"),
    query(ffmpegAt, ["-hwaccels"], env, "ffmpeg"),
  ]);
  const ffmpeg = { ...ffmpegAt, version: parseVersion(ffmpegVersion) ?? "unknown" };
  const ffprobe = { ...ffprobeAt, version: parseVersion(ffprobeVersion) ?? "unknown" };
  if (!versionSupported(ffmpeg.version)) {
    throw new MediaError(
      "FFMPEG_UNSUPPORTED",
      `ffmpeg ${ffmpeg.version} at ${ffmpeg.path} (from ${ffmpeg.source}) is too old: ${MIN_FFMPEG_MAJOR}.0 or newer is needed. Install a newer one or set FFMPEG_PATH.`,
    );
  }
  const tools: MediaTools = {
    ffmpeg,
    ffprobe,
    encoders: parseListing(encoders),
    decoders: parseListing(decoders),
    filters: parseListing(filters),
    hwaccels: parseHwaccels(hwaccels),
    probeEnv: probeEnvironment,
  };
  const missing = [
    ...REQUIRED_ENCODERS.filter((name) => !tools.encoders.has(name)).map((name) => `the ${name} encoder`),
    ...REQUIRED_FILTERS.filter((name) => !tools.filters.has(name)).map((name) => `the ${name} filter`),
  ];
  if (missing.length > 0) {
    throw new MediaError(
      "FFMPEG_UNSUPPORTED",
      `ffmpeg ${ffmpeg.version} at ${ffmpeg.path} (from ${ffmpeg.source}) lacks ${missing.join(" and ")}. Use a build with them (Debian's ffmpeg has them) via FFMPEG_PATH.`,
    );
  }
  return tools;
}

let cached: Promise<MediaTools> | undefined;

/** The checked tools, found once per process (pass an env to look again, e.g. in tests). */
export function mediaTools(env?: NodeJS.ProcessEnv): Promise<MediaTools> {
  if (env) return inspect(env);
  if (!cached) {
    cached = inspect(process.env);
    cached.catch(() => (cached = undefined)); // a failed look is not remembered: fix the setup and call again
  }
  return cached;
}
