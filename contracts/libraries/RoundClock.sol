// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title RoundClock
/// @notice Round arithmetic from an anchor: round `anchorRound` starts at block `anchorStartBlock` and every round
/// after it lasts `roundLength` blocks. A length change re-anchors at the start of the next round, so past round
/// numbers never move.
library RoundClock {
    struct Clock {
        uint48 roundLength;
        uint48 anchorRound;
        uint48 anchorStartBlock;
    }

    /// @dev The round containing `blockNumber`; `blockNumber` must not precede the anchor.
    function roundAt(Clock memory clock, uint256 blockNumber) internal pure returns (uint256) {
        return clock.anchorRound + (blockNumber - clock.anchorStartBlock) / clock.roundLength;
    }

    /// @dev The first block of `round`; `round` must not precede the anchor.
    function startBlockOf(Clock memory clock, uint256 round) internal pure returns (uint256) {
        return clock.anchorStartBlock + (round - clock.anchorRound) * clock.roundLength;
    }
}
