// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title IBondingManager
/// @notice The part of the BondingManager that the round clock and the Minter call.
/// @dev The full BondingManager interface (bonding, delegation, pool, earnings, slashing) extends this one.
interface IBondingManager {
    /// @notice Snapshots the total stake of the orchestrators active in the round being initialized.
    /// RoundsManager only.
    /// @return totalActiveStake The snapshot, in LPT wei
    function setCurrentRoundTotalActiveStake() external returns (uint256 totalActiveStake);

    /// @notice The total active stake snapshotted for the current round, in LPT wei.
    function currentRoundTotalActiveStake() external view returns (uint256);
}
