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

const RECEIPT_TUPLE =
  "tuple(address broadcaster, address orchestrator, bytes32 streamId, uint256 seq, bytes32 sourceHash, " +
  "bytes32 profilesHash, bytes32 outputsHash, bool deterministic)";

/** Votes and outcomes as the contract numbers them (IDisputeManager.Vote / Outcome / Phase). */
export const VOTE = { None: 0, Fault: 1, NoFault: 2 } as const;
export const OUTCOME_NAMES = ["None", "Fault", "NoFault", "NoQuorum"] as const;
export const PHASE_NAMES = ["None", "AwaitingCommittee", "Commit", "Reveal", "Resolvable", "Resolved"] as const;
export type PhaseName = (typeof PHASE_NAMES)[number];
export type OutcomeName = (typeof OUTCOME_NAMES)[number];

export const DISPUTE_MANAGER_ABI = [
  "function registerVerifier(uint256 amount)",
  "function deregisterVerifier()",
  "function withdrawVerifierStake()",
  `function openDispute(${RECEIPT_TUPLE} receipt, bytes orchestratorSig, string evidenceURI) payable returns (uint256)`,
  "function drawCommittee(uint256 disputeId)",
  "function commitVote(uint256 disputeId, bytes32 commitment)",
  "function revealVote(uint256 disputeId, uint8 vote, bytes32 salt)",
  "function resolve(uint256 disputeId) returns (uint8)",
  `function proveEquivocation(${RECEIPT_TUPLE} receiptA, bytes sigA, ${RECEIPT_TUPLE} receiptB, bytes sigB)`,
  "function withdrawPayout()",
  "function getDispute(uint256 disputeId) view returns (tuple(address broadcaster, address orchestrator, bytes32 receiptHash, uint256 bond, uint256 openedBlock, uint256 seedBlock, uint256 commitEnd, uint256 revealEnd, uint256 faultStake, uint256 noFaultStake, uint256 reveals, uint8 phase, uint8 outcome))",
  "function disputePhase(uint256 disputeId) view returns (uint8)",
  "function getCommittee(uint256 disputeId) view returns (address[] members, uint256[] weights)",
  "function getVote(uint256 disputeId, address verifier) view returns (tuple(bool member, uint256 weight, bytes32 commitment, uint8 vote))",
  "function getVerifier(address verifier) view returns (tuple(uint256 stake, uint256 unlockRound, uint256 openDuties))",
  "function totalVerifierStake() view returns (uint256)",
  "function disputeCount() view returns (uint256)",
  "function disputeOfReceipt(bytes32 receiptHash) view returns (uint256)",
  "function openDisputesAgainst(address orchestrator) view returns (uint256)",
  "function payouts(address recipient) view returns (uint256)",
  "function disputeBond() view returns (uint256)",
  `event DisputeOpened(uint256 indexed disputeId, address indexed broadcaster, address indexed orchestrator, ${RECEIPT_TUPLE} receipt, bytes32 receiptHash, string evidenceURI, uint256 bond, uint256 seedBlock)`,
  "event CommitteeDrawn(uint256 indexed disputeId, address[] members, uint256[] weights, uint256 commitEnd, uint256 revealEnd)",
  "event DisputeResolved(uint256 indexed disputeId, uint8 outcome, uint256 faultStake, uint256 noFaultStake, uint256 reveals)",
  "error WrongPhase(uint256 disputeId, uint8 phase)",
  "error CommitteeNotDue(uint256 disputeId, uint256 seedBlock)",
  "error CommitteeDrawsPending(uint256 disputeId)",
  "error AlreadyCommitted(uint256 disputeId, address verifier)",
  "error AlreadyRevealed(uint256 disputeId, address verifier)",
  "error NotCommitteeMember(uint256 disputeId, address verifier)",
  "error RevealMismatch(uint256 disputeId, address verifier)",
  "error SaltNotBound(uint256 disputeId, address verifier)",
  "error ReceiptAlreadyDisputed(bytes32 receiptHash, uint256 disputeId)",
  "error WrongBond(uint256 sent, uint256 required)",
  "error InvalidReceiptSignature(address orchestrator)",
  "error VerifierUnlocking(address verifier, uint256 unlockRound)",
  // Resolution slashes through the BondingManager, which needs the round initialized.
  "error CurrentRoundNotInitialized(uint256 round)",
];

export const TOKEN_ABI = [
  "function approve(address spender, uint256 amount) returns (bool)",
  "function allowance(address owner, address spender) view returns (uint256)",
  "function balanceOf(address account) view returns (uint256)",
];
