"""The design's layers and direction of imports, read from the source (every import, also inside functions).

``LAYERS`` places every module of the plugin, folder by folder, in its layer:

- pure: no Airflow, no HTTP client, no amazon provider or boto, and only other pure modules of the plugin;
- io: talks to the workspace (or AWS) through the hook and the transports; imports no glue module;
- glue: Airflow's side (operators, sensor, trigger, XCom, the UI plugin); the decisions come from below.

Besides: only ``client/transport.py`` and ``hooks.py`` import an HTTP client, only ``preflight/aws.py`` and
``client/subject_tokens.py`` (STS, for ``federated_aws``) the amazon provider (or boto); the emulator and
the plugin import nothing of each other, but for ``testing/``, which runs users' DAGs against the emulator
(and which nothing else imports); there is no import cycle; a folder's ``__init__.py`` holds only its
docstring; ``docs/architecture.md`` names every folder and every module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "airflow_databricks_clusters"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE
PURE, IO, GLUE = "pure", "io", "glue"

#: Every module of the plugin by folder ("" is the top level: the public import paths), and its layer.
LAYERS: dict[str, dict[str, str]] = {
    "": {
        "__init__": PURE,  # the version and get_provider_info(): data, no import
        "errors": PURE,
        "redaction": PURE,
        "hooks": IO,
        "operator_base": GLUE,
        "operators": GLUE,
        "spec_rendering": GLUE,
        "sensors": GLUE,
        "triggers": GLUE,
        "links": GLUE,
        "sweeper": GLUE,
    },
    "cluster_spec": {
        "fields": PURE,
        "build": PURE,
        "validation": PURE,
        "capacity_fallback": PURE,
        "libraries": PURE,
    },
    "wait": {
        "states": PURE,
        "library_states": PURE,
        "engine": PURE,
        "poll_plan": PURE,
        "poller": IO,
        "lifecycle": IO,
        "ensure": IO,
    },
    "client": {
        "transport": IO,
        "connection": IO,
        "answers": PURE,
        "retry": PURE,
        "rate_limit": PURE,
        "oauth_tokens": PURE,
        "federation": PURE,
        "subject_tokens": IO,
    },
    "preflight": {"checks": IO, "results": PURE, "runtimes": PURE, "spec_rules": PURE, "aws": IO},
    "fleet": {
        "sweep_policy": PURE,
        "rows": PURE,
        "table": PURE,
        "row_detail": PURE,
        "page_html": PURE,
        "reader": IO,
        "task_instances": GLUE,
        "page": GLUE,
        "plugin": GLUE,
    },
    "testing": {"airflow_home": GLUE, "dag_runs": GLUE, "pytest_plugin": GLUE, "oidc_issuer": GLUE},
}
FOLDERS = sorted(folder for folder in LAYERS if folder)
#: Module (its path in the package, no ".py") -> layer; a folder's __init__.py is only a docstring: pure.
LAYER = {
    f"{folder}/{name}" if folder else name: layer
    for folder, names in LAYERS.items()
    for name, layer in names.items()
}
LAYER |= {f"{folder}/__init__": PURE for folder in FOLDERS}

#: Who may import an HTTP client, and who may import the amazon provider (or boto).
HTTP = {"client/transport", "hooks"}
AWS = {"preflight/aws", "client/subject_tokens"}
HTTP_CLIENTS = ("requests", "httpx", "urllib3", "aiohttp")
AWS_LIBRARIES = ("airflow.providers.amazon", "boto3", "botocore")


def key(path: Path) -> str:
    """A module as this test names it: its path in the package without ``.py`` (``cluster_spec/fields``)."""
    return path.relative_to(ROOT).with_suffix("").as_posix()


def dotted(path: Path) -> str:
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
                base = ".".join([*dotted(path).split(".")[: -node.level], node.module])
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


FILES = sorted(ROOT.rglob("*.py"))
KEYS = {dotted(path): key(path) for path in FILES}
#: Every module of the plugin (the emulator apart) -> the modules of the plugin it imports.
PLUGIN = {key(p): imports_of(p) for p in FILES if not key(p).startswith("emulator/")}


def ours(deps: set[str]) -> set[str]:
    return {KEYS[dep] for dep in deps if dep in KEYS}


def starts(dep: str, prefixes: tuple[str, ...]) -> bool:
    return any(dep == p or dep.startswith(p + ".") for p in prefixes)


def test_every_module_has_its_place_in_the_table() -> None:
    # A new module is placed in LAYERS (its folder, its layer); a moved or removed one leaves it.
    assert sorted(set(PLUGIN) - set(LAYER)) == [], "modules missing from LAYERS"
    assert sorted(set(LAYER) - set(PLUGIN)) == [], "LAYERS names modules that are gone"


@pytest.mark.parametrize("name", sorted(n for n, layer in LAYER.items() if layer == PURE))
def test_pure_modules_import_no_airflow_no_io_and_only_pure_modules(name: str) -> None:
    deps = PLUGIN[name]
    assert not [d for d in deps if starts(d, ("airflow", *HTTP_CLIENTS, *AWS_LIBRARIES))]
    impure = {dep for dep in ours(deps) if LAYER[dep] != PURE}
    assert impure == set(), f"{name} imports {impure}"


@pytest.mark.parametrize("name", sorted(n for n, layer in LAYER.items() if layer == IO))
def test_io_modules_import_no_glue(name: str) -> None:
    glue = {dep for dep in ours(PLUGIN[name]) if LAYER[dep] == GLUE}
    assert glue == set(), f"{name} imports {glue}"


def test_only_the_transport_and_the_hook_touch_http_clients() -> None:
    users = {name for name, deps in PLUGIN.items() if any(starts(d, HTTP_CLIENTS) for d in deps)}
    assert users <= HTTP, users


def test_only_aws_touches_the_amazon_provider() -> None:
    users = {name for name, deps in PLUGIN.items() if any(starts(d, AWS_LIBRARIES) for d in deps)}
    assert users <= AWS, users


def test_the_emulator_and_the_plugin_stay_apart() -> None:
    # testing/ joins them (users' DAG tests run the plugin against the emulator); nothing imports testing/.
    for path in FILES:
        emulator, joins = key(path).startswith("emulator/"), key(path).startswith("testing/")
        for dep in imports_of(path):
            if not dep.startswith(f"{PACKAGE}."):
                continue
            assert joins or not dep.startswith(f"{PACKAGE}.testing"), f"{key(path)} imports {dep}"
            if not joins:
                assert dep.startswith(f"{PACKAGE}.emulator") == emulator, f"{key(path)} imports {dep}"


def test_the_plugin_has_no_import_cycle() -> None:
    graph = {name: ours(deps) - {name} for name, deps in PLUGIN.items()}
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


@pytest.mark.parametrize("folder", FOLDERS)
def test_a_folder_init_holds_only_its_docstring(folder: str) -> None:
    body = ast.parse((ROOT / folder / "__init__.py").read_text()).body
    assert len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)


def test_the_map_names_every_folder_and_module() -> None:
    # docs/architecture.md maps every folder and holds one line per module: a new module gets its line.
    text = (ROOT.parent / "docs" / "architecture.md").read_text()
    named = [f"`{folder}/`" for folder in FOLDERS]
    named += [f"`{name}.py`" for name in LAYER if not name.endswith("/__init__")]
    named += ["`emulator/`"] + [p.name for p in (ROOT / "emulator").rglob("*.py") if p.name != "__init__.py"]
    missing = [name for name in named if name not in text]
    assert missing == [], missing
