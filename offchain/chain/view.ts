/**
 * The chain as the orchestrator sees it: the latest block, the round, block hashes of initialized rounds, the gas
 * price, and each sender's funds, read over JSON-RPC and cached per block so that validating a ticket never waits on
 * the network once a sender has been seen in the current block. Polls for new blocks; emits "block" and "round".
 */
import { EventEmitter } from "node:events";

import { Contract, type Provider } from "ethers";

import { BONDING_MANAGER_ABI, MANAGER_ERRORS, ROUNDS_MANAGER_ABI, TICKET_BROKER_ABI } from "./abi";

export interface ContractAddresses {
  TicketBroker: string;
  RoundsManager: string;
  BondingManager: string;
  ServiceRegistry: string;
  DisputeManager?: string;
}

export interface SenderFunds {
  deposit: bigint;
  /** What this recipient may still draw from the sender's reserve this round (the broker's view). */
  reserveAllowance: bigint;
  unlocking: boolean;
  /** Block the figures were read at. */
  block: bigint;
}

export interface ChainSnapshot {
  block: bigint;
  round: bigint;
  roundInitialized: boolean;
  /** wei per gas a transaction pays now (base fee plus tip on EIP-1559 chains). */
  gasPrice: bigint;
  ticketValidityPeriod: bigint;
  /** Whether this orchestrator is in the active set this round. */
  active: boolean;
  /** First block of the current round, and the round length in blocks (read when the round changes). */
  roundStartBlock: bigint;
  roundLength: bigint;
}

export interface ChainViewOptions {
  provider: Provider;
  contracts: ContractAddresses;
  /** The orchestrator's address (reserve allowances are per recipient). */
  self: string;
  pollMs?: number;
}

export class ChainView extends EventEmitter {
  readonly broker: Contract;
  readonly rounds: Contract;
  readonly bonding: Contract;
  private state?: ChainSnapshot;
  private readonly blockHashes = new Map<bigint, string>();
  private readonly funds = new Map<string, { block: bigint; value: Promise<SenderFunds> }>();
  /** Each sender's last figures read, kept for a round: they stand in while the chain cannot be read. */
  private readonly lastFunds = new Map<string, SenderFunds>();
  /** Bumped by forgetFunds: a read that overlapped a redemption is not trusted (one counter: redemptions are rare). */
  private fundsGeneration = 0;
  private timer?: NodeJS.Timeout;
  private polling?: Promise<void>;
  /** The last error reading the chain, cleared by the next successful poll (for /healthz). */
  lastError?: Error;

  constructor(private readonly options: ChainViewOptions) {
    super();
    const { provider, contracts } = options;
    this.broker = new Contract(contracts.TicketBroker, [...TICKET_BROKER_ABI, ...MANAGER_ERRORS], provider);
    this.rounds = new Contract(contracts.RoundsManager, [...ROUNDS_MANAGER_ABI, ...MANAGER_ERRORS], provider);
    this.bonding = new Contract(contracts.BondingManager, [...BONDING_MANAGER_ABI, ...MANAGER_ERRORS], provider);
  }

  get provider(): Provider {
    return this.options.provider;
  }

  /** The state as of the last poll; throws before the first one. */
  get snapshot(): ChainSnapshot {
    if (!this.state) throw new Error("the chain has not been read yet");
    return this.state;
  }

  /** Reads the chain once (throwing if it is unreachable), then keeps polling. */
  async start(): Promise<void> {
    await this.poll();
    const schedule = () => {
      this.timer = setTimeout(() => {
        this.polling = this.poll()
          .catch((error: Error) => {
            if (!this.lastError) this.emit("error-state", error);
            this.lastError = error;
          })
          .finally(schedule);
      }, this.options.pollMs ?? 1000);
      this.timer.unref();
    };
    schedule();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.polling;
  }

  /** Reads the latest block and, when it changed, the round, gas price and this orchestrator's activity. */
  async poll(): Promise<void> {
    const block = BigInt(await this.options.provider.getBlockNumber());
    if (this.state && block === this.state.block) {
      this.lastError = undefined;
      return;
    }
    const [[round, initialized], fees, active, validity] = await Promise.all([
      this.rounds.currentRoundAndInitialized() as Promise<[bigint, boolean]>,
      this.options.provider.getFeeData(),
      this.bonding.isActiveTranscoder(this.options.self) as Promise<boolean>,
      this.broker.ticketValidityPeriod() as Promise<bigint>, // a parameter the owner may change
    ]);
    if (initialized && !this.blockHashes.has(round)) {
      this.blockHashes.set(round, (await this.rounds.blockHashForRound(round)) as string);
    }
    const previous = this.state;
    const [roundStartBlock, roundLength] =
      previous && previous.round === round
        ? [previous.roundStartBlock, previous.roundLength]
        : ((await Promise.all([this.rounds.currentRoundStartBlock(), this.rounds.roundLength()])) as [bigint, bigint]);
    this.state = {
      block,
      round,
      roundInitialized: initialized,
      gasPrice: fees.gasPrice ?? fees.maxFeePerGas ?? 0n,
      ticketValidityPeriod: validity,
      active,
      roundStartBlock,
      roundLength,
    };
    this.lastError = undefined;
    for (const [key, entry] of this.funds) if (entry.block < block) this.funds.delete(key);
    for (const [key, known] of this.lastFunds) if (known.block + roundLength < block) this.lastFunds.delete(key);
    // Block hashes of rounds tickets can no longer use are dropped.
    for (const r of this.blockHashes.keys()) if (r + validity + 1n < round) this.blockHashes.delete(r);
    this.emit("block", this.state);
    if (previous && (previous.round !== round || previous.roundInitialized !== initialized))
      this.emit("round", this.state);
  }

  /** `blockHashForRound` as cached; undefined for a round not (yet) seen initialized. */
  blockHashForRound(round: bigint): string | undefined {
    return this.blockHashes.get(round);
  }

  /**
   * Loads the block hash of a recent round not seen initialized by this process (it started later). Only rounds a
   * ticket could still be valid in are read, so made-up rounds cost no RPC.
   */
  async ensureBlockHash(round: bigint): Promise<void> {
    const { round: current, ticketValidityPeriod } = this.snapshot;
    if (this.blockHashes.has(round) || round > current || round + ticketValidityPeriod <= current) return;
    const hash = (await this.rounds.blockHashForRound(round)) as string;
    if (!/^0x0+$/.test(hash)) this.blockHashes.set(round, hash);
  }

  /**
   * A sender's funds as of the latest block: one set of reads per sender per block, shared by concurrent callers.
   * When the chain cannot be read, the figures last read (within a round) stand in, as the snapshot does for the
   * block: a new block may have been seen just before the outage, and refusing every ticket until the chain is back
   * would stop every stream.
   */
  senderFunds(sender: string): Promise<SenderFunds> {
    const key = sender.toLowerCase();
    const block = this.snapshot.block;
    const cached = this.funds.get(key);
    if (cached && cached.block >= block) return cached.value;
    const value = this.readFunds(key, block).catch((error: unknown) => {
      if (this.funds.get(key)?.value === value) this.funds.delete(key); // a failed read is retried by the next caller
      const known = this.lastFunds.get(key);
      if (known) return known;
      throw error;
    });
    this.funds.set(key, { block, value });
    return value;
  }

  /**
   * For a redemption that has just been mined, `paid` being at most what it took from each sender: the cached figures
   * are dropped, since until the next poll they would still count the face value it paid, which the ticket store no
   * longer counts as pending, and the sender's float would look that much larger than it is. The figures kept for an
   * outage are lowered by `paid` (from the deposit first, as the broker takes it) rather than dropped.
   */
  forgetFunds(paid: ReadonlyMap<string, bigint>): void {
    this.fundsGeneration++;
    for (const [sender, amount] of paid) {
      const key = sender.toLowerCase();
      this.funds.delete(key);
      const known = this.lastFunds.get(key);
      if (!known) continue;
      const fromDeposit = amount < known.deposit ? amount : known.deposit;
      const fromReserve = amount - fromDeposit;
      this.lastFunds.set(key, {
        ...known,
        deposit: known.deposit - fromDeposit,
        reserveAllowance: fromReserve < known.reserveAllowance ? known.reserveAllowance - fromReserve : 0n,
      });
    }
  }

  private async readFunds(key: string, block: bigint): Promise<SenderFunds> {
    for (;;) {
      const generation = this.fundsGeneration;
      const [info, allowance, unlocking] = await Promise.all([
        this.broker.getSenderInfo(key) as Promise<[{ deposit: bigint }, unknown]>,
        this.broker.claimableReserve(key, this.options.self) as Promise<bigint>,
        this.broker.isUnlockInProgress(key) as Promise<boolean>,
      ]);
      if (this.fundsGeneration !== generation) continue; // a redemption was mined meanwhile: read again
      const funds = { deposit: info[0].deposit, reserveAllowance: allowance, unlocking, block };
      this.lastFunds.set(key, funds);
      return funds;
    }
  }
}
