/**
 * `streamflow verifier` as a real process for the dispute end-to-end tests: dev accounts given LPT, a daemon per
 * account that locks its stake and polls the chain quickly, and its /api/status read back.
 */
import { parseEther } from "ethers";

import type { ReceiptJson } from "../../offchain/orchestrator/wire";
import { LivepeerToken__factory } from "../../typechain-types";
import type { OrchestratorChain } from "./orchestratorChain";
import type { ProcessGroup } from "./orchestratorDaemon";
import { freePort } from "./processes";
import type { TranscoderDaemon } from "./transcoderDaemon";

export interface VerifierOptions {
  /** hardhat node dev account. */
  account: number;
  /** Its SQLite database (votes and salts); reuse it to restart the same verifier. */
  dataDir: string;
  /** LPT to keep locked as verifier stake (`--stake`). */
  stake: string;
  /** More flags, after the defaults (a later flag wins). */
  args?: readonly string[];
}

export interface VerifierProcess {
  daemon: TranscoderDaemon;
  /** http://127.0.0.1:<port>: /api/status, /healthz, /metrics */
  url: string;
  /** Lower case. */
  address: string;
}

/** One dispute as the verifier's /api/status shows it: its judgement, never the salt of its vote. */
export interface VerifierDisputeStatus {
  id: number;
  broadcaster: string;
  orchestrator: string;
  receipt: ReceiptJson;
  evidenceUri: string;
  openedBlock: number;
  vote?: "Fault" | "NoFault";
  reasons?: string[];
  outcome?: string;
  [field: string]: unknown;
}

export interface VerifierStatus {
  address: string;
  version: string;
  disputeManager: string;
  stake: string;
  disputes: VerifierDisputeStatus[];
}

/** Transfers `amount` LPT from the deployer (account 0) to each of `accounts`. */
export async function giveLpt(chain: OrchestratorChain, accounts: readonly number[], amount = "1000"): Promise<void> {
  const token = LivepeerToken__factory.connect(chain.record.contracts.LivepeerToken, await chain.signer(0));
  for (const account of accounts) {
    await (await token.transfer((await chain.signer(account)).address, parseEther(amount))).wait();
  }
}

/**
 * Spawns `streamflow verifier` for dev account `options.account` on a free port, polling every 0.2 s, and resolves
 * once it has logged "verifier started" (its stake locked).
 */
export async function startVerifierOn(
  group: ProcessGroup,
  chain: OrchestratorChain,
  options: VerifierOptions,
): Promise<VerifierProcess> {
  const daemon = group.spawn([
    "verifier",
    "--rpc-url",
    chain.node.url,
    "--deployment",
    chain.deploymentFile,
    "--dev-account",
    String(options.account),
    "--http-addr",
    `127.0.0.1:${await freePort()}`,
    "--data-dir",
    options.dataDir,
    "--stake",
    options.stake,
    "--poll-interval",
    "0.2",
    ...(options.args ?? []),
  ]);
  const started = await daemon.waitForLog("verifier started");
  return { daemon, url: String(started.http), address: String(started.address) };
}

export async function verifierStatus(url: string): Promise<VerifierStatus> {
  const response = await fetch(`${url}/api/status`);
  if (response.status !== 200) throw new Error(`/api/status answered ${response.status}`);
  return (await response.json()) as VerifierStatus;
}
