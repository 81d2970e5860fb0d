/**
 * `streamflow orchestrator`: connects to the chain and the deployment, opens the winning-ticket store, serves the
 * HTTP API and the transcoder endpoint, and runs the redeemer and round services. Shutdown stops taking segments,
 * lets those in flight finish, then stops the loops (a transaction in flight is recorded either way) and closes.
 */
import { createHmac, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

import type { Provider } from "ethers";

import { type HttpLimits, createHttpApp, listen, parseListenAddress } from "../common/http";
import type { Logger } from "../common/log";
import { connectRpc } from "../chain/connect";
import { DEPLOY_FIRST, type DeploymentFile, checkDeploymentChain, readDeploymentFile } from "../chain/deployment";
import type { Tamper } from "../media/transcode";
import { loadWallet, type KeyOptions } from "../chain/keys";
import { TxSender } from "../chain/txSender";
import { ChainView } from "../chain/view";
import { DEFAULT_LADDER, PRESETS } from "../media/ladder";
import { DEFAULT_MAX_SEGMENT_BYTES } from "../media/transcode";
import { TicketRecipient } from "../pm/recipient";
import { type RunningTranscoder, startTranscoder } from "../transcoder/daemon";
import { AuthTokens } from "./authToken";
import { OrchestratorMetrics } from "./metrics";
import { CreditLedger, estimateOutputPixels, feeFor } from "./pricing";
import { Redeemer } from "./redeemer";
import { RoundServices } from "./roundServices";
import { type ServerContext, registerRoutes } from "./server";
import { SessionTable } from "./sessions";
import { WinningTicketStore } from "./ticketStore";
import { TranscoderPool } from "./transcoderPool";
import type { PriceInfo } from "./wire";

export interface OrchestratorConfig extends KeyOptions {
  rpcUrl: string;
  /** deployments/<network>.json */
  deployment: string;
  httpAddr: string;
  /** Limits of the HTTP port (default DEFAULT_HTTP_LIMITS). */
  httpLimits?: HttpLimits;
  /** Public URL broadcasters reach this service at (registered on chain); default: the bound address. */
  serviceAddr?: string;
  dataDir: string;
  price: PriceInfo;
  /** Expected value per ticket, wei; default: the fee of one 2 s segment of the default ladder. */
  ticketEV?: bigint;
  maxSessions: number | "auto";
  /** Shared secret for remote transcoders; generated when only the in-process transcoder is used. */
  orchSecret?: string;
  /** Run a transcoder in this process. */
  transcoder: boolean;
  transcoderSessions?: number | "auto";
  /** Fault injection for the in-process transcoder (tests): wrong pictures of the right shape. */
  transcoderTamper?: Tamper;
  initializeRound: boolean;
  reward: boolean;
  maxGasPrice?: bigint;
  maxSegmentBytes?: number;
  redeemBatch?: number;
  /** How often the redeemer runs besides on new blocks, ms. */
  redeemIntervalMs?: number;
  redeemGas?: bigint;
  faceValueMultiplier?: bigint;
  paramsValidityBlocks?: bigint;
  pollMs?: number;
  version?: string;
  /** An ethers provider to use instead of `rpcUrl` (tests, the in-process chain). */
  provider?: Provider;
}

export interface RunningOrchestrator {
  url: string;
  address: string;
  pool: TranscoderPool;
  store: WinningTicketStore;
  chain: ChainView;
  redeemer: Redeemer;
  metrics: OrchestratorMetrics;
  transcoder?: RunningTranscoder;
  shutdown(): Promise<void>;
}

function readDeployment(file: string): DeploymentFile {
  try {
    return readDeploymentFile(file);
  } catch (error) {
    throw new Error(`${(error as Error).message}. ${DEPLOY_FIRST}`);
  }
}

/** The daemon's secret (auth tokens, and the root of the ticket key), kept in the data directory across restarts. */
/**
 * The recipientRand key, new with every start. The nonces seen are remembered in memory only, so parameters issued
 * before a restart must not be accepted after it: their tickets could be replayed for credit. Broadcasters fetch
 * fresh parameters on the refusal (TICKET_BAD_RAND_HASH); stored winning tickets keep their recipientRand.
 */
function ticketKeyOfThisProcess(secret: Buffer): Buffer {
  return createHmac("sha256", secret).update("ticket parameters").update(randomBytes(32)).digest();
}

function loadOrCreateSecret(dataDir: string): Buffer {
  const file = path.join(dataDir, "recipient.secret");
  if (fs.existsSync(file)) {
    const secret = Buffer.from(fs.readFileSync(file, "utf8").trim(), "hex");
    if (secret.length < 32) throw new Error(`${file} must hold at least 32 bytes of hex`);
    return secret;
  }
  const secret = randomBytes(32);
  fs.writeFileSync(file, secret.toString("hex") + "\n", { mode: 0o600, flag: "wx" });
  return secret;
}

/** Default EV per ticket: the fee of a 2 s segment of the default ladder from a 1080p30 source (about one ticket). */
export function defaultTicketEV(price: PriceInfo): bigint {
  const ladder = DEFAULT_LADDER.map((name) => PRESETS[name]);
  const fee = feeFor(estimateOutputPixels(ladder, 2000, { width: 1920, height: 1080, fps: 30 }), price);
  return fee > 0n ? fee : 1n;
}

export function serviceUrlOf(addr: string): string {
  return /^https?:\/\//.test(addr) ? addr.replace(/\/+$/, "") : `http://${addr}`;
}

export async function startOrchestrator(config: OrchestratorConfig, log: Logger): Promise<RunningOrchestrator> {
  const deployment = readDeployment(config.deployment);
  const httpAddress = parseListenAddress(config.httpAddr, "--http-addr");
  if (!config.transcoder && !config.orchSecret) {
    throw new Error(
      "Remote transcoders need the shared secret (--orch-secret-file); or run one here with --transcoder.",
    );
  }
  const { provider, chainId } = await connectRpc(config.rpcUrl, config.provider);
  const cleanups: Array<() => unknown> = [() => provider.destroy()];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await fn();
  };
  try {
    checkDeploymentChain(deployment, config.deployment, config.rpcUrl, chainId);
    const wallet = (await loadWallet(config, chainId)).connect(provider);
    const address = wallet.address.toLowerCase();
    fs.mkdirSync(config.dataDir, { recursive: true });
    const secret = loadOrCreateSecret(config.dataDir);
    const store = new WinningTicketStore(path.join(config.dataDir, "tickets.sqlite"));
    cleanups.push(() => store.close());
    const chain = new ChainView({ provider, contracts: deployment.contracts, self: address, pollMs: config.pollMs });
    await chain.start();
    cleanups.push(() => chain.stop());
    const metrics = new OrchestratorMetrics();
    const orchSecret = config.orchSecret ?? randomBytes(32).toString("hex");
    const pool = new TranscoderPool({ secret: orchSecret });
    cleanups.push(() => pool.close());
    const sessions = new SessionTable({ maxSessions: config.maxSessions, capacity: () => pool.capacity });
    const tx = new TxSender({ wallet, provider, maxGasPrice: config.maxGasPrice, pollMs: config.pollMs });
    const redeemer = new Redeemer(store, chain, chain.broker, tx, log.child({ component: "redeemer" }), {
      batchSize: config.redeemBatch,
      intervalMs: config.redeemIntervalMs,
    });
    const roundServices =
      config.initializeRound || config.reward || config.serviceAddr
        ? new RoundServices(
            chain,
            tx,
            address,
            {
              initializeRound: config.initializeRound,
              reward: config.reward,
              serviceUri: config.serviceAddr ? serviceUrlOf(config.serviceAddr) : undefined,
              serviceRegistry: deployment.contracts.ServiceRegistry,
            },
            log.child({ component: "rounds" }),
          )
        : undefined;

    const app = createHttpApp({
      registry: metrics.registry,
      limits: config.httpLimits,
      log,
      health: () => {
        const problems = [
          chain.lastError && `chain unreachable: ${chain.lastError.message}`,
          pool.transcoders.length === 0 && "no transcoder connected",
        ].filter(Boolean);
        return {
          ok: problems.length === 0,
          problems,
          address,
          round: chain.snapshot.round.toString(),
          active: chain.snapshot.active,
          transcoders: pool.transcoders.length,
          capacity: pool.capacity,
        };
      },
    });
    cleanups.push(() => app.close());
    const ticketEV = config.ticketEV ?? defaultTicketEV(config.price);
    const ledger = new CreditLedger();
    const pruneLedger = setInterval(() => ledger.prune(), 10 * 60_000);
    pruneLedger.unref();
    cleanups.push(() => clearInterval(pruneLedger));
    const context: ServerContext = {
      address,
      privateKey: Buffer.from(wallet.privateKey.slice(2), "hex"),
      serviceUrl: "", // set once bound, below
      chainId,
      ticketBroker: deployment.contracts.TicketBroker.toLowerCase(),
      receiptDomain: { chainId, verifyingContract: deployment.contracts.DisputeManager },
      price: config.price,
      ticketEV,
      redeemGas: config.redeemGas ?? 180_000n,
      faceValueMultiplier: config.faceValueMultiplier ?? 100n,
      paramsValidityBlocks: config.paramsValidityBlocks ?? 40n,
      maxSegmentBytes: config.maxSegmentBytes ?? DEFAULT_MAX_SEGMENT_BYTES,
      chain,
      recipient: new TicketRecipient({
        address,
        secret: ticketKeyOfThisProcess(secret),
        domain: { chainId, verifyingContract: deployment.contracts.TicketBroker },
        ticketValidityPeriod: chain.snapshot.ticketValidityPeriod,
      }),
      auth: new AuthTokens(secret),
      ledger,
      store,
      pool,
      sessions,
      metrics,
      log,
      status: () => ({ redeemer: redeemer.status, roundServices: roundServices?.status }),
    };
    const requests = registerRoutes(app, context);
    pool.attach(app.server);
    const bound = await listen(app, httpAddress);
    const serviceUrl = config.serviceAddr ? serviceUrlOf(config.serviceAddr) : bound;
    context.serviceUrl = serviceUrl; // read per request

    const refreshGauges = () => {
      metrics.pendingTickets.set(store.outstandingCount());
      metrics.transcoders.set(pool.transcoders.length);
      metrics.transcoderCapacity.set(pool.capacity);
      metrics.transcoderLoad.set(pool.inFlight);
      metrics.sessions.set(sessions.active);
    };
    chain.on("block", refreshGauges);
    pool.on("joined", refreshGauges).on("left", refreshGauges).on("job", refreshGauges);
    pool.on("joined", (t) => log.info({ transcoder: t.id, name: t.name, capacity: t.capacity }, "transcoder joined"));
    pool.on("left", (t) => log.warn({ transcoder: t.id, name: t.name }, "transcoder left"));
    chain.on("error-state", (error: Error) => {
      metrics.chainErrors.inc({ component: "view" });
      log.error({ err: error.message }, "cannot read the chain");
    });
    redeemer.on("redeemed", () => metrics.ticketsRedeemed.inc());
    redeemer.on("failed", (_t, reason: string) => metrics.ticketsFailed.inc({ reason }));
    redeemer.on("expired", (n: number) => metrics.ticketsFailed.inc({ reason: "expired" }, n));
    redeemer.on("error-run", () => metrics.chainErrors.inc({ component: "redeemer" }));
    redeemer.start();
    cleanups.push(() => redeemer.stop());
    roundServices?.start();
    if (roundServices) cleanups.push(() => roundServices.stop());

    let transcoder: RunningTranscoder | undefined;
    if (config.transcoder) {
      transcoder = await startTranscoder(
        {
          orchAddr: bound,
          orchSecret,
          maxSessions: config.transcoderSessions ?? "auto",
          preset: "veryfast",
          httpAddr: "127.0.0.1:0",
          drainTimeoutMs: 30_000,
          maxJobMs: 60_000,
          name: "in-process",
          version: config.version,
          tamper: config.transcoderTamper,
        },
        log.child({ component: "transcoder" }),
      );
      cleanups.push(() => transcoder!.shutdown());
    }
    if (!chain.snapshot.active) {
      log.warn(
        { address, round: chain.snapshot.round.toString() },
        "this orchestrator is not active this round: winning tickets wait until it is (bond, `npx hardhat register`)",
      );
    }
    log.info(
      { url: bound, serviceUrl, address, chainId: chainId.toString(), ticketEV: ticketEV.toString() },
      "orchestrator started",
    );

    let shuttingDown: Promise<void> | undefined;
    return {
      url: bound,
      address,
      pool,
      store,
      chain,
      redeemer,
      metrics,
      transcoder,
      shutdown: () =>
        (shuttingDown ??= (async () => {
          // Stop taking requests (new ones get 503), let the segments in flight finish while the transcoders are still
          // there, then let the transcoders go: the HTTP server's close completes once their WebSockets are closed.
          const closing = app.close();
          // Bounded: a client that vanished mid-request must not hold the shutdown forever.
          await Promise.race([requests.idle(), new Promise((resolve) => setTimeout(resolve, 60_000).unref())]);
          await transcoder?.shutdown();
          await pool.close();
          await closing;
          await roundServices?.stop();
          await redeemer.stop();
          clearInterval(pruneLedger);
          await chain.stop();
          store.close();
          provider.destroy();
        })()),
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
