/**
 * End to end, orchestrator faults the broadcaster must absorb without a gap in the output: one of two orchestrators
 * SIGKILLed while a stream is pushed over RTMP (the other takes over; every sequence number is published with every
 * rendition), and one returning wrong output through a corrupting proxy (caught by verification, the segment retried
 * on the honest one, the evidence kept on disk).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import { keccak256 } from "ethers";

import { type MediaTools, mediaTools } from "../../offchain/media/binaries";
import { generateTestSegment } from "../../offchain/media/testsrc";
import {
  type OrchestratorProxy,
  type PutAnswer,
  PublisherGroup,
  TEST_RENDITIONS,
  addSecondOrchestrator,
  broadcasterStatus,
  fetchBytes,
  ffprobeUrl,
  missingSequences,
  parseMediaPlaylist,
  putSegment,
  startBroadcasterOn,
  startOrchestratorOn,
  startOrchestratorProxy,
  streamOf,
} from "../support/broadcasterStack";
import { type OrchestratorChain, startOrchestratorChain } from "../support/orchestratorChain";
import { type OrchestratorProcess, ProcessGroup, metricValue, waitUntil } from "../support/orchestratorDaemon";

const VARIANTS = [...TEST_RENDITIONS, "source"];

describe("faults: the broadcaster when an orchestrator fails", function () {
  this.timeout(120_000);

  let chain: OrchestratorChain;
  let tools: MediaTools;
  let second: string;
  const dirs: string[] = [];
  const processes = new ProcessGroup();
  const publishers = new PublisherGroup();
  const proxies: OrchestratorProxy[] = [];

  const newDir = (label: string) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `streamflow-bcast-faults-${label}-`));
    dirs.push(dir);
    return dir;
  };

  /** Orchestrators for dev accounts 1 and 3, each with its own transcoder. */
  const startPair = (): Promise<OrchestratorProcess[]> =>
    Promise.all(
      [1, 3].map((account) =>
        startOrchestratorOn(processes, chain, {
          account,
          dataDir: newDir(`orch${account}`),
          args: ["--max-sessions", "8"],
        }),
      ),
    );

  before(async () => {
    tools = await mediaTools();
    chain = await startOrchestratorChain("bcast-faults");
    second = await addSecondOrchestrator(chain);
  });

  afterEach(async function () {
    await publishers.killAll();
    for (const proxy of proxies.splice(0)) await proxy.close();
    if (this.currentTest?.state === "failed") console.log(processes.output());
    await processes.stopAll();
  });

  after(async () => {
    await chain?.stop();
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("an orchestrator SIGKILLed mid-stream: the other takes over and no sequence number is missing", async () => {
    const pair = await startPair();
    const { url, rtmpUrl } = await startBroadcasterOn(processes, chain, {
      dataDir: newDir("kill"),
      orchestrators: pair.map((o) => o.url),
      args: ["--live-window", "30"],
    });
    const seconds = 12;
    const publisher = publishers.start(tools, `${rtmpUrl}/survivor`, { seconds });

    // Two segments through whichever orchestrator the stream uses; then that one dies.
    const inUse = await waitUntil(
      "two segments transcoded",
      async () => {
        const s = await broadcasterStatus(url);
        return (streamOf(s, "survivor")?.segmentsOut ?? 0) >= 2 && s.orchestrators.find((o) => o.state === "in-use");
      },
      30_000,
      100,
    );
    const victim = pair.find((o) => o.url === inUse.url)!;
    const survivor = pair.find((o) => o !== victim)!;
    victim.daemon.signal("SIGKILL");
    await victim.daemon.exited;
    const inAtKill = streamOf(await broadcasterStatus(url), "survivor")!.segmentsIn;

    // The broadcaster notices (the next request to it fails) and suspends it.
    const suspended = await waitUntil(
      "the killed orchestrator to be suspended",
      async () => {
        const entry = (await broadcasterStatus(url)).orchestrators.find((o) => o.url === victim.url);
        return entry !== undefined && entry.failures >= 1 && entry.state === "suspended" && entry;
      },
      30_000,
      100,
    );
    expect(suspended.suspendedUntil).to.be.above(Date.now() - 1000);

    expect((await publisher.exited).code, publisher.stderr).to.equal(0);
    const playlists: Record<string, ReturnType<typeof parseMediaPlaylist>> = {};
    for (const variant of VARIANTS) {
      playlists[variant] = await waitUntil(
        `${variant} playlist with EXT-X-ENDLIST`,
        async () => {
          const list = parseMediaPlaylist((await fetchBytes(`${url}/stream/survivor/${variant}.m3u8`)).text);
          return list.ended && list;
        },
        30_000,
        250,
      );
    }

    const s = await broadcasterStatus(url);
    const stream = streamOf(s, "survivor")!;
    const n = stream.segmentsIn;
    expect(n, "segments of a 12 s push").to.be.within(5, 7);
    expect(inAtKill, "segments left after the kill").to.be.below(n);
    // Every sequence number, each with every rendition: nothing lost, nothing skipped.
    for (const variant of VARIANTS) {
      const seqs = playlists[variant].segments.map((x) => x.seq);
      expect(missingSequences(seqs, 0, n - 1), `${variant}: missing sequence numbers`).to.deep.equal([]);
      expect(seqs, variant).to.deep.equal([...Array(n).keys()]);
      expect(playlists[variant].discontinuities, `${variant}: discontinuities`).to.equal(0);
    }
    expect(stream).to.include({ state: "ended", segmentsOut: n, segmentsFailed: 0 });
    expect(s.totals.segmentsLost).to.equal(0);

    const byUrl = Object.fromEntries(s.orchestrators.map((o) => [o.url, o]));
    expect(byUrl[victim.url].failures, "the killed orchestrator's failures").to.be.at.least(1);
    expect(byUrl[survivor.url].failures).to.equal(0);
    expect(byUrl[victim.url].segments + byUrl[survivor.url].segments).to.equal(n);
    for (const seg of stream.lastSegments.filter((x) => x.seq >= inAtKill)) {
      expect(seg, `segment ${seg.seq} after the kill`).to.include({ status: "ok", orchestrator: survivor.url });
    }
    expect(
      stream.lastSegments.some((x) => x.attempts >= 2),
      "at least one segment was retried on the survivor",
    ).to.equal(true);
    expect(s.errors.some((e) => e.orchestrator === victim.url)).to.equal(true);

    // The rendition plays from start to end across the switch.
    const probed = await ffprobeUrl(tools, `${url}/stream/survivor/360p30.m3u8`);
    expect(Number(probed.format.duration)).to.be.closeTo(seconds, 1);
  });

  it("an orchestrator that is busy (503, Retry-After: 1): the segment waits and is retried there, not lost", async () => {
    const [only] = await startPair();
    const busy = await startOrchestratorProxy(only.url, { busyFirst: 1 });
    proxies.push(busy);
    const { url } = await startBroadcasterOn(processes, chain, {
      dataDir: newDir("busy"),
      rtmp: false,
      orchestrators: [busy.url],
    });
    const segment = await generateTestSegment(tools, { width: 640, height: 360, durationSec: 2 });
    const answer = await putSegment<PutAnswer>(url, "busy", 0, segment);
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    expect(answer.body).to.include({ status: "ok", orchestrator: busy.url, transcoded: true, attempts: 2 });
    expect(busy.busy, "the proxy refused the first request").to.equal(1);
    const s = await broadcasterStatus(url);
    const entry = s.orchestrators.find((o) => o.url === busy.url)!;
    expect(entry.failures).to.equal(1);
    expect(s.totals.segmentsLost).to.equal(0);
  });

  it("an orchestrator returning altered renditions: caught, retried on the honest one, evidence kept", async () => {
    const [honest, cheater] = await startPair().then(([a, b]) => [b, a]);
    // The cheater's answers have bytes flipped inside the first rendition (its receipt no longer matches); the honest
    // one is slower than real time, so after three segments the stream moves to the cheater (docs/broadcaster.md).
    const corrupting = await startOrchestratorProxy(cheater.url, { corrupt: true });
    const slow = await startOrchestratorProxy(honest.url, { delayMs: 2500 });
    proxies.push(corrupting, slow);
    const dataDir = newDir("verify");
    const { url, daemon } = await startBroadcasterOn(processes, chain, {
      dataDir,
      rtmp: false,
      orchestrators: [corrupting.url, slow.url],
    });

    const stream = "checked";
    const sent: Buffer[] = [];
    let retried: PutAnswer | undefined;
    for (let seq = 0; seq < 8 && !retried; seq++) {
      sent.push(await generateTestSegment(tools, { width: 640, height: 360, durationSec: 2, startSec: seq * 2 }));
      const answer = await putSegment<PutAnswer>(url, stream, seq, sent[seq]);
      expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
      // Whoever got it first, what is published comes from the honest orchestrator.
      expect(answer.body, `segment ${seq}`).to.include({ status: "ok", orchestrator: slow.url, transcoded: true });
      if (answer.body.attempts >= 2) retried = answer.body;
    }
    expect(retried, "a segment went to the cheater and was retried").to.not.equal(undefined);
    expect(corrupting.corrupted, "answers the proxy altered").to.be.at.least(1);
    await daemon.waitForLog("result failed verification");

    const s = await broadcasterStatus(url);
    const cheaterEntry = s.orchestrators.find((o) => o.url === corrupting.url)!;
    expect(cheaterEntry.address).to.equal(chain.orchestrator);
    expect(cheaterEntry.verifyFailures, "verification failures of the cheater").to.equal(corrupting.corrupted);
    expect(cheaterEntry.segments, "segments credited to the cheater").to.equal(0);
    expect(s.orchestrators.find((o) => o.url === slow.url)).to.include({ verifyFailures: 0, address: second });
    const metrics = (await fetchBytes(`${url}/metrics`)).text;
    expect(metricValue(metrics, "streamflow_broadcaster_verification_failures_total")).to.equal(corrupting.corrupted);
    expect(
      s.errors.some((e) => e.orchestrator === corrupting.url && /verification/.test(e.message)),
      JSON.stringify(s.errors),
    ).to.equal(true);

    // Evidence for each caught result: the source, the renditions as received, the signed answer and the reason.
    const evidenceRoot = path.join(dataDir, "evidence", stream);
    const kept = fs.readdirSync(evidenceRoot);
    expect(kept, "evidence directories").to.have.length(corrupting.corrupted);
    for (const name of kept) {
      const match = /^(\d+)-(0x[0-9a-f]{40})-\d+$/.exec(name);
      expect(match, name).to.not.equal(null);
      const [seq, address] = [Number(match![1]), match![2]];
      expect(address).to.equal(chain.orchestrator);
      const dir = path.join(evidenceRoot, name);
      expect(fs.readdirSync(dir)).to.have.members([
        "source.ts",
        ...TEST_RENDITIONS.map((r) => `${r}.ts`),
        "result.json",
      ]);
      expect(
        fs.readFileSync(path.join(dir, "source.ts")).equals(sent[seq]),
        "source.ts is the pushed segment",
      ).to.equal(true);
      const result = JSON.parse(fs.readFileSync(path.join(dir, "result.json"), "utf8")) as {
        reason: string;
        orchestrator: { url: string; address: string };
        receipt: { seq: string };
        signature: string;
        renditions: Array<{ name: string; hash: string }>;
      };
      expect(result.reason).to.match(/hash/);
      expect(result.orchestrator).to.deep.equal({ url: corrupting.url, address: chain.orchestrator });
      expect(result.receipt.seq).to.equal(String(seq));
      expect(result.signature).to.match(/^0x[0-9a-f]+$/);
      // What the receipt names and what arrived: the first rendition was altered, the second was not.
      const hashOf = (file: string) => keccak256(fs.readFileSync(path.join(dir, file)));
      expect(result.renditions.map((r) => r.name)).to.deep.equal([...TEST_RENDITIONS]);
      expect(hashOf(`${TEST_RENDITIONS[0]}.ts`)).to.not.equal(result.renditions[0].hash);
      expect(hashOf(`${TEST_RENDITIONS[1]}.ts`)).to.equal(result.renditions[1].hash);
    }

    // Nothing of the cheater's was published: every segment is there, each with every rendition.
    const ended = await fetchBytes(`${url}/live/${stream}`, { method: "DELETE" });
    expect(ended.status).to.equal(204);
    const last = sent.length - 1;
    for (const variant of VARIANTS) {
      const list = parseMediaPlaylist((await fetchBytes(`${url}/stream/${stream}/${variant}.m3u8`)).text);
      expect(list.ended, variant).to.equal(true);
      expect(
        list.segments.map((x) => x.seq),
        variant,
      ).to.deep.equal([...Array(last + 1).keys()]);
    }
    const status = streamOf(await broadcasterStatus(url), stream)!;
    expect(status).to.include({ segmentsIn: sent.length, segmentsOut: sent.length, segmentsFailed: 0 });
  });
});
