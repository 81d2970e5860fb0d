// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";

/// @title ILivepeerToken
/// @notice LPT: the staking token. ERC-20 with ERC-2612 permit; only the Minter registered in the Controller mints,
/// and anyone may burn their own tokens.
interface ILivepeerToken is IERC20, IERC20Permit {
    /// @notice Only the contract registered as `Minter` in the Controller may mint.
    error CallerNotMinter(address caller);

    /// @notice Mints `amount` to `to`. Minter only.
    /// @param to Recipient of the new tokens
    /// @param amount Amount in wei
    function mint(address to, uint256 amount) external;

    /// @notice Burns `amount` of the caller's tokens.
    /// @param amount Amount in wei
    function burn(uint256 amount) external;
}
