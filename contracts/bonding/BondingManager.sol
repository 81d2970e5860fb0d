// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IBondingManager} from "../interfaces/IBondingManager.sol";
import {IController} from "../interfaces/IController.sol";
import {IDisputeManager} from "../interfaces/IDisputeManager.sol";
import {IMinter} from "../interfaces/IMinter.sol";
import {IRoundsManager} from "../interfaces/IRoundsManager.sol";
import {ContractIds} from "../libraries/ContractIds.sol";
import {EarningsPool} from "../libraries/EarningsPool.sol";
import {SortedPool} from "../libraries/SortedPool.sol";
import {ManagerUpgradeable} from "../manager/ManagerUpgradeable.sol";

/// @title BondingManager
/// @notice Bonding, delegation, the orchestrator pool, rewards, fees and slashing. See `IBondingManager` and
/// docs/bonding.md.
/// @dev Earnings use per-round cumulative factors (`EarningsPool`), written only in rounds where an orchestrator
/// earned something. A delegator's settled stake is measured from the factors of a past round (final), and stake
/// added in the current round waits in `pendingAmount` until the round ends, so a claim never depends on whether
/// the orchestrator calls `reward()` before or after it. Rounds and lock ids are 32-bit (four billion rounds).
contract BondingManager is IBondingManager, ManagerUpgradeable {
    using EarningsPool for EarningsPool.Pool;
    using SafeCast for uint256;
    using SafeERC20 for IERC20;
    using SortedPool for SortedPool.List;

    uint256 private constant PERC = 1_000_000;
    /// @dev `deactivationRound` of a pool member: it stays active until it leaves.
    uint32 private constant IN_POOL = type(uint32).max;

    struct Delegator {
        // slot 0
        uint128 bondedAmount; // settled stake, measured from the delegate's factors at `factorRound`
        uint128 fees; // settled fees, wei
        // slot 1
        address delegateAddress;
        uint32 startRound;
        uint32 lastClaimRound;
        uint32 factorRound;
        // slot 2
        uint128 pendingAmount; // added in `pendingRound`, earning from the round after
        uint32 pendingRound;
        uint32 pendingFactorRound; // the delegate's latest written round when `pendingAmount` was first added
        uint32 nextUnbondingLockId;
    }

    struct Transcoder {
        // slot 0
        uint32 lastRewardRound;
        uint24 rewardCut; // ppm, at most 1e6
        uint24 feeShare; // ppm, at most 1e6
        uint32 activationRound;
        uint32 deactivationRound; // IN_POOL while a member
        uint32 lastStakeChangeRound;
        uint32 lastWrittenRound; // latest round with a written earnings pool
        uint32 prevWrittenRound; // the written round before it: where the latest round's opening factors are
        bool registered;
        // slot 1
        uint128 delegatedAmount; // stake delegated to this address, effective next round
        uint128 stakeAtRoundStart; // delegatedAmount before the first change in `lastStakeChangeRound`
    }

    struct UnbondingLock {
        uint128 amount;
        uint32 withdrawRound;
    }

    // slot: written by initializeRound's snapshot, which must not grow with the pool. 112 bits hold 5e15 LPT, far
    // beyond any supply; every active total is bounded by _totalBonded, whose additions are range-checked.
    uint112 private _currentRoundTotalActiveStake;
    uint112 private _nextRoundTotalActiveStake;
    uint32 private _currentRoundPoolSize;
    uint112 private _totalBonded;
    uint32 private _unbondingPeriod;
    SortedPool.List private _pool;
    mapping(address account => Delegator) private _delegators;
    mapping(address account => Transcoder) private _transcoders;
    mapping(address transcoder => mapping(uint256 round => EarningsPool.Pool)) private _earningsPools;
    mapping(address delegator => mapping(uint256 lockId => UnbondingLock)) private _unbondingLocks;

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor(IController controller_) ManagerUpgradeable(controller_) {}

    /// @notice Sets the parameters; called once through the proxy.
    function initialize(uint256 unbondingPeriod_, uint256 numActiveTranscoders_) external initializer {
        _setUnbondingPeriod(unbondingPeriod_);
        _setNumActiveTranscoders(numActiveTranscoders_);
    }

    // ---- Delegators ----

    /// @inheritdoc IBondingManager
    function bond(uint256 amount, address to) external {
        bondWithHint(amount, to, address(0), address(0), address(0), address(0));
    }

    /// @inheritdoc IBondingManager
    function bondWithHint(
        uint256 amount,
        address to,
        address oldDelegateNewPosPrev,
        address oldDelegateNewPosNext,
        address newDelegateNewPosPrev,
        address newDelegateNewPosNext
    ) public whenSystemNotPaused {
        uint256 round = _initializedRound();
        if (to == address(0)) revert ZeroDelegate();
        address delegator = msg.sender;
        Delegator memory d = _delegators[delegator];
        address oldDelegate = d.delegateAddress;

        if (oldDelegate != address(0) && oldDelegate != to) {
            uint256 moved = _leaveDelegate(delegator, d, round, oldDelegateNewPosPrev, oldDelegateNewPosNext);
            d.delegateAddress = to;
            d.startRound = uint32(round + 1);
            _addPending(d, moved + amount, round);
            _increaseDelegatedAmount(to, moved + amount, round, newDelegateNewPosPrev, newDelegateNewPosNext);
        } else {
            if (amount == 0) revert ZeroAmount();
            if (oldDelegate == address(0)) {
                d.delegateAddress = to;
                d.startRound = uint32(round + 1);
                d.lastClaimRound = uint32(round);
            } else {
                _settleAndLog(delegator, d, round, false);
            }
            _addPending(d, amount, round);
            _increaseDelegatedAmount(to, amount, round, newDelegateNewPosPrev, newDelegateNewPosNext);
        }
        _delegators[delegator] = d;

        if (amount != 0) {
            _totalBonded += amount.toUint112();
            IERC20(_registered(ContractIds.LIVEPEER_TOKEN)).safeTransferFrom(
                delegator,
                _registered(ContractIds.MINTER),
                amount
            );
        }
        emit Bonded(to, oldDelegate, delegator, amount, d.bondedAmount + d.pendingAmount);
    }

    /// @inheritdoc IBondingManager
    function unbond(uint256 amount) external {
        unbondWithHint(amount, address(0), address(0));
    }

    /// @inheritdoc IBondingManager
    function unbondWithHint(uint256 amount, address newPosPrev, address newPosNext) public whenSystemNotPaused {
        uint256 round = _initializedRound();
        if (amount == 0) revert ZeroAmount();
        address delegator = msg.sender;
        Delegator memory d = _delegators[delegator];
        address delegate = d.delegateAddress;
        if (delegate == address(0)) revert NotBonded(delegator);
        // Whoever it delegates to now: a slash takes the account's own stake wherever it is delegated.
        uint256 disputes = IDisputeManager(_registered(ContractIds.DISPUTE_MANAGER)).openDisputesAgainst(delegator);
        if (disputes != 0) revert TranscoderUnderDispute(delegator, disputes);
        _settleAndLog(delegator, d, round, false);

        uint256 total = d.bondedAmount + d.pendingAmount;
        if (amount > total) revert InsufficientBondedAmount(amount, total);
        // Take stake that is not earning yet first; the rest forgoes this round's earnings (see docs/bonding.md).
        uint256 fromPending = amount < d.pendingAmount ? amount : d.pendingAmount;
        unchecked {
            // fromPending <= pendingAmount; amount - fromPending <= bondedAmount since amount <= total
            d.pendingAmount -= uint128(fromPending);
            d.bondedAmount -= uint128(amount - fromPending);
        }
        if (d.pendingAmount == 0) {
            d.pendingRound = 0;
            d.pendingFactorRound = 0;
        }

        uint256 lockId = d.nextUnbondingLockId;
        d.nextUnbondingLockId = uint32(lockId + 1); // four billion unbondings per account
        uint256 withdrawRound = round + _unbondingPeriod;
        _unbondingLocks[delegator][lockId] = UnbondingLock(uint128(amount), withdrawRound.toUint32());

        if (amount == total) {
            // Fully unbonded: an orchestrator resigns, and nobody delegates anymore.
            Transcoder storage own = _transcoders[delegator];
            if (delegate == delegator && own.registered) {
                own.registered = false;
                if (own.deactivationRound == IN_POOL) _leavePool(delegator, own, round);
            }
            d.delegateAddress = address(0);
            d.startRound = 0;
            d.factorRound = 0;
        }
        _decreaseDelegatedAmount(delegate, amount, round, newPosPrev, newPosNext);
        _delegators[delegator] = d;
        unchecked {
            // amount was part of the total
            _totalBonded -= uint112(amount);
        }
        emit Unbonded(delegate, delegator, lockId, amount, withdrawRound);
    }

    /// @inheritdoc IBondingManager
    function rebond(uint256 unbondingLockId) external {
        rebondWithHint(unbondingLockId, address(0), address(0));
    }

    /// @inheritdoc IBondingManager
    function rebondWithHint(
        uint256 unbondingLockId,
        address newPosPrev,
        address newPosNext
    ) public whenSystemNotPaused {
        uint256 round = _initializedRound();
        address delegator = msg.sender;
        Delegator memory d = _delegators[delegator];
        if (d.delegateAddress == address(0)) revert NotBonded(delegator);
        uint256 amount = _takeUnbondingLock(delegator, unbondingLockId);
        _settleAndLog(delegator, d, round, false);
        _rebond(delegator, d, amount, unbondingLockId, round, newPosPrev, newPosNext);
    }

    /// @inheritdoc IBondingManager
    function rebondFromUnbonded(address to, uint256 unbondingLockId) external {
        rebondFromUnbondedWithHint(to, unbondingLockId, address(0), address(0));
    }

    /// @inheritdoc IBondingManager
    function rebondFromUnbondedWithHint(
        address to,
        uint256 unbondingLockId,
        address newPosPrev,
        address newPosNext
    ) public whenSystemNotPaused {
        uint256 round = _initializedRound();
        if (to == address(0)) revert ZeroDelegate();
        address delegator = msg.sender;
        Delegator memory d = _delegators[delegator];
        if (d.delegateAddress != address(0)) revert AlreadyBonded(delegator);
        uint256 amount = _takeUnbondingLock(delegator, unbondingLockId);
        d.delegateAddress = to;
        d.startRound = uint32(round + 1);
        d.lastClaimRound = uint32(round);
        _rebond(delegator, d, amount, unbondingLockId, round, newPosPrev, newPosNext);
    }

    /// @inheritdoc IBondingManager
    function withdrawStake(uint256 unbondingLockId) external whenSystemNotPaused {
        uint256 round = _initializedRound();
        address delegator = msg.sender;
        UnbondingLock memory lock = _unbondingLocks[delegator][unbondingLockId];
        if (lock.amount == 0) revert UnbondingLockNotFound(delegator, unbondingLockId);
        if (lock.withdrawRound > round) {
            revert UnbondingLockNotWithdrawable(unbondingLockId, lock.withdrawRound, round);
        }
        delete _unbondingLocks[delegator][unbondingLockId];
        IMinter(_registered(ContractIds.MINTER)).trustedTransferTokens(delegator, lock.amount);
        emit StakeWithdrawn(delegator, unbondingLockId, lock.amount, lock.withdrawRound);
    }

    /// @inheritdoc IBondingManager
    function withdrawFees(address payable recipient, uint256 amount) external whenSystemNotPaused {
        uint256 round = _initializedRound();
        if (recipient == address(0)) revert ZeroRecipient();
        if (amount == 0) revert ZeroAmount();
        address delegator = msg.sender;
        Delegator memory d = _delegators[delegator];
        _settleAndLog(delegator, d, round, false);
        if (amount > d.fees) revert InsufficientFees(amount, d.fees);
        unchecked {
            // checked just above
            d.fees -= uint128(amount);
        }
        _delegators[delegator] = d;
        IMinter(_registered(ContractIds.MINTER)).trustedWithdrawETH(recipient, amount);
        emit FeesWithdrawn(delegator, recipient, amount);
    }

    /// @inheritdoc IBondingManager
    function claimEarnings(uint256 endRound) external whenSystemNotPaused {
        uint256 round = _initializedRound();
        if (endRound != round) revert InvalidEndRound(endRound, round);
        address delegator = msg.sender;
        Delegator memory d = _delegators[delegator];
        uint256 startRound = d.lastClaimRound;
        (uint256 rewards, uint256 fees, uint256 settledThrough) = _settle(d, round, false);
        _delegators[delegator] = d;
        emit EarningsClaimed(d.delegateAddress, delegator, rewards, fees, startRound, settledThrough);
    }

    // ---- Orchestrators ----

    /// @inheritdoc IBondingManager
    function transcoder(uint256 rewardCut, uint256 feeShare) external {
        transcoderWithHint(rewardCut, feeShare, address(0), address(0));
    }

    /// @inheritdoc IBondingManager
    function transcoderWithHint(
        uint256 rewardCut,
        uint256 feeShare,
        address newPosPrev,
        address newPosNext
    ) public whenSystemNotPaused {
        IRoundsManager rounds = IRoundsManager(_registered(ContractIds.ROUNDS_MANAGER));
        uint256 round = _initializedRound(rounds);
        if (rounds.currentRoundLocked()) revert RoundLocked(round);
        if (rewardCut > PERC) revert InvalidRewardCut(rewardCut);
        if (feeShare > PERC) revert InvalidFeeShare(feeShare);
        address caller = msg.sender;
        if (_delegators[caller].delegateAddress != caller) revert NotSelfBonded(caller);

        Transcoder storage t = _transcoders[caller];
        t.rewardCut = uint24(rewardCut);
        t.feeShare = uint24(feeShare);
        t.registered = true;
        if (t.deactivationRound != IN_POOL) _tryJoinPool(caller, t, t.delegatedAmount, round, newPosPrev, newPosNext);
        emit TranscoderUpdated(caller, rewardCut, feeShare);
    }

    /// @inheritdoc IBondingManager
    function reward() external {
        rewardWithHint(address(0), address(0));
    }

    /// @inheritdoc IBondingManager
    function rewardWithHint(address newPosPrev, address newPosNext) public whenSystemNotPaused {
        uint256 round = _initializedRound();
        address caller = msg.sender;
        Transcoder storage t = _transcoders[caller];
        if (!t.registered || !_isActive(t, round)) revert TranscoderNotActive(caller, round);
        if (t.lastRewardRound == round) revert RewardAlreadyMinted(caller, round);
        t.lastRewardRound = uint32(round);

        uint256 totalStake = _stakeAtRoundStart(t, round);
        uint256 minted;
        if (totalStake != 0) {
            minted = IMinter(_registered(ContractIds.MINTER)).createReward(totalStake, _currentRoundTotalActiveStake);
        }
        if (minted != 0) {
            uint256 commission = (minted * t.rewardCut) / PERC;
            EarningsPool.Pool storage pool = _openPool(caller, t, round);
            pool.cumulativeRewardFactor = EarningsPool
                .rewardFactorAfter(pool.cumulativeRewardFactor, minted - commission, totalStake)
                .toUint128();
            _increaseDelegatedAmount(caller, minted, round, newPosPrev, newPosNext);
            _totalBonded += minted.toUint112();
            if (commission != 0) {
                // The commission is the orchestrator's own new stake: it earns from next round, like a bond.
                Delegator memory d = _delegators[caller];
                _settleAndLog(caller, d, round, false);
                _addPending(d, commission, round);
                _delegators[caller] = d;
            }
        }
        emit Rewarded(caller, round, minted);
    }

    // ---- Managers ----

    /// @inheritdoc IBondingManager
    function updateTranscoderWithFees(
        address transcoderAddress,
        uint256 fees,
        uint256 round
    ) external onlyManager(ContractIds.TICKET_BROKER) whenSystemNotPaused {
        // The TicketBroker has checked the round; trusting it saves a call on every winning ticket.
        Transcoder storage t = _transcoders[transcoderAddress];
        if (!_isActive(t, round)) revert TranscoderNotActive(transcoderAddress, round);
        uint256 totalStake = _stakeAtRoundStart(t, round);
        uint256 delegatorsFees = totalStake == 0 ? 0 : (fees * t.feeShare) / PERC;
        if (delegatorsFees != 0) {
            EarningsPool.Pool storage pool = _openPool(transcoderAddress, t, round);
            // Fees are earned by the stake that opened the round, before this round's reward.
            uint256 openingRewardFactor = _earningsPools[transcoderAddress][t.prevWrittenRound].factors().rewardFactor;
            pool.cumulativeFeeFactor = EarningsPool
                .feeFactorAfter(pool.cumulativeFeeFactor, openingRewardFactor, delegatorsFees, totalStake)
                .toUint128();
        }
        // Settled fees do not compound, so the orchestrator's part can be credited directly.
        unchecked {
            // delegatorsFees <= fees
            uint256 transcoderFees = fees - delegatorsFees;
            if (transcoderFees != 0) {
                _delegators[transcoderAddress].fees += transcoderFees.toUint128();
            }
        }
        emit FeesCredited(transcoderAddress, round, fees);
    }

    /// @inheritdoc IBondingManager
    function slashTranscoder(
        address transcoderAddress,
        address finder,
        uint256 slashAmount,
        uint256 finderFee
    ) external onlyManager(ContractIds.DISPUTE_MANAGER) whenSystemNotPaused {
        if (slashAmount > PERC) revert InvalidSlashFraction(slashAmount);
        if (finderFee > PERC) revert InvalidSlashFraction(finderFee);
        uint256 round = _initializedRound();
        Transcoder storage t = _transcoders[transcoderAddress];
        if (t.deactivationRound == IN_POOL) _leavePool(transcoderAddress, t, round);
        t.registered = false;

        Delegator memory d = _delegators[transcoderAddress];
        uint256 penalty;
        uint256 finderReward;
        address delegate = d.delegateAddress;
        if (delegate != address(0)) {
            _settleAndLog(transcoderAddress, d, round, false);
            uint256 own = d.bondedAmount + d.pendingAmount;
            penalty = (own * slashAmount) / PERC;
            uint256 fromPending = penalty < d.pendingAmount ? penalty : d.pendingAmount;
            unchecked {
                // fromPending <= pendingAmount; penalty - fromPending <= bondedAmount since penalty <= own
                d.pendingAmount -= uint128(fromPending);
                d.bondedAmount -= uint128(penalty - fromPending);
            }
            if (own == penalty) {
                d.delegateAddress = address(0);
                d.startRound = 0;
                d.factorRound = 0;
                d.pendingRound = 0;
                d.pendingFactorRound = 0;
            }
            _delegators[transcoderAddress] = d;
        }
        if (penalty != 0) {
            _decreaseDelegatedAmount(delegate, penalty, round, address(0), address(0));
            unchecked {
                // penalty was bonded
                _totalBonded -= uint112(penalty);
            }
            IMinter minter = IMinter(_registered(ContractIds.MINTER));
            if (finder != address(0)) {
                finderReward = (penalty * finderFee) / PERC;
                if (finderReward != 0) minter.trustedTransferTokens(finder, finderReward);
            }
            if (penalty != finderReward) minter.trustedBurnTokens(penalty - finderReward);
        }
        emit TranscoderSlashed(transcoderAddress, finder, penalty, finderReward);
    }

    /// @inheritdoc IBondingManager
    function setCurrentRoundTotalActiveStake()
        external
        onlyManager(ContractIds.ROUNDS_MANAGER)
        returns (uint256 totalActiveStake)
    {
        uint112 next = _nextRoundTotalActiveStake;
        _currentRoundTotalActiveStake = next;
        // Every pool member is active in the round being initialized: joins and leaves take effect a round later.
        _currentRoundPoolSize = _pool.size;
        return next;
    }

    // ---- Governance ----

    /// @inheritdoc IBondingManager
    function setUnbondingPeriod(uint256 newUnbondingPeriod) external onlyControllerOwner {
        _setUnbondingPeriod(newUnbondingPeriod);
        emit ParameterUpdate("unbondingPeriod");
    }

    /// @inheritdoc IBondingManager
    function setNumActiveTranscoders(uint256 newNumActiveTranscoders) external onlyControllerOwner {
        _setNumActiveTranscoders(newNumActiveTranscoders);
        emit ParameterUpdate("numActiveTranscoders");
    }

    // ---- Views ----

    /// @inheritdoc IBondingManager
    function getDelegator(
        address delegator
    )
        external
        view
        returns (
            uint256 bondedAmount,
            uint256 fees,
            address delegateAddress,
            uint256 delegatedAmount,
            uint256 startRound,
            uint256 lastClaimRound,
            uint256 nextUnbondingLockId
        )
    {
        Delegator storage d = _delegators[delegator];
        return (
            uint256(d.bondedAmount) + d.pendingAmount,
            d.fees,
            d.delegateAddress,
            _transcoders[delegator].delegatedAmount,
            d.startRound,
            d.lastClaimRound,
            d.nextUnbondingLockId
        );
    }

    /// @inheritdoc IBondingManager
    function getUnbondingLock(
        address delegator,
        uint256 unbondingLockId
    ) external view returns (uint256 amount, uint256 withdrawRound) {
        UnbondingLock storage lock = _unbondingLocks[delegator][unbondingLockId];
        return (lock.amount, lock.withdrawRound);
    }

    /// @inheritdoc IBondingManager
    function pendingStake(address delegator, uint256 endRound) external view returns (uint256 stake) {
        (stake, ) = _pendingEarnings(delegator, endRound);
    }

    /// @inheritdoc IBondingManager
    function pendingFees(address delegator, uint256 endRound) external view returns (uint256 fees) {
        (, fees) = _pendingEarnings(delegator, endRound);
    }

    /// @inheritdoc IBondingManager
    function getTranscoder(
        address transcoderAddress
    )
        external
        view
        returns (
            uint256 lastRewardRound,
            uint256 rewardCut,
            uint256 feeShare,
            uint256 activationRound,
            uint256 deactivationRound,
            bool registered
        )
    {
        Transcoder storage t = _transcoders[transcoderAddress];
        return (t.lastRewardRound, t.rewardCut, t.feeShare, t.activationRound, t.deactivationRound, t.registered);
    }

    /// @inheritdoc IBondingManager
    function getTranscoderEarningsPoolForRound(
        address transcoderAddress,
        uint256 round
    ) external view returns (uint256 cumulativeRewardFactor, uint256 cumulativeFeeFactor) {
        EarningsPool.Pool storage pool = _earningsPools[transcoderAddress][round];
        return (pool.cumulativeRewardFactor, pool.cumulativeFeeFactor);
    }

    /// @inheritdoc IBondingManager
    function transcoderTotalStake(address transcoderAddress) external view returns (uint256) {
        return _transcoders[transcoderAddress].delegatedAmount;
    }

    /// @inheritdoc IBondingManager
    function isActiveTranscoder(address transcoderAddress) external view returns (bool) {
        return _isActive(_transcoders[transcoderAddress], _rounds().currentRound());
    }

    /// @inheritdoc IBondingManager
    function isRegisteredTranscoder(address transcoderAddress) external view returns (bool) {
        return _transcoders[transcoderAddress].registered;
    }

    /// @inheritdoc IBondingManager
    function isInPool(address transcoderAddress) external view returns (bool) {
        return _transcoders[transcoderAddress].deactivationRound == IN_POOL;
    }

    /// @inheritdoc IBondingManager
    function getTranscoderPoolSize() external view returns (uint256) {
        return _pool.size;
    }

    /// @inheritdoc IBondingManager
    function getFirstTranscoderInPool() external view returns (address) {
        return _pool.head;
    }

    /// @inheritdoc IBondingManager
    function getNextTranscoderInPool(address transcoderAddress) external view returns (address) {
        return _pool.nodes[transcoderAddress].next;
    }

    /// @inheritdoc IBondingManager
    function getPrevTranscoderInPool(address transcoderAddress) external view returns (address) {
        return _pool.nodes[transcoderAddress].prev;
    }

    /// @inheritdoc IBondingManager
    function getLastTranscoderInPool() external view returns (address) {
        return _pool.tail;
    }

    /// @inheritdoc IBondingManager
    function getTotalBonded() external view returns (uint256) {
        return _totalBonded;
    }

    /// @inheritdoc IBondingManager
    function currentRoundTotalActiveStake() external view returns (uint256) {
        return _currentRoundTotalActiveStake;
    }

    /// @inheritdoc IBondingManager
    function currentRoundPoolSize() external view returns (uint256) {
        return _currentRoundPoolSize;
    }

    /// @inheritdoc IBondingManager
    function nextRoundTotalActiveStake() external view returns (uint256) {
        return _nextRoundTotalActiveStake;
    }

    /// @inheritdoc IBondingManager
    function delegatorStatus(address delegator) external view returns (DelegatorStatus) {
        Delegator storage d = _delegators[delegator];
        if (d.bondedAmount == 0 && d.pendingAmount == 0) return DelegatorStatus.Unbonded;
        if (d.startRound > _rounds().currentRound()) return DelegatorStatus.Pending;
        return DelegatorStatus.Bonded;
    }

    /// @inheritdoc IBondingManager
    function unbondingPeriod() external view returns (uint256) {
        return _unbondingPeriod;
    }

    /// @inheritdoc IBondingManager
    function numActiveTranscoders() external view returns (uint256) {
        return _pool.maxSize;
    }

    // ---- Earnings ----

    /// @dev Settles `d` in memory at `round`: stake and fees earned through the previous round (whose factors are
    /// final) are folded in, and so is stake that was pending since an earlier round. With `throughCurrent`, the
    /// current round's earnings so far are included too; only for stake that leaves its delegate now.
    /// @return rewards LPT added to the stake
    /// @return fees Wei added to the fees
    /// @return settledThrough The last round included
    function _settle(
        Delegator memory d,
        uint256 round,
        bool throughCurrent
    ) private view returns (uint256 rewards, uint256 fees, uint256 settledThrough) {
        address delegate = d.delegateAddress;
        settledThrough = throughCurrent ? round : round - 1;
        d.lastClaimRound = uint32(round);
        if (delegate == address(0)) return (0, 0, settledThrough);

        mapping(uint256 => EarningsPool.Pool) storage pools = _earningsPools[delegate];
        uint256 endRound = _settlementRound(_transcoders[delegate], round, throughCurrent);
        EarningsPool.Factors memory end = pools[endRound].factors();

        uint256 settled = uint256(d.bondedAmount) + d.pendingAmount;
        uint256 grown;
        bool foldPending = d.pendingAmount != 0 && (d.pendingRound < round || throughCurrent);
        (grown, fees) = _grow(pools, d, end, round);
        if (!foldPending) {
            // Stake added this round stays pending; only the settled part grew.
            settled -= d.pendingAmount;
            grown -= d.pendingAmount;
        } else {
            d.pendingAmount = 0;
            d.pendingRound = 0;
            d.pendingFactorRound = 0;
        }
        rewards = grown - settled;
        // Stake never exceeds the total bonded, fees never the ETH credited: both were range-checked on entry.
        d.bondedAmount = uint128(grown);
        d.fees = uint128(d.fees + fees);
        d.factorRound = uint32(endRound);
    }

    /// @dev The written round whose factors a settlement at `round` ends on. The current round's pool is still
    /// changing, so unless `throughCurrent` its opening factors (the previous written round's) are used.
    function _settlementRound(Transcoder storage t, uint256 round, bool throughCurrent) private view returns (uint256) {
        uint256 latest = t.lastWrittenRound;
        return latest == round && !throughCurrent ? t.prevWrittenRound : latest;
    }

    function _settleAndLog(address delegator, Delegator memory d, uint256 round, bool throughCurrent) private {
        uint256 startRound = d.lastClaimRound;
        (uint256 rewards, uint256 fees, uint256 settledThrough) = _settle(d, round, throughCurrent);
        if (rewards != 0 || fees != 0) {
            emit EarningsClaimed(d.delegateAddress, delegator, rewards, fees, startRound, settledThrough);
        }
    }

    /// @dev Adds stake that starts earning next round. `d` is settled, so any pending stake is from this round.
    function _addPending(Delegator memory d, uint256 amount, uint256 round) private view {
        if (d.pendingAmount == 0) {
            d.pendingRound = uint32(round);
            d.pendingFactorRound = _transcoders[d.delegateAddress].lastWrittenRound;
        }
        d.pendingAmount = uint128(d.pendingAmount + amount); // <= total bonded
    }

    /// @dev Factors at the end of past round `round`: its own pool if written, else the latest written before it,
    /// which was `latestWritten` when the stake was added.
    function _endOfRound(
        mapping(uint256 => EarningsPool.Pool) storage pools,
        uint256 round,
        uint256 latestWritten
    ) private view returns (EarningsPool.Factors memory) {
        EarningsPool.Pool storage pool = pools[round];
        return pool.isWritten() ? pool.factors() : pools[latestWritten].factors();
    }

    /// @dev The pool of `round` (the current round), opened from the latest written factors if new.
    function _openPool(
        address transcoderAddress,
        Transcoder storage t,
        uint256 round
    ) private returns (EarningsPool.Pool storage pool) {
        mapping(uint256 => EarningsPool.Pool) storage pools = _earningsPools[transcoderAddress];
        pool = pools[round];
        uint256 latest = t.lastWrittenRound;
        if (latest == round) return pool;
        EarningsPool.Factors memory opening = pools[latest].factors();
        pool.cumulativeRewardFactor = uint128(opening.rewardFactor);
        pool.cumulativeFeeFactor = uint128(opening.feeFactor);
        t.prevWrittenRound = uint32(latest);
        t.lastWrittenRound = uint32(round);
    }

    /// @dev What `pendingStake`/`pendingFees` report: the delegator's books as if settled through `endRound`,
    /// counting the current round's earnings so far.
    function _pendingEarnings(address delegator, uint256 endRound) private view returns (uint256 stake, uint256 fees) {
        uint256 round = _rounds().currentRound();
        if (endRound > round) revert InvalidEndRound(endRound, round);
        Delegator memory d = _delegators[delegator];
        stake = uint256(d.bondedAmount) + d.pendingAmount;
        fees = d.fees;
        address delegate = d.delegateAddress;
        if (delegate == address(0) || endRound < d.lastClaimRound) return (stake, fees);

        mapping(uint256 => EarningsPool.Pool) storage pools = _earningsPools[delegate];
        EarningsPool.Factors memory end;
        uint256 latest = _transcoders[delegate].lastWrittenRound;
        if (pools[endRound].isWritten()) end = pools[endRound].factors();
        else if (latest <= endRound) end = pools[latest].factors();
        else revert EarningsFactorsUnavailable(delegate, endRound);

        uint256 earnedFees;
        (stake, earnedFees) = _grow(pools, d, end, endRound);
        fees += earnedFees;
    }

    /// @dev `d`'s settled and pending stake grown to factors `end`, and the fees they earned on the way. Pending
    /// stake earns only if it was added before `round`.
    function _grow(
        mapping(uint256 => EarningsPool.Pool) storage pools,
        Delegator memory d,
        EarningsPool.Factors memory end,
        uint256 round
    ) private view returns (uint256 stake, uint256 fees) {
        uint256 settled = d.bondedAmount;
        if (settled != 0) {
            EarningsPool.Factors memory start = pools[d.factorRound].factors();
            stake = EarningsPool.stakeAt(settled, start, end);
            fees = EarningsPool.feesBetween(settled, start, end);
        }
        uint256 pending = d.pendingAmount;
        if (pending == 0) return (stake, fees);
        if (d.pendingRound < round) {
            EarningsPool.Factors memory start = _endOfRound(pools, d.pendingRound, d.pendingFactorRound);
            stake += EarningsPool.stakeAt(pending, start, end);
            fees += EarningsPool.feesBetween(pending, start, end);
        } else {
            stake += pending;
        }
    }

    // ---- Stake and the pool ----

    /// @dev Takes `d`'s whole stake away from its delegate for a change of delegate; returns the amount moved. What
    /// it earned there this round so far comes with it.
    function _leaveDelegate(
        address delegator,
        Delegator memory d,
        uint256 round,
        address newPosPrev,
        address newPosNext
    ) private returns (uint256 moved) {
        address oldDelegate = d.delegateAddress;
        if (oldDelegate == delegator && _transcoders[delegator].registered) {
            revert TranscoderCannotChangeDelegate(delegator);
        }
        _settleAndLog(delegator, d, round, true);
        moved = d.bondedAmount + d.pendingAmount;
        _decreaseDelegatedAmount(oldDelegate, moved, round, newPosPrev, newPosNext);
        d.bondedAmount = 0;
        d.factorRound = 0;
        d.pendingAmount = 0;
    }

    function _rebond(
        address delegator,
        Delegator memory d,
        uint256 amount,
        uint256 unbondingLockId,
        uint256 round,
        address newPosPrev,
        address newPosNext
    ) private {
        address delegate = d.delegateAddress;
        _addPending(d, amount, round);
        _increaseDelegatedAmount(delegate, amount, round, newPosPrev, newPosNext);
        _delegators[delegator] = d;
        _totalBonded += uint112(amount); // the lock was bonded
        emit Rebonded(delegate, delegator, unbondingLockId, amount);
    }

    function _takeUnbondingLock(address delegator, uint256 unbondingLockId) private returns (uint256 amount) {
        UnbondingLock storage lock = _unbondingLocks[delegator][unbondingLockId];
        amount = lock.amount;
        if (amount == 0) revert UnbondingLockNotFound(delegator, unbondingLockId);
        delete _unbondingLocks[delegator][unbondingLockId];
    }

    function _increaseDelegatedAmount(
        address delegate,
        uint256 amount,
        uint256 round,
        address newPosPrev,
        address newPosNext
    ) private {
        Transcoder storage t = _transcoders[delegate];
        uint256 newStake = t.delegatedAmount + amount;
        _setDelegatedAmount(t, newStake, round);
        if (t.deactivationRound == IN_POOL) {
            _pool.reposition(delegate, newStake, newPosPrev, newPosNext, _stakeOf);
            _nextRoundTotalActiveStake += uint112(amount); // <= total bonded
        } else if (t.registered) {
            _tryJoinPool(delegate, t, newStake, round, newPosPrev, newPosNext);
        }
    }

    function _decreaseDelegatedAmount(
        address delegate,
        uint256 amount,
        uint256 round,
        address newPosPrev,
        address newPosNext
    ) private {
        Transcoder storage t = _transcoders[delegate];
        uint256 newStake = t.delegatedAmount - amount;
        _setDelegatedAmount(t, newStake, round);
        if (t.deactivationRound == IN_POOL) {
            _pool.reposition(delegate, newStake, newPosPrev, newPosNext, _stakeOf);
            _nextRoundTotalActiveStake -= uint112(amount);
        }
    }

    /// @dev Keeps the stake the round opened with, which this round's reward and fees are shared over.
    function _setDelegatedAmount(Transcoder storage t, uint256 newStake, uint256 round) private {
        if (t.lastStakeChangeRound != round) {
            t.stakeAtRoundStart = t.delegatedAmount;
            t.lastStakeChangeRound = uint32(round);
        }
        t.delegatedAmount = uint128(newStake); // <= total bonded
    }

    function _stakeAtRoundStart(Transcoder storage t, uint256 round) private view returns (uint256) {
        return t.lastStakeChangeRound == round ? t.stakeAtRoundStart : t.delegatedAmount;
    }

    /// @dev Joins if there is room, or evicts the last member when `stake` is strictly more than its stake.
    function _tryJoinPool(
        address member,
        Transcoder storage t,
        uint256 stake,
        uint256 round,
        address newPosPrev,
        address newPosNext
    ) private {
        if (stake == 0) return;
        if (_pool.isFull()) {
            address last = _pool.tail;
            if (last == address(0)) return; // capacity zero
            Transcoder storage lastMember = _transcoders[last];
            uint256 lastStake = lastMember.delegatedAmount;
            if (stake <= lastStake) return;
            _leavePool(last, lastMember, round);
        }
        _pool.insert(member, stake, newPosPrev, newPosNext, _stakeOf);
        _nextRoundTotalActiveStake += uint112(stake); // <= total bonded
        // A member that left earlier this round is still active in it: only cancel the departure.
        if (!_isActive(t, round)) t.activationRound = uint32(round + 1);
        t.deactivationRound = IN_POOL;
        emit TranscoderActivated(member, t.activationRound);
    }

    function _leavePool(address member, Transcoder storage t, uint256 round) private {
        _pool.remove(member);
        _nextRoundTotalActiveStake -= uint112(t.delegatedAmount); // was added when it joined
        uint32 deactivationRound = uint32(round + 1);
        t.deactivationRound = deactivationRound;
        emit TranscoderDeactivated(member, deactivationRound);
    }

    function _stakeOf(address member) private view returns (uint256) {
        return _transcoders[member].delegatedAmount;
    }

    function _isActive(Transcoder storage t, uint256 round) private view returns (bool) {
        uint256 activationRound = t.activationRound;
        return activationRound != 0 && activationRound <= round && round < t.deactivationRound;
    }

    // ---- Rounds and parameters ----

    function _rounds() private view returns (IRoundsManager) {
        return IRoundsManager(_registered(ContractIds.ROUNDS_MANAGER));
    }

    function _initializedRound() private view returns (uint256) {
        return _initializedRound(_rounds());
    }

    /// @dev Also keeps every round this contract stores (at most the current one plus one) within 32 bits.
    function _initializedRound(IRoundsManager rounds) private view returns (uint256 round) {
        bool initialized;
        (round, initialized) = rounds.currentRoundAndInitialized();
        if (!initialized) revert CurrentRoundNotInitialized(round);
        if (round >= type(uint32).max) revert RoundOutOfRange(round);
    }

    function _setUnbondingPeriod(uint256 period) private {
        if (period == 0 || period > type(uint32).max) revert InvalidUnbondingPeriod(period);
        _unbondingPeriod = uint32(period);
    }

    function _setNumActiveTranscoders(uint256 size) private {
        if (size > type(uint32).max || size < _pool.size) revert InvalidNumActiveTranscoders(size);
        _pool.maxSize = uint32(size);
    }
}
