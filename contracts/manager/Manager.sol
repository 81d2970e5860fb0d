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

    modifier onlyControllerOwner() {
        if (msg.sender != CONTROLLER.owner()) revert CallerNotControllerOwner(msg.sender);
        _;
    }

    modifier onlyManager(bytes32 managerId) {
        if (msg.sender != CONTROLLER.getContract(managerId)) revert CallerNotManager(msg.sender, managerId);
        _;
    }

    modifier whenSystemNotPaused() {
        if (CONTROLLER.paused()) revert SystemIsPaused();
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

    /// @dev The contract registered under `id`; reverts rather than let a call go to the zero address.
    function _registered(bytes32 id) internal view returns (address contractAddress) {
        contractAddress = CONTROLLER.getContract(id);
        if (contractAddress == address(0)) revert ContractNotRegistered(id);
    }
}
