// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title EarningsPool
/// @notice Cumulative reward and fee factors of one orchestrator in one round, and the math that turns them into a
/// delegator's stake and fees. Factors are scaled by `PRECISION` (1e27); the reward factor starts at `PRECISION`.
/// @dev With `crf`/`cff` the factors at the end of round r and a stake `s_a` settled at round a:
/// `stake_b = s_a * crf_b / crf_a` and `fees_b = s_a * (cff_b - cff_a) / crf_a`. Every division rounds down, so the
/// sum of what delegators can claim never exceeds what was minted or credited.
library EarningsPool {
    uint256 internal constant PRECISION = 1e27;

    /// @dev One slot, written only in rounds where something happened (reward, fees). 128 bits hold the reward
    /// factor for a growth of 3e11x, and the fee factor for 3e11 wei of fees per wei of stake: only an orchestrator
    /// with a vanishing stake could overflow it, and then only its own fee credits revert.
    struct Pool {
        uint128 cumulativeRewardFactor;
        uint128 cumulativeFeeFactor;
    }

    /// @dev Factors as read: a never-written round 0 reads as the starting factors.
    struct Factors {
        uint256 rewardFactor;
        uint256 feeFactor;
    }

    function factors(Pool storage self) internal view returns (Factors memory) {
        uint256 rewardFactor = self.cumulativeRewardFactor;
        if (rewardFactor == 0) return Factors(PRECISION, 0);
        return Factors(rewardFactor, self.cumulativeFeeFactor);
    }

    function isWritten(Pool storage self) internal view returns (bool) {
        return self.cumulativeRewardFactor != 0;
    }

    /// @dev Reward factor after `delegatorsReward` is shared over `totalStake` at the round's opening factor.
    function rewardFactorAfter(
        uint256 rewardFactor,
        uint256 delegatorsReward,
        uint256 totalStake
    ) internal pure returns (uint256) {
        return rewardFactor + Math.mulDiv(rewardFactor, delegatorsReward, totalStake);
    }

    /// @dev Fee factor after `delegatorsFees` is shared over `totalStake`, using the reward factor at the round's
    /// opening (the stake that earns this round's fees is the stake as it stood before this round's reward).
    function feeFactorAfter(
        uint256 feeFactor,
        uint256 openingRewardFactor,
        uint256 delegatorsFees,
        uint256 totalStake
    ) internal pure returns (uint256) {
        return feeFactor + Math.mulDiv(openingRewardFactor, delegatorsFees, totalStake);
    }

    /// @dev `stake`, settled at factors `from`, grown to factors `to`.
    function stakeAt(uint256 stake, Factors memory from, Factors memory to) internal pure returns (uint256) {
        return Math.mulDiv(stake, to.rewardFactor, from.rewardFactor);
    }

    /// @dev Fees earned by `stake`, settled at factors `from`, until factors `to`.
    function feesBetween(uint256 stake, Factors memory from, Factors memory to) internal pure returns (uint256) {
        return Math.mulDiv(stake, to.feeFactor - from.feeFactor, from.rewardFactor);
    }
}
