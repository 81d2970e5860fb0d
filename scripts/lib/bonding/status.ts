// What `npx hardhat status` prints, from a snapshot read off the chain. Pure, so the layout is tested without one.
import { ZeroAddress } from "ethers";

import { formatEth, formatLpt, formatPercent } from "./amounts";

/** `BondingManager.delegatorStatus` values. */
export const DELEGATOR_STATUS = ["Pending", "Bonded", "Unbonded"] as const;

/** `deactivationRound` of a pool member: active until it leaves. */
export const IN_POOL_ROUND = (1n << 32n) - 1n;

export interface UnbondingLockView {
  id: bigint;
  amount: bigint;
  withdrawRound: bigint;
}

export interface OrchestratorView {
  registered: boolean;
  rewardCut: bigint;
  feeShare: bigint;
  lastRewardRound: bigint;
  activationRound: bigint;
  deactivationRound: bigint;
  active: boolean;
  totalStake: bigint;
  serviceURI: string;
}

export interface PoolRow {
  address: string;
  totalStake: bigint;
  rewardCut: bigint;
  feeShare: bigint;
  active: boolean;
  lastRewardRound: bigint;
}

export interface StatusSnapshot {
  network: string;
  chainId: bigint;
  blockNumber: bigint;
  round: {
    number: bigint;
    initialized: boolean;
    locked: boolean;
    startBlock: bigint;
    length: bigint;
  };
  account: {
    address: string;
    lptBalance: bigint;
    /** 0 Pending, 1 Bonded, 2 Unbonded. */
    status: number;
    bondedAmount: bigint;
    delegate: string;
    pendingStake: bigint;
    pendingFees: bigint;
    startRound: bigint;
    lastClaimRound: bigint;
    unbondingLocks: UnbondingLockView[];
  };
  /** The account's delegate's registration, when it has one. */
  delegate?: OrchestratorView;
  /** The account's own registration, when it is or was an orchestrator. */
  orchestrator?: OrchestratorView;
  pool: {
    maxSize: bigint;
    members: PoolRow[];
  };
}

function same(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

function yesNo(value: boolean): string {
  return value ? "yes" : "no";
}

function field(label: string, value: string): string {
  return `  ${`${label}:`.padEnd(20)}${value}`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const pad = (cell: string, column: number) => (column === widths.length - 1 ? cell : cell.padEnd(widths[column]!));
  return rows.map((row) => `  ${row.map(pad).join("  ")}`.trimEnd());
}

/** Whether `orchestrator` called reward() in `round`, and if not, when it last did. */
function rewardLine(orchestrator: OrchestratorView, round: bigint): string {
  if (orchestrator.lastRewardRound === round) return `yes (round ${round})`;
  const last = orchestrator.lastRewardRound === 0n ? "never" : `last in round ${orchestrator.lastRewardRound}`;
  return `no (${last})`;
}

function delegateRewardLine(delegate: OrchestratorView | undefined, round: bigint): string {
  if (delegate === undefined || !delegate.registered) return "no (the delegate is not a registered orchestrator)";
  return rewardLine(delegate, round);
}

/** The lines `status` prints. */
export function formatStatus(snapshot: StatusSnapshot): string[] {
  const { round, account, pool } = snapshot;
  const lines: string[] = [];
  const lockState = round.locked ? "locked (cuts cannot change until the next round)" : "not locked";
  lines.push(`network ${snapshot.network} (chain ${snapshot.chainId}), block ${snapshot.blockNumber}`);
  lines.push(
    `round ${round.number}: ${round.initialized ? "initialized" : "NOT initialized"}, ${lockState}; ` +
      `started at block ${round.startBlock}, ${round.length} blocks per round`,
  );
  lines.push("");

  const bonded = account.delegate !== ZeroAddress;
  lines.push(`account ${account.address}`);
  lines.push(field("LPT balance", formatLpt(account.lptBalance)));
  lines.push(field("status", DELEGATOR_STATUS[account.status] ?? `unknown (${account.status})`));
  lines.push(field("bonded amount", formatLpt(account.bondedAmount)));
  lines.push(field("delegate", bonded ? account.delegate : "none"));
  lines.push(field("pending stake", formatLpt(account.pendingStake)));
  lines.push(field("pending fees", formatEth(account.pendingFees)));
  lines.push(field("start round", bonded ? String(account.startRound) : "-"));
  lines.push(field("last claim round", String(account.lastClaimRound)));
  if (bonded) lines.push(field("delegate rewarded", delegateRewardLine(snapshot.delegate, round.number)));
  if (account.unbondingLocks.length === 0) {
    lines.push(field("unbonding locks", "none"));
  } else {
    lines.push(field("unbonding locks", String(account.unbondingLocks.length)));
    for (const lock of account.unbondingLocks) {
      const ready =
        lock.withdrawRound <= round.number
          ? "withdrawable now"
          : `not yet withdrawable (${lock.withdrawRound - round.number} round(s) to go)`;
      lines.push(`    lock ${lock.id}: ${formatLpt(lock.amount)}, withdraw round ${lock.withdrawRound}, ${ready}`);
    }
  }

  const own = snapshot.orchestrator;
  if (own !== undefined) {
    lines.push("");
    lines.push("orchestrator");
    lines.push(field("registered", yesNo(own.registered)));
    lines.push(field("reward cut", formatPercent(own.rewardCut)));
    lines.push(field("fee share", formatPercent(own.feeShare)));
    lines.push(field("total stake", formatLpt(own.totalStake)));
    lines.push(field("active", yesNo(own.active)));
    lines.push(field("activation round", own.activationRound === 0n ? "never" : String(own.activationRound)));
    lines.push(
      field(
        "deactivation round",
        own.deactivationRound === IN_POOL_ROUND ? "none (in the pool)" : String(own.deactivationRound),
      ),
    );
    lines.push(field("rewarded", rewardLine(own, round.number)));
    lines.push(field("service URI", own.serviceURI === "" ? "(not set)" : own.serviceURI));
  }

  lines.push("");
  lines.push(`pool: ${pool.members.length} of ${pool.maxSize} orchestrators`);
  if (pool.members.length > 0) {
    const rows = [["#", "address", "total stake", "reward cut", "fee share", "active", "rewarded", ""]];
    pool.members.forEach((member, index) => {
      const notes = [
        same(member.address, account.address) ? "this account" : "",
        bonded && same(member.address, account.delegate) && !same(member.address, account.address) ? "delegate" : "",
      ].filter((note) => note !== "");
      rows.push([
        String(index + 1),
        member.address,
        formatLpt(member.totalStake),
        formatPercent(member.rewardCut),
        formatPercent(member.feeShare),
        yesNo(member.active),
        yesNo(member.lastRewardRound === round.number),
        notes.length > 0 ? `<- ${notes.join(", ")}` : "",
      ]);
    });
    lines.push(...table(rows));
  }
  return lines;
}
