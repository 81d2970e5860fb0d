// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title SortedPool
/// @notice A bounded doubly linked list of addresses kept in descending order of a key the caller owns (an
/// orchestrator's stake). Keys live with the caller and are read through `keyOf`, so the list stores links only.
/// @dev Positions are found from `(prev, next)` hints: a correct hint costs a constant number of reads, a wrong or
/// missing one falls back to a walk that is bounded by the list's size. Equal keys keep arrival order, so an
/// orchestrator that reached a stake first keeps its place ahead of a later one with the same stake.
library SortedPool {
    struct Node {
        address prev;
        address next;
    }

    struct List {
        address head;
        uint32 size;
        uint32 maxSize;
        address tail;
        mapping(address member => Node) nodes;
    }

    function contains(List storage self, address member) internal view returns (bool) {
        return member != address(0) && (self.head == member || self.nodes[member].prev != address(0));
    }

    function isFull(List storage self) internal view returns (bool) {
        return self.size >= self.maxSize;
    }

    /// @dev Caller guarantees `member` is not in the list and the list is not full (`reposition` re-inserts a
    /// member it has just removed, so the size stays below the maximum there too).
    function insert(
        List storage self,
        address member,
        uint256 key,
        address prevHint,
        address nextHint,
        function(address) view returns (uint256) keyOf
    ) internal {
        (address prev, address next) = _findPosition(self, key, prevHint, nextHint, keyOf);
        _link(self, member, prev, next);
        unchecked {
            // size < maxSize <= type(uint32).max
            ++self.size;
        }
    }

    /// @dev Caller guarantees `member` is in the list.
    function remove(List storage self, address member) internal {
        Node storage node = self.nodes[member];
        address prev = node.prev;
        address next = node.next;
        if (prev == address(0)) self.head = next;
        else self.nodes[prev].next = next;
        if (next == address(0)) self.tail = prev;
        else self.nodes[next].prev = prev;
        delete self.nodes[member];
        unchecked {
            // member was in the list, so size >= 1
            --self.size;
        }
    }

    /// @dev Moves `member` (in the list) to where `key`, its new key, belongs. Stays put when still in order.
    function reposition(
        List storage self,
        address member,
        uint256 key,
        address prevHint,
        address nextHint,
        function(address) view returns (uint256) keyOf
    ) internal {
        Node storage node = self.nodes[member];
        address prev = node.prev;
        address next = node.next;
        if ((prev == address(0) || keyOf(prev) >= key) && (next == address(0) || key >= keyOf(next))) return;
        remove(self, member);
        insert(self, member, key, prevHint, nextHint, keyOf);
    }

    /// @dev The neighbours a new node with `key` gets: after every member with a key >= `key`.
    function _findPosition(
        List storage self,
        uint256 key,
        address prevHint,
        address nextHint,
        function(address) view returns (uint256) keyOf
    ) private view returns (address prev, address next) {
        if (contains(self, prevHint) && keyOf(prevHint) >= key) {
            // Walk down from the hint: with a correct hint the loop below checks one key and stops.
            prev = prevHint;
            next = self.nodes[prevHint].next;
        } else if (contains(self, nextHint) && keyOf(nextHint) < key) {
            // Walk up from the hint until the member before has a key >= `key`.
            next = nextHint;
            prev = self.nodes[nextHint].prev;
            while (prev != address(0) && keyOf(prev) < key) {
                next = prev;
                prev = self.nodes[prev].prev;
            }
            return (prev, next);
        } else {
            next = self.head;
        }
        while (next != address(0) && keyOf(next) >= key) {
            prev = next;
            next = self.nodes[next].next;
        }
    }

    function _link(List storage self, address member, address prev, address next) private {
        Node storage node = self.nodes[member];
        // Zero links are left unwritten: the node's slots are empty when it is linked.
        if (prev != address(0)) node.prev = prev;
        if (next != address(0)) node.next = next;
        if (prev == address(0)) self.head = member;
        else self.nodes[prev].next = member;
        if (next == address(0)) self.tail = member;
        else self.nodes[next].prev = member;
    }
}
