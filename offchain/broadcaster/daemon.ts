/**
 * `streamflow broadcaster`: ingest (RTMP and HTTP push), orchestrator discovery and selection, payment in tickets,
 * verification, HLS output and the status page, wired together. See docs/broadcaster.md.
 */
import fs from "node:fs";
import path from "node:path";

import { Contract } from "ethers";

import { DISPUTE_MANAGER_ABI, MANAGER_ERRORS } from "../chain/abi";
import { connectRpc } from "../chain/connect";
import { type DeploymentFile, checkDeploymentChain, readDeploymentFile } from "../chain/deployment";
import { TxSender } from "../chain/txSender";
import { EvidenceStore } from "../disputes/evidence";
import { type KeyOptions, LOCAL_CHAIN_IDS, loadWallet } from "../chain/keys";
import { type HttpLimits, createHttpApp, listen, parseListenAddress } from "../common/http";
import type { Logger } from "../common/log";
import { mediaTools } from "../media/binaries";
import type { Rendition } from "../media/ladder";
import { DEFAULT_MAX_SEGMENT_BYTES } from "../media/transcode";
import { formatEth } from "../pm/errors";
import { OrchestratorClient } from "../orchestrator/client";
import { BroadcasterChain } from "./chain";
import { Disputer, registerEvidenceRoutes } from "./disputes";
import { OrchestratorLink } from "./link";
import { BroadcasterMetrics } from "./metrics";
import { Pipeline } from "./pipeline";
import { RtmpIngest } from "./rtmp";
import { RtmpStreams } from "./rtmpStreams";
import { OrchestratorBook, RetryBudget } from "./selection";
import { registerRoutes } from "./server";
import { type StreamAuthorizer, keyListAuthorizer, openAuthorizer, webhookAuthorizer } from "./streamKeys";
import { buildStatus } from "./status";

export interface BroadcasterConfig extends KeyOptions {
  rpcUrl: string;
  deployment: string;
  /** Static orchestrator URLs; without them, the chain's active pool is used. */
  orchestrators?: string[];
  httpAddr: string;
  /** Limits of the HTTP port (default DEFAULT_HTTP_LIMITS). */
  httpLimits?: HttpLimits;
  /** host:port, or undefined for no RTMP ingest. */
  rtmpAddr?: string;
  streamKeys?: Map<string, string>;
  authWebhook?: string;
  ladder: Rendition[];
  maxPricePerPixel?: number;
  redundancy: number;
  maxAttempts: number;
  retriesPerMinute: number;
  dataDir: string;
  record: boolean;
  liveWindow: number;
  segmentSeconds: number;
  reconnectGraceMs: number;
  httpIdleMs: number;
  discoveryIntervalMs: number;
  maxSegmentBytes?: number;
  decodeCheck?: boolean;
  /** Share of results re-encoded here and compared; a clear fault is disputed on chain. */
  verifyRate?: number;
  /** Public base URL of `/evidence` for verifiers (default: this daemon's own). */
  evidenceUrl?: string;
  version: string;
}

export interface RunningBroadcaster {
  url: string;
  rtmpUrl?: string;
  address: string;
  pipeline: Pipeline;
  book: OrchestratorBook;
  metrics: BroadcasterMetrics;
  disputer?: Disputer;
  shutdown(): Promise<void>;
}

function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

/**
 * The chain, when there is one: required for discovery; with a static orchestrator list the broadcaster also runs
 * without it (a local test), but then cannot check its own funds.
 */
async function openChain(config: BroadcasterConfig, log: Logger) {
  let deployment: DeploymentFile;
  try {
    deployment = readDeploymentFile(config.deployment);
  } catch (error) {
    const reason = (error as Error).message;
    if (!config.orchestrators)
      throw new Error(`${reason}. Deploy first or pass --deployment (or list --orchestrators).`);
    log.warn(`${reason}; running without a chain (static --orchestrators)`);
    return undefined;
  }
  try {
    const { provider, chainId } = await connectRpc(config.rpcUrl);
    try {
      checkDeploymentChain(deployment, config.deployment, config.rpcUrl, chainId);
    } catch (error) {
      provider.destroy();
      throw error;
    }
    return { provider, chainId, deployment };
  } catch (error) {
    if (!config.orchestrators) throw error;
    log.warn(`${(error as Error).message}; running without a chain (static --orchestrators)`);
    return undefined;
  }
}

function fundCommand(network: string, address: string): string {
  return `npx hardhat fund --network ${network} --deposit 1 --reserve 1 --from ${address}`;
}

export async function startBroadcaster(config: BroadcasterConfig, log: Logger): Promise<RunningBroadcaster> {
  const httpAddress = parseListenAddress(config.httpAddr, "--http-addr");
  const rtmpAddress = config.rtmpAddr ? parseListenAddress(config.rtmpAddr, "--rtmp-addr") : undefined;
  const open = !config.streamKeys && !config.authWebhook;
  if (open && (!isLoopbackHost(httpAddress.host) || (rtmpAddress && !isLoopbackHost(rtmpAddress.host)))) {
    throw new Error(
      "Ingest on a non-loopback address needs --stream-keys or --auth-webhook: anyone could publish (and spend your deposit).",
    );
  }
  const tools = await mediaTools();
  const cleanups: Array<() => unknown> = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await fn();
  };
  try {
    const chainAccess = await openChain(config, log);
    if (chainAccess) cleanups.push(() => chainAccess.provider.destroy());
    const chainIdForKeys = chainAccess?.chainId ?? 31337n;
    if (!chainAccess && !config.keystore && !LOCAL_CHAIN_IDS.has(chainIdForKeys)) {
      throw new Error("Without a chain, only a --keystore can be used");
    }
    const wallet = await loadWallet(config, chainIdForKeys);
    const address = wallet.address.toLowerCase();
    fs.mkdirSync(config.dataDir, { recursive: true });

    let chain: BroadcasterChain | undefined;
    if (chainAccess) {
      chain = new BroadcasterChain(
        chainAccess.provider,
        chainAccess.chainId,
        chainAccess.deployment.contracts,
        address,
      );
      await chain.start();
      cleanups.push(() => chain!.stop());
      const funds = chain.funds!;
      if (funds.deposit === 0n && funds.reserve === 0n) {
        const network = LOCAL_CHAIN_IDS.has(chainAccess.chainId) ? "localhost" : "<network>";
        throw new Error(
          `The broadcaster ${address} has no ticket deposit or reserve on chain ${chainAccess.chainId}: orchestrators ` +
            `would refuse its tickets. Fund it first, e.g. \`${fundCommand(network, address)}\`.`,
        );
      }
      if (funds.withdrawRound !== 0n) {
        log.warn(
          { withdrawRound: funds.withdrawRound.toString() },
          "the ticket funds are unlocking: orchestrators may refuse tickets (`npx hardhat cancel-unlock`)",
        );
      }
      log.info({ deposit: formatEth(funds.deposit), reserve: formatEth(funds.reserve) }, "ticket funds");
    }

    const metrics = new BroadcasterMetrics();
    const book = new OrchestratorBook({ maxPricePerPixel: config.maxPricePerPixel });
    const links = new Map<string, OrchestratorLink>();
    const expectations = (url: string) => ({
      chainId: chain?.chainId,
      ticketBroker: chain?.contracts.TicketBroker,
      address: book.get(url)?.stake ? book.get(url)?.address : undefined,
    });
    const linkFor = (url: string) => {
      let link = links.get(url);
      if (!link) {
        link = new OrchestratorLink(
          url,
          new OrchestratorClient(url, wallet.privateKey, 30_000),
          wallet.privateKey,
          expectations(url),
          () => chain?.block,
        );
        links.set(url, link);
      }
      return link;
    };

    const refresh = async () => {
      if (config.orchestrators) {
        for (const url of config.orchestrators) book.upsert(url);
        return;
      }
      const found = await chain!.discover();
      for (const o of found) book.upsert(o.url, { address: o.address, stake: o.stake });
      book.retain(new Set(found.map((o) => o.url)));
      for (const url of links.keys()) if (!book.get(url)) links.delete(url);
      if (found.length === 0) log.warn("no active orchestrator with a service URI on chain");
    };
    await refresh();
    const discovery = setInterval(() => {
      refresh().catch((error: Error) => log.warn({ reason: error.message }, "orchestrator discovery failed"));
    }, config.discoveryIntervalMs);
    discovery.unref();
    cleanups.push(() => clearInterval(discovery));

    const verifyRate = config.verifyRate ?? 0;
    let disputer: Disputer | undefined;
    let evidence: EvidenceStore | undefined;
    let ownUrl = "";
    if (verifyRate > 0) {
      const disputeManager = chainAccess?.deployment.contracts.DisputeManager;
      if (chainAccess && disputeManager) {
        evidence = new EvidenceStore(path.join(config.dataDir, "evidence-store"));
        disputer = new Disputer({
          tx: new TxSender({ wallet: wallet.connect(chainAccess.provider), provider: chainAccess.provider }),
          contract: new Contract(disputeManager, [...DISPUTE_MANAGER_ABI, ...MANAGER_ERRORS], chainAccess.provider),
          provider: chainAccess.provider,
          chainId: chainAccess.chainId,
          store: evidence,
          evidenceBaseUrl: () => config.evidenceUrl ?? `${ownUrl}/evidence`,
          ladder: config.ladder,
          metrics,
          log: log.child({ component: "disputes" }),
        });
        disputer.start();
        cleanups.push(() => disputer!.stop());
      } else {
        log.warn("--verify-rate without a chain that has a DisputeManager: clear faults are refused but not disputed");
      }
    }

    const maxSegmentBytes = config.maxSegmentBytes ?? DEFAULT_MAX_SEGMENT_BYTES;
    const pipeline = new Pipeline({
      address,
      ladder: config.ladder,
      dataDir: config.dataDir,
      window: config.liveWindow,
      record: config.record,
      redundancy: config.redundancy,
      maxAttempts: config.maxAttempts,
      maxSegmentBytes,
      tools,
      decodeCheck: config.decodeCheck ?? true,
      receiptDomain: (info) => ({
        chainId: info.chainId,
        verifyingContract: chainAccess?.deployment.contracts.DisputeManager,
      }),
      book,
      budget: new RetryBudget(config.retriesPerMinute),
      link: linkFor,
      metrics,
      log,
      verifyRate,
      onClearFault: disputer ? (fault) => disputer.report(fault) : undefined,
    });
    cleanups.push(() => pipeline.close());

    const authorize: StreamAuthorizer = config.authWebhook
      ? webhookAuthorizer(config.authWebhook)
      : config.streamKeys
        ? keyListAuthorizer(config.streamKeys)
        : openAuthorizer;
    if (open) log.warn("no --stream-keys or --auth-webhook: any stream key may publish (loopback only)");

    const status = () => buildStatus({ address, version: config.version, chain, pipeline, book, links, disputer });
    const app = createHttpApp({
      registry: metrics.registry,
      limits: config.httpLimits,
      log,
      health: () => {
        const problems = [
          chain?.lastError && `chain unreachable: ${chain.lastError.message}`,
          book.list().length === 0 && "no orchestrator known",
        ].filter(Boolean);
        return {
          ok: problems.length === 0,
          problems,
          streams: pipeline.streams.size,
          orchestrators: book.list().length,
        };
      },
    });
    registerRoutes(app, {
      pipeline,
      authorize,
      open,
      maxSegmentBytes,
      status,
      httpIdleMs: config.httpIdleMs,
      pushRefused: (code) => metrics.pushesRefused.inc({ code }),
    });
    if (evidence) registerEvidenceRoutes(app, evidence);
    const url = await listen(app, httpAddress);
    ownUrl = url;
    cleanups.push(() => app.close());

    let rtmp: RtmpIngest | undefined;
    if (rtmpAddress) {
      const rtmpLog = log.child({ component: "rtmp" });
      rtmp = new RtmpIngest({
        host: rtmpAddress.host,
        port: rtmpAddress.port,
        reconnectGraceMs: config.reconnectGraceMs,
        log: (level, message) => {
          if (level === "error") rtmpLog.error(message);
          else if (level === "warn") rtmpLog.warn(message);
          else rtmpLog.debug(message);
        },
      });
      const streams = new RtmpStreams(rtmp, {
        ffmpeg: tools.ffmpeg.path,
        dataDir: config.dataDir,
        segmentSeconds: config.segmentSeconds,
        authorize,
        pipeline,
        log,
      });
      await rtmp.start();
      cleanups.push(() => streams.stop());
    }

    const refreshGauges = () => {
      const counts = { available: 0, "in-use": 0, suspended: 0 };
      for (const entry of book.list()) counts[book.state(entry)]++;
      for (const [state, n] of Object.entries(counts)) metrics.orchestrators.set({ state }, n);
    };
    const gauges = setInterval(refreshGauges, 2000);
    gauges.unref();
    cleanups.push(() => clearInterval(gauges));

    log.info(
      {
        http: url,
        rtmp: rtmp?.url,
        address,
        orchestrators: book.list().map((e) => e.url),
        renditions: config.ladder.map((r) => r.name),
      },
      "broadcaster started",
    );

    let shuttingDown: Promise<void> | undefined;
    return {
      url,
      rtmpUrl: rtmp?.url,
      address,
      pipeline,
      book,
      metrics,
      disputer,
      shutdown: () => (shuttingDown ??= cleanup()),
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
