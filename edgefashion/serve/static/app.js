// edgefashion kiosk page: model info, live camera labels (polled), photo upload.
"use strict";

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// Fill `box` with a Prediction JSON: category, top-k with bars, attributes by group.
function renderPrediction(box, pred) {
  box.replaceChildren();
  if (!pred || !pred.category) {
    box.append(el("p", { class: "muted" }, pred && pred.error ? pred.error.message : "no result yet"));
    return;
  }
  const c = pred.category;
  box.append(el("div", { class: "category", "data-label": c.label },
                `${c.label} ${(100 * c.score).toFixed(0)}%`));
  const top = el("ul", { class: "top" });
  for (const [name, p] of c.top) {
    const li = el("li", { class: "top-item" });
    const bar = el("span", { class: "bar" });
    bar.style.width = `${Math.max(1, 100 * p).toFixed(0)}%`;
    li.append(el("span", { class: "name" }, name), bar, el("span", {}, `${(100 * p).toFixed(0)}%`));
    top.append(li);
  }
  box.append(top);
  const dl = el("dl", { class: "attributes" });
  let any = false;
  const answers = pred.groups || {};  // exclusive groups: [value, score]
  for (const [group, names] of Object.entries(pred.attributes || {})) {
    const answer = answers[group];
    if (!names.length && !answer) continue;
    any = true;
    dl.append(el("dt", {}, group));
    const dd = el("dd");
    if (answer) {
      dd.append(el("span", { class: "chip attribute" }, `${answer[0]} ${(100 * answer[1]).toFixed(0)}%`));
    } else {
      for (const n of names) dd.append(el("span", { class: "chip attribute" }, n));
    }
    dl.append(dd);
  }
  if (!any) dl.append(el("dd", { class: "muted" }, "no attributes above their thresholds"));
  box.append(dl);
}

function showError(message) {
  const e = document.getElementById("error");
  e.textContent = message || "";
  e.hidden = !message;
}

async function upload(file) {
  showError("");
  const result = document.getElementById("result");
  result.replaceChildren(el("p", { class: "muted" }, "analysing…"));
  const form = new FormData();
  form.append("file", file, file.name);
  let answer;
  try {
    const r = await fetch("/predict?overlay=true", { method: "POST", body: form });
    answer = await r.json();
    if (!r.ok) throw new Error(answer.error ? answer.error.message : `HTTP ${r.status}`);
  } catch (err) {
    result.replaceChildren();
    showError(String(err.message || err));
    return;
  }
  renderPrediction(result, answer);
  const img = document.getElementById("result-img");
  if (answer.overlay) { img.src = answer.overlay; img.hidden = false; }
}

async function pollLive() {
  try {
    const r = await fetch("/live.json", { cache: "no-store" });
    const d = await r.json();
    renderPrediction(document.getElementById("live-result"), d.prediction);
    const s = d.stats;
    document.getElementById("live-status").textContent = d.error ? `camera: ${d.error}` :
      s ? `${s.fps} fps, latency p50 ${s.latency_p50_ms} ms, ${s.frames_dropped} dropped` : "";
  } catch (err) { /* the next poll retries */ }
  setTimeout(pollLive, 400);
}

async function init() {
  const form = document.getElementById("upload-form");
  const input = document.getElementById("file");
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (input.files.length) upload(input.files[0]);
  });
  input.addEventListener("change", () => { if (input.files.length) upload(input.files[0]); });
  try {
    const h = await (await fetch("/health")).json();
    const m = h.model;
    document.getElementById("model").textContent =
      `${m.model || "model"} · ${m.backend} on ${m.device} · ${m.num_categories} categories, ` +
      `${m.num_attributes} attributes`;
    if (h.live) {
      document.getElementById("live").hidden = false;
      document.getElementById("live-img").src = "/stream.mjpg";
      pollLive();
    }
  } catch (err) {
    document.getElementById("model").textContent = "service not reachable";
  }
  document.body.dataset.ready = "1";
}

init();
