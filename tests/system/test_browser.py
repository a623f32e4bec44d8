"""The UI as a person uses it: Debian's Chromium, driven by Playwright, against the system tests' Airflow.

The trigger form's inputs reach the cluster spec; the create task's "Databricks Cluster" link opens the
cluster's page in the emulator's console; the Clusters page (the plugin's view in the UI's navigation)
lists the run's cluster, pages a DAG's clusters, opens a row's detail (its events), filters orphaned
clusters and terminates one. Selectors are the UI's roles and labels, and the ids the plugin's and the
emulator's pages promise, never Airflow's CSS classes.

The browser is Debian's ``chromium`` package, never one Playwright downloads. Screenshots go to the test's
``tmp_path``; with ``ADC_UPDATE_SCREENSHOTS=1`` the Clusters page's also replaces ``docs/clusters-page.png``,
the README's image.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from local_airflow import REPO, AirflowDeployment
from playwright.sync_api import (
    Browser,
    BrowserContext,
    FrameLocator,
    Locator,
    Page,
    expect,
    sync_playwright,
)

from airflow_databricks_clusters.emulator import Emulator
from tests.system.pipeline_checks import cluster_of_run, failed_run_report

# Generous: Airflow's start, a run with a retry and a browser on a busy 2-core machine.
pytestmark = [pytest.mark.system, pytest.mark.timeout(900)]

CHROMIUM = Path("/usr/bin/chromium")
# The machine's network is closed: Chromium's own background connections would only fail and slow it.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Every wait on the page is Playwright's auto-wait, bounded this generously; none decides an outcome by time.
UI_TIMEOUT_MS = 60_000
expect.set_options(timeout=UI_TIMEOUT_MS)

DAG_ID = "databricks_spot_cluster_pipeline"
# The form's values, each unlike the DAG's default (1, 2, 80, "latest").
FORM = {"min_workers": 2, "max_workers": 3, "spot_bid_price_percent": 60, "image_tag": "2026.11.25-ui"}
# Triggered by hand only, and never by another test: it stays paused, so a run made for the orphan test
# never runs a task.
ORPHAN_DAG_ID = "databricks_cluster_from_json"
LIVE = {"PENDING", "RUNNING", "RESTARTING", "RESIZING"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser, tmp_path: Path) -> Iterator[BrowserContext]:
    """A fresh browser profile per test. Afterwards, whatever its pages last showed is kept as
    screenshots, and what the browser said in their consoles (and their frames') is printed: a blocked
    dialog or navigation is only ever reported there."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    console: list[str] = []
    context.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    yield context
    for number, page in enumerate(context.pages):
        page.screenshot(path=tmp_path / f"last-page-{number}.png", full_page=True)
    context.close()
    print("browser console:", *console, sep="\n  ")


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def made_clusters(emulator: Emulator) -> Iterator[list[str]]:
    """Clusters a test creates itself; any still live afterwards (the test failed) is terminated, so the
    tests after it find a quiet workspace."""
    made: list[str] = []
    yield made
    for cluster_id in made:
        if emulator.clusters[cluster_id]["state"] in LIVE:
            emulator.workspace.clusters_delete({"cluster_id": cluster_id})


def screenshot(page: Page, tmp_path: Path, name: str, *, readme: bool = False) -> None:
    page.screenshot(path=tmp_path / name, full_page=True)
    if readme and os.environ.get("ADC_UPDATE_SCREENSHOTS") == "1":
        page.screenshot(path=REPO / "docs" / name, full_page=True)


def click_until(page: Page, target: Locator, url: re.Pattern[str], attempts: int = 6) -> None:
    """Click ``target`` until the page's URL matches ``url`` (each try waits 10 s for it)."""
    for _ in range(attempts - 1):
        target.click()
        try:
            expect(page).to_have_url(url, timeout=10_000)
            return
        except AssertionError:
            continue
    target.click()
    expect(page).to_have_url(url)


def open_ui(page: Page, airflow: AirflowDeployment) -> None:
    """The UI's home page. Every user is admin here (SimpleAuthManager ALL_ADMINS): there is no login."""
    page.goto(airflow.url)
    expect(page.get_by_role("link", name="Dags", exact=True)).to_be_visible()


def open_clusters_page(page: Page) -> FrameLocator:
    """Browse > Databricks Clusters (the plugin's external view, category "browse"); its frame."""
    page.get_by_role("button", name="Browse", exact=True).click()
    page.get_by_role("menuitem", name="Databricks Clusters").click()
    expect(page).to_have_url(re.compile(r"/plugin/databricks-clusters"))
    frame = page.locator("iframe[title='Databricks Clusters']").content_frame
    expect(frame.locator("table#clusters")).to_be_visible()
    return frame


def eventually(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    """Poll ``check`` until it is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


def trigger_from_form(page: Page, airflow: AirflowDeployment) -> str:
    """Open the DAG, fill its trigger form with ``FORM``, trigger; the run id the UI then shows."""
    was_paused = airflow.api("GET", f"/dags/{DAG_ID}")["is_paused"]
    page.get_by_role("link", name="Dags", exact=True).click()
    page.get_by_role("link", name=DAG_ID, exact=True).click()
    expect(page.get_by_role("heading", name=DAG_ID, exact=True)).to_be_visible()
    page.get_by_role("button", name="Trigger Dag").click()

    form = page.get_by_role("dialog")
    expect(form.get_by_role("heading")).to_contain_text(DAG_ID)
    if was_paused:  # unpaused through the UI: the form's own checkbox (shown only for a paused DAG)
        unpause = form.get_by_role("checkbox", name=f"Unpause {DAG_ID} on trigger")
        unpause.check()
        expect(unpause).to_be_checked()
    for name in ("min_workers", "max_workers", "spot_bid_price_percent"):
        form.get_by_role("spinbutton", name=name).fill(str(FORM[name]))
    # The text field's <label> names another element's id (Airflow's form), so it has no accessible name:
    # it is the textbox in the field group headed by the parameter's name.
    image_tag = form.get_by_role("group").filter(has_text=re.compile(r"^\s*image_tag\b"))
    image_tag.get_by_role("textbox").fill(str(FORM["image_tag"]))
    form.get_by_role("button", name="Trigger", exact=True).click()

    # The UI goes to the new run's page.
    expect(page).to_have_url(re.compile(rf"/dags/{DAG_ID}/runs/[^/]+$"))
    return unquote(page.url.rsplit("/", 1)[1])


def test_trigger_form_to_cluster_page_and_clusters_page(
    page: Page, context: BrowserContext, airflow: AirflowDeployment, emulator: Emulator, tmp_path: Path
) -> None:
    airflow.wait_for_dag(DAG_ID)
    open_ui(page, airflow)

    # 1. The trigger form, as a person fills it.
    run_id = trigger_from_form(page, airflow)
    run = airflow.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")
    assert {key: run["conf"].get(key) for key in FORM} == FORM, run["conf"]
    assert airflow.api("GET", f"/dags/{DAG_ID}")["is_paused"] is False

    # 2. The run succeeds, and the form's values reached the cluster's spec.
    assert airflow.wait_for_run(DAG_ID, run_id, timeout=300) == "success", failed_run_report(airflow, run_id)
    cluster = cluster_of_run(emulator, run_id)
    cluster_id = cluster["cluster_id"]
    assert cluster["autoscale"] == {"min_workers": 2, "max_workers": 3}
    assert cluster["aws_attributes"]["spot_bid_price_percent"] == 60
    assert cluster["docker_image"]["url"].endswith(":2026.11.25-ui")
    assert cluster["state"] == "TERMINATED"
    assert cluster["termination_reason"]["code"] == "USER_REQUEST"

    # 3. The create task's "Databricks Cluster" link (the task instance's Details tab) opens the cluster's
    # page in the workspace: the emulator's console.
    page.get_by_role("table").get_by_role("link", name="create_cluster", exact=True).click()
    expect(page).to_have_url(re.compile(r"/tasks/create_cluster$"))
    # A tab clicked while the page still renders can be lost: click until the UI is on the Details tab.
    click_until(page, page.get_by_role("link", name="Details", exact=True), re.compile(r"/details$"))
    link = page.get_by_role("link", name="Databricks Cluster", exact=True)
    expect(link).to_have_attribute("href", f"{emulator.url}/#setting/clusters/{cluster_id}/configuration")
    with context.expect_page() as opened:
        link.click()
    console = opened.value
    expect(console.locator("#cluster-id")).to_have_text(cluster_id)
    expect(console.locator("#cluster-name")).to_have_text(cluster["cluster_name"])
    expect(console.locator("#state")).to_have_text("TERMINATED")
    expect(console.locator("#termination-reason")).to_contain_text("USER_REQUEST")
    expect(console.locator("#configuration")).to_contain_text("2026.11.25-ui")
    expect(console.locator("#events tbody tr").first).to_be_visible()
    screenshot(console, tmp_path, "emulator-cluster-page.png")
    console.close()

    # 4. The Clusters page lists the run's cluster, with links to its DAG and run.
    frame = open_clusters_page(page)
    row = frame.locator(f'table#clusters tbody tr[data-cluster-id="{cluster_id}"]')
    expect(row.locator('td[data-col="state"]')).to_contain_text("TERMINATED")
    expect(row.locator('td[data-col="dag"]')).to_have_text(DAG_ID)
    expect(row.locator('td[data-col="task"]')).to_contain_text("create_cluster")
    run_link = row.locator('td[data-col="run"]').get_by_role("link", name=run_id, exact=True)
    expect(run_link).to_be_visible()
    screenshot(page, tmp_path, "clusters-page.png")
    run_url = run_link.evaluate("a => a.href")
    assert unquote(run_url) == f"{airflow.url}/dags/{DAG_ID}/runs/{run_id}", run_url
    # Followed, the link is the run's page in the UI.
    run_link.click()
    expect(page).to_have_url(re.compile(rf"/dags/{DAG_ID}/runs/[^/]+$"))
    assert unquote(page.url) == f"{airflow.url}/dags/{DAG_ID}/runs/{run_id}"
    expect(page.get_by_role("heading", name=run_id)).to_be_visible()


def finished_task_instance(airflow: AirflowDeployment) -> dict[str, str]:
    """The tags of a create task instance that has ended (failed) in a run that has ended: a run of a
    paused DAG, so no task of it ever starts; its states are set through the REST API."""
    airflow.wait_for_dag(ORPHAN_DAG_ID)
    assert airflow.api("GET", f"/dags/{ORPHAN_DAG_ID}")["is_paused"] is True
    run = airflow.api("POST", f"/dags/{ORPHAN_DAG_ID}/dagRuns", {"logical_date": None, "conf": {}})
    run_id = run["dag_run_id"]
    path = f"/dags/{ORPHAN_DAG_ID}/dagRuns/{run_id}"
    airflow.api("PATCH", f"{path}/taskInstances/create_cluster", {"new_state": "failed"})
    airflow.api("PATCH", path, {"state": "failed"})
    assert airflow.task_states(ORPHAN_DAG_ID, run_id)["create_cluster"] == "failed"
    return {"airflow_dag_id": ORPHAN_DAG_ID, "airflow_task_id": "create_cluster", "airflow_run_id": run_id,
            "airflow_map_index": "-1"}  # fmt: skip


def create_cluster(emulator: Emulator, name: str, tags: dict[str, str]) -> str:
    spec = {"cluster_name": name, "spark_version": "15.4.x-scala2.12", "node_type_id": "r5d.xlarge",
            "num_workers": 1, "custom_tags": tags}  # fmt: skip
    return str(emulator.workspace.clusters_create(spec)["cluster_id"])


def test_an_orphaned_cluster_is_filtered_and_terminated_from_the_clusters_page(
    page: Page, airflow: AirflowDeployment, emulator: Emulator, made_clusters: list[str], tmp_path: Path
) -> None:
    tags = finished_task_instance(airflow)
    # Thirty terminated clusters of that task instance, older than the two below: its DAG's rows make two
    # pages of 25.
    older = [create_cluster(emulator, f"browser-older-{n:02d}", tags) for n in range(30)]
    # The leak: a live cluster whose create task has ended (as when a killed task never ran its teardown);
    # and a cluster of the same task instance that is already terminated (not orphaned: not live).
    orphan = create_cluster(emulator, "browser-orphan", tags)
    ended = create_cluster(emulator, "browser-ended", tags)
    made_clusters += [*older, orphan, ended]
    for cluster_id in [*older, ended]:
        emulator.workspace.clusters_delete({"cluster_id": cluster_id})
    eventually(
        "the ended clusters to terminate",
        lambda: all(emulator.clusters[c]["state"] == "TERMINATED" for c in [*older, ended]),
    )
    assert emulator.clusters[orphan]["state"] in LIVE

    open_ui(page, airflow)
    frame = open_clusters_page(page)
    rows = frame.locator("table#clusters tbody tr")
    orphan_row = frame.locator(f'table#clusters tbody tr[data-cluster-id="{orphan}"]')
    ended_row = frame.locator(f'table#clusters tbody tr[data-cluster-id="{ended}"]')
    # The page refreshes itself from the workspace: both appear without a reload.
    expect(orphan_row).to_be_visible()
    expect(ended_row).to_be_visible()
    expect(orphan_row.locator('td[data-col="state"]')).to_contain_text("orphaned")

    # The server pages the table: one DAG's 32 clusters, 25 a page, live first.
    frame.locator("#filter-dag").select_option(ORPHAN_DAG_ID)
    frame.locator("#per-page").select_option("25")
    page_info = frame.locator("#page-info")
    expect(page_info).to_contain_text("Page 1 of 2")
    expect(page_info).to_contain_text("of 32 matching")
    expect(rows).to_have_count(25)
    expect(rows.first).to_have_attribute("data-cluster-id", orphan)
    frame.locator("#next-page").click()
    expect(page_info).to_contain_text("Page 2 of 2")
    expect(rows).to_have_count(7)
    expect(orphan_row).to_have_count(0)
    frame.locator("#prev-page").click()
    expect(page_info).to_contain_text("Page 1 of 2")

    # An opened row reads its cluster's events: nodes lost, the fallback, the last events.
    orphan_row.get_by_role("button", name="Details", exact=True).click()
    detail = frame.locator(f'table#clusters tr.detail[data-detail-for="{orphan}"]')
    expect(detail.locator('[data-field="nodes-lost"]')).to_have_text("0")
    expect(detail.locator('[data-field="events"]')).to_contain_text("CREATING")
    screenshot(page, tmp_path, "clusters-page.png", readme=True)
    orphan_row.get_by_role("button", name="Hide details").click()
    expect(detail).to_have_count(0)

    only_orphaned = frame.locator("#only-orphaned")
    only_orphaned.check()
    expect(orphan_row).to_be_visible()
    expect(ended_row).to_have_count(0)
    for state in rows.locator('td[data-col="state"]').all():
        expect(state).not_to_contain_text("TERMINATED")
    screenshot(page, tmp_path, "clusters-page-orphaned.png")

    orphan_row.locator("button.terminate").click()
    # The page's own confirmation (the UI's sandboxed frame refuses window.confirm): it names the cluster.
    confirm = frame.locator("#confirm-dialog")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text(orphan)
    confirm.get_by_role("button", name="Terminate").click()
    eventually(
        f"{orphan} to terminate (the browser's console is printed below)",
        lambda: emulator.clusters[orphan]["state"] in {"TERMINATING", "TERMINATED"},
    )
    assert emulator.clusters[orphan]["termination_reason"]["code"] == "USER_REQUEST"
    # The page reads the workspace again: the cluster is no longer live, so no longer orphaned.
    expect(orphan_row).to_have_count(0)
    only_orphaned.uncheck()
    expect(orphan_row.locator('td[data-col="state"]')).to_contain_text(re.compile(r"TERMINAT(ING|ED)"))
