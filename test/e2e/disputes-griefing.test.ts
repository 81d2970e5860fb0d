/**
 * End to end, a griefing broadcaster: disputes cost the challenger its bond when the orchestrator was honest. The
 * test itself is the dishonest broadcaster (dev account 2): it pays a real honest orchestrator (dev account 1) for a
 * segment, keeps the renditions and the signed receipt, serves them as evidence from its own /evidence route and
 * disputes the receipt on chain with the bond. Three real `streamflow verifier` daemons (dev accounts 5, 6, 7) are
 * drawn, re-encode the source, find nothing wrong and vote NoFault: the orchestrator keeps its stake and receives the
 * bond. Then a dispute whose evidence cannot be fetched at all: also NoFault (data availability is the challenger's
 * burden).
 */
import fs from "node:fs";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import { parseEther, toQuantity } from "ethers";
import Fastify, { type FastifyInstance } from "fastify";

import { registerEvidenceRoutes } from "../../offchain/broadcaster/disputes";
import { EvidenceStore } from "../../offchain/disputes/evidence";
import { type MediaTools, mediaTools } from "../../offchain/media/binaries";
import { PRESETS, type Rendition } from "../../offchain/media/ladder";
import { generateTestSegment } from "../../offchain/media/testsrc";
import { OrchestratorClient, checkSegmentResponse } from "../../offchain/orchestrator/client";
import { estimateOutputPixels, feeFor } from "../../offchain/orchestrator/pricing";
import { type TranscodeReceipt, receiptFromJson } from "../../offchain/orchestrator/receipt";
import { TicketSender } from "../../offchain/pm/sender";
import { BondingManager__factory, type DisputeManager, DisputeManager__factory } from "../../typechain-types";
import { startOrchestratorOn } from "../support/broadcasterStack";
import { BROADCASTER_KEY, type OrchestratorChain, startOrchestratorChain } from "../support/orchestratorChain";
import { type OrchestratorProcess, ProcessGroup, waitUntil } from "../support/orchestratorDaemon";
import { freePort } from "../support/processes";
import {
  type VerifierDisputeStatus,
  type VerifierProcess,
  giveLpt,
  startVerifierOn,
  verifierStatus,
} from "../support/verifierDaemon";

const VERIFIER_ACCOUNTS = [5, 6, 7];
const VERIFIER_STAKES = ["100", "200", "300"];
const LADDER: Rendition[] = [{ ...PRESETS["360p30"] }, { ...PRESETS["240p30"] }];
const ZERO_HASH = "0x" + "0".repeat(64);
/** IDisputeManager.Outcome.NoFault */
const NO_FAULT = 2n;

/** An honest result the broadcaster paid for: the source, the renditions and the orchestrator's signed receipt. */
interface PaidSegment {
  source: Buffer;
  outputs: Buffer[];
  receipt: TranscodeReceipt;
  signature: string;
}

describe("e2e: a griefing broadcaster disputes an honest orchestrator", function () {
  this.timeout(120_000);

  let chain: OrchestratorChain;
  let tools: MediaTools;
  let disputes: DisputeManager;
  let orchestrator: OrchestratorProcess;
  let verifiers: VerifierProcess[];
  let evidence: EvidenceStore;
  let evidenceApp: FastifyInstance;
  let evidenceBase: string;
  let sender: TicketSender;
  const dirs: string[] = [];
  const processes = new ProcessGroup();

  const newDir = (label: string) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `streamflow-griefing-${label}-`));
    dirs.push(dir);
    return dir;
  };

  before(async () => {
    tools = await mediaTools();
    chain = await startOrchestratorChain("griefing");
    await giveLpt(chain, VERIFIER_ACCOUNTS);
    disputes = DisputeManager__factory.connect(chain.record.contracts.DisputeManager, await chain.signer(2));
    [orchestrator, ...verifiers] = await Promise.all([
      startOrchestratorOn(processes, chain, { account: 1, dataDir: newDir("orchestrator") }),
      ...VERIFIER_ACCOUNTS.map((account, i) =>
        startVerifierOn(processes, chain, {
          account,
          dataDir: newDir(`verifier${account}`),
          stake: VERIFIER_STAKES[i],
        }),
      ),
    ]);
    expect(await disputes.totalVerifierStake()).to.equal(parseEther("600"));

    // The griefer's own evidence server, as its broadcaster daemon would serve it.
    evidence = new EvidenceStore(newDir("evidence"));
    evidenceApp = Fastify();
    registerEvidenceRoutes(evidenceApp, evidence);
    await evidenceApp.listen({ host: "127.0.0.1", port: 0 });
    evidenceBase = `http://127.0.0.1:${(evidenceApp.server.address() as AddressInfo).port}/evidence`;
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed") console.log(processes.output());
  });

  after(async () => {
    await processes.stopAll();
    await evidenceApp?.close();
    await chain?.stop();
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Pays the honest orchestrator for segment `seq` of stream "grief" and keeps what it answered. */
  async function paidSegment(seq: number): Promise<PaidSegment> {
    const client = new OrchestratorClient(orchestrator.url, BROADCASTER_KEY);
    const info = await client.info();
    sender ??= new TicketSender({
      privateKey: BROADCASTER_KEY,
      domain: { chainId: info.chainId, verifyingContract: info.ticketBroker },
    });
    const source = await generateTestSegment(tools, { width: 640, height: 360, startSec: seq * 2 });
    const fee = feeFor(estimateOutputPixels(LADDER, 2000, { width: 640, height: 360, fps: 30 }), info.priceInfo);
    const response = await client.segment(info, {
      streamId: "grief",
      seq,
      body: source,
      durationMs: 2000,
      renditions: LADDER,
      tickets: sender.ticketsFor(info.ticketParams, fee),
    });
    const domain = { chainId: info.chainId, verifyingContract: chain.record.contracts.DisputeManager };
    expect(checkSegmentResponse(response, info, domain)).to.equal(undefined);
    expect(response.renditions).to.have.length(LADDER.length);
    return {
      source,
      outputs: response.renditions,
      receipt: receiptFromJson(response.result.receipt),
      signature: response.result.signature,
    };
  }

  function storeEvidence(segment: PaidSegment): string {
    return evidence.putEvidence({
      chainId: 31337n,
      disputeManager: chain.record.contracts.DisputeManager,
      receipt: segment.receipt,
      signature: segment.signature,
      ladder: LADDER,
      source: segment.source,
      durationMs: 2000,
      outputs: segment.outputs,
    });
  }

  /** openDispute from the broadcaster (dev account 2) with exactly the bond; the id and what it cost. */
  async function openDispute(segment: PaidSegment, evidenceUri: string) {
    const bond = await disputes.disputeBond();
    const tx = await disputes.openDispute(segment.receipt, segment.signature, evidenceUri, { value: bond });
    const mined = (await tx.wait())!;
    const opened = mined.logs
      .map((log) => {
        try {
          return disputes.interface.parseLog(log);
        } catch {
          return null;
        }
      })
      .find((parsed) => parsed?.name === "DisputeOpened");
    expect(opened, "DisputeOpened").to.not.equal(undefined);
    return { id: opened!.args.disputeId as bigint, bond, mined };
  }

  /** Mines the seed block, lets the verifiers draw, judge and commit, mines to the reveal phase, and waits for the
   * outcome (the verifiers reveal and resolve). */
  async function runDispute(id: bigint): Promise<void> {
    const { provider } = chain;
    await provider.send("hardhat_mine", ["0x1"]); // the seed block
    const committee = await waitUntil(
      "the committee",
      async () => {
        const [members] = await disputes.getCommittee(id).catch(() => [[]] as unknown as [string[]]);
        return members.length === VERIFIER_ACCOUNTS.length && members;
      },
      20_000,
      200,
    );
    const verifierAddresses = verifiers.map((v) => v.address);
    expect(committee.map((m) => m.toLowerCase()).sort()).to.deep.equal([...verifierAddresses].sort());
    await waitUntil(
      "every member to commit",
      async () => {
        const votes = await Promise.all(committee.map((m) => disputes.getVote(id, m)));
        return votes.every((v) => v.commitment !== ZERO_HASH);
      },
      30_000,
      200,
    );
    const info = await disputes.getDispute(id);
    const latest = BigInt(await provider.getBlockNumber());
    if (info.commitEnd > latest) await provider.send("hardhat_mine", [toQuantity(info.commitEnd - latest)]);
    await waitUntil(
      "the dispute to be resolved",
      async () => (await disputes.getDispute(id)).outcome !== 0n,
      30_000,
      200,
    );
  }

  /** The dispute as every verifier's /api/status shows it once it has recorded the outcome. */
  async function verifierViews(id: bigint): Promise<VerifierDisputeStatus[]> {
    return Promise.all(
      verifiers.map((v) =>
        waitUntil(
          `${v.address} to record the outcome of dispute ${id}`,
          async () => {
            const entry = (await verifierStatus(v.url)).disputes.find((d) => BigInt(d.id) === id);
            return entry?.outcome ? entry : undefined;
          },
          10_000,
          200,
        ),
      ),
    );
  }

  /** What the verdict must do on chain: NoFault by every member, no slash, the bond to the orchestrator. */
  async function expectNoFault(id: bigint, bond: bigint, stakeBefore: bigint): Promise<void> {
    const bonding = BondingManager__factory.connect(chain.record.contracts.BondingManager, chain.provider);
    const resolved = await disputes.getDispute(id);
    expect(resolved.outcome).to.equal(NO_FAULT);
    expect(resolved.noFaultStake).to.equal(parseEther("600"));
    expect(resolved.faultStake).to.equal(0n);
    expect(resolved.reveals).to.equal(3n);

    // Not slashed: the orchestrator's bonded stake is what it was before the dispute.
    expect((await bonding.getDelegator(chain.orchestrator)).bondedAmount).to.equal(stakeBefore);
    expect(await disputes.openDisputesAgainst(chain.orchestrator)).to.equal(0n);

    // The bond went to the orchestrator, pushed: the event, and its balance in the block that resolved the dispute
    // (automine: that block holds the resolving transaction alone, sent by a verifier).
    const paid = await disputes.queryFilter(disputes.filters.BondPaid(id));
    expect(paid).to.have.length(1);
    expect(paid[0].args.recipient.toLowerCase()).to.equal(chain.orchestrator);
    expect(paid[0].args.amount).to.equal(bond);
    expect(paid[0].args.pushed).to.equal(true);
    const block = paid[0].blockNumber;
    const [before, after] = await Promise.all([
      chain.provider.getBalance(chain.orchestrator, block - 1),
      chain.provider.getBalance(chain.orchestrator, block),
    ]);
    expect(after - before).to.equal(bond);
    expect(await disputes.payouts(chain.orchestrator)).to.equal(0n);

    // Every verifier voted with the majority: no stake lost, none gained (nobody to penalize).
    for (const [i, v] of verifiers.entries()) {
      expect((await disputes.getVerifier(v.address)).stake).to.equal(parseEther(VERIFIER_STAKES[i]));
    }
  }

  it("NoFault on an honest transcode: the orchestrator keeps its stake and receives the bond", async () => {
    const bonding = BondingManager__factory.connect(chain.record.contracts.BondingManager, chain.provider);
    const segment = await paidSegment(0);
    const manifestHash = storeEvidence(segment);
    const evidenceUri = `${evidenceBase}/${manifestHash}`;
    expect((await fetch(evidenceUri)).status).to.equal(200);

    const stakeBefore = (await bonding.getDelegator(chain.orchestrator)).bondedAmount;
    const broadcasterBefore = await chain.provider.getBalance(chain.broadcaster);
    const { id, bond, mined } = await openDispute(segment, evidenceUri);
    expect(bond).to.equal(parseEther("0.01"));
    // The griefer paid the bond and the gas.
    expect(broadcasterBefore - (await chain.provider.getBalance(chain.broadcaster, mined.blockNumber))).to.equal(
      bond + mined.fee,
    );
    expect(await disputes.openDisputesAgainst(chain.orchestrator)).to.equal(1n);

    await runDispute(id);
    await expectNoFault(id, bond, stakeBefore);

    // Each verifier shows its vote and why, never the salt of its commitment.
    for (const entry of await verifierViews(id)) {
      expect(entry.vote).to.equal("NoFault");
      expect(entry.outcome).to.equal("NoFault");
      expect(entry).to.not.have.property("salt");
      expect(entry.evidenceUri).to.equal(evidenceUri);
      expect(entry.receipt.seq).to.equal("0");
      expect(entry.reasons![0]).to.match(/^every rendition matches the own encode/);
    }
  });

  it("NoFault when the evidence cannot be fetched (the server is gone)", async () => {
    const bonding = BondingManager__factory.connect(chain.record.contracts.BondingManager, chain.provider);
    const segment = await paidSegment(1);
    const manifestHash = storeEvidence(segment);
    // A well-formed URI naming real evidence, on a port nothing listens on.
    const evidenceUri = `http://127.0.0.1:${await freePort()}/evidence/${manifestHash}`;

    const stakeBefore = (await bonding.getDelegator(chain.orchestrator)).bondedAmount;
    const { id, bond } = await openDispute(segment, evidenceUri);
    await runDispute(id);
    await expectNoFault(id, bond, stakeBefore);

    for (const entry of await verifierViews(id)) {
      expect(entry.vote).to.equal("NoFault");
      expect(entry).to.not.have.property("salt");
      expect(entry.reasons![0]).to.match(/^could not judge: cannot fetch /);
    }
  });
});
