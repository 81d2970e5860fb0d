/** The end-of-run summary's facts: the broadcaster's last status, the orchestrators' tickets, and the chain's books. */
import type { HardhatRuntimeEnvironment } from "hardhat/types";

import { BROADCASTER_FUNDS, DELEGATION, type EmbeddedChain, ORCHESTRATORS, chainTotals, earnings } from "./chain";
import { type RunningOrchestrator, estimatedFaceValue } from "./daemons";
import type { Snapshot } from "./monitor";
import type { DemoSummary, OrchestratorSummary } from "./progress";

export interface SummaryInput extends Pick<DemoSummary, "streamSeen" | "playlistServed" | "segments"> {
  last: Snapshot;
  orchestrators: readonly RunningOrchestrator[];
  streamId: string;
  requestedSec: number;
  /** Events are counted from this block on. */
  startBlock: number;
}

export async function readSummary(
  hre: HardhatRuntimeEnvironment,
  chain: EmbeddedChain,
  input: SummaryInput,
): Promise<DemoSummary> {
  const { last, streamSeen, playlistServed, segments } = input;
  const totals = await chainTotals(hre, chain.record, input.startBlock);
  const addresses = chain.participants.orchestrators;
  const orchestrators = await Promise.all(
    input.orchestrators.map(async (o): Promise<OrchestratorSummary> => {
      const address = addresses[o.label].toLowerCase();
      const role = ORCHESTRATORS.find((r) => r.label === o.label)!;
      const book = last.broadcaster?.orchestrators.find((entry) => entry.url.replace(/\/+$/, "") === o.url);
      const mine = await earnings(hre, chain.record, address, role.stake);
      const winners = totals.winners.byRecipient.get(address);
      return {
        label: o.label,
        url: o.url,
        address: addresses[o.label],
        pricePerPixel: o.pricePerPixel,
        segments: book?.segments,
        failures: (book?.failures ?? 0) + (book?.verifyFailures ?? 0),
        tickets: last.orchestrators.get(o.url)?.tickets,
        redeemed: winners?.count ?? 0,
        paid: winners?.paid ?? 0n,
        feesCredited: totals.feesCredited.get(address) ?? 0n,
        claimableFees: mine.fees,
        rewards: mine.rewards,
      };
    }),
  );
  const delegator = await earnings(hre, chain.record, chain.participants.delegator, DELEGATION.amount);
  const broker = await hre.ethers.getContractAt("TicketBroker", chain.record.contracts.TicketBroker);
  const [sender, reserve] = await broker.getSenderInfo(chain.participants.broadcaster);
  // Expected winners = EV sent / face value; the face value follows the gas price, as the orchestrators set it.
  const gasPrice = (await hre.ethers.provider.getFeeData()).gasPrice;
  const ev = last.broadcaster ? BigInt(last.broadcaster.totals.ticketsEV) : 0n;
  const faceValue = gasPrice ? estimatedFaceValue(gasPrice) : 0n;
  return {
    streamId: input.streamId,
    requestedSec: input.requestedSec,
    status: last.broadcaster,
    segments,
    streamSeen,
    playlistServed,
    orchestrators,
    winners: totals.winners,
    expectedWinners: faceValue > 0n ? Number((ev * 1000n) / faceValue) / 1000 : undefined,
    outstanding: last.outstanding,
    rewards: totals.rewards,
    delegator: {
      address: chain.participants.delegator,
      to: DELEGATION.to,
      bonded: DELEGATION.amount,
      fees: delegator.fees,
      rewards: delegator.rewards,
    },
    round: totals.round,
    broadcasterFunds: {
      deposit: [BROADCASTER_FUNDS.deposit, sender.deposit],
      reserve: [BROADCASTER_FUNDS.reserve, reserve.fundsRemaining],
    },
  };
}
