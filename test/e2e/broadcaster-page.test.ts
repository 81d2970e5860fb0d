/**
 * End to end, in a real browser: a `hardhat node` with an active orchestrator (its in-process transcoder) and a
 * funded broadcaster, a `streamflow broadcaster` process pushed segments over HTTP, and its status page opened in
 * headless Chromium (playwright-core, the system's Chromium). The page must show the stream, the broadcaster's
 * address, the totals and the orchestrator, and its hls.js player must play the stream, without page errors.
 *
 * Needs Chromium at /usr/bin/chromium (Debian package `chromium`) or CHROMIUM_PATH; CI installs it.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import { type Browser, type Page, chromium } from "playwright-core";

import { type MediaTools, mediaTools } from "../../offchain/media/binaries";
import { generateTestSegment } from "../../offchain/media/testsrc";
import { type OrchestratorChain, startOrchestratorChain } from "../support/orchestratorChain";
import { type OrchestratorProcess, ProcessGroup, waitUntil } from "../support/orchestratorDaemon";
import { freePort } from "../support/processes";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const STREAM = "page-e2e";
const FIRST_SEGMENTS = 4;

/** What the test reads of the page's <video> (the project compiles without the DOM types). */
interface PlayerElement {
  dataset: Record<string, string | undefined>;
  currentTime: number;
  readyState: number;
  parentElement: { querySelector(selector: string): { textContent: string | null } | null } | null;
}

interface PushAnswer {
  stream: string;
  seq: number;
  status: string;
  transcoded: boolean;
  error?: string;
}

describe("e2e: broadcaster status page in headless Chromium", function () {
  this.timeout(240_000);

  const processes = new ProcessGroup();
  const dirs: string[] = [];
  let tools: MediaTools;
  let chain: OrchestratorChain | undefined;
  let orchestrator: OrchestratorProcess;
  let broadcasterUrl: string;
  let broadcasterAddress: string;
  let browser: Browser | undefined;
  let nextSeq = 0;
  /** Background pushing (for the player's live edge): stopped, and awaited, before anything is torn down. */
  let pusher: { stop: boolean; done: Promise<void> } | undefined;

  const tempDir = (prefix: string) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  };

  /** PUT /live/<id>/<seq>.ts: answers once the segment is published (or given up on). */
  async function push(seq: number): Promise<PushAnswer> {
    const body = await generateTestSegment(tools, { width: 320, height: 180, durationSec: 2, startSec: seq * 2 });
    const response = await fetch(`${broadcasterUrl}/live/${STREAM}/${seq}.ts`, {
      method: "PUT",
      headers: { "content-type": "video/mp2t", "content-duration": "2000" },
      body,
      signal: AbortSignal.timeout(60_000),
    });
    const text = await response.text();
    expect(response.status, `PUT segment ${seq}: ${text}`).to.equal(200);
    return JSON.parse(text) as PushAnswer;
  }

  async function stopPushing(): Promise<void> {
    if (!pusher) return;
    pusher.stop = true;
    await pusher.done;
    pusher = undefined;
  }

  before(async function () {
    this.timeout(300_000);
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium is not installed at ${CHROMIUM}: \`apt-get install chromium\` (CI installs it), ` +
          "or set CHROMIUM_PATH to a Chromium binary.",
      );
    }
    tools = await mediaTools();
    chain = await startOrchestratorChain("bcast-page");
    orchestrator = await processes.startOrchestrator(chain, { dataDir: tempDir("streamflow-page-orch-") });
    const port = await freePort();
    const broadcaster = processes.spawn([
      "broadcaster",
      "--dev-account",
      "2",
      "--rpc-url",
      chain.node.url,
      "--deployment",
      chain.deploymentFile,
      "--orchestrators",
      orchestrator.url,
      "--http-addr",
      `127.0.0.1:${port}`,
      "--rtmp-addr",
      "off",
      "--renditions",
      "240p30",
      "--data-dir",
      tempDir("streamflow-page-bcast-"),
    ]);
    const started = await broadcaster.waitForLog("broadcaster started");
    broadcasterUrl = `http://127.0.0.1:${port}`;
    broadcasterAddress = String(started.address);
    expect(broadcasterAddress).to.equal(chain.broadcaster);
  });

  after(async function () {
    this.timeout(60_000);
    await stopPushing().catch(() => {});
    await browser?.close().catch(() => {});
    await processes.stopAll();
    await chain?.stop();
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed") console.log(processes.output());
  });

  it("shows the stream, the totals and the orchestrator, and plays the stream", async () => {
    for (; nextSeq < FIRST_SEGMENTS; nextSeq++) {
      const answer = await push(nextSeq);
      expect(answer, JSON.stringify(answer)).to.include({
        stream: STREAM,
        seq: nextSeq,
        status: "ok",
        transcoded: true,
      });
    }

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",
      ],
    });
    const page: Page = await browser.newPage();
    const pageErrors: string[] = [];
    const consoleErrors: string[] = [];
    page.on("pageerror", (error) => pageErrors.push(String(error)));
    page.on("console", (message) => {
      // Chromium logs every 4xx/5xx response itself; those are the page's business (it retries), not errors.
      if (message.type() === "error" && !message.text().startsWith("Failed to load resource"))
        consoleErrors.push(message.text());
    });

    const response = await page.goto(`${broadcasterUrl}/`, { waitUntil: "load", timeout: 60_000 });
    expect(response?.status()).to.equal(200);

    const card = page.locator(`article.stream[data-stream-id="${STREAM}"]`);
    await card.waitFor({ state: "attached", timeout: 30_000 });
    expect(await card.locator("h3.stream-id").textContent()).to.equal(STREAM);

    const text = (selector: string) => page.locator(selector).first().textContent();
    await waitUntil(
      "the broadcaster's address on the page",
      async () => (await text("#address")) === broadcasterAddress,
    );
    await waitUntil(
      `${FIRST_SEGMENTS} segments out in the totals`,
      async () => (await text('[data-total="segmentsOut"]')) === String(FIRST_SEGMENTS),
    );
    expect(await text('[data-total="segmentsIn"]')).to.equal(String(FIRST_SEGMENTS));
    expect(await text('[data-total="segmentsLost"]')).to.equal("0");

    const row = page.locator(`#orchestrators tr[data-url="${orchestrator.url}"]`);
    await row.waitFor({ state: "attached", timeout: 30_000 });
    expect(await row.locator("td").first().textContent()).to.equal(orchestrator.url);

    // A live playlist: keep it moving while the player finds its live edge and starts.
    const state: { stop: boolean; done: Promise<void>; error?: Error } = { stop: false, done: Promise.resolve() };
    state.done = (async () => {
      while (!state.stop) await push(nextSeq++);
    })().catch((error: Error) => {
      state.error = error;
    });
    pusher = state;
    const video = page.locator(`video[data-stream="${STREAM}"]`);
    const player = () =>
      video.evaluate((v: PlayerElement) => ({
        state: v.dataset.state,
        currentTime: v.currentTime,
        readyState: v.readyState,
        note: v.parentElement?.querySelector(".player-note")?.textContent ?? null,
      }));
    let seen: Awaited<ReturnType<typeof player>> | undefined;
    try {
      await waitUntil(
        "the player to play",
        async () => {
          if (state.error) return state.error; // stop waiting: a push failed
          seen = await player();
          return seen.state === "playing" && seen.currentTime > 0;
        },
        120_000,
        250,
      );
    } catch (error) {
      throw new Error(
        `${(error as Error).message}; the player: ${JSON.stringify(seen)}; console errors: ` +
          JSON.stringify(consoleErrors),
      );
    }
    await stopPushing();
    if (state.error) throw new Error(`pushing segments ${FIRST_SEGMENTS}+ failed: ${state.error.message}`);
    expect((await player()).currentTime).to.be.above(0);

    expect(pageErrors, "page errors").to.deep.equal([]);
    expect(consoleErrors, "console errors").to.deep.equal([]);
  });
});
