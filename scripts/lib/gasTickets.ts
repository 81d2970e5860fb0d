import { MaxUint256, keccak256, parseEther, toUtf8Bytes } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types";
import { mineUpTo, reset, setBalance } from "@nomicfoundation/hardhat-network-helpers";

import { MAX_WIN_PROB, type SignedTicket, type TicketParams, TicketRecipient, TicketSender } from "../../offchain/pm";
import { deploySuite } from "./deploySuite";
import { type Measure, fixedWallet } from "./gasBonding";
import { defaultParamsFile } from "./params";

/**
 * The ticket scenarios of anchors.md (funding, a first and a second redemption in a round, batches) on a fresh
 * chain with production-like parameters and the real TicketBroker.
 *
 * Block hashes, and so signatures and ticket hashes, differ from run to run, and a zero byte of calldata costs 12
 * gas less than any other byte. So that the snapshot is exact, the scenarios use rounds whose block hash has no
 * zero byte and draw ticket seeds until the random calldata (signature, recipientRand, its hash) has none either:
 * the figures are those of the typical, zero-free case.
 */
export async function measureTickets(hre: HardhatRuntimeEnvironment, measure: Measure): Promise<void> {
  const { ethers } = hre;
  await reset(); // the bonding scenarios left a stand-in registered as the TicketBroker
  const { record } = await deploySuite(hre, {
    write: false,
    paramsFile: defaultParamsFile("sepolia", hre.config.paths.root),
  });
  const [deployer] = await ethers.getSigners();
  const token = await ethers.getContractAt("LivepeerToken", record.contracts.LivepeerToken);
  const rounds = await ethers.getContractAt("RoundsManager", record.contracts.RoundsManager);
  const bonding = await ethers.getContractAt("BondingManager", record.contracts.BondingManager);
  const broker = await ethers.getContractAt("TicketBroker", record.contracts.TicketBroker);
  const domain = {
    chainId: (await ethers.provider.getNetwork()).chainId,
    verifyingContract: record.contracts.TicketBroker,
  };

  const orchestrator = fixedWallet("tickets-orchestrator").connect(ethers.provider);
  const funder = fixedWallet("tickets-sender").connect(ethers.provider);
  const reserveOnly = fixedWallet("tickets-reserve-sender").connect(ethers.provider);
  for (const wallet of [orchestrator, funder, reserveOnly]) await setBalance(wallet.address, parseEther("1000"));
  const recipient = new TicketRecipient({
    address: orchestrator.address,
    secret: Buffer.from(keccak256(toUtf8Bytes("streamflow-gas-snapshot:tickets-secret")).slice(2), "hex"),
    domain,
    ticketValidityPeriod: await broker.ticketValidityPeriod(),
  });

  /** Initializes rounds until one has a block hash free of zero bytes. */
  const nextCleanRound = async () => {
    for (;;) {
      await mineUpTo((await rounds.currentRoundStartBlock()) + (await rounds.roundLength()));
      await (await rounds.initializeRound()).wait();
      const round = await rounds.currentRound();
      const blockHash = await rounds.blockHashForRound(round);
      if (zeroFree(blockHash)) return { round, blockHash };
    }
  };
  /** `count` winning tickets from `sender` on parameters whose random calldata has no zero byte. */
  const cleanTickets = async (sender: TicketSender, count: number, label: string) => {
    const round = await rounds.currentRound();
    const blockHash = await rounds.blockHashForRound(round);
    for (let attempt = 0; ; attempt++) {
      const params: TicketParams = recipient.ticketParams({
        sender: sender.address,
        faceValue: parseEther("0.01"),
        winProb: MAX_WIN_PROB,
        expirationBlock: 1n << 40n,
        creationRound: round,
        creationRoundBlockHash: blockHash,
        seed: keccak256(toUtf8Bytes(`streamflow-gas-snapshot:${label}:${attempt}`)),
      });
      const recipientRand = recipient.recipientRand(
        params.seed,
        sender.address,
        params.faceValue,
        params.winProb,
        params.expirationBlock,
        round,
      );
      const tickets = sender.createTickets(params, count);
      const random = [params.recipientRandHash, ethers.toBeHex(recipientRand, 32), ...tickets.map((t) => t.sig)];
      if (random.every(zeroFree)) return { tickets, recipientRand };
    }
  };
  const redeem = ({ ticket, sig }: SignedTicket, recipientRand: bigint) =>
    broker.connect(orchestrator).redeemWinningTicket(ticket, sig, recipientRand);

  await (await token.connect(deployer).transfer(orchestrator.address, parseEther("10000"))).wait();
  await (await token.connect(orchestrator).approve(record.contracts.BondingManager, MaxUint256)).wait();
  await nextCleanRound();
  await (await bonding.connect(orchestrator).bond(parseEther("10000"), orchestrator.address)).wait();
  await (await bonding.connect(orchestrator).transcoder(100_000, 500_000)).wait();
  await nextCleanRound(); // the orchestrator is active from here

  await measure("TicketBroker.fundDeposit (first)", broker.connect(funder).fundDeposit({ value: parseEther("10") }));
  await measure("TicketBroker.fundDeposit (top-up)", broker.connect(funder).fundDeposit({ value: parseEther("10") }));
  await measure("TicketBroker.fundReserve (first)", broker.connect(funder).fundReserve({ value: parseEther("10") }));
  await measure(
    "TicketBroker.fundDepositAndReserve (top-up of both)",
    broker.connect(funder).fundDepositAndReserve(parseEther("1"), parseEther("1"), { value: parseEther("2") }),
  );
  await measure(
    "TicketBroker.fundDepositAndReserve (first, reserve only)",
    broker.connect(reserveOnly).fundDepositAndReserve(0, parseEther("1"), { value: parseEther("1") }),
  );

  const sender = new TicketSender({ privateKey: funder.privateKey, domain });
  const first = await cleanTickets(sender, 2, "single");
  await measure(
    "TicketBroker.redeemWinningTicket (first fees this round)",
    redeem(first.tickets[0], first.recipientRand),
  );
  await measure(
    "TicketBroker.redeemWinningTicket (second ticket, same round)",
    redeem(first.tickets[1], first.recipientRand),
  );
  const fromReserve = await cleanTickets(
    new TicketSender({ privateKey: reserveOnly.privateKey, domain }),
    1,
    "reserve",
  );
  await measure(
    "TicketBroker.redeemWinningTicket (paid from the reserve, same round)",
    redeem(fromReserve.tickets[0], fromReserve.recipientRand),
  );

  for (const count of [2, 10]) {
    await nextCleanRound();
    const batch = await cleanTickets(sender, count, `batch-${count}`);
    await measure(
      `TicketBroker.batchRedeemWinningTickets (${count} tickets, first fees this round)`,
      broker.connect(orchestrator).batchRedeemWinningTickets(
        batch.tickets.map((t) => t.ticket),
        batch.tickets.map((t) => t.sig),
        batch.tickets.map(() => batch.recipientRand),
      ),
    );
  }

  await measure("TicketBroker.unlock", broker.connect(funder).unlock());
  await measure("TicketBroker.cancelUnlock", broker.connect(funder).cancelUnlock());
  await (await broker.connect(funder).unlock()).wait();
  const withdrawRound = (await rounds.currentRound()) + (await broker.unlockPeriod());
  while ((await rounds.currentRound()) < withdrawRound) await nextCleanRound();
  await measure("TicketBroker.withdraw", broker.connect(funder).withdraw());
}

function zeroFree(hex: string): boolean {
  return !/^(?:[0-9a-f]{2})*00/i.test(hex.slice(2));
}
