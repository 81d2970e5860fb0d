// What each bonding task does, in order: validate the input, check what can be checked before sending anything,
// compute pool hints, send, and report what the events say happened. scripts/tasks/bonding.ts only declares the
// tasks and imports this module lazily.
import { MaxUint256, ZeroAddress, getAddress } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types";

import {
  InputError,
  formatEth,
  formatLpt,
  formatPercent,
  parseAddress,
  parseLockId,
  parsePercent,
  parseTokenAmount,
} from "./amounts";
import { decodeRevert, revertDataOf } from "./errors";
import { NO_HINT, bondHints, currentPosition, hintFor, isMember } from "./hints";
import {
  type Protocol,
  connectProtocol,
  fail,
  failWith,
  findEvent,
  initializedRound,
  readPool,
  requireSigner,
  transact,
  withFriendlyErrors,
  withProtocol,
} from "./protocol";
import { IN_POOL_ROUND, type OrchestratorView, type StatusSnapshot, formatStatus } from "./status";

type Log = (line: string) => void;

export interface FromArgs {
  /** Signer index or address; default signer 0. */
  from?: string;
}

function same(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

const noInput = () => undefined;

// ---- bond ----

export interface BondArgs extends FromArgs {
  amount: string;
  to: string;
}

export interface BondResult {
  delegate: string;
  bondedAmount: bigint;
}

/** Approves the shortfall in allowance, then bonds `amount` to `to` with hints. Shared by bond and register. */
async function bondTo(
  protocol: Protocol,
  self: string,
  amount: bigint,
  to: string,
  round: bigint,
): Promise<BondResult> {
  const { bondingManager, token } = protocol;
  const delegator = await bondingManager.getDelegator(self);
  const oldDelegate = delegator.delegateAddress;
  const changesDelegate = oldDelegate !== ZeroAddress && !same(oldDelegate, to);

  if (amount === 0n && !changesDelegate) {
    throw new InputError(
      oldDelegate === ZeroAddress
        ? "--amount: the amount must be more than 0 LPT"
        : "--amount: the amount must be more than 0 LPT (0 only moves your stake to another orchestrator, " +
            `and it is already delegated to ${to})`,
    );
  }
  if (changesDelegate && same(oldDelegate, self) && (await bondingManager.isRegisteredTranscoder(self))) {
    throw failWith(protocol, { name: "TranscoderCannotChangeDelegate", args: [self] });
  }
  if (amount > 0n) {
    const balance = await token.balanceOf(self);
    if (balance < amount) throw failWith(protocol, { name: "ERC20InsufficientBalance", args: [self, balance, amount] });
    const spender = await bondingManager.getAddress();
    const allowance = await token.allowance(self, spender);
    if (allowance < amount) {
      protocol.log(
        `approving the BondingManager to spend ${formatLpt(amount)} (allowance was ${formatLpt(allowance)})`,
      );
      await transact(protocol, "approve", token.approve.populateTransaction(spender, amount));
    }
  }

  const pool = await readPool(bondingManager);
  const moved = changesDelegate ? await bondingManager.pendingStake(self, round) : 0n;
  const hints = bondHints({
    pool,
    amount,
    to: { address: to, stake: await bondingManager.transcoderTotalStake(to) },
    from: changesDelegate
      ? { address: oldDelegate, stake: await bondingManager.transcoderTotalStake(oldDelegate), moved }
      : undefined,
  });
  const [oldHint, newHint] = [hints.oldDelegate, hints.newDelegate];

  const events = await transact(
    protocol,
    "bond",
    bondingManager.bondWithHint.populateTransaction(amount, to, oldHint.prev, oldHint.next, newHint.prev, newHint.next),
  );
  const bonded = findEvent(events, "Bonded");
  const bondedAmount = bonded === undefined ? 0n : (bonded.bondedAmount as bigint);
  if (changesDelegate) {
    protocol.log(
      `moved your stake from ${oldDelegate} to ${to}` + (amount > 0n ? ` and added ${formatLpt(amount)}` : ""),
    );
    protocol.log(`${formatLpt(bondedAmount)} is now delegated to ${to}, earning there from round ${round + 1n}`);
  } else {
    protocol.log(`bonded ${formatLpt(amount)} to ${to}`);
    protocol.log(`${formatLpt(bondedAmount)} is now delegated to ${to}; the new LPT earns from round ${round + 1n}`);
  }
  return { delegate: getAddress(to), bondedAmount };
}

export async function bond(hre: HardhatRuntimeEnvironment, args: BondArgs, log?: Log): Promise<BondResult> {
  const parse = () => ({
    amount: parseTokenAmount(args.amount, { flag: "--amount", unit: "LPT", allowZero: true }),
    to: parseAddress(args.to, "--to"),
  });
  return withProtocol(hre, args.from, log, parse, async (protocol, self, { amount, to }) => {
    if (to === ZeroAddress) throw failWith(protocol, { name: "ZeroDelegate", args: [] });
    const round = await initializedRound(protocol);
    return bondTo(protocol, self, amount, to, round);
  });
}

// ---- unbond ----

export interface UnbondArgs extends FromArgs {
  amount: string;
}

export interface UnbondResult {
  lockId: bigint;
  amount: bigint;
  withdrawRound: bigint;
}

export async function unbond(hre: HardhatRuntimeEnvironment, args: UnbondArgs, log?: Log): Promise<UnbondResult> {
  const parse = () => parseTokenAmount(args.amount, { flag: "--amount", unit: "LPT" });
  return withProtocol(hre, args.from, log, parse, async (protocol, self, amount) => {
    const { bondingManager } = protocol;
    await initializedRound(protocol);
    const delegate = (await bondingManager.getDelegator(self)).delegateAddress;
    if (delegate === ZeroAddress) throw failWith(protocol, { name: "NotBonded", args: [self] });

    const pool = await readPool(bondingManager);
    const stake = await bondingManager.transcoderTotalStake(delegate);
    const hint = isMember(pool, delegate) ? hintFor(pool, delegate, stake > amount ? stake - amount : 0n) : NO_HINT;
    const events = await transact(
      protocol,
      "unbond",
      bondingManager.unbondWithHint.populateTransaction(amount, hint.prev, hint.next),
    );
    const unbonded = findEvent(events, "Unbonded");
    if (unbonded === undefined) throw fail("unbond: the transaction emitted no Unbonded event");
    const result = {
      lockId: unbonded.unbondingLockId as bigint,
      amount: unbonded.amount as bigint,
      withdrawRound: unbonded.withdrawRound as bigint,
    };
    protocol.log(
      `unbonded ${formatLpt(result.amount)} from ${delegate} into unbonding lock ${result.lockId}, ` +
        `withdrawable from round ${result.withdrawRound} with ` +
        `\`npx hardhat withdraw-stake --lock ${result.lockId} --network ${protocol.network}\``,
    );
    if (findEvent(events, "TranscoderDeactivated") !== undefined) {
      protocol.log("you unbonded everything, so you resigned as an orchestrator and left the pool");
    } else if ((await bondingManager.getDelegator(self)).delegateAddress === ZeroAddress) {
      protocol.log("nothing is bonded anymore");
    }
    return result;
  });
}

// ---- rebond ----

export interface RebondArgs extends FromArgs {
  lock: string;
  to?: string;
}

export interface RebondResult {
  lockId: bigint;
  amount: bigint;
  delegate: string;
}

export async function rebond(hre: HardhatRuntimeEnvironment, args: RebondArgs, log?: Log): Promise<RebondResult> {
  const parse = () => ({
    lockId: parseLockId(args.lock),
    to: args.to === undefined ? undefined : parseAddress(args.to, "--to"),
  });
  return withProtocol(hre, args.from, log, parse, async (protocol, self, { lockId, to }) => {
    const { bondingManager } = protocol;
    const round = await initializedRound(protocol);
    const lock = await bondingManager.getUnbondingLock(self, lockId);
    if (lock.amount === 0n) throw failWith(protocol, { name: "UnbondingLockNotFound", args: [self, lockId] });
    const delegate = (await bondingManager.getDelegator(self)).delegateAddress;
    const pool = await readPool(bondingManager);

    let events;
    let target: string;
    if (delegate === ZeroAddress) {
      if (to === undefined) {
        throw new InputError(
          `--to: ${self} is unbonded, so say whom to bond lock ${lockId} to: ` +
            `rebond --lock ${lockId} --to <orchestrator>`,
        );
      }
      if (to === ZeroAddress) throw failWith(protocol, { name: "ZeroDelegate", args: [] });
      target = to;
      const hint = hintFor(pool, to, (await bondingManager.transcoderTotalStake(to)) + lock.amount);
      events = await transact(
        protocol,
        "rebond",
        bondingManager.rebondFromUnbondedWithHint.populateTransaction(to, lockId, hint.prev, hint.next),
      );
    } else {
      if (to !== undefined && !same(to, delegate)) {
        throw new InputError(
          `--to: ${self} is bonded to ${delegate}, and a rebond goes back to it. Rebond without --to, then move ` +
            `everything with \`npx hardhat bond --amount 0 --to ${to} --network ${protocol.network}\``,
        );
      }
      target = delegate;
      const hint = hintFor(pool, delegate, (await bondingManager.transcoderTotalStake(delegate)) + lock.amount);
      events = await transact(
        protocol,
        "rebond",
        bondingManager.rebondWithHint.populateTransaction(lockId, hint.prev, hint.next),
      );
    }
    const rebonded = findEvent(events, "Rebonded");
    const amount = rebonded === undefined ? lock.amount : (rebonded.amount as bigint);
    protocol.log(
      `rebonded unbonding lock ${lockId} (${formatLpt(amount)}) to ${target}; it earns from round ${round + 1n}`,
    );
    return { lockId, amount, delegate: getAddress(target) };
  });
}

// ---- withdraw-stake ----

export interface WithdrawStakeArgs extends FromArgs {
  lock: string;
}

export async function withdrawStake(
  hre: HardhatRuntimeEnvironment,
  args: WithdrawStakeArgs,
  log?: Log,
): Promise<{ lockId: bigint; amount: bigint }> {
  const parse = () => parseLockId(args.lock);
  return withProtocol(hre, args.from, log, parse, async (protocol, _self, lockId) => {
    await initializedRound(protocol);
    const events = await transact(
      protocol,
      "withdraw-stake",
      protocol.bondingManager.withdrawStake.populateTransaction(lockId),
    );
    const withdrawn = findEvent(events, "StakeWithdrawn");
    const amount = withdrawn === undefined ? 0n : (withdrawn.amount as bigint);
    protocol.log(`withdrew ${formatLpt(amount)} from unbonding lock ${lockId}`);
    return { lockId, amount };
  });
}

// ---- claim ----

export async function claim(
  hre: HardhatRuntimeEnvironment,
  args: FromArgs,
  log?: Log,
): Promise<{ rewards: bigint; fees: bigint; endRound: bigint }> {
  return withProtocol(hre, args.from, log, noInput, async (protocol) => {
    const round = await initializedRound(protocol);
    const events = await transact(protocol, "claim", protocol.bondingManager.claimEarnings.populateTransaction(round));
    const claimed = findEvent(events, "EarningsClaimed");
    const rewards = claimed === undefined ? 0n : (claimed.rewards as bigint);
    const fees = claimed === undefined ? 0n : (claimed.fees as bigint);
    const endRound = claimed === undefined ? round - 1n : (claimed.endRound as bigint);
    if (rewards === 0n && fees === 0n) {
      protocol.log(`nothing new to claim; your earnings are settled through round ${endRound}`);
    } else {
      protocol.log(
        `claimed ${formatLpt(rewards)} of rewards (added to your stake) and ${formatEth(fees)} of fees ` +
          `through round ${endRound}`,
      );
    }
    return { rewards, fees, endRound };
  });
}

// ---- withdraw-fees ----

export interface WithdrawFeesArgs extends FromArgs {
  amount?: string;
  recipient?: string;
}

/**
 * The fees `withdrawFees` would allow right now: those settled through the previous round. The contract computes
 * them while settling, so ask it: a simulated withdrawal of everything reverts with InsufficientFees(_, available).
 */
async function withdrawableFees(protocol: Protocol, self: string, recipient: string): Promise<bigint> {
  try {
    await protocol.bondingManager.withdrawFees.staticCall(recipient, MaxUint256, { from: self });
  } catch (error) {
    const data = revertDataOf(error);
    const decoded = data === undefined ? undefined : decodeRevert(data, protocol.errors);
    if (decoded?.name === "InsufficientFees") return decoded.args[1] as bigint;
    throw error;
  }
  throw fail("withdraw-fees: could not work out the withdrawable fees");
}

export async function withdrawFees(
  hre: HardhatRuntimeEnvironment,
  args: WithdrawFeesArgs,
  log?: Log,
): Promise<{ amount: bigint; recipient: string }> {
  const parse = () => ({
    recipient: args.recipient === undefined ? undefined : parseAddress(args.recipient, "--recipient"),
    amount: args.amount === undefined ? undefined : parseTokenAmount(args.amount, { flag: "--amount", unit: "ETH" }),
  });
  return withProtocol(hre, args.from, log, parse, async (protocol, self, input) => {
    const recipient = input.recipient ?? self;
    if (recipient === ZeroAddress) throw failWith(protocol, { name: "ZeroRecipient", args: [] });
    let amount = input.amount;
    const round = await initializedRound(protocol);
    if (amount === undefined) {
      amount = await withdrawableFees(protocol, self, recipient);
      if (amount === 0n) {
        const pending = await protocol.bondingManager.pendingFees(self, round);
        throw fail(
          pending > 0n
            ? `no fees can be withdrawn yet: the ${formatEth(pending)} earned this round ` +
                `can be withdrawn from round ${round + 1n}`
            : "no fees to withdraw",
        );
      }
    }
    const events = await transact(
      protocol,
      "withdraw-fees",
      protocol.bondingManager.withdrawFees.populateTransaction(recipient, amount),
    );
    const withdrawn = findEvent(events, "FeesWithdrawn");
    const paid = withdrawn === undefined ? amount : (withdrawn.amount as bigint);
    protocol.log(`withdrew ${formatEth(paid)} of fees to ${recipient}`);
    return { amount: paid, recipient };
  });
}

// ---- register ----

export interface RegisterArgs extends FromArgs {
  rewardCut: string;
  feeShare: string;
  serviceUri?: string;
  amount?: string;
}

export interface RegisterResult {
  rewardCut: bigint;
  feeShare: bigint;
  inPool: boolean;
  activationRound?: bigint;
}

function parseServiceUri(text: string): string {
  const uri = text.trim();
  if (uri === "") return uri; // clears it
  let parsed: URL;
  try {
    parsed = new URL(uri);
  } catch {
    throw new InputError(`--service-uri: "${text}" is not a URL; write e.g. https://orchestrator.example.com:8935`);
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
    throw new InputError(
      `--service-uri: "${text}" should be an http(s) URL, e.g. https://orchestrator.example.com:8935`,
    );
  }
  return uri;
}

export async function register(hre: HardhatRuntimeEnvironment, args: RegisterArgs, log?: Log): Promise<RegisterResult> {
  const parse = () => ({
    rewardCut: parsePercent(args.rewardCut, "--reward-cut"),
    feeShare: parsePercent(args.feeShare, "--fee-share"),
    serviceUri: args.serviceUri === undefined ? undefined : parseServiceUri(args.serviceUri),
    amount: args.amount === undefined ? undefined : parseTokenAmount(args.amount, { flag: "--amount", unit: "LPT" }),
  });
  return withProtocol(hre, args.from, log, parse, async (protocol, self, input) => {
    const { rewardCut, feeShare, serviceUri, amount } = input;
    const { bondingManager, roundsManager } = protocol;
    const round = await initializedRound(protocol);
    // Checked before bonding, so that a locked round does not leave the stake bonded and the registration undone.
    if (await roundsManager.currentRoundLocked()) throw failWith(protocol, { name: "RoundLocked", args: [round] });

    if (amount !== undefined) await bondTo(protocol, self, amount, self, round);
    const delegate = (await bondingManager.getDelegator(self)).delegateAddress;
    if (!same(delegate, self)) throw failWith(protocol, { name: "NotSelfBonded", args: [self] });

    const pool = await readPool(bondingManager);
    const hint = hintFor(pool, self, await bondingManager.transcoderTotalStake(self));
    const events = await transact(
      protocol,
      "register",
      bondingManager.transcoderWithHint.populateTransaction(rewardCut, feeShare, hint.prev, hint.next),
    );
    protocol.log(
      `registered ${self} as an orchestrator: reward cut ${formatPercent(rewardCut)} (kept of rewards), ` +
        `fee share ${formatPercent(feeShare)} (passed to delegators)`,
    );
    const activated = findEvent(events, "TranscoderActivated");
    const inPool = await bondingManager.isInPool(self);
    let activationRound: bigint | undefined;
    if (activated !== undefined) {
      activationRound = activated.activationRound as bigint;
      protocol.log(`joined the pool: active from round ${activationRound}`);
    } else if (inPool) {
      protocol.log("already in the pool; the new cuts apply from now on");
    } else {
      const last = pool.members[pool.members.length - 1];
      protocol.log(
        `not in the pool: it is full (${pool.maxSize}) and your stake does not beat the last member's` +
          (last === undefined ? "" : ` (${formatLpt(last.stake)})`) +
          "; you join as soon as it does",
      );
    }

    if (serviceUri !== undefined) {
      await transact(
        protocol,
        "set service URI",
        protocol.serviceRegistry.setServiceURI.populateTransaction(serviceUri),
      );
      protocol.log(serviceUri === "" ? "cleared the service URI" : `service URI: ${serviceUri}`);
    }
    return { rewardCut, feeShare, inPool, activationRound };
  });
}

// ---- reward ----

export async function reward(
  hre: HardhatRuntimeEnvironment,
  args: FromArgs,
  log?: Log,
): Promise<{ round: bigint; minted: bigint }> {
  return withProtocol(hre, args.from, log, noInput, async (protocol, self) => {
    const round = await initializedRound(protocol);
    // The minted amount is not known in advance; the current neighbours are a good start for the contract's walk.
    const hint = currentPosition(await readPool(protocol.bondingManager), self);
    const events = await transact(
      protocol,
      "reward",
      protocol.bondingManager.rewardWithHint.populateTransaction(hint.prev, hint.next),
    );
    const rewarded = findEvent(events, "Rewarded");
    const minted = rewarded === undefined ? 0n : (rewarded.amount as bigint);
    protocol.log(`minted ${formatLpt(minted)} of rewards for round ${round}`);
    return { round, minted };
  });
}

// ---- initialize-round ----

export async function initializeRound(
  hre: HardhatRuntimeEnvironment,
  args: FromArgs,
  log?: Log,
): Promise<{ round: bigint; initialized: boolean }> {
  return withProtocol(hre, args.from, log, noInput, async (protocol) => {
    const { roundsManager } = protocol;
    const round = await roundsManager.currentRound();
    if (await roundsManager.currentRoundInitialized()) {
      protocol.log(`round ${round} is already initialized; nothing to do`);
      return { round, initialized: false };
    }
    const events = await transact(protocol, "initialize-round", roundsManager.initializeRound.populateTransaction());
    const newRound = findEvent(events, "NewRound");
    const initialized = newRound === undefined ? round : (newRound.round as bigint);
    protocol.log(`initialized round ${initialized}`);
    return { round: initialized, initialized: true };
  });
}

// ---- status ----

export interface StatusArgs extends FromArgs {
  account?: string;
}

export async function readStatus(protocol: Protocol, account: string): Promise<StatusSnapshot> {
  const { bondingManager, roundsManager, token, serviceRegistry } = protocol;
  const provider = protocol.hre.ethers.provider;
  // One block for every read, so the snapshot is consistent even while blocks are being mined.
  const blockTag = await provider.getBlockNumber();
  const at = { blockTag };
  const chainId = (await provider.getNetwork()).chainId;
  const [roundNumber, initialized, locked, startBlock, length] = await Promise.all([
    roundsManager.currentRound(at),
    roundsManager.currentRoundInitialized(at),
    roundsManager.currentRoundLocked(at),
    roundsManager.currentRoundStartBlock(at),
    roundsManager.roundLength(at),
  ]);
  const [lptBalance, status, delegator, pendingStake, pendingFees] = await Promise.all([
    token.balanceOf(account, at),
    bondingManager.delegatorStatus(account, at),
    bondingManager.getDelegator(account, at),
    bondingManager.pendingStake(account, roundNumber, at),
    bondingManager.pendingFees(account, roundNumber, at),
  ]);
  const lockIds = Array.from({ length: Number(delegator.nextUnbondingLockId) }, (_, index) => BigInt(index));
  const locks = await Promise.all(lockIds.map((id) => bondingManager.getUnbondingLock(account, id, at)));

  const orchestratorView = async (address: string): Promise<OrchestratorView> => {
    const [registration, active, totalStake, serviceURI] = await Promise.all([
      bondingManager.getTranscoder(address, at),
      bondingManager.isActiveTranscoder(address, at),
      bondingManager.transcoderTotalStake(address, at),
      serviceRegistry.getServiceURI(address, at),
    ]);
    return {
      registered: registration.registered,
      rewardCut: registration.rewardCut,
      feeShare: registration.feeShare,
      lastRewardRound: registration.lastRewardRound,
      activationRound: registration.activationRound,
      deactivationRound: registration.deactivationRound,
      active,
      totalStake,
      serviceURI,
    };
  };
  const own = await orchestratorView(account);
  const delegate =
    delegator.delegateAddress === ZeroAddress ? undefined : await orchestratorView(delegator.delegateAddress);

  const pool = await readPool(bondingManager, blockTag);
  const members = await Promise.all(
    pool.members.map(async (member) => {
      const [registration, active] = await Promise.all([
        bondingManager.getTranscoder(member.address, at),
        bondingManager.isActiveTranscoder(member.address, at),
      ]);
      return {
        address: member.address,
        totalStake: member.stake,
        rewardCut: registration.rewardCut,
        feeShare: registration.feeShare,
        active,
        lastRewardRound: registration.lastRewardRound,
      };
    }),
  );

  return {
    network: protocol.network,
    chainId,
    blockNumber: BigInt(blockTag),
    round: { number: roundNumber, initialized, locked, startBlock, length },
    account: {
      address: getAddress(account),
      lptBalance,
      status: Number(status),
      bondedAmount: delegator.bondedAmount,
      delegate: delegator.delegateAddress,
      pendingStake,
      pendingFees,
      startRound: delegator.startRound,
      lastClaimRound: delegator.lastClaimRound,
      unbondingLocks: lockIds
        .map((id, index) => ({ id, amount: locks[index]!.amount, withdrawRound: locks[index]!.withdrawRound }))
        .filter((lock) => lock.amount > 0n),
    },
    delegate,
    orchestrator:
      own.registered || own.activationRound !== 0n || own.deactivationRound === IN_POOL_ROUND ? own : undefined,
    pool: { maxSize: pool.maxSize, members },
  };
}

export async function status(hre: HardhatRuntimeEnvironment, args: StatusArgs, log?: Log): Promise<StatusSnapshot> {
  return withFriendlyErrors(hre, async () => {
    const account = args.account === undefined ? undefined : parseAddress(args.account, "--account");
    const protocol = await connectProtocol(hre, { from: args.from, needsSigner: account === undefined, log });
    const snapshot = await readStatus(protocol, account ?? requireSigner(protocol).address);
    for (const line of formatStatus(snapshot)) protocol.log(line);
    return snapshot;
  });
}
