// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IBondingManager} from "../interfaces/IBondingManager.sol";
import {IController} from "../interfaces/IController.sol";
import {IMinter} from "../interfaces/IMinter.sol";
import {IRoundsManager} from "../interfaces/IRoundsManager.sol";
import {ITicketBroker} from "../interfaces/ITicketBroker.sol";
import {ContractIds} from "../libraries/ContractIds.sol";
import {Tickets} from "../libraries/Tickets.sol";
import {ManagerUpgradeable} from "../manager/ManagerUpgradeable.sol";

/// @title TicketBroker
/// @notice Senders' deposits and reserves, and the redemption of their winning tickets. The ETH itself is in the
/// Minter: funding forwards it there, and fees are paid out of it when the recipient withdraws them from the
/// BondingManager.
contract TicketBroker is ManagerUpgradeable, ITicketBroker {
    using SafeCast for uint256;

    /// One slot: a deposit-funded redemption reads and writes nothing else of the sender's.
    struct SenderState {
        uint112 deposit;
        uint112 reserve; // funds remaining
        uint32 withdrawRound;
    }

    /// Reserve drawn by all recipients together in `round`; stale (and read as zero) in later rounds.
    struct RoundClaims {
        uint112 claimed;
        uint32 round;
    }

    uint32 private _unlockPeriod;
    uint32 private _ticketValidityPeriod;
    mapping(address sender => SenderState) private _senders;
    mapping(address sender => RoundClaims) private _roundClaims;
    mapping(address sender => mapping(uint256 round => mapping(address recipient => uint256 claimed)))
        private _claimedReserve;
    /// @inheritdoc ITicketBroker
    mapping(bytes32 ticketHash => bool used) public usedTickets;

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor(IController controller_) ManagerUpgradeable(controller_) {}

    /// @notice Sets the parameters; called once through the proxy.
    function initialize(uint256 unlockPeriod_, uint256 ticketValidityPeriod_) external initializer {
        _unlockPeriod = _checkedPeriod(unlockPeriod_);
        _ticketValidityPeriod = _checkedPeriod(ticketValidityPeriod_);
    }

    // ---- Senders ----

    /// @inheritdoc ITicketBroker
    function fundDeposit() external payable whenSystemNotPaused {
        if (msg.value == 0) revert ZeroFunding();
        _fund(msg.value, 0);
    }

    /// @inheritdoc ITicketBroker
    function fundReserve() external payable whenSystemNotPaused {
        if (msg.value == 0) revert ZeroFunding();
        _fund(0, msg.value);
    }

    /// @inheritdoc ITicketBroker
    function fundDepositAndReserve(uint256 depositAmount, uint256 reserveAmount) external payable whenSystemNotPaused {
        if (msg.value == 0) revert ZeroFunding();
        // Written so that no sum can overflow.
        if (depositAmount > msg.value || msg.value - depositAmount != reserveAmount) {
            revert FundingMismatch(msg.value, depositAmount, reserveAmount);
        }
        _fund(depositAmount, reserveAmount);
    }

    /// @inheritdoc ITicketBroker
    function unlock() external whenSystemNotPaused {
        SenderState storage s = _senders[msg.sender];
        if (s.deposit == 0 && s.reserve == 0) revert NoFunds(msg.sender);
        if (s.withdrawRound != 0) revert UnlockInProgress(msg.sender, s.withdrawRound);
        uint256 round = _roundsManager().currentRound();
        uint256 withdrawRound = round + _unlockPeriod;
        s.withdrawRound = withdrawRound.toUint32();
        emit Unlock(msg.sender, round, withdrawRound);
    }

    /// @inheritdoc ITicketBroker
    function cancelUnlock() external whenSystemNotPaused {
        SenderState storage s = _senders[msg.sender];
        if (s.withdrawRound == 0) revert NoUnlockInProgress(msg.sender);
        s.withdrawRound = 0;
        emit UnlockCancelled(msg.sender);
    }

    /// @inheritdoc ITicketBroker
    function withdraw() external whenSystemNotPaused {
        SenderState memory s = _senders[msg.sender];
        if (s.withdrawRound == 0) revert NoUnlockInProgress(msg.sender);
        uint256 round = _roundsManager().currentRound();
        if (round < s.withdrawRound) revert FundsLocked(msg.sender, s.withdrawRound, round);
        delete _senders[msg.sender];
        delete _roundClaims[msg.sender];
        uint256 total = uint256(s.deposit) + s.reserve;
        if (total != 0) IMinter(_registered(ContractIds.MINTER)).trustedWithdrawETH(payable(msg.sender), total);
        emit Withdrawal(msg.sender, s.deposit, s.reserve);
    }

    // ---- Recipients ----

    /// @inheritdoc ITicketBroker
    function redeemWinningTicket(
        Ticket calldata ticket,
        bytes calldata sig,
        uint256 recipientRand
    ) external whenSystemNotPaused {
        IRoundsManager roundsManager = _roundsManager();
        (uint256 round, bool initialized) = roundsManager.currentRoundAndInitialized();
        if (!initialized) revert CurrentRoundNotInitialized(round);
        _redeem(ticket, sig, recipientRand, round, roundsManager);
    }

    /// @inheritdoc ITicketBroker
    function batchRedeemWinningTickets(
        Ticket[] calldata tickets,
        bytes[] calldata sigs,
        uint256[] calldata recipientRands
    ) external whenSystemNotPaused returns (uint256 redeemed) {
        uint256 count = tickets.length;
        if (sigs.length != count || recipientRands.length != count) {
            revert BatchLengthMismatch(count, sigs.length, recipientRands.length);
        }
        for (uint256 i = 0; i < count; ++i) {
            if (tickets[i].recipient != msg.sender) {
                emit BatchTicketFailed(
                    i,
                    abi.encodeWithSelector(CallerNotRecipient.selector, msg.sender, tickets[i].recipient)
                );
                continue;
            }
            // An external call to ourselves makes each ticket all-or-nothing: a failure rolls back only its own
            // writes (the used mark, the sender's books) and the batch goes on.
            try this.redeemWinningTicket(tickets[i], sigs[i], recipientRands[i]) {
                ++redeemed;
            } catch (bytes memory reason) {
                emit BatchTicketFailed(i, reason);
            }
        }
    }

    // ---- Governance ----

    /// @inheritdoc ITicketBroker
    function setUnlockPeriod(uint256 newUnlockPeriod) external onlyControllerOwner {
        _unlockPeriod = _checkedPeriod(newUnlockPeriod);
        emit ParameterUpdate("unlockPeriod");
    }

    /// @inheritdoc ITicketBroker
    function setTicketValidityPeriod(uint256 newTicketValidityPeriod) external onlyControllerOwner {
        _ticketValidityPeriod = _checkedPeriod(newTicketValidityPeriod);
        emit ParameterUpdate("ticketValidityPeriod");
    }

    // ---- Views ----

    /// @inheritdoc ITicketBroker
    function getTicketHash(Ticket calldata ticket) external view returns (bytes32) {
        return Tickets.hash(ticket, address(this));
    }

    /// @inheritdoc ITicketBroker
    function isWinningTicket(bytes calldata sig, uint256 recipientRand, uint256 winProb) external pure returns (bool) {
        return Tickets.wins(sig, recipientRand, winProb);
    }

    /// @inheritdoc ITicketBroker
    function getSenderInfo(address sender) external view returns (Sender memory sender_, ReserveInfo memory reserve) {
        SenderState memory s = _senders[sender];
        sender_ = Sender(s.deposit, s.withdrawRound);
        reserve = ReserveInfo(s.reserve, _claimedIn(sender, _roundsManager().currentRound()));
    }

    /// @inheritdoc ITicketBroker
    function claimableReserve(address sender, address recipient) external view returns (uint256) {
        (uint256 round, bool initialized) = _roundsManager().currentRoundAndInitialized();
        if (!initialized) return 0;
        SenderState memory s = _senders[sender];
        if (_pastUnlock(s, round)) return 0;
        IBondingManager bondingManager = _bondingManager();
        if (!bondingManager.isActiveTranscoder(recipient)) return 0;
        return _allowance(sender, recipient, round, s.reserve, bondingManager.currentRoundPoolSize());
    }

    /// @inheritdoc ITicketBroker
    function claimedReserve(address sender, address recipient, uint256 round) external view returns (uint256) {
        return _claimedReserve[sender][round][recipient];
    }

    /// @inheritdoc ITicketBroker
    function isUnlockInProgress(address sender) external view returns (bool) {
        return _senders[sender].withdrawRound != 0;
    }

    /// @inheritdoc ITicketBroker
    function unlockPeriod() external view returns (uint256) {
        return _unlockPeriod;
    }

    /// @inheritdoc ITicketBroker
    function ticketValidityPeriod() external view returns (uint256) {
        return _ticketValidityPeriod;
    }

    // ---- Internals ----

    function _fund(uint256 depositAmount, uint256 reserveAmount) private {
        SenderState memory s = _senders[msg.sender];
        // Checked uint112 sums: no sender can hold more than 5e15 ETH.
        s.deposit += depositAmount.toUint112();
        s.reserve += reserveAmount.toUint112();
        bool cancelsUnlock = s.withdrawRound != 0;
        s.withdrawRound = 0;
        _senders[msg.sender] = s;

        IMinter(_registered(ContractIds.MINTER)).depositETH{value: msg.value}();
        if (depositAmount != 0) emit DepositFunded(msg.sender, depositAmount);
        if (reserveAmount != 0) emit ReserveFunded(msg.sender, reserveAmount);
        if (cancelsUnlock) emit UnlockCancelled(msg.sender);
    }

    /// Checks a ticket, marks it used, takes its payment from the sender and credits it to the recipient as fees.
    /// Reverts, leaving the ticket unused, when any check fails or nothing can be paid.
    function _redeem(
        Ticket calldata ticket,
        bytes calldata sig,
        uint256 recipientRand,
        uint256 round,
        IRoundsManager roundsManager
    ) private {
        bytes32 ticketHash = _useWinningTicket(ticket, sig, recipientRand, round, roundsManager);
        IBondingManager bondingManager = _bondingManager();
        uint256 amount = _takePayment(ticket.sender, ticket.recipient, ticket.faceValue, round, bondingManager);
        // Reverts unless the recipient is active this round, which undoes the payment above.
        bondingManager.updateTranscoderWithFees(ticket.recipient, amount, round);
        emit WinningTicketRedeemed(ticketHash, ticket.sender, ticket.recipient, ticket.faceValue, amount);
    }

    /// Every check of protocol.md but the recipient's activity (the BondingManager's) and the sender's funds; marks
    /// the ticket used.
    function _useWinningTicket(
        Ticket calldata ticket,
        bytes calldata sig,
        uint256 recipientRand,
        uint256 round,
        IRoundsManager roundsManager
    ) private returns (bytes32 ticketHash) {
        // The batch calls in through `this` after checking the recipient itself.
        if (msg.sender != ticket.recipient && msg.sender != address(this)) {
            revert CallerNotRecipient(msg.sender, ticket.recipient);
        }
        uint256 creationRound = ticket.creationRound;
        // A round that was never initialized (including any future round) has no block hash.
        bytes32 blockHash = roundsManager.blockHashForRound(creationRound);
        if (blockHash == bytes32(0) || blockHash != ticket.creationRoundBlockHash) {
            revert InvalidCreationRoundBlockHash(creationRound, ticket.creationRoundBlockHash);
        }
        // creationRound <= round here, since only initialized rounds have a block hash.
        uint256 expiryRound = creationRound + _ticketValidityPeriod;
        if (expiryRound <= round) revert TicketExpired(creationRound, expiryRound);
        if (keccak256(abi.encodePacked(recipientRand)) != ticket.recipientRandHash) {
            revert InvalidRecipientRand(ticket.recipientRandHash);
        }
        ticketHash = Tickets.hash(ticket, address(this));
        if (usedTickets[ticketHash]) revert TicketUsed(ticketHash);
        address signer = Tickets.signer(ticketHash, sig);
        if (signer == address(0) || signer != ticket.sender) revert InvalidSenderSignature(ticket.sender);
        if (!Tickets.wins(sig, recipientRand, ticket.winProb)) revert TicketNotWinning();
        usedTickets[ticketHash] = true;
    }

    /// Takes up to `faceValue` from the sender: the deposit first, then the recipient's reserve allowance.
    function _takePayment(
        address sender,
        address recipient,
        uint256 faceValue,
        uint256 round,
        IBondingManager bondingManager
    ) private returns (uint256 amount) {
        SenderState memory s = _senders[sender];
        if (_pastUnlock(s, round)) revert SenderUnlocked(sender, s.withdrawRound);
        if (faceValue <= s.deposit) {
            // faceValue fits in 112 bits
            s.deposit -= uint112(faceValue);
            amount = faceValue;
        } else {
            uint256 fromDeposit = s.deposit;
            uint256 fromReserve = _allowance(
                sender,
                recipient,
                round,
                s.reserve,
                bondingManager.currentRoundPoolSize()
            );
            if (fromReserve > faceValue - fromDeposit) fromReserve = faceValue - fromDeposit;
            amount = fromDeposit + fromReserve;
            s.deposit = 0;
            if (fromReserve != 0) {
                // fromReserve <= s.reserve: an allowance never exceeds the funds remaining
                s.reserve -= uint112(fromReserve);
                _recordClaim(sender, recipient, round, fromReserve);
            }
        }
        if (amount == 0) revert NothingToPay(sender, recipient);
        _senders[sender] = s;
    }

    function _recordClaim(address sender, address recipient, uint256 round, uint256 amount) private {
        _claimedReserve[sender][round][recipient] += amount;
        // The round fits in 32 bits (the RoundsManager's clock); the claimed total is bounded by the reserve.
        _roundClaims[sender] = RoundClaims(uint112(_claimedIn(sender, round) + amount), uint32(round));
        emit ReserveClaimed(sender, recipient, round, amount);
    }

    /// What `recipient` may still draw from `sender`'s reserve in `round`: an equal share of the reserve as it stood
    /// before this round's claims, rounded down, less what it drew already; never more than the funds remaining.
    function _allowance(
        address sender,
        address recipient,
        uint256 round,
        uint256 fundsRemaining,
        uint256 poolSize
    ) private view returns (uint256) {
        if (poolSize == 0 || fundsRemaining == 0) return 0;
        uint256 share = (fundsRemaining + _claimedIn(sender, round)) / poolSize;
        uint256 claimed = _claimedReserve[sender][round][recipient];
        if (share <= claimed) return 0;
        uint256 allowance = share - claimed;
        return allowance < fundsRemaining ? allowance : fundsRemaining;
    }

    function _claimedIn(address sender, uint256 round) private view returns (uint256) {
        RoundClaims memory c = _roundClaims[sender];
        return c.round == round ? c.claimed : 0;
    }

    function _pastUnlock(SenderState memory s, uint256 round) private pure returns (bool) {
        return s.withdrawRound != 0 && round >= s.withdrawRound;
    }

    function _checkedPeriod(uint256 period) private pure returns (uint32) {
        if (period == 0 || period > type(uint32).max) revert InvalidPeriod(period);
        return uint32(period);
    }

    function _roundsManager() private view returns (IRoundsManager) {
        return IRoundsManager(_registered(ContractIds.ROUNDS_MANAGER));
    }

    function _bondingManager() private view returns (IBondingManager) {
        return IBondingManager(_registered(ContractIds.BONDING_MANAGER));
    }
}
