// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IBondingManager} from "../interfaces/IBondingManager.sol";
import {IController} from "../interfaces/IController.sol";
import {IDisputeManager} from "../interfaces/IDisputeManager.sol";
import {ILivepeerToken} from "../interfaces/ILivepeerToken.sol";
import {IRoundsManager} from "../interfaces/IRoundsManager.sol";
import {ContractIds} from "../libraries/ContractIds.sol";
import {VerifierTree} from "../libraries/VerifierTree.sol";
import {ManagerUpgradeable} from "../manager/ManagerUpgradeable.sol";

/// @title DisputeManager
/// @notice Verifier stake, disputes over transcode receipts, committee votes and equivocation proofs. See
/// `IDisputeManager` and docs/disputes.md.
/// @dev Committees are drawn from the hash of the block after the opening, over the stake in the verifier tree. So
/// that nobody can change that stake once the hash is known, every call that changes the tree first draws the
/// committees whose seed block is mined (`_drawDue`). Verifier LPT stays in this contract; bonds are ETH held here.
contract DisputeManager is ManagerUpgradeable, IDisputeManager {
    using SafeCast for uint256;
    using SafeERC20 for IERC20;
    using VerifierTree for VerifierTree.Tree;

    uint256 private constant PERC = 1_000_000;
    /// Committees are looped over at resolution; this bounds that loop.
    uint256 public constant MAX_COMMITTEE_SIZE = 31;
    /// Due draws a stake change performs itself before it asks the caller to draw the rest first.
    uint256 private constant MAX_INLINE_DRAWS = 4;
    uint256 private constant MAX_EVIDENCE_URI_BYTES = 2048;
    /// Enough for an EOA or a simple wallet to receive a bond; anything needing more uses `withdrawPayout`.
    uint256 private constant BOND_PUSH_GAS = 30_000;

    // Constant hashes are computed at compile time: the long strings cost nothing at run time.
    // solhint-disable gas-small-strings
    bytes32 private constant RECEIPT_TYPEHASH = keccak256(
        "TranscodeReceipt(address broadcaster,address orchestrator,bytes32 streamId,uint256 seq,bytes32 sourceHash,"
        "bytes32 profilesHash,bytes32 outputsHash,bool deterministic)"
    );
    bytes32 private constant DOMAIN_TYPEHASH = keccak256(
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    );
    // solhint-enable gas-small-strings
    bytes32 private constant NAME_HASH = keccak256("Streamflow");
    bytes32 private constant VERSION_HASH = keccak256("1");

    struct Params {
        uint128 disputeBond;
        uint32 commitPeriod;
        uint32 revealPeriod;
        uint8 committeeSize;
        uint8 quorum;
        uint32 faultSlashAmount;
        uint32 finderFee;
        uint32 verifierSlashAmount;
        uint32 verifierUnlockPeriod;
    }

    struct Verifier {
        uint128 stake;
        uint32 unlockRound;
        uint32 openDuties;
    }

    /// Packed in six slots; the terms (quorum and the slash amounts, ppm) are those in force when it was opened, so
    /// later governance changes do not apply to it.
    struct Dispute {
        // slot 0
        address broadcaster;
        uint40 openedBlock;
        uint8 reveals;
        bool drawn;
        Outcome outcome;
        uint8 quorum;
        // slot 1
        address orchestrator;
        uint40 seedBlock;
        uint24 faultSlashAmount;
        uint24 finderFee;
        // slot 2
        bytes32 receiptHash;
        // slot 3
        uint128 bond;
        uint40 commitEnd;
        uint40 revealEnd;
        uint24 verifierSlashAmount;
        // slot 4
        uint128 faultStake;
        uint128 noFaultStake;
        // slot 5
        address[] members;
    }

    struct Ballot {
        bytes32 commitment;
        uint128 weight;
        bool member;
        Vote vote;
    }

    Params private _params;
    VerifierTree.Tree private _tree;
    mapping(address verifier => Verifier) private _verifiers;
    uint256 private _disputeCount;
    mapping(uint256 disputeId => Dispute) private _disputes;
    mapping(uint256 disputeId => mapping(address verifier => Ballot)) private _ballots;
    /// A dispute waiting for its committee, with the seed block it was queued for (a re-seeded dispute is queued
    /// again; its earlier entry is then stale).
    struct QueuedDraw {
        uint64 disputeId;
        uint64 seedBlock;
    }

    /// Disputes in order of seed block, waiting for their committee; `_drawHead` is the first not yet handled.
    QueuedDraw[] private _drawQueue;
    uint256 private _drawHead;
    /// @inheritdoc IDisputeManager
    mapping(bytes32 receiptHash => uint256 disputeId) public disputeOfReceipt;
    /// @inheritdoc IDisputeManager
    mapping(address orchestrator => uint256 count) public openDisputesAgainst;
    mapping(bytes32 key => bool) private _equivocationProven;
    /// @inheritdoc IDisputeManager
    mapping(address recipient => uint256 amount) public payouts;

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor(IController controller_) ManagerUpgradeable(controller_) {}

    /// @notice Sets the parameters; called once through the proxy.
    function initialize(
        uint256 disputeBond_,
        uint256 commitPeriod_,
        uint256 revealPeriod_,
        uint256 committeeSize_,
        uint256 quorum_,
        uint256 faultSlashAmount_,
        uint256 finderFee_,
        uint256 verifierSlashAmount_,
        uint256 verifierUnlockPeriod_
    ) external initializer {
        _setDisputeBond(disputeBond_);
        _setVotingPeriods(commitPeriod_, revealPeriod_);
        _setCommittee(committeeSize_, quorum_);
        _setSlashAmounts(faultSlashAmount_, finderFee_, verifierSlashAmount_);
        _setVerifierUnlockPeriod(verifierUnlockPeriod_);
    }

    // ---- Verifiers ----

    /// @inheritdoc IDisputeManager
    function registerVerifier(uint256 amount) external whenSystemNotPaused {
        if (amount == 0) revert ZeroAmount();
        _drawDue();
        Verifier storage v = _verifiers[msg.sender];
        if (v.unlockRound != 0) revert VerifierUnlocking(msg.sender, v.unlockRound);
        uint256 stake = v.stake + amount;
        v.stake = stake.toUint128();
        _tree.add(msg.sender, amount);
        emit VerifierRegistered(msg.sender, amount, stake);
        IERC20(_registered(ContractIds.LIVEPEER_TOKEN)).safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IDisputeManager
    function deregisterVerifier() external whenSystemNotPaused {
        _drawDue();
        Verifier storage v = _verifiers[msg.sender];
        if (v.stake == 0) revert NotVerifier(msg.sender);
        if (v.unlockRound != 0) revert VerifierUnlocking(msg.sender, v.unlockRound);
        if (v.openDuties != 0) revert VerifierOnCommittee(msg.sender, v.openDuties);
        uint256 unlockRound = _roundsManager().currentRound() + _params.verifierUnlockPeriod;
        v.unlockRound = unlockRound.toUint32();
        _tree.sub(msg.sender, v.stake);
        emit VerifierDeregistered(msg.sender, v.stake, unlockRound);
    }

    /// @inheritdoc IDisputeManager
    function withdrawVerifierStake() external whenSystemNotPaused {
        Verifier storage v = _verifiers[msg.sender];
        uint256 amount = v.stake;
        if (amount == 0) revert NotVerifier(msg.sender);
        if (v.unlockRound == 0) revert VerifierNotDeregistered(msg.sender);
        if (_roundsManager().currentRound() < v.unlockRound) revert VerifierStakeLocked(msg.sender, v.unlockRound);
        v.stake = 0;
        v.unlockRound = 0;
        emit VerifierStakeWithdrawn(msg.sender, amount);
        IERC20(_registered(ContractIds.LIVEPEER_TOKEN)).safeTransfer(msg.sender, amount);
    }

    // ---- Disputes ----

    /// @inheritdoc IDisputeManager
    function openDispute(
        TranscodeReceipt calldata receipt,
        bytes calldata orchestratorSig,
        string calldata evidenceURI
    ) external payable whenSystemNotPaused returns (uint256 disputeId) {
        uint256 bond = _params.disputeBond;
        if (msg.value != bond) revert WrongBond(msg.value, bond);
        if (msg.sender != receipt.broadcaster) revert CallerNotBroadcaster(msg.sender, receipt.broadcaster);
        uint256 uriLength = bytes(evidenceURI).length;
        if (uriLength == 0) revert EmptyEvidenceURI();
        if (uriLength > MAX_EVIDENCE_URI_BYTES) revert InvalidParameter("evidenceURI", uriLength);
        bytes32 digest = _receiptHash(receipt);
        if (_signer(digest, orchestratorSig) != receipt.orchestrator) {
            revert InvalidReceiptSignature(receipt.orchestrator);
        }
        uint256 existing = disputeOfReceipt[digest];
        if (existing != 0) revert ReceiptAlreadyDisputed(digest, existing);

        uint256 seedBlock;
        (disputeId, seedBlock) = _record(receipt.broadcaster, receipt.orchestrator, digest, bond);
        emit DisputeOpened(
            disputeId,
            receipt.broadcaster,
            receipt.orchestrator,
            receipt,
            digest,
            evidenceURI,
            bond,
            seedBlock
        );
    }

    /// @inheritdoc IDisputeManager
    function drawCommittee(uint256 disputeId) external whenSystemNotPaused {
        Dispute storage d = _existing(disputeId);
        if (d.drawn) revert WrongPhase(disputeId, _phase(d));
        if (block.number <= d.seedBlock) revert CommitteeNotDue(disputeId, d.seedBlock);
        _draw(disputeId, d);
    }

    /// @inheritdoc IDisputeManager
    function commitVote(uint256 disputeId, bytes32 commitment) external whenSystemNotPaused {
        Dispute storage d = _existing(disputeId);
        Phase phase = _phase(d);
        if (phase != Phase.Commit) revert WrongPhase(disputeId, phase);
        Ballot storage b = _ballots[disputeId][msg.sender];
        if (!b.member) revert NotCommitteeMember(disputeId, msg.sender);
        if (commitment == bytes32(0)) revert InvalidVote();
        if (b.commitment != bytes32(0)) revert AlreadyCommitted(disputeId, msg.sender);
        b.commitment = commitment;
        emit VoteCommitted(disputeId, msg.sender, commitment);
    }

    /// @inheritdoc IDisputeManager
    function revealVote(uint256 disputeId, Vote vote, bytes32 salt) external whenSystemNotPaused {
        Dispute storage d = _existing(disputeId);
        Phase phase = _phase(d);
        if (phase != Phase.Reveal) revert WrongPhase(disputeId, phase);
        Ballot storage b = _ballots[disputeId][msg.sender];
        if (!b.member) revert NotCommitteeMember(disputeId, msg.sender);
        if (vote == Vote.None) revert InvalidVote();
        if (b.commitment == bytes32(0)) revert NotCommitted(disputeId, msg.sender);
        if (b.vote != Vote.None) revert AlreadyRevealed(disputeId, msg.sender);
        // The salt starts with the voter's address: a commitment copied from another member can never be revealed.
        if (address(bytes20(salt)) != msg.sender) revert SaltNotBound(disputeId, msg.sender);
        if (keccak256(abi.encodePacked(uint8(vote), salt)) != b.commitment) {
            revert RevealMismatch(disputeId, msg.sender);
        }
        b.vote = vote;
        uint128 weight = b.weight;
        if (vote == Vote.Fault) d.faultStake += weight;
        else d.noFaultStake += weight;
        ++d.reveals;
        emit VoteRevealed(disputeId, msg.sender, vote, weight);
    }

    /// @inheritdoc IDisputeManager
    function resolve(uint256 disputeId) external whenSystemNotPaused returns (Outcome outcome) {
        Dispute storage d = _existing(disputeId);
        Phase phase = _phase(d);
        if (phase != Phase.Resolvable) revert WrongPhase(disputeId, phase);
        // Penalties and rewards move verifier stake: draws that are due happen first, on the stake they saw.
        _drawDue();

        if (d.reveals < d.quorum || d.faultStake == d.noFaultStake) outcome = Outcome.NoQuorum;
        else outcome = d.faultStake > d.noFaultStake ? Outcome.Fault : Outcome.NoFault;
        d.outcome = outcome;
        --openDisputesAgainst[d.orchestrator];
        emit DisputeResolved(disputeId, outcome, d.faultStake, d.noFaultStake, d.reveals);

        uint256 burn = _settleCommittee(disputeId, d, outcome);

        address bondRecipient = outcome == Outcome.NoFault ? d.orchestrator : d.broadcaster;
        if (outcome == Outcome.Fault) {
            _bondingManager().slashTranscoder(d.orchestrator, d.broadcaster, d.faultSlashAmount, d.finderFee);
        }
        if (burn != 0) ILivepeerToken(_registered(ContractIds.LIVEPEER_TOKEN)).burn(burn);
        _payBond(disputeId, bondRecipient, d.bond);
    }

    /// @inheritdoc IDisputeManager
    function proveEquivocation(
        TranscodeReceipt calldata receiptA,
        bytes calldata sigA,
        TranscodeReceipt calldata receiptB,
        bytes calldata sigB
    ) external whenSystemNotPaused {
        address orchestrator = receiptA.orchestrator;
        if (receiptB.orchestrator != orchestrator) revert NotEquivocation("orchestrators differ");
        if (
            receiptA.streamId != receiptB.streamId ||
            receiptA.seq != receiptB.seq ||
            receiptA.sourceHash != receiptB.sourceHash ||
            receiptA.profilesHash != receiptB.profilesHash
        ) revert NotEquivocation("different segments");
        if (!receiptA.deterministic || !receiptB.deterministic) revert NotEquivocation("not deterministic");
        if (receiptA.outputsHash == receiptB.outputsHash) revert NotEquivocation("same outputs");
        bytes32 hashA = _receiptHash(receiptA);
        bytes32 hashB = _receiptHash(receiptB);
        if (_signer(hashA, sigA) != orchestrator || _signer(hashB, sigB) != orchestrator) {
            revert InvalidReceiptSignature(orchestrator);
        }
        bytes32 key = keccak256(
            abi.encode(orchestrator, receiptA.streamId, receiptA.seq, receiptA.sourceHash, receiptA.profilesHash)
        );
        if (_equivocationProven[key]) revert EquivocationAlreadyProven(key);
        _equivocationProven[key] = true;
        emit EquivocationProven(orchestrator, msg.sender, receiptA.streamId, receiptA.seq, hashA, hashB);
        Params memory p = _params;
        _bondingManager().slashTranscoder(orchestrator, msg.sender, p.faultSlashAmount, p.finderFee);
    }

    /// @inheritdoc IDisputeManager
    function withdrawPayout() external whenSystemNotPaused {
        uint256 amount = payouts[msg.sender];
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        payouts[msg.sender] = 0;
        emit PayoutWithdrawn(msg.sender, amount);
        // solhint-disable-next-line avoid-low-level-calls
        (bool ok, ) = msg.sender.call{value: amount}("");
        if (!ok) revert PayoutFailed(msg.sender, amount);
    }

    // ---- Governance ----

    /// @inheritdoc IDisputeManager
    function setDisputeBond(uint256 value) external onlyControllerOwner {
        _setDisputeBond(value);
    }

    /// @inheritdoc IDisputeManager
    function setVotingPeriods(uint256 commitPeriod_, uint256 revealPeriod_) external onlyControllerOwner {
        _setVotingPeriods(commitPeriod_, revealPeriod_);
    }

    /// @inheritdoc IDisputeManager
    function setCommittee(uint256 committeeSize_, uint256 quorum_) external onlyControllerOwner {
        _setCommittee(committeeSize_, quorum_);
    }

    /// @inheritdoc IDisputeManager
    function setSlashAmounts(
        uint256 faultSlashAmount_,
        uint256 finderFee_,
        uint256 verifierSlashAmount_
    ) external onlyControllerOwner {
        _setSlashAmounts(faultSlashAmount_, finderFee_, verifierSlashAmount_);
    }

    /// @inheritdoc IDisputeManager
    function setVerifierUnlockPeriod(uint256 value) external onlyControllerOwner {
        _setVerifierUnlockPeriod(value);
    }

    // ---- Views ----

    /// @inheritdoc IDisputeManager
    function getDispute(uint256 disputeId) external view returns (DisputeInfo memory info) {
        Dispute storage d = _existing(disputeId);
        info = DisputeInfo({
            broadcaster: d.broadcaster,
            orchestrator: d.orchestrator,
            receiptHash: d.receiptHash,
            bond: d.bond,
            openedBlock: d.openedBlock,
            seedBlock: d.seedBlock,
            commitEnd: d.commitEnd,
            revealEnd: d.revealEnd,
            faultStake: d.faultStake,
            noFaultStake: d.noFaultStake,
            reveals: d.reveals,
            phase: _phase(d),
            outcome: d.outcome
        });
    }

    /// @inheritdoc IDisputeManager
    function disputePhase(uint256 disputeId) external view returns (Phase) {
        Dispute storage d = _disputes[disputeId];
        return d.broadcaster == address(0) ? Phase.None : _phase(d);
    }

    /// @inheritdoc IDisputeManager
    function getCommittee(
        uint256 disputeId
    ) external view returns (address[] memory members, uint256[] memory weights) {
        members = _existing(disputeId).members;
        weights = new uint256[](members.length);
        for (uint256 i = 0; i < members.length; ++i) weights[i] = _ballots[disputeId][members[i]].weight;
    }

    /// @inheritdoc IDisputeManager
    function getVote(uint256 disputeId, address verifier) external view returns (VoteInfo memory) {
        Ballot storage b = _ballots[disputeId][verifier];
        return VoteInfo({member: b.member, weight: b.weight, commitment: b.commitment, vote: b.vote});
    }

    /// @inheritdoc IDisputeManager
    function getVerifier(address verifier) external view returns (VerifierInfo memory) {
        Verifier storage v = _verifiers[verifier];
        return VerifierInfo({stake: v.stake, unlockRound: v.unlockRound, openDuties: v.openDuties});
    }

    /// @inheritdoc IDisputeManager
    function totalVerifierStake() external view returns (uint256) {
        return _tree.total;
    }

    /// @inheritdoc IDisputeManager
    function disputeCount() external view returns (uint256) {
        return _disputeCount;
    }

    /// @inheritdoc IDisputeManager
    function receiptHash(TranscodeReceipt calldata receipt) external view returns (bytes32) {
        return _receiptHash(receipt);
    }

    /// @inheritdoc IDisputeManager
    function disputeBond() external view returns (uint256) {
        return _params.disputeBond;
    }

    /// @inheritdoc IDisputeManager
    function commitPeriod() external view returns (uint256) {
        return _params.commitPeriod;
    }

    /// @inheritdoc IDisputeManager
    function revealPeriod() external view returns (uint256) {
        return _params.revealPeriod;
    }

    /// @inheritdoc IDisputeManager
    function committeeSize() external view returns (uint256) {
        return _params.committeeSize;
    }

    /// @inheritdoc IDisputeManager
    function quorum() external view returns (uint256) {
        return _params.quorum;
    }

    /// @inheritdoc IDisputeManager
    function faultSlashAmount() external view returns (uint256) {
        return _params.faultSlashAmount;
    }

    /// @inheritdoc IDisputeManager
    function finderFee() external view returns (uint256) {
        return _params.finderFee;
    }

    /// @inheritdoc IDisputeManager
    function verifierSlashAmount() external view returns (uint256) {
        return _params.verifierSlashAmount;
    }

    /// @inheritdoc IDisputeManager
    function verifierUnlockPeriod() external view returns (uint256) {
        return _params.verifierUnlockPeriod;
    }

    // ---- Internals ----

    function _existing(uint256 disputeId) private view returns (Dispute storage d) {
        d = _disputes[disputeId];
        if (d.broadcaster == address(0)) revert UnknownDispute(disputeId);
    }

    /// @dev Stores a new dispute with the current terms and queues its draw.
    function _record(
        address broadcaster,
        address orchestrator,
        bytes32 digest,
        uint256 bond
    ) private returns (uint256 disputeId, uint256 seedBlock) {
        disputeId = ++_disputeCount;
        disputeOfReceipt[digest] = disputeId;
        ++openDisputesAgainst[orchestrator];
        // The hash of the next block is unknown to everyone now, the opener included.
        seedBlock = block.number + 1;
        Dispute storage d = _disputes[disputeId];
        d.broadcaster = broadcaster;
        d.openedBlock = uint40(block.number);
        d.orchestrator = orchestrator;
        d.seedBlock = uint40(seedBlock);
        d.receiptHash = digest;
        d.bond = uint128(bond);
        Params memory p = _params;
        d.quorum = p.quorum;
        // Each is at most PERC (1e6), which fits in 24 bits.
        d.faultSlashAmount = uint24(p.faultSlashAmount);
        d.finderFee = uint24(p.finderFee);
        d.verifierSlashAmount = uint24(p.verifierSlashAmount);
        _drawQueue.push(QueuedDraw(uint64(disputeId), uint64(seedBlock)));
    }

    function _phase(Dispute storage d) private view returns (Phase) {
        if (d.outcome != Outcome.None) return Phase.Resolved;
        if (!d.drawn) return Phase.AwaitingCommittee;
        // Every member revealed (or nobody was drawn): nothing left to wait for.
        if (d.reveals == d.members.length) return Phase.Resolvable;
        if (block.number <= d.commitEnd) return Phase.Commit;
        if (block.number <= d.revealEnd) return Phase.Reveal;
        return Phase.Resolvable;
    }

    /// @dev Draws every queued committee whose seed block is mined, so a stake change cannot follow a known hash.
    function _drawDue() private {
        uint256 head = _drawHead;
        uint256 length = _drawQueue.length;
        uint256 drawn = 0;
        while (head < length) {
            QueuedDraw memory entry = _drawQueue[head];
            uint256 disputeId = entry.disputeId;
            Dispute storage d = _disputes[disputeId];
            if (!d.drawn && d.seedBlock == entry.seedBlock) {
                // The queue is in seed-block order: the first one not due ends the scan.
                if (block.number <= d.seedBlock) break;
                if (drawn == MAX_INLINE_DRAWS) revert CommitteeDrawsPending(disputeId);
                _draw(disputeId, d);
                ++drawn;
            }
            ++head;
        }
        _drawHead = head;
    }

    function _draw(uint256 disputeId, Dispute storage d) private {
        bytes32 seed = blockhash(d.seedBlock);
        if (seed == bytes32(0)) {
            // More than 256 blocks passed: draw from a block still to come, queued behind everything due now.
            uint256 seedBlock = block.number + 1;
            d.seedBlock = uint40(seedBlock);
            _drawQueue.push(QueuedDraw(uint64(disputeId), uint64(seedBlock)));
            emit CommitteeReseeded(disputeId, seedBlock);
            return;
        }
        // Neither party to the dispute may judge it.
        address[] memory excluded = new address[](2);
        excluded[0] = d.broadcaster;
        excluded[1] = d.orchestrator;
        (address[] memory members, uint256[] memory weights) = _tree.draw(
            keccak256(abi.encode(seed, disputeId)),
            _params.committeeSize,
            excluded
        );
        uint256 commitEnd = block.number + _params.commitPeriod;
        uint256 revealEnd = commitEnd + _params.revealPeriod;
        d.drawn = true;
        d.commitEnd = uint40(commitEnd);
        d.revealEnd = uint40(revealEnd);
        for (uint256 i = 0; i < members.length; ++i) {
            address member = members[i];
            d.members.push(member);
            Ballot storage b = _ballots[disputeId][member];
            b.member = true;
            b.weight = uint128(weights[i]);
            ++_verifiers[member].openDuties;
        }
        emit CommitteeDrawn(disputeId, members, weights, commitEnd, revealEnd);
    }

    /// @dev Members who did not reveal, or voted against a decisive outcome, lose `verifierSlashAmount` of their
    /// stake; it is shared among the members on the winning side (all revealers when there was no quorum) by their
    /// weight. Returns the rounding remainder, or everything when nobody is owed, to be burned.
    function _settleCommittee(uint256 disputeId, Dispute storage d, Outcome outcome) private returns (uint256 burn) {
        address[] memory members = d.members;
        Vote winning =
            outcome == Outcome.Fault
                ? Vote.Fault
                : outcome == Outcome.NoFault
                    ? Vote.NoFault
                    : Vote.None;
        uint256 slashAmount = d.verifierSlashAmount;
        uint256 penalties = 0;
        uint256 winnersWeight = 0;
        bool[] memory won = new bool[](members.length);
        for (uint256 i = 0; i < members.length; ++i) {
            Ballot storage b = _ballots[disputeId][members[i]];
            Verifier storage v = _verifiers[members[i]];
            --v.openDuties;
            bool revealed = b.vote != Vote.None;
            if (revealed && (winning == Vote.None || b.vote == winning)) {
                won[i] = true;
                winnersWeight += b.weight;
                continue;
            }
            uint256 penalty = (uint256(v.stake) * slashAmount) / PERC;
            if (penalty == 0) continue;
            v.stake -= uint128(penalty);
            // Members cannot deregister while on a committee, so their stake is in the tree.
            _tree.sub(members[i], penalty);
            penalties += penalty;
            emit VerifierPenalized(disputeId, members[i], penalty);
        }
        if (penalties == 0) return 0;
        if (winnersWeight == 0) return penalties;
        uint256 paid = 0;
        for (uint256 i = 0; i < members.length; ++i) {
            if (!won[i]) continue;
            uint256 share = (penalties * _ballots[disputeId][members[i]].weight) / winnersWeight;
            if (share == 0) continue;
            Verifier storage v = _verifiers[members[i]];
            v.stake += uint128(share);
            _tree.add(members[i], share);
            paid += share;
            emit VerifierRewarded(disputeId, members[i], share);
        }
        burn = penalties - paid;
    }

    /// @dev A recipient that cannot take ETH in a plain call (a contract without a cheap receive) must not block the
    /// resolution: its bond waits in `payouts`. Everything else is settled before this call.
    function _payBond(uint256 disputeId, address recipient, uint256 amount) private {
        // solhint-disable-next-line avoid-low-level-calls
        (bool ok, ) = recipient.call{value: amount, gas: BOND_PUSH_GAS}("");
        if (!ok) payouts[recipient] += amount;
        emit BondPaid(disputeId, recipient, amount, ok);
    }

    function _receiptHash(TranscodeReceipt calldata receipt) private view returns (bytes32) {
        bytes32 domain = keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
        // Every field is static, so the struct encodes as its eight words: exactly EIP-712's encodeData.
        return MessageHashUtils.toTypedDataHash(domain, keccak256(abi.encode(RECEIPT_TYPEHASH, receipt)));
    }

    /// @dev Zero for a malformed or high-s signature.
    function _signer(bytes32 digest, bytes calldata sig) private pure returns (address) {
        (address recovered, ECDSA.RecoverError err, ) = ECDSA.tryRecoverCalldata(digest, sig);
        return err == ECDSA.RecoverError.NoError ? recovered : address(0);
    }

    function _setDisputeBond(uint256 value) private {
        _params.disputeBond = value.toUint128();
        emit ParameterUpdate("disputeBond");
    }

    function _setVotingPeriods(uint256 commitPeriod_, uint256 revealPeriod_) private {
        if (commitPeriod_ == 0 || commitPeriod_ > type(uint32).max) {
            revert InvalidParameter("commitPeriod", commitPeriod_);
        }
        if (revealPeriod_ == 0 || revealPeriod_ > type(uint32).max) {
            revert InvalidParameter("revealPeriod", revealPeriod_);
        }
        _params.commitPeriod = uint32(commitPeriod_);
        _params.revealPeriod = uint32(revealPeriod_);
        emit ParameterUpdate("commitPeriod");
        emit ParameterUpdate("revealPeriod");
    }

    function _setCommittee(uint256 committeeSize_, uint256 quorum_) private {
        if (committeeSize_ == 0 || committeeSize_ > MAX_COMMITTEE_SIZE) {
            revert InvalidParameter("committeeSize", committeeSize_);
        }
        if (quorum_ == 0 || quorum_ > committeeSize_) revert InvalidParameter("quorum", quorum_);
        _params.committeeSize = uint8(committeeSize_);
        _params.quorum = uint8(quorum_);
        emit ParameterUpdate("committeeSize");
        emit ParameterUpdate("quorum");
    }

    function _setSlashAmounts(uint256 faultSlashAmount_, uint256 finderFee_, uint256 verifierSlashAmount_) private {
        if (faultSlashAmount_ > PERC) revert InvalidParameter("faultSlashAmount", faultSlashAmount_);
        if (finderFee_ > PERC) revert InvalidParameter("finderFee", finderFee_);
        if (verifierSlashAmount_ > PERC) revert InvalidParameter("verifierSlashAmount", verifierSlashAmount_);
        _params.faultSlashAmount = uint32(faultSlashAmount_);
        _params.finderFee = uint32(finderFee_);
        _params.verifierSlashAmount = uint32(verifierSlashAmount_);
        emit ParameterUpdate("faultSlashAmount");
        emit ParameterUpdate("finderFee");
        emit ParameterUpdate("verifierSlashAmount");
    }

    function _setVerifierUnlockPeriod(uint256 value) private {
        if (value == 0 || value > type(uint32).max) revert InvalidParameter("verifierUnlockPeriod", value);
        _params.verifierUnlockPeriod = uint32(value);
        emit ParameterUpdate("verifierUnlockPeriod");
    }

    function _roundsManager() private view returns (IRoundsManager) {
        return IRoundsManager(_registered(ContractIds.ROUNDS_MANAGER));
    }

    function _bondingManager() private view returns (IBondingManager) {
        return IBondingManager(_registered(ContractIds.BONDING_MANAGER));
    }
}
