/**
 * The contract functions, events and errors the daemons use, as human-readable ABI. Kept by hand so the daemons need
 * no compile step; test/offchain/chain.abi.test.ts checks every fragment against the compiled artifacts.
 */
const TICKET_TUPLE =
  "tuple(address recipient, address sender, uint256 faceValue, uint256 winProb, uint256 senderNonce, " +
  "bytes32 recipientRandHash, uint256 creationRound, bytes32 creationRoundBlockHash)";

export const TICKET_BROKER_ABI = [
  `function batchRedeemWinningTickets(${TICKET_TUPLE}[] tickets, bytes[] sigs, uint256[] recipientRands) returns (uint256)`,
  "function usedTickets(bytes32 ticketHash) view returns (bool)",
  "function getSenderInfo(address sender) view returns (tuple(uint256 deposit, uint256 withdrawRound) sender_, tuple(uint256 fundsRemaining, uint256 claimedInCurrentRound) reserve)",
  "function claimableReserve(address sender, address recipient) view returns (uint256)",
  "function claimedReserve(address sender, address recipient, uint256 round) view returns (uint256)",
  "function isUnlockInProgress(address sender) view returns (bool)",
  "function ticketValidityPeriod() view returns (uint256)",
  "event WinningTicketRedeemed(bytes32 indexed ticketHash, address indexed sender, address indexed recipient, uint256 faceValue, uint256 amount)",
  "event BatchTicketFailed(uint256 indexed index, bytes reason)",
  "error CurrentRoundNotInitialized(uint256 round)",
  "error BatchLengthMismatch(uint256 tickets, uint256 sigs, uint256 recipientRands)",
  "error CallerNotRecipient(address caller, address recipient)",
  "error InvalidCreationRoundBlockHash(uint256 creationRound, bytes32 creationRoundBlockHash)",
  "error TicketExpired(uint256 creationRound, uint256 expiryRound)",
  "error InvalidRecipientRand(bytes32 recipientRandHash)",
  "error TicketUsed(bytes32 ticketHash)",
  "error InvalidSenderSignature(address sender)",
  "error TicketNotWinning()",
  "error SenderUnlocked(address sender, uint256 withdrawRound)",
  "error NothingToPay(address sender, address recipient)",
  // From the BondingManager, surfacing through redemption's fee credit.
  "error TranscoderNotActive(address transcoder, uint256 round)",
];

export const ROUNDS_MANAGER_ABI = [
  "function initializeRound()",
  "function currentRound() view returns (uint256)",
  "function currentRoundAndInitialized() view returns (uint256 round, bool initialized)",
  "function currentRoundStartBlock() view returns (uint256)",
  "function roundLength() view returns (uint256)",
  "function blockHashForRound(uint256 round) view returns (bytes32)",
  "error RoundAlreadyInitialized(uint256 round)",
];

export const BONDING_MANAGER_ABI = [
  "function reward()",
  "function isActiveTranscoder(address transcoderAddress) view returns (bool)",
  "function getTranscoder(address transcoderAddress) view returns (uint256 lastRewardRound, uint256 rewardCut, uint256 feeShare, uint256 activationRound, uint256 deactivationRound, bool registered)",
  "function currentRoundPoolSize() view returns (uint256)",
  "function getFirstTranscoderInPool() view returns (address)",
  "function getNextTranscoderInPool(address transcoderAddress) view returns (address)",
  "function transcoderTotalStake(address transcoderAddress) view returns (uint256)",
  "error CurrentRoundNotInitialized(uint256 round)",
  "error TranscoderNotActive(address transcoder, uint256 round)",
  "error RewardAlreadyMinted(address transcoder, uint256 round)",
];

export const SERVICE_REGISTRY_ABI = [
  "function setServiceURI(string serviceURI)",
  "function getServiceURI(address addr) view returns (string)",
];

/** Shared by every manager: the Controller's pause. */
export const MANAGER_ERRORS = ["error SystemIsPaused()", "error ContractNotRegistered(bytes32 id)"];
