// GET /status: one self-contained HTML page (inline CSS and script, no external assets, no build
// step). It polls /status.json every 1.5 s and updates the rows in place (no reload, an input being
// typed in keeps its focus); a failed poll marks the page stale instead of clearing it. Narrow
// screens get one card per server instead of a table. When admin.token is set, each server row has
// drain / enable / down buttons and a weight field; the token is typed into the page once and kept
// in sessionStorage (gone when the tab closes), and sent as "Authorization: Bearer".
// Every value reaches the DOM through textContent: names and reasons are never parsed as HTML.

const CSS = `
:root { --bg:#f6f7f9; --card:#fff; --ink:#1b1f24; --mute:#5b6470; --line:#dde1e6; --up:#1a7f37; --down:#cf222e; --drain:#9a6700; --accent:#0969da; }
@media (prefers-color-scheme: dark) { :root { --bg:#0d1117; --card:#161b22; --ink:#e6edf3; --mute:#8b949e; --line:#30363d; --up:#3fb950; --down:#f85149; --drain:#d29922; --accent:#58a6ff; } }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; background:var(--bg); color:var(--ink); }
header { position:sticky; top:0; z-index:2; display:flex; flex-wrap:wrap; gap:.5rem 1rem; align-items:center; padding:.6rem 1rem; background:var(--card); border-bottom:1px solid var(--line); }
header h1 { font-size:1.1rem; margin:0; }
#live { display:inline-flex; align-items:center; gap:.35rem; color:var(--mute); }
#live::before { content:""; width:.6rem; height:.6rem; border-radius:50%; background:var(--up); }
#live.stale::before { background:var(--down); }
#live.stale { color:var(--down); font-weight:600; }
#meta { color:var(--mute); }
#auth { margin-left:auto; display:flex; gap:.4rem; align-items:center; }
#auth input { width:11rem; }
main { padding:1rem; max-width:80rem; margin:0 auto; }
section { background:var(--card); border:1px solid var(--line); border-radius:8px; margin:0 0 1rem; overflow:hidden; }
section > h2 { display:flex; flex-wrap:wrap; align-items:baseline; gap:.3rem .8rem; font-size:1rem; margin:0; padding:.6rem .8rem; border-bottom:1px solid var(--line); }
section > h2 small { font-weight:normal; color:var(--mute); }
table { width:100%; border-collapse:collapse; }
th, td { text-align:left; padding:.45rem .8rem; border-bottom:1px solid var(--line); vertical-align:middle; }
th { font-size:.75rem; text-transform:uppercase; letter-spacing:.03em; color:var(--mute); font-weight:600; }
tr:last-child td { border-bottom:0; }
td.num { font-variant-numeric:tabular-nums; }
.badge { display:inline-block; min-width:3.6rem; text-align:center; padding:.1rem .5rem; border-radius:999px; font-weight:700; font-size:.8rem; color:#fff; text-transform:uppercase; }
.badge.up { background:var(--up); } .badge.down { background:var(--down); } .badge.drain { background:var(--drain); }
.why { display:block; color:var(--mute); font-size:.8rem; max-width:26rem; overflow-wrap:anywhere; }
.tag { font-size:.7rem; border:1px solid var(--line); border-radius:4px; padding:0 .3rem; color:var(--mute); margin-left:.3rem; }
.hist { display:inline-flex; gap:2px; vertical-align:middle; }
.hist[data-empty="no changes"]::after { content:"\\2014"; color:var(--mute); }
.hist i { display:inline-block; width:.55rem; height:1rem; border-radius:2px; background:var(--line); }
.hist i.up { background:var(--up); } .hist i.down { background:var(--down); } .hist i.drain { background:var(--drain); }
.ctl { display:flex; flex-wrap:wrap; gap:.3rem; align-items:center; }
button, input { font:inherit; padding:.25rem .55rem; border:1px solid var(--line); border-radius:6px; background:var(--bg); color:var(--ink); }
button { cursor:pointer; } button:hover { border-color:var(--accent); }
input.w { width:6rem; }
#msg { color:var(--down); padding:.5rem 1rem 0; font-weight:600; }
#msg:empty { display:none; }
.empty { color:var(--mute); padding:.6rem .8rem; }
@media (max-width: 720px) {
  header { padding:.5rem .7rem; } main { padding:.6rem; }
  #auth { margin-left:0; width:100%; } #auth input { flex:1; }
  table, tbody, tr, td { display:block; width:100%; }
  thead { display:none; }
  tr { border-bottom:1px solid var(--line); padding:.3rem 0; }
  tr:last-child { border-bottom:0; }
  td { border:0; padding:.2rem .8rem; display:flex; gap:.6rem; align-items:baseline; }
  td::before { content:attr(data-label); flex:0 0 6.5rem; color:var(--mute); font-size:.75rem; text-transform:uppercase; }
  td.addr { font-weight:700; font-size:1rem; }
  td.addr::before { content:none; }
}
`;

const SCRIPT = `
"use strict";
var POLL_MS = 1500;
var TOKEN_KEY = "switchyard.token";
var last = null;
var lastOk = 0;
var tokenRequired = false;

function $(id) { return document.getElementById(id); }
function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined && text !== null) e.textContent = String(text); return e; }
function token() { try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; } }
function fmtBytes(n) { var u = ["B","kB","MB","GB","TB"]; var i = 0; while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; } return (i === 0 ? n : n.toFixed(1)) + " " + u[i]; }
function ago(ms) { var s = Math.max(0, Math.round(ms / 1000)); if (s < 60) return s + "s"; if (s < 3600) return Math.floor(s / 60) + "m"; if (s < 86400) return Math.floor(s / 3600) + "h"; return Math.floor(s / 86400) + "d"; }
function setText(node, text) { text = String(text); if (node.textContent !== text) node.textContent = text; }

function cell(tr, key, label, cls) {
  var td = tr.querySelector("td[data-k='" + key + "']");
  if (!td) { td = el("td", cls || ""); td.setAttribute("data-k", key); td.setAttribute("data-label", label); tr.appendChild(td); }
  return td;
}

function section(id, title) {
  var s = document.getElementById(id);
  if (!s) { s = el("section"); s.id = id; var h = el("h2"); h.appendChild(el("span", "t", title)); h.appendChild(el("small")); s.appendChild(h); $("main").appendChild(s); }
  return s;
}

function table(sec, heads) {
  var t = sec.querySelector("table");
  if (!t) {
    t = el("table"); var th = el("thead"); var r = el("tr");
    heads.forEach(function (h) { r.appendChild(el("th", "", h)); });
    th.appendChild(r); t.appendChild(th); t.appendChild(el("tbody")); sec.appendChild(t);
  }
  return t.tBodies[0];
}

function renderListeners(ls) {
  var sec = section("listeners", "Listeners");
  setText(sec.querySelector("h2 small"), ls.length + " listening");
  var body = table(sec, ["Listener", "Address", "Open", "Connections", "Requests", "2xx / 4xx / 5xx", "In / out"]);
  var seen = {};
  ls.forEach(function (l) {
    var id = "l:" + l.name; seen[id] = true;
    var tr = body.querySelector("tr[data-listener='" + CSS.escape(l.name) + "']");
    if (!tr) { tr = el("tr"); tr.setAttribute("data-listener", l.name); body.appendChild(tr); }
    var a = cell(tr, "name", "Listener", "addr"); setText(a, l.name + " (" + l.protocol + ")");
    setText(cell(tr, "address", "Address"), l.address + " \\u2192 " + l.upstreams.join(", "));
    setText(cell(tr, "open", "Open", "num"), l.open);
    setText(cell(tr, "conns", "Connections", "num"), l.connections);
    setText(cell(tr, "reqs", "Requests", "num"), l.protocol === "http" ? l.requests : "\\u2014");
    setText(cell(tr, "classes", "2xx/4xx/5xx", "num"), l.status && l.protocol === "http" ? (l.status["2xx"] + " / " + l.status["4xx"] + " / " + l.status["5xx"]) : "\\u2014");
    setText(cell(tr, "bytes", "In / out", "num"), fmtBytes(l.bytes_in) + " / " + fmtBytes(l.bytes_out));
  });
  Array.prototype.forEach.call(body.querySelectorAll("tr[data-listener]"), function (tr) { if (!seen["l:" + tr.getAttribute("data-listener")]) tr.remove(); });
}

function controls(td, up, s) {
  if (td.getAttribute("data-built") === String(tokenRequired)) return;
  td.textContent = "";
  td.setAttribute("data-built", String(tokenRequired));
  if (!tokenRequired) { td.appendChild(el("span", "why", "set admin.token to enable")); return; }
  var box = el("div", "ctl");
  [["drain", "Drain"], ["up", "Enable"], ["down", "Down"]].forEach(function (b) {
    var btn = el("button", "", b[1]); btn.type = "button"; btn.setAttribute("data-action", b[0]);
    btn.addEventListener("click", function () { change(up, s.address, { state: b[0] }); });
    box.appendChild(btn);
  });
  var w = el("input", "w"); w.type = "number"; w.min = "0"; w.max = "65535"; w.placeholder = "weight"; w.setAttribute("aria-label", "weight");
  var set = el("button", "", "Set"); set.type = "button"; set.setAttribute("data-action", "weight");
  set.addEventListener("click", function () { var v = Number(w.value); if (w.value === "" || !Number.isInteger(v)) { msg("weight must be an integer 0-65535"); return; } change(up, s.address, { weight: v }); w.value = ""; });
  box.appendChild(w); box.appendChild(set);
  td.appendChild(box);
}

function renderUpstreams(ups) {
  var seen = {};
  ups.forEach(function (u) {
    var id = "u-" + u.name.replace(/[^A-Za-z0-9_-]/g, "_"); seen[id] = true;
    var sec = section(id, u.name);
    setText(sec.querySelector("h2 small"), u.scheduler + " \\u00b7 check " + u.check + " \\u00b7 " + u.eligible + "/" + u.servers.length + " eligible \\u00b7 " + u.refusals + " refused \\u00b7 " + u.retries + " retries");
    var body = table(sec, ["Server", "State", "Weight", "Active", "Total", "Failures", "Last check", "History", "Control"]);
    var rows = {};
    u.servers.forEach(function (s) {
      var key = u.name + "/" + s.address; rows[key] = true;
      var tr = body.querySelector("tr[data-server='" + CSS.escape(key) + "']");
      if (!tr) { tr = el("tr"); tr.setAttribute("data-server", key); body.appendChild(tr); }
      tr.setAttribute("data-state", s.state);
      var a = cell(tr, "addr", "Server", "addr"); setText(a, s.address);
      if (s.backup) a.appendChild(el("span", "tag", "backup"));
      var st = cell(tr, "state", "State");
      var badge = st.querySelector(".badge"); if (!badge) { badge = el("span"); st.appendChild(badge); st.appendChild(el("span", "why")); }
      badge.className = "badge " + s.state; setText(badge, s.state);
      var lastH = s.history.length ? s.history[s.history.length - 1] : null;
      var why = s.causes.length ? s.causes.join(", ") + (lastH ? ": " + lastH.reason : "") : "";
      if (lastH) why += (why ? " \\u00b7 " : "") + "since " + ago(Date.now() - lastH.at) + " ago";
      setText(st.querySelector(".why"), why);
      setText(cell(tr, "weight", "Weight", "num"), s.effective_weight === s.weight ? s.weight : s.effective_weight + " of " + s.weight);
      setText(cell(tr, "active", "Active", "num"), s.active + (s.max_conns ? " / " + s.max_conns : "") + (s.overloaded ? " (full)" : ""));
      setText(cell(tr, "total", "Total", "num"), s.total);
      var ej = s.ejections.health + s.ejections.passive;
      setText(cell(tr, "fail", "Failures", "num"), s.failures + (ej ? " \\u00b7 " + ej + (ej === 1 ? " ejection" : " ejections") : ""));
      setText(cell(tr, "check", "Last check"), s.check === null ? "none" : s.check.ok === null ? "pending" : (s.check.ok ? "ok" : "failed") + " \\u00b7 " + s.check.ms + " ms" + (s.check.ok ? "" : " \\u00b7 " + s.check.reason));
      var h = cell(tr, "hist", "History"); var strip = h.querySelector(".hist");
      if (!strip) { strip = el("span", "hist"); h.appendChild(strip); }
      var marks = s.history.slice(-12);
      while (strip.children.length > marks.length) strip.lastChild.remove();
      while (strip.children.length < marks.length) strip.appendChild(el("i"));
      marks.forEach(function (m, i) { var b = strip.children[i]; b.className = m.state; b.title = new Date(m.at).toLocaleTimeString() + " " + m.state + ": " + m.reason; });
      strip.title = marks.length === 0 ? "no state change since start" : "";
      strip.setAttribute("data-empty", marks.length === 0 ? "no changes" : "");
      controls(cell(tr, "ctl", "Control"), u.name, s);
    });
    Array.prototype.forEach.call(body.querySelectorAll("tr[data-server]"), function (tr) { if (!rows[tr.getAttribute("data-server")]) tr.remove(); });
  });
  Array.prototype.forEach.call(document.querySelectorAll("section[id^='u-']"), function (s) { if (!seen[s.id]) s.remove(); });
}

function msg(text) { setText($("msg"), text || ""); }

function change(up, address, body) {
  var t = token();
  if (!t) { msg("enter the admin token first"); $("token").focus(); return; }
  fetch("/api/upstreams/" + encodeURIComponent(up) + "/servers/" + encodeURIComponent(address), {
    method: "POST", headers: { "content-type": "application/json", authorization: "Bearer " + t }, body: JSON.stringify(body), cache: "no-store"
  }).then(function (r) {
    return r.json().then(function (j) {
      if (r.status === 401) { try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) {} renderAuth(); msg("token refused: enter it again"); return; }
      if (!r.ok) { msg(j.error || ("error " + r.status)); return; }
      msg(""); poll();
    });
  }).catch(function (e) { msg("request failed: " + e.message); });
}

function renderAuth() {
  var box = $("auth");
  box.hidden = !tokenRequired;
  var has = token() !== "";
  $("token").hidden = has; $("save").hidden = has; $("forget").hidden = !has;
  setText($("authstate"), has ? "controls on" : "admin token:");
}

function render(d) {
  var changed = tokenRequired !== d.token_required;
  tokenRequired = d.token_required;
  if (changed) { renderAuth(); Array.prototype.forEach.call(document.querySelectorAll("td[data-k='ctl']"), function (td) { td.removeAttribute("data-built"); }); }
  setText($("meta"), "pid " + d.pid + " \\u00b7 up " + ago(d.uptime_s * 1000) + " \\u00b7 " + d.phase + " \\u00b7 " + d.config);
  renderListeners(d.listeners);
  renderUpstreams(d.upstreams);
}

function tick() {
  var live = $("live");
  if (lastOk === 0) return;
  var age = Date.now() - lastOk;
  live.className = age > POLL_MS * 3 ? "stale" : "";
  setText(live, age > POLL_MS * 3 ? "stale: no answer for " + ago(age) : "live");
}

var inflight = false;
function poll() {
  if (inflight) return;
  inflight = true;
  fetch("/status.json", { cache: "no-store" }).then(function (r) {
    if (!r.ok) throw new Error("HTTP " + r.status);
    return r.json();
  }).then(function (d) { last = d; lastOk = Date.now(); render(d); tick(); })
    .catch(function () { tick(); })
    .then(function () { inflight = false; });
}

$("save").addEventListener("click", function () { var v = $("token").value.trim(); if (!v) return; try { sessionStorage.setItem(TOKEN_KEY, v); } catch (e) {} $("token").value = ""; renderAuth(); msg(""); });
$("token").addEventListener("keydown", function (e) { if (e.key === "Enter") $("save").click(); });
$("forget").addEventListener("click", function () { try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) {} renderAuth(); });
poll();
setInterval(poll, POLL_MS);
setInterval(tick, 500);
`;

/** The whole page, served as is. */
export const STATUS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>switchyard status</title>
<style>${CSS}</style>
</head>
<body>
<header>
  <h1>switchyard</h1>
  <span id="live">connecting</span>
  <span id="meta"></span>
  <span id="auth" hidden><span id="authstate">admin token:</span><input id="token" type="password" autocomplete="off" placeholder="bearer token"><button id="save" type="button">Use</button><button id="forget" type="button" hidden>Forget token</button></span>
</header>
<div id="msg" role="status"></div>
<main id="main"></main>
<script>${SCRIPT}</script>
</body>
</html>
`;
