// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IManager} from "./IManager.sol";

/// @title IServiceRegistry
/// @notice Where each orchestrator's off-chain API lives.
interface IServiceRegistry is IManager {
    /// @notice `addr` published `serviceURI`.
    event ServiceURIUpdated(address indexed addr, string serviceURI);

    /// @notice Publishes the caller's service URI (e.g. `https://orch.example.com:8935`); empty clears it.
    function setServiceURI(string calldata serviceURI) external;

    /// @notice The service URI published by `addr`, or the empty string.
    function getServiceURI(address addr) external view returns (string memory);
}
