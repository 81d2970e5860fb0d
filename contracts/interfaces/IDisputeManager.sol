// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IManager} from "./IManager.sol";

/// @title IDisputeManager
/// @notice Verification disputes. A broadcaster who believes an orchestrator's signed outputs are wrong opens a
/// dispute with a bond and a pointer to the evidence; a committee of verifiers, drawn by locked LPT from a block hash
/// nobody knew at opening, votes by commit and reveal; a Fault slashes the orchestrator through the BondingManager.
/// Two deterministic receipts for one input with different outputs prove a fault without a vote.
interface IDisputeManager is IManager {
    /// @notice What an orchestrator signs for every transcoded segment: the EIP-712 type
    /// `TranscodeReceipt(address broadcaster,address orchestrator,bytes32 streamId,uint256 seq,bytes32 sourceHash,
    /// bytes32 profilesHash,bytes32 outputsHash,bool deterministic)` under the domain ("Streamflow", "1", chain id,
    /// this contract's proxy). Field order is the EIP-712 type's, not the tightest packing.
    // solhint-disable-next-line gas-struct-packing
    struct TranscodeReceipt {
        address broadcaster;
        address orchestrator;
        bytes32 streamId;
        uint256 seq;
        bytes32 sourceHash;
        bytes32 profilesHash;
        bytes32 outputsHash;
        bool deterministic;
    }

    enum Vote {
        None,
        Fault,
        NoFault
    }

    enum Outcome {
        None,
        Fault,
        NoFault,
        NoQuorum
    }

    /// @notice Where a dispute stands. `AwaitingCommittee` until `drawCommittee` runs after `seedBlock`; `Commit`
    /// through `commitEnd`; `Reveal` through `revealEnd`; then `Resolvable` (also as soon as every member revealed).
    enum Phase {
        None,
        AwaitingCommittee,
        Commit,
        Reveal,
        Resolvable,
        Resolved
    }

    struct DisputeInfo {
        address broadcaster;
        address orchestrator;
        bytes32 receiptHash; // the receipt's EIP-712 digest
        uint256 bond; // wei
        uint256 openedBlock;
        uint256 seedBlock; // the committee is drawn from this block's hash
        uint256 commitEnd; // last block for commits (0 until drawn)
        uint256 revealEnd; // last block for reveals (0 until drawn)
        uint256 faultStake; // revealed Fault votes, weighted by the members' locked stake at the draw
        uint256 noFaultStake;
        uint256 reveals;
        Phase phase;
        Outcome outcome;
    }

    struct VerifierInfo {
        uint256 stake; // LPT locked here, wei
        uint256 unlockRound; // 0 while registered; else the round `withdrawVerifierStake` is allowed from
        uint256 openDuties; // committees of unresolved disputes this verifier sits on
    }

    struct VoteInfo {
        bool member;
        uint256 weight; // locked stake when the committee was drawn
        bytes32 commitment;
        Vote vote; // None until revealed
    }

    event VerifierRegistered(address indexed verifier, uint256 amount, uint256 stake);
    event VerifierDeregistered(address indexed verifier, uint256 stake, uint256 unlockRound);
    event VerifierStakeWithdrawn(address indexed verifier, uint256 amount);
    event DisputeOpened(
        uint256 indexed disputeId,
        address indexed broadcaster,
        address indexed orchestrator,
        TranscodeReceipt receipt,
        bytes32 receiptHash,
        string evidenceURI,
        uint256 bond,
        uint256 seedBlock
    );
    /// @notice The seed block's hash was no longer available (256 blocks passed); the draw waits for `seedBlock`.
    event CommitteeReseeded(uint256 indexed disputeId, uint256 seedBlock);
    event CommitteeDrawn(
        uint256 indexed disputeId,
        address[] members,
        uint256[] weights,
        uint256 commitEnd,
        uint256 revealEnd
    );
    event VoteCommitted(uint256 indexed disputeId, address indexed verifier, bytes32 commitment);
    event VoteRevealed(uint256 indexed disputeId, address indexed verifier, Vote vote, uint256 weight);
    event DisputeResolved(
        uint256 indexed disputeId,
        Outcome outcome,
        uint256 faultStake,
        uint256 noFaultStake,
        uint256 reveals
    );
    /// @notice A committee member lost `amount` LPT of its locked stake (no reveal, or a vote against the outcome).
    event VerifierPenalized(uint256 indexed disputeId, address indexed verifier, uint256 amount);
    /// @notice A committee member on the winning side received `amount` LPT from the penalties.
    event VerifierRewarded(uint256 indexed disputeId, address indexed verifier, uint256 amount);
    event EquivocationProven(
        address indexed orchestrator,
        address indexed finder,
        bytes32 indexed streamId,
        uint256 seq,
        bytes32 receiptHashA,
        bytes32 receiptHashB
    );
    /// @notice `amount` wei (a bond) went to `recipient`; `pushed` is false when the transfer failed and the amount
    /// waits for `withdrawPayout`.
    event BondPaid(uint256 indexed disputeId, address indexed recipient, uint256 amount, bool pushed);
    event PayoutWithdrawn(address indexed recipient, uint256 amount);

    /// @notice An amount of zero.
    error ZeroAmount();
    /// @notice `verifier` asked to deregister or withdraw but has no stake here.
    error NotVerifier(address verifier);
    /// @notice `verifier` is deregistering and may not add stake until it has withdrawn.
    error VerifierUnlocking(address verifier, uint256 unlockRound);
    /// @notice `verifier` sits on `openDuties` unresolved committees and may not leave yet.
    error VerifierOnCommittee(address verifier, uint256 openDuties);
    /// @notice `verifier` is registered: deregister first.
    error VerifierNotDeregistered(address verifier);
    /// @notice The stake unlocks in `unlockRound`.
    error VerifierStakeLocked(address verifier, uint256 unlockRound);
    /// @notice `openDispute` needs exactly the dispute bond.
    error WrongBond(uint256 sent, uint256 required);
    /// @notice Only the receipt's broadcaster may dispute it.
    error CallerNotBroadcaster(address caller, address broadcaster);
    /// @notice The signature does not recover the receipt's orchestrator.
    error InvalidReceiptSignature(address orchestrator);
    /// @notice A receipt is disputed at most once.
    error ReceiptAlreadyDisputed(bytes32 receiptHash, uint256 disputeId);
    error EmptyEvidenceURI();
    error UnknownDispute(uint256 disputeId);
    /// @notice The call does not fit the dispute's current phase.
    error WrongPhase(uint256 disputeId, Phase phase);
    /// @notice The committee is drawn from the hash of `seedBlock`, which is not mined yet.
    error CommitteeNotDue(uint256 disputeId, uint256 seedBlock);
    /// @notice Committees of earlier disputes must be drawn before the verifier set changes; call `drawCommittee`.
    error CommitteeDrawsPending(uint256 disputeId);
    error NotCommitteeMember(uint256 disputeId, address verifier);
    error AlreadyCommitted(uint256 disputeId, address verifier);
    /// @notice A salt must start with the revealer's address (see `commitVote`).
    error SaltNotBound(uint256 disputeId, address verifier);
    error InvalidVote();
    error NotCommitted(uint256 disputeId, address verifier);
    error AlreadyRevealed(uint256 disputeId, address verifier);
    /// @notice `keccak256(abi.encodePacked(uint8(vote), salt))` is not the member's commitment.
    error RevealMismatch(uint256 disputeId, address verifier);
    /// @notice The two receipts are not an equivocation: `reason` says which condition failed.
    error NotEquivocation(string reason);
    error EquivocationAlreadyProven(bytes32 key);
    error NothingToWithdraw(address recipient);
    error PayoutFailed(address recipient, uint256 amount);
    /// @notice A parameter value outside its range.
    error InvalidParameter(string param, uint256 value);

    // ---- Verifiers ----

    /// @notice Locks `amount` LPT (approved to this contract) as verifier stake, adding to any already locked. It
    /// counts for every committee whose seed block's hash is still unknown (committees already due are drawn first).
    function registerVerifier(uint256 amount) external;

    /// @notice Stops being drawn for committees; the stake can be withdrawn `verifierUnlockPeriod` rounds later.
    /// Reverts while the caller sits on an unresolved committee.
    function deregisterVerifier() external;

    /// @notice Returns the caller's stake once deregistered and unlocked.
    function withdrawVerifierStake() external;

    // ---- Disputes ----

    /// @notice Challenges a receipt. Payable with exactly `disputeBond`; only the receipt's broadcaster. The committee
    /// is drawn from the hash of the next block.
    /// @param evidenceURI Where verifiers fetch the source and output bytes (content-addressed; see docs/disputes.md)
    function openDispute(
        TranscodeReceipt calldata receipt,
        bytes calldata orchestratorSig,
        string calldata evidenceURI
    ) external payable returns (uint256 disputeId);

    /// @notice Draws the committee once the seed block is mined; anyone. Re-seeds if its hash is gone.
    function drawCommittee(uint256 disputeId) external;

    /// @notice Commits `keccak256(abi.encodePacked(uint8(vote), salt))`; committee members, during the commit phase.
    /// The salt's first 20 bytes must be the member's address and the other 12 random: a commitment copied from
    /// another member could then never be revealed.
    function commitVote(uint256 disputeId, bytes32 commitment) external;

    /// @notice Reveals a committed vote during the reveal phase.
    function revealVote(uint256 disputeId, Vote vote, bytes32 salt) external;

    /// @notice Settles a dispute after the reveal phase (or once every member revealed); anyone. Quorum and slash
    /// amounts are those in force when the dispute was opened.
    function resolve(uint256 disputeId) external returns (Outcome outcome);

    /// @notice Slashes an orchestrator that signed two deterministic receipts for the same stream, segment, source
    /// and renditions with different outputs. The caller gets the finder fee.
    function proveEquivocation(
        TranscodeReceipt calldata receiptA,
        bytes calldata sigA,
        TranscodeReceipt calldata receiptB,
        bytes calldata sigB
    ) external;

    /// @notice Sends the caller bonds whose transfer failed at resolution.
    function withdrawPayout() external;

    // ---- Views ----

    function getDispute(uint256 disputeId) external view returns (DisputeInfo memory);

    function disputePhase(uint256 disputeId) external view returns (Phase);

    function getCommittee(uint256 disputeId) external view returns (address[] memory members, uint256[] memory weights);

    function getVote(uint256 disputeId, address verifier) external view returns (VoteInfo memory);

    function getVerifier(address verifier) external view returns (VerifierInfo memory);

    /// @notice Locked stake that committees are drawn from (registered verifiers only).
    function totalVerifierStake() external view returns (uint256);

    function disputeCount() external view returns (uint256);

    /// @notice The dispute of a receipt digest, or 0 (dispute ids start at 1).
    function disputeOfReceipt(bytes32 receiptHash) external view returns (uint256);

    /// @notice Unresolved disputes against `orchestrator`.
    function openDisputesAgainst(address orchestrator) external view returns (uint256);

    /// @notice The receipt's EIP-712 digest under this contract's domain.
    function receiptHash(TranscodeReceipt calldata receipt) external view returns (bytes32);

    function payouts(address recipient) external view returns (uint256);

    function disputeBond() external view returns (uint256);

    function commitPeriod() external view returns (uint256);

    function revealPeriod() external view returns (uint256);

    function committeeSize() external view returns (uint256);

    function quorum() external view returns (uint256);

    function faultSlashAmount() external view returns (uint256);

    function finderFee() external view returns (uint256);

    function verifierSlashAmount() external view returns (uint256);

    function verifierUnlockPeriod() external view returns (uint256);

    // ---- Governance (Controller owner; each emits ParameterUpdate) ----

    function setDisputeBond(uint256 value) external;

    function setVotingPeriods(uint256 commitPeriod_, uint256 revealPeriod_) external;

    function setCommittee(uint256 committeeSize_, uint256 quorum_) external;

    function setSlashAmounts(uint256 faultSlashAmount_, uint256 finderFee_, uint256 verifierSlashAmount_) external;

    function setVerifierUnlockPeriod(uint256 value) external;
}
