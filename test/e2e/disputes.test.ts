/**
 * End to end, a verification dispute with real processes: an honest orchestrator and a cheating one (its transcoder
 * negates every picture: right size, frames and duration, wrong content), a broadcaster sending each segment to both
 * (`--redundancy 2`) and re-encoding every result (`--verify-rate 1`), and three `streamflow verifier` daemons. The
 * broadcaster publishes the honest result, catches the cheat, serves the evidence and opens a dispute; the verifiers
 * are drawn, judge, commit and reveal (one of them SIGKILLed after committing and restarted from its database); the
 * cheater is slashed and the broadcaster gets the bond back and the finder fee.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import { parseEther, toQuantity } from "ethers";

import { type MediaTools, mediaTools } from "../../offchain/media/binaries";
import { generateTestSegment } from "../../offchain/media/testsrc";
import { BondingManager__factory, DisputeManager__factory, LivepeerToken__factory } from "../../typechain-types";
import {
  type PutAnswer,
  addSecondOrchestrator,
  broadcasterStatus,
  putSegment,
  startBroadcasterOn,
  startOrchestratorOn,
} from "../support/broadcasterStack";
import { type OrchestratorChain, startOrchestratorChain } from "../support/orchestratorChain";
import { ProcessGroup, waitUntil } from "../support/orchestratorDaemon";
import type { TranscoderDaemon } from "../support/transcoderDaemon";
import { startVerifierOn } from "../support/verifierDaemon";

const VERIFIER_ACCOUNTS = [5, 6, 7];
const ZERO_HASH = "0x" + "0".repeat(64);

describe("e2e: a verification dispute, from a cheating orchestrator to its slash", function () {
  this.timeout(180_000);

  let chain: OrchestratorChain;
  let tools: MediaTools;
  let cheater: string;
  const dirs: string[] = [];
  const processes = new ProcessGroup();

  const newDir = (label: string) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `streamflow-disputes-${label}-`));
    dirs.push(dir);
    return dir;
  };

  const startVerifier = async (account: number, dataDir: string, stake: string): Promise<TranscoderDaemon> =>
    (await startVerifierOn(processes, chain, { account, dataDir, stake })).daemon;

  before(async () => {
    tools = await mediaTools();
    chain = await startOrchestratorChain("disputes");
    cheater = await addSecondOrchestrator(chain);
    const token = LivepeerToken__factory.connect(chain.record.contracts.LivepeerToken, await chain.signer(0));
    for (const account of VERIFIER_ACCOUNTS) {
      await (await token.transfer((await chain.signer(account)).address, parseEther("1000"))).wait();
    }
  });

  afterEach(async function () {
    if (this.currentTest?.state === "failed") console.log(processes.output());
    await processes.stopAll();
  });

  after(async () => {
    await chain?.stop();
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("catches negated renditions, disputes them, and the committee slashes the cheater", async () => {
    const { provider, record } = chain;
    const disputes = DisputeManager__factory.connect(record.contracts.DisputeManager, provider);
    const bonding = BondingManager__factory.connect(record.contracts.BondingManager, provider);
    const token = LivepeerToken__factory.connect(record.contracts.LivepeerToken, provider);

    const verifierDirs = VERIFIER_ACCOUNTS.map((a) => newDir(`verifier${a}`));
    const verifiers = await Promise.all(
      VERIFIER_ACCOUNTS.map((account, i) => startVerifier(account, verifierDirs[i], String(100 * (i + 1)))),
    );
    expect(await disputes.totalVerifierStake()).to.equal(parseEther("600"));

    const [honest, cheating] = await Promise.all([
      startOrchestratorOn(processes, chain, { account: 1, dataDir: newDir("honest") }),
      startOrchestratorOn(processes, chain, {
        account: 3,
        dataDir: newDir("cheater"),
        args: ["--fault-tamper", "negate"],
      }),
    ]);
    const broadcaster = await startBroadcasterOn(processes, chain, {
      dataDir: newDir("broadcaster"),
      rtmp: false,
      orchestrators: [honest.url, cheating.url],
      args: ["--redundancy", "2", "--verify-rate", "1"],
    });

    // Every segment is published (the honest result), although one of the two answers is a cheat.
    for (let seq = 0; seq < 2; seq++) {
      const segment = await generateTestSegment(tools, { width: 640, height: 360, startSec: seq * 2 });
      const put = await putSegment<PutAnswer>(broadcaster.url, "cheat", seq, segment);
      expect(put.status, JSON.stringify(put.body)).to.equal(200);
      expect(put.body.status).to.equal("ok");
      expect(put.body.orchestrator).to.equal(honest.url);
    }

    const opened = await waitUntil(
      "the broadcaster to open a dispute",
      async () => (await broadcasterStatus(broadcaster.url)).disputes.find((d) => d.id !== null),
      60_000,
      200,
    );
    expect(opened.orchestrator).to.equal(cheater);
    expect(opened.orchestratorUrl).to.equal(cheating.url);
    expect(opened.reasons.join(" ")).to.match(/SSIM|PSNR/);
    const id = BigInt(opened.id!);
    const before = await bonding.getDelegator(cheater);
    const finderBefore = await token.balanceOf(chain.broadcaster);

    // The evidence is served under its hash.
    const manifest = await fetch(opened.evidence);
    expect(manifest.status).to.equal(200);

    // The seed block: once it is mined, the committee is drawn (by a verifier or the broadcaster).
    await provider.send("hardhat_mine", ["0x1"]);
    const committee = await waitUntil(
      "the committee",
      async () => {
        const [members] = await disputes.getCommittee(id).catch(() => [[]] as unknown as [string[]]);
        return members.length === 3 && members;
      },
      30_000,
      200,
    );
    const verifierAddresses = await Promise.all(VERIFIER_ACCOUNTS.map(async (a) => (await chain.signer(a)).address));
    expect([...committee].sort()).to.deep.equal([...verifierAddresses].sort());

    await waitUntil(
      "every member to commit",
      async () => {
        const votes = await Promise.all(committee.map((m) => disputes.getVote(id, m)));
        return votes.every((v) => v.commitment !== ZERO_HASH);
      },
      60_000,
      200,
    );

    // A verifier dies after committing; restarted from its database, it still reveals its vote.
    const victim = 0;
    verifiers[victim].signal("SIGKILL");
    await verifiers[victim].exited;
    const info = await disputes.getDispute(id);
    const latest = await provider.getBlockNumber();
    await provider.send("hardhat_mine", [toQuantity(info.commitEnd - BigInt(latest))]);
    const restarted = await startVerifier(VERIFIER_ACCOUNTS[victim], verifierDirs[victim], "100");

    await waitUntil(
      "every member to reveal",
      async () => {
        const votes = await Promise.all(committee.map((m) => disputes.getVote(id, m)));
        return votes.every((v) => v.vote !== 0n) && votes;
      },
      60_000,
      200,
    );
    await restarted.waitForLog("vote revealed");

    const settled = await waitUntil(
      "the dispute to be resolved",
      async () => {
        const d = (await broadcasterStatus(broadcaster.url)).disputes.find((x) => x.id === opened.id);
        return d?.outcome ? d : undefined;
      },
      60_000,
      200,
    );
    expect(settled.outcome).to.equal("Fault");
    const resolved = await disputes.getDispute(id);
    expect(resolved.faultStake).to.equal(parseEther("600"));
    expect(resolved.reveals).to.equal(3n);

    // Half of the cheater's own stake is slashed; half of that goes to the broadcaster, the rest is burned.
    const after = await bonding.getDelegator(cheater);
    const penalty = before.bondedAmount / 2n;
    expect(after.bondedAmount).to.equal(before.bondedAmount - penalty);
    expect((await token.balanceOf(chain.broadcaster)) - finderBefore).to.equal(penalty / 2n);
    // It left the pool: inactive from the next round on.
    await chain.nextRound();
    expect(await bonding.isActiveTranscoder(cheater)).to.equal(false);
    expect(await bonding.isActiveTranscoder(chain.orchestrator)).to.equal(true);
    // The bond went back to the broadcaster, pushed, not left waiting.
    expect(await disputes.payouts(chain.broadcaster)).to.equal(0n);
    // Every verifier voted with the majority: no stake lost.
    for (const [i, address] of verifierAddresses.entries()) {
      expect((await disputes.getVerifier(address)).stake).to.equal(parseEther(String(100 * (i + 1))));
    }
  });
});
