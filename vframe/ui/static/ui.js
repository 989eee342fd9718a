// vframe's page: a few lines over the service's own URLs. No framework, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { source: null, key: null, duration: 0, fps: 0, portrait: false, cues: [], sequence: 0, previewSequence: 0, timer: 0, dragging: false };
const PAGE = 50;

function encodeKey(key) { return key.split("/").map(encodeURIComponent).join("/"); }
function seconds(value) {  // 3 decimals at most, rounded up: the offset that shows the frame at `value`
  const ms = Math.max(0, Math.ceil(Number(value) * 1000 - 1e-6));
  return (ms / 1000).toFixed(3).replace(/\.?0+$/, "") || "0";
}
function show(element, text) { element.textContent = text; element.hidden = !text; }

async function api(path) {
  const response = await fetch(path);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

// The URL of `spec` on the chosen video (the video itself when empty), signed when signing is on.
async function urlOf(spec) {
  const target = "/" + encodeKey(state.key) + (spec ? "?" + spec : "");
  if (!state.source.signing) return new URL(target, location.href).href;
  return (await api("/-/ui/api/sign?target=" + encodeURIComponent(target))).url;
}

async function fetchImage(url) {
  const started = performance.now();
  const response = await fetch(url);
  const blob = await response.blob();
  const ms = performance.now() - started;
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try { message = JSON.parse(await blob.text()).error || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return { blob, ms, time: response.headers.get("X-Vframe-Time") };
}

function place(img, blob) {
  return new Promise((resolve, reject) => {
    const old = img.src;
    img.onload = () => { if (old.startsWith("blob:")) URL.revokeObjectURL(old); resolve(); };
    img.onerror = () => reject(new Error("the browser could not show this image"));
    img.src = URL.createObjectURL(blob);
  });
}

// -- the listing ----------------------------------------------------------------------------------

async function loadVideos(after) {
  const page = await api(`/-/ui/api/videos?limit=${PAGE}&after=${encodeURIComponent(after || "")}`);
  const list = $("videos");
  for (const video of page.videos) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "video";
    button.dataset.key = video.key;
    button.textContent = video.key;
    const size = document.createElement("span");
    size.className = "size";
    size.textContent = ` ${(video.size / 1e6).toFixed(1)} MB`;
    button.append(size);
    button.addEventListener("click", () => choose(video.key));
    item.append(button);
    list.append(item);
  }
  const more = $("more");
  more.hidden = !page.next;
  more.onclick = () => loadVideos(page.next).catch((error) => show($("library-error"), error.message));
  if (!list.children.length) show($("library-error"), "No videos here.");
}

// -- a chosen video -------------------------------------------------------------------------------

async function choose(key) {
  state.key = key;
  for (const button of document.querySelectorAll("button.video")) {
    button.setAttribute("aria-pressed", String(button.dataset.key === key));
  }
  $("video-name").textContent = key;
  $("viewer").hidden = false;
  $("builder").hidden = false;
  show($("probe-error"), "");
  $("player").src = await urlOf("");
  state.cues = [];
  const probing = probe(key);
  poster().catch((error) => { $("poster-time").textContent = error.message; });
  await probing;
  preview(0).catch((error) => { $("preview-frames").textContent = error.message; });
  storyboard().catch((error) => show($("probe-error"), "Storyboard: " + error.message));
  refresh(0);
}

async function probe(key) {
  const facts = $("facts");
  facts.textContent = "";
  let body;
  try {
    body = await api("/-/ui/api/probe?key=" + encodeURIComponent(key));
  } catch (error) {
    show($("probe-error"), error.message);
    return;
  }
  state.duration = body.duration || 0;
  state.fps = body.frame_rate || 0;
  state.portrait = body.display_height > body.display_width;
  const colour = body.color || {};
  const rows = [
    ["Container", body.container], ["Codec", `${body.codec}${body.profile ? " (" + body.profile + ")" : ""}`],
    ["Coded size", `${body.coded_width}×${body.coded_height}`],
    ["Display size", `${body.display_width}×${body.display_height}`],
    ["Sample aspect", body.sample_aspect], ["Rotation", `${body.rotation}°`],
    ["Pixel format", body.pixel_format],
    ["Colour", [colour.matrix, colour.range, colour.transfer, colour.primaries].map((v) => v || "unspecified").join(", ")],
    ["Duration", body.duration != null ? `${body.duration} s` : "unknown"],
    ["Frame rate", body.frame_rate != null ? `${body.frame_rate} fps` : "unknown"],
  ];
  for (const [name, value] of rows) {
    const term = document.createElement("dt");
    term.textContent = name;
    const detail = document.createElement("dd");
    detail.textContent = value == null ? "–" : String(value);
    detail.dataset.fact = name;
    facts.append(term, detail);
  }
  const slider = $("offset-slider");
  slider.max = String(state.duration || 0);
  slider.step = state.fps ? String(1 / state.fps) : "0.1";
}

// 3 s from `from`, 10 frames a second, 320 wide (the longer side 320 for a portrait video).
async function preview(from) {
  const sequence = ++state.previewSequence;
  const start = seconds(Math.min(Number(from), Math.max(0, state.duration - 0.1)));
  const spec = `vpreview/${$("preview-format").value}/ss/${start}/t/3/${state.portrait ? "h" : "w"}/320`;
  $("preview-frames").textContent = "…";
  $("preview-from").textContent = start;
  const url = await urlOf(spec);
  const started = performance.now();
  const response = await fetch(url);
  const blob = await response.blob();
  if (sequence !== state.previewSequence) return;
  if (!response.ok) { $("preview-frames").textContent = `no (${response.status})`; return; }
  await place($("preview"), blob);
  $("preview").dataset.url = url;
  $("preview").title = `${blob.size} bytes in ${Math.round(performance.now() - started)} ms`;
  $("preview-frames").textContent = response.headers.get("X-Vframe-Frames");
}

async function poster() {
  $("poster-time").textContent = "…";
  const image = await fetchImage(await urlOf("vframe/jpg/offset/auto/w/320"));
  await place($("poster"), image.blob);
  $("poster-time").textContent = image.time;
}

// -- the storyboard: a WebVTT file whose cues name a sprite sheet and a tile (#xywh=x,y,w,h) -------

function parseTime(text) {
  const parts = text.trim().split(":").map(Number);
  return parts.reduce((total, part) => total * 60 + part, 0);
}

// 30 tiles over the video, 256 pixels on their longer side (a portrait video's tiles are 256 tall).
function storyboardSpec() {
  return `vsample/vtt/frames/30/s/${state.portrait ? "x256" : "256x"}`;
}

async function storyboard() {
  const vtt = await urlOf(storyboardSpec());
  const response = await fetch(vtt);
  if (!response.ok) throw new Error((await response.json()).error);
  const text = await response.text();
  const cues = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const lines = block.split(/\r?\n/).filter((line) => line.trim());
    const timing = lines.findIndex((line) => line.includes("-->"));
    if (timing < 0 || !lines[timing + 1]) continue;
    const [start, end] = lines[timing].split("-->").map(parseTime);
    const [sheet, fragment] = lines[timing + 1].trim().split("#xywh=");
    const [x, y, w, h] = fragment.split(",").map(Number);
    cues.push({ start, end, url: new URL(sheet, vtt).href, x, y, w, h });
  }
  state.cues = cues;
  for (const url of new Set(cues.map((cue) => cue.url))) new Image().src = url;  // fetch the sheets now
}

function scrub(time) {
  const preview = $("scrub");
  const cue = state.cues.find((c) => time >= c.start && time < c.end) || state.cues[state.cues.length - 1];
  if (!cue) { preview.hidden = true; return; }
  const tile = $("scrub-tile");
  tile.style.width = cue.w + "px";
  tile.style.height = cue.h + "px";
  tile.style.backgroundImage = `url("${cue.url}")`;
  tile.style.backgroundPosition = `-${cue.x}px -${cue.y}px`;
  Object.assign(preview.dataset, { time: String(time), start: String(cue.start), end: String(cue.end),
                                   x: String(cue.x), y: String(cue.y), w: String(cue.w), h: String(cue.h) });
  $("scrub-time").textContent = `${time.toFixed(2)} s`;
  preview.hidden = false;
}

function setupTimeline() {
  const timeline = $("timeline");
  const at = (event) => {
    const box = timeline.getBoundingClientRect();
    return Math.min(1, Math.max(0, (event.clientX - box.left) / box.width)) * state.duration;
  };
  timeline.addEventListener("mousemove", (event) => {
    scrub(at(event));
    const half = $("scrub").offsetWidth / 2;  // the whole tile stays over the timeline
    const x = event.clientX - timeline.getBoundingClientRect().left;
    $("scrub").style.left = `${Math.max(half, Math.min(x, timeline.clientWidth - half))}px`;
  });
  timeline.addEventListener("mouseleave", () => { $("scrub").hidden = true; });
  timeline.addEventListener("click", (event) => { $("player").currentTime = at(event); });
}

// -- the spec builder -------------------------------------------------------------------------------

function spec() {
  const value = (id) => $(id).value.trim();
  let text = `vframe/${value("format")}/offset/${seconds(value("offset") || 0)}`;
  if (value("w")) text += `/w/${value("w")}`;
  if (value("h")) text += `/h/${value("h")}`;
  if (value("rotate") !== "auto") text += `/rotate/${value("rotate")}`;
  if (value("mode") !== "exact") text += `/mode/${value("mode")}`;
  if (value("fit") !== "stretch") text += `/fit/${value("fit")}`;
  const color = value("color").replace("#", "").toLowerCase();
  if (value("fit") === "pad" && color !== "000000") text += `/color/${color}`;
  return text;
}

function refresh(delay = 250) {
  clearTimeout(state.timer);
  state.timer = setTimeout(() => { makeFrame().catch(() => {}); }, delay);
}

async function makeFrame() {
  const sequence = ++state.sequence;
  const img = $("frame");
  img.dataset.state = "loading";
  const url = await urlOf(spec());
  if (sequence !== state.sequence) return;
  $("frame-url").value = url;
  $("signed-note").hidden = !state.source.signing;
  try {
    const image = await fetchImage(url);
    if (sequence !== state.sequence) return;
    await place(img, image.blob);
    if (sequence !== state.sequence) return;
    show($("frame-error"), "");
    $("frame-time").textContent = image.time;
    $("frame-size").textContent = `${img.naturalWidth}×${img.naturalHeight}`;
    $("frame-bytes").textContent = String(image.blob.size);
    $("frame-ms").textContent = `${Math.round(image.ms)} ms`;
    img.blob = image.blob;  // the bytes shown, for whoever inspects the page
    img.dataset.url = url;
    img.dataset.state = "loaded";
  } catch (error) {
    if (sequence !== state.sequence) return;
    show($("frame-error"), error.message);
    img.dataset.url = url;
    img.dataset.state = "failed";
  }
}

function setupBuilder() {
  const slider = $("offset-slider");
  const offset = $("offset");
  const player = $("player");
  slider.addEventListener("input", () => {
    offset.value = seconds(slider.value);
    scrub(Number(slider.value));
    if (Number.isFinite(player.duration)) player.currentTime = Number(slider.value);
    refresh();
  });
  slider.addEventListener("pointerdown", () => { state.dragging = true; });
  slider.addEventListener("pointerup", () => { state.dragging = false; });
  slider.addEventListener("blur", () => { $("scrub").hidden = true; });
  offset.addEventListener("change", () => {
    slider.value = offset.value;
    if (Number.isFinite(player.duration)) player.currentTime = Number(offset.value);
    refresh(0);
  });
  for (const id of ["format", "w", "h", "rotate", "mode", "color"]) $(id).addEventListener("change", () => refresh(0));
  $("fit").addEventListener("change", () => { $("color").disabled = $("fit").value !== "pad"; refresh(0); });
  $("preview-here").addEventListener("click", () => preview($("offset").value || 0));
  $("preview-format").addEventListener("change", () => preview($("preview-from").textContent));
  $("spec").addEventListener("submit", (event) => { event.preventDefault(); refresh(0); });
  player.addEventListener("timeupdate", () => {
    if (state.dragging || document.activeElement === slider) return;
    slider.value = String(player.currentTime);
    offset.value = seconds(player.currentTime);
  });
  player.addEventListener("pause", () => refresh(0));
  player.addEventListener("seeked", () => { if (document.activeElement !== slider) refresh(); });
  $("copy").addEventListener("click", async () => {
    const field = $("frame-url");
    try {
      await navigator.clipboard.writeText(field.value);
    } catch (_) {
      field.select();
      document.execCommand("copy");
    }
    $("copy-status").textContent = "Copied.";
    setTimeout(() => { $("copy-status").textContent = ""; }, 2000);
  });
}

async function start() {
  setupTimeline();
  setupBuilder();
  try {
    state.source = await api("/-/ui/api/source");
  } catch (error) {
    $("source-info").textContent = error.message;
    return;
  }
  const kinds = { folder: "a folder on the server", s3: "an S3 bucket", origin: "an HTTP origin" };
  $("source-info").textContent = `Serving ${kinds[state.source.kind]}` +
    (state.source.signing ? "; signing is on: the page's URLs are signed by the server, for this machine only." : ".");
  if (state.source.listable) {
    await loadVideos("").catch((error) => show($("library-error"), error.message));
  } else {
    $("key-form").hidden = false;
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      choose($("key-input").value.trim().replace(/^\/+/, ""));
    });
  }
  document.body.dataset.ready = "true";
}

start();
