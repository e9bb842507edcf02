// The page of `atman serve`: every user text reaches the page through
// textContent or an attribute, never as markup.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { token: sessionStorage.getItem("atman-token") || "", image: null, imageB64: null,
                results: {}, current: null, abort: null, dragStart: null, rect: null };

function headers(json) {
  const h = json ? { "Content-Type": "application/json" } : {};
  if (state.token) h["Authorization"] = "Bearer " + state.token;
  return h;
}

function status(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

async function api(path, body) {
  const res = await fetch(path, body === undefined ? { headers: headers(false) }
                                                   : { method: "POST", headers: headers(true), body: JSON.stringify(body) });
  const data = await res.json().catch(() => ({ error: "the reply is not JSON (" + res.status + ")" }));
  if (res.status === 401) $("token-box").hidden = false;
  if (!res.ok) throw new Error(data.error || ("HTTP " + res.status));
  return data;
}

async function loadModels() {
  try {
    const data = await api("/v1/models");
    const select = $("model");
    select.replaceChildren();
    for (const m of data.models) {
      const option = document.createElement("option");
      option.value = m.name;
      option.textContent = m.name + (m.image ? " (image-text)" : " (text)");
      option.dataset.image = m.image ? "1" : "";
      select.appendChild(option);
    }
    status("");
  } catch (e) {
    status(e.message, true);
  }
}

function readImage(file) {
  const reader = new FileReader();
  reader.onload = () => {
    const url = reader.result;
    state.imageB64 = url.substring(url.indexOf(",") + 1);
    const img = new Image();
    img.onload = () => { state.image = img; drawPicture(); };
    img.src = url;
  };
  reader.readAsDataURL(file);
}

function requestBase() {
  const body = { model: $("model").value, question: $("question").value };
  if (state.imageB64) body.image = state.imageB64;
  return body;
}

async function answer() {
  status("answering...");
  try {
    const data = await api("/v1/answer", requestBase());
    $("target").value = " " + data.answer;
    status("answer: " + data.answer);
  } catch (e) {
    status(e.message, true);
  }
}

// Server-sent events from a POST: read the stream and split it into events.
async function* events(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.substring(0, end);
      buffer = buffer.substring(end + 2);
      let event = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.substring(7);
        else if (line.startsWith("data: ")) data += line.substring(6);
      }
      yield { event, data: JSON.parse(data) };
    }
  }
}

async function explain() {
  const body = requestBase();
  body.target = $("target").value;
  body.method = $("method").value;
  body.granularity = $("granularity").value;
  body.image_granularity = $("image-granularity").value;
  if ($("contrast").value) body.contrast = $("contrast").value;
  if ($("threshold").value) body.conceptual_threshold = $("threshold").value;
  if (body.method !== "atman") delete body.conceptual_threshold;
  body.stream = true;
  state.abort = new AbortController();
  $("cancel").disabled = false;
  $("explain").disabled = true;
  $("progress").value = 0;
  status("explaining...");
  try {
    const res = await fetch("/v1/explain", { method: "POST", headers: headers(true), body: JSON.stringify(body),
                                             signal: state.abort.signal });
    if (!res.ok) {
      const data = await res.json().catch(() => ({}));
      if (res.status === 401) $("token-box").hidden = false;
      throw new Error(data.error || ("HTTP " + res.status));
    }
    for await (const ev of events(res)) {
      if (ev.event === "progress") {
        $("progress").max = ev.data.passes_total;
        $("progress").value = ev.data.passes_done;
        $("progress-text").textContent = ev.data.passes_done + " / " + ev.data.passes_total + " passes";
      } else if (ev.event === "result") {
        showResult(ev.data);
        status("done: " + ev.data.stats.forward_passes + " passes in " + ev.data.stats.sweep_seconds.toFixed(2) + " s");
      } else if (ev.event === "error") {
        throw new Error(ev.data.error);
      }
    }
  } catch (e) {
    status(e.name === "AbortError" ? "cancelled" : e.message, e.name !== "AbortError");
  } finally {
    $("cancel").disabled = true;
    $("explain").disabled = false;
    state.abort = null;
  }
}

function showResult(doc) {
  state.results[doc.method] = doc;
  state.current = doc;
  const methods = $("method-choice");
  methods.replaceChildren();
  for (const name of Object.keys(state.results)) {
    const option = document.createElement("option");
    option.textContent = name;
    option.selected = name === doc.method;
    methods.appendChild(option);
  }
  const maps = $("map-choice");
  maps.replaceChildren();
  const all = document.createElement("option");
  all.value = "-1";
  all.textContent = "whole target";
  maps.appendChild(all);
  doc.targets.forEach((t, i) => {
    const option = document.createElement("option");
    option.value = String(i);
    option.textContent = "token " + (i + 1) + ": " + readable(t.piece);
    maps.appendChild(option);
  });
  $("result").hidden = false;
  render();
}

// The values of the chosen map: the whole target's, or one target token's.
function valueOf(position) {
  const t = Number($("map-choice").value);
  return t < 0 ? position.relevance : position.per_target[t];
}

// A vocabulary piece as text: sentencepiece's word mark and byte-level BPE's space as spaces.
function readable(piece) {
  return piece.replace(/\u2581/g, " ").replace(/\u0120/g, " ");
}

function colour(value, scale) {
  const x = scale > 0 ? Math.max(-1, Math.min(1, value / scale)) : 0;
  return x >= 0 ? "rgba(220, 40, 30, " + (0.75 * x).toFixed(3) + ")" : "rgba(40, 90, 220, " + (-0.75 * x).toFixed(3) + ")";
}

function render() {
  const doc = state.current;
  if (!doc) return;
  const positions = doc.positions;
  const scale = Math.max(1e-12, ...positions.map((p) => Math.abs(valueOf(p))));
  drawPicture();
  const words = $("prompt-words");
  words.replaceChildren();
  for (const p of positions) {
    if (p.kind !== "text") continue;
    const span = document.createElement("span");
    span.textContent = readable(p.piece);
    span.style.background = colour(valueOf(p), scale);
    span.title = valueOf(p).toPrecision(6);
    span.dataset.value = String(valueOf(p));
    span.addEventListener("mouseenter", () => { $("hover").textContent = span.textContent + ": " + span.title; });
    words.appendChild(span);
  }
  const body = $("top").tBodies[0];
  body.replaceChildren();
  const ranked = positions.filter((p) => p.kind !== "target")
                          .sort((a, b) => valueOf(b) - valueOf(a)).slice(0, 10);
  ranked.forEach((p, i) => {
    const row = body.insertRow();
    row.insertCell().textContent = String(i + 1);
    row.insertCell().textContent = p.kind === "image" ? "patch " + p.patch.join(",") : readable(p.piece);
    row.insertCell().textContent = valueOf(p).toPrecision(6);
  });
}

// The picture with each image unit's rectangle tinted by its value.
function drawPicture() {
  const canvas = $("picture");
  const img = state.image;
  if (!img) { canvas.width = 0; canvas.height = 0; return; }
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const doc = state.current;
  if (doc && doc.explanations && doc.explanations.length && doc.explanations[0].image) {
    const images = doc.positions.filter((p) => p.kind === "image");
    const rects = doc.explanations[0].image;
    const values = images.map(valueOf);
    const scale = Math.max(1e-12, ...values.map(Math.abs));
    rects.forEach((r, k) => {
      if (k >= values.length) return;
      ctx.fillStyle = colour(values[k], scale);
      ctx.fillRect(r.rect.left * canvas.width, r.rect.top * canvas.height,
                   r.rect.width * canvas.width, r.rect.height * canvas.height);
    });
    canvas.onmousemove = (ev) => {
      const box = canvas.getBoundingClientRect();
      const x = (ev.clientX - box.left) / box.width, y = (ev.clientY - box.top) / box.height;
      const k = rects.findIndex((r) => x >= r.rect.left && x < r.rect.left + r.rect.width &&
                                       y >= r.rect.top && y < r.rect.top + r.rect.height);
      if (k >= 0 && k < values.length) {
        $("hover").textContent = "patch " + images[k].patch.join(",") + ": " + values[k].toPrecision(6);
      }
    };
  }
  if (state.rect) {
    ctx.strokeStyle = "#000";
    ctx.lineWidth = 2;
    ctx.strokeRect(state.rect.x, state.rect.y, state.rect.w, state.rect.h);
  }
}

// A rectangle drawn on the picture becomes an "image:r0,c0,r1,c1" span of the patch grid.
function rectangleSpan() {
  const doc = state.current;
  if (!state.rect || !doc || !doc.image_grid) return null;
  const [rows, cols] = doc.image_grid;
  const canvas = $("picture");
  const c0 = Math.floor(state.rect.x / canvas.width * cols), r0 = Math.floor(state.rect.y / canvas.height * rows);
  const c1 = Math.min(cols - 1, Math.floor((state.rect.x + state.rect.w) / canvas.width * cols));
  const r1 = Math.min(rows - 1, Math.floor((state.rect.y + state.rect.h) / canvas.height * rows));
  return "image:" + r0 + "," + c0 + "," + r1 + "," + c1;
}

function useSelection() {
  const spans = [];
  const text = String(window.getSelection()).trim();
  if (text) spans.push(text);
  const rect = rectangleSpan();
  if (rect) spans.push(rect);
  if (spans.length) $("spans").value = spans.join("; ");
}

async function generate() {
  const body = requestBase();
  const spans = $("spans").value.split(";").map((s) => s.trim()).filter((s) => s);
  body[$("steer-kind").value] = spans;
  const factor = Number($("steer-factor").value);
  body[$("steer-kind").value === "suppress" ? "suppress_factor" : "amplify_factor"] = factor;
  status("generating...");
  try {
    const data = await api("/v1/generate", body);
    $("steered").textContent = data.steered.text;
    $("unsteered").textContent = data.unsteered.text;
    status("");
  } catch (e) {
    status(e.message, true);
  }
}

function canvasPoint(ev) {
  const canvas = $("picture"), box = canvas.getBoundingClientRect();
  return { x: (ev.clientX - box.left) * canvas.width / box.width, y: (ev.clientY - box.top) * canvas.height / box.height };
}

window.addEventListener("DOMContentLoaded", () => {
  $("token-save").addEventListener("click", () => {
    state.token = $("token").value;
    sessionStorage.setItem("atman-token", state.token);
    $("token-box").hidden = true;
    loadModels();
  });
  $("image").addEventListener("change", (ev) => { if (ev.target.files[0]) readImage(ev.target.files[0]); });
  $("answer").addEventListener("click", answer);
  $("explain").addEventListener("click", explain);
  $("cancel").addEventListener("click", () => { if (state.abort) state.abort.abort(); });
  $("map-choice").addEventListener("change", render);
  $("method-choice").addEventListener("change", () => { state.current = state.results[$("method-choice").value]; render(); });
  $("use-selection").addEventListener("click", useSelection);
  $("generate").addEventListener("click", generate);
  const canvas = $("picture");
  canvas.addEventListener("mousedown", (ev) => { state.dragStart = canvasPoint(ev); });
  canvas.addEventListener("mouseup", (ev) => {
    if (!state.dragStart) return;
    const end = canvasPoint(ev), s = state.dragStart;
    state.rect = { x: Math.min(s.x, end.x), y: Math.min(s.y, end.y), w: Math.abs(end.x - s.x), h: Math.abs(end.y - s.y) };
    state.dragStart = null;
    if (state.rect.w < 2 || state.rect.h < 2) state.rect = null;
    drawPicture();
  });
  loadModels();
});
