// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ITicketBroker} from "../interfaces/ITicketBroker.sol";
import {Tickets} from "../libraries/Tickets.sol";

/// @notice Exposes the Tickets library to tests, so that offchain/pm can be checked against it value for value.
contract TicketsHarness {
    /// @notice The digest `broker` would compute for `ticket` (the domain uses `broker` as verifyingContract).
    function hash(ITicketBroker.Ticket calldata ticket, address broker) external view returns (bytes32) {
        return Tickets.hash(ticket, broker);
    }

    function domainSeparator(address broker) external view returns (bytes32) {
        return Tickets.domainSeparator(broker);
    }

    /// @notice The signer the broker accepts for `digest`, zero for a signature it refuses.
    function signer(bytes32 digest, bytes calldata sig) external pure returns (address) {
        return Tickets.signer(digest, sig);
    }

    function wins(bytes calldata sig, uint256 recipientRand, uint256 winProb) external pure returns (bool) {
        return Tickets.wins(sig, recipientRand, winProb);
    }
}
