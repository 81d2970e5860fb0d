import { expect } from "chai";
import fc from "fast-check";
import hre from "hardhat";
import { AbiCoder, type ErrorFragment, Interface, ZeroAddress, getAddress, id, parseEther } from "ethers";

import {
  InputError,
  formatEth,
  formatLpt,
  formatPercent,
  formatTokens,
  parseAddress,
  parseLockId,
  parsePercent,
  parseTokenAmount,
  pickAccount,
} from "../../scripts/lib/bonding/amounts";
import {
  decodeRevert,
  describeFailure,
  describeRevert,
  errorInterface,
  formatRevert,
  revertDataOf,
} from "../../scripts/lib/bonding/errors";
import {
  type Pool,
  type PoolMember,
  bondHints,
  currentPosition,
  hintFor,
  positionFor,
  withStake,
} from "../../scripts/lib/bonding/hints";
import { IN_POOL_ROUND, type StatusSnapshot, formatStatus } from "../../scripts/lib/bonding/status";
import {
  BondingManager__factory,
  Controller__factory,
  LivepeerToken__factory,
  Minter__factory,
  RoundsManager__factory,
  ServiceRegistry__factory,
  TicketBroker__factory,
} from "../../typechain-types";
import { thrownBy } from "../support/assertions";
import { expectDescribedTasks } from "../support/tasks";

const LPT = { flag: "--amount", unit: "LPT" };
const address = (n: number) => getAddress(`0x${n.toString(16).padStart(40, "0")}`);
const A = address(0xa);
const B = address(0xb);
const C = address(0xc);
const D = address(0xd);
const SELF = address(0xee);

const inputErrorOf = (run: () => unknown): InputError => thrownBy(InputError, run);

describe("bonding tasks: input parsing", () => {
  describe("parseTokenAmount", () => {
    it("parses decimal LPT exactly to wei", () => {
      expect(parseTokenAmount("12.5", LPT)).to.equal(12_500_000_000_000_000_000n);
      expect(parseTokenAmount("1", LPT)).to.equal(10n ** 18n);
      expect(parseTokenAmount("0.000000000000000001", LPT)).to.equal(1n);
      expect(parseTokenAmount("123456789.123456789123456789", LPT)).to.equal(123456789123456789123456789n);
      expect(parseTokenAmount(" 7 ", LPT)).to.equal(7n * 10n ** 18n);
      expect(parseTokenAmount(".5", LPT)).to.equal(parseEther("0.5"));
      expect(parseTokenAmount("5.", LPT)).to.equal(parseEther("5"));
      expect(parseTokenAmount("0010.10", LPT)).to.equal(parseEther("10.1"));
    });

    it("agrees with ethers' parseEther on random decimals", () => {
      fc.assert(
        fc.property(fc.bigInt({ min: 1n, max: 10n ** 30n }), (wei) => {
          const text = formatTokens(wei);
          expect(parseTokenAmount(text, LPT)).to.equal(wei);
          expect(parseTokenAmount(text, LPT)).to.equal(parseEther(text));
        }),
      );
    });

    it("rejects negatives, naming the flag", () => {
      expect(inputErrorOf(() => parseTokenAmount("-1", LPT)).message).to.equal(
        '--amount: "-1" is negative; write an amount of LPT such as 12.5',
      );
    });

    it("rejects more than 18 decimals", () => {
      expect(inputErrorOf(() => parseTokenAmount("1.0000000000000000001", LPT)).message).to.match(
        /^--amount: "1.0000000000000000001" has 19 decimals; LPT has at most 18/,
      );
    });

    for (const garbage of [
      "",
      " ",
      ".",
      "abc",
      "1e18",
      "0x10",
      "1,5",
      "1.2.3",
      "1 000",
      "12.5 LPT",
      "+1",
      "Infinity",
    ]) {
      it(`rejects ${JSON.stringify(garbage)}`, () => {
        expect(inputErrorOf(() => parseTokenAmount(garbage, LPT)).message).to.include("is not an amount of LPT");
      });
    }

    it("rejects zero unless zero is meaningful", () => {
      expect(inputErrorOf(() => parseTokenAmount("0", LPT)).message).to.equal(
        "--amount: the amount must be more than 0 LPT",
      );
      expect(inputErrorOf(() => parseTokenAmount("0.000", { flag: "--amount", unit: "ETH" })).message).to.equal(
        "--amount: the amount must be more than 0 ETH",
      );
      expect(parseTokenAmount("0", { ...LPT, allowZero: true })).to.equal(0n);
    });

    it("rejects amounts beyond uint256", () => {
      expect(inputErrorOf(() => parseTokenAmount("1" + "0".repeat(60), LPT)).message).to.include("too large");
    });
  });

  describe("parsePercent", () => {
    it("converts percentages exactly to ppm", () => {
      expect(parsePercent("10", "--reward-cut")).to.equal(100_000n);
      expect(parsePercent("12.5", "--reward-cut")).to.equal(125_000n);
      expect(parsePercent("12.5%", "--reward-cut")).to.equal(125_000n);
      expect(parsePercent(" 12.5 % ", "--reward-cut")).to.equal(125_000n);
      expect(parsePercent("0", "--fee-share")).to.equal(0n);
      expect(parsePercent("100", "--fee-share")).to.equal(1_000_000n);
      expect(parsePercent("0.0001", "--fee-share")).to.equal(1n);
      expect(parsePercent("33.3333", "--fee-share")).to.equal(333_333n);
    });

    it("round-trips through formatPercent for every 4-decimal value", () => {
      fc.assert(
        fc.property(fc.bigInt({ min: 0n, max: 1_000_000n }), (ppm) => {
          expect(parsePercent(formatPercent(ppm), "--fee-share")).to.equal(ppm);
        }),
      );
    });

    it("rejects more than 100%, more than 4 decimals, negatives and garbage", () => {
      expect(inputErrorOf(() => parsePercent("100.0001", "--reward-cut")).message).to.equal(
        '--reward-cut: "100.0001" is more than 100%',
      );
      expect(inputErrorOf(() => parsePercent("12.34567", "--reward-cut")).message).to.match(
        /^--reward-cut: "12.34567" has 5 decimals; percentages have at most 4/,
      );
      expect(inputErrorOf(() => parsePercent("-5", "--fee-share")).message).to.include("is negative");
      for (const garbage of ["", "%", "ten", "1e2", "0.5.5", "50%%"]) {
        expect(inputErrorOf(() => parsePercent(garbage, "--fee-share")).message).to.include("is not a percentage");
      }
    });
  });

  describe("lock ids, addresses and --from", () => {
    it("parses lock ids as whole numbers in 32 bits", () => {
      expect(parseLockId("0")).to.equal(0n);
      expect(parseLockId("4294967295")).to.equal(4294967295n);
      for (const bad of ["-1", "1.5", "x", "", "4294967296"]) {
        expect(inputErrorOf(() => parseLockId(bad)).message).to.match(/^--lock: .* is not an unbonding lock id/);
      }
    });

    it("checksums addresses and rejects others", () => {
      expect(parseAddress(A.toLowerCase(), "--to")).to.equal(A);
      expect(inputErrorOf(() => parseAddress("0x1234", "--to")).message).to.equal(
        '--to: "0x1234" is not an address (0x followed by 40 hex digits)',
      );
    });

    it("picks a signer by index or address, default the first", () => {
      const accounts = [A, B, C];
      expect(pickAccount(accounts, undefined)).to.equal(0);
      expect(pickAccount(accounts, "2")).to.equal(2);
      expect(pickAccount(accounts, B.toLowerCase())).to.equal(1);
      expect(inputErrorOf(() => pickAccount(accounts, "3")).message).to.equal(
        "--from: there is no signer 3; this network has 3 (0 to 2)",
      );
      expect(inputErrorOf(() => pickAccount(accounts, D)).message).to.include("is not one of this network's 3 signers");
      expect(inputErrorOf(() => pickAccount(accounts, "me")).message).to.include(
        "neither a signer index nor an address",
      );
      expect(inputErrorOf(() => pickAccount([], undefined)).message).to.include("no accounts are configured");
    });
  });

  describe("formatting", () => {
    it("formats wei without trailing zeros", () => {
      expect(formatTokens(0n)).to.equal("0");
      expect(formatTokens(10n ** 18n)).to.equal("1");
      expect(formatTokens(12_500_000_000_000_000_000n)).to.equal("12.5");
      expect(formatTokens(1n)).to.equal("0.000000000000000001");
      expect(formatLpt(parseEther("1000"))).to.equal("1000 LPT");
      expect(formatEth(parseEther("0.01"))).to.equal("0.01 ETH");
    });

    it("formats ppm as percentages", () => {
      expect(formatPercent(0n)).to.equal("0%");
      expect(formatPercent(125_000n)).to.equal("12.5%");
      expect(formatPercent(1_000_000n)).to.equal("100%");
      expect(formatPercent(1n)).to.equal("0.0001%");
    });
  });
});

describe("bonding tasks: pool hints", () => {
  const pool = (members: [string, bigint][], maxSize = 100n): Pool => ({
    members: members.map(([member, stake]) => ({ address: member, stake })),
    maxSize,
  });
  const members = pool([
    [A, 300n],
    [B, 200n],
    [C, 100n],
  ]).members;

  describe("positionFor", () => {
    it("puts a newcomer between the last member with at least its stake and the first with less", () => {
      expect(positionFor(members, SELF, 150n)).to.deep.equal({ prev: B, next: C });
      expect(positionFor(members, SELF, 400n)).to.deep.equal({ prev: ZeroAddress, next: A });
      expect(positionFor(members, SELF, 50n)).to.deep.equal({ prev: C, next: ZeroAddress });
      expect(positionFor([], SELF, 50n)).to.deep.equal({ prev: ZeroAddress, next: ZeroAddress });
    });

    it("goes after members with the same stake", () => {
      expect(positionFor(members, SELF, 200n)).to.deep.equal({ prev: B, next: C });
      expect(positionFor(members, SELF, 300n)).to.deep.equal({ prev: A, next: B });
      expect(positionFor(members, SELF, 100n)).to.deep.equal({ prev: C, next: ZeroAddress });
    });

    it("ignores the member's own entry when it moves", () => {
      expect(positionFor(members, B, 350n)).to.deep.equal({ prev: ZeroAddress, next: A });
      expect(positionFor(members, B, 50n)).to.deep.equal({ prev: C, next: ZeroAddress });
      expect(positionFor(members, B.toLowerCase(), 250n)).to.deep.equal({ prev: A, next: C });
      expect(positionFor([{ address: SELF, stake: 5n }], SELF, 10n)).to.deep.equal({
        prev: ZeroAddress,
        next: ZeroAddress,
      });
    });

    it("always yields an order the contract accepts: prev has at least the stake, next has less", () => {
      const sortedPool = fc
        .array(fc.bigInt({ min: 0n, max: 1000n }), { maxLength: 12 })
        .map((stakes) =>
          stakes.sort((x, y) => (x > y ? -1 : x < y ? 1 : 0)).map((stake, i) => ({ address: address(i + 1), stake })),
        );
      fc.assert(
        fc.property(sortedPool, fc.bigInt({ min: 0n, max: 1000n }), fc.nat(13), (list, newStake, pick) => {
          const self = pick < list.length ? list[pick]!.address : SELF;
          const { prev, next } = positionFor(list, self, newStake);
          const others = list.filter((member) => member.address !== self);
          const stakeOf = (member: string) => others.find((other) => other.address === member)!.stake;
          if (prev !== ZeroAddress) expect(stakeOf(prev)).to.be.gte(newStake);
          if (next !== ZeroAddress) expect(stakeOf(next)).to.be.lt(newStake);
          // Adjacent in the list without self, and after every member with an equal stake.
          const prevIndex = prev === ZeroAddress ? -1 : others.findIndex((other) => other.address === prev);
          expect(next === ZeroAddress ? others.length : others.findIndex((other) => other.address === next)).to.equal(
            prevIndex + 1,
          );
          expect(others.slice(prevIndex + 1).every((other) => other.stake < newStake)).to.equal(true);
        }),
      );
    });
  });

  describe("hintFor", () => {
    it("positions a joiner in a pool with room", () => {
      expect(hintFor(pool([[A, 300n]]), SELF, 100n)).to.deep.equal({ prev: A, next: ZeroAddress });
    });

    it("leaves out the member a full pool evicts, and gives no hint when the joiner does not beat it", () => {
      const full = pool(
        [
          [A, 300n],
          [B, 200n],
          [C, 100n],
        ],
        3n,
      );
      expect(hintFor(full, SELF, 150n)).to.deep.equal({ prev: B, next: ZeroAddress });
      expect(hintFor(full, SELF, 100n)).to.deep.equal({ prev: ZeroAddress, next: ZeroAddress });
      expect(hintFor(full, B, 50n)).to.deep.equal({ prev: C, next: ZeroAddress }); // a member just moves
    });
  });

  describe("withStake", () => {
    it("keeps a member in place while it stays in order, and moves it after equals otherwise", () => {
      const start = pool([
        [A, 300n],
        [B, 200n],
        [C, 100n],
      ]);
      const order = (next: Pool) => next.members.map((member: PoolMember) => [member.address, member.stake]);
      expect(order(withStake(start, B, 300n))).to.deep.equal([
        [A, 300n],
        [B, 300n],
        [C, 100n],
      ]);
      expect(order(withStake(start, C, 300n))).to.deep.equal([
        [A, 300n],
        [C, 300n],
        [B, 200n],
      ]);
      expect(order(withStake(start, A, 0n))).to.deep.equal([
        [B, 200n],
        [C, 100n],
        [A, 0n],
      ]);
      expect(withStake(start, SELF, 5n)).to.equal(start);
    });
  });
  describe("bondHints", () => {
    const start = pool([
      [A, 300n],
      [B, 200n],
      [C, 100n],
    ]);

    it("positions only the new delegate when the delegate does not change", () => {
      expect(bondHints({ pool: start, amount: 150n, to: { address: C, stake: 100n } })).to.deep.equal({
        oldDelegate: { prev: ZeroAddress, next: ZeroAddress },
        newDelegate: { prev: A, next: B },
      });
    });

    it("on a change of delegate, positions the new delegate in the pool the old one's loss leaves", () => {
      // A loses 250 (now 50, last); C gains 250 + 10 (now 360, first).
      const hints = bondHints({
        pool: start,
        amount: 10n,
        to: { address: C, stake: 100n },
        from: { address: A, stake: 300n, moved: 250n },
      });
      expect(hints.oldDelegate).to.deep.equal({ prev: C, next: ZeroAddress });
      expect(hints.newDelegate).to.deep.equal({ prev: ZeroAddress, next: B });
    });

    it("places a new delegate after the old one when the old one ends with the same stake", () => {
      // B drops to 150 and stays; C rises to 150 and goes after B.
      const hints = bondHints({
        pool: start,
        amount: 0n,
        to: { address: C, stake: 100n },
        from: { address: B, stake: 200n, moved: 50n },
      });
      expect(hints.oldDelegate).to.deep.equal({ prev: A, next: C });
      expect(hints.newDelegate).to.deep.equal({ prev: B, next: ZeroAddress });
    });

    it("gives no old-delegate hint when the old delegate is not in the pool", () => {
      const hints = bondHints({
        pool: start,
        amount: 0n,
        to: { address: B, stake: 200n },
        from: { address: D, stake: 40n, moved: 40n },
      });
      expect(hints.oldDelegate).to.deep.equal({ prev: ZeroAddress, next: ZeroAddress });
      expect(hints.newDelegate).to.deep.equal({ prev: A, next: C });
    });
  });

  it("currentPosition gives a member's neighbours (the reward hint)", () => {
    const start = pool([
      [A, 300n],
      [B, 200n],
      [C, 100n],
    ]);
    expect(currentPosition(start, B)).to.deep.equal({ prev: A, next: C });
    expect(currentPosition(start, A)).to.deep.equal({ prev: ZeroAddress, next: B });
    expect(currentPosition(start, SELF)).to.deep.equal({ prev: ZeroAddress, next: ZeroAddress });
  });
});

describe("bonding tasks: errors in plain words", () => {
  const errors = errorInterface([
    BondingManager__factory.abi,
    RoundsManager__factory.abi,
    Minter__factory.abi,
    LivepeerToken__factory.abi,
    ServiceRegistry__factory.abi,
    Controller__factory.abi,
    TicketBroker__factory.abi,
  ]);
  const bondingManager = new Interface(BondingManager__factory.abi);
  const token = new Interface(LivepeerToken__factory.abi);
  const context = { network: "localhost" };
  const words = (data: string) => describeFailure({ data }, errors, context);

  it("holds each protocol error once", () => {
    const names = errors.fragments.map((fragment) => (fragment as ErrorFragment).name);
    expect(names.filter((name) => name === "SystemIsPaused")).to.have.length(1);
    // Declared alike by the BondingManager and the TicketBroker: one selector, one entry.
    expect(names.filter((name) => name === "CurrentRoundNotInitialized")).to.have.length(1);
    expect(new Set(names).size).to.equal(names.length);
    expect(names).to.include.members(["CurrentRoundNotInitialized", "RoundAlreadyInitialized", "InsufficientETH"]);
    expect(names).to.include.members(["ERC20InsufficientBalance", "OwnableUnauthorizedAccount"]);
  });

  it("decodes a custom error into its name and arguments", () => {
    const data = bondingManager.encodeErrorResult("InsufficientBondedAmount", [5n, 3n]);
    expect(decodeRevert(data, errors)).to.deep.equal({ name: "InsufficientBondedAmount", args: [5n, 3n] });
  });

  it("CurrentRoundNotInitialized says which command initializes the round", () => {
    expect(words(bondingManager.encodeErrorResult("CurrentRoundNotInitialized", [5n]))).to.equal(
      "round 5 has not been initialized yet: run `npx hardhat initialize-round --network localhost`",
    );
  });

  it("InsufficientBondedAmount gives both amounts in LPT", () => {
    const data = bondingManager.encodeErrorResult("InsufficientBondedAmount", [parseEther("12.5"), parseEther("10")]);
    expect(words(data)).to.equal(
      "cannot unbond 12.5 LPT: only 10 LPT is bonded (rewards earned this round can be unbonded from the next round)",
    );
  });

  it("UnbondingLockNotWithdrawable says from which round the lock can be withdrawn", () => {
    expect(words(bondingManager.encodeErrorResult("UnbondingLockNotWithdrawable", [3n, 7n, 5n]))).to.equal(
      "unbonding lock 3 becomes withdrawable in round 7; it is round 5 (2 rounds to go)",
    );
    expect(words(bondingManager.encodeErrorResult("UnbondingLockNotWithdrawable", [0n, 6n, 5n]))).to.include(
      "(1 round to go)",
    );
  });

  it("words the round lock, inactive orchestrators, repeated rewards and a paused system", () => {
    expect(words(bondingManager.encodeErrorResult("RoundLocked", [4n]))).to.match(
      /^round 4 is in its lock period .* once round 5 has started and is initialized$/,
    );
    expect(words(bondingManager.encodeErrorResult("TranscoderNotActive", [A, 4n]))).to.match(
      new RegExp(`^${A} is not an active orchestrator in round 4`),
    );
    expect(words(bondingManager.encodeErrorResult("RewardAlreadyMinted", [A, 4n]))).to.equal(
      `${A} already minted its reward for round 4; the next one can be minted in round 5`,
    );
    expect(words(bondingManager.encodeErrorResult("SystemIsPaused", []))).to.equal(
      "the protocol is paused by its owner: no state can change until it is unpaused",
    );
  });

  it("words the token's balance and allowance errors in LPT", () => {
    expect(
      words(token.encodeErrorResult("ERC20InsufficientBalance", [A, parseEther("1"), parseEther("2.5")])),
    ).to.equal(`${A} holds 1 LPT, less than the 2.5 LPT needed`);
    expect(words(token.encodeErrorResult("ERC20InsufficientAllowance", [B, 0n, parseEther("3")]))).to.equal(
      `the LPT allowance of ${B} is 0 LPT, less than the 3 LPT needed`,
    );
  });

  it("words fees in ETH and cuts in percent", () => {
    expect(words(bondingManager.encodeErrorResult("InsufficientFees", [parseEther("1"), parseEther("0.25")]))).to.equal(
      "cannot withdraw 1 ETH of fees: only 0.25 ETH can be withdrawn now",
    );
    expect(words(bondingManager.encodeErrorResult("InvalidRewardCut", [1_500_000n]))).to.equal(
      "a reward cut of 150% is more than 100%",
    );
  });

  it("falls back to Name(args) for errors without a sentence", () => {
    expect(words(bondingManager.encodeErrorResult("InvalidNumActiveTranscoders", [3n]))).to.equal(
      "reverted with InvalidNumActiveTranscoders(3)",
    );
    expect(formatRevert({ name: "CallerNotManager", args: [A, id("Minter")] })).to.equal(
      `CallerNotManager(${A}, ${id("Minter")})`,
    );
  });

  it("decodes Error(string) and Panic(uint256)", () => {
    const coder = AbiCoder.defaultAbiCoder();
    expect(words("0x08c379a0" + coder.encode(["string"], ["nope"]).slice(2))).to.equal("reverted: nope");
    expect(words("0x4e487b71" + coder.encode(["uint256"], [0x11]).slice(2))).to.equal(
      "panic: arithmetic overflow or underflow",
    );
  });

  it("says so when no protocol contract declares the error, without dumping the data", () => {
    const foreign = new Interface(["error Mystery(uint256 a)"]).encodeErrorResult("Mystery", [1n]);
    expect(decodeRevert(foreign, errors)).to.equal(undefined);
    expect(words(foreign)).to.equal(
      `the call reverted with an error none of the protocol contracts declares (selector ${foreign.slice(0, 10)})`,
    );
    expect(words("0x")).to.equal("the call reverted without a reason");
  });

  it("finds the revert data wherever providers put it", () => {
    const data = bondingManager.encodeErrorResult("ZeroAmount", []);
    // hardhat's ProviderError: { data: { message, txHash, data } }
    expect(revertDataOf({ code: -32603, data: { message: "VM Exception", data } })).to.equal(data);
    // ethers: { info: { error: { data } } }, and wrapped causes
    expect(revertDataOf({ info: { error: { code: 3, data } } })).to.equal(data);
    expect(revertDataOf(new Error("outer", { cause: { error: { data } } }))).to.equal(data);
    expect(revertDataOf(new Error("no data here"))).to.equal(undefined);
    expect(describeFailure({ parent: { data: { data } } }, errors, context)).to.equal(
      "the amount must be more than zero",
    );
  });

  it("uses the provider's short message, on one line, when there is no revert data", () => {
    const error = Object.assign(new Error("long message\nwith details"), { shortMessage: "insufficient funds" });
    expect(describeFailure(error, errors, context)).to.equal("insufficient funds");
    const hardhatError = new Error(
      "HH108: Cannot connect to the network localhost.\nPlease make sure your node is running",
    );
    expect(describeFailure(hardhatError, errors, context)).to.equal(
      "HH108: Cannot connect to the network localhost. Please make sure your node is running",
    );
  });

  it("describes a decoded error directly, for checks made before sending", () => {
    expect(describeRevert({ name: "NotSelfBonded", args: [A] }, context)).to.match(
      new RegExp(`^${A} is not bonded to itself`),
    );
  });
});

describe("bonding tasks: status output", () => {
  const snapshot = (): StatusSnapshot => ({
    network: "localhost",
    chainId: 31337n,
    blockNumber: 105n,
    round: { number: 5n, initialized: true, locked: false, startBlock: 100n, length: 20n },
    account: {
      address: SELF,
      lptBalance: parseEther("87.5"),
      status: 1,
      bondedAmount: parseEther("12.5"),
      delegate: A,
      pendingStake: parseEther("13.25"),
      pendingFees: parseEther("0.001"),
      startRound: 4n,
      lastClaimRound: 4n,
      unbondingLocks: [
        { id: 0n, amount: parseEther("1"), withdrawRound: 5n },
        { id: 2n, amount: parseEther("2.5"), withdrawRound: 7n },
      ],
    },
    delegate: {
      registered: true,
      rewardCut: 100_000n,
      feeShare: 500_000n,
      lastRewardRound: 5n,
      activationRound: 2n,
      deactivationRound: IN_POOL_ROUND,
      active: true,
      totalStake: parseEther("1012.5"),
      serviceURI: "https://a.example:8935",
    },
    pool: {
      maxSize: 100n,
      members: [
        {
          address: A,
          totalStake: parseEther("1012.5"),
          rewardCut: 100_000n,
          feeShare: 500_000n,
          active: true,
          lastRewardRound: 5n,
        },
        {
          address: B,
          totalStake: parseEther("10"),
          rewardCut: 0n,
          feeShare: 1_000_000n,
          active: false,
          lastRewardRound: 0n,
        },
      ],
    },
  });

  it("prints the round, the account's books, its locks and the pool", () => {
    const text = formatStatus(snapshot()).join("\n");
    expect(text).to.include("round 5: initialized, not locked; started at block 100, 20 blocks per round");
    expect(text).to.include("  status:             Bonded");
    expect(text).to.include("  bonded amount:      12.5 LPT");
    expect(text).to.include(`  delegate:           ${A}`);
    expect(text).to.include("  pending stake:      13.25 LPT");
    expect(text).to.include("  pending fees:       0.001 ETH");
    expect(text).to.include("  delegate rewarded:  yes (round 5)");
    expect(text).to.include("    lock 0: 1 LPT, withdraw round 5, withdrawable now");
    expect(text).to.include("    lock 2: 2.5 LPT, withdraw round 7, not yet withdrawable (2 round(s) to go)");
    expect(text).to.include("pool: 2 of 100 orchestrators");
    expect(text).to.match(new RegExp(`1  ${A}  1012.5 LPT\\s+10%\\s+50%\\s+yes\\s+yes\\s+<- delegate`));
    expect(text).to.match(new RegExp(`2  ${B}  10 LPT\\s+0%\\s+100%\\s+no\\s+no$`, "m"));
    expect(text).not.to.include("orchestrator\n");
  });

  it("adds the account's registration when it is an orchestrator", () => {
    const withOrchestrator = snapshot();
    withOrchestrator.orchestrator = { ...withOrchestrator.delegate!, serviceURI: "", deactivationRound: 9n };
    const lines = formatStatus(withOrchestrator);
    expect(lines).to.include("orchestrator");
    expect(lines).to.include("  reward cut:         10%");
    expect(lines).to.include("  fee share:          50%");
    expect(lines).to.include("  deactivation round: 9");
    expect(lines).to.include("  service URI:        (not set)");
    expect(lines).to.include("  rewarded:           yes (round 5)");
  });

  it("is stable: the same snapshot prints the same lines", () => {
    expect(formatStatus(snapshot())).to.deep.equal(formatStatus(snapshot()));
  });
});

describe("bonding tasks: definitions", () => {
  const tasks = [
    "bond",
    "unbond",
    "rebond",
    "withdraw-stake",
    "claim",
    "withdraw-fees",
    "register",
    "reward",
    "initialize-round",
    "status",
  ];

  it("every task has a description and an optional --from", () => {
    expectDescribedTasks(hre, tasks);
  });

  it("declares the documented parameters", () => {
    const params = (name: string) => Object.keys(hre.tasks[name]!.paramDefinitions).sort();
    expect(params("bond")).to.deep.equal(["amount", "from", "to"]);
    expect(params("rebond")).to.deep.equal(["from", "lock", "to"]);
    expect(params("withdraw-fees")).to.deep.equal(["amount", "from", "recipient"]);
    expect(params("register")).to.deep.equal(["amount", "feeShare", "from", "rewardCut", "serviceUri"]);
    expect(params("status")).to.deep.equal(["account", "from"]);
  });
});
