// `npm run demo`: the protocol on an embedded chain (the in-process Hardhat network), start to finish, as far as it
// is built today. The live-stream part (broadcaster, orchestrator, transcoder, tickets) is not built yet; this says so
// rather than pretend.
import hre from "hardhat";
import { formatEther, parseEther } from "ethers";
import { mine } from "@nomicfoundation/hardhat-network-helpers";

import { deploySuite } from "./lib/deploySuite";

async function main(): Promise<void> {
  const { ethers } = hre;
  const say = (line = "") => console.log(line);

  say("Streamflow demo: embedded chain (in-process Hardhat network, chain 31337)\n");
  const { record } = await deploySuite(hre, { write: false, log: (line) => say(line) });
  const [deployer, orchestrator] = await ethers.getSigners();
  const token = await ethers.getContractAt("LivepeerToken", record.contracts.LivepeerToken);
  const rounds = await ethers.getContractAt("RoundsManager", record.contracts.RoundsManager);
  const minter = await ethers.getContractAt("Minter", record.contracts.Minter);
  const registry = await ethers.getContractAt("ServiceRegistry", record.contracts.ServiceRegistry);

  say(`\ngenesis: ${formatEther(await token.totalSupply())} LPT, held by the deployer ${deployer.address}`);
  say(
    `inflation ${await minter.inflation()} ppb per round, step ${await minter.inflationChange()} ppb, ` +
      `target bonding rate ${Number(await minter.targetBondingRate()) / 1e7}%`,
  );

  await token.transfer(orchestrator.address, parseEther("1000"));
  await registry.connect(orchestrator).setServiceURI("https://orchestrator.example:8935");
  say(`\nan orchestrator ${orchestrator.address} received 1000 LPT and published its service URI:`);
  say(`  ${await registry.getServiceURI(orchestrator.address)}`);

  const length = await rounds.roundLength();
  say(
    `\nround clock: ${length} blocks per round, the last ${(length * (await rounds.roundLockAmount())) / 1_000_000n} locked`,
  );
  for (let step = 0; step < 3; step++) {
    say(
      `  block ${await ethers.provider.getBlockNumber()}: round ${await rounds.currentRound()} ` +
        `(started at block ${await rounds.currentRoundStartBlock()}, locked: ${await rounds.currentRoundLocked()})`,
    );
    await mine(length);
  }

  say("\nnot built yet, so not shown: bonding and rewards (BondingManager), tickets (TicketBroker), and the live");
  say("stream itself (transcoder, orchestrator and broadcaster daemons). Rounds can only be initialized once the");
  say("BondingManager is registered. See README.md, 'Status'.");
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
