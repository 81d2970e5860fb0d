/**
 * Reentrancy: every path on which ETH or LPT leaves a protocol contract for an address a user (or governance)
 * chooses, driven by a recipient that calls back in (contracts/test/ReentrantReceiver.sol). Each ETH path is
 * re-entered through the same function and through a sibling that pays from the same custody; every test checks
 * exact balances before and after and the custody invariant of the contract that paid:
 *
 * - Minter ETH = every sender's deposit + reserve + every account's unwithdrawn fees (`pendingFees`). The fixture's
 *   orchestrators keep all their fees (feeShare 0), so there is no rounding dust and the equality is exact.
 * - DisputeManager ETH = the bonds of unresolved disputes + `payouts`; DisputeManager LPT = the verifiers' stakes.
 *
 * | path                                                          | asset | recipient chosen by                 | gas     |
 * | ------------------------------------------------------------- | ----- | ----------------------------------- | ------- |
 * | TicketBroker.withdraw -> Minter.trustedWithdrawETH            | ETH   | the sender (msg.sender)             | all     |
 * | BondingManager.withdrawFees(recipient) -> trustedWithdrawETH  | ETH   | the caller, any recipient           | all     |
 * | DisputeManager.resolve, bond push (_payBond)                  | ETH   | broadcaster (the opener) or the     | 30,000, |
 * |                                                               |       | orchestrator (the receipt's signer) | else    |
 * |                                                               |       |                                     | payouts |
 * | DisputeManager.withdrawPayout                                 | ETH   | msg.sender                          | all     |
 * | Minter.migrateToNewMinter -> newMinter.depositETH             | ETH   | the Controller owner, while paused  | all     |
 * | Minter.migrateToNewMinter (tokens)                            | LPT   | the Controller owner, while paused  | -       |
 * | BondingManager.withdrawStake -> Minter.trustedTransferTokens  | LPT   | the delegator (msg.sender)          | -       |
 * | BondingManager.slashTranscoder finder fee -> trustedTransfer  | LPT   | resolve: the broadcaster;           | -       |
 * |                                                               |       | proveEquivocation: msg.sender       |         |
 * | DisputeManager.withdrawVerifierStake                          | LPT   | the verifier (msg.sender)           | -       |
 *
 * LPT cannot call back. LivepeerToken is OpenZeppelin's ERC20 with ERC20Permit and ERC20Burnable and nothing else:
 * a transfer moves balances and emits Transfer, and never calls the recipient (no ERC-777 / ERC-1363 style hook);
 * LPT pulled in (`bond`, `registerVerifier`) goes through `transferFrom`, which has none either. The tests show it
 * by the token's ABI and by an armed ReentrantReceiver that sees no call at all while LPT reaches it.
 *
 * Orchestrators sign receipts and senders sign tickets, so those roles are externally owned accounts; since EIP-7702
 * such an account can run code, so "it is an EOA" protects nothing. Where a role needs a key, the attacker here is
 * an EOA delegated to the ReentrantReceiver code.
 */
import { expect } from "chai";
import { ethers } from "hardhat";
import { MaxUint256, Wallet, ZeroAddress, ZeroHash, getAddress, parseEther } from "ethers";
import type { BaseContract, ContractTransactionReceipt, ContractTransactionResponse, Interface } from "ethers";
import { loadFixture, mine, setBalance } from "@nomicfoundation/hardhat-network-helpers";

import { startNextRound } from "../support/chain";
import { MAX_WIN_PROB, TicketSender, recipientRandHash } from "../../offchain/pm";
import type { ReentrantReceiver } from "../../typechain-types";
import {
  EVIDENCE,
  LPT,
  ORCHESTRATOR_STAKE,
  Outcome,
  PERC,
  Phase,
  type Suite,
  VERIFIER_STAKES,
  Vote,
  type VoteValue,
  disputeBase,
  ensureRoundInitialized,
  keyedWallet,
  pastReveal,
  receiptOf,
  registerVerifiers,
  sign,
  verifierWallets,
  vote,
  withCommittee,
  word,
} from "./helpers/disputes";

const ETH = (amount: string) => parseEther(amount);

/** The contract attacker's own stake, as an orchestrator or a delegator. */
const STAKE = LPT(1000);
/** Fees the contract orchestrator and the EOA orchestrator have earned from tickets in the fees fixture. */
const ATTACKER_FEES = ETH("1");
const ORCHESTRATOR_FEES = ETH("0.5");
/** The ticket sender's funds, and the contract attacker's own funds as a sender (unlocked in the fees fixture). */
const SENDER_DEPOSIT = ETH("10");
const SENDER_RESERVE = ETH("3");
const ATTACKER_DEPOSIT = ETH("2");
const ATTACKER_RESERVE = ETH("1");
const ATTACKER_FUNDS = ATTACKER_DEPOSIT + ATTACKER_RESERVE;

// ---- The attacker ----

interface Reentry {
  target: string;
  succeeded: boolean;
  returnData: string;
}

async function deployReceiver(): Promise<ReentrantReceiver> {
  return (await ethers.getContractFactory("ReentrantReceiver")).deploy();
}

/** Calls `contract.method(...args)` with the attacker as msg.sender. */
async function actAs(
  attacker: ReentrantReceiver,
  contract: BaseContract,
  method: string,
  args: unknown[] = [],
  value = 0n,
): Promise<ContractTransactionResponse> {
  const data = contract.interface.encodeFunctionData(method, args);
  return attacker.execute(await contract.getAddress(), data, { value });
}

/** Makes the attacker's next `times` callbacks call `contract.method(...args)` with `value` wei. */
async function arm(
  attacker: ReentrantReceiver,
  contract: BaseContract,
  method: string,
  args: unknown[] = [],
  options: { value?: bigint; times?: number } = {},
): Promise<void> {
  const data = contract.interface.encodeFunctionData(method, args);
  await attacker.arm(await contract.getAddress(), data, options.value ?? 0n, options.times ?? 1);
}

function eventsOf(attacker: ReentrantReceiver, receipt: ContractTransactionReceipt, name: string) {
  const address = attacker.target.toString().toLowerCase();
  return receipt.logs
    .filter((log) => log.address.toLowerCase() === address)
    .map((log) => attacker.interface.parseLog(log))
    .filter((parsed) => parsed !== null && parsed.name === name)
    .map((parsed) => parsed!.args);
}

/** The attacker's re-entries during `receipt`, in order. */
function reentriesOf(attacker: ReentrantReceiver, receipt: ContractTransactionReceipt): Reentry[] {
  return eventsOf(attacker, receipt, "ReentryAttempted").map((args) => ({
    target: args.target as string,
    succeeded: args.succeeded as boolean,
    returnData: args.returnData as string,
  }));
}

/** Every time code ran in the attacker through `receive`/`fallback` during `receipt`: selector and value. */
function callbacksOf(attacker: ReentrantReceiver, receipt: ContractTransactionReceipt) {
  return eventsOf(attacker, receipt, "Called").map((args) => ({
    selector: args.selector as string,
    value: args.value as bigint,
  }));
}

/** The single re-entry of `receipt`, which must have reverted with `contract`'s custom error `name(...args)`. */
function expectReentryReverted(
  attacker: ReentrantReceiver,
  receipt: ContractTransactionReceipt,
  contract: { interface: Interface },
  name: string,
  args: unknown[],
): void {
  const reentries = reentriesOf(attacker, receipt);
  expect(reentries).to.have.length(1);
  expect(reentries[0].succeeded, "the re-entry succeeded").to.equal(false);
  const error = contract.interface.parseError(reentries[0].returnData);
  expect(error?.name).to.equal(name);
  expect([...error!.args]).to.deep.equal(args);
}

/** The single re-entry of `receipt`, which must have succeeded; its return data. */
function succeededReentry(attacker: ReentrantReceiver, receipt: ContractTransactionReceipt): string {
  const reentries = reentriesOf(attacker, receipt);
  expect(reentries).to.have.length(1);
  expect(reentries[0].succeeded, "the re-entry reverted").to.equal(true);
  return reentries[0].returnData;
}

/** Leaves the attacker's callbacks recording only. */
async function disarm(attacker: ReentrantReceiver): Promise<void> {
  await attacker.arm(ZeroAddress, "0x", 0n, 0);
}

async function mined(tx: ContractTransactionResponse): Promise<ContractTransactionReceipt> {
  return (await tx.wait())!;
}

/** Delegates `wallet`'s code to the ReentrantReceiver (EIP-7702) and returns it as one. */
async function withReceiverCode(wallet: Wallet): Promise<ReentrantReceiver> {
  const code = await deployReceiver();
  // The wallet sends the authorizing transaction itself, so the authorization is for its next nonce.
  const authorization = await wallet.authorize({
    address: await code.getAddress(),
    nonce: (await wallet.getNonce()) + 1,
  });
  await (await wallet.sendTransaction({ to: wallet.address, type: 4, authorizationList: [authorization] })).wait();
  return ethers.getContractAt("ReentrantReceiver", wallet.address);
}

// ---- Custody ----

/** ETH the Minter owes: the senders' deposits and reserves, and the fees `earners` have not withdrawn. */
async function minterOwes(s: Suite, senders: string[], earners: string[]): Promise<bigint> {
  const round = await s.rounds.currentRound();
  let owed = 0n;
  for (const sender of senders) {
    const [info, reserve] = await s.ticketBroker.getSenderInfo(sender);
    owed += info.deposit + reserve.fundsRemaining;
  }
  for (const earner of earners) owed += await s.bondingManager.pendingFees(earner, round);
  return owed;
}

/** LPT the DisputeManager holds for `verifiers`: their stakes, registered or waiting to be withdrawn. */
async function verifierStakes(s: Suite, verifiers: string[]): Promise<bigint> {
  let staked = 0n;
  for (const verifier of verifiers) staked += (await s.dm.getVerifier(verifier)).stake;
  return staked;
}

/** ETH the DisputeManager owes: the bonds of disputes `1..disputeCount` not yet resolved, and `payees`' payouts. */
async function disputeManagerOwes(s: Suite, payees: string[]): Promise<bigint> {
  let owed = 0n;
  for (let id = 1n; id <= (await s.dm.disputeCount()); id++) {
    const dispute = await s.dm.getDispute(id);
    if (dispute.phase !== Phase.Resolved) owed += dispute.bond;
  }
  for (const payee of payees) owed += await s.dm.payouts(payee);
  return owed;
}

async function ethOf(account: { getAddress(): Promise<string> } | string): Promise<bigint> {
  return ethers.provider.getBalance(typeof account === "string" ? account : await account.getAddress());
}

// ---- Tickets ----

const TICKET_SENDER_KEY = "0x" + "5e".repeat(32);

/** A winning ticket of `faceValue` from the holder of `senderKey` to `recipient`, created in the current round. */
async function winningTicket(s: Suite, senderKey: string, recipient: string, faceValue: bigint, rand = 7n) {
  const creationRound = await s.rounds.currentRound();
  const domain = { chainId: s.domain.chainId, verifyingContract: await s.ticketBroker.getAddress() };
  const [{ ticket, sig }] = new TicketSender({ privateKey: senderKey, domain }).createTickets(
    {
      recipient,
      faceValue,
      winProb: MAX_WIN_PROB,
      recipientRandHash: recipientRandHash(rand),
      seed: ZeroHash,
      expirationBlock: MaxUint256,
      creationRound,
      creationRoundBlockHash: await s.rounds.blockHashForRound(creationRound),
    },
    1,
  );
  return { ticket, sig, rand };
}

// ---- Fixtures ----

/** The real suite (`disputeBase`) and a contract attacker holding LPT and ETH, which nothing has armed yet. */
async function base() {
  const s = await disputeBase();
  const attacker = await deployReceiver();
  const attackerAddress = getAddress(await attacker.getAddress());
  await setBalance(attackerAddress, ETH("100"));
  await s.token.transfer(attackerAddress, STAKE * 2n);
  await actAs(attacker, s.token, "approve", [await s.bm.getAddress(), MaxUint256]);
  await actAs(attacker, s.token, "approve", [await s.dm.getAddress(), MaxUint256]);
  return { ...s, attacker, attackerAddress };
}

/**
 * The attacker is an active orchestrator that keeps all its fees and has earned ATTACKER_FEES; the EOA
 * `orchestrator` keeps all its fees too and has earned ORCHESTRATOR_FEES; both were paid by the EOA `ticketSender`
 * from its deposit. The attacker is also a sender whose ATTACKER_FUNDS are unlocked and withdrawable now.
 */
async function withFees() {
  const s = await base();
  await actAs(s.attacker, s.bm, "bond", [STAKE, s.attackerAddress]);
  await actAs(s.attacker, s.bm, "transcoder", [0n, 0n]);
  await s.bm.connect(s.orchestrator).transcoder(0n, 0n);
  await startNextRound(s.rounds);

  const ticketSender = new Wallet(TICKET_SENDER_KEY, ethers.provider);
  await setBalance(ticketSender.address, ETH("100"));
  await s.ticketBroker
    .connect(ticketSender)
    .fundDepositAndReserve(SENDER_DEPOSIT, SENDER_RESERVE, { value: SENDER_DEPOSIT + SENDER_RESERVE });
  const toAttacker = await winningTicket(s, TICKET_SENDER_KEY, s.attackerAddress, ATTACKER_FEES);
  await actAs(s.attacker, s.ticketBroker, "redeemWinningTicket", [toAttacker.ticket, toAttacker.sig, toAttacker.rand]);
  const toOrchestrator = await winningTicket(s, TICKET_SENDER_KEY, s.orchestrator.address, ORCHESTRATOR_FEES);
  await s.ticketBroker
    .connect(s.orchestrator)
    .redeemWinningTicket(toOrchestrator.ticket, toOrchestrator.sig, toOrchestrator.rand);

  await actAs(
    s.attacker,
    s.ticketBroker,
    "fundDepositAndReserve",
    [ATTACKER_DEPOSIT, ATTACKER_RESERVE],
    ATTACKER_FUNDS,
  );
  await actAs(s.attacker, s.ticketBroker, "unlock");
  for (let i = 0n; i < (await s.ticketBroker.unlockPeriod()); i++) await startNextRound(s.rounds);
  const senders = [ticketSender.address, s.attackerAddress];
  const earners = [s.attackerAddress, s.orchestrator.address, s.otherOrchestrator.address, s.delegator.address];
  return { ...s, ticketSender, owes: () => minterOwes(s, senders, earners) };
}

type Fees = Awaited<ReturnType<typeof withFees>>;

async function expectMinterCustody(s: Fees): Promise<void> {
  expect(await ethOf(s.minter), "Minter ETH vs deposits + reserves + fees").to.equal(await s.owes());
}

async function feesOf(s: Suite, account: string): Promise<bigint> {
  return s.bondingManager.pendingFees(account, await s.rounds.currentRound());
}

/**
 * The attacker is the broadcaster of disputes 1 and 2 (segments 0 and 1) against `orchestrator`. Nobody verifies,
 * so both committees are empty and both disputes are resolvable now, with no quorum: each bond goes back to the
 * attacker.
 */
async function withBondDisputes() {
  const s = await base();
  for (const seq of [0n, 1n]) {
    const receipt = receiptOf(s, { broadcaster: s.attackerAddress, seq });
    await actAs(s.attacker, s.dm, "openDispute", [receipt, sign(s, receipt), EVIDENCE], s.bond);
  }
  await mine(1);
  await s.dm.drawCommittee(1n);
  await s.dm.drawCommittee(2n);
  const owes = () => disputeManagerOwes(s, [s.attackerAddress]);
  return { ...s, owes };
}

/**
 * `withBondDisputes` after dispute 1 was resolved while the attacker tried to resolve dispute 2 from inside the bond
 * push: that cannot run on 30,000 gas, so the push failed and bond 1 waits in `payouts`. Dispute 2 is still
 * resolvable; the attacker is no longer armed.
 */
async function withParkedBond() {
  const s = await withBondDisputes();
  await arm(s.attacker, s.dm, "resolve", [2n]);
  await s.dm.connect(s.stranger).resolve(1n);
  await disarm(s.attacker);
  return s;
}

/**
 * `base` with three verifiers (100, 200, 300 LPT) and a dispute opened by the attacker against `orchestrator`, its
 * committee (all three) having voted Fault, in the round just initialized after the reveal: resolvable now.
 */
async function withVerifiersAndAttackerDispute() {
  const s = await base();
  const verifiers = verifierWallets("verifier", 3);
  await registerVerifiers(s, verifiers, VERIFIER_STAKES);
  await startNextRound(s.rounds);
  const receipt = receiptOf(s, { broadcaster: s.attackerAddress });
  await actAs(s.attacker, s.dm, "openDispute", [receipt, sign(s, receipt), EVIDENCE], s.bond);
  const disputeId = await s.dm.disputeCount();
  await mine(1);
  await s.dm.drawCommittee(disputeId);
  const [members] = await s.dm.getCommittee(disputeId);
  await vote(s, disputeId, verifiers, new Map<string, VoteValue>(members.map((member) => [member, Vote.Fault])));
  await pastReveal(s, disputeId);
  await ensureRoundInitialized(s);
  return {
    ...s,
    disputeId,
    owes: () => disputeManagerOwes(s, [s.attackerAddress]),
    staked: () => verifierStakes(s, [...verifiers.map((v) => v.address), s.attackerAddress]),
  };
}

describe("Reentrancy: every ETH and LPT transfer to a user-chosen address", () => {
  // ---------------------------------------------------------------------------------------------------------------
  describe("TicketBroker.withdraw (ETH from the Minter, all gas, to the sender)", () => {
    it("pays the sender once: a re-entrant withdraw reverts with NoUnlockInProgress", async () => {
      const s = await loadFixture(withFees);
      await arm(s.attacker, s.ticketBroker, "withdraw");
      const tx = await actAs(s.attacker, s.ticketBroker, "withdraw");
      await expect(tx).to.changeEtherBalances([s.attacker, s.minter], [ATTACKER_FUNDS, -ATTACKER_FUNDS]);
      expectReentryReverted(s.attacker, await mined(tx), s.ticketBroker, "NoUnlockInProgress", [s.attackerAddress]);
      await expectMinterCustody(s);
    });

    it("clears the sender's funds before the ETH leaves: getSenderInfo reads zero from inside the transfer", async () => {
      const s = await loadFixture(withFees);
      await arm(s.attacker, s.ticketBroker, "getSenderInfo", [s.attackerAddress]);
      const receipt = await mined(await actAs(s.attacker, s.ticketBroker, "withdraw"));
      const [sender, reserve] = s.ticketBroker.interface.decodeFunctionResult(
        "getSenderInfo",
        succeededReentry(s.attacker, receipt),
      );
      expect([sender.deposit, sender.withdrawRound, reserve.fundsRemaining]).to.deep.equal([0n, 0n, 0n]);
    });

    it("keeps a deposit funded from inside the transfer: it survives the withdrawal and is backed", async () => {
      const s = await loadFixture(withFees);
      const refund = ETH("0.25");
      await arm(s.attacker, s.ticketBroker, "fundDeposit", [], { value: refund });
      const tx = await actAs(s.attacker, s.ticketBroker, "withdraw");
      await expect(tx).to.changeEtherBalances(
        [s.attacker, s.minter],
        [ATTACKER_FUNDS - refund, -(ATTACKER_FUNDS - refund)],
      );
      succeededReentry(s.attacker, await mined(tx));
      const [sender, reserve] = await s.ticketBroker.getSenderInfo(s.attackerAddress);
      expect([sender.deposit, sender.withdrawRound, reserve.fundsRemaining]).to.deep.equal([refund, 0n, 0n]);
      await expectMinterCustody(s);
    });

    it("lets a re-entrant withdrawFees take no more than the caller's fees (InsufficientFees)", async () => {
      const s = await loadFixture(withFees);
      await arm(s.attacker, s.bm, "withdrawFees", [s.attackerAddress, ATTACKER_FEES + 1n]);
      const tx = await actAs(s.attacker, s.ticketBroker, "withdraw");
      await expect(tx).to.changeEtherBalances([s.attacker, s.minter], [ATTACKER_FUNDS, -ATTACKER_FUNDS]);
      expectReentryReverted(s.attacker, await mined(tx), s.bm, "InsufficientFees", [ATTACKER_FEES + 1n, ATTACKER_FEES]);
      expect(await feesOf(s, s.attackerAddress)).to.equal(ATTACKER_FEES);
      await expectMinterCustody(s);
    });

    it("lets a re-entrant withdrawFees take exactly the caller's fees: funds + fees leave, nothing else", async () => {
      const s = await loadFixture(withFees);
      await arm(s.attacker, s.bm, "withdrawFees", [s.attackerAddress, ATTACKER_FEES]);
      const tx = await actAs(s.attacker, s.ticketBroker, "withdraw");
      const paid = ATTACKER_FUNDS + ATTACKER_FEES;
      await expect(tx).to.changeEtherBalances([s.attacker, s.minter], [paid, -paid]);
      succeededReentry(s.attacker, await mined(tx));
      expect(await feesOf(s, s.attackerAddress)).to.equal(0n);
      expect(await feesOf(s, s.orchestrator.address)).to.equal(ORCHESTRATOR_FEES);
      await expectMinterCustody(s);
    });

    it("stops a sender with code (EIP-7702) from paying its own ticket with the deposit being withdrawn (NothingToPay)", async () => {
      const s = await loadFixture(base);
      // An orchestrator that is also a sender, so it can sign tickets to itself; it unlocks and waits.
      const selfDealer = keyedWallet("self-dealer");
      await setBalance(selfDealer.address, ETH("100"));
      await s.token.transfer(selfDealer.address, STAKE);
      await s.token.connect(selfDealer).approve(await s.bm.getAddress(), MaxUint256);
      await s.bm.connect(selfDealer).bond(STAKE, selfDealer.address);
      await s.bm.connect(selfDealer).transcoder(0n, 0n);
      await s.ticketBroker.connect(selfDealer).fundDeposit({ value: ATTACKER_DEPOSIT });
      await s.ticketBroker.connect(selfDealer).unlock();
      const attacker = await withReceiverCode(selfDealer);
      for (let i = 0n; i < (await s.ticketBroker.unlockPeriod()); i++) await startNextRound(s.rounds);
      expect(await s.bm.isActiveTranscoder(selfDealer.address)).to.equal(true);

      const own = await winningTicket(s, selfDealer.privateKey, selfDealer.address, ATTACKER_DEPOSIT);
      await arm(attacker, s.ticketBroker, "redeemWinningTicket", [own.ticket, own.sig, own.rand]);
      const tx = await s.ticketBroker.connect(selfDealer).withdraw();
      await expect(tx).to.changeEtherBalances([selfDealer, s.minter], [ATTACKER_DEPOSIT, -ATTACKER_DEPOSIT]);
      expectReentryReverted(attacker, await mined(tx), s.ticketBroker, "NothingToPay", [
        selfDealer.address,
        selfDealer.address,
      ]);
      expect(await s.ticketBroker.usedTickets(await s.ticketBroker.getTicketHash(own.ticket))).to.equal(false);
      expect(await feesOf(s, selfDealer.address)).to.equal(0n);

      // Control: only the emptied deposit stopped it. Funded again, the same ticket pays.
      await s.ticketBroker.connect(selfDealer).fundDeposit({ value: ATTACKER_DEPOSIT });
      await s.ticketBroker.connect(selfDealer).redeemWinningTicket(own.ticket, own.sig, own.rand);
      expect(await feesOf(s, selfDealer.address)).to.equal(ATTACKER_DEPOSIT);
      expect(await ethOf(s.minter)).to.equal(await minterOwes(s, [selfDealer.address], [selfDealer.address]));
    });
  });

  // ---------------------------------------------------------------------------------------------------------------
  describe("BondingManager.withdrawFees (ETH from the Minter, all gas, to any recipient)", () => {
    const part = ETH("0.6");

    it("pays the amount once: a re-entrant withdrawFees for more than is left reverts with InsufficientFees", async () => {
      const s = await loadFixture(withFees);
      await arm(s.attacker, s.bm, "withdrawFees", [s.attackerAddress, part]);
      const tx = await actAs(s.attacker, s.bm, "withdrawFees", [s.attackerAddress, part]);
      await expect(tx).to.changeEtherBalances([s.attacker, s.minter], [part, -part]);
      expectReentryReverted(s.attacker, await mined(tx), s.bm, "InsufficientFees", [part, ATTACKER_FEES - part]);
      expect(await feesOf(s, s.attackerAddress)).to.equal(ATTACKER_FEES - part);
      await expectMinterCustody(s);
    });

    it("lets a re-entrant withdrawFees take what is left, and the total is the fees owed", async () => {
      const s = await loadFixture(withFees);
      await arm(s.attacker, s.bm, "withdrawFees", [s.attackerAddress, ATTACKER_FEES - part]);
      const tx = await actAs(s.attacker, s.bm, "withdrawFees", [s.attackerAddress, part]);
      await expect(tx).to.changeEtherBalances([s.attacker, s.minter], [ATTACKER_FEES, -ATTACKER_FEES]);
      succeededReentry(s.attacker, await mined(tx));
      expect(await feesOf(s, s.attackerAddress)).to.equal(0n);
      await expectMinterCustody(s);
    });

    it("debits the fees before the ETH leaves: getDelegator reads what is left from inside the transfer", async () => {
      const s = await loadFixture(withFees);
      await arm(s.attacker, s.bm, "getDelegator", [s.attackerAddress]);
      const receipt = await mined(await actAs(s.attacker, s.bm, "withdrawFees", [s.attackerAddress, part]));
      const delegator = s.bm.interface.decodeFunctionResult("getDelegator", succeededReentry(s.attacker, receipt));
      expect(delegator.fees).to.equal(ATTACKER_FEES - part);
    });

    it("lets a recipient chosen by another account draw only on its own fees", async () => {
      const s = await loadFixture(withFees);
      // The orchestrator sends its fees to the attacker, which tries to take more than it has itself.
      await arm(s.attacker, s.bm, "withdrawFees", [s.attackerAddress, ATTACKER_FEES + 1n]);
      const tx = await s.bm.connect(s.orchestrator).withdrawFees(s.attackerAddress, ORCHESTRATOR_FEES);
      await expect(tx).to.changeEtherBalances([s.attacker, s.minter], [ORCHESTRATOR_FEES, -ORCHESTRATOR_FEES]);
      expectReentryReverted(s.attacker, await mined(tx), s.bm, "InsufficientFees", [ATTACKER_FEES + 1n, ATTACKER_FEES]);
      expect(await feesOf(s, s.orchestrator.address)).to.equal(0n);
      expect(await feesOf(s, s.attackerAddress)).to.equal(ATTACKER_FEES);
      await expectMinterCustody(s);
    });

    it("lets a re-entrant TicketBroker.withdraw return the caller's own unlocked funds, and no more", async () => {
      const s = await loadFixture(withFees);
      await arm(s.attacker, s.ticketBroker, "withdraw");
      const tx = await actAs(s.attacker, s.bm, "withdrawFees", [s.attackerAddress, ATTACKER_FEES]);
      const paid = ATTACKER_FEES + ATTACKER_FUNDS;
      await expect(tx).to.changeEtherBalances([s.attacker, s.minter], [paid, -paid]);
      succeededReentry(s.attacker, await mined(tx));
      const [sender] = await s.ticketBroker.getSenderInfo(s.attackerAddress);
      expect(sender.deposit).to.equal(0n);
      expect(await feesOf(s, s.attackerAddress)).to.equal(0n);
      await expectMinterCustody(s);
    });
  });

  // ---------------------------------------------------------------------------------------------------------------
  describe("DisputeManager.resolve: the bond push (ETH, 30,000 gas, to the broadcaster or the orchestrator)", () => {
    it("resolves first: a re-entrant resolve of the same dispute reverts with WrongPhase(Resolved), one bond paid", async () => {
      const s = await loadFixture(withBondDisputes);
      await arm(s.attacker, s.dm, "resolve", [1n]);
      const tx = await s.dm.connect(s.stranger).resolve(1n);
      await expect(tx).to.emit(s.dm, "BondPaid").withArgs(1n, s.attackerAddress, s.bond, true);
      await expect(tx).to.changeEtherBalances([s.attacker, s.dm], [s.bond, -s.bond]);
      expectReentryReverted(s.attacker, await mined(tx), s.dm, "WrongPhase", [1n, Phase.Resolved]);
      expect(await s.dm.payouts(s.attackerAddress)).to.equal(0n);
      expect(await ethOf(s.dm)).to.equal(await s.owes());
    });

    it("cannot be used to resolve another dispute: that runs out of the stipend, and the bond waits in payouts", async () => {
      const s = await loadFixture(withBondDisputes);
      await arm(s.attacker, s.dm, "resolve", [2n]);
      const tx = await s.dm.connect(s.stranger).resolve(1n);
      await expect(tx).to.emit(s.dm, "BondPaid").withArgs(1n, s.attackerAddress, s.bond, false);
      await expect(tx).to.changeEtherBalances([s.attacker, s.dm], [0n, 0n]);
      // The whole callback was rolled back with the failed push: no trace, still armed, dispute 2 untouched.
      expect(callbacksOf(s.attacker, await mined(tx))).to.deep.equal([]);
      expect(await s.attacker.reentriesLeft()).to.equal(1n);
      expect(await s.dm.disputePhase(1n)).to.equal(Phase.Resolved);
      expect(await s.dm.disputePhase(2n)).to.equal(Phase.Resolvable);
      expect(await s.dm.payouts(s.attackerAddress)).to.equal(s.bond);
      expect(await ethOf(s.dm)).to.equal(await s.owes());
    });

    it("lets a re-entrant withdrawPayout, which fits in the stipend, take only the payout already owed", async () => {
      const s = await loadFixture(withParkedBond);
      await arm(s.attacker, s.dm, "withdrawPayout");
      const tx = await s.dm.connect(s.stranger).resolve(2n);
      // 30,000 gas is no reentrancy guard: withdrawPayout runs inside the push. It pays bond 1, which was owed, and
      // the push pays bond 2: two bonds in all, none parked, the DisputeManager empty.
      await expect(tx).to.emit(s.dm, "BondPaid").withArgs(2n, s.attackerAddress, s.bond, true);
      await expect(tx).to.emit(s.dm, "PayoutWithdrawn").withArgs(s.attackerAddress, s.bond);
      await expect(tx).to.changeEtherBalances([s.attacker, s.dm], [2n * s.bond, -2n * s.bond]);
      succeededReentry(s.attacker, await mined(tx));
      expect(await s.dm.payouts(s.attackerAddress)).to.equal(0n);
      expect(await ethOf(s.dm)).to.equal(0n);
      expect(await s.owes()).to.equal(0n);
    });

    it("pays an orchestrator with code (EIP-7702) once: its re-entrant resolve reverts with WrongPhase(Resolved)", async () => {
      const s = await loadFixture(withCommittee);
      const attacker = await withReceiverCode(s.orchestrator);
      await arm(attacker, s.dm, "resolve", [s.disputeId]);
      const votes = new Map<string, VoteValue>(s.members.map((member) => [member, Vote.NoFault]));
      await vote(s, s.disputeId, s.verifiers, votes);
      await pastReveal(s, s.disputeId);
      const tx = await s.dm.connect(s.stranger).resolve(s.disputeId);
      await expect(tx)
        .to.emit(s.dm, "DisputeResolved")
        .withArgs(s.disputeId, Outcome.NoFault, 0n, LPT(600), 3n)
        .and.to.emit(s.dm, "BondPaid")
        .withArgs(s.disputeId, s.orchestrator.address, s.bond, true);
      await expect(tx).to.changeEtherBalances([s.orchestrator, s.dm], [s.bond, -s.bond]);
      expectReentryReverted(attacker, await mined(tx), s.dm, "WrongPhase", [s.disputeId, Phase.Resolved]);
      expect(await ethOf(s.dm)).to.equal(await disputeManagerOwes(s, [s.orchestrator.address, s.broadcaster.address]));
    });
  });

  // ---------------------------------------------------------------------------------------------------------------
  describe("DisputeManager.withdrawPayout (ETH, all gas, to the payee)", () => {
    it("pays once: a re-entrant withdrawPayout reverts with NothingToWithdraw", async () => {
      const s = await loadFixture(withParkedBond);
      await arm(s.attacker, s.dm, "withdrawPayout");
      const tx = await actAs(s.attacker, s.dm, "withdrawPayout");
      await expect(tx).to.changeEtherBalances([s.attacker, s.dm], [s.bond, -s.bond]);
      expectReentryReverted(s.attacker, await mined(tx), s.dm, "NothingToWithdraw", [s.attackerAddress]);
      expect(await s.dm.payouts(s.attackerAddress)).to.equal(0n);
      expect(await ethOf(s.dm)).to.equal(await s.owes());
    });

    it("zeroes the payout before the ETH leaves: payouts reads zero from inside the transfer", async () => {
      const s = await loadFixture(withParkedBond);
      await arm(s.attacker, s.dm, "payouts", [s.attackerAddress]);
      const receipt = await mined(await actAs(s.attacker, s.dm, "withdrawPayout"));
      const [owed] = s.dm.interface.decodeFunctionResult("payouts", succeededReentry(s.attacker, receipt));
      expect(owed).to.equal(0n);
    });

    it("lets a re-entrant resolve of another dispute pay that bond too, and nothing more", async () => {
      const s = await loadFixture(withParkedBond);
      await arm(s.attacker, s.dm, "resolve", [2n]);
      const tx = await actAs(s.attacker, s.dm, "withdrawPayout");
      // Bond 1 from payouts, bond 2 pushed by the nested resolution (the attacker is disarmed by then).
      await expect(tx).to.changeEtherBalances([s.attacker, s.dm], [2n * s.bond, -2n * s.bond]);
      await expect(tx).to.emit(s.dm, "BondPaid").withArgs(2n, s.attackerAddress, s.bond, true);
      succeededReentry(s.attacker, await mined(tx));
      expect(await s.dm.payouts(s.attackerAddress)).to.equal(0n);
      expect(await ethOf(s.dm)).to.equal(0n);
      expect(await s.owes()).to.equal(0n);
    });
  });

  // ---------------------------------------------------------------------------------------------------------------
  describe("LPT leaves without calling the recipient", () => {
    it("LivepeerToken is ERC-20 + ERC-2612 permit + burn + Minter-only mint: no transfer hook in its interface", async () => {
      const { token } = await loadFixture(base);
      const functions: string[] = [];
      token.interface.forEachFunction((fragment) => functions.push(fragment.name));
      expect(functions).to.have.members([
        // ERC-20
        "name",
        "symbol",
        "decimals",
        "totalSupply",
        "balanceOf",
        "allowance",
        "transfer",
        "transferFrom",
        "approve",
        // ERC-2612 and its EIP-712 domain (ERC-5267)
        "permit",
        "nonces",
        "DOMAIN_SEPARATOR",
        "eip712Domain",
        // ERC20Burnable, and the Minter's mint
        "burn",
        "burnFrom",
        "mint",
      ]);
    });

    it("BondingManager.withdrawStake: the delegator contract gets its LPT and no call", async () => {
      const s = await loadFixture(base);
      await actAs(s.attacker, s.bm, "bond", [STAKE, s.orchestrator.address]);
      await startNextRound(s.rounds);
      await actAs(s.attacker, s.bm, "unbond", [STAKE]);
      for (let i = 0n; i < (await s.bm.unbondingPeriod()); i++) await startNextRound(s.rounds);
      await arm(s.attacker, s.bm, "withdrawStake", [0n]);
      const tx = await actAs(s.attacker, s.bm, "withdrawStake", [0n]);
      await expect(tx).to.changeTokenBalances(s.token, [s.attacker, s.minter], [STAKE, -STAKE]);
      expect(callbacksOf(s.attacker, await mined(tx))).to.deep.equal([]);
      expect(await s.attacker.reentriesLeft()).to.equal(1n);
      expect((await s.bm.getUnbondingLock(s.attackerAddress, 0n)).amount).to.equal(0n);
      await expect(actAs(s.attacker, s.bm, "withdrawStake", [0n]))
        .to.be.revertedWithCustomError(s.bm, "UnbondingLockNotFound")
        .withArgs(s.attackerAddress, 0n);
    });

    it("DisputeManager.withdrawVerifierStake: the verifier contract gets its LPT and no call", async () => {
      const s = await loadFixture(base);
      await actAs(s.attacker, s.dm, "registerVerifier", [STAKE]);
      await actAs(s.attacker, s.dm, "deregisterVerifier");
      for (let i = 0n; i < (await s.dm.verifierUnlockPeriod()); i++) await startNextRound(s.rounds);
      expect(await s.token.balanceOf(s.dm)).to.equal(await verifierStakes(s, [s.attackerAddress]));
      await arm(s.attacker, s.dm, "withdrawVerifierStake");
      const tx = await actAs(s.attacker, s.dm, "withdrawVerifierStake");
      await expect(tx).to.changeTokenBalances(s.token, [s.attacker, s.dm], [STAKE, -STAKE]);
      expect(callbacksOf(s.attacker, await mined(tx))).to.deep.equal([]);
      expect(await s.attacker.reentriesLeft()).to.equal(1n);
      expect(await verifierStakes(s, [s.attackerAddress])).to.equal(0n);
      expect(await s.token.balanceOf(s.dm)).to.equal(0n);
    });

    it("slashTranscoder's finder fee (proveEquivocation): the prover contract gets its fee and no call", async () => {
      const s = await loadFixture(base);
      const a = receiptOf(s, { outputsHash: word("outputs-a") });
      const b = receiptOf(s, { outputsHash: word("outputs-b") });
      const proof = [a, sign(s, a), b, sign(s, b)];
      await arm(s.attacker, s.dm, "proveEquivocation", proof);
      const penalty = (ORCHESTRATOR_STAKE * (await s.dm.faultSlashAmount())) / PERC;
      const finderFee = (penalty * (await s.dm.finderFee())) / PERC;
      const supply = await s.token.totalSupply();
      const tx = await actAs(s.attacker, s.dm, "proveEquivocation", proof);
      await expect(tx)
        .to.emit(s.bm, "TranscoderSlashed")
        .withArgs(s.orchestrator.address, s.attackerAddress, penalty, finderFee);
      await expect(tx).to.changeTokenBalances(s.token, [s.attacker, s.minter], [finderFee, -penalty]);
      expect(await s.token.totalSupply()).to.equal(supply - (penalty - finderFee));
      expect(callbacksOf(s.attacker, await mined(tx))).to.deep.equal([]);
      expect(await s.attacker.reentriesLeft()).to.equal(1n);
    });

    it("slashTranscoder's finder fee (resolve, Fault): the broadcaster contract is called once, for the bond only", async () => {
      const s = await loadFixture(withVerifiersAndAttackerDispute);
      await arm(s.attacker, s.dm, "resolve", [s.disputeId]);
      const penalty = (ORCHESTRATOR_STAKE * (await s.dm.faultSlashAmount())) / PERC;
      const finderFee = (penalty * (await s.dm.finderFee())) / PERC;
      const tx = await s.dm.connect(s.stranger).resolve(s.disputeId);
      await expect(tx).to.emit(s.dm, "DisputeResolved").withArgs(s.disputeId, Outcome.Fault, LPT(600), 0n, 3n);
      await expect(tx).to.changeTokenBalances(s.token, [s.attacker, s.minter], [finderFee, -penalty]);
      await expect(tx).to.changeEtherBalances([s.attacker, s.dm], [s.bond, -s.bond]);
      const receipt = await mined(tx);
      // One callback: the ETH of the bond (no selector). The LPT arrived before it without any.
      expect(callbacksOf(s.attacker, receipt)).to.deep.equal([{ selector: "0x00000000", value: s.bond }]);
      expectReentryReverted(s.attacker, receipt, s.dm, "WrongPhase", [s.disputeId, Phase.Resolved]);
      expect(await ethOf(s.dm)).to.equal(await s.owes());
      expect(await s.token.balanceOf(s.dm)).to.equal(await s.staked());
    });
  });

  // ---------------------------------------------------------------------------------------------------------------
  describe("Minter.migrateToNewMinter (ETH and LPT, all gas, to the new Minter the owner names while paused)", () => {
    async function withNewMinter() {
      const s = await loadFixture(withFees);
      const newMinter = await (await ethers.getContractFactory("ReentrantMinter")).deploy(s.controller);
      await s.controller.pause();
      // The same contract seen through its ReentrantReceiver interface, for the helpers.
      const attacker = await ethers.getContractAt("ReentrantReceiver", await newMinter.getAddress());
      return { ...s, newMinter, attacker, tokens: await s.token.balanceOf(s.minter), eth: await ethOf(s.minter) };
    }

    it("moves everything once: a re-entrant migrateToNewMinter reverts with CallerNotControllerOwner", async () => {
      const s = await withNewMinter();
      await arm(s.attacker, s.minter, "migrateToNewMinter", [await s.newMinter.getAddress()]);
      const tx = await s.minter.migrateToNewMinter(s.newMinter);
      await expect(tx).to.changeEtherBalances([s.newMinter, s.minter], [s.eth, -s.eth]);
      await expect(tx).to.changeTokenBalances(s.token, [s.newMinter, s.minter], [s.tokens, -s.tokens]);
      const receipt = await mined(tx);
      expectReentryReverted(s.attacker, receipt, s.minter, "CallerNotControllerOwner", [
        await s.newMinter.getAddress(),
      ]);
      // One callback, for depositETH and its ETH; the LPT came without one.
      const depositETH = s.minter.interface.getFunction("depositETH")!.selector;
      expect(callbacksOf(s.attacker, receipt)).to.deep.equal([{ selector: depositETH, value: s.eth }]);
    });

    it("keeps the rest of the system still: a re-entrant trustedWithdrawETH reverts with SystemIsPaused", async () => {
      const s = await withNewMinter();
      await arm(s.attacker, s.minter, "trustedWithdrawETH", [await s.newMinter.getAddress(), 1n]);
      const tx = await s.minter.migrateToNewMinter(s.newMinter);
      await expect(tx).to.changeEtherBalances([s.newMinter, s.minter], [s.eth, -s.eth]);
      expectReentryReverted(s.attacker, await mined(tx), s.minter, "SystemIsPaused", []);
    });
  });
});
