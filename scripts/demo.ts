// `npm run demo`: the protocol on an embedded chain (the in-process Hardhat network), start to finish, as far as it
// is built today: genesis, an orchestrator and a delegator bonding, rounds, rewards, a broadcaster paying in
// probabilistic tickets that the orchestrator validates and redeems, and unbonding. The live-stream part (the
// broadcaster daemon driving the orchestrator and transcoder daemons) is not built yet; this says so rather than pretend.
import { randomBytes } from "node:crypto";
import hre from "hardhat";
import { Wallet, formatEther, parseEther, parseUnits } from "ethers";
import { mineUpTo, setBalance } from "@nomicfoundation/hardhat-network-helpers";

import {
  type SignedTicket,
  TicketRecipient,
  TicketSender,
  faceValueFor,
  maxFloat,
  reserveAllowance,
  winProbFor,
} from "../offchain/pm";
import { deploySuite } from "./lib/deploySuite";

async function main(): Promise<void> {
  const { ethers } = hre;
  const say = (line = "") => console.log(line);

  say("Streamflow demo: embedded chain (in-process Hardhat network, chain 31337)\n");
  const { record } = await deploySuite(hre, { write: false, log: (line) => say(line) });
  const [deployer, orchestrator, delegator] = await ethers.getSigners();
  const token = await ethers.getContractAt("LivepeerToken", record.contracts.LivepeerToken);
  const rounds = await ethers.getContractAt("RoundsManager", record.contracts.RoundsManager);
  const minter = await ethers.getContractAt("Minter", record.contracts.Minter);
  const registry = await ethers.getContractAt("ServiceRegistry", record.contracts.ServiceRegistry);

  const GENESIS = await token.totalSupply();
  say(`\ngenesis: ${formatEther(GENESIS)} LPT, held by the deployer ${deployer.address}`);
  say(
    `inflation ${await minter.inflation()} ppb per round, step ${await minter.inflationChange()} ppb, ` +
      `target bonding rate ${Number(await minter.targetBondingRate()) / 1e7}%`,
  );

  await token.transfer(orchestrator.address, parseEther("1000"));
  await registry.connect(orchestrator).setServiceURI("https://orchestrator.example:8935");
  say(`\nan orchestrator ${orchestrator.address} received 1000 LPT and published its service URI:`);
  say(`  ${await registry.getServiceURI(orchestrator.address)}`);

  const bonding = await ethers.getContractAt("BondingManager", record.contracts.BondingManager);
  const length = await rounds.roundLength();
  say(
    `\nround clock: ${length} blocks per round, the last ${(length * (await rounds.roundLockAmount())) / 1_000_000n} locked`,
  );
  /** Mines to the first block of the next round and initializes it (anyone may). */
  const nextRound = async () => {
    await mineUpTo((await rounds.currentRoundStartBlock()) + length - 1n);
    await (await rounds.initializeRound()).wait();
    say(`\nround ${await rounds.currentRound()} initialized at block ${await ethers.provider.getBlockNumber()}`);
  };
  const lpt = (amount: bigint) => `${Number(formatEther(amount)).toFixed(4)} LPT`;

  await nextRound();
  await (await token.connect(orchestrator).approve(record.contracts.BondingManager, parseEther("1000"))).wait();
  await (await bonding.connect(orchestrator).bond(parseEther("1000"), orchestrator.address)).wait();
  await (await bonding.connect(orchestrator).transcoder(100_000, 500_000)).wait();
  say("  the orchestrator bonded 1000 LPT to itself and registered: keeps 10% of rewards, shares 50% of fees");
  await (await token.transfer(delegator.address, parseEther("500"))).wait();
  await (await token.connect(delegator).approve(record.contracts.BondingManager, parseEther("500"))).wait();
  await (await bonding.connect(delegator).bond(parseEther("500"), orchestrator.address)).wait();
  say(`  a delegator ${delegator.address} bonded 500 LPT to it; both start earning next round`);

  for (let step = 0; step < 3; step++) {
    await nextRound();
    const round = await rounds.currentRound();
    say(`  active stake this round: ${lpt(await bonding.currentRoundTotalActiveStake())}`);
    await (await bonding.connect(orchestrator).reward()).wait();
    say(
      `  reward() minted; orchestrator stake ${lpt(await bonding.pendingStake(orchestrator.address, round))}, ` +
        `delegator stake ${lpt(await bonding.pendingStake(delegator.address, round))}`,
    );
  }

  await payInTickets(record.contracts, orchestrator.address, say);
  await nextRound();
  const round = await rounds.currentRound();
  const eth = (amount: bigint) => `${Number(formatEther(amount)).toFixed(6)} ETH`;
  say(
    `  fees earned: orchestrator ${eth(await bonding.pendingFees(orchestrator.address, round))}, ` +
      `delegator ${eth(await bonding.pendingFees(delegator.address, round))} (its share of the 50% the orchestrator shares)`,
  );

  await (await bonding.connect(delegator).unbond(parseEther("100"))).wait();
  const [amount, withdrawRound] = await bonding.getUnbondingLock(delegator.address, 0);
  say(`  the delegator unbonded ${lpt(amount)}: withdrawable from round ${withdrawRound}`);
  say(
    `  total bonded: ${lpt(await bonding.getTotalBonded())}; minted so far: ${lpt((await token.totalSupply()) - GENESIS)}`,
  );

  say(
    "\nnot built yet, so not shown: the live stream itself (the broadcaster daemon; the orchestrator and transcoder " +
      "daemons exist: docs/orchestrator.md).",
  );
  say("See README.md, 'Status'. Delegators and operators: `npx hardhat help` lists the tasks.");
}

/**
 * A broadcaster funds a deposit and a reserve, pays for 20 segments in tickets made with offchain/pm from the
 * orchestrator's ticket parameters; the orchestrator validates every ticket and redeems the winners in one batch.
 */
async function payInTickets(
  contracts: Record<string, string>,
  orchestratorAddress: string,
  say: (line?: string) => void,
): Promise<void> {
  const { ethers } = hre;
  const rounds = await ethers.getContractAt("RoundsManager", contracts.RoundsManager);
  const bonding = await ethers.getContractAt("BondingManager", contracts.BondingManager);
  const broker = await ethers.getContractAt("TicketBroker", contracts.TicketBroker);
  const orchestrator = await ethers.getSigner(orchestratorAddress);
  const eth = (amount: bigint) => `${Number(formatEther(amount)).toFixed(6)} ETH`;

  const broadcaster = Wallet.createRandom().connect(ethers.provider);
  await setBalance(broadcaster.address, parseEther("10"));
  await (
    await broker
      .connect(broadcaster)
      .fundDepositAndReserve(parseEther("1"), parseEther("1"), { value: parseEther("2") })
  ).wait();
  say(`
a broadcaster ${broadcaster.address} funded a 1 ETH deposit and a 1 ETH reserve (held by the Minter)`);

  const domain = { chainId: (await ethers.provider.getNetwork()).chainId, verifyingContract: contracts.TicketBroker };
  const round = await rounds.currentRound();
  const [sender, reserve] = await broker.getSenderInfo(broadcaster.address);
  const float = maxFloat({
    deposit: sender.deposit,
    reserveAllowance: reserveAllowance({
      fundsRemaining: reserve.fundsRemaining,
      claimedInCurrentRound: reserve.claimedInCurrentRound,
      poolSize: await bonding.currentRoundPoolSize(),
      claimedByRecipient: await broker.claimedReserve(broadcaster.address, orchestratorAddress, round),
    }),
    pendingFaceValue: 0n,
  });
  // Face value: 100x the cost of a redemption (about 170k gas) at 1 gwei; each ticket is worth a tenth of it.
  const faceValue = faceValueFor({
    gasPrice: parseUnits("1", "gwei"),
    redeemGas: 170_000n,
    maxFloat: float,
    sender: broadcaster.address,
  });
  const ev = faceValue / 10n;
  const recipient = new TicketRecipient({
    address: orchestratorAddress,
    secret: randomBytes(32),
    domain,
    ticketValidityPeriod: await broker.ticketValidityPeriod(),
  });
  const params = recipient.ticketParams({
    sender: broadcaster.address,
    faceValue,
    winProb: winProbFor(faceValue, ev),
    expirationBlock: BigInt(await ethers.provider.getBlockNumber()) + 40n,
    creationRound: round,
    creationRoundBlockHash: await rounds.blockHashForRound(round),
  });
  say(`  the orchestrator offered tickets of face value ${eth(faceValue)} winning 1 time in 10 (${eth(ev)} each)`);

  const payer = new TicketSender({ privateKey: broadcaster.privateKey, domain });
  const pricePerSegment = ev * 2n;
  const context = {
    currentBlock: BigInt(await ethers.provider.getBlockNumber()),
    currentRound: round,
    blockHashForRound: () => params.creationRoundBlockHash,
    senderStanding: () => ({ maxFloat: float, unlocking: false }),
  };
  let credit = 0n;
  const winners: { signed: SignedTicket; recipientRand: bigint }[] = [];
  let sent = 0;
  for (let segment = 0; segment < 20; segment++) {
    const tickets = payer.ticketsFor(params, pricePerSegment, credit);
    sent += tickets.length;
    for (const signed of tickets) {
      const valid = recipient.validate(signed, params, context);
      credit += valid.ev;
      if (valid.wins) winners.push({ signed, recipientRand: valid.recipientRand });
    }
    credit -= pricePerSegment;
  }
  say(`  20 segments at ${eth(pricePerSegment)} each: ${sent} tickets sent and validated, ${winners.length} won`);
  if (winners.length === 0) {
    say("  no ticket won this time (each wins with probability 1/10): nothing to redeem");
    return;
  }
  const receipt = await (
    await broker.connect(orchestrator).batchRedeemWinningTickets(
      winners.map((w) => w.signed.ticket),
      winners.map((w) => w.signed.sig),
      winners.map((w) => w.recipientRand),
    )
  ).wait();
  const [after] = await broker.getSenderInfo(broadcaster.address);
  say(
    `  the orchestrator redeemed them in one transaction (${receipt!.gasUsed} gas): ` +
      `${eth(sender.deposit - after.deposit)} moved from the deposit to fees`,
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
