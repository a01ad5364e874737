// whyrec web page: pick a shopper, show recommendations with reasons, evidence and profile; post feedback.
// Plain DOM, no build step. Text from the API is inserted with textContent, never innerHTML.
"use strict";

const $ = (sel) => document.querySelector(sel);
const keyInput = $("#apikey");
keyInput.value = localStorage.getItem("whyrec-key") || "";
keyInput.addEventListener("change", () => localStorage.setItem("whyrec-key", keyInput.value));

async function api(path, options = {}) {
  const headers = Object.assign({ "Accept": "application/json" }, options.headers || {});
  const key = keyInput.value.trim();
  if (key) headers["Authorization"] = "Bearer " + key;
  const resp = await fetch(path, Object.assign({}, options, { headers }));
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const err = new Error(body.detail || body.title || ("HTTP " + resp.status));
    err.status = resp.status;
    throw err;
  }
  return body;
}

const NO_PROFILE = { aspects: [], categories: [], brands: [], price_band: null, recent_items: [] };

function status(text) { $("#status").textContent = text || ""; }

// Split a reason into text and links: every named aspect becomes a link to its evidence entry.
function renderReason(el, text, aspects, evidenceId) {
  el.textContent = "";
  const names = (aspects || []).filter(Boolean).sort((a, b) => b.length - a.length);
  if (!names.length) { el.textContent = text; return; }
  const escaped = names.map((a) => a.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const re = new RegExp("(" + escaped.join("|") + ")", "gi");
  let last = 0;
  for (const m of text.matchAll(re)) {
    el.append(document.createTextNode(text.slice(last, m.index)));
    const a = document.createElement("a");
    a.className = "aspect";
    a.href = "#" + evidenceId + "-" + m[0].toLowerCase().replace(/\W+/g, "-");
    a.textContent = m[0];
    a.title = "aspect of this item: see evidence";
    a.addEventListener("click", (ev) => {
      ev.preventDefault();
      const det = el.closest(".card").querySelector(".evidence");
      det.open = true;
      det.querySelectorAll("li").forEach((li) => li.classList.toggle("target", li.dataset.aspect === m[0].toLowerCase()));
    });
    el.append(a);
    last = m.index + m[0].length;
  }
  el.append(document.createTextNode(text.slice(last)));
}

function card(user, rec, idx) {
  const node = $("#rec-card").content.firstElementChild.cloneNode(true);
  node.dataset.item = rec.item;
  node.querySelector(".title").textContent = rec.title || rec.item;
  node.querySelector(".price").textContent = rec.price != null ? "$" + Number(rec.price).toFixed(2) : "";
  node.querySelector(".category").textContent = rec.category || "";
  node.querySelector(".score").textContent = Number(rec.score).toFixed(3);
  const evId = "ev-" + idx;
  renderReason(node.querySelector(".reason"), rec.reason || "", rec.aspects, evId);
  const because = ((rec.attribution || {}).items || []).map((a) => a.title || a.item);
  const becauseEl = node.querySelector(".because");
  const shared = ((rec.attribution || {}).aspects || []).map((a) => a.aspect);
  becauseEl.textContent = (because.length ? "Because you bought or viewed: " + because.join(", ") : "")
    + (shared.length ? " — which share its " + shared.join(", ") : "");
  becauseEl.title = because.length ? "history items the recommender credits most (" + rec.attribution.method + ")" : "";
  if (rec.feedback === "like") node.classList.add("liked");
  const ul = node.querySelector(".evidence ul");
  const ev = rec.evidence || {};
  for (const a of ev.item_aspects || []) {
    const li = document.createElement("li");
    const name = typeof a === "string" ? a : a.feature;
    li.id = evId + "-" + String(name).toLowerCase().replace(/\W+/g, "-");
    li.dataset.aspect = String(name).toLowerCase();
    li.textContent = "item aspect: " + name + (a.opinion ? " (" + a.opinion + ")" : "");
    ul.append(li);
  }
  for (const h of ev.history_items || []) {
    const li = document.createElement("li");
    li.textContent = "your history: " + (h.title || h.item);
    ul.append(li);
  }
  if ((rec.flags || []).length) {
    const p = document.createElement("p");
    p.className = "flags";
    p.textContent = "filtered: " + rec.flags.join(", ");
    node.append(p);
  }
  node.querySelector(".like").addEventListener("click", () => feedback(user, rec.item, "like", node));
  node.querySelector(".nope").addEventListener("click", () => feedback(user, rec.item, "dismiss", node));
  return node;
}

async function feedback(user, item, kind, node) {
  try {
    await api("/v1/feedback", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user, item, kind }),
    });
    node.classList.add(kind === "like" ? "liked" : "dismissed");
    await show(user);
  } catch (err) {
    status("Feedback not saved: " + err.message);
  }
}

function chart(profile) {
  const rows = (profile.aspects || []).slice(0, 8);
  const host = $("#profile-chart");
  host.textContent = "";
  if (!rows.length) { host.textContent = "No reviewed aspects yet."; return; }
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const h = 24 * rows.length + 8;
  svg.setAttribute("viewBox", `0 0 320 ${h}`);
  const max = Math.max(...rows.map((r) => r.weight)) || 1;
  rows.forEach((r, i) => {
    const y = 4 + i * 24;
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", 0); label.setAttribute("y", y + 15); label.setAttribute("font-size", 12);
    label.textContent = r.feature;
    const bar = document.createElementNS(ns, "rect");
    bar.setAttribute("x", 110); bar.setAttribute("y", y + 3);
    bar.setAttribute("width", Math.max(2, 200 * r.weight / max)); bar.setAttribute("height", 16);
    bar.setAttribute("fill", r.sentiment >= 0 ? "#4c9a5f" : "#c0504d");
    bar.setAttribute("class", "bar");
    const tip = document.createElementNS(ns, "title");
    tip.textContent = `${r.feature}: weight ${r.weight.toFixed(2)}, sentiment ${r.sentiment.toFixed(2)}`;
    bar.append(tip);
    svg.append(label, bar);
  });
  host.append(svg);
}

// History items x recommended items: each cell is the attribution weight the API gave that pair
// (blank: not among the item's top supporters). Columns follow the list's numbering.
function heatmap(recs) {
  const host = $("#heatmap");
  host.textContent = "";
  const rows = new Map();
  recs.forEach((rec, col) => {
    for (const a of ((rec.attribution || {}).items || [])) {
      if (!rows.has(a.item)) rows.set(a.item, { label: a.title || a.item, cells: new Map() });
      rows.get(a.item).cells.set(col, a.weight);
    }
  });
  if (!rows.size) return;
  const weights = [...rows.values()].flatMap((r) => [...r.cells.values()]);
  const max = Math.max(...weights.map(Math.abs)) || 1;
  const method = (recs.find((r) => r.attribution && r.attribution.method !== "none") || {}).attribution.method;
  const table = document.createElement("table");
  table.className = "heatmap";
  const caption = document.createElement("caption");
  caption.textContent = `Why these items: your history × recommendations (${method}; darker = more of the score)`;
  const head = document.createElement("tr");
  head.append(document.createElement("th"));
  recs.forEach((rec, col) => {
    const th = document.createElement("th");
    th.textContent = String(col + 1);
    th.title = rec.title || rec.item;
    head.append(th);
  });
  table.append(caption, head);
  for (const { label, cells } of rows.values()) {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.textContent = label;
    tr.append(th);
    recs.forEach((rec, col) => {
      const td = document.createElement("td");
      if (cells.has(col)) {
        const w = cells.get(col);
        td.style.backgroundColor = `rgba(47, 111, 62, ${(Math.abs(w) / max).toFixed(3)})`;
        td.title = `${label} → ${rec.title || rec.item}: ${w}`;
        td.dataset.weight = w;
      }
      tr.append(td);
    });
    table.append(tr);
  }
  host.append(table);
}

function list(el, items, fmt) {
  el.textContent = "";
  for (const it of items) { const li = document.createElement("li"); li.textContent = fmt(it); el.append(li); }
}

async function show(user) {
  status("");
  const k = $("#k").value;
  try {
    const [recs, profile] = await Promise.all([
      api(`/v1/users/${encodeURIComponent(user)}/recommendations?k=${k}`),
      api(`/v1/users/${encodeURIComponent(user)}/profile`).catch((err) => {
        if (err.status === 404) return NO_PROFILE;  // a new shopper: nothing to profile yet
        throw err;
      }),
    ]);
    $("#fallback").hidden = !recs.fallback;
    const ol = $("#reclist");
    ol.textContent = "";
    recs.items.forEach((rec, i) => ol.append(card(user, rec, i)));
    heatmap(recs.items);
    chart(profile);
    list($("#categories"), profile.categories || [], (c) => `${c.name} (${(100 * c.weight).toFixed(0)}%)`);
    list($("#brands"), (profile.brands || []).slice(0, 5), (b) => `${b.name} (${(100 * b.weight).toFixed(0)}%)`);
    const band = profile.price_band;
    $("#price-band").textContent = band ? `usually $${band.low.toFixed(0)}–$${band.high.toFixed(0)} (median $${band.median.toFixed(0)})` : "no prices yet";
    list($("#recent"), profile.recent_items || [], (r) => `${r.event}: ${r.title || r.item}`);
    history.replaceState(null, "", "?user=" + encodeURIComponent(user));
  } catch (err) {
    status(err.message);
  }
}

$("#pick").addEventListener("submit", (ev) => { ev.preventDefault(); const u = $("#user").value.trim(); if (u) show(u); });

(async () => {
  try {
    const users = await api("/v1/users?limit=50");
    for (const u of users.users) { const o = document.createElement("option"); o.value = u; $("#users").append(o); }
    const wanted = new URLSearchParams(location.search).get("user") || users.users[0];
    if (wanted) { $("#user").value = wanted; show(wanted); }
  } catch (err) {
    status(err.message);
  }
})();
