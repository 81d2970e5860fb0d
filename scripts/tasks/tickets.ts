// Tasks for broadcasters (ticket senders): funding the TicketBroker deposit and reserve, unlocking, withdrawing and a
// status report. Each action imports scripts/lib/tickets lazily (it needs typechain-types); the logic lives there and
// in docs/delegators.md ("Broadcasters: funding tickets").
import { task } from "hardhat/config";

import { fromParam } from "./bonding";

fromParam(
  task(
    "fund",
    "Adds ETH to your ticket deposit (pays winning tickets first) and/or reserve (collateral: each orchestrator " +
      "active in a round may draw an equal share of it in that round). Give --deposit, --reserve or both. " +
      "Cancels your unlock if one is in progress",
  )
    .addOptionalParam("deposit", "ETH to add to the deposit, as a decimal number (e.g. 1.5)")
    .addOptionalParam("reserve", "ETH to add to the reserve, as a decimal number (e.g. 0.5)"),
).setAction(async (args: { deposit?: string; reserve?: string; from?: string }, hre) => {
  const { fund } = await import("../lib/tickets/actions");
  return fund(hre, args);
});

fromParam(
  task(
    "unlock-funds",
    "Starts unlocking your deposit and reserve: withdraw-funds is possible after the unlock period (in rounds). " +
      "Your tickets keep paying until then",
  ),
).setAction(async (args: { from?: string }, hre) => {
  const { unlockFunds } = await import("../lib/tickets/actions");
  return unlockFunds(hre, args);
});

fromParam(
  task("cancel-unlock", "Cancels your unlock in progress: the funds stay locked and keep paying your tickets"),
).setAction(async (args: { from?: string }, hre) => {
  const { cancelUnlock } = await import("../lib/tickets/actions");
  return cancelUnlock(hre, args);
});

fromParam(
  task(
    "withdraw-funds",
    "Pays your whole deposit and reserve back to you once the unlock period started by unlock-funds is over",
  ),
).setAction(async (args: { from?: string }, hre) => {
  const { withdrawFunds } = await import("../lib/tickets/actions");
  return withdrawFunds(hre, args);
});

fromParam(
  task(
    "sender-status",
    "Prints a ticket sender's deposit, reserve (remaining, claimed this round), unlock, the round's active " +
      "orchestrator count and the reserve each of them may draw this round, in ETH",
  ).addOptionalParam("account", "Sender to report on (default: the --from account); needs no signer"),
).setAction(async (args: { account?: string; from?: string }, hre) => {
  const { senderStatus } = await import("../lib/tickets/actions");
  return senderStatus(hre, args);
});
