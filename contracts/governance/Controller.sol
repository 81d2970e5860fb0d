// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";

import {IController} from "../interfaces/IController.sol";

/// @title Controller
/// @notice Registry of the protocol's contracts and the system-wide pause. Ownership moves in two steps so that a
/// mistyped address cannot strand governance.
contract Controller is IController, Ownable2Step {
    mapping(bytes32 id => address contractAddress) private _registry;
    bool private _paused;

    /// @param initialOwner The governance account
    constructor(address initialOwner) Ownable(initialOwner) {
        // Start paused: nothing may move until genesis is complete and the owner unpauses.
        _paused = true;
        emit SystemPaused(initialOwner);
    }

    /// @inheritdoc IController
    function setContract(bytes32 id, address contractAddress) external onlyOwner {
        if (contractAddress != address(0) && contractAddress.code.length == 0) {
            revert NotAContract(contractAddress);
        }
        _registry[id] = contractAddress;
        emit ContractRegistered(id, contractAddress);
    }

    /// @inheritdoc IController
    function pause() external onlyOwner {
        if (_paused) revert AlreadyPaused();
        _paused = true;
        emit SystemPaused(msg.sender);
    }

    /// @inheritdoc IController
    function unpause() external onlyOwner {
        if (!_paused) revert NotPaused();
        _paused = false;
        emit SystemUnpaused(msg.sender);
    }

    /// @inheritdoc IController
    function getContract(bytes32 id) external view returns (address) {
        return _registry[id];
    }

    /// @inheritdoc IController
    function paused() external view returns (bool) {
        return _paused;
    }

    /// @notice Disabled: without an owner the system could never be unpaused, upgraded or re-parameterised.
    function renounceOwnership() public view override onlyOwner {
        revert RenounceOwnershipDisabled();
    }

    /// @inheritdoc IController
    function owner() public view override(IController, Ownable) returns (address) {
        return super.owner();
    }
}
