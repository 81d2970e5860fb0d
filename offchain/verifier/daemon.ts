/**
 * `streamflow verifier`: locks LPT as verifier stake (optionally), watches the DisputeManager, judges the disputes
 * whose committee it sits on, commits and reveals its votes, and draws committees and resolves disputes when nobody
 * else has. State (votes and salts) is in SQLite, so a restart mid-dispute reveals what was committed.
 * docs/disputes.md.
 */
import fs from "node:fs";
import path from "node:path";

import { Contract, type Provider, formatEther } from "ethers";

import { DISPUTE_MANAGER_ABI, MANAGER_ERRORS, ROUNDS_MANAGER_ABI, TOKEN_ABI } from "../chain/abi";
import { connectRpc } from "../chain/connect";
import { DEPLOY_FIRST, type DeploymentFile, checkDeploymentChain, readDeploymentFile } from "../chain/deployment";
import { type KeyOptions, loadWallet } from "../chain/keys";
import { TxSender } from "../chain/txSender";
import { type HttpLimits, createHttpApp, listen, parseListenAddress } from "../common/http";
import type { Logger } from "../common/log";
import { mediaTools } from "../media/binaries";
import { evidenceJudge } from "./judge";
import { VerifierMetrics } from "./metrics";
import { VerifierStore } from "./store";
import { type Judge, Verifier } from "./verifier";

export interface VerifierConfig extends KeyOptions {
  rpcUrl: string;
  deployment: string;
  httpAddr: string;
  /** Limits of the HTTP port (default DEFAULT_HTTP_LIMITS). */
  httpLimits?: HttpLimits;
  dataDir: string;
  /** Keep at least this much LPT (wei) locked as verifier stake, registering the difference at start. */
  stake?: bigint;
  pollMs: number;
  maxGasPrice?: bigint;
  /** Replaces the evidence judge (tests inject faults with it). */
  judge?: Judge;
  version: string;
}

export interface RunningVerifier {
  url: string;
  address: string;
  verifier: Verifier;
  store: VerifierStore;
  metrics: VerifierMetrics;
  shutdown(): Promise<void>;
}

function readDeployment(file: string): DeploymentFile {
  try {
    return readDeploymentFile(file, ["DisputeManager", "RoundsManager", "LivepeerToken"]);
  } catch (error) {
    throw new Error(`${(error as Error).message}. ${DEPLOY_FIRST}`);
  }
}

/** Tops the verifier stake up to `target`: approve and registerVerifier for the difference. */
async function ensureStake(
  disputes: Contract,
  token: Contract,
  tx: TxSender,
  self: string,
  target: bigint,
  log: Logger,
): Promise<bigint> {
  const info = await disputes.getVerifier(self);
  const stake = info.stake as bigint;
  if (info.unlockRound !== 0n) {
    throw new Error(
      `${self} is deregistering as a verifier (unlocks in round ${info.unlockRound}); withdraw its stake before registering again`,
    );
  }
  if (stake >= target) return stake;
  const missing = target - stake;
  const balance = (await token.balanceOf(self)) as bigint;
  if (balance < missing) {
    throw new Error(
      `--stake needs ${formatEther(missing)} more LPT locked but ${self} holds ${formatEther(balance)} LPT`,
    );
  }
  const disputesAddress = await disputes.getAddress();
  if (((await token.allowance(self, disputesAddress)) as bigint) < missing) {
    await tx.send(token, "approve", [disputesAddress, missing]);
  }
  await tx.send(disputes, "registerVerifier", [missing]);
  log.info({ added: formatEther(missing), stake: formatEther(target) }, "verifier stake locked");
  return target;
}

export async function startVerifier(config: VerifierConfig, log: Logger, given?: Provider): Promise<RunningVerifier> {
  const deployment = readDeployment(config.deployment);
  const httpAddress = parseListenAddress(config.httpAddr, "--http-addr");
  const judge = config.judge ?? evidenceJudge(await mediaTools());
  const { provider, chainId } = await connectRpc(config.rpcUrl, given);
  const cleanups: Array<() => unknown> = [() => provider.destroy()];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await fn();
  };
  try {
    checkDeploymentChain(deployment, config.deployment, config.rpcUrl, chainId);
    const wallet = (await loadWallet(config, chainId)).connect(provider);
    const self = wallet.address.toLowerCase();
    const disputes = new Contract(
      deployment.contracts.DisputeManager!,
      [...DISPUTE_MANAGER_ABI, ...MANAGER_ERRORS],
      provider,
    );
    const rounds = new Contract(
      deployment.contracts.RoundsManager,
      [...ROUNDS_MANAGER_ABI, ...MANAGER_ERRORS],
      provider,
    );
    const token = new Contract(deployment.contracts.LivepeerToken, TOKEN_ABI, provider);
    const tx = new TxSender({ wallet, provider, maxGasPrice: config.maxGasPrice });

    const metrics = new VerifierMetrics();
    const stake =
      config.stake !== undefined
        ? await ensureStake(disputes, token, tx, self, config.stake, log)
        : ((await disputes.getVerifier(self)).stake as bigint);
    metrics.stake.set(Number(formatEther(stake)));
    if (stake === 0n) log.warn("no verifier stake: this verifier is never drawn (pass --stake to lock LPT)");

    fs.mkdirSync(config.dataDir, { recursive: true });
    const store = new VerifierStore(path.join(config.dataDir, "verifier.sqlite"));
    cleanups.push(() => store.close());
    const verifier = new Verifier({
      provider,
      disputes,
      rounds,
      tx,
      self,
      store,
      judge,
      metrics,
      log,
      fromBlock: deployment.deployedAt ?? 0,
      pollMs: config.pollMs,
      judgeEarly: stake > 0n,
    });
    verifier.start();
    cleanups.push(() => verifier.stop());

    const app = createHttpApp({
      registry: metrics.registry,
      limits: config.httpLimits,
      log,
      health: () => ({
        ok: !verifier.lastError,
        problems: verifier.lastError ? [`chain unreachable: ${verifier.lastError.message}`] : [],
        unresolved: store.unresolved().length,
      }),
    });
    app.get("/api/status", async () => ({
      address: self,
      version: config.version,
      disputeManager: deployment.contracts.DisputeManager,
      stake: ((await disputes.getVerifier(self)).stake as bigint).toString(),
      disputes: store.recent(50).map(({ salt: _salt, ...visible }) => visible),
    }));
    const url = await listen(app, httpAddress);
    cleanups.push(() => app.close());

    log.info(
      { http: url, address: self, stake: formatEther(stake), disputeManager: await disputes.getAddress() },
      "verifier started",
    );
    let shuttingDown: Promise<void> | undefined;
    return { url, address: self, verifier, store, metrics, shutdown: () => (shuttingDown ??= cleanup()) };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
