/* Streamflow broadcaster status page: polls /api/status and renders it. Plain DOM, no framework, no build step.
 * Every string from the daemon goes into the page as text (textContent / text nodes), never as HTML. */
"use strict";

const POLL_MS = 2000;
const MANIFEST_RETRY_MS = 3000;
const MAX_MEDIA_RECOVERIES = 3;
const SEGMENT_ROWS = 10;

/** Stream id → its card: DOM nodes updated on each poll, and the player, made once. */
const cards = new Map();

// ---- helpers ----

const $ = (id) => document.getElementById(id);

/** createElement with attributes and children; strings become text nodes. */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined) node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const dash = (v) => (v === null || v === undefined || v === "" ? "—" : v);
const count = (n) => (typeof n === "number" ? n.toLocaleString("en-US") : "—");
const time = (ms) => (typeof ms === "number" ? new Date(ms).toLocaleString() : "—");

/** A decimal string of base units (wei) as a decimal of whole units, with BigInt so nothing is lost. */
function formatUnits(value, decimals = 18, places = 6) {
  if (value === null || value === undefined) return "—";
  const s = String(value);
  if (!/^\d+$/.test(s)) return s;
  const v = BigInt(s);
  const base = 10n ** BigInt(decimals);
  const whole = v / base;
  const frac = (v % base).toString().padStart(decimals, "0").slice(0, places).replace(/0+$/, "");
  if (whole === 0n && !frac && v > 0n) return "< 0." + "1".padStart(places, "0");
  return whole.toLocaleString("en-US") + (frac ? "." + frac : "");
}

/** An amount in ETH (or LPT), with the exact base units in the title. */
function amount(wei, unit = "ETH") {
  if (wei === null || wei === undefined) return el("span", { class: "muted" }, "—");
  return el("span", { class: "amount", title: `${wei} wei` }, `${formatUnits(wei)} ${unit}`);
}

function shortAddress(a) {
  return typeof a === "string" && /^0x[0-9a-fA-F]{12,}$/.test(a) ? `${a.slice(0, 6)}…${a.slice(-4)}` : dash(a);
}

/** An orchestrator named by address or URL, short, with the full name in the title. */
function orchestratorName(o) {
  if (typeof o !== "string" || !o) return "—";
  if (o.startsWith("0x")) return el("span", { class: "mono", title: o }, shortAddress(o));
  try {
    return el("span", { title: o }, new URL(o).host || o);
  } catch {
    return el("span", { title: o }, o);
  }
}

/** Only http(s) URLs (absolute or relative to this page) become links or player sources. */
function safeUrl(u) {
  if (typeof u !== "string" || !u) return null;
  try {
    const url = new URL(u, location.href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

function row(cells, attrs) {
  return el("tr", attrs, ...cells.map((c) => (c instanceof Node && c.nodeName === "TD" ? c : el("td", {}, c))));
}

const num = (v) => el("td", { class: "num" }, v);

// ---- header, totals, orchestrators, errors: rebuilt from scratch each poll ----

function renderHeader(s) {
  $("address").textContent = dash(s.address);
  $("address").title = s.address || "";
  $("version").textContent = s.version ? `v${s.version}` : "";
  $("chain").textContent = s.chain ? `block ${count(s.chain.block)}, round ${dash(s.chain.round)}` : "no chain";
  $("deposit").replaceChildren(s.ticketFunds ? amount(s.ticketFunds.deposit) : "—");
  $("reserve").replaceChildren(s.ticketFunds ? amount(s.ticketFunds.reserve) : "—");
  $("updated").textContent = new Date().toLocaleTimeString();
}

function renderTotals(t) {
  for (const dd of document.querySelectorAll("[data-total]")) {
    const key = dd.dataset.total;
    const v = t ? t[key] : undefined;
    dd.replaceChildren(key === "ticketsEV" || key === "fees" ? amount(v) : count(v));
  }
}

function renderOrchestrators(list) {
  const rows = list.map((o) => {
    const state = o.state === "suspended" && o.suspendedUntil ? `suspended until ${time(o.suspendedUntil)}` : o.state;
    return row(
      [
        el("span", { class: "mono" }, dash(o.url)),
        el("span", { class: "mono", title: o.address || "" }, shortAddress(o.address)),
        el("span", { class: `badge ${o.state}` }, dash(state)),
        num(dash(o.pricePerPixel)),
        num(o.stake === null || o.stake === undefined ? "—" : formatUnits(o.stake, 18, 2)),
        num(typeof o.latencyScore === "number" ? o.latencyScore.toFixed(2) : "—"),
        num(count(o.segments)),
        num(count(o.failures)),
        num(count(o.verifyFailures)),
      ],
      { "data-url": o.url },
    );
  });
  $("orchestrators").tBodies[0].replaceChildren(...rows);
  $("no-orchestrators").hidden = list.length > 0;
}

function renderErrors(list) {
  const items = [...list]
    .sort((a, b) => (b.at || 0) - (a.at || 0))
    .map((e) =>
      el(
        "li",
        {},
        el("time", {}, time(e.at)),
        e.stream ? el("span", { class: "tag" }, e.stream) : null,
        e.orchestrator ? el("span", { class: "tag" }, orchestratorName(e.orchestrator)) : null,
        el("span", { class: "message" }, dash(e.message)),
      ),
    );
  $("errors").replaceChildren(...items);
  $("no-errors").hidden = items.length > 0;
}

// ---- streams: a card per id, kept across polls so the player keeps playing ----

function createCard(id) {
  const card = { id, ended: false, started: false, hls: null, retry: null };
  card.badge = el("span", { class: "badge" });
  card.video = el("video", { "data-stream": id, "data-state": "loading" });
  Object.assign(card.video, { muted: true, autoplay: true, playsInline: true, controls: true });
  card.note = el("p", { class: "player-note", hidden: "" });
  card.facts = el("dl", { class: "facts" });
  card.segments = el("tbody");
  const head = ["Seq", "Duration", "Orchestrator", "Status", "Attempts", "Latency ms", "Transcode ms"].map((h, i) =>
    el("th", { class: i === 2 || i === 3 ? null : "num" }, h),
  );
  const table = el("table", { class: "segments" }, el("thead", {}, el("tr", {}, head)), card.segments);
  card.segmentsWrap = el("div", { class: "table-wrap" }, table);
  card.root = el(
    "article",
    { class: "stream", "data-stream-id": id },
    el("header", { class: "stream-header" }, el("h3", { class: "stream-id" }, id), card.badge),
    el("div", { class: "stream-body" }, el("div", { class: "player" }, card.video, card.note), card.facts),
    card.segmentsWrap,
  );
  return card;
}

function startPlayer(card, src) {
  const video = card.video;
  const setState = (state, note) => {
    video.dataset.state = state;
    card.note.textContent = note || "";
    card.note.hidden = !note;
  };
  video.addEventListener("playing", () => setState("playing"));
  video.addEventListener("timeupdate", () => {
    if (video.currentTime > 0 && video.dataset.state === "loading") setState("playing");
  });
  if (!src) return setState("error", "No playable playlist URL.");

  if (typeof Hls !== "undefined" && Hls.isSupported()) {
    const hls = new Hls();
    card.hls = hls;
    let parsed = false;
    let mediaRecoveries = 0;
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      parsed = true;
      video.play().catch(() => {});
    });
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (!data.fatal) return;
      const code = data.response && data.response.code;
      const why = `${data.details || data.type}${code ? ` (HTTP ${code})` : ""}`;
      if (data.type === Hls.ErrorTypes.NETWORK_ERROR && !parsed && !card.ended) {
        // The master playlist appears once the first segment is in; startLoad() cannot fetch it again.
        setState("loading", `Waiting for the playlist: ${why}, retrying…`);
        card.retry = setTimeout(() => hls.loadSource(src), MANIFEST_RETRY_MS);
      } else if (data.type === Hls.ErrorTypes.NETWORK_ERROR && parsed) {
        hls.startLoad();
      } else if (data.type === Hls.ErrorTypes.MEDIA_ERROR && mediaRecoveries++ < MAX_MEDIA_RECOVERIES) {
        hls.recoverMediaError();
      } else {
        hls.destroy();
        card.hls = null;
        setState("error", `Playback failed: ${why}`);
      }
    });
    hls.loadSource(src);
    hls.attachMedia(video);
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.addEventListener("loadedmetadata", () => video.play().catch(() => {}));
    video.addEventListener("error", () => setState("error", `Playback failed: ${video.error?.message || "error"}`));
    video.src = src;
  } else {
    setState("error", "This browser cannot play HLS.");
  }
}

function stopPlayer(card) {
  clearTimeout(card.retry);
  if (card.hls) card.hls.destroy();
  card.video.removeAttribute("src");
}

function updateCard(card, s) {
  card.ended = s.state === "ended";
  card.root.classList.toggle("ended", card.ended);
  card.root.dataset.streamState = s.state;
  card.badge.className = `badge ${s.state}`;
  card.badge.textContent = dash(s.state);
  const src = safeUrl(s.playlist);
  const fact = (label, ...value) => el("div", {}, el("dt", {}, label), el("dd", {}, ...value));
  card.facts.replaceChildren(
    fact("Source", dash(s.source)),
    fact("Started", time(s.startedAt)),
    ...(s.endedAt ? [fact("Ended", time(s.endedAt))] : []),
    fact("Segments in / out / failed", `${count(s.segmentsIn)} / ${count(s.segmentsOut)} / ${count(s.segmentsFailed)}`),
    fact("Renditions", Array.isArray(s.renditions) && s.renditions.length ? s.renditions.join(", ") : "—"),
    fact("Playlist", src ? el("a", { href: src, class: "playlist mono" }, s.playlist) : dash(s.playlist)),
  );
  const segments = [...(s.lastSegments || [])].sort((a, b) => b.seq - a.seq).slice(0, SEGMENT_ROWS);
  card.segmentsWrap.hidden = segments.length === 0;
  card.segments.replaceChildren(
    ...segments.map((g) =>
      row(
        [
          num(g.seq),
          num(typeof g.durationMs === "number" ? `${(g.durationMs / 1000).toFixed(2)} s` : "—"),
          orchestratorName(g.orchestrator),
          el("span", { class: `badge ${g.status}` }, dash(g.status)),
          num(count(g.attempts)),
          num(count(g.latencyMs)),
          num(count(g.transcodeMs)),
        ],
        { "data-seq": g.seq },
      ),
    ),
  );
  if (!card.started) {
    card.started = true;
    startPlayer(card, src);
  }
}

function renderStreams(list) {
  const container = $("streams");
  const seen = new Set();
  list.forEach((s, i) => {
    const id = String(s.id);
    seen.add(id);
    let card = cards.get(id);
    if (!card) cards.set(id, (card = createCard(id)));
    // Insert (or move) only when out of place: moving a playing video around needlessly is best avoided.
    if (container.children[i] !== card.root) container.insertBefore(card.root, container.children[i] || null);
    updateCard(card, s);
  });
  for (const [id, card] of cards) {
    if (seen.has(id)) continue;
    stopPlayer(card);
    card.root.remove();
    cards.delete(id);
  }
  $("no-streams").hidden = list.length > 0;
}

function renderDisputes(list) {
  const rows = list.map((d) => {
    const evidence = safeUrl(d.evidence);
    return row(
      [
        num(dash(d.id)),
        orchestratorName(d.orchestrator),
        `${dash(d.stream)} #${dash(d.seq)}`,
        el("span", { class: "badge" }, dash(d.phase)),
        el("span", { class: `badge ${d.outcome === "Fault" ? "suspended" : ""}` }, dash(d.outcome || d.error)),
        el("span", { class: "message" }, Array.isArray(d.reasons) ? d.reasons.join("; ") : "—"),
        evidence ? el("a", { href: evidence, class: "mono" }, "manifest") : "—",
      ],
      { "data-dispute": dash(d.id) },
    );
  });
  $("disputes").tBodies[0].replaceChildren(...rows);
  $("disputes-wrap").hidden = rows.length === 0;
  $("no-disputes").hidden = rows.length > 0;
}

// ---- polling ----

function render(s) {
  renderHeader(s);
  renderTotals(s.totals);
  renderStreams(Array.isArray(s.streams) ? s.streams : []);
  renderOrchestrators(Array.isArray(s.orchestrators) ? s.orchestrators : []);
  renderDisputes(Array.isArray(s.disputes) ? s.disputes : []);
  renderErrors(Array.isArray(s.errors) ? s.errors : []);
}

async function poll() {
  const banner = $("banner");
  try {
    const res = await fetch("/api/status", { cache: "no-store", signal: AbortSignal.timeout(POLL_MS * 2) });
    if (!res.ok) throw new Error(`HTTP ${res.status} ${(await res.text()).slice(0, 200)}`.trim());
    render(await res.json());
    banner.hidden = true;
    document.body.classList.remove("offline");
  } catch (err) {
    banner.textContent = `Daemon unreachable, retrying… (${err && err.message ? err.message : err})`;
    banner.hidden = false;
    document.body.classList.add("offline");
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
