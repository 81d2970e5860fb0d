/**
 * Round services an orchestrator may run: `initializeRound()` when a round has started and nobody else called it,
 * `reward()` once per round while active, and keeping the ServiceRegistry URI equal to `--service-addr`. Each is
 * checked on every new block and sent through the shared TxSender (nonces, fee ceiling, stuck-transaction
 * replacement); a failure is logged and retried on a later block, never more than one attempt in flight.
 */
import { Contract } from "ethers";

import type { Logger } from "../common/log";
import { SERVICE_REGISTRY_ABI, MANAGER_ERRORS } from "../chain/abi";
import { TxError, type TxSender } from "../chain/txSender";
import type { ChainSnapshot, ChainView } from "../chain/view";

export interface RoundServiceOptions {
  initializeRound: boolean;
  reward: boolean;
  /** The URI to keep in the ServiceRegistry; undefined leaves it alone. */
  serviceUri?: string;
  serviceRegistry: string;
}

export interface RoundServiceStatus {
  lastInitializedRound?: string;
  lastRewardRound?: string;
  serviceUri?: string;
  lastError?: string;
}

/** Errors that mean someone else already did it this round. */
const DONE_ALREADY = new Set(["RoundAlreadyInitialized", "RewardAlreadyMinted"]);

export class RoundServices {
  readonly status: RoundServiceStatus = {};
  private busy?: Promise<void>;
  private again = false;
  private stopped = false;
  private readonly registry: Contract;
  /** The round each service last succeeded (or found done) in. */
  private doneIn = { initialize: -1n, reward: -1n, uri: -1n };
  private readonly onBlock = (state: ChainSnapshot) => void this.run(state);

  constructor(
    private readonly chain: ChainView,
    private readonly tx: TxSender,
    private readonly self: string,
    private readonly options: RoundServiceOptions,
    private readonly log: Logger,
  ) {
    this.registry = new Contract(options.serviceRegistry, [...SERVICE_REGISTRY_ABI, ...MANAGER_ERRORS], chain.provider);
  }

  start(): void {
    this.chain.on("block", this.onBlock);
    void this.run(this.chain.snapshot);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.chain.off("block", this.onBlock);
    await this.busy;
  }

  /** One pass over the services; while one runs, a request for another runs once more after it, on fresh state. */
  run(state: ChainSnapshot): Promise<void> {
    if (this.busy) {
      this.again = true;
      return this.busy;
    }
    this.busy = (async () => {
      let next: ChainSnapshot | undefined = state;
      while (next) {
        this.again = false;
        await this.pass(next).catch((error: Error) => {
          this.status.lastError = error.message;
          this.log.warn({ err: error.message }, "round service failed; retrying on a later block");
        });
        next = this.again && !this.stopped ? this.chain.snapshot : undefined;
      }
    })().finally(() => (this.busy = undefined));
    return this.busy;
  }

  private async pass(state: ChainSnapshot): Promise<void> {
    const round = state.round;
    if (this.options.initializeRound && !state.roundInitialized && this.doneIn.initialize < round) {
      await this.attempt("initializeRound", this.chain.rounds, "initializeRound", round, "initialize");
      this.status.lastInitializedRound = round.toString();
      await this.chain.poll(); // the round's block hash and activity, for everyone else
    }
    const now = this.chain.snapshot;
    if (this.options.reward && now.roundInitialized && now.active && this.doneIn.reward < round) {
      const transcoder = (await this.chain.bonding.getTranscoder(this.self)) as { lastRewardRound: bigint };
      if (transcoder.lastRewardRound >= round) this.doneIn.reward = round;
      else {
        await this.attempt("reward", this.chain.bonding, "reward", round, "reward");
        this.status.lastRewardRound = round.toString();
      }
    }
    if (this.options.serviceUri !== undefined && this.doneIn.uri < round) {
      const current = (await this.registry.getServiceURI(this.self)) as string;
      if (current !== this.options.serviceUri) {
        const receipt = await this.tx.send(this.registry, "setServiceURI", [this.options.serviceUri]);
        this.log.info({ tx: receipt.hash, uri: this.options.serviceUri, was: current }, "service URI updated");
      }
      this.status.serviceUri = this.options.serviceUri;
      this.doneIn.uri = round;
    }
    this.status.lastError = undefined;
  }

  private async attempt(
    label: string,
    contract: Contract,
    method: string,
    round: bigint,
    key: "initialize" | "reward",
  ): Promise<void> {
    try {
      const receipt = await this.tx.send(contract, method, []);
      this.log.info(
        { tx: receipt.hash, round: round.toString(), gasUsed: receipt.gasUsed.toString() },
        `${label} sent`,
      );
    } catch (error) {
      if (error instanceof TxError && error.revert && DONE_ALREADY.has(error.revert)) {
        this.log.debug({ round: round.toString() }, `${label}: already done this round`);
      } else {
        throw error;
      }
    }
    this.doneIn[key] = round;
  }
}
