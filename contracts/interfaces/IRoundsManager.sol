// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IManager} from "./IManager.sol";

/// @title IRoundsManager
/// @notice The protocol's clock. A round is `roundLength` blocks; each round is initialized once, which records the
/// block hash that tickets and committee draws of that round rely on and starts the round's reward accounting.
interface IRoundsManager is IManager {
    /// @notice Round `round` was initialized; `blockHash` is the hash of the block before initialization.
    event NewRound(uint256 indexed round, bytes32 blockHash);
    /// @notice A round-length change was scheduled; it applies from `fromRound`, which starts at `startBlock`.
    event RoundLengthChangeScheduled(uint256 indexed fromRound, uint256 startBlock, uint256 roundLength);

    /// @notice `round` has already been initialized.
    error RoundAlreadyInitialized(uint256 round);
    /// @notice A round must be at least one block long and fit in 48 bits.
    error InvalidRoundLength(uint256 roundLength);
    /// @notice The round lock is a share of the round in parts per million, at most 1,000,000.
    error InvalidRoundLockAmount(uint256 roundLockAmount);

    /// @notice Initializes the current round: stores the previous block's hash, has the BondingManager snapshot
    /// the active stake and the Minter fix this round's mintable tokens. Anyone may call it, once per round.
    /// @dev Constant cost: nothing here iterates over the pool or over past rounds.
    function initializeRound() external;

    /// @notice Sets the round length in blocks. It applies from the next round; past and current round numbers
    /// and the current round's end block do not change. Controller owner only.
    /// @param newRoundLength Blocks per round, at least 1
    function setRoundLength(uint256 newRoundLength) external;

    /// @notice Sets the round lock: the last `newRoundLockAmount` ppm of each round, during which orchestrators may
    /// not change their reward cut or fee share. Controller owner only.
    /// @param newRoundLockAmount Parts per million of `roundLength`, at most 1,000,000
    function setRoundLockAmount(uint256 newRoundLockAmount) external;

    /// @notice The current round number. Round 1 starts at deployment.
    function currentRound() external view returns (uint256);

    /// @notice The first block of the current round.
    function currentRoundStartBlock() external view returns (uint256);

    /// @notice The current round and whether it has been initialized, in one call (for managers on hot paths).
    function currentRoundAndInitialized() external view returns (uint256 round, bool initialized);

    /// @notice Whether the current round has been initialized.
    function currentRoundInitialized() external view returns (bool);

    /// @notice Whether the current round is in its lock period.
    function currentRoundLocked() external view returns (bool);

    /// @notice The most recently initialized round, or zero if none.
    function lastInitializedRound() external view returns (uint256);

    /// @notice Blocks per round in the current round. A scheduled change shows here once its round starts.
    function roundLength() external view returns (uint256);

    /// @notice The round lock in parts per million of `roundLength`.
    function roundLockAmount() external view returns (uint256);

    /// @notice The block hash stored when `round` was initialized, or zero if it never was.
    /// @param round A round number
    function blockHashForRound(uint256 round) external view returns (bytes32);
}
