// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";

import {ITicketBroker} from "../interfaces/ITicketBroker.sol";

/// @title Tickets
/// @notice The ticket rules shared by the broker and its test harness: the EIP-712 hash, the signer, the win check.
/// `offchain/pm` implements the same rules in TypeScript.
library Tickets {
    // Constant hashes are computed at compile time: the long strings cost nothing at run time.
    // solhint-disable gas-small-strings
    bytes32 internal constant TICKET_TYPEHASH = keccak256(
        "Ticket(address recipient,address sender,uint256 faceValue,uint256 winProb,uint256 senderNonce,"
        "bytes32 recipientRandHash,uint256 creationRound,bytes32 creationRoundBlockHash)"
    );
    bytes32 internal constant DOMAIN_TYPEHASH = keccak256(
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    );
    // solhint-enable gas-small-strings
    bytes32 internal constant NAME_HASH = keccak256("TicketBroker");
    bytes32 internal constant VERSION_HASH = keccak256("1");

    /// @notice The EIP-712 domain separator for a broker at `verifyingContract` on this chain.
    function domainSeparator(address verifyingContract) internal view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, verifyingContract));
    }

    /// @notice The EIP-712 digest the sender signs.
    function hash(ITicketBroker.Ticket calldata ticket, address verifyingContract) internal view returns (bytes32) {
        // Every field is static, so the struct encodes as its eight words: exactly EIP-712's encodeData.
        bytes32 structHash = keccak256(abi.encode(TICKET_TYPEHASH, ticket));
        return MessageHashUtils.toTypedDataHash(domainSeparator(verifyingContract), structHash);
    }

    /// @notice The signer of `digest`, or zero for a malformed signature. High-s and 64-byte signatures are refused,
    /// so a ticket has one valid signature and therefore one draw.
    function signer(bytes32 digest, bytes calldata sig) internal pure returns (address) {
        (address recovered, ECDSA.RecoverError err, ) = ECDSA.tryRecoverCalldata(digest, sig);
        return err == ECDSA.RecoverError.NoError ? recovered : address(0);
    }

    /// @notice Whether the draw `keccak256(sig || recipientRand)` falls under `winProb`.
    function wins(bytes calldata sig, uint256 recipientRand, uint256 winProb) internal pure returns (bool) {
        return uint256(keccak256(abi.encodePacked(sig, recipientRand))) < winProb;
    }
}
