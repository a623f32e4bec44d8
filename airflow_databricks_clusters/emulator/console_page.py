"""The emulator's console page: what the operators' "Databricks Cluster" link opens on the emulator.

The link has the workspace UI's shape, ``<host>/#setting/clusters/<id>/configuration``; a browser sends
only ``GET /`` (the fragment never leaves it). This page is that ``/``: its script reads the fragment,
fetches the cluster from the read-only ``/emulator/console/clusters/<id>`` (``console_data.py``) and
shows its name, id, state, termination reason, times, workers, configuration and events; without a
cluster in the fragment, or with an unknown one, it lists every cluster. It re-renders on
``hashchange``. Plain HTML and vanilla JS, no external asset (nothing to fetch from a CDN).

The element ids are a contract with the browser test: ``cluster-name``, ``cluster-id``, ``state``,
``termination-reason``, ``configuration`` (a ``<pre>``), ``events`` (a ``<table>``, one ``<tr>`` per event
in its ``<tbody>``), ``cluster-list`` (a ``<table>``, one ``<tr>`` per cluster in its ``<tbody>``). When a
render is done, ``<body data-view=...>`` says what it shows: ``cluster``, ``list`` or ``error``.
"""

from __future__ import annotations

import base64
import hashlib

#: Where the page's script reads its data (``app.py`` serves it, to loopback clients only).
DATA_PATH = "/emulator/console/clusters"

_STYLE = """
:root { color-scheme: light; --line: #d8dde3; --muted: #5b6673; --accent: #1b5fb4; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: #1d232a; background: #f6f7f9; }
header { display: flex; gap: 1rem; align-items: baseline; flex-wrap: wrap; padding: .75rem 1.5rem;
         background: #1d232a; color: #fff; }
header a { color: #fff; font-weight: 600; text-decoration: none; }
header .note { color: #b9c2cc; font-size: .85rem; flex: 1; }
header button { font: inherit; font-size: .85rem; padding: .2rem .8rem; cursor: pointer; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.5rem; margin: .5rem 0 1rem; overflow-wrap: anywhere; }
h2 { font-size: 1.1rem; margin: 1.75rem 0 .5rem; }
a { color: var(--accent); }
code, pre { font: 13px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
[hidden] { display: none !important; }
#message { padding: .6rem .9rem; border: 1px solid #e0b4b4; background: #fff6f6; color: #8a1f1f;
           border-radius: 4px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .35rem 1.25rem; margin: 0;
           padding: 1rem; background: #fff; border: 1px solid var(--line); border-radius: 6px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.state { display: inline-block; padding: 0 .5rem; border-radius: 3px; font-weight: 600;
         font-size: .85rem; background: #e4e7eb; }
.state-RUNNING { background: #d6f0dc; color: #1d6b32; }
.state-PENDING, .state-RESTARTING, .state-RESIZING { background: #fdf0c8; color: #7a5700; }
.state-TERMINATING, .state-TERMINATED { background: #e4e7eb; color: #3d4752; }
.state-ERROR, .state-UNKNOWN { background: #f8d7d7; color: #8a1f1f; }
.muted { color: var(--muted); }
.reason-code { font-weight: 600; }
ul.params { margin: .25rem 0 0; padding-left: 1.1rem; }
pre#configuration { margin: 0; padding: 1rem; background: #fff; border: 1px solid var(--line);
                    border-radius: 6px; overflow: auto; max-height: 32rem; }
table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid var(--line); }
th, td { text-align: left; vertical-align: top; padding: .4rem .6rem; border-bottom: 1px solid var(--line); }
th { background: #eef1f4; font-weight: 600; font-size: .85rem; }
td.when { white-space: nowrap; font-variant-numeric: tabular-nums; }
td.details { overflow-wrap: anywhere; }
"""

_SCRIPT = r"""
"use strict";
const DATA = "__DATA_PATH__";
const byId = (id) => document.getElementById(id);

function clusterIdInHash() {
  const match = /^#\/?setting\/clusters\/([^\/?#]+)/.exec(location.hash);
  if (!match) return null;
  try { return decodeURIComponent(match[1]); } catch (error) { return match[1]; }
}

async function getJson(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
  let body = null;
  try { body = await response.json(); } catch (error) { body = null; }
  return { status: response.status, body: body };
}

function problem(answer) {
  return (answer.body && answer.body.message) || "The emulator answered HTTP " + answer.status + ".";
}

function when(ms) {
  return ms == null ? "\u2014" : new Date(ms).toISOString().replace("T", " ").replace("Z", " UTC");
}

function duration(seconds) {
  if (seconds == null) return "\u2014";
  let rest = Math.round(seconds);
  const parts = [];
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["min", 60]]) {
    if (rest >= size) { parts.push(Math.floor(rest / size) + " " + unit); rest %= size; }
  }
  if (rest || !parts.length) parts.push(rest + " s");
  return parts.join(" ");
}

function text(id, value) { byId(id).textContent = value == null || value === "" ? "\u2014" : String(value); }

function stateBadge(element, state) {
  element.textContent = state;
  element.className = "state state-" + state;
}

function cell(row, value, className) {
  const td = row.insertCell();
  td.textContent = value;
  if (className) td.className = className;
  return td;
}

function showMessage(message) {
  byId("message").textContent = message;
  byId("message").hidden = !message;
}

function showReason(reason) {
  const box = byId("termination-reason");
  box.replaceChildren();
  if (!reason) { box.textContent = "\u2014"; return; }
  const code = document.createElement("span");
  code.className = "reason-code";
  code.textContent = reason.code || "";
  box.append(code, reason.type ? " (" + reason.type + ")" : "");
  const parameters = Object.entries(reason.parameters || {});
  if (parameters.length) {
    const list = document.createElement("ul");
    list.className = "params";
    for (const [key, value] of parameters) {
      const item = document.createElement("li");
      item.textContent = key + ": " + value;
      list.append(item);
    }
    box.append(list);
  }
}

function workersText(w) {
  const size = w.autoscale
    ? "autoscale " + w.autoscale.min_workers + "\u2013" + w.autoscale.max_workers + " workers"
    : (w.num_workers == null ? 0 : w.num_workers) + " workers";
  const market = [w.availability, w.first_on_demand == null ? null : "first_on_demand " + w.first_on_demand,
    w.spot_bid_price_percent == null ? null : "spot bid " + w.spot_bid_price_percent + "%"]
    .filter((part) => part != null).join(", ");
  const now = w.executors == null
    ? "no machines now"
    : "now " + w.executors + " executors: " + w.executors_on_spot + " on spot, " +
      w.executors_on_demand + " on demand; driver " + (w.driver_on_spot ? "on spot" : "on demand");
  return size + (market ? " (" + market + ")" : "") + "; " + now;
}

function showCluster(view) {
  const c = view.cluster;
  document.title = (c.cluster_name || c.cluster_id) + " \u2014 Databricks workspace emulator";
  text("cluster-name", c.cluster_name || "(no name)");
  text("cluster-id", c.cluster_id);
  stateBadge(byId("state"), c.state);
  byId("state-message").textContent = c.state_message || "";
  showReason(c.termination_reason);
  text("start-time", when(c.start_time));
  text("terminated-time", c.terminated_time == null ? null : when(c.terminated_time));
  const span = c.state === "TERMINATED" ? " (from start to termination)" : " (since start)";
  text("uptime", duration(c.uptime_seconds) + span);
  text("spark-version", c.spark_version);
  text("node-types", (c.driver_node_type_id && c.driver_node_type_id !== c.node_type_id)
    ? "workers " + c.node_type_id + ", driver " + c.driver_node_type_id : c.node_type_id);
  text("workers", workersText(view.workers));
  text("creator", c.creator_user_name);
  byId("configuration").textContent = JSON.stringify(view.configuration, null, 2);
  const body = byId("events").tBodies[0];
  body.replaceChildren();
  for (const event of view.events) {
    const row = body.insertRow();
    cell(row, when(event.timestamp), "when");
    cell(row, event.type);
    cell(row, event.summary, "details");
  }
  byId("events-count").textContent = view.events_total > view.events.length
    ? "(newest " + view.events.length + " of " + view.events_total + ")"
    : "(" + view.events.length + ")";
  byId("list-view").hidden = true;
  byId("cluster-view").hidden = false;
}

function showList(clusters) {
  document.title = "Clusters \u2014 Databricks workspace emulator";
  const body = byId("cluster-list").tBodies[0];
  body.replaceChildren();
  for (const c of clusters) {
    const row = body.insertRow();
    const link = document.createElement("a");
    link.href = "#setting/clusters/" + encodeURIComponent(c.cluster_id) + "/configuration";
    link.textContent = c.cluster_name || "(no name)";
    row.insertCell().append(link);
    cell(row, c.cluster_id);
    const badge = document.createElement("span");
    stateBadge(badge, c.state);
    row.insertCell().append(badge);
    cell(row, when(c.start_time), "when");
  }
  byId("no-clusters").hidden = clusters.length > 0;
  byId("cluster-view").hidden = true;
  byId("list-view").hidden = false;
}

let latest = 0;

async function render() {
  const mine = ++latest;
  document.body.dataset.view = "loading";
  let message = "";
  let view = "error";
  try {
    const id = clusterIdInHash();
    if (id !== null) {
      const answer = await getJson(DATA + "/" + encodeURIComponent(id));
      if (mine !== latest) return;
      if (answer.status === 200) {
        showMessage("");
        showCluster(answer.body);
        document.body.dataset.view = "cluster";
        return;
      }
      message = answer.status === 404 ? "No cluster " + id + " in this workspace." : problem(answer);
    }
    const list = await getJson(DATA);
    if (mine !== latest) return;
    if (list.status === 200) {
      showList(list.body.clusters);
      view = "list";
    } else {
      message = problem(list);
    }
  } catch (error) {
    if (mine !== latest) return;
    message = "The emulator could not be reached: " + error;
  }
  if (view === "error") {
    byId("cluster-view").hidden = true;
    byId("list-view").hidden = true;
  }
  showMessage(message);
  document.body.dataset.view = view;
}

window.addEventListener("hashchange", render);
byId("refresh").addEventListener("click", render);
render();
""".replace("__DATA_PATH__", DATA_PATH)

_BODY = """
<header>
  <a href="#">Databricks workspace emulator</a>
  <span class="note">The emulator's own read-only page, standing in for the workspace UI.</span>
  <button id="refresh" type="button">Refresh</button>
</header>
<main>
  <p id="message" role="alert" hidden></p>
  <section id="list-view" hidden>
    <h1>Clusters</h1>
    <table id="cluster-list">
      <thead><tr><th>Name</th><th>Cluster id</th><th>State</th><th>Started (UTC)</th></tr></thead>
      <tbody></tbody>
    </table>
    <p id="no-clusters" class="muted" hidden>No clusters in this workspace yet.</p>
  </section>
  <section id="cluster-view" hidden>
    <p><a href="#">&larr; All clusters</a></p>
    <h1 id="cluster-name"></h1>
    <dl class="facts">
      <dt>Cluster id</dt><dd><code id="cluster-id"></code></dd>
      <dt>State</dt><dd><span id="state" class="state"></span> <span id="state-message"></span></dd>
      <dt>Termination reason</dt><dd id="termination-reason"></dd>
      <dt>Started</dt><dd id="start-time"></dd>
      <dt>Terminated</dt><dd id="terminated-time"></dd>
      <dt>Uptime</dt><dd id="uptime"></dd>
      <dt>Runtime</dt><dd id="spark-version"></dd>
      <dt>Node type</dt><dd id="node-types"></dd>
      <dt>Workers</dt><dd id="workers"></dd>
      <dt>Creator</dt><dd id="creator"></dd>
    </dl>
    <h2>Configuration</h2>
    <pre id="configuration"></pre>
    <h2>Events <span id="events-count" class="muted"></span></h2>
    <table id="events">
      <thead><tr><th>Time (UTC)</th><th>Type</th><th>Details</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
</main>
"""

#: The whole page. It holds no data: the script fetches it.
PAGE = (
    '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
    "<title>Databricks workspace emulator</title>\n"
    # An empty icon: the browser then asks for no /favicon.ico, which the API would refuse.
    '<link rel="icon" href="data:,">\n'
    f"<style>{_STYLE}</style>\n</head>\n<body>{_BODY}<script>{_SCRIPT}</script>\n</body>\n</html>\n"
)


def _digest(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


#: The page's response headers. The policy lets only this page's own script and style run and lets it
#: fetch only from its origin: a cluster name or tag shown on it can never load or run anything.
HEADERS = {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "content-security-policy": (
        f"default-src 'none'; script-src {_digest(_SCRIPT)}; style-src {_digest(_STYLE)}; "
        "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
}
