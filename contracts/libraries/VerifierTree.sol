// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title VerifierTree
/// @notice Stake per account in a Fenwick (binary indexed) tree, for drawing accounts with probability proportional
/// to stake. Adding, removing and drawing cost O(log n) storage reads, whatever the number of accounts.
/// @dev Slots are 1-based and never reused: an account keeps its slot after its stake goes to zero.
library VerifierTree {
    struct Tree {
        uint256 size;
        uint256 total;
        mapping(uint256 slot => uint256 sum) nodes;
        mapping(uint256 slot => uint256 stake) values;
        mapping(uint256 slot => address account) owners;
        mapping(address account => uint256 slot) slots;
    }

    /// @notice A draw asked for more weight than the tree holds (cannot happen through `draw`).
    error DrawOutOfRange();

    function stakeOf(Tree storage tree, address account) internal view returns (uint256) {
        return tree.values[tree.slots[account]];
    }

    function add(Tree storage tree, address account, uint256 amount) internal {
        uint256 slot = tree.slots[account];
        if (slot == 0) {
            slot = ++tree.size;
            tree.slots[account] = slot;
            tree.owners[slot] = account;
            // Earlier updates stopped at the old size: the new node starts as the sum of the slots it covers.
            uint256 covered = _prefix(tree, slot - 1) - _prefix(tree, slot - (slot & (~slot + 1)));
            if (covered != 0) tree.nodes[slot] = covered;
        }
        tree.values[slot] += amount;
        tree.total += amount;
        uint256 size = tree.size;
        for (uint256 i = slot; i <= size; i += i & (~i + 1)) tree.nodes[i] += amount;
    }

    /// @dev `amount` must not exceed the account's stake in the tree (checked by the subtraction).
    function sub(Tree storage tree, address account, uint256 amount) internal {
        uint256 slot = tree.slots[account];
        tree.values[slot] -= amount;
        tree.total -= amount;
        uint256 size = tree.size;
        for (uint256 i = slot; i <= size; i += i & (~i + 1)) tree.nodes[i] -= amount;
    }

    /// @notice Draws up to `count` distinct accounts, each with probability proportional to its stake among those
    /// not drawn yet, never one of `excluded` (which may repeat an account). Fewer when fewer accounts have stake.
    /// @return members The accounts in draw order
    /// @return weights Their stake at the draw
    function draw(
        Tree storage tree,
        bytes32 seed,
        uint256 count,
        address[] memory excluded
    ) internal view returns (address[] memory members, uint256[] memory weights) {
        // Excluded slots and their stake, kept in memory and subtracted while descending the tree: exact sampling
        // without replacement and without writing to storage.
        uint256 capacity = excluded.length + count;
        uint256[] memory outSlots = new uint256[](capacity);
        uint256[] memory outStakes = new uint256[](capacity);
        uint256 outCount = 0;
        uint256 available = tree.total;
        for (uint256 i = 0; i < excluded.length; ++i) {
            uint256 slot = tree.slots[excluded[i]];
            uint256 stake = tree.values[slot];
            if (slot == 0 || stake == 0 || _contains(outSlots, outCount, slot)) continue;
            outSlots[outCount] = slot;
            outStakes[outCount] = stake;
            ++outCount;
            available -= stake;
        }

        members = new address[](count);
        weights = new uint256[](count);
        uint256 drawn = 0;
        while (drawn < count && available != 0) {
            uint256 target = uint256(keccak256(abi.encode(seed, drawn))) % available;
            uint256 slot = _find(tree, target, outSlots, outStakes, outCount);
            uint256 stake = tree.values[slot];
            members[drawn] = tree.owners[slot];
            weights[drawn] = stake;
            ++drawn;
            outSlots[outCount] = slot;
            outStakes[outCount] = stake;
            ++outCount;
            available -= stake;
        }
        assembly ("memory-safe") {
            mstore(members, drawn)
            mstore(weights, drawn)
        }
    }

    function _contains(uint256[] memory slots, uint256 count, uint256 slot) private pure returns (bool) {
        for (uint256 i = 0; i < count; ++i) if (slots[i] == slot) return true;
        return false;
    }

    /// @dev The sum of slots 1..`slot`.
    function _prefix(Tree storage tree, uint256 slot) private view returns (uint256 sum) {
        for (uint256 i = slot; i != 0; i -= i & (~i + 1)) sum += tree.nodes[i];
    }

    /// @dev The slot whose stake range contains `target`, counting only slots not excluded. Descending from the
    /// largest power of two, node `pos + step` sums slots (pos, pos + step].
    function _find(
        Tree storage tree,
        uint256 target,
        uint256[] memory outSlots,
        uint256[] memory outStakes,
        uint256 outCount
    ) private view returns (uint256) {
        uint256 size = tree.size;
        uint256 step = 1;
        while (step <= size >> 1) step <<= 1;
        uint256 pos = 0;
        for (; step != 0; step >>= 1) {
            uint256 next = pos + step;
            if (next > size) continue;
            uint256 sum = tree.nodes[next];
            for (uint256 j = 0; j < outCount; ++j) {
                uint256 slot = outSlots[j];
                if (slot > pos && slot <= next) sum -= outStakes[j];
            }
            if (target >= sum) {
                target -= sum;
                pos = next;
            }
        }
        if (pos >= size) revert DrawOutOfRange();
        return pos + 1;
    }
}
