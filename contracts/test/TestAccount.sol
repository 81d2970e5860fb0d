// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title TestAccount
/// @notice A contract account for tests: it acts through `execute` (one call) or `executeBatch` (several calls in one
/// transaction, so tests can reach states within a single block). Revert data of a failed call is bubbled, so tests
/// can match the target's custom errors. What it does with incoming ETH is up to the derived contract.
abstract contract TestAccount {
    function execute(address target, bytes calldata data) external payable returns (bytes memory) {
        return _call(target, data, msg.value);
    }

    function executeBatch(
        address[] calldata targets,
        bytes[] calldata data,
        uint256[] calldata values
    ) external payable returns (bytes[] memory results) {
        results = new bytes[](targets.length);
        for (uint256 i = 0; i < targets.length; ++i) results[i] = _call(targets[i], data[i], values[i]);
    }

    function _call(address target, bytes calldata data, uint256 value) private returns (bytes memory) {
        // solhint-disable-next-line avoid-low-level-calls
        (bool ok, bytes memory returnData) = target.call{value: value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(returnData, 32), mload(returnData))
            }
        }
        return returnData;
    }
}
