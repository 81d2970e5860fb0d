// `npm run demo`: the protocol on an embedded chain (the in-process Hardhat network), start to finish, as far as it
// is built today: genesis, an orchestrator and a delegator bonding, rounds, rewards and unbonding. The live-stream part
// (broadcaster, orchestrator, transcoder, tickets) is not built yet; this says so rather than pretend.
import hre from "hardhat";
import { formatEther, parseEther } from "ethers";
import { mineUpTo } from "@nomicfoundation/hardhat-network-helpers";

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
  await (await bonding.connect(delegator).unbond(parseEther("100"))).wait();
  const [amount, withdrawRound] = await bonding.getUnbondingLock(delegator.address, 0);
  say(`  the delegator unbonded ${lpt(amount)}: withdrawable from round ${withdrawRound}`);
  say(
    `  total bonded: ${lpt(await bonding.getTotalBonded())}; minted so far: ${lpt((await token.totalSupply()) - GENESIS)}`,
  );

  say("\nnot built yet, so not shown: tickets (TicketBroker) and the live stream itself (transcoder, orchestrator and");
  say("broadcaster daemons). See README.md, 'Status'. Delegators and operators: `npx hardhat help` lists the tasks.");
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
