/**
 * End to end, failures the orchestrator must survive: SIGKILLed with winning tickets it could not redeem yet (each is
 * redeemed exactly once after a restart on the same data directory), and a remote `streamflow transcoder` SIGKILLed
 * while it transcodes a broadcaster's segment (another one finishes it and the broadcaster never notices).
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";

import { type MediaTools, mediaTools } from "../../offchain/media/binaries";
import { PRESETS, type Rendition } from "../../offchain/media/ladder";
import { generateTestSegment } from "../../offchain/media/testsrc";
import { OrchestratorClient, checkSegmentResponse } from "../../offchain/orchestrator/client";
import { TicketSender } from "../../offchain/pm/sender";
import { TicketHasher, toHex } from "../../offchain/pm/ticket";
import { TicketBroker__factory } from "../../typechain-types";
import { BinarySpy, type SpiedRun, isTranscode, processExists } from "../support/binarySpy";
import { BROADCASTER_KEY, type OrchestratorChain, startOrchestratorChain } from "../support/orchestratorChain";
import { ProcessGroup, status, waitUntil } from "../support/orchestratorDaemon";
import type { LogRecord, TranscoderDaemon } from "../support/transcoderDaemon";

const LADDER: Rendition[] = [{ ...PRESETS["360p30"] }, { ...PRESETS["240p30"] }];
/** Far above any face value: every ticket's EV is its face value, so every ticket wins. */
const EVERY_TICKET_WINS = "1000000000000000000000";

describe("faults: orchestrator recovery", function () {
  this.timeout(90_000);

  let chain: OrchestratorChain;
  let tools: MediaTools;
  /** 640x360, 30 fps, 2 s. */
  let segment: Buffer;
  const dirs: string[] = [];
  const processes = new ProcessGroup();
  const spies: BinarySpy[] = [];
  /** ffmpeg processes a SIGKILLed transcoder left behind. */
  const orphans: number[] = [];

  const newDataDir = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "streamflow-orch-data-"));
    dirs.push(dir);
    return dir;
  };

  before(async () => {
    tools = await mediaTools();
    segment = await generateTestSegment(tools, { width: 640, height: 360, fps: 30, durationSec: 2 });
    chain = await startOrchestratorChain("orch-recovery");
  });

  afterEach(async function () {
    if (this.currentTest?.state === "failed") console.log(processes.output());
    await processes.stopAll();
    for (const pid of orphans.splice(0)) if (processExists(pid)) process.kill(pid, "SIGKILL");
    for (const spy of spies.splice(0)) spy.dispose();
  });

  after(async () => {
    await chain?.stop();
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("SIGKILLed with 3 winning tickets it could not redeem: after a restart each is redeemed exactly once", async () => {
    const broker = TicketBroker__factory.connect(chain.record.contracts.TicketBroker, chain.provider);
    const [{ deposit: depositBefore }] = await broker.getSenderInfo(chain.broadcaster);
    const latest = await chain.provider.getBlock("latest");
    // A ceiling of 1 wei per gas: below any base fee, so no redemption can be sent.
    expect(latest!.baseFeePerGas! > 1n, "the base fee is above the ceiling").to.equal(true);

    const dataDir = newDataDir();
    const first = await processes.startOrchestrator(chain, {
      dataDir,
      args: ["--ticket-ev", EVERY_TICKET_WINS, "--max-gas-price", "0.000000001"],
    });
    const client = new OrchestratorClient(first.url, BROADCASTER_KEY);
    const info = await client.info();
    const sender = new TicketSender({
      privateKey: BROADCASTER_KEY,
      domain: { chainId: info.chainId, verifyingContract: info.ticketBroker },
    });
    const hasher = new TicketHasher({ chainId: info.chainId, verifyingContract: info.ticketBroker });
    const hashes: string[] = [];
    for (let seq = 0; seq < 3; seq++) {
      const tickets = sender.createTickets(info.ticketParams, 1);
      hashes.push(toHex(hasher.hash(tickets[0].ticket)));
      const response = await client.segment(info, {
        streamId: "restart",
        seq,
        body: segment,
        durationMs: 2000,
        renditions: LADDER,
        tickets,
      });
      expect(response.result.tickets, `segment ${seq}`).to.deep.equal({ accepted: 1, won: 1 });
    }
    expect(new Set(hashes).size).to.equal(3);

    // The redeemer tried and was held back by the ceiling; the tickets wait in the store.
    const answered = new Set(first.daemon.logs);
    await first.daemon.waitForLog(
      (r: LogRecord) =>
        !answered.has(r) &&
        r.msg === "redemption run failed; retrying on the next block" &&
        String(r.err).includes("max-gas-price"),
    );
    const held = await status(first.url);
    expect(held.tickets).to.deep.include({ pending: 3, submitted: 0, redeemed: 0, failed: 0, expired: 0 });
    expect(held.tickets.outstandingFaceValue).to.equal(String(3n * info.ticketParams.faceValue));
    expect(held.redeemer.lastError).to.include("max-gas-price");
    expect(await broker.queryFilter(broker.filters.WinningTicketRedeemed(), 0)).to.deep.equal([]);

    first.daemon.signal("SIGKILL");
    expect(await first.daemon.exited).to.deep.equal({ code: null, signal: "SIGKILL" });

    // Same data directory (recipient secret and ticket store), no ceiling.
    const second = await processes.startOrchestrator(chain, { dataDir, args: ["--ticket-ev", EVERY_TICKET_WINS] });
    const done = await waitUntil(
      "the 3 tickets redeemed",
      async () => {
        const s = await status(second.url);
        return s.tickets.redeemed === 3 && s;
      },
      60_000,
    );
    expect(done.tickets).to.deep.include({ pending: 0, submitted: 0, redeemed: 3, failed: 0, expired: 0 });
    expect(done.tickets.redeemedFaceValue).to.equal(String(3n * info.ticketParams.faceValue));

    const events = await broker.queryFilter(broker.filters.WinningTicketRedeemed(), 0);
    const redeemed = events.map((e) => e.args.ticketHash.toLowerCase());
    for (const hash of hashes) {
      expect(
        redeemed.filter((h) => h === hash),
        hash,
      ).to.have.length(1);
    }
    expect(redeemed).to.have.length(3);
    for (const e of events) {
      expect(e.args.sender.toLowerCase()).to.equal(chain.broadcaster);
      expect(e.args.recipient.toLowerCase()).to.equal(chain.orchestrator);
      expect(e.args.amount).to.equal(info.ticketParams.faceValue);
    }
    const [{ deposit: depositAfter }] = await broker.getSenderInfo(chain.broadcaster);
    expect(depositBefore - depositAfter).to.equal(3n * info.ticketParams.faceValue);
    for (const hash of hashes) expect(await broker.usedTickets(hash), hash).to.equal(true);
  });

  it("a remote transcoder SIGKILLed mid-job: the segment is finished by the other one, and the broadcaster gets a 200", async () => {
    const secret = "e2e-orch-secret-" + randomBytes(8).toString("hex");
    const orchestrator = await processes.startOrchestrator(chain, {
      dataDir: newDataDir(),
      transcoder: false,
      env: { STREAMFLOW_ORCH_SECRET: secret },
    });
    const members = await Promise.all(
      ["remote-1", "remote-2"].map(async (name) => {
        const spy = new BinarySpy(tools.ffmpeg.path, "ffmpeg");
        spies.push(spy);
        const daemon: TranscoderDaemon = processes.spawn(
          [
            "transcoder",
            "--orch-addr",
            orchestrator.url,
            "--http-addr",
            "127.0.0.1:0",
            "--max-sessions",
            "1",
            "--name",
            name,
          ],
          { STREAMFLOW_ORCH_SECRET: secret, FFMPEG_PATH: spy.path },
        );
        await daemon.waitForLog("registered with the orchestrator");
        return { name, spy, daemon };
      }),
    );
    await orchestrator.daemon.waitForNthLog("transcoder joined", 2);

    const client = new OrchestratorClient(orchestrator.url, BROADCASTER_KEY);
    const info = await client.info();
    expect(info.capabilities.transcoders).to.equal(2);
    const sender = new TicketSender({
      privateKey: BROADCASTER_KEY,
      domain: { chainId: info.chainId, verifyingContract: info.ticketBroker },
    });
    const request = client.segment(info, {
      streamId: "survivor",
      seq: 0,
      body: segment,
      durationMs: 2000,
      renditions: LADDER,
      tickets: sender.createTickets(info.ticketParams, 1),
    });
    request.catch(() => {}); // awaited below; a failing test may leave it behind

    // Whichever transcoder starts ffmpeg first is killed.
    const started = await Promise.race(
      members.map((m) => m.spy.waitForRun(isTranscode).then((run: SpiedRun) => ({ member: m, run }))),
    );
    const victim = started.member;
    const survivor = members.find((m) => m !== victim)!;
    orphans.push(started.run.pid);
    victim.daemon.signal("SIGKILL");

    const response = await request;
    expect(
      checkSegmentResponse(response, info, {
        chainId: info.chainId,
        verifyingContract: chain.record.contracts.DisputeManager,
      }),
    ).to.equal(undefined);
    expect(response.renditions).to.have.length(2);
    expect(response.result.renditions.map((r) => [r.name, r.width, r.height, r.frames])).to.deep.equal([
      ["360p30", 640, 360, 60],
      ["240p30", 426, 240, 60],
    ]);
    expect(survivor.spy.runs().filter(isTranscode), "the survivor transcoded it").to.have.length(1);
    expect(await victim.daemon.exited).to.deep.equal({ code: null, signal: "SIGKILL" });
    expect(survivor.daemon.child.exitCode).to.equal(null);

    await orchestrator.daemon.waitForLog("transcoder left");
    const s = await status(orchestrator.url);
    expect(s.transcoders.map((t) => t.name)).to.deep.equal([survivor.name]);
  });
});
