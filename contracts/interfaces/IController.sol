// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title IController
/// @notice The registry every manager uses to find the others, and the system-wide pause switch.
/// @dev Contracts are registered under `keccak256(name)`, e.g. `keccak256("BondingManager")`. The Controller starts
/// paused; its owner unpauses it once genesis (deployment, wiring and parameters) is complete.
interface IController {
    /// @notice A contract was registered, replaced or (with the zero address) removed under `id`.
    event ContractRegistered(bytes32 indexed id, address indexed contractAddress);
    /// @notice Every manager's state-changing calls now revert.
    event SystemPaused(address indexed by);
    /// @notice Managers accept state-changing calls again.
    event SystemUnpaused(address indexed by);

    /// @notice `contractAddress` has no code: only contracts may be registered.
    error NotAContract(address contractAddress);
    /// @notice `pause` was called while already paused.
    error AlreadyPaused();
    /// @notice `unpause` was called while not paused.
    error NotPaused();
    /// @notice Governance cannot be renounced; transfer it instead.
    error RenounceOwnershipDisabled();

    /// @notice Registers `contractAddress` under `id`; the zero address removes the entry. Owner only.
    /// @param id `keccak256` of the contract's name
    /// @param contractAddress The contract (the proxy for upgradeable managers), or zero to remove
    function setContract(bytes32 id, address contractAddress) external;

    /// @notice Pauses every manager. Owner only.
    function pause() external;

    /// @notice Lifts the pause. Owner only.
    function unpause() external;

    /// @notice The contract registered under `id`, or the zero address.
    /// @param id `keccak256` of the contract's name
    function getContract(bytes32 id) external view returns (address);

    /// @notice Whether the system is paused.
    function paused() external view returns (bool);

    /// @notice The governance account: it may register contracts, pause, set parameters and upgrade managers.
    function owner() external view returns (address);
}
