// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title ManagerMock
/// @notice Test stand-in for a manager that has not been built yet, registered under its name in the Controller.
/// It forwards arbitrary calls (so tests can act as that manager), accepts ETH, and answers the BondingManager
/// hook the round clock calls with a stake the test sets. As the DisputeManager it answers `openDisputesAgainst`.
contract ManagerMock {
    uint256 public totalActiveStake;
    uint256 public currentRoundTotalActiveStake;
    mapping(address orchestrator => uint256 count) public openDisputesAgainst;

    event TotalActiveStakeSnapshotted(uint256 totalActiveStake);

    receive() external payable {}

    function setTotalActiveStake(uint256 stake) external {
        totalActiveStake = stake;
    }

    function setOpenDisputesAgainst(address orchestrator, uint256 count) external {
        openDisputesAgainst[orchestrator] = count;
    }

    function setCurrentRoundTotalActiveStake() external returns (uint256) {
        // Reads and writes a slot like the real hook, so gas measured through the mock is not flattered.
        uint256 stake = totalActiveStake;
        currentRoundTotalActiveStake = stake;
        emit TotalActiveStakeSnapshotted(stake);
        return stake;
    }

    function execute(address target, bytes calldata data) external payable returns (bytes memory) {
        (bool ok, bytes memory returnData) = target.call{value: msg.value}(data);
        if (!ok) {
            // Bubble the target's revert data so tests can match custom errors.
            assembly ("memory-safe") {
                revert(add(returnData, 32), mload(returnData))
            }
        }
        return returnData;
    }
}
