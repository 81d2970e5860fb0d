// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IManager} from "./IManager.sol";

/// @title IMinter
/// @notice Custodian of every bonded LPT and every broadcaster's ETH, and the source of inflation. It pays out only
/// on requests from registered managers, never more than it holds.
/// @dev Inflation, its step and the target bonding rate are in parts per billion (1e9 = 100%).
interface IMinter is IManager {
    /// @notice Round accounting was reset: `mintableTokens` may be minted as rewards this round.
    event SetCurrentRewardTokens(uint256 mintableTokens, uint256 inflation, uint256 bondingRate);
    /// @notice `amount` LPT was minted as rewards (held here, as bonded stake).
    event RewardMinted(uint256 amount);
    /// @notice `amount` wei of ETH was received from `from`.
    event ETHDeposited(address indexed from, uint256 amount);
    /// @notice Funds were moved to `newMinter`.
    event MinterMigrated(address indexed newMinter, uint256 tokens, uint256 ethAmount);

    /// @notice ETH payouts are reserved for the BondingManager (fees) and the TicketBroker (deposits, reserves).
    error CallerNotFundsManager(address caller);
    /// @notice ETH is taken only from the TicketBroker, or from the registered Minter during a migration.
    error CallerNotDepositor(address caller);
    /// @notice A reward fraction must have a non-zero denominator and be at most one.
    error InvalidRewardFraction(uint256 numerator, uint256 denominator);
    /// @notice The Minter holds `available` wei of ETH, less than the `requested` payout.
    error InsufficientETH(uint256 requested, uint256 available);
    /// @notice Sending ETH to `to` failed.
    error ETHTransferFailed(address to, uint256 amount);
    /// @notice The target bonding rate is in parts per billion, at most 1e9.
    error InvalidTargetBondingRate(uint256 targetBondingRate);
    /// @notice The inflation step is in parts per billion, at most 1e9.
    error InvalidInflationChange(uint256 inflationChange);
    /// @notice Inflation is in parts per billion and must fit in 48 bits.
    error InvalidInflation(uint256 inflation);
    /// @notice The migration target is this Minter or answers to another Controller.
    error InvalidMinterMigration(address newMinter);

    /// @notice Mints this round's reward for a share `numerator / denominator` of the active stake, capped by what
    /// is left to mint this round. BondingManager only.
    /// @return minted The LPT minted (rounded down), kept here as bonded stake
    function createReward(uint256 numerator, uint256 denominator) external returns (uint256 minted);

    /// @notice Pays `amount` LPT from custody to `to`. BondingManager only.
    function trustedTransferTokens(address to, uint256 amount) external;

    /// @notice Burns `amount` LPT from custody (slashing). BondingManager only.
    function trustedBurnTokens(uint256 amount) external;

    /// @notice Pays `amount` wei of ETH to `to`. BondingManager or TicketBroker only.
    function trustedWithdrawETH(address payable to, uint256 amount) external;

    /// @notice Takes ETH into custody. TicketBroker, or the registered Minter during a migration, only.
    function depositETH() external payable;

    /// @notice Moves inflation one step toward the target bonding rate and fixes this round's mintable tokens.
    /// RoundsManager only, while initializing a round.
    /// @param totalActiveStake The round's active stake snapshot, in LPT wei
    function setCurrentRewardTokens(uint256 totalActiveStake) external;

    /// @notice Moves all LPT and ETH in custody to `newMinter`. Controller owner only, while the system is paused;
    /// register `newMinter` afterwards so that it may mint.
    function migrateToNewMinter(IMinter newMinter) external;

    /// @notice Sets the target bonding rate (ppb). Controller owner only.
    function setTargetBondingRate(uint256 newTargetBondingRate) external;

    /// @notice Sets the inflation step per round (ppb). Controller owner only.
    function setInflationChange(uint256 newInflationChange) external;

    /// @notice Current inflation per round, in parts per billion of total supply.
    function inflation() external view returns (uint256);

    /// @notice Inflation step per round, in parts per billion.
    function inflationChange() external view returns (uint256);

    /// @notice The bonding rate inflation steers toward, in parts per billion.
    function targetBondingRate() external view returns (uint256);

    /// @notice LPT mintable as rewards in the current round.
    function currentMintableTokens() external view returns (uint256);

    /// @notice LPT already minted as rewards in the current round.
    function currentMintedTokens() external view returns (uint256);
}
