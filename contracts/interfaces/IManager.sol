// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IController} from "./IController.sol";

/// @title IManager
/// @notice What every protocol contract registered in the Controller shares: its Controller, access errors and the
/// parameter-change event.
interface IManager {
    /// @notice A governance parameter changed; read its new value through the getter of the same name.
    /// @param param The parameter's getter name, e.g. `"roundLength"`
    event ParameterUpdate(string param);

    /// @notice The call is reserved for the Controller's owner.
    error CallerNotControllerOwner(address caller);
    /// @notice The call is reserved for the contract registered under `managerId`.
    error CallerNotManager(address caller, bytes32 managerId);
    /// @notice The system is paused: state changes are refused until the Controller's owner unpauses it.
    error SystemIsPaused();
    /// @notice The call is only allowed while the system is paused.
    error SystemIsNotPaused();
    /// @notice Nothing is registered under `id` in the Controller.
    error ContractNotRegistered(bytes32 id);
    /// @notice The Controller address is zero.
    error ZeroController();
    /// @notice An upgrade would switch the manager to an implementation bound to another Controller.
    error ControllerMismatch(address expected, address actual);

    /// @notice The Controller this manager is registered with.
    function controller() external view returns (IController);
}
