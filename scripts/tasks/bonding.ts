// Tasks for delegators and orchestrator operators: bonding, unbonding, earnings, registration, rewards and a status
// report. Each action imports scripts/lib/bonding lazily (it needs typechain-types); the logic lives there and in
// docs/delegators.md.
import { task } from "hardhat/config";
import type { ConfigurableTaskDefinition } from "hardhat/types";

const FROM_HELP =
  "Account to act as: a signer index (0 = the network's first account) or one of the signers' addresses (default 0)";

/** Adds the --from parameter every task shares (the ticket tasks too). */
export function fromParam(definition: ConfigurableTaskDefinition): ConfigurableTaskDefinition {
  return definition.addOptionalParam("from", FROM_HELP);
}

fromParam(
  task(
    "bond",
    "Bonds LPT and delegates your whole stake to an orchestrator (or yourself). Approves the BondingManager for " +
      "any shortfall in allowance first. Takes effect next round; --amount 0 only moves your stake to --to",
  )
    .addParam("amount", "LPT to bond, as a decimal number (e.g. 12.5); 0 to change delegate only")
    .addParam("to", "Address to delegate to: an orchestrator, or your own address to self-bond"),
).setAction(async (args: { amount: string; to: string; from?: string }, hre) => {
  const { bond } = await import("../lib/bonding/actions");
  return bond(hre, args);
});

fromParam(
  task(
    "unbond",
    "Moves LPT from your stake into a new unbonding lock, withdrawable after the unbonding period " +
      "(withdraw-stake). Stake added this round is taken first; the rest forgoes this round's earnings. " +
      "An orchestrator that unbonds everything resigns from the pool",
  ).addParam("amount", "LPT to unbond, as a decimal number (e.g. 2.5)"),
).setAction(async (args: { amount: string; from?: string }, hre) => {
  const { unbond } = await import("../lib/bonding/actions");
  return unbond(hre, args);
});

fromParam(
  task(
    "rebond",
    "Bonds an unbonding lock again: to your current delegate, or, when you are fully unbonded, to --to. " +
      "`status` lists your locks",
  )
    .addParam("lock", "Unbonding lock id (printed by unbond and status)")
    .addOptionalParam("to", "Whom to bond the lock to; needed only when nothing else is bonded"),
).setAction(async (args: { lock: string; to?: string; from?: string }, hre) => {
  const { rebond } = await import("../lib/bonding/actions");
  return rebond(hre, args);
});

fromParam(
  task("withdraw-stake", "Withdraws an unbonding lock's LPT to your wallet once its withdraw round has come").addParam(
    "lock",
    "Unbonding lock id (printed by unbond and status)",
  ),
).setAction(async (args: { lock: string; from?: string }, hre) => {
  const { withdrawStake } = await import("../lib/bonding/actions");
  return withdrawStake(hre, args);
});

fromParam(
  task(
    "claim",
    "Settles your rewards (added to your stake) and fees through the previous round. Optional: every bond, " +
      "unbond, rebond and fee withdrawal settles first anyway",
  ),
).setAction(async (args: { from?: string }, hre) => {
  const { claim } = await import("../lib/bonding/actions");
  return claim(hre, args);
});

fromParam(
  task(
    "withdraw-fees",
    "Sends earned ETH fees to a recipient. Fees settle through the previous round: those credited this round " +
      "can be withdrawn from the next",
  )
    .addOptionalParam("amount", "ETH to withdraw, as a decimal number (default: everything withdrawable now)")
    .addOptionalParam("recipient", "Address to pay (default: the account itself)"),
).setAction(async (args: { amount?: string; recipient?: string; from?: string }, hre) => {
  const { withdrawFees } = await import("../lib/bonding/actions");
  return withdrawFees(hre, args);
});

fromParam(
  task(
    "register",
    "Registers the account as an orchestrator (or updates its cuts) and joins the pool if there is room or its " +
      "stake beats the last member's; active from next round. Needs stake bonded to itself (--amount bonds it " +
      "first). Not allowed in the round lock (the last blocks of a round)",
  )
    .addParam("rewardCut", "Share of each reward the orchestrator keeps, in percent (e.g. 10, 12.5 or 12.5%)")
    .addParam("feeShare", "Share of fees passed on to delegators, in percent (e.g. 50)")
    .addOptionalParam("serviceUri", "Where broadcasters reach the orchestrator, e.g. https://orch.example.com:8935")
    .addOptionalParam("amount", "LPT to bond to yourself before registering, as a decimal number"),
).setAction(
  async (args: { rewardCut: string; feeShare: string; serviceUri?: string; amount?: string; from?: string }, hre) => {
    const { register } = await import("../lib/bonding/actions");
    return register(hre, args);
  },
);

fromParam(
  task(
    "reward",
    "Mints this round's reward for an active orchestrator (once per round); delegators' shares grow with it",
  ),
).setAction(async (args: { from?: string }, hre) => {
  const { reward } = await import("../lib/bonding/actions");
  return reward(hre, args);
});

fromParam(
  task(
    "initialize-round",
    "Initializes the current round (anyone may, once per round); bonding, rewards and claims wait for it",
  ),
).setAction(async (args: { from?: string }, hre) => {
  const { initializeRound } = await import("../lib/bonding/actions");
  return initializeRound(hre, args);
});

fromParam(
  task(
    "status",
    "Prints the round, an account's stake, delegate, pending stake and fees, unbonding locks, its orchestrator " +
      "registration and the orchestrator pool",
  ).addOptionalParam("account", "Address to report on (default: the --from account); needs no signer"),
).setAction(async (args: { account?: string; from?: string }, hre) => {
  const { status } = await import("../lib/bonding/actions");
  return status(hre, args);
});
