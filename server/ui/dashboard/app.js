// OctopusMQ dashboard: polls the public REST API of the node that served this page (relative
// URLs, same origin) and renders cluster, queues and storages. No framework, no build step.

const REFRESH_MS = 2000;
const HISTORY = 60; // samples kept per queue for the rate chart

// The API lives one level above /ui/ (so a reverse proxy may mount the node under a prefix).
const BASE = new URL("../", location.href);
const $ = (sel) => document.querySelector(sel);

// api calls the REST API; a non-2xx answer throws an Error whose message is the server's
// {"code","message"} message (or the status text) prefixed with the HTTP status.
async function api(method, path, body) {
  const init = { method, headers: {} };
  const token = sessionStorage.getItem("octopusmq-token");
  if (token) init.headers["Authorization"] = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(new URL("." + path, BASE), init);
  } catch (e) {
    throw new Error(`${method} ${path}: node unreachable (${e.message})`);
  }
  const text = await resp.text();
  if (!resp.ok) {
    let msg = text.trim() || resp.statusText;
    try { msg = JSON.parse(text).message || msg; } catch { /* plain text answer */ }
    throw new Error(`${resp.status}: ${msg}`);
  }
  try { return text ? JSON.parse(text) : {}; } catch { return text; }
}

// showError adds a dismissable message; the same message is shown once.
function showError(err) {
  const msg = err instanceof Error ? err.message : String(err);
  for (const d of $("#errors").children) if (d.dataset.msg === msg) return;
  const div = el("div", {}, el("span", {}, msg));
  div.dataset.msg = msg;
  const close = el("button", { title: "dismiss" }, "×");
  close.onclick = () => div.remove();
  div.append(close);
  $("#errors").append(div);
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("data-")) e.setAttribute(k, v); else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : String(c ?? ""));
  return e;
}

// ask shows the confirmation dialog; with input set it also asks for a value.
// It resolves to null when cancelled, else to the input's value ("" without input).
function ask(text, input) {
  const dlg = $("#confirm");
  $("#confirm-text").textContent = text;
  const label = $("#confirm-input-label");
  label.hidden = !input;
  if (input) {
    label.querySelector("span").textContent = input.label;
    $("#confirm-input").value = input.value ?? "";
  }
  dlg.returnValue = "";
  dlg.showModal();
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok" ? (input ? $("#confirm-input").value : "") : null), { once: true });
  });
}

// notice shows a success message for a few seconds.
function notice(msg) {
  const div = el("div", {}, msg);
  $("#notices").append(div);
  setTimeout(() => div.remove(), 6000);
}

// act runs a change after confirmation, shows its error (or the message fn returns), and
// refreshes.
async function act(question, fn, input) {
  const v = await ask(question, input);
  if (v === null) return;
  try {
    const msg = await fn(v);
    if (typeof msg === "string") notice(msg);
  } catch (e) { showError(e); }
  refresh();
}

// ---- cluster ----

function renderCluster(c, ready) {
  $("#node").textContent = `node ${c.nodeId} · ${c.state}`;
  const r = $("#ready");
  r.textContent = ready ? "ready" : "not ready";
  r.className = "badge " + (ready ? "ok" : "bad");
  const facts = [["Leader", c.leaderId || "(none)"], ["Term", c.term], ["Last log index", c.lastLogIndex],
    ["Commit index", c.commitIndex], ["Applied index", c.appliedIndex], ["Members", (c.members || []).length]];
  $("#raft").replaceChildren(...facts.map(([k, v]) => el("div", {}, el("dt", {}, k), el("dd", {}, v))));
  $("#members").replaceChildren(...(c.members || []).map((m) => el("tr", { "data-member": m.id },
    el("td", {}, m.id + (m.id === c.nodeId ? " (this node)" : "")), el("td", {}, m.suffrage || (m.voter ? "Voter" : "Nonvoter")),
    el("td", {}, m.raftAddress), el("td", {}, m.clientAddress || "?"), el("td", {}, m.leader ? "leader" : "follower"))));
}

// ---- queues ----

const history = new Map(); // queue name -> [{t, enq, com}] (the leader's counters)
const stats = new Map(); // queue name -> its last GET /v1/queues/{name}/stats
const MAX_STATS = 100; // queues whose stats are read at each refresh (the first by name)
let selectedQueue = null; // null: all queues

function num(v) { return Number(v ?? 0); }

let lastQueues = [];

// sampleQueues records each queue's depth for the rate chart.
function sampleQueues(queues) {
  const now = performance.now();
  const names = new Set(queues.map((q) => q.queueName));
  for (const n of history.keys()) if (!names.has(n)) history.delete(n);
  if (selectedQueue !== null && !names.has(selectedQueue)) selectedQueue = null;
  for (const q of queues) {
    const st = stats.get(q.queueName);
    if (!st) continue;
    const h = history.get(q.queueName) ?? [];
    h.push({ t: now, enq: num(st.enqueuedTotal), com: num(st.committedTotal) });
    if (h.length > HISTORY) h.shift();
    history.set(q.queueName, h);
  }
}

// byPriority shows the non-empty priorities, highest first: "2:5 0:1".
function byPriority(v) {
  const parts = [];
  for (let p = (v || []).length - 1; p >= 0; p--) if (v[p] > 0) parts.push(`${p}:${v[p]}`);
  return parts.join(" ") || "—";
}

function fmtAge(sec) {
  if (!(sec > 0)) return "—";
  if (sec < 60) return `${Math.floor(sec)}s`;
  if (sec < 3600) return `${Math.floor(sec / 60)}m${String(Math.floor(sec % 60)).padStart(2, "0")}s`;
  if (sec < 86400) return `${Math.floor(sec / 3600)}h${String(Math.floor((sec % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(sec / 86400)}d${Math.floor((sec % 86400) / 3600)}h`;
}

function oldestAge(st) {
  if (!st?.oldestEnqueuedAt || !st.time) return 0;
  return (Date.parse(st.time) - Date.parse(st.oldestEnqueuedAt)) / 1000;
}

// lastRate is the newest enqueue/commit rate of a queue, "—" before two samples.
function lastRate(name) {
  const r = rates(history.get(name) ?? []);
  if (!r.length) return "—";
  const x = r[r.length - 1];
  return `${x.in.toFixed(1)} / ${x.out.toFixed(1)}`;
}

function renderQueues(queues) {
  lastQueues = queues;
  $("#no-queues").hidden = queues.length > 0;
  $("#queue-rows").replaceChildren(...queues.map((q) => {
    const name = q.queueName;
    const path = `/v1/queues/${encodeURIComponent(name)}`;
    const pause = q.paused
      ? el("button", { onclick: () => act(`Resume deliveries of queue "${name}"?`, () => api("POST", `${path}:resume`, {})) }, "Resume")
      : el("button", { onclick: () => act(`Pause deliveries of queue "${name}"?`, () => api("POST", `${path}:pause`, {})) }, "Pause");
    const resize = el("button", { className: "resize", onclick: () => act(`Resize queue "${name}"?`, (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new Error(`max size must be a positive whole number, not "${v}"`);
      return api("POST", `${path}:resize`, { maxSize: n });
    }, { label: "New max size", value: q.maxSize }) }, "Resize");
    const del = el("button", { className: "delete", onclick: () => act(`Delete queue "${name}" and its ${num(q.count)} items? This cannot be undone.`, () => api("DELETE", path)) }, "Delete");
    const st = stats.get(name);
    const waiting = num(q.count) - num(q.active);
    const purge = el("button", { className: "purge", onclick: () => act(`Purge queue "${name}": remove its ${waiting} waiting items (visible and delayed)? Leased items stay with their consumers. This cannot be undone.`,
      async () => `queue "${name}": ${num((await api("POST", `${path}:purge`, {})).count)} waiting items removed`) }, "Purge");
    const buttons = [pause, resize, purge];
    if (q.deadLetterQueue) {
      buttons.push(el("button", { className: "redrive", onclick: () => act(`Redrive queue "${name}": move the ${num(st?.deadLettered)} items it dead-lettered back from "${q.deadLetterQueue}"?`,
        async () => {
          const r = await api("POST", `${path}:redrive`, {});
          return `queue "${name}": ${num(r.count)} dead-lettered items moved back, ${num(r.remaining)} remain in "${q.deadLetterQueue}"`;
        }) }, "Redrive"));
    }
    buttons.push(el("button", { className: "peek", onclick: () => openPeek(name) }, "Peek"), del);
    const settings = `${num(q.priorities)} prio · lease ${q.lease || "60s"} · ${num(q.maxDeliveries) ? "max " + num(q.maxDeliveries) + " deliveries" : "no delivery limit"}`;
    const tr = el("tr", { "data-queue": name, className: name === selectedQueue ? "selected" : "", title: "click to chart this queue" },
      el("td", { className: "name" }, name, el("div", { className: "settings muted" }, settings)), el("td", { className: "depth" }, num(q.count)), el("td", { className: "prio" }, st ? byPriority(st.visibleByPriority) : "…"),
      el("td", { className: "active" }, num(q.active)),
      el("td", { className: "delayed" }, st ? num(st.delayed) : "…"), el("td", { className: "dead" }, st ? (q.deadLetterQueue ? num(st.deadLettered) : "—") : "…"),
      el("td", { className: "oldest" }, st ? fmtAge(oldestAge(st)) : "…"), el("td", { className: "rates" }, lastRate(name)),
      el("td", { className: "max" }, num(q.maxSize) || "unlimited"), el("td", {}, q.deadLetterQueue || "—"),
      el("td", { className: "state" }, q.paused ? "paused" : "running"), el("td", {}, ...buttons));
    tr.onclick = (ev) => {
      if (ev.target.tagName === "BUTTON") return;
      selectedQueue = selectedQueue === name ? null : name;
      renderQueues(lastQueues);
    };
    return tr;
  }));
  drawChart();
}

// rates turns successive counter samples into per-second enqueue (in) and commit (out)
// rates; a counter that went down was reset (another leader, a restart) and counts from 0.
function rates(samples) {
  const out = [];
  const inc = (a, b) => (b >= a ? b - a : b);
  for (let i = 1; i < samples.length; i++) {
    const dt = (samples[i].t - samples[i - 1].t) / 1000;
    out.push({ in: dt > 0 ? inc(samples[i - 1].enq, samples[i].enq) / dt : 0, out: dt > 0 ? inc(samples[i - 1].com, samples[i].com) / dt : 0 });
  }
  return out;
}

// ---- peek ----

let peeking = null; // queue name whose waiting items are shown

function openPeek(name) {
  peeking = name;
  $("#peek-name").textContent = `"${name}"`;
  $("#peek").hidden = false;
  loadPeek();
}
$("#peek-close").onclick = () => { peeking = null; $("#peek").hidden = true; };

async function loadPeek() {
  if (peeking === null) return;
  const name = peeking;
  try {
    const r = await api("GET", `/v1/queues/${encodeURIComponent(name)}/items:peek?limit=20&includeDelayed=true`);
    if (peeking !== name) return;
    const now = Date.now();
    const rows = (r.items || []).map((p) => {
      const it = p.item || {};
      const visibleIn = p.visibleAt ? fmtAge((Date.parse(p.visibleAt) - now) / 1000) : "now";
      const age = it.enqueuedAt ? fmtAge((now - Date.parse(it.enqueuedAt)) / 1000) : "—";
      const v = it.value ?? "";
      return el("tr", { "data-item": it.id }, el("td", {}, it.id), el("td", {}, num(it.priority)), el("td", {}, num(it.deliveryCount)),
        el("td", {}, age), el("td", {}, visibleIn), el("td", {}, p.deadLetterSource || "—"),
        el("td", {}, it.key ? (asText(it.key) ?? `base64:${it.key}`) : "—"),
        el("td", { className: "value", title: `base64 ${v}` }, asText(v) ?? `base64:${v}`));
    });
    if (rows.length === 0) rows.push(el("tr", {}, el("td", { colSpan: 8, className: "muted" }, "no waiting items")));
    $("#peek-rows").replaceChildren(...rows);
    $("#peek-more").hidden = !r.more;
  } catch (e) {
    showError(e);
    if (String(e.message).startsWith("404")) { peeking = null; $("#peek").hidden = true; }
  }
}

function drawChart() {
  $("#chart-queue").textContent = selectedQueue === null ? "all queues" : `queue "${selectedQueue}"`;
  let series;
  if (selectedQueue !== null) {
    series = rates(history.get(selectedQueue) ?? []);
  } else {
    // Sum over queues, aligned on the newest sample.
    const all = [...history.values()].map(rates);
    const len = Math.max(0, ...all.map((r) => r.length));
    series = Array.from({ length: len }, (_, i) => {
      const s = { in: 0, out: 0 };
      for (const r of all) {
        const x = r[r.length - len + i];
        if (x) { s.in += x.in; s.out += x.out; }
      }
      return s;
    });
  }
  const cv = $("#chart");
  const g = cv.getContext("2d");
  const W = cv.width, H = cv.height, pad = 22;
  g.clearRect(0, 0, W, H);
  const max = Math.max(1, ...series.map((s) => Math.max(s.in, s.out)));
  g.fillStyle = "#6b7485";
  g.font = "11px system-ui, sans-serif";
  g.fillText(`${max.toFixed(max < 10 ? 1 : 0)}/s`, 4, 12);
  g.fillText("0", 4, H - 4);
  g.strokeStyle = "#dfe3ea";
  g.beginPath(); g.moveTo(pad, H - pad / 2); g.lineTo(W, H - pad / 2); g.stroke();
  // The newest rate sits at the right edge; older ones scroll left.
  const x = (i) => pad + (W - pad - 4) * ((HISTORY - 2 - (series.length - 1 - i)) / (HISTORY - 2));
  const y = (v) => H - pad / 2 - (H - pad) * (v / max);
  for (const [key, color] of [["in", "#2e8b57"], ["out", "#e07b00"]]) {
    g.strokeStyle = color; g.lineWidth = 2; g.beginPath();
    series.forEach((s, i) => (i ? g.lineTo(x(i), y(s[key])) : g.moveTo(x(i), y(s[key]))));
    g.stroke();
  }
}

$("#create-queue").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const body = { queueName: f.get("queueName").trim() };
  for (const k of ["priorities", "maxSize", "maxDeliveries"]) if (f.get(k) !== "") body[k] = Number(f.get(k));
  for (const k of ["lease", "deadLetterQueue"]) if (f.get(k).trim() !== "") body[k] = f.get(k).trim();
  await act(`Create queue "${body.queueName}"?`, async () => {
    await api("POST", "/v1/queues", body);
    ev.target.reset();
  });
});

// ---- storages and the key browser ----

let browsing = null; // {name, prefix, active, next}

function renderStorages(storages) {
  $("#no-storages").hidden = storages.length > 0;
  if (browsing && !storages.some((s) => s.storageName === browsing.name)) { browsing = null; $("#browser").hidden = true; }
  $("#storage-rows").replaceChildren(...storages.map((s) => {
    const name = s.storageName;
    const browse = el("button", { onclick: () => openBrowser(name) }, "Browse keys");
    const del = el("button", { onclick: () => act(`Delete storage "${name}" and its ${num(s.count)} keys? This cannot be undone.`, () => api("DELETE", `/v1/storages/${encodeURIComponent(name)}`)) }, "Delete");
    return el("tr", { "data-storage": name }, el("td", {}, name), el("td", { className: "keys" }, num(s.count)),
      el("td", { className: "locked" }, num(s.active)), el("td", {}, browse, del));
  }));
}

$("#create-storage").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const name = new FormData(ev.target).get("storageName").trim();
  await act(`Create storage "${name}"?`, async () => {
    await api("POST", "/v1/storages", { storageName: name });
    ev.target.reset();
  });
});

function openBrowser(name) {
  browsing = { name, prefix: "", active: false, next: "" };
  $("#browse-name").textContent = name;
  $("#browser").hidden = false;
  $("#value").hidden = true;
  $("#keys").replaceChildren();
  listKeys(false);
}

$("#browse").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  Object.assign(browsing, { prefix: f.get("prefix"), active: f.get("active") === "on", next: "" });
  listKeys(false);
});
$("#more-keys").onclick = () => listKeys(true);

function b64ToBytes(b64) { return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)); }
function b64url(b64) { return b64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""); }
// asText is the UTF-8 text of b64, or null when the bytes are not printable UTF-8.
function asText(b64) {
  try {
    const s = new TextDecoder("utf-8", { fatal: true }).decode(b64ToBytes(b64));
    return /[\u0000-\u0008\u000e-\u001f]/.test(s) ? null : s;
  } catch { return null; }
}

async function listKeys(more) {
  const b = browsing;
  const q = new URLSearchParams({ pageSize: "100" });
  if (b.prefix) q.set("prefix", b.prefix);
  if (b.active) q.set("activeIncluded", "true");
  if (more && b.next) q.set("pageToken", b.next);
  try {
    const r = await api("GET", `/v1/storages/${encodeURIComponent(b.name)}/keys?${q}`);
    const items = (r.keys || []).map((k) => {
      const t = asText(k);
      const a = el("a", { title: `base64 ${k}` }, t ?? `base64:${k}`);
      a.onclick = () => showValue(k);
      return el("li", { "data-key": k }, a);
    });
    if (more) $("#keys").append(...items); else $("#keys").replaceChildren(...items);
    if (!more && items.length === 0) $("#keys").append(el("li", { className: "muted" }, "no keys"));
    b.next = r.nextPageToken || "";
    $("#more-keys").hidden = !b.next;
  } catch (e) { showError(e); }
}

let shownValue = null;
async function showValue(keyB64) {
  try {
    const r = await api("GET", `/v1/storages/${encodeURIComponent(browsing.name)}/binary-keys/${b64url(keyB64)}`);
    shownValue = r.item?.value ?? "";
    $("#value-key").textContent = asText(keyB64) ?? `base64:${keyB64}`;
    const lk = $("#value-locked");
    lk.textContent = r.locked ? "locked" : "unlocked";
    lk.className = "badge " + (r.locked ? "bad" : "ok");
    $("#value").hidden = false;
    renderValue();
  } catch (e) { showError(e); }
}
function renderValue() {
  const enc = document.querySelector("input[name=enc]:checked").value;
  const t = asText(shownValue);
  $("#value-body").textContent = enc === "base64" ? shownValue : (t ?? `(not UTF-8 text; base64) ${shownValue}`);
}
for (const r of document.querySelectorAll("input[name=enc]")) r.onchange = renderValue;

// ---- bearer token (servers with --auth-tokens-file) ----

$("#token").value = sessionStorage.getItem("octopusmq-token") ?? "";
$("#token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const t = $("#token").value.trim();
  if (t) sessionStorage.setItem("octopusmq-token", t); else sessionStorage.removeItem("octopusmq-token");
  $("#errors").replaceChildren();
  refresh();
});

// ---- refresh loop ----

// loadStats reads the statistics of (up to MAX_STATS) queues; a queue deleted meanwhile
// (404) is skipped, other errors are shown.
async function loadStats(queues) {
  const names = queues.slice(0, MAX_STATS).map((q) => q.queueName);
  const got = await Promise.allSettled(names.map((n) => api("GET", `/v1/queues/${encodeURIComponent(n)}/stats`)));
  stats.clear();
  got.forEach((r, i) => {
    if (r.status === "fulfilled") stats.set(names[i], r.value);
    else if (!String(r.reason?.message).startsWith("404")) showError(r.reason);
  });
}

let refreshing = false;
async function refresh() {
  if (refreshing) return;
  refreshing = true;
  try {
    const [cluster, ready, queues, storages] = await Promise.allSettled([
      api("GET", "/v1/cluster"),
      fetch(new URL("./readyz", BASE)).then((r) => r.ok, () => false),
      api("GET", "/v1/queues"),
      api("GET", "/v1/storages"),
    ]);
    if (cluster.status === "fulfilled") renderCluster(cluster.value, ready.value); else showError(cluster.reason);
    if (queues.status === "fulfilled") {
      const qs = queues.value.queues || [];
      await loadStats(qs);
      sampleQueues(qs);
      renderQueues(qs);
      loadPeek();
    } else showError(queues.reason);
    if (storages.status === "fulfilled") renderStorages(storages.value.storages || []); else showError(storages.reason);
    $("#updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } finally {
    refreshing = false;
  }
}

refresh();
setInterval(refresh, REFRESH_MS);
