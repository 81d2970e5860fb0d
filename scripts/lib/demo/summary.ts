/**
 * The end-of-run summary's facts: the broadcaster's last status, the orchestrators' tickets, the chain's books and,
 * with --cheat, the dispute as the chain recorded it.
 */
import type { HardhatRuntimeEnvironment } from "hardhat/types";

import { OUTCOME_NAMES, PHASE_NAMES } from "../../../offchain/chain/abi";
import { BROADCASTER_FUNDS, DELEGATION, type EmbeddedChain, ORCHESTRATORS, chainTotals, earnings } from "./chain";
import { type RunningOrchestrator, estimatedFaceValue } from "./daemons";
import type { Snapshot } from "./monitor";
import type { CheatSummary, CommitteeMember, DemoSummary, DisputeSummary, OrchestratorSummary } from "./progress";

export interface SummaryInput extends Pick<DemoSummary, "streamSeen" | "playlistServed" | "segments"> {
  last: Snapshot;
  orchestrators: readonly RunningOrchestrator[];
  streamId: string;
  requestedSec: number;
  /** Events are counted from this block on. */
  startBlock: number;
  /** With --cheat: the cheating orchestrator's label. */
  cheater?: "A" | "B";
}

export async function readSummary(
  hre: HardhatRuntimeEnvironment,
  chain: EmbeddedChain,
  input: SummaryInput,
): Promise<DemoSummary> {
  const { last, streamSeen, playlistServed, segments } = input;
  const totals = await chainTotals(hre, chain.record, input.startBlock);
  const cheat = input.cheater === undefined ? undefined : await readCheat(hre, chain, input, input.cheater);
  const slash = cheat?.dispute?.slash;
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
        // `failures` counts every kind, verification failures included.
        failures: book?.failures ?? 0,
        verifyFailures: book?.verifyFailures ?? 0,
        tickets: last.orchestrators.get(o.url)?.tickets,
        redeemed: winners?.count ?? 0,
        paid: winners?.paid ?? 0n,
        feesCredited: totals.feesCredited.get(address) ?? 0n,
        claimableFees: mine.fees,
        rewards: mine.rewards,
        slashed:
          slash && cheat?.dispute?.orchestrator.toLowerCase() === address
            ? { bonded: role.stake, penalty: slash.penalty }
            : undefined,
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
    cheat,
  };
}

const VOTE_NAMES = ["None", "Fault", "NoFault"] as const;

/** What the broadcaster's status and the chain say about the cheat and its dispute. */
async function readCheat(
  hre: HardhatRuntimeEnvironment,
  chain: EmbeddedChain,
  input: SummaryInput,
  cheater: "A" | "B",
): Promise<CheatSummary> {
  const address = chain.participants.orchestrators[cheater];
  const cheaterUrl = input.orchestrators.find((o) => o.label === cheater)?.url;
  const records = input.last.broadcaster?.disputes ?? [];
  // Newest first: the first one opened on chain is the last with an id.
  const opened = records.filter((d) => d.id !== null);
  const first = opened.at(-1);
  return {
    cheater,
    address,
    broadcaster: chain.participants.broadcaster,
    publishedByCheater: input.segments.filter(
      (s) => s.status === "ok" && s.orchestrator?.replace(/\/+$/, "") === cheaterUrl,
    ).length,
    dispute: first ? await readDispute(hre, chain, first, opened.length) : undefined,
    openError: records.find((d) => d.error)?.error ?? undefined,
  };
}

async function readDispute(
  hre: HardhatRuntimeEnvironment,
  chain: EmbeddedChain,
  record: NonNullable<Snapshot["broadcaster"]>["disputes"][number],
  opened: number,
): Promise<DisputeSummary> {
  const { ethers } = hre;
  const { contracts } = chain.record;
  const disputes = await ethers.getContractAt("DisputeManager", contracts.DisputeManager);
  const bonding = await ethers.getContractAt("BondingManager", contracts.BondingManager);
  const rounds = await ethers.getContractAt("RoundsManager", contracts.RoundsManager);
  const id = record.id!;
  const info = await disputes.getDispute(id);
  const from = Number(info.openedBlock);
  const [phase, [members, weights], resolvedEvents, penalized, rewarded, bondPaid] = await Promise.all([
    disputes.disputePhase(id),
    disputes.getCommittee(id),
    disputes.queryFilter(disputes.filters.DisputeResolved(id), from),
    disputes.queryFilter(disputes.filters.VerifierPenalized(id), from),
    disputes.queryFilter(disputes.filters.VerifierRewarded(id), from),
    disputes.queryFilter(disputes.filters.BondPaid(id), from),
  ]);
  const resolvedEvent = resolvedEvents[0];
  const labelOf = (address: string, byLabel: Record<string, string>) =>
    Object.entries(byLabel).find(([, a]) => a.toLowerCase() === address.toLowerCase())?.[0];
  const sum = (events: typeof penalized, verifier: string) =>
    events
      .filter((e) => e.args.verifier.toLowerCase() === verifier.toLowerCase())
      .reduce((n, e) => n + e.args.amount, 0n);

  const committee: CommitteeMember[] = await Promise.all(
    members.map(async (member, i) => {
      const ballot = await disputes.getVote(id, member);
      return {
        address: member,
        label: labelOf(member, chain.participants.verifiers),
        weight: weights[i]!,
        committed: ballot.commitment !== ethers.ZeroHash,
        vote: VOTE_NAMES[Number(ballot.vote)]!,
        penalized: sum(penalized, member),
        rewarded: sum(rewarded, member),
      };
    }),
  );

  // The slash is in the resolving transaction's block: the stake is read just before and at that block.
  let slash: DisputeSummary["slash"];
  const slashed = resolvedEvent
    ? (
        await bonding.queryFilter(
          bonding.filters.TranscoderSlashed(info.orchestrator),
          resolvedEvent.blockNumber,
          resolvedEvent.blockNumber,
        )
      )[0]
    : undefined;
  if (slashed) {
    const ownStake = async (blockTag: number) =>
      bonding.pendingStake(info.orchestrator, await rounds.currentRound({ blockTag }), { blockTag });
    const { penalty } = slashed.args;
    // The penalty is this share of the stake settled through the previous round (`own` in slashTranscoder).
    const fractionPpm = await disputes.faultSlashAmount({ blockTag: slashed.blockNumber });
    slash = {
      finder: slashed.args.finder,
      penalty,
      finderReward: slashed.args.finderReward,
      fractionPpm,
      slashedFrom: fractionPpm > 0n ? (penalty * 1_000_000n) / fractionPpm : 0n,
      stakeBefore: await ownStake(slashed.blockNumber - 1),
      stakeAfter: await ownStake(slashed.blockNumber),
    };
  }
  const paid = bondPaid[0];

  const [opening, resolving] = await Promise.all([
    ethers.provider.getBlock(from),
    resolvedEvent ? ethers.provider.getBlock(resolvedEvent.blockNumber) : undefined,
  ]);
  const [transcoder, inPool, registered, active, round] = await Promise.all([
    bonding.getTranscoder(info.orchestrator),
    bonding.isInPool(info.orchestrator),
    bonding.isRegisteredTranscoder(info.orchestrator),
    bonding.isActiveTranscoder(info.orchestrator),
    rounds.currentRound(),
  ]);
  return {
    id,
    opened,
    orchestrator: info.orchestrator,
    label: labelOf(info.orchestrator, chain.participants.orchestrators),
    streamId: record.stream,
    seq: record.seq,
    reasons: record.reasons,
    evidence: record.evidence,
    bond: info.bond,
    blocks: {
      opened: from,
      seed: Number(info.seedBlock),
      commitEnd: Number(info.commitEnd),
      revealEnd: Number(info.revealEnd),
      resolved: resolvedEvent?.blockNumber,
    },
    seconds: opening && resolving ? resolving.timestamp - opening.timestamp : undefined,
    phase: PHASE_NAMES[Number(phase)]!,
    outcome: OUTCOME_NAMES[Number(info.outcome)]!,
    faultStake: info.faultStake,
    noFaultStake: info.noFaultStake,
    reveals: Number(info.reveals),
    committee,
    slash,
    bondPaid: paid ? { recipient: paid.args.recipient, amount: paid.args.amount, pushed: paid.args.pushed } : undefined,
    pool: { inPool, registered, active, deactivationRound: transcoder.deactivationRound, round },
  };
}
