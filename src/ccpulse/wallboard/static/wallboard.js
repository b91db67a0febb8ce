// The ccpulse wallboard page: tiles from the server's Server-Sent Events, no build step, no dependencies.
// The server decides figures and colours; the page only renders them and judges staleness by the clock.
"use strict";

const params = new URLSearchParams(window.location.search);
const tiles = new Map(); // queue -> {data, element}
let config = { stale_after_s: 120, heartbeat_s: 5 };
let clockOffsetMs = 0; // server clock minus this screen's clock: staleness is judged on the server's time
let lastMessageMs = 0; // this screen's clock
let lastRowMs = null; // server clock: when the server last received any KPI row
let source = null;

function serverNow() {
  return Date.now() + clockOffsetMs;
}

function percent(ratio) {
  return ratio === null || ratio === undefined ? "–" : `${Math.round(ratio * 1000) / 10}%`;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole} s`;
  const minutes = Math.floor(whole / 60);
  return `${minutes}:${String(whole % 60).padStart(2, "0")}`;
}

function count(value) {
  return value === null || value === undefined ? "–" : String(value);
}

function signed(value) {
  if (value === null || value === undefined) return "–";
  return value > 0 ? `+${value}` : String(value);
}

function clockTime(iso) {
  return iso ? new Date(iso).toISOString().slice(11, 16) : "";
}

function setFigure(element, name, text, colour) {
  const figure = element.querySelector(`[data-figure="${name}"]`);
  const target = figure.querySelector(".value") || figure;
  target.textContent = text;
  figure.dataset.colour = colour || "none";
}

function render(data) {
  let entry = tiles.get(data.queue);
  if (!entry) {
    const element = document.getElementById("tile-template").content.firstElementChild.cloneNode(true);
    element.dataset.queue = data.queue;
    element.querySelector(".queue").textContent = data.queue;
    entry = { element };
    tiles.set(data.queue, entry);
    const container = document.getElementById("tiles");
    const after = [...tiles.keys()].sort().find((queue) => queue > data.queue);
    container.insertBefore(element, after ? tiles.get(after).element : null);
  }
  entry.data = data;
  const element = entry.element;
  element.dataset.status = data.status;
  const now = data.now;
  setFigure(element, "waiting", count(now.waiting), now.colours.waiting);
  setFigure(element, "oldest-wait", now.as_of ? duration(now.oldest_wait_s || 0) : "–", now.colours.oldest_wait);
  setFigure(element, "staffing-gap", signed(now.staffing_gap), now.colours.staffing_gap);
  element.querySelector(".sl-heading").textContent = `SL ${data.threshold_s} s`;
  element.querySelector(".target").textContent =
    `target ${percent(data.target_ratio)} within ${data.threshold_s} s · ${data.formula} · channel ${data.channel}`;
  for (const period of ["interval", "today"]) {
    const figures = data[period];
    setFigure(element, `${period}-sl`, percent(figures.sl), figures.colours.sl);
    setFigure(element, `${period}-asa`, duration(figures.asa_s), figures.colours.asa);
    setFigure(element, `${period}-abandonment`, percent(figures.abandonment_ratio), figures.colours.abandonment);
    setFigure(element, `${period}-aht`, duration(figures.aht_s), "none");
    setFigure(element, `${period}-offered`, count(figures.offered), "none");
  }
  element.querySelector(".since").textContent = data.interval.window_start ? clockTime(data.interval.window_start) : "";
  const agents = now.agents || {};
  for (const state of ["available", "busy", "acw", "away"]) {
    const span = element.querySelector(`[data-state="${state}"]`);
    span.innerHTML = "";
    const number = document.createElement("b");
    number.textContent = count(agents[state] ?? (now.agents ? 0 : null));
    span.append(number, ` ${state === "acw" ? "ACW" : state}`);
  }
  refreshStaleness();
}

function refreshStaleness() {
  const limitMs = config.stale_after_s * 1000;
  const now = serverNow();
  for (const { element, data } of tiles.values()) {
    const stale = !data.updated_ms || now - data.updated_ms > limitMs;
    element.classList.toggle("stale", stale);
    element.dataset.stale = String(stale);
    const updated = data.updated_ms ? new Date(data.updated_ms).toLocaleTimeString() : "never";
    element.querySelector(".updated").textContent = `updated ${updated}`;
  }
  const banner = document.getElementById("banner");
  const silentMs = Date.now() - lastMessageMs;
  let state = "live";
  let text = "";
  if (!source || source.readyState !== EventSource.OPEN || silentMs > 3 * config.heartbeat_s * 1000) {
    state = lastMessageMs ? "offline" : "connecting";
    text = lastMessageMs ? "connection to the wallboard server lost: figures are frozen" : "connecting…";
  } else if (lastRowMs === null || now - lastRowMs > limitMs) {
    state = "stale";
    text = lastRowMs === null
      ? "data stale: no KPI rows received yet (is a worker running?)"
      : `data stale: no KPI update for ${duration((now - lastRowMs) / 1000)}`;
  }
  banner.dataset.state = state;
  banner.textContent = text;
}

function heard(message) {
  lastMessageMs = Date.now();
  if (message.server_ms) clockOffsetMs = message.server_ms - Date.now();
  if ("last_row_ms" in message) lastRowMs = message.last_row_ms;
}

function connect() {
  const query = new URLSearchParams();
  for (const name of ["queues", "threshold", "formula"]) {
    if (params.get(name)) query.set(name, params.get(name));
  }
  source = new EventSource(`events?${query}`);
  source.addEventListener("hello", (event) => {
    config = JSON.parse(event.data);
    heard(config);
    document.getElementById("title").textContent = config.title;
    document.title = config.title;
    const queues = config.queues.length ? `queues ${config.queues.join(", ")}` : "all queues";
    const threshold = config.threshold_s ? `${config.threshold_s} s` : "each queue's target threshold";
    document.getElementById("legend").textContent =
      `${queues} · channel ${config.channel} · SL within ${threshold}, formula ${config.formula}`;
  });
  source.addEventListener("tiles", (event) => {
    const message = JSON.parse(event.data);
    heard(message);
    message.tiles.forEach(render);
    refreshStaleness();
  });
  source.addEventListener("heartbeat", (event) => {
    heard(JSON.parse(event.data));
    refreshStaleness();
  });
  source.onerror = () => refreshStaleness(); // EventSource reconnects by itself
}

setInterval(() => {
  document.getElementById("clock").textContent = new Date().toLocaleTimeString();
  refreshStaleness();
}, 1000);
connect();
