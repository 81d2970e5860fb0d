// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title ContractIds
/// @notice Controller registry keys: `keccak256` of each contract's name. Clients compute the same keys with
/// `ethers.id("<Name>")`.
library ContractIds {
    bytes32 internal constant LIVEPEER_TOKEN = keccak256("LivepeerToken");
    bytes32 internal constant MINTER = keccak256("Minter");
    bytes32 internal constant ROUNDS_MANAGER = keccak256("RoundsManager");
    bytes32 internal constant BONDING_MANAGER = keccak256("BondingManager");
    bytes32 internal constant TICKET_BROKER = keccak256("TicketBroker");
    bytes32 internal constant SERVICE_REGISTRY = keccak256("ServiceRegistry");
    bytes32 internal constant DISPUTE_MANAGER = keccak256("DisputeManager");
}
