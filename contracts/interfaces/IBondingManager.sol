// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IManager} from "./IManager.sol";

/// @title IBondingManager
/// @notice Bonding, delegation, the orchestrator ("transcoder") pool, rewards, fees, unbonding locks and slashing.
/// @dev Amounts are LPT wei (stake) or ETH wei (fees); cuts are parts per million. Every state change of a delegator
/// first settles its earnings through the previous round (whose factors are final) so claims are path-independent;
/// stake added in round r earns from round r + 1. See docs/bonding.md.
interface IBondingManager is IManager {
    /// @notice Delegator states, as returned by `delegatorStatus`.
    enum DelegatorStatus {
        Pending,
        Bonded,
        Unbonded
    }

    /// @notice `delegator` bonded `additionalAmount` new LPT and now has `bondedAmount` delegated to `newDelegate`.
    event Bonded(
        address indexed newDelegate,
        address indexed oldDelegate,
        address indexed delegator,
        uint256 additionalAmount,
        uint256 bondedAmount
    );
    /// @notice `delegator` moved `amount` from `delegate` into unbonding lock `unbondingLockId`.
    event Unbonded(
        address indexed delegate,
        address indexed delegator,
        uint256 unbondingLockId,
        uint256 amount,
        uint256 withdrawRound
    );
    /// @notice Unbonding lock `unbondingLockId` of `delegator` (`amount`) was bonded again to `delegate`.
    event Rebonded(address indexed delegate, address indexed delegator, uint256 unbondingLockId, uint256 amount);
    /// @notice `delegator` withdrew unbonding lock `unbondingLockId`.
    event StakeWithdrawn(address indexed delegator, uint256 unbondingLockId, uint256 amount, uint256 withdrawRound);
    /// @notice `delegator` sent `amount` wei of earned fees to `recipient`.
    event FeesWithdrawn(address indexed delegator, address indexed recipient, uint256 amount);
    /// @notice `delegator` settled `rewards` LPT and `fees` wei earned from `delegate` up to round `endRound`.
    event EarningsClaimed(
        address indexed delegate,
        address indexed delegator,
        uint256 rewards,
        uint256 fees,
        uint256 startRound,
        uint256 endRound
    );
    /// @notice `transcoder` registered or changed its cuts.
    event TranscoderUpdated(address indexed transcoder, uint256 rewardCut, uint256 feeShare);
    /// @notice `transcoder` joined the pool; it is active from `activationRound`.
    event TranscoderActivated(address indexed transcoder, uint256 activationRound);
    /// @notice `transcoder` left the pool (resigned, evicted or slashed); it is inactive from `deactivationRound`.
    event TranscoderDeactivated(address indexed transcoder, uint256 deactivationRound);
    /// @notice `transcoder` minted `amount` LPT of rewards for `round`.
    event Rewarded(address indexed transcoder, uint256 indexed round, uint256 amount);
    /// @notice The TicketBroker credited `fees` wei to `transcoder`'s earnings pool for `round`.
    event FeesCredited(address indexed transcoder, uint256 indexed round, uint256 fees);
    /// @notice `transcoder` lost `penalty` LPT; `finder` received `finderReward` of it and the rest was burned.
    event TranscoderSlashed(address indexed transcoder, address indexed finder, uint256 penalty, uint256 finderReward);

    /// @notice Bonding, rewards and claims wait until someone calls `RoundsManager.initializeRound()`.
    error CurrentRoundNotInitialized(uint256 round);
    /// @notice Rounds are stored in 32 bits; this contract cannot operate past round 2^32 - 2.
    error RoundOutOfRange(uint256 round);
    /// @notice The amount must be greater than zero.
    error ZeroAmount();
    /// @notice Stake cannot be delegated to the zero address.
    error ZeroDelegate();
    /// @notice A registered orchestrator delegates to itself and cannot delegate elsewhere; unbond everything first.
    error TranscoderCannotChangeDelegate(address transcoder);
    /// @notice `requested` is more than the `available` bonded amount.
    error InsufficientBondedAmount(uint256 requested, uint256 available);
    /// @notice `delegator` has nothing bonded.
    error NotBonded(address delegator);
    /// @notice `delegator` is still bonded; use `rebond` instead of `rebondFromUnbonded`.
    error AlreadyBonded(address delegator);
    /// @notice `delegator` has no unbonding lock `unbondingLockId` (never created, rebonded or withdrawn).
    error UnbondingLockNotFound(address delegator, uint256 unbondingLockId);
    /// @notice The lock can be withdrawn from `withdrawRound`; it is `currentRound`.
    error UnbondingLockNotWithdrawable(uint256 unbondingLockId, uint256 withdrawRound, uint256 currentRound);
    /// @notice Cuts are in ppm and at most 1,000,000.
    error InvalidRewardCut(uint256 rewardCut);
    /// @notice Cuts are in ppm and at most 1,000,000.
    error InvalidFeeShare(uint256 feeShare);
    /// @notice Cuts cannot change during the round lock (the last part of a round).
    error RoundLocked(uint256 round);
    /// @notice Registering as an orchestrator needs stake bonded to oneself.
    error NotSelfBonded(address caller);
    /// @notice `transcoder` is not an active, registered orchestrator in `round`.
    error TranscoderNotActive(address transcoder, uint256 round);
    /// @notice `transcoder` already minted its reward for `round`.
    error RewardAlreadyMinted(address transcoder, uint256 round);
    /// @notice `requested` wei is more than the `available` fees.
    error InsufficientFees(uint256 requested, uint256 available);
    /// @notice Fees cannot be sent to the zero address.
    error ZeroRecipient();
    /// @notice Claims settle through the previous round; `endRound` must be the current round.
    error InvalidEndRound(uint256 endRound, uint256 currentRound);
    /// @notice The earnings factors of `transcoder` at `round` are no longer known (a later round was written).
    error EarningsFactorsUnavailable(address transcoder, uint256 round);
    /// @notice The pool cannot shrink below its current size, and must fit in 32 bits.
    error InvalidNumActiveTranscoders(uint256 numActiveTranscoders);
    /// @notice The unbonding period must be at least one round and fit in 32 bits.
    error InvalidUnbondingPeriod(uint256 unbondingPeriod);
    /// @notice A slash fraction is in ppm and at most 1,000,000.
    error InvalidSlashFraction(uint256 fraction);
    /// @notice An orchestrator (or an account that was one) may not unbond while `openDisputes` disputes against it are
    /// unresolved: the stake a Fault would slash must stay bonded.
    error TranscoderUnderDispute(address transcoder, uint256 openDisputes);

    // ---- Delegators ----

    /// @notice Bonds `amount` more LPT (pulled from the caller, needs an allowance) and delegates the caller's whole
    /// stake to `to`. With `amount == 0` it only changes delegate. Changes take effect next round.
    function bond(uint256 amount, address to) external;

    /// @notice `bond` with pool positions: where the old delegate and the new one sit after the change. Wrong or zero
    /// hints still work (the pool is walked), correct ones make the update O(1).
    function bondWithHint(
        uint256 amount,
        address to,
        address oldDelegateNewPosPrev,
        address oldDelegateNewPosNext,
        address newDelegateNewPosPrev,
        address newDelegateNewPosNext
    ) external;

    /// @notice Moves `amount` of the caller's stake into a new unbonding lock, withdrawable after `unbondingPeriod`
    /// rounds. Unbonding everything resigns an orchestrator from the pool.
    function unbond(uint256 amount) external;

    /// @notice `unbond` with the delegate's new pool position.
    function unbondWithHint(uint256 amount, address newPosPrev, address newPosNext) external;

    /// @notice Bonds unbonding lock `unbondingLockId` again, to the caller's current delegate.
    function rebond(uint256 unbondingLockId) external;

    /// @notice `rebond` with the delegate's new pool position.
    function rebondWithHint(uint256 unbondingLockId, address newPosPrev, address newPosNext) external;

    /// @notice For a fully unbonded caller: bonds unbonding lock `unbondingLockId` again, to `to`.
    function rebondFromUnbonded(address to, uint256 unbondingLockId) external;

    /// @notice `rebondFromUnbonded` with `to`'s new pool position.
    function rebondFromUnbondedWithHint(
        address to,
        uint256 unbondingLockId,
        address newPosPrev,
        address newPosNext
    ) external;

    /// @notice Pays out unbonding lock `unbondingLockId` once its withdraw round has come.
    function withdrawStake(uint256 unbondingLockId) external;

    /// @notice Sends `amount` wei of the caller's earned fees to `recipient` (settling earnings first).
    function withdrawFees(address payable recipient, uint256 amount) external;

    /// @notice Settles the caller's rewards and fees through the previous round. Cost does not depend on how many
    /// rounds have passed. `endRound` must be the current round.
    function claimEarnings(uint256 endRound) external;

    // ---- Orchestrators ----

    /// @notice Registers the caller (self-bonded) as an orchestrator, or updates its cuts; joins the pool if there is
    /// room or its stake beats the last member's (who is evicted). Not during the round lock.
    /// @param rewardCut Share of rewards the orchestrator keeps, ppm
    /// @param feeShare Share of fees passed to delegators, ppm
    function transcoder(uint256 rewardCut, uint256 feeShare) external;

    /// @notice `transcoder` with the caller's pool position.
    function transcoderWithHint(uint256 rewardCut, uint256 feeShare, address newPosPrev, address newPosNext) external;

    /// @notice Mints the caller's share of this round's inflation (active orchestrators, once per round).
    function reward() external;

    /// @notice `reward` with the caller's new pool position.
    function rewardWithHint(address newPosPrev, address newPosNext) external;

    // ---- Managers ----

    /// @notice Credits `fees` wei (already held by the Minter) to `transcoder` for the current round `round`.
    /// TicketBroker only; `transcoder` must be active.
    function updateTranscoderWithFees(address transcoder, uint256 fees, uint256 round) external;

    /// @notice Slashes `slashAmount` ppm of `transcoder`'s own bonded stake, pays `finderFee` ppm of the penalty to
    /// `finder` (none if zero), burns the rest and removes `transcoder` from the pool. DisputeManager only.
    function slashTranscoder(address transcoder, address finder, uint256 slashAmount, uint256 finderFee) external;

    /// @notice Snapshots the total stake and the number of the orchestrators active in the round being initialized.
    /// RoundsManager only.
    /// @return totalActiveStake The snapshot, in LPT wei
    function setCurrentRoundTotalActiveStake() external returns (uint256 totalActiveStake);

    // ---- Governance ----

    /// @notice Rounds between unbonding and withdrawal. Controller owner only.
    function setUnbondingPeriod(uint256 newUnbondingPeriod) external;

    /// @notice Pool capacity; cannot drop below the current pool size. Controller owner only.
    function setNumActiveTranscoders(uint256 newNumActiveTranscoders) external;

    // ---- Views ----

    /// @notice A delegator's books as last settled. `bondedAmount` includes stake added this round (not yet
    /// earning); `delegatedAmount` is the stake others (and itself) delegate to this address.
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
        );

    /// @notice An unbonding lock; zero amount once rebonded or withdrawn.
    function getUnbondingLock(
        address delegator,
        uint256 unbondingLockId
    ) external view returns (uint256 amount, uint256 withdrawRound);

    /// @notice Stake including unclaimed rewards as of `endRound` (the current round counts what was minted so far).
    function pendingStake(address delegator, uint256 endRound) external view returns (uint256);

    /// @notice Fees including unclaimed ones as of `endRound`, in wei.
    function pendingFees(address delegator, uint256 endRound) external view returns (uint256);

    /// @notice An orchestrator's registration. Active in round r iff `activationRound <= r < deactivationRound`.
    function getTranscoder(
        address transcoder
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
        );

    /// @notice The cumulative factors written for `transcoder` at `round` (zero when nothing happened that round).
    function getTranscoderEarningsPoolForRound(
        address transcoder,
        uint256 round
    ) external view returns (uint256 cumulativeRewardFactor, uint256 cumulativeFeeFactor);

    /// @notice Total stake delegated to `transcoder` (including its own), effective next round.
    function transcoderTotalStake(address transcoder) external view returns (uint256);

    /// @notice Whether `transcoder` is active in the current round.
    function isActiveTranscoder(address transcoder) external view returns (bool);

    /// @notice Whether `transcoder` is registered (self-bonded and called `transcoder`).
    function isRegisteredTranscoder(address transcoder) external view returns (bool);

    /// @notice Whether `transcoder` is in the pool (active now or from next round).
    function isInPool(address transcoder) external view returns (bool);

    /// @notice Members in the pool.
    function getTranscoderPoolSize() external view returns (uint256);

    /// @notice The member with the most stake (zero address when empty).
    function getFirstTranscoderInPool() external view returns (address);

    /// @notice The member after `transcoder` in descending stake order (zero address at the end).
    function getNextTranscoderInPool(address transcoder) external view returns (address);

    /// @notice The member before `transcoder` (zero address at the start).
    function getPrevTranscoderInPool(address transcoder) external view returns (address);

    /// @notice The member with the least stake (zero address when empty).
    function getLastTranscoderInPool() external view returns (address);

    /// @notice All LPT bonded, including minted rewards not yet claimed and excluding unbonding locks.
    function getTotalBonded() external view returns (uint256);

    /// @notice The total active stake snapshotted for the current round, in LPT wei.
    function currentRoundTotalActiveStake() external view returns (uint256);

    /// @notice How many orchestrators are active in the current round: the pool's size when the round was
    /// initialized (joins and leaves take effect a round later). Reserves are split by this number.
    function currentRoundPoolSize() external view returns (uint256);

    /// @notice What the total active stake would be if the next round started now.
    function nextRoundTotalActiveStake() external view returns (uint256);

    /// @notice 0 Pending (bonded, starts next round), 1 Bonded, 2 Unbonded.
    function delegatorStatus(address delegator) external view returns (DelegatorStatus);

    /// @notice Rounds between unbonding and withdrawal.
    function unbondingPeriod() external view returns (uint256);

    /// @notice Pool capacity.
    function numActiveTranscoders() external view returns (uint256);
}
