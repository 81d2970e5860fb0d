// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IController} from "../interfaces/IController.sol";
import {ManagerUpgradeable} from "../manager/ManagerUpgradeable.sol";

/// @notice An unsafe upgrade: its first slot holds a different type than RoundsManager's packed clock.
contract RoundsManagerClashMock is ManagerUpgradeable {
    uint256 private _clobbersTheClock;
    mapping(uint256 => bytes32) private _blockHashes;

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor(IController controller_) ManagerUpgradeable(controller_) {}
}
