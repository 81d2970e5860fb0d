// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IController} from "../interfaces/IController.sol";
import {IManager} from "../interfaces/IManager.sol";

/// @title Manager
/// @notice Base of every protocol contract: finds its peers through the Controller and obeys its pause.
/// @dev The Controller is an immutable of the implementation, so lookups cost no storage read. For upgradeable
/// managers every implementation is built with the same Controller; `ManagerUpgradeable` enforces it on upgrade.
abstract contract Manager is IManager {
    /// @custom:oz-upgrades-unsafe-allow state-variable-immutable
    IController internal immutable CONTROLLER;

    // Modifier bodies are functions so that each guarded function carries a jump, not a copy of the check.
    modifier onlyControllerOwner() {
        _checkControllerOwner();
        _;
    }

    modifier onlyManager(bytes32 managerId) {
        _checkManager(managerId);
        _;
    }

    modifier whenSystemNotPaused() {
        _checkNotPaused();
        _;
    }

    modifier whenSystemPaused() {
        if (!CONTROLLER.paused()) revert SystemIsNotPaused();
        _;
    }

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor(IController controller_) {
        if (address(controller_) == address(0)) revert ZeroController();
        CONTROLLER = controller_;
    }

    /// @inheritdoc IManager
    function controller() external view returns (IController) {
        return CONTROLLER;
    }

    function _checkControllerOwner() internal view {
        if (msg.sender != CONTROLLER.owner()) revert CallerNotControllerOwner(msg.sender);
    }

    function _checkManager(bytes32 managerId) internal view {
        if (msg.sender != CONTROLLER.getContract(managerId)) revert CallerNotManager(msg.sender, managerId);
    }

    function _checkNotPaused() internal view {
        if (CONTROLLER.paused()) revert SystemIsPaused();
    }

    /// @dev The contract registered under `id`; reverts rather than let a call go to the zero address.
    function _registered(bytes32 id) internal view returns (address contractAddress) {
        contractAddress = CONTROLLER.getContract(id);
        if (contractAddress == address(0)) revert ContractNotRegistered(id);
    }
}
