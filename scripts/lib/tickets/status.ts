// What `npx hardhat sender-status` prints, from a snapshot read off the chain. Pure, so the layout is tested without
// one. The reserve allowance is the broker's own formula, from offchain/pm.
import { reserveAllowance } from "../../../offchain/pm/funds";
import { formatEth } from "../bonding/amounts";

export interface SenderStatusSnapshot {
  network: string;
  chainId: bigint;
  blockNumber: bigint;
  round: { number: bigint; initialized: boolean };
  sender: {
    address: string;
    ethBalance: bigint;
    deposit: bigint;
    /** The reserve's funds remaining. */
    reserve: bigint;
    /** Drawn from the reserve by all orchestrators together in the current round. */
    claimedInCurrentRound: bigint;
    /** 0 unless an unlock is in progress. */
    withdrawRound: bigint;
  };
  /** Rounds an unlock takes. */
  unlockPeriod: bigint;
  /** `BondingManager.currentRoundPoolSize()`: the orchestrators active in the last initialized round. */
  poolSize: bigint;
}

export type UnlockState =
  | { kind: "none" }
  | { kind: "pending"; withdrawRound: bigint; roundsToGo: bigint }
  | { kind: "complete"; withdrawRound: bigint };

/** Whether the sender is unlocking and, if so, whether its funds can be withdrawn in `round`. */
export function unlockState(withdrawRound: bigint, round: bigint): UnlockState {
  if (withdrawRound === 0n) return { kind: "none" };
  if (round < withdrawRound) return { kind: "pending", withdrawRound, roundsToGo: withdrawRound - round };
  return { kind: "complete", withdrawRound };
}

function rounds(count: bigint): string {
  return count === 1n ? "1 round" : `${count} rounds`;
}

function field(label: string, value: string): string {
  return `  ${`${label}:`.padEnd(20)}${value}`;
}

function orchestrators(count: bigint): string {
  return count === 1n ? "1 active orchestrator" : `${count} active orchestrators`;
}

/** What any one orchestrator may draw from the reserve this round, and why when that is nothing. */
function allowanceLine(snapshot: SenderStatusSnapshot, state: UnlockState): string {
  const { round, sender, poolSize } = snapshot;
  if (state.kind === "complete") return "0 ETH (the unlock is complete: tickets no longer pay)";
  if (!round.initialized) return `0 ETH (round ${round.number} is not initialized: no ticket pays until it is)`;
  if (poolSize === 0n) return "0 ETH (no orchestrator is active this round)";
  const allowance = reserveAllowance({
    fundsRemaining: sender.reserve,
    claimedInCurrentRound: sender.claimedInCurrentRound,
    poolSize,
    claimedByRecipient: 0n,
  });
  return `${formatEth(allowance)} per orchestrator this round (less what it has drawn already)`;
}

/** The lines `sender-status` prints. */
export function formatSenderStatus(snapshot: SenderStatusSnapshot): string[] {
  const { round, sender, poolSize } = snapshot;
  const state = unlockState(sender.withdrawRound, round.number);
  const lines: string[] = [];
  lines.push(`network ${snapshot.network} (chain ${snapshot.chainId}), block ${snapshot.blockNumber}`);
  lines.push(`round ${round.number}: ${round.initialized ? "initialized" : "NOT initialized"}`);
  lines.push("");
  lines.push(`sender ${sender.address}`);
  lines.push(field("ETH balance", formatEth(sender.ethBalance)));
  lines.push(field("deposit", formatEth(sender.deposit)));
  lines.push(
    field("reserve", `${formatEth(sender.reserve)} (${formatEth(sender.claimedInCurrentRound)} claimed this round)`),
  );
  switch (state.kind) {
    case "none":
      lines.push(field("unlock", `none (an unlock takes ${rounds(snapshot.unlockPeriod)})`));
      break;
    case "pending":
      lines.push(
        field(
          "unlock",
          `in progress: withdraw-funds from round ${state.withdrawRound} (${rounds(state.roundsToGo)} to go); ` +
            "tickets pay until then",
        ),
      );
      break;
    case "complete":
      lines.push(
        field("unlock", `complete: withdraw-funds now (since round ${state.withdrawRound}); tickets no longer pay`),
      );
      break;
  }
  lines.push(
    field(
      "pool size",
      round.initialized
        ? `${orchestrators(poolSize)} this round`
        : `${orchestrators(poolSize)} in the last initialized round`,
    ),
  );
  lines.push(field("reserve allowance", allowanceLine(snapshot, state)));
  return lines;
}
