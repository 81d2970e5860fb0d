// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title RejectingReceiver
/// @notice Test account that acts through `execute` (like ManagerMock) but refuses plain ETH transfers until told
/// otherwise: stands in for a broadcaster contract whose bond cannot be pushed to it at resolution. `executeBatch`
/// makes several calls in one transaction, so tests can reach states within a single block.
contract RejectingReceiver {
    bool public acceptsEther;

    error EtherRefused(uint256 amount);

    receive() external payable {
        if (!acceptsEther) revert EtherRefused(msg.value);
    }

    function setAcceptsEther(bool accepts) external {
        acceptsEther = accepts;
    }

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
            // Bubble the target's revert data so tests can match custom errors.
            assembly ("memory-safe") {
                revert(add(returnData, 32), mload(returnData))
            }
        }
        return returnData;
    }
}
