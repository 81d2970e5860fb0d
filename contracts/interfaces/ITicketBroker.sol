// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IManager} from "./IManager.sol";

/// @title ITicketBroker
/// @notice Probabilistic micropayments. A sender (broadcaster) funds a deposit, which pays winning tickets first,
/// and a reserve, collateral that every orchestrator active in a round may draw up to `reserve / poolSize` from in
/// that round. Tickets are EIP-712 typed data signed by the sender; the recipient redeems the winning ones and the
/// amount is credited to it as fees through the BondingManager. All ETH is held by the Minter.
interface ITicketBroker is IManager {
    /// @notice A ticket, field for field the EIP-712 type
    /// `Ticket(address recipient,address sender,uint256 faceValue,uint256 winProb,uint256 senderNonce,
    /// bytes32 recipientRandHash,uint256 creationRound,bytes32 creationRoundBlockHash)`.
    struct Ticket {
        address recipient;
        address sender;
        uint256 faceValue; // wei paid if the ticket wins
        uint256 winProb; // out of 2^256 - 1
        uint256 senderNonce;
        bytes32 recipientRandHash; // keccak256(abi.encodePacked(recipientRand)), the recipient's commitment
        uint256 creationRound;
        bytes32 creationRoundBlockHash;
    }

    struct Sender {
        uint256 deposit; // wei
        uint256 withdrawRound; // 0 unless an unlock is in progress
    }

    struct ReserveInfo {
        uint256 fundsRemaining; // wei
        uint256 claimedInCurrentRound; // wei drawn by all recipients in the current round
    }

    event DepositFunded(address indexed sender, uint256 amount);
    event ReserveFunded(address indexed sender, uint256 amount);
    /// @notice `sender` may withdraw from `endRound` on.
    event Unlock(address indexed sender, uint256 startRound, uint256 endRound);
    event UnlockCancelled(address indexed sender);
    event Withdrawal(address indexed sender, uint256 deposit, uint256 reserve);
    /// @notice A winning ticket paid `amount` wei to `recipient` (less than `faceValue` when the sender ran short).
    event WinningTicketRedeemed(
        bytes32 indexed ticketHash,
        address indexed sender,
        address indexed recipient,
        uint256 faceValue,
        uint256 amount
    );
    /// @notice Part of a ticket's payment came from `sender`'s reserve.
    event ReserveClaimed(address indexed sender, address indexed recipient, uint256 round, uint256 amount);
    /// @notice Ticket `index` of a batch was not redeemed; `reason` is its revert data (one of the errors below).
    event BatchTicketFailed(uint256 indexed index, bytes reason);

    /// @notice Funding needs ETH.
    error ZeroFunding();
    /// @notice `fundDepositAndReserve` was sent `value` wei, not `depositAmount + reserveAmount`.
    error FundingMismatch(uint256 value, uint256 depositAmount, uint256 reserveAmount);
    /// @notice `sender` has no deposit or reserve to unlock or withdraw.
    error NoFunds(address sender);
    /// @notice `sender` already unlocked; it may withdraw from `withdrawRound`.
    error UnlockInProgress(address sender, uint256 withdrawRound);
    /// @notice `sender` has no unlock in progress.
    error NoUnlockInProgress(address sender);
    /// @notice `sender`'s funds unlock in `withdrawRound`; it is round `currentRound`.
    error FundsLocked(address sender, uint256 withdrawRound, uint256 currentRound);
    /// @notice A period must be at least one round and fit in 32 bits.
    error InvalidPeriod(uint256 period);
    /// @notice Redemption needs the current round, `round`, to be initialized.
    error CurrentRoundNotInitialized(uint256 round);
    /// @notice The batch's arrays have different lengths.
    error BatchLengthMismatch(uint256 tickets, uint256 sigs, uint256 recipientRands);
    /// @notice Only a ticket's recipient may redeem it. Anyone else could, once a failed attempt has made the
    /// recipientRand public, redeem it at a moment the sender chose (say, with 1 wei of deposit) and burn it.
    error CallerNotRecipient(address caller, address recipient);
    /// @notice The ticket's `creationRoundBlockHash` is not the block hash stored for `creationRound` (or that
    /// round was never initialized).
    error InvalidCreationRoundBlockHash(uint256 creationRound, bytes32 creationRoundBlockHash);
    /// @notice The ticket was created in `creationRound` and could be redeemed until `expiryRound`, exclusive.
    error TicketExpired(uint256 creationRound, uint256 expiryRound);
    /// @notice `keccak256(recipientRand)` is not the ticket's `recipientRandHash`.
    error InvalidRecipientRand(bytes32 recipientRandHash);
    /// @notice The ticket with this EIP-712 hash was redeemed already.
    error TicketUsed(bytes32 ticketHash);
    /// @notice The signature is malformed or was not made by the ticket's sender.
    error InvalidSenderSignature(address sender);
    /// @notice The ticket did not win.
    error TicketNotWinning();
    /// @notice `sender` unlocked its funds and may withdraw them since `withdrawRound`: its tickets no longer pay.
    error SenderUnlocked(address sender, uint256 withdrawRound);
    /// @notice Neither `sender`'s deposit nor its reserve allowance for `recipient` could pay anything: the ticket is
    /// left unused rather than burned.
    error NothingToPay(address sender, address recipient);

    // ---- Senders ----

    /// @notice Adds `msg.value` to the caller's deposit; cancels the caller's unlock if one is in progress.
    function fundDeposit() external payable;

    /// @notice Adds `msg.value` to the caller's reserve; cancels the caller's unlock if one is in progress.
    function fundReserve() external payable;

    /// @notice Adds to both; `msg.value` must equal `depositAmount + reserveAmount`.
    function fundDepositAndReserve(uint256 depositAmount, uint256 reserveAmount) external payable;

    /// @notice Starts the unlock period: the caller may withdraw after `unlockPeriod` rounds. Its tickets keep paying
    /// until then.
    function unlock() external;

    /// @notice Cancels the caller's unlock.
    function cancelUnlock() external;

    /// @notice Pays the caller's deposit and reserve back once its unlock period is over.
    function withdraw() external;

    // ---- Recipients ----

    /// @notice Redeems one winning ticket; reverts with the reason when it cannot pay. Recipient only.
    /// @param sig The sender's 65-byte signature `r || s || v` over `getTicketHash(ticket)`
    /// @param recipientRand The recipient's secret whose hash the ticket commits to
    function redeemWinningTicket(Ticket calldata ticket, bytes calldata sig, uint256 recipientRand) external;

    /// @notice Redeems several tickets of the caller's; a ticket that cannot be redeemed (including one that pays
    /// someone else) emits `BatchTicketFailed` and leaves the others alone.
    /// @return redeemed How many tickets paid
    function batchRedeemWinningTickets(
        Ticket[] calldata tickets,
        bytes[] calldata sigs,
        uint256[] calldata recipientRands
    ) external returns (uint256 redeemed);

    // ---- Governance ----

    /// @notice Sets how many rounds an unlock takes. Controller owner only.
    function setUnlockPeriod(uint256 newUnlockPeriod) external;

    /// @notice Sets for how many rounds after its creation round a ticket can be redeemed. Controller owner only.
    function setTicketValidityPeriod(uint256 newTicketValidityPeriod) external;

    // ---- Views ----

    /// @notice The EIP-712 digest of `ticket` under this broker's domain: what the sender signs.
    function getTicketHash(Ticket calldata ticket) external view returns (bytes32);

    /// @notice Whether a ticket with signature `sig` and recipient secret `recipientRand` wins at `winProb`:
    /// `uint256(keccak256(abi.encodePacked(sig, recipientRand))) < winProb`.
    function isWinningTicket(bytes calldata sig, uint256 recipientRand, uint256 winProb) external pure returns (bool);

    /// @notice Whether the ticket with this EIP-712 hash has been redeemed.
    function usedTickets(bytes32 ticketHash) external view returns (bool);

    /// @notice A sender's deposit and unlock, and its reserve with what was drawn from it in the current round.
    function getSenderInfo(address sender) external view returns (Sender memory sender_, ReserveInfo memory reserve);

    /// @notice What `recipient` may still draw from `sender`'s reserve in the current round: zero when the round is
    /// not initialized, `recipient` is not active, or `sender`'s unlock has completed.
    function claimableReserve(address sender, address recipient) external view returns (uint256);

    /// @notice What `recipient` drew from `sender`'s reserve in `round`.
    function claimedReserve(address sender, address recipient, uint256 round) external view returns (uint256);

    /// @notice Whether `sender` has started an unlock that has not been cancelled or withdrawn.
    function isUnlockInProgress(address sender) external view returns (bool);

    /// @notice Rounds from `unlock()` until `withdraw()` is allowed.
    function unlockPeriod() external view returns (uint256);

    /// @notice Rounds after its creation round during which a ticket can be redeemed.
    function ticketValidityPeriod() external view returns (uint256);
}
