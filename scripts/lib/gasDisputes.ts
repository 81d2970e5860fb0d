import { MaxUint256, getBytes, keccak256, parseEther, parseUnits, toUtf8Bytes } from "ethers";
import type { Wallet } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types";
import { mine, mineUpTo, reset, setBalance, takeSnapshot } from "@nomicfoundation/hardhat-network-helpers";

import { type TranscodeReceipt, signReceipt } from "../../offchain/orchestrator/receipt";
import { deploySuite } from "./deploySuite";
import { type Measure, fixedWallet } from "./gasBonding";
import { defaultParamsFile } from "./params";

const VERIFIERS = 20;
/** Where the seven heavy verifiers sit among the twenty (0-based), heaviest first: spread over the tree. */
const HEAVY_SLOTS = [10, 3, 17, 6, 14, 0, 19];
const FAULT = 1;
const NO_FAULT = 2;

/**
 * The dispute scenarios on a fresh chain with production-like parameters (committee of 7, quorum 4, 1000-block
 * commit and reveal phases): verifiers joining and topping up, a dispute opened, its committee of seven drawn from
 * twenty verifiers, a vote committed and revealed, a Fault resolved (the orchestrator slashed, two members penalized,
 * five rewarded), an equivocation proven, and a verifier leaving and withdrawing.
 *
 * The committee is drawn from a block hash, which differs from run to run (blocks carry the wall-clock time), and
 * the gas of the draw, the votes and the resolution depends on which verifiers are drawn in which order. So that the
 * snapshot is exact, seven verifiers hold stakes a hundred times apart (and the other thirteen almost nothing): the
 * draw is then heaviest first with probability above 90%, and the scenario is replayed from a snapshot on another
 * seed until it is. Everything else (keys, receipts, salts, addresses) is fixed.
 */
export async function measureDisputes(hre: HardhatRuntimeEnvironment, measure: Measure): Promise<void> {
  const { ethers } = hre;
  await reset(); // earlier scenarios left stand-ins registered and rounds behind
  const { record } = await deploySuite(hre, {
    write: false,
    paramsFile: defaultParamsFile("sepolia", hre.config.paths.root),
  });
  const [deployer] = await ethers.getSigners();
  const token = await ethers.getContractAt("LivepeerToken", record.contracts.LivepeerToken);
  const rounds = await ethers.getContractAt("RoundsManager", record.contracts.RoundsManager);
  const bonding = await ethers.getContractAt("BondingManager", record.contracts.BondingManager);
  const disputes = await ethers.getContractAt("DisputeManager", record.contracts.DisputeManager);
  const domain = {
    chainId: (await ethers.provider.getNetwork()).chainId,
    verifyingContract: record.contracts.DisputeManager,
  };
  const bond = await disputes.disputeBond();

  const orchestrator = fixedWallet("disputes-orchestrator").connect(ethers.provider);
  const equivocator = fixedWallet("disputes-equivocator").connect(ethers.provider);
  const broadcaster = fixedWallet("disputes-broadcaster").connect(ethers.provider);
  const finder = fixedWallet("disputes-finder").connect(ethers.provider);
  const verifiers = Array.from({ length: VERIFIERS }, (_, i) =>
    fixedWallet(`disputes-verifier-${i}`).connect(ethers.provider),
  );
  // 1,000,000 LPT down to 0.000001 LPT, a factor of 100 apart; the others 1 gwei of LPT each.
  const stakes = verifiers.map(() => parseUnits("1", 9));
  HEAVY_SLOTS.forEach((slot, rank) => (stakes[slot] = parseEther("1000000") / 100n ** BigInt(rank)));
  const heavyFirst = HEAVY_SLOTS.map((slot) => verifiers[slot].address);
  const topUp = parseUnits("1", 9);

  for (const wallet of [orchestrator, equivocator, broadcaster, finder, ...verifiers]) {
    await setBalance(wallet.address, parseEther("1000"));
  }
  const fund = async (wallet: Wallet, amount: bigint, spender: string) => {
    await (await token.connect(deployer).transfer(wallet.address, amount)).wait();
    await (await token.connect(wallet).approve(spender, MaxUint256)).wait();
  };
  const nextRound = async () => {
    await mineUpTo((await rounds.currentRoundStartBlock()) + (await rounds.roundLength()) - 1n);
    await (await rounds.initializeRound()).wait();
  };

  for (const wallet of [orchestrator, equivocator]) {
    await fund(wallet, parseEther("10000"), record.contracts.BondingManager);
  }
  for (const [i, wallet] of verifiers.entries()) {
    await fund(wallet, stakes[i] + topUp, record.contracts.DisputeManager);
  }
  await nextRound();
  for (const wallet of [orchestrator, equivocator]) {
    await (await bonding.connect(wallet).bond(parseEther("10000"), wallet.address)).wait();
    await (await bonding.connect(wallet).transcoder(100_000, 500_000)).wait();
  }
  await nextRound(); // both orchestrators are active from here

  for (let i = 0; i < VERIFIERS - 1; i++) {
    await (await disputes.connect(verifiers[i]).registerVerifier(stakes[i])).wait();
  }
  const last = VERIFIERS - 1;
  await measure(
    `DisputeManager.registerVerifier (first, joins ${VERIFIERS - 1} verifiers)`,
    disputes.connect(verifiers[last]).registerVerifier(stakes[last]),
  );
  const light = verifiers[1]; // not one of the heavy seven
  await measure("DisputeManager.registerVerifier (top-up)", disputes.connect(light).registerVerifier(topUp));

  // A whole dispute fits in the round that starts here (2000 blocks of voting in 5760).
  await nextRound();
  const receipt: TranscodeReceipt = {
    broadcaster: broadcaster.address,
    orchestrator: orchestrator.address,
    streamId: fixedHash("stream"),
    seq: 1234n,
    sourceHash: fixedHash("source"),
    profilesHash: fixedHash("profiles"),
    outputsHash: fixedHash("outputs"),
    deterministic: true,
  };
  const receiptSig = signReceipt(receipt, domain, getBytes(orchestrator.privateKey));
  const beforeOpening = await takeSnapshot();
  let disputeId = 0n;
  for (let attempt = 0; ; attempt++) {
    if (attempt === 50) throw new Error("no heaviest-first committee in 50 draws: the stakes are not skewed enough");
    await measure(
      "DisputeManager.openDispute",
      disputes.connect(broadcaster).openDispute(receipt, receiptSig, "ipfs://evidence/segment-1234", { value: bond }),
    );
    disputeId = await disputes.disputeCount();
    await mine(1); // the seed block
    await measure(
      `DisputeManager.drawCommittee (7 of ${VERIFIERS} verifiers)`,
      disputes.connect(finder).drawCommittee(disputeId),
    );
    const [members] = await disputes.getCommittee(disputeId);
    if (members.join() === heavyFirst.join()) break;
    await beforeOpening.restore();
    await mine(attempt + 1); // another seed block next time
  }

  // A salt starts with the voter's address (the contract refuses others).
  const salt = (member: string) => ethers.concat([member, ethers.dataSlice(fixedHash(`salt:${member}`), 0, 12)]);
  const commitment = (vote: number, member: string) =>
    ethers.solidityPackedKeccak256(["uint8", "bytes32"], [vote, salt(member)]);
  // Five vote Fault, one NoFault, the lightest of the seven stays silent.
  const votes = [FAULT, FAULT, FAULT, FAULT, FAULT, NO_FAULT];
  const member = (rank: number) => verifiers[HEAVY_SLOTS[rank]];
  await measure(
    "DisputeManager.commitVote",
    disputes.connect(member(0)).commitVote(disputeId, commitment(votes[0], member(0).address)),
  );
  for (let rank = 1; rank < votes.length; rank++) {
    await (
      await disputes.connect(member(rank)).commitVote(disputeId, commitment(votes[rank], member(rank).address))
    ).wait();
  }
  const { commitEnd, revealEnd } = await disputes.getDispute(disputeId);
  await mineUpTo(commitEnd);
  await measure(
    "DisputeManager.revealVote (first reveal)",
    disputes.connect(member(0)).revealVote(disputeId, votes[0], salt(member(0).address)),
  );
  for (let rank = 1; rank < votes.length; rank++) {
    await (await disputes.connect(member(rank)).revealVote(disputeId, votes[rank], salt(member(rank).address))).wait();
  }
  await mineUpTo(revealEnd);
  await measure(
    "DisputeManager.resolve (Fault: slashes, 2 of 7 members penalized)",
    disputes.connect(finder).resolve(disputeId),
  );

  const equivocation = { ...receipt, broadcaster: broadcaster.address, orchestrator: equivocator.address };
  const receiptA = { ...equivocation, outputsHash: fixedHash("outputs-a") };
  const receiptB = { ...equivocation, outputsHash: fixedHash("outputs-b") };
  const equivocatorKey = getBytes(equivocator.privateKey);
  await measure(
    "DisputeManager.proveEquivocation",
    disputes
      .connect(finder)
      .proveEquivocation(
        receiptA,
        signReceipt(receiptA, domain, equivocatorKey),
        receiptB,
        signReceipt(receiptB, domain, equivocatorKey),
      ),
  );

  await measure("DisputeManager.deregisterVerifier", disputes.connect(light).deregisterVerifier());
  const { unlockRound } = await disputes.getVerifier(light.address);
  const roundLength = await rounds.roundLength();
  const start = await rounds.currentRoundStartBlock();
  await mineUpTo(start + (unlockRound - (await rounds.currentRound())) * roundLength);
  await measure("DisputeManager.withdrawVerifierStake", disputes.connect(light).withdrawVerifierStake());
}

function fixedHash(label: string): string {
  return keccak256(toUtf8Bytes(`streamflow-gas-snapshot:disputes:${label}`));
}
