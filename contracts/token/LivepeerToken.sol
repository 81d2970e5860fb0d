// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";

import {IController} from "../interfaces/IController.sol";
import {ILivepeerToken} from "../interfaces/ILivepeerToken.sol";
import {ContractIds} from "../libraries/ContractIds.sol";

/// @title LivepeerToken
/// @notice LPT. The right to mint follows the Controller's `Minter` entry, so replacing the Minter needs no change
/// here. Transfers are never paused: the pause protects protocol state, not holders' tokens.
contract LivepeerToken is ERC20, ERC20Permit, ERC20Burnable, ILivepeerToken {
    IController private immutable CONTROLLER;

    /// @param controller_ The Controller whose `Minter` entry may mint
    /// @param genesisHolder Receives the genesis supply (ignored when `genesisSupply` is zero)
    /// @param genesisSupply LPT (wei) minted once at construction, for the genesis distribution
    constructor(
        IController controller_,
        address genesisHolder,
        uint256 genesisSupply
    ) ERC20("Livepeer Token", "LPT") ERC20Permit("Livepeer Token") {
        CONTROLLER = controller_;
        if (genesisSupply > 0) _mint(genesisHolder, genesisSupply);
    }

    /// @inheritdoc ILivepeerToken
    function mint(address to, uint256 amount) external {
        if (msg.sender != CONTROLLER.getContract(ContractIds.MINTER)) revert CallerNotMinter(msg.sender);
        _mint(to, amount);
    }

    /// @inheritdoc ILivepeerToken
    function burn(uint256 amount) public override(ILivepeerToken, ERC20Burnable) {
        super.burn(amount);
    }

    /// @inheritdoc ERC20Permit
    function nonces(address owner) public view override(IERC20Permit, ERC20Permit) returns (uint256) {
        return super.nonces(owner);
    }
}
