// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {TestAccount} from "./TestAccount.sol";

/// @title ReentrantReceiver
/// @notice Test attacker. It acts through `execute` like any test account, and whenever code runs in it without a
/// matching function (ETH sent to `receive`, or any unknown call such as a token hook, reaching `fallback`) it records
/// the call (`Called`) and, while armed, calls back into a configured target with configured calldata and value,
/// recording whether that inner call succeeded and what it returned (`ReentryAttempted`). It never reverts on its
/// own, so the outer transfer goes through whatever the inner call did.
/// @dev The configuration is read on every callback, including under the DisputeManager's 30k-gas bond push, so it is
/// kept to two slots (calldata of at most 31 bytes is one slot more) and results are events, not storage.
contract ReentrantReceiver is TestAccount {
    // slot 0
    address private _target;
    uint88 private _value;
    uint8 private _reentriesLeft;
    // slot 1
    bytes private _data;

    /// @notice Code ran here: `selector` is zero for a plain ETH transfer.
    event Called(bytes4 selector, uint256 value);
    /// @notice A re-entry into `target` returned: `returnData` is its result or its revert data (empty when it ran
    /// out of gas).
    event ReentryAttempted(address indexed target, bool succeeded, bytes returnData);

    receive() external payable {
        _onCall();
    }

    fallback() external payable {
        _onCall();
    }

    /// @notice The next `times` callbacks each call `target` with `data` and `value` wei (taken from this account's
    /// balance, which the transfer being received has already raised).
    function arm(address target, bytes calldata data, uint88 value, uint8 times) external {
        _target = target;
        _value = value;
        _reentriesLeft = times;
        _data = data;
    }

    function reentriesLeft() external view returns (uint256) {
        return _reentriesLeft;
    }

    function _onCall() private {
        emit Called(msg.sig, msg.value);
        uint8 left = _reentriesLeft;
        if (left == 0) return;
        _reentriesLeft = left - 1;
        address target = _target;
        // solhint-disable-next-line avoid-low-level-calls
        (bool ok, bytes memory returnData) = target.call{value: _value}(_data);
        emit ReentryAttempted(target, ok, returnData);
    }
}
