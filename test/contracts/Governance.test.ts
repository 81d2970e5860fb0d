import { expect } from "chai";
import { ethers } from "hardhat";
import { ZeroAddress, ZeroHash, id, parseEther } from "ethers";
import type { BaseContract, Signer } from "ethers";
import { impersonateAccount, loadFixture, setBalance } from "@nomicfoundation/hardhat-network-helpers";

import { type DisputeSuite, deployedSuiteWithDisputes } from "../support/fixtures";
import { CONTRACT_NAMES } from "../../scripts/lib/deployment";
import { MAX_WIN_PROB, TicketSender, recipientRandHash } from "../../offchain/pm";

/**
 * Every state-changing function of every contract of the deployment (as `scripts/deploy.ts` makes it, the
 * DisputeManager included), with who may call it and how the pause treats it. The first test fails when a function
 * or a contract is added without an entry here, so a new setter cannot slip in unguarded.
 */
type Caller = "owner" | "anyone" | "BondingManager" | "TicketBroker" | "RoundsManager" | "Minter" | "DisputeManager";
interface Entry {
  /** Who may call it. `anyone` entries are checked for their pause behaviour only. */
  caller: Caller;
  /** The custom error a stranger gets. */
  strangerError?: string;
  /** `blocked`: reverts with SystemIsPaused while paused; `exempt`: governance must be able to act while paused. */
  pause: "blocked" | "exempt" | "not-a-manager";
  args: (s: DisputeSuite) => unknown[];
}

type Table = Record<string, Record<string, Entry>>;

const stranger = () => ethers.getSigners().then((signers) => signers[9]);

/**
 * A well-formed winning ticket to the deployer, signed under the deployed broker's domain, with its recipientRand:
 * `[ticket, sig, recipientRand]`. Only its creation round is not real, which the pause must be checked before.
 */
function signedTicket(s: DisputeSuite) {
  const recipientRand = 42n;
  const sender = new TicketSender({
    privateKey: "0x" + "a1".repeat(32),
    domain: { chainId: BigInt(s.record.chainId), verifyingContract: s.record.contracts.TicketBroker },
  });
  const [{ ticket, sig }] = sender.createTickets(
    {
      recipient: s.record.deployer,
      faceValue: 1n,
      winProb: MAX_WIN_PROB,
      recipientRandHash: recipientRandHash(recipientRand),
      seed: ZeroHash,
      expirationBlock: 0n,
      creationRound: 1n,
      creationRoundBlockHash: ZeroHash,
    },
    1,
  );
  return [ticket, sig, recipientRand] as const;
}

/**
 * A receipt as `openDispute` and `proveEquivocation` take it, `seq` apart. Unsigned: the pause is checked before
 * anything about it.
 */
function disputeReceipt(s: DisputeSuite, seq: bigint) {
  return {
    broadcaster: s.record.deployer,
    orchestrator: s.record.deployer,
    streamId: id("stream"),
    seq,
    sourceHash: id("source"),
    profilesHash: id("profiles"),
    outputsHash: id(`outputs-${seq}`),
    deterministic: true,
  };
}

const TABLE: Table = {
  Controller: {
    setContract: {
      caller: "owner",
      strangerError: "OwnableUnauthorizedAccount",
      pause: "not-a-manager",
      args: (s) => [id("X"), s.record.contracts.Minter],
    },
    pause: { caller: "owner", strangerError: "OwnableUnauthorizedAccount", pause: "not-a-manager", args: () => [] },
    unpause: { caller: "owner", strangerError: "OwnableUnauthorizedAccount", pause: "not-a-manager", args: () => [] },
    transferOwnership: {
      caller: "owner",
      strangerError: "OwnableUnauthorizedAccount",
      pause: "not-a-manager",
      args: () => [ZeroAddress],
    },
    acceptOwnership: {
      caller: "owner",
      strangerError: "OwnableUnauthorizedAccount",
      pause: "not-a-manager",
      args: () => [],
    },
  },
  RoundsManager: {
    initialize: { caller: "owner", strangerError: "InvalidInitialization", pause: "exempt", args: () => [20, 0] },
    initializeRound: { caller: "anyone", pause: "blocked", args: () => [] },
    setRoundLength: { caller: "owner", strangerError: "CallerNotControllerOwner", pause: "exempt", args: () => [30] },
    setRoundLockAmount: {
      caller: "owner",
      strangerError: "CallerNotControllerOwner",
      pause: "exempt",
      args: () => [0],
    },
    upgradeToAndCall: {
      caller: "owner",
      strangerError: "CallerNotControllerOwner",
      pause: "exempt",
      args: (s) => [s.record.implementations.RoundsManager, "0x"],
    },
  },
  BondingManager: {
    initialize: { caller: "owner", strangerError: "InvalidInitialization", pause: "exempt", args: () => [2, 100] },
    bond: { caller: "anyone", pause: "blocked", args: () => [1, ZeroAddress] },
    bondWithHint: {
      caller: "anyone",
      pause: "blocked",
      args: (s) => [1, s.record.deployer, ZeroAddress, ZeroAddress, ZeroAddress, ZeroAddress],
    },
    unbond: { caller: "anyone", pause: "blocked", args: () => [1] },
    unbondWithHint: { caller: "anyone", pause: "blocked", args: () => [1, ZeroAddress, ZeroAddress] },
    rebond: { caller: "anyone", pause: "blocked", args: () => [0] },
    rebondWithHint: { caller: "anyone", pause: "blocked", args: () => [0, ZeroAddress, ZeroAddress] },
    rebondFromUnbonded: { caller: "anyone", pause: "blocked", args: (s) => [s.record.deployer, 0] },
    rebondFromUnbondedWithHint: {
      caller: "anyone",
      pause: "blocked",
      args: (s) => [s.record.deployer, 0, ZeroAddress, ZeroAddress],
    },
    withdrawStake: { caller: "anyone", pause: "blocked", args: () => [0] },
    withdrawFees: { caller: "anyone", pause: "blocked", args: (s) => [s.record.deployer, 1] },
    claimEarnings: { caller: "anyone", pause: "blocked", args: () => [1] },
    transcoder: { caller: "anyone", pause: "blocked", args: () => [0, 0] },
    transcoderWithHint: { caller: "anyone", pause: "blocked", args: () => [0, 0, ZeroAddress, ZeroAddress] },
    reward: { caller: "anyone", pause: "blocked", args: () => [] },
    rewardWithHint: { caller: "anyone", pause: "blocked", args: () => [ZeroAddress, ZeroAddress] },
    updateTranscoderWithFees: {
      caller: "TicketBroker",
      strangerError: "CallerNotManager",
      pause: "blocked",
      args: (s) => [s.record.deployer, 1, 1],
    },
    slashTranscoder: {
      caller: "DisputeManager",
      strangerError: "CallerNotManager",
      pause: "blocked",
      args: (s) => [s.record.deployer, ZeroAddress, 1, 0],
    },
    setCurrentRoundTotalActiveStake: {
      caller: "RoundsManager",
      strangerError: "CallerNotManager",
      pause: "exempt",
      args: () => [],
    },
    setUnbondingPeriod: {
      caller: "owner",
      strangerError: "CallerNotControllerOwner",
      pause: "exempt",
      args: () => [3],
    },
    setNumActiveTranscoders: {
      caller: "owner",
      strangerError: "CallerNotControllerOwner",
      pause: "exempt",
      args: () => [100],
    },
    upgradeToAndCall: {
      caller: "owner",
      strangerError: "CallerNotControllerOwner",
      pause: "exempt",
      args: (s) => [s.record.implementations.BondingManager, "0x"],
    },
  },
  Minter: {
    createReward: { caller: "BondingManager", strangerError: "CallerNotManager", pause: "blocked", args: () => [1, 2] },
    trustedTransferTokens: {
      caller: "BondingManager",
      strangerError: "CallerNotManager",
      pause: "blocked",
      args: (s) => [s.record.deployer, 0],
    },
    trustedBurnTokens: {
      caller: "BondingManager",
      strangerError: "CallerNotManager",
      pause: "blocked",
      args: () => [0],
    },
    trustedWithdrawETH: {
      caller: "TicketBroker",
      strangerError: "CallerNotFundsManager",
      pause: "blocked",
      args: (s) => [s.record.deployer, 0],
    },
    depositETH: { caller: "TicketBroker", strangerError: "CallerNotDepositor", pause: "exempt", args: () => [] },
    setCurrentRewardTokens: {
      caller: "RoundsManager",
      strangerError: "CallerNotManager",
      pause: "blocked",
      args: () => [0],
    },
    migrateToNewMinter: {
      caller: "owner",
      strangerError: "CallerNotControllerOwner",
      pause: "exempt",
      args: (s) => [s.record.contracts.Minter],
    },
    setTargetBondingRate: {
      caller: "owner",
      strangerError: "CallerNotControllerOwner",
      pause: "exempt",
      args: () => [1],
    },
    setInflationChange: {
      caller: "owner",
      strangerError: "CallerNotControllerOwner",
      pause: "exempt",
      args: () => [1],
    },
  },
  TicketBroker: {
    initialize: { caller: "owner", strangerError: "InvalidInitialization", pause: "exempt", args: () => [2, 2] },
    fundDeposit: { caller: "anyone", pause: "blocked", args: () => [{ value: 1n }] },
    fundReserve: { caller: "anyone", pause: "blocked", args: () => [{ value: 1n }] },
    fundDepositAndReserve: { caller: "anyone", pause: "blocked", args: () => [1n, 1n, { value: 2n }] },
    unlock: { caller: "anyone", pause: "blocked", args: () => [] },
    cancelUnlock: { caller: "anyone", pause: "blocked", args: () => [] },
    withdraw: { caller: "anyone", pause: "blocked", args: () => [] },
    redeemWinningTicket: { caller: "anyone", pause: "blocked", args: (s) => [...signedTicket(s)] },
    batchRedeemWinningTickets: {
      caller: "anyone",
      pause: "blocked",
      args: (s) => {
        const [ticket, sig, recipientRand] = signedTicket(s);
        return [[ticket], [sig], [recipientRand]];
      },
    },
    setUnlockPeriod: {
      caller: "owner",
      strangerError: "CallerNotControllerOwner",
      pause: "exempt",
      args: () => [3],
    },
    setTicketValidityPeriod: {
      caller: "owner",
      strangerError: "CallerNotControllerOwner",
      pause: "exempt",
      args: () => [3],
    },
    upgradeToAndCall: {
      caller: "owner",
      strangerError: "CallerNotControllerOwner",
      pause: "exempt",
      args: (s) => [s.record.implementations.TicketBroker, "0x"],
    },
  },
  ServiceRegistry: {
    setServiceURI: { caller: "anyone", pause: "blocked", args: () => ["https://orchestrator.example:8935"] },
  },
  DisputeManager: {
    initialize: {
      caller: "owner",
      strangerError: "InvalidInitialization",
      pause: "exempt",
      args: () => [parseEther("0.01"), 10, 10, 3, 2, 500_000, 500_000, 100_000, 2],
    },
    registerVerifier: { caller: "anyone", pause: "blocked", args: () => [1] },
    deregisterVerifier: { caller: "anyone", pause: "blocked", args: () => [] },
    withdrawVerifierStake: { caller: "anyone", pause: "blocked", args: () => [] },
    openDispute: {
      caller: "anyone",
      pause: "blocked",
      args: (s) => [disputeReceipt(s, 0n), "0x", "ipfs://evidence", { value: parseEther("0.01") }],
    },
    drawCommittee: { caller: "anyone", pause: "blocked", args: () => [1] },
    commitVote: { caller: "anyone", pause: "blocked", args: () => [1, id("commitment")] },
    revealVote: { caller: "anyone", pause: "blocked", args: () => [1, 1, ZeroHash] },
    resolve: { caller: "anyone", pause: "blocked", args: () => [1] },
    proveEquivocation: {
      caller: "anyone",
      pause: "blocked",
      args: (s) => [disputeReceipt(s, 0n), "0x", disputeReceipt(s, 1n), "0x"],
    },
    withdrawPayout: { caller: "anyone", pause: "blocked", args: () => [] },
    setDisputeBond: {
      caller: "owner",
      strangerError: "CallerNotControllerOwner",
      pause: "exempt",
      args: () => [parseEther("0.02")],
    },
    setVotingPeriods: {
      caller: "owner",
      strangerError: "CallerNotControllerOwner",
      pause: "exempt",
      args: () => [20, 20],
    },
    setCommittee: { caller: "owner", strangerError: "CallerNotControllerOwner", pause: "exempt", args: () => [5, 3] },
    setSlashAmounts: {
      caller: "owner",
      strangerError: "CallerNotControllerOwner",
      pause: "exempt",
      args: () => [400_000, 400_000, 50_000],
    },
    setVerifierUnlockPeriod: {
      caller: "owner",
      strangerError: "CallerNotControllerOwner",
      pause: "exempt",
      args: () => [3],
    },
    upgradeToAndCall: {
      caller: "owner",
      strangerError: "CallerNotControllerOwner",
      pause: "exempt",
      args: (s) => [s.record.implementations.DisputeManager, "0x"],
    },
  },
  LivepeerToken: {
    mint: {
      caller: "Minter",
      strangerError: "CallerNotMinter",
      pause: "not-a-manager",
      args: (s) => [s.record.deployer, 1],
    },
    burn: { caller: "anyone", pause: "not-a-manager", args: () => [0] },
    burnFrom: { caller: "anyone", pause: "not-a-manager", args: () => [] },
    transfer: { caller: "anyone", pause: "not-a-manager", args: () => [] },
    transferFrom: { caller: "anyone", pause: "not-a-manager", args: () => [] },
    approve: { caller: "anyone", pause: "not-a-manager", args: () => [] },
    permit: { caller: "anyone", pause: "not-a-manager", args: () => [] },
  },
};

async function contractsOf(s: DisputeSuite): Promise<Record<string, BaseContract>> {
  return {
    Controller: s.controller,
    RoundsManager: s.rounds,
    BondingManager: s.bondingManager,
    Minter: s.minter,
    TicketBroker: s.ticketBroker,
    ServiceRegistry: s.serviceRegistry,
    DisputeManager: s.disputeManager,
    LivepeerToken: s.token,
  };
}

async function signerFor(caller: Caller, s: DisputeSuite): Promise<Signer> {
  if (caller === "owner" || caller === "anyone") return (await ethers.getSigners())[0];
  const address = await s.controller.getContract(id(caller));
  await impersonateAccount(address);
  await setBalance(address, ethers.parseEther("1"));
  return ethers.getSigner(address);
}

function stateChanging(contract: BaseContract): string[] {
  const names: string[] = [];
  contract.interface.forEachFunction((fragment) => {
    if (!fragment.constant) names.push(fragment.name);
  });
  return names.sort();
}

describe("Governance: access control and the pause", () => {
  const suite = () => deployedSuiteWithDisputes();

  it("has an entry for every state-changing function of every contract", async () => {
    const s = await loadFixture(suite);
    const contracts = await contractsOf(s);
    expect(Object.keys(contracts), "contracts checked").to.have.members([...CONTRACT_NAMES]);
    expect(Object.keys(TABLE), "contracts in the table").to.have.members([...CONTRACT_NAMES]);
    for (const [name, contract] of Object.entries(contracts)) {
      expect(stateChanging(contract), name).to.have.members(Object.keys(TABLE[name]).sort());
    }
  });

  for (const [contractName, entries] of Object.entries(TABLE)) {
    for (const [fn, entry] of Object.entries(entries)) {
      if (entry.strangerError !== undefined) {
        it(`${contractName}.${fn} refuses a stranger with ${entry.strangerError}`, async () => {
          const s = await loadFixture(suite);
          const contract = (await contractsOf(s))[contractName];
          const call = (contract.connect(await stranger()) as BaseContract).getFunction(fn);
          await expect(call(...entry.args(s))).to.be.revertedWithCustomError(contract, entry.strangerError!);
        });
      }
      if (entry.pause === "blocked") {
        it(`${contractName}.${fn} reverts with SystemIsPaused while paused`, async () => {
          const s = await loadFixture(suite);
          await s.controller.pause();
          const contract = (await contractsOf(s))[contractName];
          const call = (contract.connect(await signerFor(entry.caller, s)) as BaseContract).getFunction(fn);
          await expect(call(...entry.args(s))).to.be.revertedWithCustomError(contract, "SystemIsPaused");
        });
      }
      if (entry.pause === "exempt") {
        it(`${contractName}.${fn} is not stopped by the pause`, async () => {
          const s = await loadFixture(suite);
          await s.controller.pause();
          const contract = (await contractsOf(s))[contractName];
          const call = (contract.connect(await signerFor(entry.caller, s)) as BaseContract).getFunction(fn);
          // It may still revert for its own reasons (an initializer that already ran), never for the pause.
          await expect(call(...entry.args(s))).not.to.be.revertedWithCustomError(contract, "SystemIsPaused");
        });
      }
    }
  }

  it("forbids renouncing governance (a view that always reverts, so it is not in the table)", async () => {
    const s = await loadFixture(suite);
    await expect(s.controller.renounceOwnership()).to.be.revertedWithCustomError(
      s.controller,
      "RenounceOwnershipDisabled",
    );
  });
});
