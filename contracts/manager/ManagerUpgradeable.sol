// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts/proxy/utils/UUPSUpgradeable.sol";

import {IController} from "../interfaces/IController.sol";
import {IManager} from "../interfaces/IManager.sol";
import {Manager} from "./Manager.sol";

/// @title ManagerUpgradeable
/// @notice A manager behind an ERC-1967 UUPS proxy; only the Controller's owner may upgrade it.
/// @dev Holds no storage of its own (Initializable and UUPSUpgradeable use namespaced slots), so a derived
/// contract's layout starts at slot 0. Anything added here later must use a namespaced slot too.
abstract contract ManagerUpgradeable is Manager, Initializable, UUPSUpgradeable {
    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor(IController controller_) Manager(controller_) {
        _disableInitializers();
    }

    /// @dev The new implementation must answer to the same Controller, or the registry and pause would silently
    /// stop applying to this proxy.
    function _authorizeUpgrade(address newImplementation) internal view override onlyControllerOwner {
        address newController = address(IManager(newImplementation).controller());
        if (newController != address(CONTROLLER)) revert ControllerMismatch(address(CONTROLLER), newController);
    }
}
