// What each broadcaster (ticket sender) task does: validate the input, check what can be checked before sending,
// send through the TicketBroker, and report what the events and the sender's books say. scripts/tasks/tickets.ts only
// declares the tasks and imports this module lazily. Reverts are worded by scripts/lib/bonding/errors.ts.
import { getAddress } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types";

import type { TicketBroker } from "../../../typechain-types";
import type { FromArgs } from "../bonding/actions";
import { formatEth, parseAddress } from "../bonding/amounts";
import {
  type Protocol,
  connectProtocol,
  fail,
  findEvent,
  requireSigner,
  requireTicketBroker,
  transact,
  withFriendlyErrors,
  withProtocol,
} from "../bonding/protocol";
import { fundingCall, parseFunding } from "./funding";
import { type SenderStatusSnapshot, formatSenderStatus } from "./status";

type Log = (line: string) => void;

const noInput = () => undefined;

interface Books {
  deposit: bigint;
  reserve: bigint;
  withdrawRound: bigint;
}

async function books(broker: TicketBroker, sender: string): Promise<Books> {
  const [info, reserve] = await broker.getSenderInfo(sender);
  return { deposit: info.deposit, reserve: reserve.fundsRemaining, withdrawRound: info.withdrawRound };
}

function cmd(protocol: Protocol, task: string): string {
  return `\`npx hardhat ${task} --network ${protocol.network}\``;
}

// ---- fund ----

export interface FundArgs extends FromArgs {
  deposit?: string;
  reserve?: string;
}

export interface FundResult {
  /** The deposit and reserve after funding. */
  deposit: bigint;
  reserve: bigint;
  cancelledUnlock: boolean;
}

export async function fund(hre: HardhatRuntimeEnvironment, args: FundArgs, log?: Log): Promise<FundResult> {
  return withProtocol(
    hre,
    args.from,
    log,
    () => parseFunding(args),
    async (protocol, self, funding) => {
      const broker = requireTicketBroker(protocol);
      const call = fundingCall(funding);
      const balance = await protocol.hre.ethers.provider.getBalance(self);
      if (balance < call.value) {
        throw fail(`${self} holds ${formatEth(balance)}, less than the ${formatEth(call.value)} to fund (and gas)`);
      }
      const request =
        call.method === "fundDepositAndReserve"
          ? broker.fundDepositAndReserve.populateTransaction(...call.args, { value: call.value })
          : broker[call.method].populateTransaction({ value: call.value });
      const events = await transact(protocol, "fund", request);

      const added = [
        funding.deposit > 0n ? `${formatEth(funding.deposit)} to the deposit` : "",
        funding.reserve > 0n ? `${formatEth(funding.reserve)} to the reserve` : "",
      ].filter((part) => part !== "");
      protocol.log(`added ${added.join(" and ")}`);
      const after = await books(broker, self);
      protocol.log(`deposit: ${formatEth(after.deposit)}, reserve: ${formatEth(after.reserve)}`);
      const cancelledUnlock = findEvent(events, "UnlockCancelled") !== undefined;
      if (cancelledUnlock) {
        protocol.log(
          "funding cancelled the unlock that was in progress: your tickets keep paying; " +
            `run ${cmd(protocol, "unlock-funds")} again to withdraw`,
        );
      }
      return { deposit: after.deposit, reserve: after.reserve, cancelledUnlock };
    },
  );
}

// ---- unlock-funds ----

export interface UnlockResult {
  startRound: bigint;
  withdrawRound: bigint;
}

export async function unlockFunds(hre: HardhatRuntimeEnvironment, args: FromArgs, log?: Log): Promise<UnlockResult> {
  return withProtocol(hre, args.from, log, noInput, async (protocol, self) => {
    const broker = requireTicketBroker(protocol);
    const events = await transact(protocol, "unlock-funds", broker.unlock.populateTransaction());
    const unlocked = findEvent(events, "Unlock");
    if (unlocked === undefined) throw fail("unlock-funds: the transaction emitted no Unlock event");
    const result = { startRound: unlocked.startRound as bigint, withdrawRound: unlocked.endRound as bigint };
    const now = await books(broker, self);
    protocol.log(
      `unlocked your deposit (${formatEth(now.deposit)}) and reserve (${formatEth(now.reserve)}) ` +
        `in round ${result.startRound}`,
    );
    protocol.log(`withdraw-funds is possible from round ${result.withdrawRound}: ${cmd(protocol, "withdraw-funds")}`);
    protocol.log(
      `your tickets keep paying until then; ${cmd(protocol, "cancel-unlock")} or funding again cancels the unlock`,
    );
    return result;
  });
}

// ---- cancel-unlock ----

export async function cancelUnlock(
  hre: HardhatRuntimeEnvironment,
  args: FromArgs,
  log?: Log,
): Promise<{ deposit: bigint; reserve: bigint }> {
  return withProtocol(hre, args.from, log, noInput, async (protocol, self) => {
    const broker = requireTicketBroker(protocol);
    await transact(protocol, "cancel-unlock", broker.cancelUnlock.populateTransaction());
    const now = await books(broker, self);
    protocol.log(
      `cancelled the unlock: your deposit (${formatEth(now.deposit)}) and reserve (${formatEth(now.reserve)}) ` +
        "stay locked and keep paying your tickets",
    );
    return { deposit: now.deposit, reserve: now.reserve };
  });
}

// ---- withdraw-funds ----

export async function withdrawFunds(
  hre: HardhatRuntimeEnvironment,
  args: FromArgs,
  log?: Log,
): Promise<{ deposit: bigint; reserve: bigint }> {
  return withProtocol(hre, args.from, log, noInput, async (protocol, self) => {
    const broker = requireTicketBroker(protocol);
    // The simulation refuses an early withdrawal (FundsLocked: "unlocks in round N; it is round M") before any gas.
    const events = await transact(protocol, "withdraw-funds", broker.withdraw.populateTransaction());
    const withdrawal = findEvent(events, "Withdrawal");
    if (withdrawal === undefined) throw fail("withdraw-funds: the transaction emitted no Withdrawal event");
    const deposit = withdrawal.deposit as bigint;
    const reserve = withdrawal.reserve as bigint;
    protocol.log(
      `withdrew ${formatEth(deposit + reserve)} to ${self}: ` +
        `deposit ${formatEth(deposit)}, reserve ${formatEth(reserve)}`,
    );
    return { deposit, reserve };
  });
}

// ---- sender-status ----

export interface SenderStatusArgs extends FromArgs {
  account?: string;
}

export async function readSenderStatus(protocol: Protocol, sender: string): Promise<SenderStatusSnapshot> {
  const broker = requireTicketBroker(protocol);
  const { bondingManager, roundsManager } = protocol;
  const provider = protocol.hre.ethers.provider;
  // One block for every read, so the snapshot is consistent even while blocks are being mined.
  const blockTag = await provider.getBlockNumber();
  const at = { blockTag };
  const [chainId, roundNumber, initialized, ethBalance, [info, reserve], unlockPeriod, poolSize] = await Promise.all([
    provider.getNetwork().then((network) => network.chainId),
    roundsManager.currentRound(at),
    roundsManager.currentRoundInitialized(at),
    provider.getBalance(sender, blockTag),
    broker.getSenderInfo(sender, at),
    broker.unlockPeriod(at),
    bondingManager.currentRoundPoolSize(at),
  ]);
  return {
    network: protocol.network,
    chainId,
    blockNumber: BigInt(blockTag),
    round: { number: roundNumber, initialized },
    sender: {
      address: getAddress(sender),
      ethBalance,
      deposit: info.deposit,
      reserve: reserve.fundsRemaining,
      claimedInCurrentRound: reserve.claimedInCurrentRound,
      withdrawRound: info.withdrawRound,
    },
    unlockPeriod,
    poolSize,
  };
}

export async function senderStatus(
  hre: HardhatRuntimeEnvironment,
  args: SenderStatusArgs,
  log?: Log,
): Promise<SenderStatusSnapshot> {
  return withFriendlyErrors(hre, async () => {
    const address = args.account === undefined ? undefined : parseAddress(args.account, "--account");
    const protocol = await connectProtocol(hre, { from: args.from, needsSigner: address === undefined, log });
    const snapshot = await readSenderStatus(protocol, address ?? requireSigner(protocol).address);
    for (const line of formatSenderStatus(snapshot)) protocol.log(line);
    return snapshot;
  });
}
