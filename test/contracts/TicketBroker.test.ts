import { expect } from "chai";
import { ethers } from "hardhat";
import {
  AbiCoder,
  MaxUint256,
  TypedDataEncoder,
  Wallet,
  ZeroAddress,
  ZeroHash,
  concat,
  getAddress,
  getBytes,
  hexlify,
  keccak256,
  parseEther,
  toBeHex,
} from "ethers";
import type { Signer } from "ethers";
import { loadFixture, setBalance } from "@nomicfoundation/hardhat-network-helpers";

import { deployedSuite } from "../support/fixtures";
import { mineToHead, mineToNextTxBlock, startNextRound } from "../support/chain";
import {
  MAX_WIN_PROB,
  TICKET_TYPES,
  TicketHasher,
  TicketRecipient,
  TicketSender,
  eip712Domain,
  isWinningTicket,
  recipientRandHash,
  signDigest,
} from "../../offchain/pm";
import type { Ticket, TicketDomain } from "../../offchain/pm";
import type { TicketBroker } from "../../typechain-types";

const UNLOCK_PERIOD = 2n;
const TICKET_VALIDITY_PERIOD = 2n;
const UINT32_MAX = 2n ** 32n - 1n;
const UINT112_MAX = 2n ** 112n - 1n;
const CURVE_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

const STAKE = parseEther("1000");
const REWARD_CUT = 100_000n;
const FEE_SHARE = 500_000n;
/** Far beyond any block these tests reach: the parameters' expiration is an off-chain matter. */
const EXPIRATION_BLOCK = 1_000_000n;

/** The broadcaster: a fixed key, so tickets can be signed off-chain with offchain/pm. */
const SENDER_KEY = "0x" + "a1".repeat(32);
/** Someone else's key, to forge signatures with. */
const OTHER_KEY = "0x" + "b2".repeat(32);
const RECIPIENT_SECRET = new Uint8Array(32).fill(7);

const ETH = (amount: string) => parseEther(amount);

/** `sig` with s replaced by n - s and v flipped: the same signer mathematically, but a high-s (malleated) copy. */
function malleate(sig: string): string {
  const bytes = getBytes(sig);
  const s = BigInt(hexlify(bytes.slice(32, 64)));
  return hexlify(
    concat([bytes.slice(0, 32), toBeHex(CURVE_ORDER - s, 32), new Uint8Array([bytes[64] === 27 ? 28 : 27])]),
  );
}

/** What the ecrecover precompile returns for `digest` and a 65-byte `r || s || v` signature (no low-s rule). */
async function ecrecover(digest: string, sig: string): Promise<string> {
  const bytes = getBytes(sig);
  const input = AbiCoder.defaultAbiCoder().encode(
    ["bytes32", "uint8", "bytes32", "bytes32"],
    [digest, bytes[64], bytes.slice(0, 32), bytes.slice(32, 64)],
  );
  const output = await ethers.provider.call({ to: "0x0000000000000000000000000000000000000001", data: input });
  return getAddress("0x" + output.slice(26));
}

describe("TicketBroker", () => {
  /** The deployed suite in a freshly initialized round; four accounts hold approved LPT; the sender has ETH. */
  async function base() {
    const s = await deployedSuite();
    const signers = await ethers.getSigners();
    const [owner, o1, o2, o3, o4, relayer] = signers;
    const stranger = signers[9];
    const tb = s.ticketBroker;
    const bm = s.bondingManager;
    for (const orchestrator of [o1, o2, o3, o4]) {
      await s.token.transfer(orchestrator.address, STAKE);
      await s.token.connect(orchestrator).approve(await bm.getAddress(), MaxUint256);
    }
    const sender = new Wallet(SENDER_KEY, ethers.provider);
    const other = new Wallet(OTHER_KEY, ethers.provider);
    await setBalance(sender.address, ETH("1000"));
    await setBalance(other.address, ETH("1000"));
    const domain: TicketDomain = {
      chainId: (await ethers.provider.getNetwork()).chainId,
      verifyingContract: await tb.getAddress(),
    };
    await startNextRound(s.rounds);
    return {
      ...s,
      tb,
      bm,
      owner,
      o1,
      o2,
      o3,
      o4,
      relayer,
      stranger,
      sender,
      other,
      domain,
      round: await s.rounds.currentRound(),
    };
  }

  type Base = Awaited<ReturnType<typeof base>>;

  /** Registers each as an orchestrator (self-bonded, in the pool from next round). */
  async function register(s: Base, orchestrators: Signer[]) {
    for (const orchestrator of orchestrators) {
      await s.bm.connect(orchestrator).bond(STAKE, await orchestrator.getAddress());
      await s.bm.connect(orchestrator).transcoder(REWARD_CUT, FEE_SHARE);
    }
  }

  /** o1 is the only active orchestrator, in round `round`, just initialized. */
  async function withOrchestrator() {
    const s = await base();
    await register(s, [s.o1]);
    await startNextRound(s.rounds);
    return { ...s, round: await s.rounds.currentRound() };
  }

  /** o1, o2 and o3 are active in round `round`, just initialized; o4 holds LPT but is not registered. */
  async function withPool() {
    const s = await base();
    await register(s, [s.o1, s.o2, s.o3]);
    await startNextRound(s.rounds);
    return { ...s, round: await s.rounds.currentRound() };
  }

  interface Redeemable {
    ticket: Ticket;
    sig: string;
    rand: bigint;
    /** the EIP-712 digest, as offchain/pm computes it */
    hash: string;
  }

  interface TicketOptions {
    /** default o1 */
    recipient?: string;
    faceValue?: bigint;
    /** default MAX_WIN_PROB: the ticket wins */
    winProb?: bigint;
    /** default the current round */
    creationRound?: bigint;
    /** default the block hash stored for the creation round */
    creationRoundBlockHash?: string;
  }

  /** A ticket from `sender`, signed with its key, with the recipient's secret for it. */
  async function makeTicket(s: Base, options: TicketOptions = {}): Promise<Redeemable> {
    const recipientAddress = options.recipient ?? s.o1.address;
    const faceValue = options.faceValue ?? ETH("1");
    const winProb = options.winProb ?? MAX_WIN_PROB;
    const creationRound = options.creationRound ?? (await s.rounds.currentRound());
    const creationRoundBlockHash = options.creationRoundBlockHash ?? (await s.rounds.blockHashForRound(creationRound));
    const recipient = new TicketRecipient({
      address: recipientAddress,
      secret: RECIPIENT_SECRET,
      domain: s.domain,
      ticketValidityPeriod: TICKET_VALIDITY_PERIOD,
    });
    const params = recipient.ticketParams({
      sender: s.sender.address,
      faceValue,
      winProb,
      expirationBlock: EXPIRATION_BLOCK,
      creationRound,
      creationRoundBlockHash,
    });
    const rand = recipient.recipientRand(
      params.seed,
      s.sender.address,
      faceValue,
      winProb,
      EXPIRATION_BLOCK,
      creationRound,
    );
    const [{ ticket, sig }] = new TicketSender({ privateKey: SENDER_KEY, domain: s.domain }).createTickets(params, 1);
    return { ticket, sig, rand, hash: hexlify(new TicketHasher(s.domain).hash(ticket)) };
  }

  /** The same ticket with different fields, signed by the sender again. */
  function resigned(s: Base, ticket: Ticket): { ticket: Ticket; sig: string; hash: string } {
    const digest = new TicketHasher(s.domain).hash(ticket);
    return { ticket, sig: hexlify(signDigest(digest, getBytes(SENDER_KEY))), hash: hexlify(digest) };
  }

  /** Redeems as the ticket's recipient (the relayer when the recipient is not one of the orchestrators). */
  function redeem(s: Base, t: { ticket: Ticket; sig: string; rand: bigint }) {
    const recipient = [s.o1, s.o2, s.o3, s.o4].find(
      (o) => o.address.toLowerCase() === t.ticket.recipient.toLowerCase(),
    );
    return s.tb.connect(recipient ?? s.relayer).redeemWinningTicket(t.ticket, t.sig, t.rand);
  }

  async function senderInfo(s: Base) {
    const [sender, reserve] = await s.tb.getSenderInfo(s.sender.address);
    return {
      deposit: sender.deposit,
      withdrawRound: sender.withdrawRound,
      fundsRemaining: reserve.fundsRemaining,
      claimedInCurrentRound: reserve.claimedInCurrentRound,
    };
  }

  // ---------------------------------------------------------------------------------------------------------------
  describe("initialize", () => {
    it("sets the local parameters through the proxy", async () => {
      const { tb } = await loadFixture(base);
      expect(await tb.unlockPeriod()).to.equal(UNLOCK_PERIOD);
      expect(await tb.ticketValidityPeriod()).to.equal(TICKET_VALIDITY_PERIOD);
    });

    it("reverts when called again on the proxy", async () => {
      const { tb } = await loadFixture(base);
      await expect(tb.initialize(3, 3)).to.be.revertedWithCustomError(tb, "InvalidInitialization");
    });

    it("reverts when called on the implementation, whose initializers are disabled", async () => {
      const { tb, record } = await loadFixture(base);
      const implementation = await ethers.getContractAt("TicketBroker", record.implementations.TicketBroker);
      await expect(implementation.initialize(3, 3)).to.be.revertedWithCustomError(tb, "InvalidInitialization");
    });
  });

  // ---------------------------------------------------------------------------------------------------------------
  // What every funding function does alike, each called with `value` wei (all of it to the deposit).
  const fundings = {
    fundDeposit: (s: Base, value: bigint) => s.tb.connect(s.sender).fundDeposit({ value }),
    fundReserve: (s: Base, value: bigint) => s.tb.connect(s.sender).fundReserve({ value }),
    fundDepositAndReserve: (s: Base, value: bigint) =>
      s.tb.connect(s.sender).fundDepositAndReserve(value, 0n, { value }),
  };
  for (const [name, fund] of Object.entries(fundings)) {
    describe(`${name}, like every funding function`, () => {
      it("reverts when no ETH is sent", async () => {
        const s = await loadFixture(base);
        await expect(fund(s, 0n)).to.be.revertedWithCustomError(s.tb, "ZeroFunding");
      });

      it("reverts when the system is paused", async () => {
        const s = await loadFixture(base);
        await s.controller.pause();
        await expect(fund(s, 1n)).to.be.revertedWithCustomError(s.tb, "SystemIsPaused");
      });

      it("cancels the sender's unlock and emits UnlockCancelled", async () => {
        const s = await loadFixture(base);
        await s.tb.connect(s.sender).fundDeposit({ value: ETH("1") });
        await s.tb.connect(s.sender).unlock();
        await expect(fund(s, 1n)).to.emit(s.tb, "UnlockCancelled").withArgs(s.sender.address);
        expect(await s.tb.isUnlockInProgress(s.sender.address)).to.equal(false);
        expect((await senderInfo(s)).withdrawRound).to.equal(0n);
      });
    });
  }

  describe("fundDeposit", () => {
    it("adds the value to the sender's deposit", async () => {
      const s = await loadFixture(base);
      await s.tb.connect(s.sender).fundDeposit({ value: ETH("1") });
      await s.tb.connect(s.sender).fundDeposit({ value: ETH("0.5") });
      const info = await senderInfo(s);
      expect(info.deposit).to.equal(ETH("1.5"));
      expect(info.fundsRemaining).to.equal(0n);
      expect(info.withdrawRound).to.equal(0n);
    });

    it("emits DepositFunded and no ReserveFunded", async () => {
      const s = await loadFixture(base);
      const tx = s.tb.connect(s.sender).fundDeposit({ value: ETH("1") });
      await expect(tx).to.emit(s.tb, "DepositFunded").withArgs(s.sender.address, ETH("1"));
      await expect(tx).not.to.emit(s.tb, "ReserveFunded");
      await expect(tx).not.to.emit(s.tb, "UnlockCancelled");
    });

    it("forwards the ETH to the Minter", async () => {
      const s = await loadFixture(base);
      const tx = s.tb.connect(s.sender).fundDeposit({ value: ETH("1") });
      await expect(tx).to.changeEtherBalances([s.sender, s.minter, s.tb], [-ETH("1"), ETH("1"), 0n]);
      await expect(tx)
        .to.emit(s.minter, "ETHDeposited")
        .withArgs(await s.tb.getAddress(), ETH("1"));
    });

    it("reverts when the deposit would not fit in 112 bits", async () => {
      const s = await loadFixture(base);
      await setBalance(s.sender.address, 2n ** 114n);
      await expect(s.tb.connect(s.sender).fundDeposit({ value: UINT112_MAX + 1n }))
        .to.be.revertedWithCustomError(s.tb, "SafeCastOverflowedUintDowncast")
        .withArgs(112, UINT112_MAX + 1n);
      await s.tb.connect(s.sender).fundDeposit({ value: UINT112_MAX });
      await expect(s.tb.connect(s.sender).fundDeposit({ value: 1n })).to.be.revertedWithPanic(0x11);
    });
  });

  // ---------------------------------------------------------------------------------------------------------------
  describe("fundReserve", () => {
    it("adds the value to the sender's reserve", async () => {
      const s = await loadFixture(base);
      await s.tb.connect(s.sender).fundReserve({ value: ETH("2") });
      await s.tb.connect(s.sender).fundReserve({ value: ETH("1") });
      const info = await senderInfo(s);
      expect(info.fundsRemaining).to.equal(ETH("3"));
      expect(info.deposit).to.equal(0n);
      expect(info.claimedInCurrentRound).to.equal(0n);
    });

    it("emits ReserveFunded and no DepositFunded", async () => {
      const s = await loadFixture(base);
      const tx = s.tb.connect(s.sender).fundReserve({ value: ETH("2") });
      await expect(tx).to.emit(s.tb, "ReserveFunded").withArgs(s.sender.address, ETH("2"));
      await expect(tx).not.to.emit(s.tb, "DepositFunded");
    });

    it("forwards the ETH to the Minter", async () => {
      const s = await loadFixture(base);
      await expect(s.tb.connect(s.sender).fundReserve({ value: ETH("2") })).to.changeEtherBalances(
        [s.sender, s.minter],
        [-ETH("2"), ETH("2")],
      );
    });

    it("does not touch another sender's unlock", async () => {
      const s = await loadFixture(base);
      await s.tb.connect(s.other).fundReserve({ value: ETH("1") });
      await s.tb.connect(s.other).unlock();
      await expect(s.tb.connect(s.sender).fundReserve({ value: 1n })).not.to.emit(s.tb, "UnlockCancelled");
      expect(await s.tb.isUnlockInProgress(s.other.address)).to.equal(true);
    });
  });

  // ---------------------------------------------------------------------------------------------------------------
  describe("fundDepositAndReserve", () => {
    it("adds to both and emits both events", async () => {
      const s = await loadFixture(base);
      const tx = s.tb.connect(s.sender).fundDepositAndReserve(ETH("1"), ETH("2"), { value: ETH("3") });
      await expect(tx).to.emit(s.tb, "DepositFunded").withArgs(s.sender.address, ETH("1"));
      await expect(tx).to.emit(s.tb, "ReserveFunded").withArgs(s.sender.address, ETH("2"));
      const info = await senderInfo(s);
      expect(info.deposit).to.equal(ETH("1"));
      expect(info.fundsRemaining).to.equal(ETH("2"));
    });

    it("forwards the whole value to the Minter", async () => {
      const s = await loadFixture(base);
      await expect(
        s.tb.connect(s.sender).fundDepositAndReserve(ETH("1"), ETH("2"), { value: ETH("3") }),
      ).to.changeEtherBalances([s.sender, s.minter], [-ETH("3"), ETH("3")]);
    });

    it("emits only DepositFunded when the reserve amount is zero", async () => {
      const s = await loadFixture(base);
      const tx = s.tb.connect(s.sender).fundDepositAndReserve(ETH("1"), 0, { value: ETH("1") });
      await expect(tx).to.emit(s.tb, "DepositFunded").withArgs(s.sender.address, ETH("1"));
      await expect(tx).not.to.emit(s.tb, "ReserveFunded");
    });

    it("emits only ReserveFunded when the deposit amount is zero", async () => {
      const s = await loadFixture(base);
      const tx = s.tb.connect(s.sender).fundDepositAndReserve(0, ETH("1"), { value: ETH("1") });
      await expect(tx).to.emit(s.tb, "ReserveFunded").withArgs(s.sender.address, ETH("1"));
      await expect(tx).not.to.emit(s.tb, "DepositFunded");
    });

    it("reverts when the value is less than the sum", async () => {
      const s = await loadFixture(base);
      await expect(s.tb.connect(s.sender).fundDepositAndReserve(ETH("1"), ETH("2"), { value: ETH("2") }))
        .to.be.revertedWithCustomError(s.tb, "FundingMismatch")
        .withArgs(ETH("2"), ETH("1"), ETH("2"));
    });

    it("reverts when the value is more than the sum", async () => {
      const s = await loadFixture(base);
      await expect(s.tb.connect(s.sender).fundDepositAndReserve(ETH("1"), ETH("2"), { value: ETH("4") }))
        .to.be.revertedWithCustomError(s.tb, "FundingMismatch")
        .withArgs(ETH("4"), ETH("1"), ETH("2"));
    });

    it("reverts when the deposit amount alone exceeds the value", async () => {
      const s = await loadFixture(base);
      await expect(s.tb.connect(s.sender).fundDepositAndReserve(ETH("2"), 0, { value: ETH("1") }))
        .to.be.revertedWithCustomError(s.tb, "FundingMismatch")
        .withArgs(ETH("1"), ETH("2"), 0n);
    });

    it("reverts with FundingMismatch, not an overflow, when the amounts sum past 2^256", async () => {
      const s = await loadFixture(base);
      await expect(s.tb.connect(s.sender).fundDepositAndReserve(1, MaxUint256, { value: 1n }))
        .to.be.revertedWithCustomError(s.tb, "FundingMismatch")
        .withArgs(1n, 1n, MaxUint256);
    });
  });

  // ---------------------------------------------------------------------------------------------------------------
  describe("unlock", () => {
    it("reverts when the sender has no funds", async () => {
      const s = await loadFixture(base);
      await expect(s.tb.connect(s.sender).unlock())
        .to.be.revertedWithCustomError(s.tb, "NoFunds")
        .withArgs(s.sender.address);
    });

    it("sets withdrawRound to the current round plus the unlock period and emits Unlock", async () => {
      const s = await loadFixture(base);
      await s.tb.connect(s.sender).fundDeposit({ value: ETH("1") });
      await expect(s.tb.connect(s.sender).unlock())
        .to.emit(s.tb, "Unlock")
        .withArgs(s.sender.address, s.round, s.round + UNLOCK_PERIOD);
      expect((await senderInfo(s)).withdrawRound).to.equal(s.round + UNLOCK_PERIOD);
      expect(await s.tb.isUnlockInProgress(s.sender.address)).to.equal(true);
    });

    it("accepts a sender that has only a reserve", async () => {
      const s = await loadFixture(base);
      await s.tb.connect(s.sender).fundReserve({ value: 1n });
      await expect(s.tb.connect(s.sender).unlock()).to.emit(s.tb, "Unlock");
    });

    it("reverts when an unlock is already in progress", async () => {
      const s = await loadFixture(base);
      await s.tb.connect(s.sender).fundDeposit({ value: ETH("1") });
      await s.tb.connect(s.sender).unlock();
      await expect(s.tb.connect(s.sender).unlock())
        .to.be.revertedWithCustomError(s.tb, "UnlockInProgress")
        .withArgs(s.sender.address, s.round + UNLOCK_PERIOD);
    });

    it("uses the unlock period in force when it is called", async () => {
      const s = await loadFixture(base);
      await s.tb.setUnlockPeriod(5);
      await s.tb.connect(s.sender).fundDeposit({ value: ETH("1") });
      await expect(s.tb.connect(s.sender).unlock())
        .to.emit(s.tb, "Unlock")
        .withArgs(s.sender.address, s.round, s.round + 5n);
    });

    it("reverts when the system is paused", async () => {
      const s = await loadFixture(base);
      await s.tb.connect(s.sender).fundDeposit({ value: ETH("1") });
      await s.controller.pause();
      await expect(s.tb.connect(s.sender).unlock()).to.be.revertedWithCustomError(s.tb, "SystemIsPaused");
    });
  });

  // ---------------------------------------------------------------------------------------------------------------
  describe("cancelUnlock", () => {
    it("reverts when no unlock is in progress", async () => {
      const s = await loadFixture(base);
      await s.tb.connect(s.sender).fundDeposit({ value: ETH("1") });
      await expect(s.tb.connect(s.sender).cancelUnlock())
        .to.be.revertedWithCustomError(s.tb, "NoUnlockInProgress")
        .withArgs(s.sender.address);
    });

    it("clears the unlock, keeps the funds and emits UnlockCancelled", async () => {
      const s = await loadFixture(base);
      await s.tb.connect(s.sender).fundDepositAndReserve(ETH("1"), ETH("2"), { value: ETH("3") });
      await s.tb.connect(s.sender).unlock();
      await expect(s.tb.connect(s.sender).cancelUnlock()).to.emit(s.tb, "UnlockCancelled").withArgs(s.sender.address);
      expect(await s.tb.isUnlockInProgress(s.sender.address)).to.equal(false);
      const info = await senderInfo(s);
      expect(info.withdrawRound).to.equal(0n);
      expect(info.deposit).to.equal(ETH("1"));
      expect(info.fundsRemaining).to.equal(ETH("2"));
    });

    it("lets the sender unlock again, counting from the new current round", async () => {
      const s = await loadFixture(base);
      await s.tb.connect(s.sender).fundDeposit({ value: ETH("1") });
      await s.tb.connect(s.sender).unlock();
      await s.tb.connect(s.sender).cancelUnlock();
      await startNextRound(s.rounds);
      await expect(s.tb.connect(s.sender).unlock())
        .to.emit(s.tb, "Unlock")
        .withArgs(s.sender.address, s.round + 1n, s.round + 1n + UNLOCK_PERIOD);
    });

    it("makes withdraw revert again", async () => {
      const s = await loadFixture(base);
      await s.tb.connect(s.sender).fundDeposit({ value: ETH("1") });
      await s.tb.connect(s.sender).unlock();
      await s.tb.connect(s.sender).cancelUnlock();
      await startNextRound(s.rounds);
      await startNextRound(s.rounds);
      await expect(s.tb.connect(s.sender).withdraw())
        .to.be.revertedWithCustomError(s.tb, "NoUnlockInProgress")
        .withArgs(s.sender.address);
    });

    it("reverts when the system is paused", async () => {
      const s = await loadFixture(base);
      await s.tb.connect(s.sender).fundDeposit({ value: ETH("1") });
      await s.tb.connect(s.sender).unlock();
      await s.controller.pause();
      await expect(s.tb.connect(s.sender).cancelUnlock()).to.be.revertedWithCustomError(s.tb, "SystemIsPaused");
    });
  });

  // ---------------------------------------------------------------------------------------------------------------
  describe("withdraw", () => {
    /** The sender funded 1 ETH deposit and 2 ETH reserve and unlocked in `round`. */
    async function unlocked() {
      const s = await base();
      await s.tb.connect(s.sender).fundDepositAndReserve(ETH("1"), ETH("2"), { value: ETH("3") });
      await s.tb.connect(s.sender).unlock();
      return s;
    }

    it("reverts when no unlock is in progress", async () => {
      const s = await loadFixture(base);
      await s.tb.connect(s.sender).fundDeposit({ value: ETH("1") });
      await expect(s.tb.connect(s.sender).withdraw())
        .to.be.revertedWithCustomError(s.tb, "NoUnlockInProgress")
        .withArgs(s.sender.address);
    });

    it("reverts in the round of the unlock with FundsLocked", async () => {
      const s = await loadFixture(unlocked);
      await expect(s.tb.connect(s.sender).withdraw())
        .to.be.revertedWithCustomError(s.tb, "FundsLocked")
        .withArgs(s.sender.address, s.round + UNLOCK_PERIOD, s.round);
    });

    it("reverts in the round before withdrawRound with FundsLocked", async () => {
      const s = await loadFixture(unlocked);
      await startNextRound(s.rounds);
      await expect(s.tb.connect(s.sender).withdraw())
        .to.be.revertedWithCustomError(s.tb, "FundsLocked")
        .withArgs(s.sender.address, s.round + UNLOCK_PERIOD, s.round + 1n);
    });

    it("pays deposit and reserve back from the Minter at exactly withdrawRound", async () => {
      const s = await loadFixture(unlocked);
      await startNextRound(s.rounds);
      await startNextRound(s.rounds);
      expect(await s.rounds.currentRound()).to.equal(s.round + UNLOCK_PERIOD);
      const before = await ethers.provider.getBalance(s.sender.address);
      const minterBefore = await ethers.provider.getBalance(await s.minter.getAddress());
      const receipt = await (await s.tb.connect(s.sender).withdraw()).wait();
      const after = await ethers.provider.getBalance(s.sender.address);
      expect(after - before + receipt!.fee).to.equal(ETH("3"));
      expect(await ethers.provider.getBalance(await s.minter.getAddress())).to.equal(minterBefore - ETH("3"));
    });

    it("emits Withdrawal with the deposit and the reserve", async () => {
      const s = await loadFixture(unlocked);
      await startNextRound(s.rounds);
      await startNextRound(s.rounds);
      await expect(s.tb.connect(s.sender).withdraw())
        .to.emit(s.tb, "Withdrawal")
        .withArgs(s.sender.address, ETH("1"), ETH("2"));
    });

    it("clears the sender's state, so a second withdraw reverts", async () => {
      const s = await loadFixture(unlocked);
      await startNextRound(s.rounds);
      await startNextRound(s.rounds);
      await s.tb.connect(s.sender).withdraw();
      expect(await senderInfo(s)).to.deep.equal({
        deposit: 0n,
        withdrawRound: 0n,
        fundsRemaining: 0n,
        claimedInCurrentRound: 0n,
      });
      expect(await s.tb.isUnlockInProgress(s.sender.address)).to.equal(false);
      await expect(s.tb.connect(s.sender).withdraw())
        .to.be.revertedWithCustomError(s.tb, "NoUnlockInProgress")
        .withArgs(s.sender.address);
    });

    it("works in any later round", async () => {
      const s = await loadFixture(unlocked);
      for (let i = 0n; i < UNLOCK_PERIOD + 2n; i++) await startNextRound(s.rounds);
      await expect(s.tb.connect(s.sender).withdraw()).to.changeEtherBalance(s.sender, ETH("3"));
    });

    it("succeeds with nothing to pay when winning tickets drained the funds during the unlock", async () => {
      const s = await loadFixture(withOrchestrator);
      await s.tb.connect(s.sender).fundDeposit({ value: ETH("1") });
      await s.tb.connect(s.sender).unlock();
      await redeem(s, await makeTicket(s, { faceValue: ETH("1") }));
      await startNextRound(s.rounds);
      await startNextRound(s.rounds);
      const tx = s.tb.connect(s.sender).withdraw();
      await expect(tx).to.emit(s.tb, "Withdrawal").withArgs(s.sender.address, 0n, 0n);
      await expect(tx).to.changeEtherBalances([s.sender, s.minter], [0n, 0n]);
      expect(await s.tb.isUnlockInProgress(s.sender.address)).to.equal(false);
    });

    it("reverts when the system is paused", async () => {
      const s = await loadFixture(unlocked);
      await startNextRound(s.rounds);
      await startNextRound(s.rounds);
      await s.controller.pause();
      await expect(s.tb.connect(s.sender).withdraw()).to.be.revertedWithCustomError(s.tb, "SystemIsPaused");
    });
  });

  // ---------------------------------------------------------------------------------------------------------------
  describe("redeemWinningTicket", () => {
    /** withOrchestrator where the sender has a 10 ETH deposit. */
    async function funded() {
      const s = await withOrchestrator();
      await s.tb.connect(s.sender).fundDeposit({ value: ETH("10") });
      return s;
    }

    describe("checks", () => {
      it("reverts when the system is paused", async () => {
        const s = await loadFixture(funded);
        const t = await makeTicket(s);
        await s.controller.pause();
        await expect(redeem(s, t)).to.be.revertedWithCustomError(s.tb, "SystemIsPaused");
      });

      it("reverts when the current round is not initialized", async () => {
        const s = await loadFixture(funded);
        const t = await makeTicket(s);
        await mineToNextTxBlock((await s.rounds.currentRoundStartBlock()) + (await s.rounds.roundLength()));
        await expect(redeem(s, t))
          .to.be.revertedWithCustomError(s.tb, "CurrentRoundNotInitialized")
          .withArgs(s.round + 1n);
      });

      it("reverts when the caller is not the recipient, leaving the ticket unused", async () => {
        const s = await loadFixture(funded);
        const t = await makeTicket(s);
        await expect(s.tb.connect(s.relayer).redeemWinningTicket(t.ticket, t.sig, t.rand))
          .to.be.revertedWithCustomError(s.tb, "CallerNotRecipient")
          .withArgs(s.relayer.address, s.o1.address);
        expect(await s.tb.usedTickets(t.hash)).to.equal(false);
      });

      it("reverts for a ticket to the zero address, which no caller can be", async () => {
        const s = await loadFixture(funded);
        const t = await makeTicket(s);
        const zero = resigned(s, { ...t.ticket, recipient: ZeroAddress });
        await expect(redeem(s, { ...zero, rand: t.rand }))
          .to.be.revertedWithCustomError(s.tb, "CallerNotRecipient")
          .withArgs(s.relayer.address, ZeroAddress);
      });

      it("reverts when the creation round's block hash is not the ticket's", async () => {
        const s = await loadFixture(funded);
        const wrong = keccak256("0x1234");
        const t = await makeTicket(s, { creationRoundBlockHash: wrong });
        await expect(redeem(s, t))
          .to.be.revertedWithCustomError(s.tb, "InvalidCreationRoundBlockHash")
          .withArgs(s.round, wrong);
      });

      it("reverts when the creation round is in the future", async () => {
        const s = await loadFixture(funded);
        const hash = keccak256("0x01");
        const t = await makeTicket(s, { creationRound: s.round + 1n, creationRoundBlockHash: hash });
        await expect(redeem(s, t))
          .to.be.revertedWithCustomError(s.tb, "InvalidCreationRoundBlockHash")
          .withArgs(s.round + 1n, hash);
      });

      it("reverts when a future creation round is paired with the zero block hash it has on chain", async () => {
        const s = await loadFixture(funded);
        expect(await s.rounds.blockHashForRound(s.round + 1n)).to.equal(ZeroHash);
        const t = await makeTicket(s, { creationRound: s.round + 1n, creationRoundBlockHash: ZeroHash });
        await expect(redeem(s, t))
          .to.be.revertedWithCustomError(s.tb, "InvalidCreationRoundBlockHash")
          .withArgs(s.round + 1n, ZeroHash);
      });

      it("reverts when the creation round was skipped, never initialized", async () => {
        const s = await loadFixture(funded);
        // Round + 1 passes without initialization; round + 2 is initialized.
        const skippedStart = (await s.rounds.currentRoundStartBlock()) + (await s.rounds.roundLength());
        await mineToHead(skippedStart);
        const wouldBe = (await ethers.provider.getBlock(skippedStart - 1n))!.hash!;
        await startNextRound(s.rounds);
        expect(await s.rounds.currentRound()).to.equal(s.round + 2n);
        const t = await makeTicket(s, { creationRound: s.round + 1n, creationRoundBlockHash: wouldBe });
        await expect(redeem(s, t))
          .to.be.revertedWithCustomError(s.tb, "InvalidCreationRoundBlockHash")
          .withArgs(s.round + 1n, wouldBe);
      });

      it("accepts a ticket in the last round of its validity", async () => {
        const s = await loadFixture(funded);
        const t = await makeTicket(s);
        await startNextRound(s.rounds);
        expect(await s.rounds.currentRound()).to.equal(s.round + TICKET_VALIDITY_PERIOD - 1n);
        await expect(redeem(s, t)).to.emit(s.tb, "WinningTicketRedeemed");
      });

      it("reverts when the ticket expired (creationRound + ticketValidityPeriod <= current round)", async () => {
        const s = await loadFixture(funded);
        const t = await makeTicket(s);
        await startNextRound(s.rounds);
        await startNextRound(s.rounds);
        await expect(redeem(s, t))
          .to.be.revertedWithCustomError(s.tb, "TicketExpired")
          .withArgs(s.round, s.round + TICKET_VALIDITY_PERIOD);
      });

      it("reverts when recipientRand does not match recipientRandHash", async () => {
        const s = await loadFixture(funded);
        const t = await makeTicket(s);
        await expect(redeem(s, { ...t, rand: t.rand + 1n }))
          .to.be.revertedWithCustomError(s.tb, "InvalidRecipientRand")
          .withArgs(t.ticket.recipientRandHash);
      });

      it("reverts when the ticket was redeemed already", async () => {
        const s = await loadFixture(funded);
        const t = await makeTicket(s);
        await redeem(s, t);
        await expect(redeem(s, t)).to.be.revertedWithCustomError(s.tb, "TicketUsed").withArgs(t.hash);
      });

      it("reverts with TicketUsed when a redeemed ticket comes back with a malleated signature", async () => {
        const s = await loadFixture(funded);
        const t = await makeTicket(s);
        await redeem(s, t);
        await expect(redeem(s, { ...t, sig: malleate(t.sig) }))
          .to.be.revertedWithCustomError(s.tb, "TicketUsed")
          .withArgs(t.hash);
      });

      it("reverts when the signature is another key's", async () => {
        const s = await loadFixture(funded);
        const t = await makeTicket(s);
        const sig = hexlify(signDigest(getBytes(t.hash), getBytes(OTHER_KEY)));
        await expect(redeem(s, { ...t, sig }))
          .to.be.revertedWithCustomError(s.tb, "InvalidSenderSignature")
          .withArgs(s.sender.address);
      });

      it("reverts when the ticket names a sender other than its signer", async () => {
        const s = await loadFixture(funded);
        const t = await makeTicket(s);
        const ticket = { ...t.ticket, sender: s.other.address };
        await expect(redeem(s, { ...t, ticket }))
          .to.be.revertedWithCustomError(s.tb, "InvalidSenderSignature")
          .withArgs(s.other.address);
      });

      it("reverts when the signature has a high s, though it recovers the sender", async () => {
        const s = await loadFixture(funded);
        const t = await makeTicket(s);
        const sig = malleate(t.sig);
        expect(await ecrecover(t.hash, sig)).to.equal(s.sender.address);
        await expect(redeem(s, { ...t, sig }))
          .to.be.revertedWithCustomError(s.tb, "InvalidSenderSignature")
          .withArgs(s.sender.address);
      });

      it("reverts when the signature is 64 bytes", async () => {
        const s = await loadFixture(funded);
        const t = await makeTicket(s);
        await expect(redeem(s, { ...t, sig: hexlify(getBytes(t.sig).slice(0, 64)) }))
          .to.be.revertedWithCustomError(s.tb, "InvalidSenderSignature")
          .withArgs(s.sender.address);
      });

      it("reverts when v is neither 27 nor 28", async () => {
        const s = await loadFixture(funded);
        const t = await makeTicket(s);
        const bytes = getBytes(t.sig);
        bytes[64] = bytes[64] - 27; // 0 or 1
        await expect(redeem(s, { ...t, sig: hexlify(bytes) }))
          .to.be.revertedWithCustomError(s.tb, "InvalidSenderSignature")
          .withArgs(s.sender.address);
      });

      it("reverts when the ticket does not win", async () => {
        const s = await loadFixture(funded);
        const t = await makeTicket(s, { winProb: 0n });
        await expect(redeem(s, t)).to.be.revertedWithCustomError(s.tb, "TicketNotWinning");
      });

      it("reverts when the sender is past its unlock", async () => {
        const s = await loadFixture(funded);
        await s.tb.connect(s.sender).unlock();
        await startNextRound(s.rounds);
        await startNextRound(s.rounds);
        const t = await makeTicket(s);
        await expect(redeem(s, t))
          .to.be.revertedWithCustomError(s.tb, "SenderUnlocked")
          .withArgs(s.sender.address, s.round + UNLOCK_PERIOD);
        expect(await s.tb.usedTickets(t.hash)).to.equal(false);
      });

      it("pays while the sender's unlock is pending (before withdrawRound)", async () => {
        const s = await loadFixture(funded);
        await s.tb.connect(s.sender).unlock();
        await startNextRound(s.rounds);
        const t = await makeTicket(s, { faceValue: ETH("1") });
        await expect(redeem(s, t))
          .to.emit(s.tb, "WinningTicketRedeemed")
          .withArgs(t.hash, s.sender.address, s.o1.address, ETH("1"), ETH("1"));
        expect((await senderInfo(s)).deposit).to.equal(ETH("9"));
      });

      it("pays again once the sender cancels its unlock", async () => {
        const s = await loadFixture(funded);
        await s.tb.connect(s.sender).unlock();
        await startNextRound(s.rounds);
        await startNextRound(s.rounds);
        const t = await makeTicket(s);
        await expect(redeem(s, t)).to.be.revertedWithCustomError(s.tb, "SenderUnlocked");
        await s.tb.connect(s.sender).cancelUnlock();
        await expect(redeem(s, t)).to.emit(s.tb, "WinningTicketRedeemed");
      });

      it("reverts with NothingToPay when the sender has no funds, leaving the ticket unused", async () => {
        const s = await loadFixture(withOrchestrator);
        const t = await makeTicket(s);
        await expect(redeem(s, t))
          .to.be.revertedWithCustomError(s.tb, "NothingToPay")
          .withArgs(s.sender.address, s.o1.address);
        expect(await s.tb.usedTickets(t.hash)).to.equal(false);
      });

      it("redeems a ticket that failed with NothingToPay once the sender funds", async () => {
        const s = await loadFixture(withOrchestrator);
        const t = await makeTicket(s, { faceValue: ETH("1") });
        await expect(redeem(s, t)).to.be.revertedWithCustomError(s.tb, "NothingToPay");
        await s.tb.connect(s.sender).fundDeposit({ value: ETH("1") });
        await expect(redeem(s, t))
          .to.emit(s.tb, "WinningTicketRedeemed")
          .withArgs(t.hash, s.sender.address, s.o1.address, ETH("1"), ETH("1"));
        expect(await s.tb.usedTickets(t.hash)).to.equal(true);
      });

      it("reverts with the BondingManager's TranscoderNotActive when the recipient is not active", async () => {
        const s = await loadFixture(funded);
        const t = await makeTicket(s, { recipient: s.o2.address });
        await expect(redeem(s, t))
          .to.be.revertedWithCustomError(s.bm, "TranscoderNotActive")
          .withArgs(s.o2.address, s.round);
      });

      it("leaves the ticket unused and the sender's funds whole when the recipient is not active", async () => {
        const s = await loadFixture(funded);
        await s.tb.connect(s.sender).fundReserve({ value: ETH("1") });
        const t = await makeTicket(s, { recipient: s.o2.address, faceValue: ETH("20") });
        await expect(redeem(s, t)).to.be.revertedWithCustomError(s.bm, "TranscoderNotActive");
        expect(await s.tb.usedTickets(t.hash)).to.equal(false);
        const info = await senderInfo(s);
        expect(info.deposit).to.equal(ETH("10"));
        expect(info.fundsRemaining).to.equal(ETH("1"));
        expect(info.claimedInCurrentRound).to.equal(0n);
        expect(await s.tb.claimedReserve(s.sender.address, s.o2.address, s.round)).to.equal(0n);
      });

      it("redeems a registered orchestrator's ticket once it becomes active", async () => {
        const s = await loadFixture(funded);
        await register(s, [s.o2]);
        const t = await makeTicket(s, { recipient: s.o2.address });
        await expect(redeem(s, t)).to.be.revertedWithCustomError(s.bm, "TranscoderNotActive");
        await startNextRound(s.rounds);
        await expect(redeem(s, t)).to.emit(s.tb, "WinningTicketRedeemed");
      });

      it("checks the creation round before expiry, the rand and the signature", async () => {
        const s = await loadFixture(funded);
        const wrong = keccak256("0x99");
        const t = await makeTicket(s, { creationRoundBlockHash: wrong });
        await startNextRound(s.rounds);
        await startNextRound(s.rounds);
        await expect(redeem(s, { ...t, sig: malleate(t.sig), rand: t.rand + 1n }))
          .to.be.revertedWithCustomError(s.tb, "InvalidCreationRoundBlockHash")
          .withArgs(s.round, wrong);
      });

      it("checks expiry before the rand", async () => {
        const s = await loadFixture(funded);
        const t = await makeTicket(s);
        await startNextRound(s.rounds);
        await startNextRound(s.rounds);
        await expect(redeem(s, { ...t, rand: t.rand + 1n })).to.be.revertedWithCustomError(s.tb, "TicketExpired");
      });

      it("checks the rand before the signature, and the signature before winning", async () => {
        const s = await loadFixture(funded);
        const t = await makeTicket(s, { winProb: 0n });
        await expect(redeem(s, { ...t, sig: malleate(t.sig), rand: t.rand + 1n })).to.be.revertedWithCustomError(
          s.tb,
          "InvalidRecipientRand",
        );
        await expect(redeem(s, { ...t, sig: malleate(t.sig) })).to.be.revertedWithCustomError(
          s.tb,
          "InvalidSenderSignature",
        );
      });

      it("checks the ticket before the sender's standing (a losing ticket of an unlocked sender)", async () => {
        const s = await loadFixture(funded);
        await s.tb.connect(s.sender).unlock();
        await startNextRound(s.rounds);
        await startNextRound(s.rounds);
        const t = await makeTicket(s, { winProb: 0n });
        await expect(redeem(s, t)).to.be.revertedWithCustomError(s.tb, "TicketNotWinning");
      });
    });

    describe("payment", () => {
      it("pays from the deposit, marks the ticket used and emits WinningTicketRedeemed", async () => {
        const s = await loadFixture(funded);
        const t = await makeTicket(s, { faceValue: ETH("0.25") });
        const tx = redeem(s, t);
        await expect(tx)
          .to.emit(s.tb, "WinningTicketRedeemed")
          .withArgs(t.hash, s.sender.address, s.o1.address, ETH("0.25"), ETH("0.25"));
        await expect(tx).not.to.emit(s.tb, "ReserveClaimed");
        expect(await s.tb.usedTickets(t.hash)).to.equal(true);
        expect((await senderInfo(s)).deposit).to.equal(ETH("9.75"));
      });

      it("leaves the ETH in the Minter", async () => {
        const s = await loadFixture(funded);
        await expect(redeem(s, await makeTicket(s))).to.changeEtherBalances([s.minter, s.tb, s.o1], [0n, 0n, 0n]);
      });

      it("pays a face value equal to the whole deposit from the deposit alone", async () => {
        const s = await loadFixture(funded);
        await s.tb.connect(s.sender).fundReserve({ value: ETH("1") });
        await expect(redeem(s, await makeTicket(s, { faceValue: ETH("10") }))).not.to.emit(s.tb, "ReserveClaimed");
        const info = await senderInfo(s);
        expect(info.deposit).to.equal(0n);
        expect(info.fundsRemaining).to.equal(ETH("1"));
      });

      it("takes the rest from the reserve when the deposit is short", async () => {
        const s = await loadFixture(withOrchestrator);
        await s.tb.connect(s.sender).fundDepositAndReserve(ETH("0.4"), ETH("1"), { value: ETH("1.4") });
        const t = await makeTicket(s, { faceValue: ETH("1") });
        const tx = redeem(s, t);
        await expect(tx)
          .to.emit(s.tb, "WinningTicketRedeemed")
          .withArgs(t.hash, s.sender.address, s.o1.address, ETH("1"), ETH("1"));
        await expect(tx).to.emit(s.tb, "ReserveClaimed").withArgs(s.sender.address, s.o1.address, s.round, ETH("0.6"));
        expect(await senderInfo(s)).to.deep.equal({
          deposit: 0n,
          withdrawRound: 0n,
          fundsRemaining: ETH("0.4"),
          claimedInCurrentRound: ETH("0.6"),
        });
        expect(await s.tb.claimedReserve(s.sender.address, s.o1.address, s.round)).to.equal(ETH("0.6"));
      });

      it("pays from the reserve alone when there is no deposit", async () => {
        const s = await loadFixture(withOrchestrator);
        await s.tb.connect(s.sender).fundReserve({ value: ETH("1") });
        const t = await makeTicket(s, { faceValue: ETH("0.25") });
        const tx = redeem(s, t);
        await expect(tx)
          .to.emit(s.tb, "WinningTicketRedeemed")
          .withArgs(t.hash, s.sender.address, s.o1.address, ETH("0.25"), ETH("0.25"));
        await expect(tx).to.emit(s.tb, "ReserveClaimed").withArgs(s.sender.address, s.o1.address, s.round, ETH("0.25"));
        const info = await senderInfo(s);
        expect(info.fundsRemaining).to.equal(ETH("0.75"));
        expect(info.claimedInCurrentRound).to.equal(ETH("0.25"));
      });

      it("pays what is available when the face value exceeds deposit and reserve", async () => {
        const s = await loadFixture(withOrchestrator);
        await s.tb.connect(s.sender).fundDepositAndReserve(ETH("0.3"), ETH("0.6"), { value: ETH("0.9") });
        const t = await makeTicket(s, { faceValue: ETH("5") });
        const tx = redeem(s, t);
        await expect(tx)
          .to.emit(s.tb, "WinningTicketRedeemed")
          .withArgs(t.hash, s.sender.address, s.o1.address, ETH("5"), ETH("0.9"));
        await expect(tx).to.emit(s.tb, "ReserveClaimed").withArgs(s.sender.address, s.o1.address, s.round, ETH("0.6"));
        const info = await senderInfo(s);
        expect(info.deposit).to.equal(0n);
        expect(info.fundsRemaining).to.equal(0n);
        expect(await s.bm.pendingFees(s.o1.address, s.round)).to.equal(ETH("0.9"));
      });

      it("pays the deposit alone, not reverting, when the reserve allowance is used up", async () => {
        const s = await loadFixture(withOrchestrator);
        await s.tb.connect(s.sender).fundReserve({ value: ETH("1") });
        await redeem(s, await makeTicket(s, { faceValue: ETH("1") }));
        await s.tb.connect(s.sender).fundDeposit({ value: ETH("0.2") });
        const t = await makeTicket(s, { faceValue: ETH("1") });
        const tx = redeem(s, t);
        await expect(tx)
          .to.emit(s.tb, "WinningTicketRedeemed")
          .withArgs(t.hash, s.sender.address, s.o1.address, ETH("1"), ETH("0.2"));
        await expect(tx).not.to.emit(s.tb, "ReserveClaimed");
      });

      it("credits the amount to the recipient as fees for the current round", async () => {
        const s = await loadFixture(funded);
        expect(await s.bm.pendingFees(s.o1.address, s.round)).to.equal(0n);
        await redeem(s, await makeTicket(s, { faceValue: ETH("1") }));
        // o1 is its own only delegator: its commission plus the delegators' share, exactly, at these round numbers.
        expect(await s.bm.pendingFees(s.o1.address, s.round)).to.equal(ETH("1"));
        await redeem(s, await makeTicket(s, { faceValue: ETH("0.5") }));
        expect(await s.bm.pendingFees(s.o1.address, s.round)).to.equal(ETH("1.5"));
      });

      it("grows the recipient's cumulative fee factor by its delegators' share", async () => {
        const s = await loadFixture(funded);
        const [, feeFactorBefore] = await s.bm.getTranscoderEarningsPoolForRound(s.o1.address, s.round);
        await redeem(s, await makeTicket(s, { faceValue: ETH("1") }));
        const [rewardFactor, feeFactor] = await s.bm.getTranscoderEarningsPoolForRound(s.o1.address, s.round);
        // delegators' fees 0.5 ETH over 1000 LPT of stake, scaled by the reward factor (1e27)
        expect(feeFactor - feeFactorBefore).to.equal((rewardFactor * ETH("0.5")) / STAKE);
      });

      it("lets the recipient withdraw the fees in ETH from the Minter once the round is over", async () => {
        const s = await loadFixture(funded);
        await redeem(s, await makeTicket(s, { faceValue: ETH("1") }));
        // The delegators' share of this round's fees settles when the round closes.
        await startNextRound(s.rounds);
        await expect(s.bm.connect(s.o1).withdrawFees(s.o1.address, ETH("1"))).to.changeEtherBalances(
          [s.o1, s.minter],
          [ETH("1"), -ETH("1")],
        );
      });

      it("keeps a ticket whose recipientRand a failed attempt revealed from being burned by its sender", async () => {
        const s = await loadFixture(withOrchestrator);
        const t = await makeTicket(s, { faceValue: ETH("1") });
        await expect(redeem(s, t)).to.be.revertedWithCustomError(s.tb, "NothingToPay");
        // The sender saw recipientRand in the failed transaction; it funds 1 wei and tries to spend the ticket on it.
        await s.tb.connect(s.sender).fundDeposit({ value: 1n });
        await expect(s.tb.connect(s.sender).redeemWinningTicket(t.ticket, t.sig, t.rand))
          .to.be.revertedWithCustomError(s.tb, "CallerNotRecipient")
          .withArgs(s.sender.address, s.o1.address);
        await expect(s.tb.connect(s.sender).batchRedeemWinningTickets([t.ticket], [t.sig], [t.rand]))
          .to.emit(s.tb, "BatchTicketFailed")
          .withArgs(0n, s.tb.interface.encodeErrorResult("CallerNotRecipient", [s.sender.address, s.o1.address]));
        expect(await s.tb.usedTickets(t.hash)).to.equal(false);
        // The recipient redeems when the sender can pay.
        await s.tb.connect(s.sender).fundDeposit({ value: ETH("1") });
        await expect(redeem(s, t))
          .to.emit(s.tb, "WinningTicketRedeemed")
          .withArgs(t.hash, s.sender.address, s.o1.address, ETH("1"), ETH("1"));
      });

      it("never pays more than the sender holds over successive tickets", async () => {
        const s = await loadFixture(withOrchestrator);
        await s.tb.connect(s.sender).fundDepositAndReserve(ETH("1"), ETH("1"), { value: ETH("2") });
        // 0.7 from the deposit; 0.3 from the deposit and 0.4 from the reserve; the 0.6 left of the reserve; nothing.
        for (const amount of [ETH("0.7"), ETH("0.7"), ETH("0.6")]) {
          const t = await makeTicket(s, { faceValue: ETH("0.7") });
          await expect(redeem(s, t))
            .to.emit(s.tb, "WinningTicketRedeemed")
            .withArgs(t.hash, s.sender.address, s.o1.address, ETH("0.7"), amount);
        }
        await expect(redeem(s, await makeTicket(s, { faceValue: ETH("0.7") })))
          .to.be.revertedWithCustomError(s.tb, "NothingToPay")
          .withArgs(s.sender.address, s.o1.address);
        expect(await s.bm.pendingFees(s.o1.address, s.round)).to.equal(ETH("2"));
        const info = await senderInfo(s);
        expect(info.deposit + info.fundsRemaining).to.equal(0n);
      });
    });
  });

  // ---------------------------------------------------------------------------------------------------------------
  describe("reserve split across the pool", () => {
    /** R = 3 ETH + 2 wei, so the share floor(R / 3) = 1 ETH drops the remainder. */
    const RESERVE = ETH("3") + 2n;
    const SHARE = RESERVE / 3n;

    async function pooled() {
      const s = await withPool();
      await s.tb.connect(s.sender).fundReserve({ value: RESERVE });
      return s;
    }

    it("snapshots the pool size of three for the round", async () => {
      const s = await loadFixture(pooled);
      expect(await s.bm.currentRoundPoolSize()).to.equal(3n);
      expect(SHARE).to.equal(ETH("1"));
    });

    it("offers each active orchestrator floor(reserve / poolSize) through claimableReserve", async () => {
      const s = await loadFixture(pooled);
      for (const o of [s.o1, s.o2, s.o3]) {
        expect(await s.tb.claimableReserve(s.sender.address, o.address)).to.equal(SHARE);
      }
    });

    it("pays each active orchestrator its share, whatever the order of claims", async () => {
      const s = await loadFixture(pooled);
      for (const o of [s.o2, s.o3, s.o1]) {
        const t = await makeTicket(s, { recipient: o.address, faceValue: ETH("5") });
        const tx = redeem(s, t);
        await expect(tx)
          .to.emit(s.tb, "WinningTicketRedeemed")
          .withArgs(t.hash, s.sender.address, o.address, ETH("5"), SHARE);
        await expect(tx).to.emit(s.tb, "ReserveClaimed").withArgs(s.sender.address, o.address, s.round, SHARE);
      }
      const info = await senderInfo(s);
      expect(info.fundsRemaining).to.equal(RESERVE - 3n * SHARE);
      expect(info.claimedInCurrentRound).to.equal(3n * SHARE);
    });

    it("refuses a second draw by the same orchestrator in the round with NothingToPay", async () => {
      const s = await loadFixture(pooled);
      await redeem(s, await makeTicket(s, { faceValue: ETH("5") }));
      const t = await makeTicket(s, { faceValue: ETH("5") });
      await expect(redeem(s, t))
        .to.be.revertedWithCustomError(s.tb, "NothingToPay")
        .withArgs(s.sender.address, s.o1.address);
      expect(await s.tb.usedTickets(t.hash)).to.equal(false);
    });

    it("refuses a fourth ticket, to an orchestrator that drew its share, though funds remain", async () => {
      const s = await loadFixture(pooled);
      for (const o of [s.o1, s.o2, s.o3]) {
        await redeem(s, await makeTicket(s, { recipient: o.address, faceValue: ETH("5") }));
      }
      expect((await senderInfo(s)).fundsRemaining).to.equal(2n);
      for (const o of [s.o1, s.o2, s.o3]) {
        expect(await s.tb.claimableReserve(s.sender.address, o.address)).to.equal(0n);
      }
      const fourth = await makeTicket(s, { faceValue: ETH("5") });
      await expect(redeem(s, fourth))
        .to.be.revertedWithCustomError(s.tb, "NothingToPay")
        .withArgs(s.sender.address, s.o1.address);
      expect(await s.tb.usedTickets(fourth.hash)).to.equal(false);
    });

    it("lets an orchestrator draw its share over several tickets, and no more", async () => {
      const s = await loadFixture(pooled);
      const quarter = SHARE / 4n;
      for (let i = 0; i < 4; i++) {
        await expect(redeem(s, await makeTicket(s, { faceValue: quarter })))
          .to.emit(s.tb, "ReserveClaimed")
          .withArgs(s.sender.address, s.o1.address, s.round, quarter);
      }
      expect(await s.tb.claimedReserve(s.sender.address, s.o1.address, s.round)).to.equal(SHARE);
      await expect(redeem(s, await makeTicket(s, { faceValue: quarter }))).to.be.revertedWithCustomError(
        s.tb,
        "NothingToPay",
      );
    });

    it("lets partial claims add up to the share, and claimableReserve follows", async () => {
      const s = await loadFixture(pooled);
      await redeem(s, await makeTicket(s, { faceValue: ETH("0.4") }));
      expect(await s.tb.claimableReserve(s.sender.address, s.o1.address)).to.equal(SHARE - ETH("0.4"));
      // Another recipient's allowance is unaffected by o1's claim.
      expect(await s.tb.claimableReserve(s.sender.address, s.o2.address)).to.equal(SHARE);
      const t = await makeTicket(s, { faceValue: ETH("5") });
      await expect(redeem(s, t))
        .to.emit(s.tb, "WinningTicketRedeemed")
        .withArgs(t.hash, s.sender.address, s.o1.address, ETH("5"), SHARE - ETH("0.4"));
      expect(await s.tb.claimableReserve(s.sender.address, s.o1.address)).to.equal(0n);
    });

    it("records claimedReserve per recipient and per round", async () => {
      const s = await loadFixture(pooled);
      await redeem(s, await makeTicket(s, { recipient: s.o1.address, faceValue: ETH("0.3") }));
      await redeem(s, await makeTicket(s, { recipient: s.o2.address, faceValue: ETH("0.7") }));
      expect(await s.tb.claimedReserve(s.sender.address, s.o1.address, s.round)).to.equal(ETH("0.3"));
      expect(await s.tb.claimedReserve(s.sender.address, s.o2.address, s.round)).to.equal(ETH("0.7"));
      expect(await s.tb.claimedReserve(s.sender.address, s.o3.address, s.round)).to.equal(0n);
      expect(await s.tb.claimedReserve(s.sender.address, s.o1.address, s.round + 1n)).to.equal(0n);
      expect((await senderInfo(s)).claimedInCurrentRound).to.equal(ETH("1"));
    });

    it("recomputes the allowance next round from the funds remaining", async () => {
      const s = await loadFixture(pooled);
      await redeem(s, await makeTicket(s, { faceValue: ETH("5") }));
      await startNextRound(s.rounds);
      const remaining = RESERVE - SHARE;
      const nextShare = remaining / 3n;
      expect((await senderInfo(s)).claimedInCurrentRound).to.equal(0n);
      expect(await s.tb.claimableReserve(s.sender.address, s.o1.address)).to.equal(nextShare);
      expect(await s.tb.claimableReserve(s.sender.address, s.o2.address)).to.equal(nextShare);
      const t = await makeTicket(s, { faceValue: ETH("5") });
      await expect(redeem(s, t))
        .to.emit(s.tb, "ReserveClaimed")
        .withArgs(s.sender.address, s.o1.address, s.round + 1n, nextShare);
      expect(await s.tb.claimedReserve(s.sender.address, s.o1.address, s.round)).to.equal(SHARE);
      expect(await s.tb.claimedReserve(s.sender.address, s.o1.address, s.round + 1n)).to.equal(nextShare);
    });

    it("includes a reserve top-up made during the round in the shares", async () => {
      const s = await loadFixture(pooled);
      await redeem(s, await makeTicket(s, { faceValue: ETH("5") }));
      await s.tb.connect(s.sender).fundReserve({ value: ETH("3") });
      // (fundsRemaining + claimedInCurrentRound) / 3 = (RESERVE + 3 ETH) / 3
      const share = (RESERVE + ETH("3")) / 3n;
      expect(await s.tb.claimableReserve(s.sender.address, s.o1.address)).to.equal(share - SHARE);
      expect(await s.tb.claimableReserve(s.sender.address, s.o2.address)).to.equal(share);
    });

    it("does not count an orchestrator that joins this round until next round", async () => {
      const s = await loadFixture(pooled);
      await register(s, [s.o4]);
      expect(await s.bm.getTranscoderPoolSize()).to.equal(4n);
      expect(await s.bm.currentRoundPoolSize()).to.equal(3n);
      expect(await s.tb.claimableReserve(s.sender.address, s.o1.address)).to.equal(SHARE);
      expect(await s.tb.claimableReserve(s.sender.address, s.o4.address)).to.equal(0n);
      const t = await makeTicket(s, { faceValue: ETH("5") });
      await expect(redeem(s, t))
        .to.emit(s.tb, "ReserveClaimed")
        .withArgs(s.sender.address, s.o1.address, s.round, SHARE);
    });

    it("refuses the newcomer's tickets in the round it joins", async () => {
      const s = await loadFixture(pooled);
      await register(s, [s.o4]);
      const t = await makeTicket(s, { recipient: s.o4.address, faceValue: ETH("5") });
      await expect(redeem(s, t))
        .to.be.revertedWithCustomError(s.bm, "TranscoderNotActive")
        .withArgs(s.o4.address, s.round);
      expect((await senderInfo(s)).fundsRemaining).to.equal(RESERVE);
    });

    it("splits over four from the round after the newcomer joined", async () => {
      const s = await loadFixture(pooled);
      await register(s, [s.o4]);
      await startNextRound(s.rounds);
      expect(await s.bm.currentRoundPoolSize()).to.equal(4n);
      for (const o of [s.o1, s.o4]) {
        expect(await s.tb.claimableReserve(s.sender.address, o.address)).to.equal(RESERVE / 4n);
      }
      const t = await makeTicket(s, { recipient: s.o4.address, faceValue: ETH("5") });
      await expect(redeem(s, t))
        .to.emit(s.tb, "WinningTicketRedeemed")
        .withArgs(t.hash, s.sender.address, s.o4.address, ETH("5"), RESERVE / 4n);
    });

    it("still counts, and pays, an orchestrator that leaves this round", async () => {
      const s = await loadFixture(pooled);
      await s.bm.connect(s.o3).unbond(STAKE);
      expect(await s.bm.getTranscoderPoolSize()).to.equal(2n);
      expect(await s.bm.currentRoundPoolSize()).to.equal(3n);
      expect(await s.tb.claimableReserve(s.sender.address, s.o1.address)).to.equal(SHARE);
      const t = await makeTicket(s, { recipient: s.o3.address, faceValue: ETH("5") });
      await expect(redeem(s, t))
        .to.emit(s.tb, "ReserveClaimed")
        .withArgs(s.sender.address, s.o3.address, s.round, SHARE);
      await startNextRound(s.rounds);
      expect(await s.bm.currentRoundPoolSize()).to.equal(2n);
      expect(await s.tb.claimableReserve(s.sender.address, s.o1.address)).to.equal((RESERVE - SHARE) / 2n);
      expect(await s.tb.claimableReserve(s.sender.address, s.o3.address)).to.equal(0n);
    });

    it("takes the deposit first, then the reserve share", async () => {
      const s = await loadFixture(pooled);
      await s.tb.connect(s.sender).fundDeposit({ value: ETH("0.5") });
      const t = await makeTicket(s, { faceValue: ETH("5") });
      const tx = redeem(s, t);
      await expect(tx)
        .to.emit(s.tb, "WinningTicketRedeemed")
        .withArgs(t.hash, s.sender.address, s.o1.address, ETH("5"), ETH("0.5") + SHARE);
      await expect(tx).to.emit(s.tb, "ReserveClaimed").withArgs(s.sender.address, s.o1.address, s.round, SHARE);
    });
  });

  // ---------------------------------------------------------------------------------------------------------------
  describe("batchRedeemWinningTickets", () => {
    async function funded() {
      const s = await withOrchestrator();
      await s.tb.connect(s.sender).fundDeposit({ value: ETH("10") });
      return s;
    }

    function batch(tickets: { ticket: Ticket; sig: string; rand: bigint }[]): [Ticket[], string[], bigint[]] {
      return [tickets.map((t) => t.ticket), tickets.map((t) => t.sig), tickets.map((t) => t.rand)];
    }

    /** Three tickets of 1 ETH; the middle one is signed by another key. */
    async function withBadMiddle(s: Base) {
      const good0 = await makeTicket(s, { faceValue: ETH("1") });
      const bad = await makeTicket(s, { faceValue: ETH("1") });
      const good2 = await makeTicket(s, { faceValue: ETH("1") });
      const badSig = { ...bad, sig: hexlify(signDigest(getBytes(bad.hash), getBytes(OTHER_KEY))) };
      return { good0, bad: badSig, good2 };
    }

    it("returns how many tickets were redeemed", async () => {
      const s = await loadFixture(funded);
      const { good0, bad, good2 } = await withBadMiddle(s);
      expect(await s.tb.connect(s.o1).batchRedeemWinningTickets.staticCall(...batch([good0, bad, good2]))).to.equal(2n);
    });

    it("emits BatchTicketFailed with the failing ticket's index and error, and pays the others", async () => {
      const s = await loadFixture(funded);
      const { good0, bad, good2 } = await withBadMiddle(s);
      const tx = s.tb.connect(s.o1).batchRedeemWinningTickets(...batch([good0, bad, good2]));
      await expect(tx)
        .to.emit(s.tb, "BatchTicketFailed")
        .withArgs(1n, s.tb.interface.encodeErrorResult("InvalidSenderSignature", [s.sender.address]));
      await expect(tx)
        .to.emit(s.tb, "WinningTicketRedeemed")
        .withArgs(good0.hash, s.sender.address, s.o1.address, ETH("1"), ETH("1"));
      await expect(tx)
        .to.emit(s.tb, "WinningTicketRedeemed")
        .withArgs(good2.hash, s.sender.address, s.o1.address, ETH("1"), ETH("1"));
      expect(await s.tb.usedTickets(good0.hash)).to.equal(true);
      expect(await s.tb.usedTickets(bad.hash)).to.equal(false);
      expect(await s.tb.usedTickets(good2.hash)).to.equal(true);
      expect((await senderInfo(s)).deposit).to.equal(ETH("8"));
      expect(await s.bm.pendingFees(s.o1.address, s.round)).to.equal(ETH("2"));
    });

    it("emits exactly one event per ticket", async () => {
      const s = await loadFixture(funded);
      const { good0, bad, good2 } = await withBadMiddle(s);
      const receipt = await (await s.tb.connect(s.o1).batchRedeemWinningTickets(...batch([good0, bad, good2]))).wait();
      const names = receipt!.logs
        .filter((entry) => entry.address === s.domain.verifyingContract)
        .map((entry) => s.tb.interface.parseLog(entry)!.name);
      expect(names).to.deep.equal(["WinningTicketRedeemed", "BatchTicketFailed", "WinningTicketRedeemed"]);
    });

    it("redeems the same ticket once when it appears twice; the second fails with TicketUsed", async () => {
      const s = await loadFixture(funded);
      const t = await makeTicket(s, { faceValue: ETH("1") });
      expect(await s.tb.connect(s.o1).batchRedeemWinningTickets.staticCall(...batch([t, t]))).to.equal(1n);
      await expect(s.tb.connect(s.o1).batchRedeemWinningTickets(...batch([t, t])))
        .to.emit(s.tb, "BatchTicketFailed")
        .withArgs(1n, s.tb.interface.encodeErrorResult("TicketUsed", [t.hash]));
      expect((await senderInfo(s)).deposit).to.equal(ETH("9"));
    });

    it("reports errors raised by the BondingManager in its reason", async () => {
      const s = await loadFixture(funded);
      const t = await makeTicket(s, { recipient: s.o2.address });
      await expect(s.tb.connect(s.o2).batchRedeemWinningTickets(...batch([t])))
        .to.emit(s.tb, "BatchTicketFailed")
        .withArgs(0n, s.bm.interface.encodeErrorResult("TranscoderNotActive", [s.o2.address, s.round]));
      expect(await s.tb.usedTickets(t.hash)).to.equal(false);
    });

    it("rolls back only the failing ticket, which stays redeemable (NothingToPay)", async () => {
      const s = await loadFixture(withOrchestrator);
      await s.tb.connect(s.sender).fundDeposit({ value: ETH("1") });
      const first = await makeTicket(s, { faceValue: ETH("1") });
      const second = await makeTicket(s, { faceValue: ETH("1") });
      await expect(s.tb.connect(s.o1).batchRedeemWinningTickets(...batch([first, second])))
        .to.emit(s.tb, "BatchTicketFailed")
        .withArgs(1n, s.tb.interface.encodeErrorResult("NothingToPay", [s.sender.address, s.o1.address]));
      expect(await s.tb.usedTickets(second.hash)).to.equal(false);
      await s.tb.connect(s.sender).fundDeposit({ value: ETH("1") });
      await expect(redeem(s, second)).to.emit(s.tb, "WinningTicketRedeemed");
    });

    it("emits ReserveClaimed for tickets paid from the reserve", async () => {
      const s = await loadFixture(withOrchestrator);
      await s.tb.connect(s.sender).fundReserve({ value: ETH("1") });
      const a = await makeTicket(s, { faceValue: ETH("0.25") });
      const b = await makeTicket(s, { faceValue: ETH("0.5") });
      const tx = s.tb.connect(s.o1).batchRedeemWinningTickets(...batch([a, b]));
      await expect(tx).to.emit(s.tb, "ReserveClaimed").withArgs(s.sender.address, s.o1.address, s.round, ETH("0.25"));
      await expect(tx).to.emit(s.tb, "ReserveClaimed").withArgs(s.sender.address, s.o1.address, s.round, ETH("0.5"));
      expect(await s.tb.claimedReserve(s.sender.address, s.o1.address, s.round)).to.equal(ETH("0.75"));
    });

    it("returns zero and does not revert when every ticket fails", async () => {
      const s = await loadFixture(funded);
      const losing = await makeTicket(s, { winProb: 0n });
      const reason = s.tb.interface.encodeErrorResult("TicketNotWinning", []);
      expect(await s.tb.connect(s.o1).batchRedeemWinningTickets.staticCall(...batch([losing]))).to.equal(0n);
      await expect(s.tb.connect(s.o1).batchRedeemWinningTickets(...batch([losing])))
        .to.emit(s.tb, "BatchTicketFailed")
        .withArgs(0n, reason);
    });

    it("returns zero for an empty batch", async () => {
      const s = await loadFixture(funded);
      expect(await s.tb.batchRedeemWinningTickets.staticCall([], [], [])).to.equal(0n);
    });

    it("reverts when the signatures do not match the tickets in number", async () => {
      const s = await loadFixture(funded);
      const t = await makeTicket(s);
      await expect(s.tb.batchRedeemWinningTickets([t.ticket, t.ticket], [t.sig], [t.rand, t.rand]))
        .to.be.revertedWithCustomError(s.tb, "BatchLengthMismatch")
        .withArgs(2n, 1n, 2n);
    });

    it("reverts when the recipient rands do not match the tickets in number", async () => {
      const s = await loadFixture(funded);
      const t = await makeTicket(s);
      await expect(s.tb.batchRedeemWinningTickets([t.ticket], [t.sig], []))
        .to.be.revertedWithCustomError(s.tb, "BatchLengthMismatch")
        .withArgs(1n, 1n, 0n);
    });

    it("reverts when the system is paused", async () => {
      const s = await loadFixture(funded);
      const t = await makeTicket(s);
      await s.controller.pause();
      await expect(s.tb.batchRedeemWinningTickets(...batch([t]))).to.be.revertedWithCustomError(s.tb, "SystemIsPaused");
    });

    it("reports CurrentRoundNotInitialized per ticket when the round is not initialized", async () => {
      const s = await loadFixture(funded);
      const t = await makeTicket(s);
      await mineToNextTxBlock((await s.rounds.currentRoundStartBlock()) + (await s.rounds.roundLength()));
      await expect(s.tb.connect(s.o1).batchRedeemWinningTickets(...batch([t])))
        .to.emit(s.tb, "BatchTicketFailed")
        .withArgs(0n, s.tb.interface.encodeErrorResult("CurrentRoundNotInitialized", [s.round + 1n]));
    });
  });

  // ---------------------------------------------------------------------------------------------------------------
  describe("views", () => {
    describe("getTicketHash", () => {
      it("is the EIP-712 digest of the ticket under the broker's domain", async () => {
        const s = await loadFixture(withOrchestrator);
        const t = await makeTicket(s);
        const expected = TypedDataEncoder.hash(eip712Domain(s.domain), TICKET_TYPES, t.ticket);
        expect(await s.tb.getTicketHash(t.ticket)).to.equal(expected);
        expect(t.hash).to.equal(expected);
      });

      it("changes with every field", async () => {
        const s = await loadFixture(withOrchestrator);
        const t = await makeTicket(s);
        const hash = await s.tb.getTicketHash(t.ticket);
        const variants: Ticket[] = [
          { ...t.ticket, recipient: s.o2.address },
          { ...t.ticket, sender: s.other.address },
          { ...t.ticket, faceValue: t.ticket.faceValue + 1n },
          { ...t.ticket, winProb: 1n },
          { ...t.ticket, senderNonce: 1n },
          { ...t.ticket, recipientRandHash: recipientRandHash(1n) },
          { ...t.ticket, creationRound: t.ticket.creationRound + 1n },
          { ...t.ticket, creationRoundBlockHash: ZeroHash },
        ];
        for (const variant of variants) {
          const expected = TypedDataEncoder.hash(eip712Domain(s.domain), TICKET_TYPES, variant);
          const actual = await s.tb.getTicketHash(variant);
          expect(actual).to.equal(expected);
          expect(actual).not.to.equal(hash);
        }
      });
    });

    describe("isWinningTicket", () => {
      it("compares keccak256(sig || recipientRand) with winProb, strictly", async () => {
        const s = await loadFixture(withOrchestrator);
        const t = await makeTicket(s);
        const draw = BigInt(keccak256(concat([t.sig, toBeHex(t.rand, 32)])));
        expect(await s.tb.isWinningTicket(t.sig, t.rand, draw)).to.equal(false);
        expect(await s.tb.isWinningTicket(t.sig, t.rand, draw + 1n)).to.equal(true);
        expect(isWinningTicket(getBytes(t.sig), t.rand, draw + 1n)).to.equal(true);
      });

      it("never wins at winProb 0 and wins at MAX_WIN_PROB", async () => {
        const s = await loadFixture(withOrchestrator);
        const t = await makeTicket(s);
        expect(await s.tb.isWinningTicket(t.sig, t.rand, 0n)).to.equal(false);
        expect(await s.tb.isWinningTicket(t.sig, t.rand, MAX_WIN_PROB)).to.equal(true);
      });

      it("depends on the recipient's rand", async () => {
        const s = await loadFixture(withOrchestrator);
        const t = await makeTicket(s);
        const draw = BigInt(keccak256(concat([t.sig, toBeHex(t.rand, 32)])));
        const other = BigInt(keccak256(concat([t.sig, toBeHex(t.rand + 1n, 32)])));
        const threshold = (draw < other ? draw : other) + 1n;
        expect(await s.tb.isWinningTicket(t.sig, t.rand, threshold)).to.equal(draw < other);
        expect(await s.tb.isWinningTicket(t.sig, t.rand + 1n, threshold)).to.equal(other < draw);
      });
    });

    describe("getSenderInfo", () => {
      it("is all zero for an unknown sender", async () => {
        const s = await loadFixture(base);
        expect(await senderInfo(s)).to.deep.equal({
          deposit: 0n,
          withdrawRound: 0n,
          fundsRemaining: 0n,
          claimedInCurrentRound: 0n,
        });
      });

      it("reports deposit, withdrawRound, funds remaining and this round's claims", async () => {
        const s = await loadFixture(withOrchestrator);
        await s.tb.connect(s.sender).fundDepositAndReserve(ETH("1"), ETH("2"), { value: ETH("3") });
        await redeem(s, await makeTicket(s, { faceValue: ETH("1.5") }));
        await s.tb.connect(s.sender).unlock();
        expect(await senderInfo(s)).to.deep.equal({
          deposit: 0n,
          withdrawRound: s.round + UNLOCK_PERIOD,
          fundsRemaining: ETH("1.5"),
          claimedInCurrentRound: ETH("0.5"),
        });
      });

      it("reads this round's claims as zero in the next round", async () => {
        const s = await loadFixture(withOrchestrator);
        await s.tb.connect(s.sender).fundReserve({ value: ETH("2") });
        await redeem(s, await makeTicket(s, { faceValue: ETH("0.5") }));
        expect((await senderInfo(s)).claimedInCurrentRound).to.equal(ETH("0.5"));
        await startNextRound(s.rounds);
        const info = await senderInfo(s);
        expect(info.claimedInCurrentRound).to.equal(0n);
        expect(info.fundsRemaining).to.equal(ETH("1.5"));
      });
    });

    describe("claimableReserve", () => {
      async function reserved() {
        const s = await withOrchestrator();
        await s.tb.connect(s.sender).fundReserve({ value: ETH("2") });
        return s;
      }

      it("is the whole reserve for the only active orchestrator", async () => {
        const s = await loadFixture(reserved);
        expect(await s.tb.claimableReserve(s.sender.address, s.o1.address)).to.equal(ETH("2"));
      });

      it("is zero for a recipient that is not active", async () => {
        const s = await loadFixture(reserved);
        expect(await s.tb.claimableReserve(s.sender.address, s.o2.address)).to.equal(0n);
      });

      it("is zero while the current round is not initialized", async () => {
        const s = await loadFixture(reserved);
        await mineToHead((await s.rounds.currentRoundStartBlock()) + (await s.rounds.roundLength()));
        expect(await s.rounds.currentRoundInitialized()).to.equal(false);
        expect(await s.tb.claimableReserve(s.sender.address, s.o1.address)).to.equal(0n);
      });

      it("is unchanged while an unlock is pending and zero once it completes", async () => {
        const s = await loadFixture(reserved);
        await s.tb.connect(s.sender).unlock();
        await startNextRound(s.rounds);
        expect(await s.tb.claimableReserve(s.sender.address, s.o1.address)).to.equal(ETH("2"));
        await startNextRound(s.rounds);
        expect(await s.tb.claimableReserve(s.sender.address, s.o1.address)).to.equal(0n);
      });

      it("is zero for a sender without a reserve", async () => {
        const s = await loadFixture(withOrchestrator);
        await s.tb.connect(s.sender).fundDeposit({ value: ETH("2") });
        expect(await s.tb.claimableReserve(s.sender.address, s.o1.address)).to.equal(0n);
      });
    });

    describe("usedTickets and isUnlockInProgress", () => {
      it("usedTickets is false before and true after redemption", async () => {
        const s = await loadFixture(withOrchestrator);
        await s.tb.connect(s.sender).fundDeposit({ value: ETH("1") });
        const t = await makeTicket(s);
        expect(await s.tb.usedTickets(t.hash)).to.equal(false);
        await redeem(s, t);
        expect(await s.tb.usedTickets(t.hash)).to.equal(true);
      });

      it("isUnlockInProgress follows unlock, cancelUnlock and withdraw", async () => {
        const s = await loadFixture(base);
        await s.tb.connect(s.sender).fundDeposit({ value: ETH("1") });
        expect(await s.tb.isUnlockInProgress(s.sender.address)).to.equal(false);
        await s.tb.connect(s.sender).unlock();
        expect(await s.tb.isUnlockInProgress(s.sender.address)).to.equal(true);
        await s.tb.connect(s.sender).cancelUnlock();
        expect(await s.tb.isUnlockInProgress(s.sender.address)).to.equal(false);
        await s.tb.connect(s.sender).unlock();
        await startNextRound(s.rounds);
        await startNextRound(s.rounds);
        expect(await s.tb.isUnlockInProgress(s.sender.address)).to.equal(true);
        await s.tb.connect(s.sender).withdraw();
        expect(await s.tb.isUnlockInProgress(s.sender.address)).to.equal(false);
      });
    });
  });

  // ---------------------------------------------------------------------------------------------------------------
  // Both period setters share their rules: owner only, at least one round, at most 32 bits, allowed while paused.
  for (const [setter, getter] of [
    ["setUnlockPeriod", "unlockPeriod"],
    ["setTicketValidityPeriod", "ticketValidityPeriod"],
  ] as const) {
    describe(setter, () => {
      const set = (s: Base, period: bigint, caller: Signer = s.owner) =>
        (s.tb.connect(caller) as TicketBroker)[setter](period);

      it("reverts when the caller is not the Controller owner", async () => {
        const s = await loadFixture(base);
        await expect(set(s, 3n, s.stranger))
          .to.be.revertedWithCustomError(s.tb, "CallerNotControllerOwner")
          .withArgs(s.stranger.address);
      });

      it("sets the period and emits ParameterUpdate", async () => {
        const s = await loadFixture(base);
        await expect(set(s, 3n)).to.emit(s.tb, "ParameterUpdate").withArgs(getter);
        expect(await s.tb[getter]()).to.equal(3n);
      });

      it("reverts when the period is zero", async () => {
        const s = await loadFixture(base);
        await expect(set(s, 0n)).to.be.revertedWithCustomError(s.tb, "InvalidPeriod").withArgs(0n);
      });

      it("accepts the largest 32-bit period and reverts above it", async () => {
        const s = await loadFixture(base);
        await set(s, UINT32_MAX);
        expect(await s.tb[getter]()).to.equal(UINT32_MAX);
        await expect(set(s, UINT32_MAX + 1n))
          .to.be.revertedWithCustomError(s.tb, "InvalidPeriod")
          .withArgs(UINT32_MAX + 1n);
      });

      it("works while the system is paused", async () => {
        const s = await loadFixture(base);
        await s.controller.pause();
        await expect(set(s, 4n)).to.emit(s.tb, "ParameterUpdate");
        expect(await s.tb[getter]()).to.equal(4n);
      });
    });
  }

  describe("setTicketValidityPeriod and outstanding tickets", () => {
    it("shortens the life of outstanding tickets", async () => {
      const s = await loadFixture(withOrchestrator);
      await s.tb.connect(s.sender).fundDeposit({ value: ETH("1") });
      const t = await makeTicket(s);
      await s.tb.setTicketValidityPeriod(1);
      await startNextRound(s.rounds);
      await expect(redeem(s, t))
        .to.be.revertedWithCustomError(s.tb, "TicketExpired")
        .withArgs(s.round, s.round + 1n);
    });

    it("lengthens the life of outstanding tickets", async () => {
      const s = await loadFixture(withOrchestrator);
      await s.tb.connect(s.sender).fundDeposit({ value: ETH("1") });
      const t = await makeTicket(s);
      await s.tb.setTicketValidityPeriod(3);
      await startNextRound(s.rounds);
      await startNextRound(s.rounds);
      await expect(redeem(s, t)).to.emit(s.tb, "WinningTicketRedeemed");
    });
  });
});
