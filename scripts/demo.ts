// `npm run demo [-- --duration 20] [-- --keep-running] [-- --cheat]`: a live stream through the whole network on one
// machine. An embedded chain (the in-process Hardhat network, served over JSON-RPC) with the protocol deployed, two
// bonded orchestrators and a delegator; the orchestrator, transcoder and broadcaster daemons as real processes; ffmpeg
// pushing a generated live stream over RTMP; a live status line; then what everyone earned, read from the chain.
// With --cheat, orchestrator A's transcoder cheats, three verifier daemons run, and the broadcaster checks every
// result: the demo follows the dispute to its resolution and shows the slash.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { Command, InvalidArgumentError } from "commander";
import type { HardhatRuntimeEnvironment } from "hardhat/types";

import { locateBinary } from "../offchain/media";
import { ACCOUNTS, type EmbeddedChain, ORCHESTRATORS, VERIFIERS, startEmbeddedChain } from "./lib/demo/chain";
import {
  type RunningBroadcaster,
  type RunningOrchestrator,
  startBroadcaster,
  startOrchestrator,
  startPush,
  startVerifier,
} from "./lib/demo/daemons";
import { Monitor, type Snapshot } from "./lib/demo/monitor";
import { type Child, ProcessGroup } from "./lib/demo/processes";
import { EventLines, findStream, lpt, problems, progressLine, summaryLines } from "./lib/demo/progress";
import { getStatusCode, waitUntil } from "./lib/demo/status";
import { readSummary } from "./lib/demo/summary";
import { Terminal } from "./lib/demo/terminal";

const ROOT = path.resolve(__dirname, "..");
/** SIGTERM, then SIGKILL after this: the daemons drain in-flight work first. */
const STOP_GRACE_MS = 15_000;
/** How long the stream may take to show up at the broadcaster after ffmpeg starts pushing. */
const STREAM_START_TIMEOUT_MS = 30_000;
/** After the push: the last segments published, winning tickets redeemed. */
const SETTLE_TIMEOUT_MS = 30_000;
/**
 * With --cheat, after settling: how long the dispute may still take. Opened on the first segment, it needs a seed
 * block, 10 blocks of commits and up to 10 of reveals (~25 s at a block a second), so it is often over by then.
 */
const DISPUTE_TIMEOUT_MS = 90_000;
/** With --cheat, the orchestrator whose transcoder cheats; the other one stays honest. */
const CHEATER = "A";

interface Flags {
  duration: number;
  keepRunning: boolean;
  cheat: boolean;
}

function parseFlags(argv: string[]): Flags {
  const program = new Command("npm run demo --")
    .description(
      "A live stream through Streamflow on one machine: embedded chain, two orchestrators with a transcoder each, " +
        "a broadcaster, and ffmpeg pushing a test stream over RTMP.",
    )
    .option(
      "--duration <seconds>",
      "how long to stream",
      (value: string) => {
        const seconds = Number(value);
        if (!Number.isInteger(seconds) || seconds < 4 || seconds > 3600)
          throw new InvalidArgumentError("--duration must be a whole number of seconds from 4 to 3600.");
        return seconds;
      },
      60,
    )
    .option("--keep-running", "after the summary, keep everything up until Ctrl-C", false)
    .option(
      "--cheat",
      `orchestrator ${CHEATER}'s transcoder returns negated pictures; the broadcaster sends every segment to both ` +
        "orchestrators, checks every result and disputes the cheat; three verifiers vote; the summary shows the " +
        "dispute and the slash (exit code 1 unless the dispute ends in Fault)",
      false,
    )
    .parse(argv);
  return program.opts<Flags>();
}

/** Why the demo stopped early (a daemon died, a deadline passed); printed with the log tail of the process at fault. */
class DemoFailure extends Error {
  constructor(
    message: string,
    readonly child?: Child,
  ) {
    super(message);
  }
}

class Demo {
  readonly terminal = new Terminal();
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "streamflow-demo-"));
  readonly group = new ProcessGroup(path.join(this.dir, "logs"));
  chain?: EmbeddedChain;
  failed = false;
  /** A signal asked the demo to stop (outside --keep-running's wait). */
  interrupted = false;
  private stopping?: Promise<void>;

  constructor(
    readonly hre: HardhatRuntimeEnvironment,
    readonly flags: Flags,
  ) {}

  say(line = ""): void {
    this.terminal.say(line);
  }

  /** Throws if a daemon stopped on its own (the push ending by itself with 0 is its normal end). */
  checkProcesses(): void {
    const dead = this.group.firstDead();
    if (!dead || (dead.name === "ffmpeg-push" && dead.exit?.code === 0)) return;
    throw new DemoFailure(`${dead.name} stopped unexpectedly (${dead.describeExit()})`, dead);
  }

  async run(): Promise<void> {
    const { hre, flags } = this;
    this.say(`Streamflow demo: a ${flags.duration} s live stream on an embedded chain.`);
    if (flags.cheat) {
      this.say(
        `--cheat: orchestrator ${CHEATER} is the cheater: its transcoder returns negated pictures (right size and ` +
          "frame count, wrong content); the other orchestrator is honest. The broadcaster sends every segment to " +
          "both and re-encodes every result to compare; three verifiers judge the dispute it opens.",
      );
    }
    this.say(`logs: ${this.group.logDir} (removed at the end unless the run fails)`);
    const ffmpeg = locateBinary("ffmpeg");
    this.say(`ffmpeg: ${ffmpeg.path} (${ffmpeg.source})\n`);

    this.say("chain: in-process Hardhat network (chain 31337), dev accounts of `hardhat node`");
    const chain = (this.chain = await startEmbeddedChain(
      hre,
      this.dir,
      (line) => this.say(line),
      flags.cheat ? { verifiers: VERIFIERS, blocksFollowClock: true } : {},
    ));
    this.say(
      `  JSON-RPC on ${chain.rpcUrl}, a block every second` +
        (flags.cheat ? " (transactions wait for it, so that block numbers follow the clock)" : "") +
        ", a round every 20 blocks\n",
    );
    const access = { rpcUrl: chain.rpcUrl, deploymentFile: chain.deploymentFile };
    const startBlock = await chain.blockNumber();

    this.say("starting two orchestrators with a transcoder each…");
    const orchestrators = await Promise.all(
      ORCHESTRATORS.map((role) =>
        startOrchestrator(
          this.group,
          ROOT,
          access,
          role,
          path.join(this.dir, `orchestrator-${role.label}`),
          flags.cheat && role.label === CHEATER ? "negate" : undefined,
        ),
      ),
    );
    for (const o of orchestrators) {
      const cheats = flags.cheat && o.label === CHEATER ? " [cheating: its transcoder negates every picture]" : "";
      this.say(`  ${o.label}: ${o.url} at ${o.pricePerPixel} wei per pixel (status: ${o.url}/status)${cheats}`);
    }
    await this.waitForServiceUris(orchestrators);

    if (flags.cheat) {
      this.say("starting three verifiers…");
      const verifiers = await Promise.all(
        VERIFIERS.map((role) =>
          startVerifier(this.group, ROOT, access, role, path.join(this.dir, `verifier-${role.label}`)),
        ),
      );
      for (const v of verifiers) {
        this.say(`  ${v.label}: ${lpt(v.stake, 0)} locked as verifier stake (status: ${v.url}/api/status)`);
      }
    }

    this.say("starting the broadcaster…");
    const broadcaster = await startBroadcaster(
      this.group,
      ROOT,
      access,
      ACCOUNTS.broadcaster,
      path.join(this.dir, "broadcaster"),
      flags.cheat,
    );
    this.say(`  API ${broadcaster.httpUrl}/api/status, RTMP ingest ${broadcaster.rtmpUrl}`);
    if (flags.cheat)
      this.say("  every segment to both orchestrators (--redundancy 2), every result checked (--verify-rate 1)");
    this.say(
      `\nopen ${broadcaster.httpUrl}/ to watch (HLS: ${broadcaster.httpUrl}/stream/${broadcaster.streamId}.m3u8)\n`,
    );

    const labels = new Map(orchestrators.map((o) => [o.url, o.label] as const));
    const monitor = new Monitor(
      hre,
      chain.record,
      broadcaster.httpUrl,
      broadcaster.streamId,
      orchestrators.map((o) => o.url),
      startBlock,
    );
    const rounds = await hre.ethers.getContractAt("RoundsManager", chain.record.contracts.RoundsManager);
    const firstRound = await rounds.currentRound();

    this.say(`pushing a 720p30 test stream over RTMP for ${flags.duration} s…`);
    const push = startPush(this.group, ROOT, ffmpeg.path, broadcaster.publishUrl, flags.duration);
    const pushStarted = Date.now();
    const progress = (snapshot: Snapshot, durationSec = flags.duration) =>
      progressLine({
        elapsedSec: (snapshot.at - pushStarted) / 1000,
        durationSec,
        status: snapshot.broadcaster,
        streamId: broadcaster.streamId,
        labels,
        won: snapshot.won,
        redeemed: snapshot.redeemed,
        dispute: snapshot.dispute,
      });

    const events = new EventLines(broadcaster.streamId, labels);
    let playlistServed = false;
    let last: Snapshot = await monitor.read();
    while (push.running) {
      this.checkProcesses();
      last = await monitor.read();
      for (const line of events.from(last)) this.say(line);
      if (!events.streamSeen && Date.now() - pushStarted > STREAM_START_TIMEOUT_MS) {
        throw new DemoFailure(
          `the stream did not reach the broadcaster within ${STREAM_START_TIMEOUT_MS / 1000} s`,
          broadcaster.child,
        );
      }
      playlistServed ||= await this.playlistServed(broadcaster, last);
      this.terminal.status(progress(last));
      await Promise.race([push.exited, new Promise((resolve) => setTimeout(resolve, 1000))]);
    }
    if (push.exit?.code !== 0) {
      throw new DemoFailure(`the ffmpeg push failed (${push.describeExit()})`, push);
    }
    this.terminal.endStatus(progress(last));
    this.say(`the push ended after ${((Date.now() - pushStarted) / 1000).toFixed(1)} s; settling…`);

    const afterPush = (s: Snapshot) => progress(s, (s.at - pushStarted) / 1000);
    last = await this.settle(monitor, events, broadcaster, afterPush);
    playlistServed ||= await this.playlistServed(broadcaster, last);
    // Before ensureRoundPassed: mining a round's worth of blocks at once would skip the dispute's voting windows.
    if (flags.cheat) last = await this.awaitDispute(monitor, events, afterPush);
    await this.ensureRoundPassed(firstRound, orchestrators);

    const summary = await readSummary(hre, chain, {
      last,
      orchestrators,
      streamId: broadcaster.streamId,
      requestedSec: flags.duration,
      startBlock,
      streamSeen: events.streamSeen,
      playlistServed,
      segments: [...monitor.segments.values()].sort((a, b) => a.seq - b.seq),
      cheater: flags.cheat ? CHEATER : undefined,
    });
    for (const line of summaryLines(summary)) this.say(line);
    this.checkProcesses();
    const broken = problems(summary);
    if (broken.length > 0) {
      this.failed = true;
      this.say(`\nFAILED: ${broken.join("; ")}`);
      this.say(`logs: ${this.group.logDir}`);
    } else if (flags.cheat) {
      this.say(
        `\nOK: the stream was transcoded by the honest orchestrator and paid for in tickets; the cheater ` +
          `${CHEATER} was caught, disputed, found at fault by the verifiers and slashed on chain.`,
      );
    } else {
      this.say("\nOK: the stream was transcoded, paid for in tickets, and the protocol accounted for it on chain.");
    }

    if (flags.keepRunning) {
      this.say(`\neverything keeps running; Ctrl-C to stop.`);
      this.say(`  watch: ${broadcaster.httpUrl}/   chain: ${chain.rpcUrl}`);
      this.say(`  push more: ffmpeg -re -i <file> -c copy -f flv ${broadcaster.publishUrl}`);
      for (const o of orchestrators) this.say(`  orchestrator ${o.label}: ${o.url}/status`);
      await new Promise<void>((resolve) => {
        this.keepRunningEnd = resolve;
        // A daemon dying while we wait is worth saying.
        for (const child of this.group.all.filter((c) => c.running)) {
          child.onExit((c) => c.died && this.say(`${c.name} stopped (${c.describeExit()}): ${c.logFile}`));
        }
      });
      this.say("stopping every process…");
    }
  }

  /** Whether the stream's HLS playlist answers 200, once it has a transcoded segment. */
  private async playlistServed(broadcaster: RunningBroadcaster, snapshot: Snapshot): Promise<boolean> {
    const stream = findStream(snapshot.broadcaster, broadcaster.streamId);
    if (!stream || stream.segmentsOut === 0) return false;
    return (await getStatusCode(`${broadcaster.httpUrl}${stream.playlist}`).catch(() => 0)) === 200;
  }

  /** With --keep-running, what a signal calls to end the run normally. */
  keepRunningEnd?: () => void;

  /** The broadcaster finds orchestrators through the ServiceRegistry: their URIs must be there before it starts. */
  private async waitForServiceUris(orchestrators: RunningOrchestrator[]): Promise<void> {
    const registry = await this.hre.ethers.getContractAt(
      "ServiceRegistry",
      this.chain!.record.contracts.ServiceRegistry,
    );
    const addresses = this.chain!.participants.orchestrators;
    await waitUntil(
      "the orchestrators' service URIs in the ServiceRegistry",
      async () => {
        const uris = await Promise.all(orchestrators.map((o) => registry.getServiceURI(addresses[o.label])));
        return uris.every((uri, i) => uri === orchestrators[i]!.url);
      },
      { timeoutMs: 30_000, check: () => this.checkProcesses() },
    );
  }

  /**
   * Waits (bounded) for the broadcaster to publish or count every segment it received and finish the stream, and
   * for the orchestrators to redeem the winning tickets they hold.
   */
  private async settle(
    monitor: Monitor,
    events: EventLines,
    broadcaster: RunningBroadcaster,
    progress: (snapshot: Snapshot) => string,
  ): Promise<Snapshot> {
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    let last = await monitor.read();
    for (;;) {
      this.checkProcesses();
      for (const line of events.from(last)) this.say(line);
      const totals = last.broadcaster?.totals;
      const stream = findStream(last.broadcaster, broadcaster.streamId);
      const segmentsDone =
        totals !== undefined &&
        totals.segmentsIn === totals.segmentsOut + totals.segmentsLost &&
        stream?.state !== "live";
      // Redeemed, failed and expired tickets are final; only pending and submitted ones are worth waiting for.
      if (segmentsDone && last.outstanding === 0) break;
      if (Date.now() > deadline) {
        const waiting = [
          segmentsDone ? "" : "segments in flight or the stream still live",
          last.outstanding > 0 ? `${last.outstanding} winning ticket(s) not redeemed yet` : "",
        ].filter(Boolean);
        this.terminal.endStatus();
        this.say(`  stopped waiting after ${SETTLE_TIMEOUT_MS / 1000} s: ${waiting.join(", ") || "…"}`);
        return last;
      }
      this.terminal.status(progress(last));
      await new Promise((resolve) => setTimeout(resolve, 1000));
      last = await monitor.read();
    }
    this.terminal.endStatus(progress(last));
    return last;
  }

  /**
   * With --cheat: waits (bounded) for the broadcaster's dispute to be resolved on chain. Nothing to wait for when the
   * broadcaster holds no dispute, or only one it failed to open.
   */
  private async awaitDispute(
    monitor: Monitor,
    events: EventLines,
    progress: (snapshot: Snapshot) => string,
  ): Promise<Snapshot> {
    const deadline = Date.now() + DISPUTE_TIMEOUT_MS;
    let last = await monitor.read();
    for (;;) {
      this.checkProcesses();
      for (const line of events.from(last)) this.say(line);
      if (last.dispute?.phase === "Resolved") break;
      const pending = last.broadcaster?.disputes.some((d) => d.error === null) ?? true;
      if (!pending || Date.now() > deadline) {
        this.terminal.endStatus();
        const where = last.dispute ? `dispute #${last.dispute.id} is in phase ${last.dispute.phase}` : "";
        this.say(
          pending
            ? `  stopped waiting for the dispute after ${DISPUTE_TIMEOUT_MS / 1000} s: ${where || "it was not opened"}`
            : "  the broadcaster holds no dispute to wait for",
        );
        return last;
      }
      this.terminal.status(progress(last));
      await new Promise((resolve) => setTimeout(resolve, 1000));
      last = await monitor.read();
    }
    this.terminal.endStatus(progress(last));
    return last;
  }

  /**
   * Rounds pass every ~20 s on their own and each orchestrator calls reward() once per round. A short run may end
   * inside the round it started in: then mine to the next one, so that the round services show, and wait for both
   * rewards in it (only the honest one's after --cheat: a slashed orchestrator is no longer registered).
   */
  private async ensureRoundPassed(firstRound: bigint, orchestrators: RunningOrchestrator[]): Promise<void> {
    const { hre } = this;
    const chain = this.chain!;
    const rounds = await hre.ethers.getContractAt("RoundsManager", chain.record.contracts.RoundsManager);
    const bonding = await hre.ethers.getContractAt("BondingManager", chain.record.contracts.BondingManager);
    if ((await rounds.currentRound()) === firstRound) {
      await chain.mineToNextRound();
      this.say(`the stream ended in round ${firstRound}: mined to round ${await rounds.currentRound()}`);
    }
    const round = await rounds.currentRound();
    const addresses = chain.participants.orchestrators;
    const registered = await Promise.all(orchestrators.map((o) => bonding.isRegisteredTranscoder(addresses[o.label])));
    const rewarding = orchestrators.filter((_, i) => registered[i]);
    const excluded = orchestrators.filter((_, i) => !registered[i]).map((o) => o.label);
    const who =
      excluded.length === 0
        ? "both orchestrators"
        : `orchestrator ${rewarding.map((o) => o.label).join(", ") || "(none)"} (${excluded.join(", ")}: no longer registered)`;
    await waitUntil(
      `${who} to initialize round ${round} and call reward()`,
      async () => {
        if (!(await rounds.currentRoundInitialized())) return false;
        const done = await Promise.all(
          rewarding.map(async (o) => (await bonding.getTranscoder(addresses[o.label])).lastRewardRound >= round),
        );
        return done.every(Boolean);
      },
      { timeoutMs: 30_000, intervalMs: 500, check: () => this.checkProcesses() },
    );
    this.say(`round ${round}: initialized, and ${who} called reward()`);
  }

  /** Stops every process, the chain's server, and removes the temporary files (kept after a failure, for the logs). */
  stop(): Promise<void> {
    return (this.stopping ??= (async () => {
      this.terminal.endStatus();
      const leftovers = await this.group.stopAll(STOP_GRACE_MS);
      for (const name of leftovers) this.say(`warning: ${name} left processes behind; they were killed`);
      await this.chain?.stop();
      if (this.failed) this.say(`logs and data kept in ${this.dir}`);
      else fs.rmSync(this.dir, { recursive: true, force: true });
    })());
  }
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv);
  // Loaded after the flags, so that --help is instant.
  const hre = (await import("hardhat")).default;
  const demo = new Demo(hre, flags);

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      demo.group.killAll();
      process.exit(1);
    }
    if (demo.keepRunningEnd) {
      demo.keepRunningEnd();
      return;
    }
    demo.interrupted = true;
    demo.terminal.endStatus();
    demo.say(`${signal}: stopping every process…`);
    void demo.stop().then(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  let code = 0;
  try {
    await demo.run();
    if (demo.failed) code = 1;
  } catch (error) {
    if (demo.interrupted) return; // the signal handler finishes; what broke was the stopping
    code = 1;
    demo.failed = true;
    demo.terminal.endStatus();
    demo.say(`\nFAILED: ${error instanceof Error ? error.message : String(error)}`);
    const child = error instanceof DemoFailure ? error.child : demo.group.firstDead();
    if (child) demo.say(`last lines of ${child.logFile}:\n${child.tail()}`);
  }
  if (demo.interrupted) return; // the signal handler finishes
  await demo.stop();
  process.exit(code);
}

void main();
