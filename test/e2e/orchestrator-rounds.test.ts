/**
 * End to end, the round services of `streamflow orchestrator --initialize-round --reward --service-addr URL`: once a
 * new round starts and nobody has initialized it, the daemon does, then calls reward() for it, and keeps its
 * ServiceRegistry URI equal to --service-addr.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";

import { OrchestratorClient } from "../../offchain/orchestrator/client";
import {
  BondingManager__factory,
  RoundsManager__factory,
  ServiceRegistry__factory,
  TicketBroker__factory,
} from "../../typechain-types";
import { BROADCASTER_KEY, type OrchestratorChain, startOrchestratorChain } from "../support/orchestratorChain";
import { ProcessGroup, status, waitUntil } from "../support/orchestratorDaemon";
import type { LogRecord } from "../support/transcoderDaemon";

const SERVICE_URI = "http://orch.example:8935";

describe("e2e: streamflow orchestrator round services", function () {
  this.timeout(60_000);

  let chain: OrchestratorChain;
  let dataDir: string;
  const processes = new ProcessGroup();

  before(async () => {
    chain = await startOrchestratorChain("orch-rounds");
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "streamflow-orch-data-"));
  });

  afterEach(async function () {
    if (this.currentTest?.state === "failed") console.log(processes.output());
    await processes.stopAll();
  });

  after(async () => {
    await chain?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("initializes a new round, calls reward() in it, and registers --service-addr in the ServiceRegistry", async () => {
    const rounds = RoundsManager__factory.connect(chain.record.contracts.RoundsManager, chain.provider);
    const bonding = BondingManager__factory.connect(chain.record.contracts.BondingManager, chain.provider);
    const registry = ServiceRegistry__factory.connect(chain.record.contracts.ServiceRegistry, chain.provider);
    expect(await registry.getServiceURI(chain.orchestrator)).to.equal("");
    const startRound = await rounds.currentRound();
    expect(await rounds.currentRoundInitialized()).to.equal(true);

    const { daemon, url } = await processes.startOrchestrator(chain, {
      dataDir,
      transcoder: false,
      env: { STREAMFLOW_ORCH_SECRET: "e2e-rounds-secret" },
      args: ["--initialize-round", "--reward", "--service-addr", SERVICE_URI],
    });
    // The current round is initialized already: the first pass rewards it and sets the URI (its last step).
    const rewardIn = (round: bigint) => (r: LogRecord) => r.msg === "reward sent" && r.round === String(round);
    await daemon.waitForLog(rewardIn(startRound));
    await daemon.waitForLog("service URI updated");
    expect(await registry.getServiceURI(chain.orchestrator)).to.equal(SERVICE_URI);
    expect((await bonding.getTranscoder(chain.orchestrator)).lastRewardRound).to.equal(startRound);
    expect(daemon.logs.some((r) => r.msg === "initializeRound sent")).to.equal(false);

    // A new round starts; nobody initializes it but the daemon.
    const round = await chain.mineToNextRound();
    expect(round).to.equal(startRound + 1n);
    expect(await rounds.currentRoundInitialized()).to.equal(false);
    await daemon.waitForLog((r) => r.msg === "initializeRound sent" && r.round === String(round));
    expect(await rounds.currentRoundInitialized()).to.equal(true);
    expect(await rounds.currentRound()).to.equal(round);
    await daemon.waitForLog(rewardIn(round));
    expect((await bonding.getTranscoder(chain.orchestrator)).lastRewardRound).to.equal(round);
    expect(await registry.getServiceURI(chain.orchestrator)).to.equal(SERVICE_URI);
    expect(
      daemon.logs.filter((r) => r.msg === "service URI updated"),
      "the URI is set once",
    ).to.have.length(1);

    const s = await waitUntil("the round services' status for the new round", async () => {
      const current = await status(url);
      return current.roundServices?.lastRewardRound === String(round) && current;
    });
    expect(s.roundServices).to.deep.include({
      lastInitializedRound: String(round),
      lastRewardRound: String(round),
      serviceUri: SERVICE_URI,
    });
    expect(s.roundServices?.lastError).to.equal(undefined);
    expect(s.serviceUrl).to.equal(SERVICE_URI);
  });

  it("while a new round waits for initializeRound, /info issues tickets on the previous round, expiring in time to redeem", async () => {
    const rounds = RoundsManager__factory.connect(chain.record.contracts.RoundsManager, chain.provider);
    const { url } = await processes.startOrchestrator(chain, {
      dataDir,
      transcoder: false,
      env: { STREAMFLOW_ORCH_SECRET: "e2e-rounds-secret" },
    });
    const client = new OrchestratorClient(url, BROADCASTER_KEY);
    const previous = await rounds.currentRound();
    expect(await rounds.currentRoundInitialized()).to.equal(true);
    const round = await chain.mineToNextRound();
    expect(await rounds.currentRoundInitialized()).to.equal(false);
    const start = await rounds.currentRoundStartBlock();
    const length = await rounds.roundLength();
    const validity = await TicketBroker__factory.connect(
      chain.record.contracts.TicketBroker,
      chain.provider,
    ).ticketValidityPeriod();
    const info = await waitUntil("/info once the daemon sees the new round", async () => {
      const answer = await client.info();
      return answer.ticketParams.creationRound === previous && answer;
    });
    expect(info.ticketParams.creationRoundBlockHash).to.equal((await rounds.blockHashForRound(previous)).toLowerCase());
    // Tickets of `previous` stop being redeemable when round previous + validity starts: the parameters end half a
    // round before that.
    const lastUseful = start - length + validity * length - length / 2n;
    expect(info.ticketParams.expirationBlock).to.equal(lastUseful);
    expect(info.ticketParams.expirationBlock > BigInt(await chain.provider.getBlockNumber())).to.equal(true);

    await (await rounds.connect(await chain.signer(0)).initializeRound()).wait();
    const fresh = await waitUntil("/info on the new round once it is initialized", async () => {
      const answer = await client.info();
      return answer.ticketParams.creationRound === round && answer;
    });
    expect(fresh.ticketParams.creationRoundBlockHash).to.equal((await rounds.blockHashForRound(round)).toLowerCase());
  });
});
