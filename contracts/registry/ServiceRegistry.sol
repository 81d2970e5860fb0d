// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IController} from "../interfaces/IController.sol";
import {IServiceRegistry} from "../interfaces/IServiceRegistry.sol";
import {Manager} from "../manager/Manager.sol";

/// @title ServiceRegistry
/// @notice See `IServiceRegistry`. Anyone may publish a URI; clients only look up orchestrators in the pool.
contract ServiceRegistry is IServiceRegistry, Manager {
    mapping(address addr => string serviceURI) private _serviceURIs;

    /// @param controller_ The Controller
    constructor(IController controller_) Manager(controller_) {}

    /// @inheritdoc IServiceRegistry
    function setServiceURI(string calldata serviceURI) external whenSystemNotPaused {
        _serviceURIs[msg.sender] = serviceURI;
        emit ServiceURIUpdated(msg.sender, serviceURI);
    }

    /// @inheritdoc IServiceRegistry
    function getServiceURI(address addr) external view returns (string memory) {
        return _serviceURIs[addr];
    }
}
