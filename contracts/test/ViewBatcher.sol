// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title ViewBatcher
/// @notice Test helper: answers many view calls (and ETH balances) in one `eth_call`, so the invariant campaign can
/// read the whole system after every step without paying a JSON-RPC round trip per view.
contract ViewBatcher {
    struct ViewCall {
        address target;
        bytes data;
    }

    /// @notice View `index` reverted with `reason`.
    error ViewFailed(uint256 index, bytes reason);

    /// @notice The return data of each call, in order; reverts if any reverts.
    function read(ViewCall[] calldata calls) external view returns (bytes[] memory results) {
        results = new bytes[](calls.length);
        for (uint256 i = 0; i < calls.length; ++i) {
            // solhint-disable-next-line avoid-low-level-calls
            (bool ok, bytes memory data) = calls[i].target.staticcall(calls[i].data);
            if (!ok) revert ViewFailed(i, data);
            results[i] = data;
        }
    }

    /// @notice `account`'s ETH balance, so balances can be read in a batch too.
    function ethBalance(address account) external view returns (uint256) {
        return account.balance;
    }
}
