// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {TestAccount} from "./TestAccount.sol";

/// @title RejectingReceiver
/// @notice Test account that acts through `execute` (like ManagerMock) but refuses plain ETH transfers until told
/// otherwise: stands in for a broadcaster contract whose bond cannot be pushed to it at resolution.
contract RejectingReceiver is TestAccount {
    bool public acceptsEther;

    error EtherRefused(uint256 amount);

    receive() external payable {
        if (!acceptsEther) revert EtherRefused(msg.value);
    }

    function setAcceptsEther(bool accepts) external {
        acceptsEther = accepts;
    }
}
