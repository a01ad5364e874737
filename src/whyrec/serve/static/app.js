// whyrec web page: pick a shopper, show numbered picks with their reasons and evidence, the profile; like or hide a pick.
// Plain DOM, no build step. Text from the API is inserted with textContent, never innerHTML.
// Shoppers see no model scores: weights only shade the heatmap and order the lists.
"use strict";

const $ = (sel) => document.querySelector(sel);
const keyInput = $("#apikey");
// The demo hands a local page a per-run token that may record likes; otherwise a pasted shop key is needed.
const pageToken = (document.querySelector('meta[name="whyrec-page-token"]') || {}).content || "";
$("#keybox").hidden = Boolean(pageToken);
keyInput.value = localStorage.getItem("whyrec-key") || "";
keyInput.addEventListener("change", () => localStorage.setItem("whyrec-key", keyInput.value));

async function api(path, options = {}) {
  const headers = Object.assign({ "Accept": "application/json" }, options.headers || {});
  const key = keyInput.value.trim() || pageToken;
  if (key) headers["Authorization"] = "Bearer " + key;
  let resp;
  try {
    resp = await fetch(path, Object.assign({}, options, { headers }));
  } catch (err) {
    const offline = new Error(err.message);
    offline.status = 0;
    throw offline;
  }
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const err = new Error(body.detail || body.title || ("HTTP " + resp.status));
    err.status = resp.status;
    throw err;
  }
  return body;
}

// What went wrong, in a shopper's words; the API's own message goes in #status's tooltip for whoever runs the shop.
function shopperWords(err, what) {
  if (err.status === 0) return `Couldn't reach the shop to ${what}. Check your connection and try again.`;
  if (err.status === 401 || err.status === 403) {
    return pageToken
      ? `Couldn't ${what}: this page's session has ended. Reload the page and try again.`
      : `Couldn't ${what}: this page may not save likes here. Open "Shop key" above and paste the key the shop printed.`;
  }
  if (err.status === 404) return `Couldn't ${what}: that item is no longer in the shop.`;
  if (err.status === 422) return `Couldn't ${what}: the shop didn't accept that shopper id.`;
  return `Couldn't ${what} just now. Please try again in a moment.`;
}

const NO_PROFILE = { aspects: [], categories: [], brands: [], price_band: null, recent_items: [] };

function status(text, detail) {
  const el = $("#status");
  el.textContent = text || "";
  el.title = detail || "";
}

function slug(text) { return String(text).toLowerCase().replace(/\W+/g, "-"); }

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
    a.href = "#" + evidenceId + "-" + slug(m[0]);
    a.textContent = m[0];
    a.title = "see why we think so";
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

function joinWords(words) {
  if (words.length < 2) return words.join("");
  return words.slice(0, -1).join(", ") + " and " + words[words.length - 1];
}

// "A (shares its fit), B": each past item with only the aspects it shares with this one.
function becauseText(items) {
  return items.map((a) => (a.title || a.item) + ((a.aspects || []).length ? ` (shares its ${joinWords(a.aspects)})` : "")).join("; ");
}

// How one of the shopper's own items backs a reason, said as its evidence kind has it: the shopper's own praise
// ("personal"), or praise of something close ("near"), reviews of an item they reviewed ("history"), a brand they
// reviewed, or shoppers who looked at it as they did. An item with no title goes by when the shopper reviewed it, as
// the reason names it, where the evidence dates it (`reviewed_on`, of the first item only); else by its id.
function historyLine(ev, h, k) {
  const day = !h.title && k === 0 && ev.reviewed_on
    ? new Date(ev.reviewed_on + "T00:00:00Z").toLocaleDateString("en-GB", { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" })
    : null;
  const name = h.title || h.item;
  const review = day ? `your review from ${day}` : `your review of ${name}`;
  const shared = h.aspects || [];
  const praised = ev.hint || (ev.item_aspects || [])[0];
  switch (ev.kind) {
    case "personal":
      return praised ? `You praised the ${praised} in ${review}.` : `You praised it in ${review}.`;
    case "near":
      return `You praised something close to it in ${review}.`;
    case "history":
      if (!shared.length) return day ? `You reviewed an item on ${day}.` : `You reviewed ${name}.`;
      return (day ? `The item you reviewed on ${day}` : `${name}, which you reviewed,`) + ` is praised for its ${joinWords(shared)}.`;
    case "brand":
      return `You reviewed ${name}, from the same brand.`;
    case "co-viewed":  // the reason says how many
      return day ? `Someone who looked at the item you reviewed on ${day} also looked at this one.`
        : `Someone who looked at ${name}, as you did, also looked at this one.`;
    default:
      return `${name}, from your history, shaped this reason.`;
  }
}

function evidenceList(ul, rec, evId) {
  const ev = rec.evidence || {};
  const add = (text, aspect) => {
    const li = document.createElement("li");
    li.textContent = text;
    if (aspect) { li.id = evId + "-" + slug(aspect); li.dataset.aspect = String(aspect).toLowerCase(); }
    ul.append(li);
  };
  for (const a of ev.item_aspects || []) {
    add(`This item's ${a}: its reviews or its description mention it.`, a);
  }
  const cited = new Set();
  (ev.history_items || []).forEach((h, k) => {
    cited.add(h.item);
    add(historyLine(ev, h, k));
  });
  for (const a of ((rec.attribution || {}).items || [])) {
    if (cited.has(a.item)) continue;
    const shared = a.aspects || [];
    add(`${a.title || a.item} in your history led us to this pick` + (shared.length ? `; it shares its ${joinWords(shared)}.` : "."));
  }
  if (!ul.children.length) add("Popular with other shoppers.");
}

function card(user, rec, idx) {
  const node = $("#rec-card").content.firstElementChild.cloneNode(true);
  node.dataset.item = rec.item;
  node.querySelector(".num").textContent = String(idx + 1);
  node.querySelector(".title").textContent = rec.title || rec.item;
  node.querySelector(".price").textContent = rec.price != null ? "$" + Number(rec.price).toFixed(2) : "";
  node.querySelector(".category").textContent = rec.category || rec.brand || "";
  const evId = "ev-" + idx;
  const reasonEl = node.querySelector(".reason");
  if (rec.reason) {
    renderReason(reasonEl, rec.reason, rec.aspects, evId);
  } else {
    reasonEl.textContent = "We couldn't check a reason for this one, so we show none.";
    reasonEl.classList.add("withheld");
    if ((rec.flags || []).length) reasonEl.title = "withheld by the checks: " + rec.flags.join(", ");
  }
  const credited = (rec.attribution || {}).items || [];
  node.querySelector(".because").textContent = credited.length ? "Because you bought or viewed " + becauseText(credited) + "." : "";
  evidenceList(node.querySelector(".evidence ul"), rec, evId);
  setLiked(node, rec.feedback === "like");
  node.querySelector(".like").addEventListener("click", () => like(user, rec, node));
  node.querySelector(".nope").addEventListener("click", () => dismiss(user, rec));
  return node;
}

function setLiked(node, liked) {
  node.classList.toggle("liked", liked);
  const button = node.querySelector(".like");
  button.setAttribute("aria-pressed", String(liked));
  button.textContent = liked ? "Liked ✓" : "Like";
  button.title = liked ? "click again to undo" : "";
  node.querySelector(".state").textContent = liked ? "Saved to your likes. Click again to undo." : "";
}

async function send(user, item, kind) {
  await api("/v1/feedback", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user, item, kind }),
  });
}

async function like(user, rec, node) {
  const undo = node.classList.contains("liked");
  try {
    await send(user, rec.item, undo ? "clear" : "like");
    status("");
    setLiked(node, !undo);
  } catch (err) {
    status(shopperWords(err, undo ? "undo that like" : "save your like"), err.message);
  }
}

function notice(text, onUndo) {
  const box = $("#notice");
  box.hidden = !text;
  box.querySelector(".text").textContent = text || "";
  box.querySelector(".undo").onclick = onUndo || null;
}

async function dismiss(user, rec) {
  const name = rec.title || rec.item;
  try {
    await send(user, rec.item, "dismiss");
  } catch (err) {
    status(shopperWords(err, "hide that item"), err.message);
    return;
  }
  await show(user);
  notice(`Hidden: ${name}. We won't show it to you again.`, async () => {
    try {
      await send(user, rec.item, "clear");
      notice("");
      await show(user);
    } catch (err) {
      status(shopperWords(err, "bring it back"), err.message);
    }
  });
}

function mentions(weight) { return weight >= 0.66 ? "often" : weight >= 0.33 ? "sometimes" : "now and then"; }
function feeling(sentiment) { return sentiment > 0.2 ? "mostly good" : sentiment < -0.2 ? "mostly bad" : "mixed"; }

function chart(profile) {
  const rows = (profile.aspects || []).slice(0, 8);
  const host = $("#profile-chart");
  host.textContent = "";
  $("#legend").hidden = !rows.length;
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
    tip.textContent = `${r.feature}: you mention it ${mentions(r.weight / max)}, ${feeling(r.sentiment)}`;
    bar.append(tip);
    svg.append(label, bar);
  });
  host.append(svg);
}

// Past items x numbered picks: a cell's shade is how much that past item led to the pick (blank: not among its top three).
// Columns carry the cards' numbers.
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
  const table = document.createElement("table");
  table.className = "heatmap";
  const caption = document.createElement("caption");
  caption.textContent = "Which of your past items led to each numbered pick (darker: counted more)";
  const head = document.createElement("tr");
  head.append(document.createElement("th"));
  recs.forEach((rec, col) => {
    const th = document.createElement("th");
    th.textContent = String(col + 1);
    th.title = `pick ${col + 1}: ${rec.title || rec.item}`;
    head.append(th);
  });
  table.append(caption, head);
  for (const { label, cells } of rows.values()) {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.textContent = label;
    th.title = label;
    tr.append(th);
    recs.forEach((rec, col) => {
      const td = document.createElement("td");
      if (cells.has(col)) {
        const share = Math.abs(cells.get(col)) / max;
        td.style.backgroundColor = `rgba(47, 111, 62, ${share.toFixed(3)})`;
        td.title = `${label} → pick ${col + 1} (${rec.title || rec.item}): ${share >= 0.66 ? "a lot" : share >= 0.33 ? "some" : "a little"}`;
        td.dataset.weight = cells.get(col);
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
  notice("");
  const k = $("#k").value;
  try {
    const recs = await api(`/v1/users/${encodeURIComponent(user)}/recommendations?k=${k}`);
    // Only a shopper the model knows has a history to profile; asking for anyone else's would be a 404.
    const profile = recs.known ? await api(`/v1/users/${encodeURIComponent(user)}/profile`).catch((err) => {
      if (err.status === 404) return NO_PROFILE;
      throw err;
    }) : NO_PROFILE;
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
    status(shopperWords(err, "load your picks"), err.message);
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
    status(shopperWords(err, "load the shop"), err.message);
  }
})();
