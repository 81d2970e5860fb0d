/**
 * The chain as the broadcaster needs it: the latest block and round (ticket parameters expire by block), its own
 * deposit and reserve, and discovery of orchestrators: the active pool with each one's stake and ServiceRegistry URI.
 */
import { Contract, type Provider } from "ethers";

import {
  BONDING_MANAGER_ABI,
  MANAGER_ERRORS,
  ROUNDS_MANAGER_ABI,
  SERVICE_REGISTRY_ABI,
  TICKET_BROKER_ABI,
} from "../chain/abi";
import type { ContractAddresses } from "../chain/view";

export interface Discovered {
  address: string;
  url: string;
  stake: bigint;
}

export interface TicketFunds {
  deposit: bigint;
  reserve: bigint;
  withdrawRound: bigint;
}

const ZERO = "0x0000000000000000000000000000000000000000";
/** The pool walk stops here whatever the chain says: a broadcaster needs a few good candidates, not all. */
const MAX_POOL_WALK = 500;

export class BroadcasterChain {
  private readonly broker: Contract;
  private readonly rounds: Contract;
  private readonly bonding: Contract;
  private readonly registry: Contract;
  block?: bigint;
  round?: bigint;
  funds?: TicketFunds;
  lastError?: Error;
  private timer?: NodeJS.Timeout;
  private polling?: Promise<void>;

  constructor(
    readonly provider: Provider,
    readonly chainId: bigint,
    readonly contracts: ContractAddresses,
    private readonly self: string,
  ) {
    this.broker = new Contract(contracts.TicketBroker, [...TICKET_BROKER_ABI, ...MANAGER_ERRORS], provider);
    this.rounds = new Contract(contracts.RoundsManager, [...ROUNDS_MANAGER_ABI, ...MANAGER_ERRORS], provider);
    this.bonding = new Contract(contracts.BondingManager, [...BONDING_MANAGER_ABI, ...MANAGER_ERRORS], provider);
    this.registry = new Contract(contracts.ServiceRegistry, SERVICE_REGISTRY_ABI, provider);
  }

  /** Reads once (throwing if the chain is unreachable), then every `pollMs`. */
  async start(pollMs = 2000): Promise<void> {
    await this.poll();
    const schedule = () => {
      this.timer = setTimeout(() => {
        this.polling = this.poll()
          .catch((error: Error) => {
            this.lastError = error;
          })
          .finally(schedule);
      }, pollMs);
      this.timer.unref();
    };
    schedule();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.polling;
  }

  async poll(): Promise<void> {
    const block = BigInt(await this.provider.getBlockNumber());
    if (block !== this.block) {
      const [round, funds] = await Promise.all([this.rounds.currentRound() as Promise<bigint>, this.readFunds()]);
      this.round = round;
      this.funds = funds;
      this.block = block;
    }
    this.lastError = undefined;
  }

  async readFunds(): Promise<TicketFunds> {
    const [sender, reserve] = (await this.broker.getSenderInfo(this.self)) as [
      { deposit: bigint; withdrawRound: bigint },
      { fundsRemaining: bigint },
    ];
    return { deposit: sender.deposit, reserve: reserve.fundsRemaining, withdrawRound: sender.withdrawRound };
  }

  /** The transcoder pool in stake order, with service URIs; members without a URI are left out. */
  async discover(): Promise<Discovered[]> {
    const found: Discovered[] = [];
    let address = (await this.bonding.getFirstTranscoderInPool()) as string;
    for (let i = 0; i < MAX_POOL_WALK && address !== ZERO; i++) {
      const [uri, stake, active] = await Promise.all([
        this.registry.getServiceURI(address) as Promise<string>,
        this.bonding.transcoderTotalStake(address) as Promise<bigint>,
        this.bonding.isActiveTranscoder(address) as Promise<boolean>,
      ]);
      if (active && /^https?:\/\/[^\s]+$/.test(uri)) {
        found.push({ address: address.toLowerCase(), url: uri.replace(/\/+$/, ""), stake });
      }
      address = (await this.bonding.getNextTranscoderInPool(address)) as string;
    }
    return found;
  }
}
