"""The Clusters page itself: one HTML document with its script, no external asset (the UI may be offline).

Shown in the Airflow UI's frame (the plugin's external view), it reads ``api/clusters`` relative to its
own URL as the logged-in user and refreshes every ``cache_seconds``. Every value is inserted as text,
never as HTML. The UI's frame is sandboxed without ``allow-modals`` or ``allow-top-navigation``: so the
terminate confirmation is a dialog of the page's own (``window.confirm`` is silently refused there), and a
link to an Airflow page moves the UI's own router (same origin) instead of navigating the top window.
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Databricks clusters</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 16px; color: #1a202c; background: #fff; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  .muted { color: #5a6475; }
  .bar { display: flex; gap: 16px; align-items: center; margin: 8px 0 12px; flex-wrap: wrap; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid #e2e8f0; vertical-align: top; }
  /* Run ids and reasons are long and unbroken: they wrap anywhere, so the table fits the frame. */
  td[data-col="run"], td[data-col="dag"], td[data-col="reason"], td[data-col="cluster"] {
    overflow-wrap: anywhere; }
  td[data-col="task"], td[data-col="uptime"], button { white-space: nowrap; }
  th { background: #f7fafc; font-weight: 600; white-space: nowrap; }
  tr.orphaned td { background: #fff5f5; }
  .state { font-weight: 600; white-space: nowrap; }
  .state.RUNNING { color: #2f855a; } .state.PENDING, .state.RESTARTING, .state.RESIZING { color: #b7791f; }
  .state.TERMINATED, .state.TERMINATING { color: #5a6475; } .state.ERROR { color: #c53030; }
  .tag { display: inline-block; font-size: 12px; padding: 0 6px; border-radius: 8px; background: #fed7d7;
         color: #9b2c2c; margin-left: 4px; }
  button.terminate, button.danger { color: #fff; background: #c53030; border: 0; border-radius: 4px;
                                    padding: 3px 10px; cursor: pointer; }
  button.terminate:disabled { background: #a0aec0; cursor: default; }
  dialog { border: 1px solid #cbd5e0; border-radius: 6px; max-width: 560px; }
  dialog .bar { justify-content: flex-end; }
  #confirm-text { white-space: pre-line; }
  #errors div { color: #9b2c2c; margin: 4px 0; }
  a { color: #2b6cb0; }
</style>
</head>
<body>
<h1>Databricks clusters</h1>
<div class="muted">Every cluster a Databricks create task made, found by its task instance tags.
  <span id="read-at"></span></div>
<div class="bar">
  <label><input type="checkbox" id="only-orphaned"> Only orphaned: live, and no task will terminate it
    (what the leak sweeper terminates)</label>
  <span id="counts" class="muted"></span>
</div>
<div id="errors" role="alert"></div>
<table id="clusters">
  <thead><tr>
    <th>Cluster</th><th>State</th><th>DAG</th><th>Run</th><th>Task</th><th>Uptime</th>
    <th>Workers</th><th>Nodes lost</th><th>Termination reason</th><th></th>
  </tr></thead>
  <tbody></tbody>
</table>
<dialog id="confirm-dialog" aria-labelledby="confirm-text">
  <p id="confirm-text"></p>
  <div class="bar">
    <button type="button" id="cancel-terminate">Cancel</button>
    <button type="button" id="confirm-terminate" class="danger">Terminate</button>
  </div>
</dialog>
<script>
"use strict";
let rows = [];
let refreshSeconds = 15;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value; else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

function openInAirflow(event) {
  const href = new URL(event.currentTarget.getAttribute("href"), window.location.href).href;
  if (window.top === window || event.ctrlKey || event.metaKey || event.shiftKey) return;
  event.preventDefault();
  try {
    // The UI's router follows the top window's history: a new entry and a popstate move it there.
    const history = window.top.history;
    const index = ((history.state && history.state.idx) || 0) + 1;
    history.pushState({usr: null, key: Math.random().toString(36).slice(2, 10), idx: index}, "", href);
    window.top.dispatchEvent(new PopStateEvent("popstate", {state: history.state}));
  } catch (err) {
    window.location.href = href;  // not the UI's frame after all: open it here
  }
}

function airflowLink(path, text) {
  // This page is served at <base>/databricks-clusters/: Airflow's pages are one level up.
  const link = el("a", {href: "../" + path.map(encodeURIComponent).join("/"), target: "_top"}, text);
  link.addEventListener("click", openInAirflow);
  return link;
}

function confirmOnPage(text) {
  const dialog = document.getElementById("confirm-dialog");
  document.getElementById("confirm-text").textContent = text;
  return new Promise((resolve) => {
    const answer = (yes) => { dialog.onclose = null; dialog.close(); resolve(yes); };
    document.getElementById("confirm-terminate").onclick = () => answer(true);
    document.getElementById("cancel-terminate").onclick = () => answer(false);
    dialog.onclose = () => resolve(false);  // Escape
    dialog.showModal();
  });
}

function uptime(seconds) {
  if (seconds === null || seconds === undefined) return "\\u2014";
  const s = Math.round(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  if (h) return `${h} h ${String(m).padStart(2, "0")} min`;
  if (m) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
  return `${s} s`;
}

function workers(row) {
  const cell = el("span", {}, row.workers_on_spot === null
    ? "\\u2014" : `${row.workers_on_spot} spot, ${row.workers_on_demand} on demand`);
  if (row.fell_back) cell.append(el("span", {class: "tag"}, "fell back to on-demand"));
  if (row.capacity_fallback !== null) {
    const title = "the create task's capacity_fallback alternative this cluster runs on";
    cell.append(el("span", {class: "tag", title}, `capacity_fallback[${row.capacity_fallback}]`));
  }
  return cell;
}

function render() {
  const onlyOrphaned = document.getElementById("only-orphaned").checked;
  const shown = rows.filter((row) => !onlyOrphaned || row.orphaned);
  const body = document.querySelector("#clusters tbody");
  body.replaceChildren(...shown.map((row) => {
    const state = el("span", {class: "state " + row.state}, row.state);
    const stateCell = el("td", {"data-col": "state"}, state);
    if (row.orphaned) stateCell.append(el("span", {class: "tag", title: row.verdict}, "orphaned"));
    const action = el("td", {"data-col": "action"});
    if (row.can_terminate) {
      const button = el("button", {class: "terminate", type: "button"}, "Terminate");
      button.addEventListener("click", () => terminate(row, button));
      action.append(button);
    }
    const task = row.map_index >= 0 ? `${row.task_id}[${row.map_index}]` : row.task_id;
    const taskPath = ["dags", row.dag_id, "runs", row.run_id, "tasks", row.task_id];
    if (row.map_index >= 0) taskPath.push("mapped", String(row.map_index));
    return el("tr", {"data-cluster-id": row.cluster_id, "data-conn-id": row.conn_id,
                     class: row.orphaned ? "orphaned" : ""},
      el("td", {"data-col": "cluster"}, el("a", {href: row.url, target: "_blank", rel: "noopener"},
        row.cluster_name || row.cluster_id), el("div", {class: "muted"}, row.cluster_id)),
      stateCell,
      el("td", {"data-col": "dag"}, airflowLink(["dags", row.dag_id], row.dag_id)),
      el("td", {"data-col": "run"}, airflowLink(["dags", row.dag_id, "runs", row.run_id], row.run_id)),
      el("td", {"data-col": "task"},
        airflowLink(taskPath, task),
        el("div", {class: "muted"}, row.task_state || "")),
      el("td", {"data-col": "uptime"}, uptime(row.uptime_seconds)),
      el("td", {"data-col": "workers"}, workers(row)),
      el("td", {"data-col": "nodes-lost"}, row.nodes_lost ?? "?"),
      el("td", {"data-col": "reason"}, row.termination_reason || ""),
      action);
  }));
  const live = rows.filter((row) => row.live).length;
  const orphaned = rows.filter((row) => row.orphaned).length;
  document.getElementById("counts").textContent =
    `${rows.length} cluster${rows.length === 1 ? "" : "s"}, ${live} live, ${orphaned} orphaned`;
}

function showErrors(messages) {
  document.getElementById("errors").replaceChildren(...messages.map((text) => el("div", {}, text)));
}

async function load() {
  try {
    const answer = await fetch("api/clusters", {credentials: "same-origin", cache: "no-store"});
    if (answer.status === 401 || answer.status === 403) {
      showErrors(["Log in to Airflow to see the clusters."]);
      return;
    }
    if (!answer.ok) throw new Error(`${answer.status} ${await answer.text()}`);
    const data = await answer.json();
    rows = data.clusters;
    refreshSeconds = Math.max(data.cache_seconds || 15, 5);
    const problems = data.workspaces.filter((w) => w.error)
      .map((w) => `Workspace ${w.conn_id} could not be read: ${w.error}`);
    if (data.lookup_error) problems.push(data.lookup_error);
    showErrors(problems);
    const stamps = data.workspaces.map((w) => w.read_at).filter(Boolean);
    document.getElementById("read-at").textContent = stamps.length ?
      `Read from the workspace at ${new Date(Math.min(...stamps) * 1000).toLocaleTimeString()}.` : "";
    render();
  } catch (err) {
    showErrors([`The clusters could not be read: ${err.message}`]);
  }
}

async function terminate(row, button) {
  const what = `cluster ${row.cluster_name || row.cluster_id} (${row.cluster_id}) of ${row.dag_id} / ` +
    `${row.run_id}`;
  const warning = row.orphaned ? "" :
    `\n\nIts task instance is ${row.task_state || "unknown"}: a task may still be using it.`;
  if (!await confirmOnPage(`Terminate ${what}?${warning}`)) return;
  button.disabled = true;
  const url = `api/clusters/${encodeURIComponent(row.conn_id)}/` +
    `${encodeURIComponent(row.cluster_id)}/terminate`;
  try {
    const answer = await fetch(url, {method: "POST", credentials: "same-origin",
                                     headers: {"Content-Type": "application/json"}, body: "{}"});
    if (!answer.ok) {
      const detail = await answer.json().catch(() => ({}));
      throw new Error(detail.detail || answer.status);
    }
  } catch (err) {
    showErrors([`Could not terminate ${row.cluster_id}: ${err.message}`]);
    button.disabled = false;
    return;
  }
  await load();
}

document.getElementById("only-orphaned").addEventListener("change", render);
async function loop() {
  await load();
  setTimeout(loop, refreshSeconds * 1000);
}
loop();
</script>
</body>
</html>
"""
