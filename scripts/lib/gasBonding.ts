import { MaxUint256, Wallet, ZeroAddress, id, keccak256, parseEther, toUtf8Bytes } from "ethers";
import type { ContractTransactionResponse, Signer } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types";
import { mineUpTo, setBalance } from "@nomicfoundation/hardhat-network-helpers";

import type { DeploymentRecord } from "./deployment";

export type Measure = (label: string, transaction: Promise<ContractTransactionResponse>) => Promise<void>;

const POOL_SIZE = 100;

/**
 * The bonding scenarios of anchors.md on a deployment with production-like parameters: one orchestrator's life
 * (self-bond, register, delegators, rewards, fees, claims, unbonding) and a full pool of 100. Fees are credited
 * through a stand-in TicketBroker until the real one exists. Accounts come from fixed keys so that calldata, and
 * so gas, is the same on every run.
 */
export async function measureBonding(
  hre: HardhatRuntimeEnvironment,
  record: DeploymentRecord,
  measure: Measure,
): Promise<void> {
  const { ethers } = hre;
  const [deployer, orchestrator, delegator, otherDelegator, secondOrchestrator] = await ethers.getSigners();
  const token = await ethers.getContractAt("LivepeerToken", record.contracts.LivepeerToken);
  const rounds = await ethers.getContractAt("RoundsManager", record.contracts.RoundsManager);
  const bonding = await ethers.getContractAt("BondingManager", record.contracts.BondingManager);
  const controller = await ethers.getContractAt("Controller", record.contracts.Controller);
  const bondingAddress = await bonding.getAddress();

  const ticketBroker = await (await ethers.getContractFactory("ManagerMock")).deploy();
  await (await controller.setContract(id("TicketBroker"), await ticketBroker.getAddress())).wait();
  const creditFees = async (to: string, fees: bigint) => {
    const round = await rounds.currentRound();
    await (await ticketBroker.execute(record.contracts.Minter, minterDeposit(), { value: fees })).wait();
    const data = bonding.interface.encodeFunctionData("updateTranscoderWithFees", [to, fees, round]);
    await (await ticketBroker.execute(bondingAddress, data)).wait();
  };
  const minterDeposit = () => new ethers.Interface(["function depositETH() payable"]).encodeFunctionData("depositETH");

  const fund = async (account: Signer, amount: bigint) => {
    await (await token.connect(deployer).transfer(await account.getAddress(), amount)).wait();
    await (await token.connect(account).approve(bondingAddress, MaxUint256)).wait();
  };
  const nextRound = async (label?: string) => {
    await mineUpTo((await rounds.currentRoundStartBlock()) + (await rounds.roundLength()) - 1n);
    const transaction = rounds.initializeRound();
    if (label === undefined) await (await transaction).wait();
    else await measure(label, transaction);
  };

  for (const account of [orchestrator, delegator, otherDelegator, secondOrchestrator]) {
    await fund(account, parseEther("100000"));
  }

  await nextRound("RoundsManager.initializeRound (first round)");
  await measure(
    "BondingManager.bond (first self-bond, empty pool)",
    bonding.connect(orchestrator).bond(parseEther("10000"), orchestrator.address),
  );
  await measure(
    "BondingManager.transcoder (first member of an empty pool)",
    bonding.connect(orchestrator).transcoder(100_000, 500_000),
  );
  await (await bonding.connect(secondOrchestrator).bond(parseEther("5000"), secondOrchestrator.address)).wait();
  await measure(
    "BondingManager.transcoder (joins a non-empty pool, with hint)",
    bonding.connect(secondOrchestrator).transcoderWithHint(50_000, 250_000, orchestrator.address, ZeroAddress),
  );
  await measure(
    "BondingManager.transcoder (updates its cuts)",
    bonding.connect(secondOrchestrator).transcoder(60_000, 250_000),
  );
  await measure(
    "BondingManager.bond (new delegator to a pooled orchestrator)",
    bonding
      .connect(delegator)
      .bondWithHint(
        parseEther("1000"),
        orchestrator.address,
        ZeroAddress,
        ZeroAddress,
        ZeroAddress,
        secondOrchestrator.address,
      ),
  );
  await (await bonding.connect(otherDelegator).bond(parseEther("2000"), orchestrator.address)).wait();

  await nextRound("RoundsManager.initializeRound (steady state)");
  await measure("BondingManager.reward (first)", bonding.connect(orchestrator).reward());
  await (await bonding.connect(secondOrchestrator).reward()).wait();

  await nextRound();
  await measure(
    "BondingManager.reward (steady state, with hint)",
    bonding.connect(orchestrator).rewardWithHint(ZeroAddress, secondOrchestrator.address),
  );
  await (await bonding.connect(secondOrchestrator).reward()).wait();
  await creditFees(orchestrator.address, parseEther("1"));
  // The orchestrator stays first in the pool, ahead of the second one: that is the hint for its new position.
  const topUp = () =>
    bonding
      .connect(delegator)
      .bondWithHint(
        parseEther("100"),
        orchestrator.address,
        ZeroAddress,
        ZeroAddress,
        ZeroAddress,
        secondOrchestrator.address,
      );
  await measure("BondingManager.bond (existing delegator tops up)", topUp());

  await nextRound();
  await (await bonding.connect(orchestrator).reward()).wait();
  await measure(
    "BondingManager.unbond (partial, auto-claims 1 round)",
    bonding.connect(delegator).unbondWithHint(parseEther("50"), ZeroAddress, secondOrchestrator.address),
  );
  await measure(
    "BondingManager.rebond",
    bonding.connect(delegator).rebondWithHint(0, ZeroAddress, secondOrchestrator.address),
  );
  await nextRound();
  await (await bonding.connect(orchestrator).reward()).wait();
  await measure("BondingManager.bond (existing delegator tops up again, stake already settled)", topUp());

  // otherDelegator last settled three rounds ago; seven more rounds of rewards and fees pass before it claims.
  for (let i = 0; i < 7; i++) {
    await nextRound();
    await (await bonding.connect(orchestrator).reward()).wait();
    await creditFees(orchestrator.address, parseEther("0.5"));
  }
  await measure(
    "BondingManager.claimEarnings (after 7 rounds)",
    bonding.connect(otherDelegator).claimEarnings(await rounds.currentRound()),
  );
  await measure(
    "BondingManager.withdrawFees",
    bonding.connect(otherDelegator).withdrawFees(otherDelegator.address, parseEther("0.1")),
  );
  await measure(
    "BondingManager.updateTranscoderWithFees (first fees this round, via TicketBroker stand-in)",
    ticketBroker.execute(
      bondingAddress,
      bonding.interface.encodeFunctionData("updateTranscoderWithFees", [
        orchestrator.address,
        parseEther("0.01"),
        await rounds.currentRound(),
      ]),
    ),
  );
  await (await bonding.connect(otherDelegator).unbond(parseEther("10"))).wait();
  for (let i = 0; i < Number(await bonding.unbondingPeriod()); i++) await nextRound();
  await measure("BondingManager.withdrawStake", bonding.connect(otherDelegator).withdrawStake(0));

  await measurePoolOfHundred(hre, record, measure, nextRound, fund);
}

/** A full pool: rewards, re-sorting and eviction with and without hints. */
async function measurePoolOfHundred(
  hre: HardhatRuntimeEnvironment,
  record: DeploymentRecord,
  measure: Measure,
  nextRound: (label?: string) => Promise<void>,
  fund: (account: Signer, amount: bigint) => Promise<void>,
): Promise<void> {
  const { ethers } = hre;
  const bonding = await ethers.getContractAt("BondingManager", record.contracts.BondingManager);
  await nextRound();
  // Fill the pool to 100 members with distinct stakes, each joining at the end (correct hints).
  const members: Wallet[] = [];
  let last = await bonding.getLastTranscoderInPool();
  const size = Number(await bonding.getTranscoderPoolSize());
  for (let i = 0; i < POOL_SIZE - size; i++) {
    const wallet = fixedWallet(`pool-${i}`).connect(ethers.provider);
    await setBalance(wallet.address, parseEther("10"));
    const stake = parseEther("4000") - BigInt(i) * parseEther("10");
    await fund(wallet, stake);
    await (await bonding.connect(wallet).bond(stake, wallet.address)).wait();
    await (await bonding.connect(wallet).transcoderWithHint(100_000, 500_000, last, ZeroAddress)).wait();
    last = wallet.address;
    members.push(wallet);
  }
  const lastMember = members[members.length - 1];
  const minter = await ethers.getContractAt("Minter", record.contracts.Minter);
  /** Where `self` goes with `stake`: after every other member with at least as much. */
  const position = async (self: string, stake: bigint) => {
    let prev = ZeroAddress;
    let cursor = await bonding.getFirstTranscoderInPool();
    while (cursor !== ZeroAddress && (cursor === self || (await bonding.transcoderTotalStake(cursor)) >= stake)) {
      if (cursor !== self) prev = cursor;
      cursor = await bonding.getNextTranscoderInPool(cursor);
    }
    return [prev, cursor] as const;
  };

  // The hint a client computes: the reward is mintable * stake / active stake, as the contract computes it.
  const rewardWithHint = async (label: string) => {
    const stake = await bonding.transcoderTotalStake(lastMember.address);
    const reward = ((await minter.currentMintableTokens()) * stake) / (await bonding.currentRoundTotalActiveStake());
    const [rewardPrev, rewardNext] = await position(lastMember.address, stake + reward);
    await measure(label, bonding.connect(lastMember).rewardWithHint(rewardPrev, rewardNext));
  };
  await nextRound("RoundsManager.initializeRound (pool of 100)");
  await rewardWithHint("BondingManager.reward (pool of 100, last member's first reward, with hint)");
  await nextRound();
  await rewardWithHint("BondingManager.reward (pool of 100, last member, with hint)");
  await nextRound();
  await measure("BondingManager.reward (pool of 100, last member, no hint)", bonding.connect(lastMember).reward());

  // A delegator lifts the 50th member one place up: a correct hint, then the same move found by walking.
  const [, , , , , mover, secondMover] = await ethers.getSigners();
  const middle = members[49];
  const middleAbove = await bonding.getPrevTranscoderInPool(middle.address);
  const twoAbove = await bonding.getPrevTranscoderInPool(middleAbove);
  const lift = (await bonding.transcoderTotalStake(middleAbove)) - (await bonding.transcoderTotalStake(middle)) + 1n;
  await fund(mover, lift * 2n);
  await fund(secondMover, lift * 2n);
  await measure(
    "BondingManager.bond (pool of 100, moves the 50th member up, with hint)",
    bonding.connect(mover).bondWithHint(lift, middle.address, ZeroAddress, ZeroAddress, twoAbove, middleAbove),
  );
  const other = members[59];
  const otherAbove = await bonding.getPrevTranscoderInPool(other.address);
  const otherLift =
    (await bonding.transcoderTotalStake(otherAbove)) - (await bonding.transcoderTotalStake(other.address)) + 1n;
  await measure(
    "BondingManager.bond (pool of 100, moves the 60th member up, no hint)",
    bonding.connect(secondMover).bond(otherLift, other.address),
  );

  // A newcomer with more stake than the last member evicts it.
  const newcomers = [fixedWallet("newcomer-0"), fixedWallet("newcomer-1")].map((w) => w.connect(ethers.provider));
  for (const newcomer of newcomers) {
    await setBalance(newcomer.address, parseEther("10"));
    await fund(newcomer, parseEther("5000"));
    await (await bonding.connect(newcomer).bond(parseEther("3500"), newcomer.address)).wait();
  }
  const [prev, next] = await position(newcomers[0].address, parseEther("3500"));
  await measure(
    "BondingManager.transcoder (pool of 100, evicts the last member, with hint)",
    bonding.connect(newcomers[0]).transcoderWithHint(100_000, 500_000, prev, next),
  );
  await measure(
    "BondingManager.transcoder (pool of 100, evicts the last member, no hint)",
    bonding.connect(newcomers[1]).transcoder(100_000, 500_000),
  );
}

/** A wallet from a fixed label, so that addresses (and so calldata and gas) are the same on every run. */
export function fixedWallet(label: string): Wallet {
  return new Wallet(keccak256(toUtf8Bytes(`streamflow-gas-snapshot:${label}`)));
}
