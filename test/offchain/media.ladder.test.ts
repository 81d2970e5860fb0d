/**
 * Unit tests of offchain/media's rendition ladders (pure, no ffmpeg): the presets, the preset list and JSON formats,
 * every validation rule, fitting a rendition to a source (aspect kept, never upscaled in size or frame rate), the
 * H.264 level each output needs (checked against Table A-1 by hand), and the canonical JSON behind profilesHash.
 */
import { expect } from "chai";
import { keccak256, toUtf8Bytes } from "ethers";

import { MediaError } from "../../offchain/media";
import {
  DEFAULT_LADDER,
  MAX_RENDITIONS,
  PRESETS,
  type Rendition,
  canonicalLadderJson,
  fitLadder,
  fitRendition,
  h264Level,
  ladderFromJson,
  ladderFromPresets,
  profilesHash,
  renditionFromJson,
} from "../../offchain/media/ladder";
import { thrownBy } from "../support/assertions";

/** The LADDER_INVALID error `run` throws. */
function ladderError(run: () => unknown): MediaError {
  const error = thrownBy(MediaError, run);
  expect(error.code).to.equal("LADDER_INVALID");
  expect(error.isInputError).to.equal(true);
  return error;
}

const FIELD_ORDER = ["name", "width", "height", "fps", "bitrate", "profile", "gop", "deterministic"];

const HD: Rendition = {
  name: "hd",
  width: 1280,
  height: 720,
  fps: 30,
  bitrate: 3_000_000,
  profile: "high",
  gop: 2,
  deterministic: false,
};

/** One rendition object as JSON text inside a one-element ladder. */
const oneJson = (fields: Record<string, unknown>) => JSON.stringify([{ ...HD, ...fields }]);

describe("media ladder: presets", () => {
  it("has the five 16:9 30 fps presets of offchain.md", () => {
    const sizes = Object.values(PRESETS).map((p) => [p.name, p.width, p.height, p.bitrate]);
    expect(sizes).to.deep.equal([
      ["1080p30", 1920, 1080, 5_000_000],
      ["720p30", 1280, 720, 3_000_000],
      ["480p30", 854, 480, 1_500_000],
      ["360p30", 640, 360, 1_000_000],
      ["240p30", 426, 240, 600_000],
    ]);
    for (const p of Object.values(PRESETS)) {
      expect(p).to.include({ fps: 30, profile: "high", gop: 2, deterministic: false });
      expect(Math.abs(p.width / p.height - 16 / 9)).to.be.below(0.01);
    }
    expect(DEFAULT_LADDER).to.deep.equal(["720p30", "480p30", "360p30", "240p30"]);
  });

  it("reads a comma-separated preset list, with or without the 30 and with blanks around names", () => {
    const ladder = ladderFromPresets("720p,480p30");
    expect(ladder).to.deep.equal([PRESETS["720p30"], PRESETS["480p30"]]);
    expect(ladderFromPresets(" 1080p , 240p30 ,").map((r) => r.name)).to.deep.equal(["1080p30", "240p30"]);
  });

  it("hands out copies: changing a ladder leaves the presets alone", () => {
    const [first] = ladderFromPresets("720p");
    first.bitrate = 1;
    first.deterministic = true;
    expect(PRESETS["720p30"].bitrate).to.equal(3_000_000);
    expect(PRESETS["720p30"].deterministic).to.equal(false);
    expect(ladderFromPresets("720p")[0].bitrate).to.equal(3_000_000);
  });

  it("refuses an unknown preset, listing the presets there are", () => {
    const error = ladderError(() => ladderFromPresets("720p,900p"));
    expect(error.message).to.contain('"900p"');
    for (const name of Object.keys(PRESETS)) expect(error.message).to.contain(name);
    expect(ladderError(() => ladderFromPresets("720p60")).message).to.contain('"720p60"');
  });

  it("refuses the names of Object.prototype's properties as unknown presets", () => {
    // PRESETS is a plain object, so a lookup by name must not find inherited properties.
    for (const name of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
      expect(ladderError(() => ladderFromPresets(name)).message, name).to.contain(`Unknown rendition preset "${name}"`);
    }
    const viaJson = JSON.stringify([{ ...HD, preset: "toString" }]);
    expect(ladderError(() => ladderFromJson(viaJson)).message).to.contain('Unknown rendition preset "toString"');
  });

  it("refuses an empty list", () => {
    for (const list of ["", " ", ",", " , ,"]) {
      expect(ladderError(() => ladderFromPresets(list)).message).to.equal("The rendition list is empty.");
    }
  });

  it("refuses the same preset twice and more than eight renditions", () => {
    expect(ladderError(() => ladderFromPresets("720p,480p,720p30")).message).to.equal(
      'renditions[2].name: "720p30" appears twice',
    );
    const nine = Array.from({ length: 9 }, () => "240p").join(",");
    expect(ladderError(() => ladderFromPresets(nine)).message).to.equal(
      `The ladder has 9 renditions; at most ${MAX_RENDITIONS} are allowed.`,
    );
  });
});

describe("media ladder: JSON", () => {
  it("reads an array and a { renditions } object alike, preset names included", () => {
    const list = [HD, "360p"];
    const fromArray = ladderFromJson(JSON.stringify(list));
    const fromObject = ladderFromJson(JSON.stringify({ renditions: list }));
    expect(fromArray).to.deep.equal([HD, PRESETS["360p30"]]);
    expect(fromObject).to.deep.equal(fromArray);
  });

  it('reads bitrates as bits per second, "3000k", "2.5M" or a number', () => {
    const bitrateOf = (bitrate: unknown) => ladderFromJson(oneJson({ bitrate }))[0].bitrate;
    expect(bitrateOf("3000k")).to.equal(3_000_000);
    expect(bitrateOf("3000K")).to.equal(3_000_000);
    expect(bitrateOf("2.5M")).to.equal(2_500_000);
    expect(bitrateOf("1.5m")).to.equal(1_500_000);
    expect(bitrateOf(" 800k ")).to.equal(800_000);
    expect(bitrateOf("64000")).to.equal(64_000);
    expect(bitrateOf(1_234_567)).to.equal(1_234_567);
    for (const bad of ["fast", "3 Mbps", "-1k", "", "1e6", null, true]) {
      const error = ladderError(() => ladderFromJson(oneJson({ bitrate: bad })));
      expect(error.message).to.contain("renditions[0].bitrate");
      expect(error.message).to.contain(JSON.stringify(bad));
    }
  });

  it("fills the missing fields from a named preset and lets the object override them", () => {
    const [r] = ladderFromJson(
      JSON.stringify([{ preset: "720p", name: "hd-det", bitrate: "2M", deterministic: true, gop: 1 }]),
    );
    expect(r).to.deep.equal({ ...PRESETS["720p30"], name: "hd-det", bitrate: 2_000_000, deterministic: true, gop: 1 });
    expect(r).not.to.have.property("preset");
    // Without a preset, gop, profile and deterministic have defaults; the rest must be given.
    const [plain] = ladderFromJson(JSON.stringify([{ name: "p", width: 640, height: 360, fps: 25, bitrate: 900000 }]));
    expect(plain).to.deep.equal({
      name: "p",
      width: 640,
      height: 360,
      fps: 25,
      bitrate: 900_000,
      profile: "high",
      gop: 2,
      deterministic: false,
    });
    expect(ladderError(() => ladderFromJson(JSON.stringify([{ preset: "999p" }]))).message).to.contain('"999p"');
  });

  it("refuses an unknown field, naming it and the fields there are", () => {
    const error = ladderError(() => ladderFromJson(oneJson({ framerate: 30, crf: 23 })));
    expect(error.message).to.contain("renditions[0]");
    expect(error.message).to.contain('"framerate", "crf"');
    for (const field of FIELD_ORDER) expect(error.message).to.contain(field);
  });

  it("refuses text that is not JSON, or JSON of the wrong shape", () => {
    expect(ladderError(() => ladderFromJson("[{name: hd}]")).message).to.match(/^The rendition file is not JSON: /);
    expect(ladderError(() => ladderFromJson("")).message).to.match(/not JSON/);
    for (const text of ["{}", '{"renditions": 3}', "42", "null", '"720p"']) {
      expect(ladderError(() => ladderFromJson(text)).message).to.contain('{ "renditions": [...] }');
    }
    for (const item of [5, null, [HD], true]) {
      const error = ladderError(() => ladderFromJson(JSON.stringify([HD, item])));
      expect(error.message).to.match(/^renditions\[1\]: expected a preset name or an object/);
    }
    expect(ladderError(() => ladderFromJson("[]")).message).to.equal("The ladder has no renditions.");
  });

  it("refuses each invalid field with LADDER_INVALID and the field's path", () => {
    const cases: Array<[field: string, value: unknown]> = [
      ["name", ""],
      ["name", "has space"],
      ["name", "-starts-with-dash"],
      ["name", "x".repeat(33)],
      ["name", 7],
      ["width", 1279],
      ["width", 14],
      ["width", 4098],
      ["width", 640.5],
      ["width", "1280"],
      ["height", 721],
      ["height", 0],
      ["height", 4100],
      ["fps", 0],
      ["fps", -30],
      ["fps", 121],
      ["fps", "30"],
      ["bitrate", 15_999],
      ["bitrate", 100_000_001],
      ["bitrate", 1_500_000.5],
      ["profile", "high10"],
      ["profile", "High"],
      ["gop", 0.05],
      ["gop", 21],
      ["gop", "2"],
      ["deterministic", "yes"],
      ["deterministic", 1],
    ];
    for (const [field, value] of cases) {
      // The second rendition is the bad one, so the path must say which.
      const text = JSON.stringify([HD, { ...HD, name: "other", [field]: value }]);
      const error = ladderError(() => ladderFromJson(text));
      expect(error.message, `${field}=${JSON.stringify(value)}`).to.match(
        new RegExp(`^renditions\\[1\\]\\.${field}: `),
      );
      expect(error.message).to.contain(`(got ${JSON.stringify(value)})`);
    }
    // A field left out (no preset to fill it) is refused the same way.
    for (const field of ["name", "width", "height", "fps", "bitrate"]) {
      const partial: Record<string, unknown> = { ...HD };
      delete partial[field];
      expect(ladderError(() => ladderFromJson(JSON.stringify([partial]))).message).to.match(
        new RegExp(`^renditions\\[0\\]\\.${field}: `),
      );
    }
  });

  it("accepts every limit exactly", () => {
    const edges = [
      { name: "a", width: 16, height: 16, fps: 0.5, bitrate: 16_000, gop: 0.1, profile: "baseline" },
      { name: "B.c_d-e" + "x".repeat(25), width: 4096, height: 4096, fps: 120, bitrate: 100_000_000, gop: 20 },
      { name: "0", profile: "main", deterministic: true },
    ];
    const ladder = ladderFromJson(JSON.stringify(edges.map((e) => ({ ...HD, ...e }))));
    expect(ladder.map((r) => r.name)).to.deep.equal(edges.map((e) => e.name));
    expect(ladder[1].name).to.have.length(32);
  });

  it("refuses duplicate names and more than eight renditions", () => {
    expect(ladderError(() => ladderFromJson(JSON.stringify([HD, "360p", { ...HD, width: 640 }]))).message).to.equal(
      'renditions[2].name: "hd" appears twice',
    );
    const nine = Array.from({ length: 9 }, (_, i) => ({ ...HD, name: `r${i}` }));
    expect(ladderError(() => ladderFromJson(JSON.stringify(nine))).message).to.contain("9 renditions; at most 8");
    expect(ladderFromJson(JSON.stringify(nine.slice(0, 8)))).to.have.length(8);
  });

  it("renditionFromJson takes a preset name on its own", () => {
    expect(renditionFromJson("480p", "x")).to.deep.equal(PRESETS["480p30"]);
    expect(ladderError(() => renditionFromJson(3, "where[7]")).message).to.match(/^where\[7\]: /);
  });
});

describe("media ladder: fitting a rendition to a source", () => {
  const ladder = ladderFromPresets("1080p,720p,480p,360p,240p");
  const box = (name: string) => PRESETS[name];

  it("gives a 16:9 source each preset's own size", () => {
    const fitted = fitLadder(ladder, { width: 1920, height: 1080, fps: 30 });
    expect(fitted.map((f) => `${f.width}x${f.height}`)).to.deep.equal([
      "1920x1080",
      "1280x720",
      "854x480",
      "640x360",
      "426x240",
    ]);
    for (const f of fitted) {
      expect(f.fps).to.equal(30);
      expect(f.bitrate).to.equal(f.rendition.bitrate); // the whole box is used
      expect(f.gopFrames).to.equal(60);
    }
    expect(fitRendition(box("480p30"), { width: 1920, height: 1080, fps: 30 })).to.include({ width: 854, height: 480 });
    expect(fitRendition(box("240p30"), { width: 1920, height: 1080, fps: 30 })).to.include({ width: 426, height: 240 });
  });

  it("keeps a 4:3 source 4:3 inside a 16:9 box", () => {
    const f = fitRendition(box("720p30"), { width: 1440, height: 1080, fps: 30 });
    expect([f.width, f.height]).to.deep.equal([960, 720]);
    // Fewer pixels than the box: the bitrate shrinks with them.
    expect(f.bitrate).to.equal(Math.round(3_000_000 * ((960 * 720) / (1280 * 720))));
  });

  it("fits a portrait source by its height, aspect within a pixel, both sides even and inside the box", () => {
    for (const [name, bw, bh] of [
      ["720p30", 1280, 720],
      ["480p30", 854, 480],
      ["240p30", 426, 240],
    ] as const) {
      const f = fitRendition(box(name), { width: 1080, height: 1920, fps: 30 });
      expect(f.height).to.equal(bh);
      expect(Math.abs(f.width - (f.height * 1080) / 1920), name).to.be.at.most(1);
      expect(f.width % 2).to.equal(0);
      expect(f.height % 2).to.equal(0);
      expect(f.width).to.be.at.most(bw);
    }
    expect(fitRendition(box("720p30"), { width: 1080, height: 1920, fps: 30 })).to.include({ width: 406, height: 720 });
  });

  it("never upscales: a 640x360 source in a 1080p box stays 640x360, with the bitrate cut by the pixel share", () => {
    const f = fitRendition(box("1080p30"), { width: 640, height: 360, fps: 30 });
    expect([f.width, f.height]).to.deep.equal([640, 360]);
    expect(f.bitrate).to.equal(Math.round(5_000_000 * ((640 * 360) / (1920 * 1080))));
    expect(f.level.name).to.equal("3"); // the level of what is encoded, not of the box
    // Bitrate never below the floor, even for a tiny source.
    expect(fitRendition(box("1080p30"), { width: 32, height: 18, fps: 30 }).bitrate).to.equal(16_000);
  });

  it("never goes above an odd-sized source, and stays even", () => {
    for (const source of [
      { width: 1281, height: 720, fps: 30 },
      { width: 1281, height: 721, fps: 30 },
      { width: 641, height: 359, fps: 30 },
      { width: 17, height: 17, fps: 30 },
    ]) {
      for (const r of ladder) {
        const f = fitRendition(r, source);
        const where = `${r.name} from ${source.width}x${source.height}`;
        expect(f.width, where).to.be.at.most(Math.min(source.width, r.width));
        expect(f.height, where).to.be.at.most(Math.min(source.height, r.height));
        expect(f.width % 2, where).to.equal(0);
        expect(f.height % 2, where).to.equal(0);
      }
    }
    expect(fitRendition(box("1080p30"), { width: 1281, height: 720, fps: 30 })).to.include({
      width: 1280,
      height: 720,
    });
  });

  it("caps the frame rate at the source's, and keeps the rendition's when the source's is unknown", () => {
    const r = box("720p30");
    expect(fitRendition(r, { width: 1920, height: 1080, fps: 25 })).to.include({ fps: 25, gopFrames: 50 });
    expect(fitRendition(r, { width: 1920, height: 1080, fps: 29.97 }).fps).to.equal(29.97);
    expect(fitRendition(r, { width: 1920, height: 1080, fps: 60 })).to.include({ fps: 30, gopFrames: 60 });
    expect(fitRendition(r, { width: 1920, height: 1080, fps: 0 })).to.include({ fps: 30, gopFrames: 60 });
    expect(fitRendition({ ...r, gop: 0.1 }, { width: 1920, height: 1080, fps: 5 }).gopFrames).to.equal(1);
  });

  it("fits the display size of a source with non-square pixels, and outputs square pixels", () => {
    // PAL 4:3: 720x576 stored, 16:15 pixels, 768x576 displayed.
    expect(fitRendition(box("720p30"), { width: 720, height: 576, fps: 25, sampleAspect: 16 / 15 })).to.include({
      width: 768,
      height: 576,
    });
    // Anamorphic HDV: 1440x1080 stored, 4:3 pixels, 16:9 displayed.
    const hdv = { width: 1440, height: 1080, fps: 30, sampleAspect: 4 / 3 };
    expect(fitRendition(box("720p30"), hdv)).to.include({ width: 1280, height: 720 });
    expect(fitRendition(box("1080p30"), hdv)).to.include({ width: 1920, height: 1080 });
    // Tall pixels: 1920x1080 at 3:4 displays 1440x1080, which a 720p box holds as 960x720.
    expect(fitRendition(box("720p30"), { width: 1920, height: 1080, fps: 30, sampleAspect: 3 / 4 })).to.include({
      width: 960,
      height: 720,
    });
  });

  it("gives each output the codec string of its profile and level", () => {
    const fitted = fitLadder(ladder, { width: 1920, height: 1080, fps: 30 });
    expect(fitted.map((f) => f.codec)).to.deep.equal([
      "avc1.640028", // High 4
      "avc1.64001f", // High 3.1
      "avc1.64001f", // 854x480@30: 48,600 MB/s is above 3's 40,500
      "avc1.64001e", // High 3
      "avc1.640015", // High 2.1
    ]);
    const as = (profile: Rendition["profile"]) =>
      fitRendition({ ...PRESETS["360p30"], profile }, { width: 640, height: 360, fps: 30 });
    expect(as("baseline").codec).to.equal("avc1.42c01e");
    expect(as("main").codec).to.equal("avc1.4d401e");
  });
});

describe("media ladder: H.264 levels (Table A-1)", () => {
  // [width, height, fps, bitrate, profile, level] worked out by hand from Table A-1 and A.3.1:
  // frame size in macroblocks ≤ MaxFS, each side ≤ sqrt(8·MaxFS), macroblocks per second ≤ MaxMBPS,
  // bitrate ≤ MaxBR·1000 (·1250 for High).
  const cases: Array<[number, number, number, number, Rendition["profile"], string, number]> = [
    [1280, 720, 30, 3_000_000, "high", "3.1", 31], // 3600 MBs, 108,000 MB/s: exactly 3.1's limits
    [1920, 1080, 30, 5_000_000, "high", "4", 40], // 120x68 = 8160 MBs (1088 coded rows), 244,800 MB/s
    [640, 360, 30, 1_000_000, "high", "3", 30], // 40x23 = 920 MBs, 27,600 MB/s > 2.2's 20,250
    [426, 240, 30, 600_000, "high", "2.1", 21], // 27x15 = 405 MBs > 2's 396
    [854, 480, 30, 1_500_000, "high", "3.1", 31], // 54x30 = 1620 MBs, 48,600 MB/s > 3's 40,500
    [640, 360, 25, 1_000_000, "high", "3", 30], // 23,000 MB/s > 2.2's 20,250
    [320, 180, 30, 400_000, "high", "1.3", 13], // 20x12 = 240 MBs, 7,200 MB/s > 1.2's 6,000
    [320, 180, 30, 1_000_000, "high", "2", 20], // over 1.3's 960 kbit/s (High: 1.25 × 768)
    [176, 144, 15, 64_000, "baseline", "1", 10], // QCIF: 99 MBs, 1485 MB/s, 64 kbit/s: level 1 exactly
    [176, 144, 15, 80_000, "high", "1", 10], // High allows 1.25 × 64 kbit/s
    [176, 144, 15, 80_000, "baseline", "1.1", 11],
    [640, 360, 30, 12_000_000, "main", "3.1", 31], // over 3's 10 Mbit/s
    [640, 360, 30, 12_000_000, "high", "3", 30], // under 3's 12.5 Mbit/s for High
    [1920, 1080, 30, 30_000_000, "high", "4.1", 41], // over 4's 25 Mbit/s (High)
    [1920, 1080, 60, 5_000_000, "high", "4.2", 42], // 489,600 MB/s
    [3840, 2160, 30, 20_000_000, "high", "5.1", 51], // 32,400 MBs, 972,000 MB/s
    [3840, 2160, 60, 20_000_000, "high", "5.2", 52],
    [4096, 64, 30, 1_000_000, "high", "4", 40], // 1024 MBs but 256 MBs wide: sqrt(8·MaxFS) ≥ 256 first at 4
  ];

  it("picks the lowest level whose limits hold the output", () => {
    for (const [w, h, fps, bitrate, profile, name, idc] of cases) {
      expect(h264Level(w, h, fps, bitrate, profile), `${w}x${h}@${fps} ${bitrate} ${profile}`).to.deep.equal({
        name,
        idc,
      });
    }
  });

  it("refuses an output beyond level 5.2", () => {
    expect(ladderError(() => h264Level(4096, 2304, 60, 20_000_000, "high")).message).to.contain("4096x2304 at 60 fps");
    expect(ladderError(() => h264Level(1920, 1080, 30, 500_000_000, "high")).message).to.contain("5.2");
    expect(ladderError(() => h264Level(8192, 8192, 30, 1_000_000, "main")).code).to.equal("LADDER_INVALID");
    // fitRendition passes the refusal on.
    const huge = { ...PRESETS["1080p30"], width: 4096, height: 2304, fps: 120 };
    expect(ladderError(() => fitRendition(huge, { width: 4096, height: 2304, fps: 120 })).message).to.contain(
      "exceeds every H.264 level",
    );
  });
});

describe("media ladder: canonical JSON and profilesHash", () => {
  it("writes the fields in one fixed order whatever order they came in", () => {
    const shuffled = JSON.stringify([
      { deterministic: true, gop: 1, profile: "main", bitrate: "1.2M", fps: 25, height: 360, width: 640, name: "a" },
    ]);
    const json = canonicalLadderJson(ladderFromJson(shuffled));
    expect(json).to.equal(
      '[{"name":"a","width":640,"height":360,"fps":25,"bitrate":1200000,"profile":"main","gop":1,"deterministic":true}]',
    );
    expect(Object.keys(JSON.parse(json)[0])).to.deep.equal(FIELD_ORDER);
  });

  it("is keccak256 of the canonical JSON, and the same however the bitrate was written", () => {
    const ladder = ladderFromPresets("720p,360p");
    expect(profilesHash(ladder)).to.equal(keccak256(toUtf8Bytes(canonicalLadderJson(ladder))));
    expect(profilesHash(ladder)).to.match(/^0x[0-9a-f]{64}$/);
    const written = ladderFromJson(
      JSON.stringify([
        { preset: "720p", bitrate: "3000k" },
        { preset: "360p30", bitrate: "1M" },
      ]),
    );
    expect(profilesHash(written)).to.equal(profilesHash(ladder));
    expect(profilesHash(ladderFromPresets("720p,360p"))).to.equal(profilesHash(ladder));
  });

  it("changes when any field of any rendition changes, or the order does", () => {
    const ladder = ladderFromPresets("720p,360p");
    const base = profilesHash(ladder);
    const changes: Partial<Rendition>[] = [
      { name: "other" },
      { width: 1278 },
      { height: 718 },
      { fps: 29.97 },
      { bitrate: 3_000_001 },
      { profile: "main" },
      { gop: 1 },
      { deterministic: true },
    ];
    expect(changes.flatMap((c) => Object.keys(c))).to.deep.equal(FIELD_ORDER);
    const seen = new Set([base]);
    for (const change of changes) {
      for (const i of [0, 1]) {
        const changed = ladder.map((r, j) => (j === i ? { ...r, ...change } : r));
        const hash = profilesHash(changed);
        expect(seen.has(hash), `${JSON.stringify(change)} on rendition ${i}`).to.equal(false);
        seen.add(hash);
      }
    }
    expect(profilesHash([...ladder].reverse())).not.to.equal(base);
    expect(profilesHash(ladder)).to.equal(base); // nothing above changed the ladder itself
  });
});
