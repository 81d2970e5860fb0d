/**
 * Sends the daemon's transactions one at a time from one account: nonces tracked locally (resynchronised from the
 * node when it disagrees), fees capped by `--max-gas-price`, every transaction signed before it is broadcast so the
 * caller can record its hash first, and a transaction not mined in time re-sent with the same nonce and higher fees.
 */
import {
  type Contract,
  type Interface,
  type Provider,
  type TransactionReceipt,
  type Wallet,
  Transaction,
  formatEther,
  formatUnits,
  isError,
} from "ethers";

export class TxError extends Error {
  override readonly name = "TxError";
  constructor(
    readonly code: "REVERTED" | "INSUFFICIENT_ETH" | "GAS_PRICE_TOO_HIGH" | "NOT_MINED" | "RPC_ERROR",
    message: string,
    /** The custom error's name when the node gave revert data we could decode. */
    readonly revert?: string,
  ) {
    super(message);
  }
}

export interface TxSenderOptions {
  wallet: Wallet;
  provider: Provider;
  /** Highest max fee per gas the daemon will pay, wei (undefined: no ceiling). */
  maxGasPrice?: bigint;
  /** How long a transaction may stay unmined before it is replaced with 25% higher fees. */
  replaceAfterMs?: number;
  /** Replacements at most, per transaction. */
  maxReplacements?: number;
  pollMs?: number;
}

export interface SendHooks {
  /** Called with the hash before the transaction (or a replacement) is broadcast: record it durably here. */
  beforeBroadcast?: (hash: string, previous: string | undefined) => void;
  /** ETH (wei) sent with the call, e.g. a dispute bond. */
  value?: bigint;
}

const FEE_BUMP_PERCENT = 125n; // nodes need at least +10% to accept a replacement

export class TxSender {
  private nextNonce?: number;
  private queue: Promise<unknown> = Promise.resolve();
  readonly address: string;

  constructor(private readonly options: TxSenderOptions) {
    this.address = options.wallet.address.toLowerCase();
  }

  /** Sends `contract.method(...args)` and resolves with its receipt once mined (status 1). */
  send(contract: Contract, method: string, args: unknown[], hooks: SendHooks = {}): Promise<TransactionReceipt> {
    const run = () => this.sendNow(contract, method, args, hooks);
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async sendNow(
    contract: Contract,
    method: string,
    args: unknown[],
    hooks: SendHooks,
  ): Promise<TransactionReceipt> {
    const { provider, wallet } = this.options;
    const to = await contract.getAddress();
    const data = contract.interface.encodeFunctionData(method, args);
    const value = hooks.value ?? 0n;
    let gasLimit: bigint;
    try {
      gasLimit = ((await provider.estimateGas({ from: wallet.address, to, data, value })) * 120n) / 100n;
    } catch (error) {
      throw this.explain(error, contract.interface, `${method}`);
    }
    let fees = await this.fees();
    const network = await provider.getNetwork();
    const balance = await provider.getBalance(wallet.address);
    if (balance < value + gasLimit * fees.maxFeePerGas) {
      throw new TxError(
        "INSUFFICIENT_ETH",
        `${method}: account ${wallet.address} has ${formatEther(balance)} ETH; the transaction may cost up to ` +
          `${formatEther(value + gasLimit * fees.maxFeePerGas)} ETH (${value > 0n ? `${formatEther(value)} sent and ` : ""}` +
          `${gasLimit} gas at ${formatUnits(fees.maxFeePerGas, "gwei")} gwei). Send ETH to this account.`,
      );
    }
    const nonce = await this.takeNonce();
    const hashes: string[] = [];
    try {
      for (let replacement = 0; ; replacement++) {
        const signed = await wallet.signTransaction({
          type: 2,
          chainId: network.chainId,
          nonce,
          to,
          data,
          value,
          gasLimit,
          maxFeePerGas: fees.maxFeePerGas,
          maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
        });
        const hash = Transaction.from(signed).hash!;
        hooks.beforeBroadcast?.(hash, hashes.at(-1));
        hashes.push(hash);
        await this.broadcast(signed, contract.interface, method);
        const receipt = await this.waitForAny(hashes, this.options.replaceAfterMs ?? 60_000);
        if (receipt) {
          if (receipt.status !== 1) {
            throw new TxError(
              "REVERTED",
              `${method}: transaction ${receipt.hash} reverted in block ${receipt.blockNumber}`,
            );
          }
          return receipt;
        }
        if (replacement >= (this.options.maxReplacements ?? 3)) {
          throw new TxError(
            "NOT_MINED",
            `${method}: transaction ${hash} was not mined after ${replacement} replacements`,
          );
        }
        const bumped = (fees.maxFeePerGas * FEE_BUMP_PERCENT) / 100n;
        const ceiling = this.options.maxGasPrice;
        if (ceiling !== undefined && bumped > ceiling) {
          // Cannot outbid the network within the ceiling: keep waiting for the one out there.
          const receiptLater = await this.waitForAny(hashes, this.options.replaceAfterMs ?? 60_000);
          if (receiptLater) return receiptLater;
          throw new TxError(
            "GAS_PRICE_TOO_HIGH",
            `${method}: transaction ${hash} is stuck and a replacement would pay more than --max-gas-price`,
          );
        }
        fees = {
          maxFeePerGas: bumped,
          maxPriorityFeePerGas: (fees.maxPriorityFeePerGas * FEE_BUMP_PERCENT) / 100n,
        };
      }
    } catch (error) {
      // Whether the nonce was used is unknown after a failure: read it again before the next transaction.
      if (hashes.length === 0 || !(error instanceof TxError && error.code === "REVERTED")) this.nextNonce = undefined;
      throw error;
    }
  }

  private async fees(): Promise<{ maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }> {
    const data = await this.options.provider.getFeeData();
    let maxFeePerGas = data.maxFeePerGas ?? data.gasPrice ?? 0n;
    let maxPriorityFeePerGas = data.maxPriorityFeePerGas ?? 0n;
    const ceiling = this.options.maxGasPrice;
    if (ceiling !== undefined && maxFeePerGas > ceiling) {
      const block = await this.options.provider.getBlock("latest");
      const baseFee = block?.baseFeePerGas ?? data.gasPrice ?? maxFeePerGas;
      if (baseFee > ceiling) {
        throw new TxError(
          "GAS_PRICE_TOO_HIGH",
          `the base fee is ${formatUnits(baseFee, "gwei")} gwei, above --max-gas-price ` +
            `${formatUnits(ceiling, "gwei")} gwei: waiting for it to fall`,
        );
      }
      maxFeePerGas = ceiling;
    }
    if (maxPriorityFeePerGas > maxFeePerGas) maxPriorityFeePerGas = maxFeePerGas;
    return { maxFeePerGas, maxPriorityFeePerGas };
  }

  private async takeNonce(): Promise<number> {
    const pending = await this.options.provider.getTransactionCount(this.options.wallet.address, "pending");
    // The node's count wins when it is ahead (another process used the account, or transactions were dropped and
    // re-sent); ours wins while our own transactions are still propagating.
    const nonce = this.nextNonce === undefined || pending > this.nextNonce ? pending : this.nextNonce;
    this.nextNonce = nonce + 1;
    return nonce;
  }

  private async broadcast(signed: string, iface: Interface, method: string): Promise<void> {
    try {
      await this.options.provider.broadcastTransaction(signed);
    } catch (error) {
      const message = String((error as Error).message ?? error);
      if (/already known|known transaction/i.test(message)) return; // broadcast before; the node has it
      if (isError(error, "NONCE_EXPIRED") || /nonce too low/i.test(message)) {
        this.nextNonce = undefined;
        throw new TxError("RPC_ERROR", "the account's nonce moved (another sender?): will retry with a fresh one");
      }
      // A node that executes on submission (an automining dev chain) reports the revert here, not in a receipt:
      // the state changed between the estimate and the send (someone else initialized the round, say).
      const data = revertData(error);
      const parsed = data ? iface.parseError(data) : null;
      if (parsed) {
        throw new TxError(
          "REVERTED",
          `${method} reverted: ${parsed.name}(${parsed.args.map((a) => String(a)).join(", ")})`,
          parsed.name,
        );
      }
      throw new TxError("RPC_ERROR", `broadcast failed: ${message}`);
    }
  }

  /** The receipt of whichever of `hashes` is mined first, or undefined after `timeoutMs`. */
  private async waitForAny(hashes: readonly string[], timeoutMs: number): Promise<TransactionReceipt | undefined> {
    const deadline = Date.now() + timeoutMs;
    const pollMs = this.options.pollMs ?? 500;
    for (;;) {
      for (const hash of hashes) {
        const receipt = await this.options.provider.getTransactionReceipt(hash);
        if (receipt) return receipt;
      }
      if (Date.now() >= deadline) return undefined;
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  /** A readable error from a failed estimate: the custom error's name and arguments when the node returned them. */
  explain(error: unknown, iface: Interface, what: string): TxError {
    const data = revertData(error);
    if (data) {
      const parsed = iface.parseError(data);
      if (parsed) {
        return new TxError(
          "REVERTED",
          `${what} would revert: ${parsed.name}(${parsed.args.map((a) => String(a)).join(", ")})`,
          parsed.name,
        );
      }
    }
    if (isError(error, "INSUFFICIENT_FUNDS")) {
      return new TxError("INSUFFICIENT_ETH", `${what}: account ${this.options.wallet.address} lacks ETH for gas`);
    }
    return new TxError("RPC_ERROR", `${what}: ${(error as Error).message ?? error}`);
  }
}

/** Revert data from an ethers error, wherever the provider put it. */
export function revertData(error: unknown): string | undefined {
  const e = error as { data?: unknown; info?: { error?: { data?: unknown } }; error?: { data?: unknown } };
  for (const candidate of [e?.data, e?.info?.error?.data, e?.error?.data]) {
    if (typeof candidate === "string" && candidate.startsWith("0x") && candidate.length >= 10) return candidate;
    if (
      typeof candidate === "object" &&
      candidate !== null &&
      typeof (candidate as { data?: unknown }).data === "string"
    )
      return (candidate as { data: string }).data;
  }
  return undefined;
}
