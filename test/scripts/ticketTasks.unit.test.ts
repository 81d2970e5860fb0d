import { expect } from "chai";
import fc from "fast-check";
import hre from "hardhat";
import { type ErrorFragment, Interface, type ParamType, getAddress, id, parseEther } from "ethers";

import { InputError, formatTokens } from "../../scripts/lib/bonding/amounts";
import { describeFailure, describeRevert, formatRevert } from "../../scripts/lib/bonding/errors";
import { protocolErrors } from "../../scripts/lib/bonding/protocol";
import { fundingCall, parseFunding } from "../../scripts/lib/tickets/funding";
import { type SenderStatusSnapshot, formatSenderStatus, unlockState } from "../../scripts/lib/tickets/status";
import {
  BondingManager__factory,
  IManager__factory,
  ITicketBroker__factory,
  TicketBroker__factory,
} from "../../typechain-types";
import { thrownBy } from "../support/assertions";
import { expectDescribedTasks } from "../support/tasks";

const address = (n: number) => getAddress(`0x${n.toString(16).padStart(40, "0")}`);
const SENDER = address(0x5e);
const RECIPIENT = address(0x7e);
const context = { network: "localhost" };

const inputErrorOf = (run: () => unknown): InputError => thrownBy(InputError, run);

describe("ticket tasks: funding", () => {
  it("parses --deposit and --reserve exactly, either or both", () => {
    expect(parseFunding({ deposit: "1.5", reserve: "0.5" })).to.deep.equal({
      deposit: parseEther("1.5"),
      reserve: parseEther("0.5"),
    });
    expect(parseFunding({ deposit: "0.000000000000000001" })).to.deep.equal({ deposit: 1n, reserve: 0n });
    expect(parseFunding({ reserve: "2" })).to.deep.equal({ deposit: 0n, reserve: parseEther("2") });
  });

  it("refuses neither, zero and garbage, naming the flag", () => {
    expect(inputErrorOf(() => parseFunding({})).message).to.equal(
      "fund: say how much ETH to add with --deposit <ETH>, --reserve <ETH> or both (e.g. --deposit 1.5 --reserve 0.5)",
    );
    expect(inputErrorOf(() => parseFunding({ deposit: "0", reserve: "1" })).message).to.equal(
      "--deposit: the amount must be more than 0 ETH",
    );
    expect(inputErrorOf(() => parseFunding({ reserve: "1e18" })).message).to.equal(
      '--reserve: "1e18" is not an amount of ETH; write a decimal number such as 12.5',
    );
    expect(inputErrorOf(() => parseFunding({ deposit: "-1" })).message).to.include('--deposit: "-1" is negative');
  });

  it("picks the one broker function that takes the funding", () => {
    expect(fundingCall({ deposit: 5n, reserve: 0n })).to.deep.equal({ method: "fundDeposit", args: [], value: 5n });
    expect(fundingCall({ deposit: 0n, reserve: 7n })).to.deep.equal({ method: "fundReserve", args: [], value: 7n });
    expect(fundingCall({ deposit: 5n, reserve: 7n })).to.deep.equal({
      method: "fundDepositAndReserve",
      args: [5n, 7n],
      value: 12n,
    });
  });

  it("always sends exactly what was asked for (what fundDepositAndReserve checks)", () => {
    const amount = fc.bigInt({ min: 0n, max: 10n ** 30n });
    fc.assert(
      fc.property(amount, amount, (deposit, reserve) => {
        fc.pre(deposit + reserve > 0n);
        const funding = parseFunding({
          deposit: deposit === 0n ? undefined : formatTokens(deposit),
          reserve: reserve === 0n ? undefined : formatTokens(reserve),
        });
        expect(funding).to.deep.equal({ deposit, reserve });
        const call = fundingCall(funding);
        expect(call.value).to.equal(deposit + reserve);
        if (call.method === "fundDepositAndReserve") expect(call.args).to.deep.equal([deposit, reserve]);
      }),
    );
  });
});

describe("ticket tasks: sender status", () => {
  const snapshot = (): SenderStatusSnapshot => ({
    network: "localhost",
    chainId: 31337n,
    blockNumber: 105n,
    round: { number: 5n, initialized: true },
    sender: {
      address: SENDER,
      ethBalance: parseEther("9998.25"),
      deposit: parseEther("1.5"),
      reserve: parseEther("0.75"),
      claimedInCurrentRound: parseEther("0.25"),
      withdrawRound: 0n,
    },
    unlockPeriod: 2n,
    poolSize: 3n,
  });
  const lines = (changes: (s: SenderStatusSnapshot) => void = () => {}) => {
    const s = snapshot();
    changes(s);
    return formatSenderStatus(s);
  };

  it("prints the books and the share of the reserve each orchestrator may draw, exactly", () => {
    expect(lines()).to.deep.equal([
      "network localhost (chain 31337), block 105",
      "round 5: initialized",
      "",
      `sender ${SENDER}`,
      "  ETH balance:        9998.25 ETH",
      "  deposit:            1.5 ETH",
      "  reserve:            0.75 ETH (0.25 ETH claimed this round)",
      "  unlock:             none (an unlock takes 2 rounds)",
      "  pool size:          3 active orchestrators this round",
      // (0.75 + 0.25) / 3, rounded down to the wei as the broker does
      "  reserve allowance:  0.333333333333333333 ETH per orchestrator this round (less what it has drawn already)",
    ]);
  });

  it("caps the allowance at the funds remaining, and says 1 orchestrator", () => {
    const out = lines((s) => {
      s.poolSize = 1n;
    });
    expect(out).to.include("  pool size:          1 active orchestrator this round");
    expect(out).to.include(
      "  reserve allowance:  0.75 ETH per orchestrator this round (less what it has drawn already)",
    );
  });

  it("says why the allowance is zero: no pool, no initialized round, a completed unlock", () => {
    expect(lines((s) => (s.poolSize = 0n))).to.include(
      "  reserve allowance:  0 ETH (no orchestrator is active this round)",
    );
    const uninitialized = lines((s) => (s.round.initialized = false));
    expect(uninitialized).to.include("round 5: NOT initialized");
    expect(uninitialized).to.include("  pool size:          3 active orchestrators in the last initialized round");
    expect(uninitialized).to.include(
      "  reserve allowance:  0 ETH (round 5 is not initialized: no ticket pays until it is)",
    );
    const complete = lines((s) => (s.sender.withdrawRound = 5n));
    expect(complete).to.include(
      "  unlock:             complete: withdraw-funds now (since round 5); tickets no longer pay",
    );
    expect(complete).to.include("  reserve allowance:  0 ETH (the unlock is complete: tickets no longer pay)");
  });

  it("counts down an unlock in progress", () => {
    expect(lines((s) => (s.sender.withdrawRound = 7n))).to.include(
      "  unlock:             in progress: withdraw-funds from round 7 (2 rounds to go); tickets pay until then",
    );
    expect(lines((s) => (s.sender.withdrawRound = 6n))).to.include(
      "  unlock:             in progress: withdraw-funds from round 6 (1 round to go); tickets pay until then",
    );
  });

  it("unlockState follows the broker: withdrawable from the withdraw round on", () => {
    expect(unlockState(0n, 5n)).to.deep.equal({ kind: "none" });
    expect(unlockState(7n, 5n)).to.deep.equal({ kind: "pending", withdrawRound: 7n, roundsToGo: 2n });
    expect(unlockState(7n, 7n)).to.deep.equal({ kind: "complete", withdrawRound: 7n });
    expect(unlockState(7n, 9n)).to.deep.equal({ kind: "complete", withdrawRound: 7n });
  });
});

describe("ticket tasks: TicketBroker errors in plain words", () => {
  const errors = protocolErrors(hre);
  const broker = new Interface(TicketBroker__factory.abi);
  const words = (data: string) => describeFailure({ data }, errors, context);
  const errorNames = (abi: Interface) =>
    abi.fragments.filter((fragment): fragment is ErrorFragment => fragment.type === "error").map((f) => f.name);
  const brokerErrors = errorNames(broker);
  /** The errors ITicketBroker declares itself, not those every manager shares (IManager's). */
  const managerErrors = errorNames(new Interface(IManager__factory.abi));
  const own = errorNames(new Interface(ITicketBroker__factory.abi)).filter((name) => !managerErrors.includes(name));

  const sample = (param: ParamType, index: number): unknown => {
    if (param.type === "address") return index === 0 ? SENDER : RECIPIENT;
    if (param.type === "bytes32") return id(`sample ${index}`);
    return BigInt(10 - index);
  };

  it("the task's table holds every protocol error once, the broker's included", () => {
    const fragments = errors.fragments as ErrorFragment[];
    const names = fragments.map((fragment) => fragment.name);
    expect(new Set(names).size).to.equal(names.length);
    expect(new Set(fragments.map((fragment) => fragment.selector)).size).to.equal(fragments.length);
    expect(names).to.include.members(brokerErrors);
    expect(own).to.include.members(["ZeroFunding", "FundsLocked", "CurrentRoundNotInitialized", "NothingToPay"]);
    // Declared alike by both contracts: the same selector, so one entry and one sentence.
    const bondingManager = new Interface(BondingManager__factory.abi);
    expect(bondingManager.getError("CurrentRoundNotInitialized")!.selector).to.equal(
      broker.getError("CurrentRoundNotInitialized")!.selector,
    );
  });

  it("has a sentence for every error the TicketBroker declares, never the Name(args) fallback", () => {
    for (const name of own) {
      const fragment = broker.getError(name)!;
      const data = broker.encodeErrorResult(fragment, fragment.inputs.map(sample));
      const sentence = words(data);
      expect(sentence, name).to.not.match(/^reverted with /);
      expect(sentence, name).to.not.include(name);
      expect(sentence, name).to.not.include("\n");
    }
  });

  it("words the sender errors in ETH and rounds", () => {
    expect(words(broker.encodeErrorResult("FundsLocked", [SENDER, 7n, 5n]))).to.equal(
      `the funds of ${SENDER} unlock in round 7; it is round 5 (2 rounds to go)`,
    );
    expect(words(broker.encodeErrorResult("FundsLocked", [SENDER, 6n, 5n]))).to.include("(1 round to go)");
    expect(
      words(broker.encodeErrorResult("FundingMismatch", [parseEther("2"), parseEther("1.5"), parseEther("0.25")])),
    ).to.equal("2 ETH was sent, not the 1.5 ETH of deposit plus 0.25 ETH of reserve it had to match");
    expect(words(broker.encodeErrorResult("NoFunds", [SENDER]))).to.equal(
      `${SENDER} has no deposit or reserve: ` +
        "fund first with `npx hardhat fund --deposit <ETH> --reserve <ETH> --network localhost`",
    );
    expect(words(broker.encodeErrorResult("UnlockInProgress", [SENDER, 7n]))).to.equal(
      `${SENDER} has already unlocked its funds; they can be withdrawn from round 7 ` +
        "(`npx hardhat cancel-unlock --network localhost` cancels the unlock)",
    );
    expect(words(broker.encodeErrorResult("NoUnlockInProgress", [SENDER]))).to.equal(
      `${SENDER} has no unlock in progress: ` +
        "start one with `npx hardhat unlock-funds --network localhost`, then withdraw when it is over",
    );
    expect(words(broker.encodeErrorResult("ZeroFunding", []))).to.equal(
      "funding needs ETH: the amount must be more than zero",
    );
  });

  it("words the redemption errors", () => {
    expect(words(broker.encodeErrorResult("TicketExpired", [3n, 5n]))).to.equal(
      "the ticket was created in round 3 and could be redeemed only before round 5: it has expired",
    );
    expect(words(broker.encodeErrorResult("SenderUnlocked", [SENDER, 7n]))).to.match(
      new RegExp(`^${SENDER} unlocked its funds, withdrawable since round 7: its tickets no longer pay`),
    );
    expect(words(broker.encodeErrorResult("NothingToPay", [SENDER, RECIPIENT]))).to.match(
      new RegExp(`^${SENDER} can pay ${RECIPIENT} nothing now: its deposit is empty`),
    );
    expect(words(broker.encodeErrorResult("TicketNotWinning", []))).to.equal(
      "the ticket did not win: only winning tickets can be redeemed",
    );
    expect(words(broker.encodeErrorResult("BatchLengthMismatch", [3n, 2n, 3n]))).to.equal(
      "the batch has 3 tickets, 2 signatures and 3 recipient rands: it needs one of each per ticket",
    );
  });

  it("one sentence for the error the BondingManager and the TicketBroker both declare", () => {
    expect(words(broker.encodeErrorResult("CurrentRoundNotInitialized", [5n]))).to.equal(
      "round 5 has not been initialized yet: run `npx hardhat initialize-round --network localhost`",
    );
    expect(describeRevert({ name: "CallerNotRecipient", args: [SENDER, RECIPIENT] }, context)).to.equal(
      `${SENDER} cannot redeem a ticket that pays ${RECIPIENT}: only a ticket's recipient may redeem it`,
    );
    expect(formatRevert({ name: "TicketUsed", args: [id("t")] })).to.equal(`TicketUsed(${id("t")})`);
  });
});

describe("ticket tasks: definitions", () => {
  const tasks = ["fund", "unlock-funds", "cancel-unlock", "withdraw-funds", "sender-status"];

  it("every task has a description and an optional --from", () => {
    expectDescribedTasks(hre, tasks, true);
  });

  it("declares the documented parameters", () => {
    const params = (name: string) => Object.keys(hre.tasks[name]!.paramDefinitions).sort();
    expect(params("fund")).to.deep.equal(["deposit", "from", "reserve"]);
    expect(params("unlock-funds")).to.deep.equal(["from"]);
    expect(params("cancel-unlock")).to.deep.equal(["from"]);
    expect(params("withdraw-funds")).to.deep.equal(["from"]);
    expect(params("sender-status")).to.deep.equal(["account", "from"]);
  });
});
