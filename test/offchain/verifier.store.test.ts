/**
 * The verifier's durable state (offchain/verifier/store.ts), always read back through a fresh VerifierStore on the
 * same SQLite file, as a restarted daemon would: the scan cursor and the disputes it found are written together or
 * not at all; the first judgement (vote and salt) is the one kept; outcomes close disputes. Plus the salt and the vote
 * commitment (offchain/verifier/verifier.ts), which the real DisputeManager must accept at reveal.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { loadFixture, mine } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { Wallet, concat, dataLength, keccak256, solidityPackedKeccak256, toBeHex } from "ethers";

import { VOTE } from "../../offchain/chain/abi";
import type { ReceiptJson } from "../../offchain/orchestrator/wire";
import { type DisputeRow, VerifierStore } from "../../offchain/verifier/store";
import { commitmentOf, saltFor } from "../../offchain/verifier/verifier";
import { mineToHead } from "../support/chain";
import { open, walletOf, withVerifiers } from "../contracts/helpers/disputes";

const SALT_A = "0x" + "a1".repeat(32);
const SALT_B = "0x" + "b2".repeat(32);

function receipt(seq: number): ReceiptJson {
  return {
    broadcaster: "0x" + "bb".repeat(20),
    orchestrator: "0x" + "0c".repeat(20),
    streamId: "0x" + "51".repeat(32),
    seq: String(seq),
    sourceHash: "0x" + "5c".repeat(32),
    profilesHash: "0x" + "9f".repeat(32),
    outputsHash: "0x" + "0a".repeat(32),
    deterministic: false,
  };
}

function dispute(id: number, openedBlock = 100 + id): DisputeRow {
  return {
    id,
    broadcaster: "0x" + "bb".repeat(20),
    orchestrator: "0x" + "0c".repeat(20),
    receipt: receipt(id),
    evidenceUri: `http://127.0.0.1:8935/evidence/0x${id.toString(16).padStart(64, "0")}`,
    openedBlock,
  };
}

describe("verifier store", () => {
  let dir: string;
  let file: string;
  const stores: VerifierStore[] = [];

  /** A store on the test's file; closed after the test if still open. */
  const openStore = () => {
    const store = new VerifierStore(file);
    stores.push(store);
    return store;
  };
  /** Closes `store` and opens the file again: what a restarted daemon reads. */
  const reopen = (store: VerifierStore) => {
    store.close();
    stores.splice(stores.indexOf(store), 1);
    return openStore();
  };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "streamflow-verifier-store-"));
    file = path.join(dir, "nested", "verifier.sqlite");
  });

  afterEach(() => {
    for (const store of stores.splice(0)) store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe("scan cursor and disputes", () => {
    it("starts empty, creating the directory", () => {
      const store = openStore();
      expect(fs.existsSync(file)).to.equal(true);
      expect(store.scannedBlock).to.equal(undefined);
      expect(store.unresolved()).to.deep.equal([]);
      expect(store.recent(10)).to.deep.equal([]);
      expect(store.get(1)).to.equal(undefined);
    });

    it("keeps the cursor and the disputes across a reopen, fields intact", () => {
      let store = openStore();
      store.addScanned([dispute(1), dispute(2)], 150);
      store = reopen(store);
      expect(store.scannedBlock).to.equal(150);
      expect(store.get(1)).to.deep.equal({
        ...dispute(1),
        vote: undefined,
        reasons: undefined,
        salt: undefined,
        outcome: undefined,
      });
      expect(store.get(2)!.receipt).to.deep.equal(receipt(2));
      expect(store.unresolved().map((d) => d.id)).to.deep.equal([1, 2]);
    });

    it("moves the cursor on an empty scan", () => {
      let store = openStore();
      store.addScanned([dispute(1)], 150);
      store.addScanned([], 3_000);
      store = reopen(store);
      expect(store.scannedBlock).to.equal(3_000);
      expect(store.unresolved()).to.have.length(1);
    });

    it("ignores a dispute it already has (a rescan after a crash), keeping what it knew", () => {
      let store = openStore();
      store.addScanned([dispute(1)], 150);
      store.setJudgement(1, "Fault", ["negated"], SALT_A);
      store.addScanned([{ ...dispute(1), evidenceUri: "http://elsewhere/0x00" }, dispute(2)], 160);
      store = reopen(store);
      expect(store.scannedBlock).to.equal(160);
      expect(store.get(1)!.evidenceUri).to.equal(dispute(1).evidenceUri);
      expect(store.get(1)!.vote).to.equal("Fault");
      expect(store.get(2)).to.not.equal(undefined);
    });

    it("writes the disputes and the cursor in one transaction: a failure mid-batch leaves neither", () => {
      let store = openStore();
      store.addScanned([dispute(1)], 150);
      // The second row cannot be serialized (a bigint in the receipt): the batch fails after the first insert.
      const bad = { ...dispute(3), receipt: { ...receipt(3), seq: 3n } } as unknown as DisputeRow;
      expect(() => store.addScanned([dispute(2), bad], 200)).to.throw(TypeError);
      store = reopen(store);
      expect(store.scannedBlock).to.equal(150);
      expect(store.get(2)).to.equal(undefined);
      expect(store.unresolved().map((d) => d.id)).to.deep.equal([1]);
    });
  });

  describe("setJudgement", () => {
    it("stores the vote, reasons and salt, durably", () => {
      let store = openStore();
      store.addScanned([dispute(1)], 150);
      const row = store.setJudgement(1, "Fault", ["rendition 240p30 SSIM 0.1 < 0.35"], SALT_A)!;
      expect(row.vote).to.equal("Fault");
      expect(row.reasons).to.deep.equal(["rendition 240p30 SSIM 0.1 < 0.35"]);
      expect(row.salt).to.equal(SALT_A);
      store = reopen(store);
      const stored = store.get(1)!;
      expect([stored.vote, stored.reasons, stored.salt]).to.deep.equal([
        "Fault",
        ["rendition 240p30 SSIM 0.1 < 0.35"],
        SALT_A,
      ]);
    });

    it("keeps the FIRST vote and salt on a second call, also after a restart", () => {
      let store = openStore();
      store.addScanned([dispute(1)], 150);
      store.setJudgement(1, "Fault", ["first"], SALT_A);
      // The same process judging again (a second pass before the commit was seen) gets the first judgement back.
      const again = store.setJudgement(1, "NoFault", ["second"], SALT_B)!;
      expect([again.vote, again.reasons, again.salt]).to.deep.equal(["Fault", ["first"], SALT_A]);
      // A restarted daemon that judges again must still reveal what it committed.
      store = reopen(store);
      const afterRestart = store.setJudgement(1, "NoFault", ["third"], SALT_B)!;
      expect([afterRestart.vote, afterRestart.reasons, afterRestart.salt]).to.deep.equal(["Fault", ["first"], SALT_A]);
      store = reopen(store);
      expect(store.get(1)!.salt).to.equal(SALT_A);
    });

    it("judges each dispute on its own", () => {
      const store = openStore();
      store.addScanned([dispute(1), dispute(2)], 150);
      store.setJudgement(1, "Fault", [], SALT_A);
      expect(store.setJudgement(2, "NoFault", [], SALT_B)!.salt).to.equal(SALT_B);
      expect(store.get(1)!.salt).to.equal(SALT_A);
      expect(store.get(1)!.reasons).to.deep.equal([]);
    });
  });

  describe("unresolved, recent and setOutcome", () => {
    it("lists unresolved disputes by id and drops them once they have an outcome, durably", () => {
      let store = openStore();
      store.addScanned([dispute(3), dispute(1)], 150);
      store.addScanned([dispute(2)], 160);
      expect(store.unresolved().map((d) => d.id)).to.deep.equal([1, 2, 3]);
      store.setOutcome(2, "NoFault");
      store = reopen(store);
      expect(store.unresolved().map((d) => d.id)).to.deep.equal([1, 3]);
      expect(store.get(2)!.outcome).to.equal("NoFault");
      store.setOutcome(1, "Fault");
      store.setOutcome(3, "NoQuorum");
      expect(store.unresolved()).to.deep.equal([]);
    });

    it("lists the most recent disputes first, resolved or not, up to the limit", () => {
      const store = openStore();
      store.addScanned(
        [1, 2, 3, 4, 5].map((id) => dispute(id)),
        150,
      );
      store.setOutcome(5, "Fault");
      expect(store.recent(3).map((d) => d.id)).to.deep.equal([5, 4, 3]);
      expect(store.recent(10).map((d) => d.id)).to.deep.equal([5, 4, 3, 2, 1]);
      expect(store.recent(3)[0].outcome).to.equal("Fault");
    });
  });
});

describe("saltFor", () => {
  it("is 32 bytes: the voter's address, then 12 random bytes", () => {
    const voter = Wallet.createRandom().address; // checksummed
    const salts = Array.from({ length: 8 }, () => saltFor(voter));
    for (const salt of salts) {
      expect(salt).to.match(/^0x[0-9a-f]{64}$/);
      expect(dataLength(salt)).to.equal(32);
      expect(salt.slice(0, 42)).to.equal(voter.toLowerCase());
    }
    expect(new Set(salts.map((salt) => salt.slice(42))).size).to.equal(salts.length);
    expect(saltFor(voter.toLowerCase()).slice(0, 42)).to.equal(voter.toLowerCase());
  });
});

describe("commitmentOf", () => {
  it("is keccak256(abi.encodePacked(uint8 vote, bytes32 salt)) with Fault = 1 and NoFault = 2", () => {
    expect(VOTE).to.deep.equal({ None: 0, Fault: 1, NoFault: 2 });
    for (const salt of [SALT_A, SALT_B, "0x" + "00".repeat(32)]) {
      expect(commitmentOf("Fault", salt)).to.equal(solidityPackedKeccak256(["uint8", "bytes32"], [1, salt]));
      expect(commitmentOf("NoFault", salt)).to.equal(solidityPackedKeccak256(["uint8", "bytes32"], [2, salt]));
      // The packed encoding by hand: one byte, then the 32 bytes of the salt.
      expect(commitmentOf("Fault", salt)).to.equal(keccak256(concat([toBeHex(1, 1), salt])));
    }
    expect(commitmentOf("Fault", SALT_A)).to.not.equal(commitmentOf("NoFault", SALT_A));
    expect(commitmentOf("Fault", SALT_A)).to.not.equal(commitmentOf("Fault", SALT_B));
  });

  it("is what the DisputeManager checks at reveal", async function () {
    this.timeout(60_000);
    const s = await loadFixture(withVerifiers);
    const { disputeId } = await open(s);
    await mine(1);
    const [a, b] = s.verifiers;
    await (await s.dm.connect(a).drawCommittee(disputeId)).wait();
    const [members] = await s.dm.getCommittee(disputeId);
    expect(members).to.include(a.address).and.include(b.address);
    const [wa, wb] = [walletOf(s.verifiers, a.address), walletOf(s.verifiers, b.address)];
    // What the daemon stores before committing: a fresh salt bound to the member (it starts with its address).
    const saltA = saltFor(wa.address);
    const otherSaltA = saltFor(wa.address);
    const saltB = saltFor(wb.address);
    await (await s.dm.connect(wa).commitVote(disputeId, commitmentOf("NoFault", saltA))).wait();
    await (await s.dm.connect(wb).commitVote(disputeId, commitmentOf("Fault", saltB))).wait();
    await mineToHead((await s.dm.getDispute(disputeId)).commitEnd);

    // The other vote, or another salt, does not open the commitment.
    await expect(s.dm.connect(wa).revealVote(disputeId, VOTE.Fault, saltA)).to.be.revertedWithCustomError(
      s.dm,
      "RevealMismatch",
    );
    await expect(s.dm.connect(wa).revealVote(disputeId, VOTE.NoFault, otherSaltA)).to.be.revertedWithCustomError(
      s.dm,
      "RevealMismatch",
    );
    await expect(s.dm.connect(wa).revealVote(disputeId, VOTE.NoFault, saltA))
      .to.emit(s.dm, "VoteRevealed")
      .withArgs(disputeId, wa.address, VOTE.NoFault, await weightOf(s, disputeId, wa.address));
    await expect(s.dm.connect(wb).revealVote(disputeId, VOTE.Fault, saltB)).to.emit(s.dm, "VoteRevealed");
  });
});

async function weightOf(s: Awaited<ReturnType<typeof withVerifiers>>, disputeId: bigint, member: string) {
  return (await s.dm.getVote(disputeId, member)).weight;
}
