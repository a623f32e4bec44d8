"""The design's direction of imports, read from the source (every import, also those inside functions).

- Pure modules (spec, validation, fields, states, the wait engine, answers, errors, retry policy,
  pre-flight results, the sweep policy) import nothing of Airflow, no HTTP client and only other pure modules.
- Only the transport and the hook touch HTTP clients; only ``aws.py`` touches the amazon provider.
- The emulator imports nothing else of the plugin, and nothing of the plugin imports the emulator.
- There is no import cycle between the plugin's modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "airflow_databricks_clusters"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE

PURE = {
    "answers",
    "cluster_fields",
    "cluster_fleet",
    "cluster_states",
    "cluster_wait",
    "clusters_page_html",
    "errors",
    "oauth_tokens",
    "poll_plan",
    "preflight_results",
    "rate_limit",
    "redaction",
    "retry",
    "runtimes",
    "spec",
    "spec_validation",
    "sweep_policy",
}
#: Who may import an HTTP client, and who may import the amazon provider (or boto).
HTTP = {"transport", "hooks"}
AWS = {"aws"}
HTTP_CLIENTS = ("requests", "httpx", "urllib3", "aiohttp")
AWS_LIBRARIES = ("airflow.providers.amazon", "boto3", "botocore")


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__")


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, absolute (TYPE_CHECKING-only imports left out: they never run)."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(child) for stmt in node.body for child in ast.walk(stmt)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:
                base = ".".join([*module_name(path).split(".")[: -node.level], node.module])
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


MODULES = {module_name(path): imports_of(path) for path in sorted(ROOT.rglob("*.py"))}
PLUGIN = {name: deps for name, deps in MODULES.items() if not name.startswith(f"{PACKAGE}.emulator")}


def short(name: str) -> str:
    return name.removeprefix(f"{PACKAGE}.")


def ours(deps: set[str]) -> set[str]:
    return {short(dep) for dep in deps if dep.startswith(f"{PACKAGE}.") and short(dep) in SHORT_NAMES}


SHORT_NAMES = {short(name) for name in MODULES}


def starts(dep: str, prefixes: tuple[str, ...]) -> bool:
    return any(dep == p or dep.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("name", sorted(PURE))
def test_pure_modules_import_no_airflow_no_io_and_only_pure_modules(name: str) -> None:
    deps = MODULES[f"{PACKAGE}.{name}"]
    assert not [d for d in deps if starts(d, ("airflow", *HTTP_CLIENTS, *AWS_LIBRARIES))]
    impure = ours(deps) - PURE - {""}
    assert impure == set(), f"{name} imports {impure}"


def test_only_the_transport_and_the_hook_touch_http_clients() -> None:
    users = {short(n) for n, deps in PLUGIN.items() if any(starts(d, HTTP_CLIENTS) for d in deps)}
    assert users <= HTTP, users


def test_only_aws_touches_the_amazon_provider() -> None:
    users = {short(n) for n, deps in PLUGIN.items() if any(starts(d, AWS_LIBRARIES) for d in deps)}
    assert users <= AWS, users


def test_the_emulator_and_the_plugin_stay_apart() -> None:
    for name, deps in MODULES.items():
        emulator = name.startswith(f"{PACKAGE}.emulator")
        for dep in deps:
            if not dep.startswith(f"{PACKAGE}."):
                continue
            if emulator:
                assert dep.startswith(f"{PACKAGE}.emulator"), f"{name} imports {dep}"
            else:
                assert not dep.startswith(f"{PACKAGE}.emulator"), f"{name} imports {dep}"


def test_the_plugin_has_no_import_cycle() -> None:
    graph = {short(name): ours(deps) - {short(name)} for name, deps in PLUGIN.items()}
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        if node in path:
            cycle = (*path[path.index(node) :], node)
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if node in done:
            return
        for nxt in graph.get(node, ()):
            visit(nxt, (*path, node))
        done.add(node)

    for node in graph:
        visit(node, ())


def test_the_map_knows_every_module() -> None:
    # docs/architecture.md holds one line per module: a new module gets its line.
    text = (ROOT.parent / "docs" / "architecture.md").read_text()
    files = [path for path in ROOT.rglob("*.py") if path != ROOT / "__init__.py"]
    named = [f"{p.parent.name}/" if p.name == "__init__.py" else p.name for p in files]
    missing = [name for name in named if name not in text]
    assert missing == [], missing
