// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IController} from "../interfaces/IController.sol";
import {ILivepeerToken} from "../interfaces/ILivepeerToken.sol";
import {IMinter} from "../interfaces/IMinter.sol";
import {ContractIds} from "../libraries/ContractIds.sol";
import {Manager} from "../manager/Manager.sol";

/// @title Minter
/// @notice See `IMinter`. Not upgradeable: it holds every fund of the protocol, so it can only be replaced by
/// governance moving those funds with `migrateToNewMinter` while the system is paused.
contract Minter is IMinter, Manager {
    /// @dev Parts per billion: the unit of inflation, its step and the bonding rates.
    uint256 private constant PPB = 1_000_000_000;

    // slot 0: what a new round reads and rewrites. 104 bits hold 2e13 LPT (supply today is ~3e7), and inflation
    // is at most 2^48 ppb.
    uint104 private _currentMintableTokens;
    uint104 private _currentMintedTokens;
    uint48 private _inflation;
    // slot 1: governance parameters
    uint64 private _inflationChange;
    uint64 private _targetBondingRate;

    /// @param controller_ The Controller
    /// @param inflation_ Starting inflation per round (ppb)
    /// @param inflationChange_ Inflation step per round (ppb)
    /// @param targetBondingRate_ Target bonding rate (ppb)
    constructor(
        IController controller_,
        uint256 inflation_,
        uint256 inflationChange_,
        uint256 targetBondingRate_
    ) Manager(controller_) {
        if (inflation_ > type(uint48).max) revert InvalidInflation(inflation_);
        _checkInflationChange(inflationChange_);
        _checkTargetBondingRate(targetBondingRate_);
        _inflation = uint48(inflation_);
        _inflationChange = uint64(inflationChange_);
        _targetBondingRate = uint64(targetBondingRate_);
    }

    /// @inheritdoc IMinter
    function createReward(
        uint256 numerator,
        uint256 denominator
    ) external onlyManager(ContractIds.BONDING_MANAGER) whenSystemNotPaused returns (uint256 minted) {
        if (denominator == 0 || numerator > denominator) revert InvalidRewardFraction(numerator, denominator);
        uint256 mintable = _currentMintableTokens;
        uint256 alreadyMinted = _currentMintedTokens;

        minted = Math.mulDiv(mintable, numerator, denominator);
        // Never exceed the round's budget, whatever shares the BondingManager asks for.
        uint256 remaining = mintable - alreadyMinted;
        if (minted > remaining) minted = remaining;
        if (minted == 0) return 0;

        // Cannot truncate: alreadyMinted + minted <= mintable < 2^104.
        _currentMintedTokens = uint104(alreadyMinted + minted);
        _token().mint(address(this), minted);
        emit RewardMinted(minted);
    }

    /// @inheritdoc IMinter
    function trustedTransferTokens(
        address to,
        uint256 amount
    ) external onlyManager(ContractIds.BONDING_MANAGER) whenSystemNotPaused {
        // The token reverts with ERC20InsufficientBalance if custody holds less than `amount`.
        SafeERC20.safeTransfer(_token(), to, amount);
    }

    /// @inheritdoc IMinter
    function trustedBurnTokens(uint256 amount) external onlyManager(ContractIds.BONDING_MANAGER) whenSystemNotPaused {
        _token().burn(amount);
    }

    /// @inheritdoc IMinter
    function trustedWithdrawETH(address payable to, uint256 amount) external whenSystemNotPaused {
        if (
            msg.sender != CONTROLLER.getContract(ContractIds.BONDING_MANAGER) &&
            msg.sender != CONTROLLER.getContract(ContractIds.TICKET_BROKER)
        ) revert CallerNotFundsManager(msg.sender);
        _sendETH(to, amount);
    }

    /// @inheritdoc IMinter
    /// @dev Not pause-gated: the TicketBroker's funding calls are, and a migration runs while paused.
    function depositETH() external payable {
        if (
            msg.sender != CONTROLLER.getContract(ContractIds.TICKET_BROKER) &&
            msg.sender != CONTROLLER.getContract(ContractIds.MINTER)
        ) revert CallerNotDepositor(msg.sender);
        emit ETHDeposited(msg.sender, msg.value);
    }

    /// @inheritdoc IMinter
    function setCurrentRewardTokens(
        uint256 totalActiveStake
    ) external onlyManager(ContractIds.ROUNDS_MANAGER) whenSystemNotPaused {
        uint256 totalSupply = _token().totalSupply();
        uint256 bondingRate = totalSupply == 0 ? 0 : Math.mulDiv(totalActiveStake, PPB, totalSupply);

        uint256 newInflation = _inflation;
        uint256 step = _inflationChange;
        if (bondingRate < _targetBondingRate) {
            newInflation += step;
        } else {
            newInflation = newInflation > step ? newInflation - step : 0;
        }
        uint256 mintable = Math.mulDiv(totalSupply, newInflation, PPB);
        // One slot write for the whole round reset.
        _currentMintableTokens = SafeCast.toUint104(mintable);
        _currentMintedTokens = 0;
        _inflation = SafeCast.toUint48(newInflation);
        emit SetCurrentRewardTokens(mintable, newInflation, bondingRate);
    }

    /// @inheritdoc IMinter
    function migrateToNewMinter(IMinter newMinter) external onlyControllerOwner whenSystemPaused {
        if (address(newMinter) == address(this) || address(newMinter.controller()) != address(CONTROLLER)) {
            revert InvalidMinterMigration(address(newMinter));
        }
        ILivepeerToken token = _token();
        uint256 tokens = token.balanceOf(address(this));
        uint256 ethAmount = address(this).balance;

        SafeERC20.safeTransfer(token, address(newMinter), tokens);
        newMinter.depositETH{value: ethAmount}();
        emit MinterMigrated(address(newMinter), tokens, ethAmount);
    }

    /// @inheritdoc IMinter
    function setTargetBondingRate(uint256 newTargetBondingRate) external onlyControllerOwner {
        _checkTargetBondingRate(newTargetBondingRate);
        _targetBondingRate = uint64(newTargetBondingRate);
        emit ParameterUpdate("targetBondingRate");
    }

    /// @inheritdoc IMinter
    function setInflationChange(uint256 newInflationChange) external onlyControllerOwner {
        _checkInflationChange(newInflationChange);
        _inflationChange = uint64(newInflationChange);
        emit ParameterUpdate("inflationChange");
    }

    /// @inheritdoc IMinter
    function inflation() external view returns (uint256) {
        return _inflation;
    }

    /// @inheritdoc IMinter
    function inflationChange() external view returns (uint256) {
        return _inflationChange;
    }

    /// @inheritdoc IMinter
    function targetBondingRate() external view returns (uint256) {
        return _targetBondingRate;
    }

    /// @inheritdoc IMinter
    function currentMintableTokens() external view returns (uint256) {
        return _currentMintableTokens;
    }

    /// @inheritdoc IMinter
    function currentMintedTokens() external view returns (uint256) {
        return _currentMintedTokens;
    }

    function _token() private view returns (ILivepeerToken) {
        return ILivepeerToken(_registered(ContractIds.LIVEPEER_TOKEN));
    }

    function _sendETH(address payable to, uint256 amount) private {
        uint256 available = address(this).balance;
        if (amount > available) revert InsufficientETH(amount, available);
        (bool sent, ) = to.call{value: amount}("");
        if (!sent) revert ETHTransferFailed(to, amount);
    }

    function _checkTargetBondingRate(uint256 rate) private pure {
        if (rate > PPB) revert InvalidTargetBondingRate(rate);
    }

    function _checkInflationChange(uint256 step) private pure {
        if (step > PPB) revert InvalidInflationChange(step);
    }
}
