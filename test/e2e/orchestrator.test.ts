/**
 * End to end: a real `streamflow orchestrator` process (with its in-process transcoder) against a `hardhat node`
 * with the suite deployed, an active orchestrator and a funded broadcaster. A paid segment round trip, refusals with
 * distinct codes, winning tickets redeemed on chain with the fees visible in the BondingManager.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";

import { type MediaTools, mediaTools } from "../../offchain/media/binaries";
import { PRESETS, type Rendition } from "../../offchain/media/ladder";
import { generateTestSegment } from "../../offchain/media/testsrc";
import { OrchestratorClient, checkSegmentResponse } from "../../offchain/orchestrator/client";
import type { OrchestratorInfo } from "../../offchain/orchestrator/wire";
import { TicketSender } from "../../offchain/pm/sender";
import { BondingManager__factory, TicketBroker__factory } from "../../typechain-types";
import { BROADCASTER_KEY, type OrchestratorChain, startOrchestratorChain } from "../support/orchestratorChain";
import { freePort } from "../support/processes";
import { type TranscoderDaemon, spawnStreamflow } from "../support/transcoderDaemon";

const LADDER: Rendition[] = [{ ...PRESETS["360p30"] }, { ...PRESETS["240p30"] }];

describe("e2e: streamflow orchestrator on a hardhat node", function () {
  this.timeout(60_000);

  let chain: OrchestratorChain;
  let tools: MediaTools;
  let segment: Buffer;
  let dataDir: string;
  let daemon: TranscoderDaemon | undefined;
  let url: string;

  const start = async (extra: string[] = []) => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    daemon = spawnStreamflow([
      "orchestrator",
      "--rpc-url",
      chain.node.url,
      "--deployment",
      chain.deploymentFile,
      "--dev-account",
      "1",
      "--http-addr",
      `127.0.0.1:${port}`,
      "--data-dir",
      dataDir,
      "--transcoder",
      "--transcoder-sessions",
      "2",
      "--redeem-interval",
      "0.5",
      ...extra,
    ]);
    await daemon.waitForLog("orchestrator started");
    await daemon.waitForLog("transcoder joined");
    return daemon;
  };

  before(async () => {
    tools = await mediaTools();
    segment = await generateTestSegment(tools, { width: 640, height: 360, fps: 30, durationSec: 2 });
    chain = await startOrchestratorChain("orch");
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "streamflow-orch-data-"));
  });

  afterEach(async function () {
    if (this.currentTest?.state === "failed" && daemon) console.log(daemon.output.slice(-6000));
    await daemon?.stop();
    daemon = undefined;
  });

  after(async () => {
    await chain?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("transcodes a paid segment, signs the receipt, and redeems the winning ticket on chain", async () => {
    // Every ticket wins: its EV is its face value.
    await start(["--ticket-ev", "1000000000000000000000"]);
    const client = new OrchestratorClient(url, BROADCASTER_KEY);
    const info: OrchestratorInfo = await client.info();
    expect(info.address).to.equal(chain.orchestrator);
    const sender = new TicketSender({
      privateKey: BROADCASTER_KEY,
      domain: { chainId: info.chainId, verifyingContract: info.ticketBroker },
    });
    const tickets = sender.createTickets(info.ticketParams, 1);
    const response = await client.segment(info, {
      streamId: "e2e-stream",
      seq: 0,
      body: segment,
      durationMs: 2000,
      renditions: LADDER,
      tickets,
    });
    expect(checkSegmentResponse(response, info, { chainId: info.chainId })).to.equal(undefined);
    expect(response.result.tickets).to.deep.equal({ accepted: 1, won: 1 });
    expect(response.renditions).to.have.length(2);

    const bonding = BondingManager__factory.connect(chain.record.contracts.BondingManager, chain.provider);
    const broker = TicketBroker__factory.connect(chain.record.contracts.TicketBroker, chain.provider);
    await daemon!.waitForLog("redemption transaction mined");
    const round = await chain.nextRound();
    const fees = await bonding.pendingFees(chain.orchestrator, round);
    expect(fees > 0n).to.equal(true);
    const [books] = await broker.getSenderInfo(chain.broadcaster);
    expect(books.deposit).to.equal(10n ** 19n - info.ticketParams.faceValue);
  });
});
