// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IController} from "../interfaces/IController.sol";
import {RoundsManager} from "../rounds/RoundsManager.sol";

/// @notice A compatible upgrade: appends state after RoundsManager's.
contract RoundsManagerV2Mock is RoundsManager {
    uint256 private _appended;

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor(IController controller_) RoundsManager(controller_) {}

    function version() external pure returns (string memory) {
        return "v2";
    }
}
