/**
 * offchain/media's binaries and GPUs: where ffmpeg/ffprobe are found (FFMPEG_PATH, PATH, the npm package), the
 * version and capability checks (fault-injected with fake ffmpeg scripts), the listing parsers, and the GPU list,
 * pool and self-test (which must fail softly on a machine without an NVIDIA GPU so the caller falls back to the CPU).
 */
import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import {
  GpuPool,
  type GpuSelfTest,
  MediaError,
  type MediaTools,
  detectNvidiaGpus,
  locateBinary,
  mediaTools,
  parseGpuList,
  probeEnv,
  selfTestGpu,
} from "../../offchain/media";
import { parseHwaccels, parseListing, parseVersion, versionSupported } from "../../offchain/media/binaries";
import { rejectionOf, thrownBy } from "../support/assertions";

function mediaError(code: string, run: () => unknown): MediaError {
  const error = thrownBy(MediaError, run);
  expect(error.code, error.message).to.equal(code);
  return error;
}

async function mediaRejection(code: string, promise: Promise<unknown>): Promise<MediaError> {
  const error = await rejectionOf(promise);
  expect(error, String(error)).to.be.instanceOf(MediaError);
  expect((error as MediaError).code, error.message).to.equal(code);
  return error as MediaError;
}

const ENCODERS_51 = `Encoders:
 V..... = Video
 A..... = Audio
 S..... = Subtitle
 .F.... = Frame-level multithreading
 ..S... = Slice-level multithreading
 ...X.. = Codec is experimental
 ....B. = Supports draw_horiz_band
 .....D = Supports direct rendering method 1
 ------
 V....D a64multi             Multicolor charset for Commodore 64 (codec a64_multi)
 V....D libx264              libx264 H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10 (codec h264)
 V....D h264_nvenc           NVIDIA NVENC H.264 encoder (codec h264)
 A....D aac                  AAC (Advanced Audio Coding)
 S..... webvtt               WebVTT subtitle
`;

const FILTERS_51 = `Filters:
  T.. = Timeline support
  .S. = Slice threading
  ..C = Command support
  A = Audio input/output
  V = Video input/output
  N = Dynamic number and/or type of input/output
  | = Source or sink filter
 ... abench            A->A       Benchmark part of a filtergraph.
 ... fps               V->V       Force constant framerate.
 ..C scale             V->V       Scale the input video size and/or convert the image format.
 ... scale_cuda        V->V       GPU accelerated video resizer
 ... split             V->N       Pass on the input to N video outputs.
 TSC hflip             V->V       Horizontally flip the input video.
 ... nullsrc           |->V       Null video source, return unprocessed video frames.
`;

describe("media binaries: finding ffmpeg and ffprobe", () => {
  let dir: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "media-binaries-"));
  });

  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A file in a fresh folder under the temp dir. */
  function file(folder: string, name: string, mode: number, text = "#!/bin/sh\nexit 0\n"): string {
    fs.mkdirSync(path.join(dir, folder), { recursive: true });
    const at = path.join(dir, folder, name);
    fs.writeFileSync(at, text, { mode });
    fs.chmodSync(at, mode);
    return at;
  }

  it("refuses an FFMPEG_PATH that is missing, not executable or a folder, naming the variable", () => {
    const notExecutable = file("plain", "ffmpeg", 0o644);
    for (const value of [path.join(dir, "missing", "ffmpeg"), notExecutable, dir]) {
      const error = mediaError("FFMPEG_NOT_FOUND", () => locateBinary("ffmpeg", { FFMPEG_PATH: value, PATH: "" }));
      expect(error.message).to.contain(`FFMPEG_PATH=${value} is not an executable file`);
    }
    const error = mediaError("FFMPEG_NOT_FOUND", () =>
      locateBinary("ffprobe", { FFPROBE_PATH: notExecutable, PATH: "" }),
    );
    expect(error.message).to.contain(`FFPROBE_PATH=${notExecutable}`);
  });

  it("takes FFMPEG_PATH first, then the first executable on PATH, then the npm package", () => {
    const first = file("bin1", "ffmpeg", 0o755);
    file("bin0", "ffmpeg", 0o644); // not executable: skipped
    const second = file("bin2", "ffmpeg", 0o755);
    const pathList = ["", path.join(dir, "bin0"), path.join(dir, "bin1"), path.join(dir, "bin2")].join(path.delimiter);
    expect(locateBinary("ffmpeg", { PATH: pathList })).to.deep.equal({ path: first, source: "PATH" });
    expect(locateBinary("ffmpeg", { PATH: pathList, FFMPEG_PATH: second })).to.deep.equal({
      path: second,
      source: "env",
    });
    // ffprobe is looked up under its own name.
    expect(locateBinary("ffprobe", { PATH: pathList }).source).to.equal("npm");
    const shipped = locateBinary("ffmpeg", { PATH: "" });
    expect(shipped.source).to.equal("npm");
    expect(shipped.path).to.contain("@ffmpeg-installer");
    expect(locateBinary("ffprobe", { PATH: "" }).path).to.contain("@ffprobe-installer");
  });

  it("gives ffprobe an environment without iconv modules, keeping the rest", () => {
    expect(probeEnv({ PATH: "/x", HOME: "/h" })).to.deep.equal({ PATH: "/x", HOME: "/h", GCONV_PATH: "/nonexistent" });
  });

  describe("fake ffmpeg builds (fault injection)", () => {
    /** A shell script standing in for ffmpeg: prints `version` for -version and `listings` for the rest. */
    function fakeFfmpeg(name: string, version: string, listings: Record<string, string> = {}, fail = ""): string {
      const cases = Object.entries(listings)
        .map(([flag, text]) => `  *" ${flag}"*) cat <<'EOF'\n${text}EOF\n  ;;`)
        .join("\n");
      const failCase = fail ? `  *" ${fail}"*) echo "Unrecognized option" >&2; exit 1 ;;\n` : "";
      return file(
        name,
        "ffmpeg",
        0o755,
        `#!/bin/sh\ncase " $*" in\n${failCase}  *" -version"*) echo "ffmpeg version ${version} Copyright (c) 2000-2020 the FFmpeg developers" ;;\n${cases}\nesac\nexit 0\n`,
      );
    }
    const envWith = (ffmpeg: string) => ({ PATH: process.env.PATH, FFMPEG_PATH: ffmpeg });

    it("refuses an ffmpeg older than 4.0 as too old", async () => {
      const error = await mediaRejection("FFMPEG_UNSUPPORTED", mediaTools(envWith(fakeFfmpeg("old", "3.4.8"))));
      expect(error.message).to.contain("ffmpeg 3.4.8");
      expect(error.message).to.contain("too old");
      expect(error.message).to.contain("(from env)");
    });

    it("refuses an ffmpeg without libx264, naming what is missing", async () => {
      const encoders = ENCODERS_51.replace(/^.*libx264.*\n/m, "");
      const fake = fakeFfmpeg("nox264", "6.0", { "-encoders": encoders, "-filters": FILTERS_51 });
      const error = await mediaRejection("FFMPEG_UNSUPPORTED", mediaTools(envWith(fake)));
      expect(error.message).to.contain("ffmpeg 6.0");
      expect(error.message).to.contain("lacks the libx264 encoder");
      expect(error.message).not.to.contain("filter");
    });

    it("names missing filters too", async () => {
      const filters = FILTERS_51.replace(/^.* split .*\n/m, "").replace(/^.* fps .*\n/m, "");
      const fake = fakeFfmpeg("nosplit", "6.0", { "-encoders": ENCODERS_51, "-filters": filters });
      const error = await mediaRejection("FFMPEG_UNSUPPORTED", mediaTools(envWith(fake)));
      expect(error.message).to.contain("lacks the split filter and the fps filter");
    });

    it("refuses an ffmpeg that fails a capability query, with its words", async () => {
      const fake = fakeFfmpeg("failing", "6.0", { "-encoders": ENCODERS_51, "-filters": FILTERS_51 }, "-hwaccels");
      const error = await mediaRejection("FFMPEG_UNSUPPORTED", mediaTools(envWith(fake)));
      expect(error.message).to.contain("`-hwaccels` (exit 1): Unrecognized option");
    });

    it("accepts a fake with everything, reading its listings", async () => {
      const fake = fakeFfmpeg("good", "6.0", {
        "-encoders": ENCODERS_51,
        "-filters": FILTERS_51,
        "-hwaccels": "Hardware acceleration methods:\ncuda\nvaapi\n\n",
      });
      const tools = await mediaTools(envWith(fake));
      expect(tools.ffmpeg).to.deep.equal({ path: fake, source: "env", version: "6.0" });
      expect(tools.encoders.has("h264_nvenc")).to.equal(true);
      expect(tools.filters.has("scale_cuda")).to.equal(true);
      expect([...tools.hwaccels]).to.deep.equal(["cuda", "vaapi"]);
      expect(tools.probeEnv.GCONV_PATH).to.equal("/nonexistent");
    });
  });
});

describe("media binaries: parsing ffmpeg's output", () => {
  it("reads the version from the banner", () => {
    expect(parseVersion("ffmpeg version 5.1.6-0+deb12u1 Copyright (c) 2000-2024 the FFmpeg developers\n")).to.equal(
      "5.1.6-0+deb12u1",
    );
    expect(parseVersion("ffprobe version N-66595-gc2b38619c0-static https://johnvansickle.com/ffmpeg/")).to.equal(
      "N-66595-gc2b38619c0-static",
    );
    expect(parseVersion("some warning\nffmpeg version n6.1.1 Copyright")).to.equal("n6.1.1");
    expect(parseVersion("avconv version 12")).to.equal(undefined);
    expect(parseVersion("")).to.equal(undefined);
  });

  it("accepts 4.0 and later and git snapshots, refuses older numbered releases", () => {
    for (const version of [
      "N-47683-g0e8eb07980-static",
      "5.1.6-0+deb12u1",
      "4.0",
      "4.4.2-0ubuntu0.22.04.1",
      "n6.1.1",
      "7.1",
    ]) {
      expect(versionSupported(version), version).to.equal(true);
    }
    for (const version of ["3.4", "3.4.8", "2.8.17-0ubuntu0.1", "n3.4.13", "0.10.2"]) {
      expect(versionSupported(version), version).to.equal(false);
    }
  });

  it("reads names from -encoders and -filters listings, not the legend", () => {
    const encoders = parseListing(ENCODERS_51);
    expect([...encoders]).to.deep.equal(["a64multi", "libx264", "h264_nvenc", "aac", "webvtt"]);
    const filters = parseListing(FILTERS_51);
    expect([...filters]).to.deep.equal(["abench", "fps", "scale", "scale_cuda", "split", "hflip", "nullsrc"]);
    expect(parseListing("")).to.deep.equal(new Set());
  });

  it("reads hardware acceleration methods after their heading", () => {
    expect([...parseHwaccels("Hardware acceleration methods:\nvdpau\nvaapi\n\n")]).to.deep.equal(["vdpau", "vaapi"]);
    expect([...parseHwaccels("Hardware acceleration methods:\n\n")]).to.deep.equal([]);
    expect([...parseHwaccels("")]).to.deep.equal([]);
  });

  it("finds the real tools, with libx264 and the filters the pipeline needs", async () => {
    const tools = await mediaTools();
    expect(tools.encoders.has("libx264")).to.equal(true);
    for (const filter of ["split", "scale", "fps", "setsar", "format"])
      expect(tools.filters.has(filter), filter).to.equal(true);
    expect(tools.decoders.has("h264")).to.equal(true);
    expect(tools.ffmpeg.version).not.to.equal("unknown");
    expect(tools.ffprobe.version).not.to.equal("unknown");
    expect(versionSupported(tools.ffmpeg.version)).to.equal(true);
    expect(await mediaTools()).to.equal(tools); // found once per process
  });
});

describe("media gpu: choosing, sharing and testing NVIDIA GPUs", () => {
  const test = (gpu: number, decode = true, encode = true): GpuSelfTest => ({ gpu, decode, encode, problems: [] });

  it("reads a GPU list: indexes, duplicates, all", () => {
    expect(parseGpuList("0,1", [])).to.deep.equal([0, 1]);
    expect(parseGpuList(" 1 , 0 ", [])).to.deep.equal([1, 0]);
    expect(parseGpuList("1,1,0,1", [])).to.deep.equal([1, 0]);
    expect(parseGpuList("3", [0])).to.deep.equal([3]);
    expect(parseGpuList("all", [0, 1, 2])).to.deep.equal([0, 1, 2]);
    expect(parseGpuList(" all ", [4])).to.deep.equal([4]);
    expect(mediaError("GPU_UNAVAILABLE", () => parseGpuList("all", [])).message).to.contain("no NVIDIA GPU found");
    for (const junk of ["", "x", "0,", "0,,1", "-1", "1.5", "0;1", "100", "gpu0", "ALL"]) {
      expect(mediaError("GPU_UNAVAILABLE", () => parseGpuList(junk, [0, 1])).message, junk).to.contain(
        `(got "${junk}")`,
      );
    }
  });

  it("hands jobs to the least-loaded GPU and takes them back on release", () => {
    const pool = new GpuPool([test(0), test(1, true, false)]);
    const a = pool.acquire();
    const b = pool.acquire();
    const c = pool.acquire();
    expect([a.plan?.gpu, b.plan?.gpu, c.plan?.gpu]).to.deep.equal([0, 1, 0]);
    expect(b.plan).to.deep.equal({ gpu: 1, decode: true, encode: false });
    expect([pool.loadOf(0), pool.loadOf(1)]).to.deep.equal([2, 1]);
    b.release();
    b.release(); // twice is once
    expect([pool.loadOf(0), pool.loadOf(1)]).to.deep.equal([2, 0]);
    expect(pool.acquire().plan?.gpu).to.equal(1);
    a.release();
    c.release();
    expect(pool.acquire().plan?.gpu).to.equal(0);
    expect(pool.loadOf(7)).to.equal(0);
  });

  it("breaks ties towards the lowest index, whatever order the GPUs were listed in", () => {
    const pool = new GpuPool([test(1), test(0)]); // as parseGpuList("1,0") lists them
    expect(pool.acquire().plan?.gpu).to.equal(0);
    expect(pool.acquire().plan?.gpu).to.equal(1);
  });

  it("leaves out GPUs whose self-test failed both halves; with none, jobs run on the CPU", () => {
    const pool = new GpuPool([test(0, false, false), test(1, false, true)]);
    expect(pool.usable.map((g) => g.gpu)).to.deep.equal([1]);
    expect(pool.acquire().plan).to.deep.equal({ gpu: 1, decode: false, encode: true });
    const none = new GpuPool([test(0, false, false)]);
    const job = none.acquire();
    expect(job.plan).to.equal(undefined);
    job.release();
    expect(none.loadOf(0)).to.equal(0);
    expect(new GpuPool([]).acquire().plan).to.equal(undefined);
  });

  describe("on this machine", () => {
    let tools: MediaTools;
    let gpus: number[];

    before(async () => {
      tools = await mediaTools();
      gpus = await detectNvidiaGpus();
    });

    it("lists GPUs as indexes (none without nvidia-smi)", () => {
      expect(gpus).to.be.an("array");
      for (const gpu of gpus) expect(Number.isInteger(gpu) && gpu >= 0).to.equal(true);
    });

    it("self-tests a GPU without throwing, reporting why each half failed", async () => {
      const result = await selfTestGpu(tools, 0);
      expect(result.gpu).to.equal(0);
      expect(result.problems.length === 0).to.equal(result.decode && result.encode);
      if (gpus.length > 0) return; // a machine with an NVIDIA GPU may pass; the shape is all we can insist on
      expect(result).to.include({ decode: false, encode: false });
      expect(result.problems).to.have.length(2);
      if (!tools.hwaccels.has("cuda")) expect(result.problems[0]).to.contain("has no cuda hwaccel");
      if (!tools.encoders.has("h264_nvenc")) expect(result.problems[1]).to.equal("ffmpeg has no h264_nvenc encoder");
      // What the caller does with it: no usable GPU, so every job runs on the CPU.
      expect(new GpuPool([result]).acquire().plan).to.equal(undefined);
    });

    it("runs the real NVDEC and NVENC checks when ffmpeg claims CUDA, and reports their failure", async () => {
      if (gpus.length > 0) return;
      const claims = {
        ...tools,
        hwaccels: new Set([...tools.hwaccels, "cuda"]),
        filters: new Set([...tools.filters, "scale_cuda"]),
        encoders: new Set([...tools.encoders, "h264_nvenc"]),
      };
      const result = await selfTestGpu(claims, 1);
      expect(result).to.include({ gpu: 1, decode: false, encode: false });
      expect(result.problems).to.have.length(2);
      expect(result.problems[0]).to.match(/^NVDEC\/scale_cuda on GPU 1 failed: /);
      expect(result.problems[1]).to.match(/^NVENC on GPU 1 failed: /);
    });
  });
});
