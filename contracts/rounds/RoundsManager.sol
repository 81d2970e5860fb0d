// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IBondingManager} from "../interfaces/IBondingManager.sol";
import {IController} from "../interfaces/IController.sol";
import {IMinter} from "../interfaces/IMinter.sol";
import {IRoundsManager} from "../interfaces/IRoundsManager.sol";
import {ContractIds} from "../libraries/ContractIds.sol";
import {RoundClock} from "../libraries/RoundClock.sol";
import {ManagerUpgradeable} from "../manager/ManagerUpgradeable.sol";

/// @title RoundsManager
/// @notice The round clock. See `IRoundsManager`.
/// @dev Storage is two packed slots plus the block-hash map; steady-state calls touch only the first. A round-length change is stored as a second anchor
/// (`_next*`) that takes over once its start block is reached and is folded into the first on the next write.
contract RoundsManager is IRoundsManager, ManagerUpgradeable {
    using RoundClock for RoundClock.Clock;

    uint256 private constant PERC = 1_000_000;

    // slot 0: everything initializeRound and the views read when no length change is pending. 48 bits hold
    // block and round numbers for millions of years even at sub-second block times.
    uint48 private _roundLength;
    uint48 private _anchorRound;
    uint48 private _anchorStartBlock;
    uint48 private _lastInitializedRound;
    uint48 private _nextRoundLength; // zero when no change is scheduled
    // slot 1: where a scheduled length change starts, and the round lock
    uint48 private _nextAnchorRound;
    uint48 private _nextAnchorStartBlock;
    uint32 private _roundLockAmount;

    mapping(uint256 round => bytes32 blockHash) private _blockHashForRound;

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor(IController controller_) ManagerUpgradeable(controller_) {}

    /// @notice Starts the clock: round 1 begins at this block.
    /// @param roundLength_ Blocks per round
    /// @param roundLockAmount_ Round lock, ppm of the round
    function initialize(uint256 roundLength_, uint256 roundLockAmount_) external initializer {
        _checkRoundLength(roundLength_);
        _checkRoundLockAmount(roundLockAmount_);
        _roundLength = uint48(roundLength_);
        _anchorRound = 1;
        _anchorStartBlock = SafeCast.toUint48(block.number);
        _roundLockAmount = uint32(roundLockAmount_);
    }

    /// @inheritdoc IRoundsManager
    function initializeRound() external whenSystemNotPaused {
        RoundClock.Clock memory clock = _applyScheduledLength();
        uint256 round = clock.roundAt(block.number);
        if (round == _lastInitializedRound) revert RoundAlreadyInitialized(round);

        _lastInitializedRound = SafeCast.toUint48(round);
        bytes32 blockHash = blockhash(block.number - 1);
        _blockHashForRound[round] = blockHash;

        uint256 totalActiveStake = IBondingManager(_registered(ContractIds.BONDING_MANAGER))
            .setCurrentRoundTotalActiveStake();
        IMinter(_registered(ContractIds.MINTER)).setCurrentRewardTokens(totalActiveStake);

        emit NewRound(round, blockHash);
    }

    /// @inheritdoc IRoundsManager
    function setRoundLength(uint256 newRoundLength) external onlyControllerOwner {
        _checkRoundLength(newRoundLength);
        RoundClock.Clock memory clock = _applyScheduledLength();
        uint256 nextRound = clock.roundAt(block.number) + 1;
        uint256 nextStartBlock = clock.startBlockOf(nextRound);

        // Replaces any change scheduled earlier in this round: only the latest decision applies.
        _nextRoundLength = uint48(newRoundLength);
        _nextAnchorRound = SafeCast.toUint48(nextRound);
        _nextAnchorStartBlock = SafeCast.toUint48(nextStartBlock);

        emit RoundLengthChangeScheduled(nextRound, nextStartBlock, newRoundLength);
        emit ParameterUpdate("roundLength");
    }

    /// @inheritdoc IRoundsManager
    function setRoundLockAmount(uint256 newRoundLockAmount) external onlyControllerOwner {
        _checkRoundLockAmount(newRoundLockAmount);
        _roundLockAmount = uint32(newRoundLockAmount);
        emit ParameterUpdate("roundLockAmount");
    }

    /// @inheritdoc IRoundsManager
    function currentRound() external view returns (uint256) {
        return _clockNow().roundAt(block.number);
    }

    /// @inheritdoc IRoundsManager
    function currentRoundStartBlock() external view returns (uint256) {
        RoundClock.Clock memory clock = _clockNow();
        return clock.startBlockOf(clock.roundAt(block.number));
    }

    /// @inheritdoc IRoundsManager
    function currentRoundAndInitialized() external view returns (uint256 round, bool initialized) {
        round = _clockNow().roundAt(block.number);
        initialized = round == _lastInitializedRound;
    }

    /// @inheritdoc IRoundsManager
    function currentRoundInitialized() external view returns (bool) {
        return _clockNow().roundAt(block.number) == _lastInitializedRound;
    }

    /// @inheritdoc IRoundsManager
    function currentRoundLocked() external view returns (bool) {
        RoundClock.Clock memory clock = _clockNow();
        uint256 length = clock.roundLength;
        uint256 lockBlocks = (length * _roundLockAmount) / PERC;
        uint256 endBlock = clock.startBlockOf(clock.roundAt(block.number)) + length;
        return block.number >= endBlock - lockBlocks;
    }

    /// @inheritdoc IRoundsManager
    function lastInitializedRound() external view returns (uint256) {
        return _lastInitializedRound;
    }

    /// @inheritdoc IRoundsManager
    function roundLength() external view returns (uint256) {
        return _clockNow().roundLength;
    }

    /// @inheritdoc IRoundsManager
    function roundLockAmount() external view returns (uint256) {
        return _roundLockAmount;
    }

    /// @inheritdoc IRoundsManager
    function blockHashForRound(uint256 round) external view returns (bytes32) {
        return _blockHashForRound[round];
    }

    /// @dev The clock in force at this block: the scheduled one once its first round has started.
    function _clockNow() private view returns (RoundClock.Clock memory clock) {
        uint48 nextLength = _nextRoundLength;
        if (nextLength != 0 && block.number >= _nextAnchorStartBlock) {
            return RoundClock.Clock(nextLength, _nextAnchorRound, _nextAnchorStartBlock);
        }
        return RoundClock.Clock(_roundLength, _anchorRound, _anchorStartBlock);
    }

    /// @dev Like `_clockNow`, but a scheduled change already in force becomes the primary anchor, so later calls
    /// read one slot fewer.
    function _applyScheduledLength() private returns (RoundClock.Clock memory clock) {
        uint48 nextLength = _nextRoundLength;
        if (nextLength == 0 || block.number < _nextAnchorStartBlock) {
            return RoundClock.Clock(_roundLength, _anchorRound, _anchorStartBlock);
        }
        clock = RoundClock.Clock(nextLength, _nextAnchorRound, _nextAnchorStartBlock);
        _roundLength = clock.roundLength;
        _anchorRound = clock.anchorRound;
        _anchorStartBlock = clock.anchorStartBlock;
        _nextRoundLength = 0;
        _nextAnchorRound = 0;
        _nextAnchorStartBlock = 0;
    }

    function _checkRoundLength(uint256 length) private pure {
        if (length == 0 || length > type(uint48).max) revert InvalidRoundLength(length);
    }

    function _checkRoundLockAmount(uint256 amount) private pure {
        if (amount > PERC) revert InvalidRoundLockAmount(amount);
    }
}
