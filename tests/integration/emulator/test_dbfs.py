"""DBFS on the wire: the file API's answers, limits and errors, its state file, and what clusters write
to it (logs at a ``dbfs:/`` destination) and read from it (init scripts, where the workspace allows them).

The file API tests share one workspace on a stopped clock, each under its own folder.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_databricks_clusters.emulator import Emulator
from airflow_databricks_clusters.emulator.dbfs import HANDLE_IDLE_SECONDS, MAX_BLOCK_BYTES, Dbfs
from tests.integration.emulator.conftest import SPEC, Api

MB = MAX_BLOCK_BYTES


@pytest.fixture(scope="module")
def shared() -> Iterator[Emulator]:
    with Emulator(start_seconds=0.4, terminate_seconds=0.2, time_scale=0) as emulator:
        yield emulator


@pytest.fixture
def fs(shared: Emulator) -> Api:
    return Api(shared)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def dbfs(api: Api, method: str, verb: str, body: Any = None, **params: Any) -> tuple[int, Any]:
    """A DBFS call: a JSON ``body``, or query ``params`` (``path`` among them)."""
    url = f"{api.emu.url}/api/2.0/dbfs/{verb}"
    response = api.session.request(method, url, json=body, params=params or None)
    return response.status_code, response.json()


def ok(api: Api, method: str, verb: str, body: Any = None, **params: Any) -> Any:
    status, answer = dbfs(api, method, verb, body, **params)
    assert status == 200, answer
    return answer


def read_all(api: Api, path: str) -> bytes:
    data, offset = b"", 0
    while True:
        answer = ok(api, "GET", "read", path=path, offset=offset, length=MB)
        if answer["bytes_read"] == 0:
            return data
        data += base64.b64decode(answer["data"])
        offset += answer["bytes_read"]


def test_put_then_read_back_with_or_without_the_scheme(fs: Api, shared: Emulator) -> None:
    ok(fs, "POST", "put", {"path": "dbfs:/put/a.txt", "contents": b64(b"hello world")})
    status = ok(fs, "GET", "get-status", path="/put/a.txt")
    assert status == {
        "path": "/put/a.txt",
        "is_dir": False,
        "file_size": 11,
        "modification_time": int(shared.clock.now() * 1000),
    }
    assert ok(fs, "GET", "read", path="dbfs:/put/a.txt", offset=6, length=100) == {
        "bytes_read": 5,
        "data": b64(b"world"),
    }
    assert ok(fs, "GET", "read", path="/put/a.txt", offset=50) == {"bytes_read": 0, "data": ""}
    # The parent was made, a directory of size and time 0.
    assert ok(fs, "GET", "get-status", path="/put") == {
        "path": "/put",
        "is_dir": True,
        "file_size": 0,
        "modification_time": 0,
    }


def test_put_refuses_an_existing_file_unless_overwrite(fs: Api, shared: Emulator) -> None:
    ok(fs, "POST", "put", {"path": "/over/f", "contents": b64(b"one")})
    assert dbfs(fs, "POST", "put", {"path": "dbfs:/over/f", "contents": b64(b"two")}) == (
        400,
        {
            "error_code": "RESOURCE_ALREADY_EXISTS",
            "message": "A file or directory already exists at the input path dbfs:/over/f.",
        },
    )
    shared.advance(5)
    ok(fs, "POST", "put", {"path": "/over/f", "contents": b64(b"three"), "overwrite": True})
    status = ok(fs, "GET", "get-status", path="/over/f")
    assert (status["file_size"], status["modification_time"]) == (5, int(shared.clock.now() * 1000))
    # A directory is never replaced by a file.
    status_code, answer = dbfs(fs, "POST", "put", {"path": "/over", "contents": "", "overwrite": True})
    assert (status_code, answer["error_code"]) == (400, "RESOURCE_ALREADY_EXISTS")


def test_the_1_mb_limits_of_put_add_block_and_read(fs: Api) -> None:
    status, answer = dbfs(fs, "POST", "put", {"path": "/limits/big", "contents": b64(b"x" * (MB + 1))})
    assert status == 400 and answer["error_code"] == "MAX_BLOCK_SIZE_EXCEEDED"
    assert answer["message"].startswith(
        f"The 'contents' data cannot exceed {MB} bytes. Found: {MB + 1} bytes."
    )
    handle = ok(fs, "POST", "create", {"path": "/limits/streamed"})["handle"]
    status, answer = dbfs(fs, "POST", "add-block", {"handle": handle, "data": b64(b"x" * (MB + 1))})
    assert status == 400 and answer["error_code"] == "MAX_BLOCK_SIZE_EXCEEDED"
    ok(fs, "POST", "put", {"path": "/limits/small", "contents": b64(b"abc")})
    status, answer = dbfs(fs, "GET", "read", path="/limits/small", length=MB + 1)
    assert status == 400 and answer["error_code"] == "MAX_READ_SIZE_EXCEEDED"
    for params, field in (
        ({"offset": -1}, "offset"),
        ({"length": -1}, "length"),
        ({"length": "x"}, "length"),
    ):
        status, answer = dbfs(fs, "GET", "read", path="/limits/small", **params)
        assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
        assert field in answer["message"]
    status, answer = dbfs(fs, "GET", "read", path="/limits")
    assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")


def test_a_stream_writes_its_file_at_close(fs: Api) -> None:
    handle = ok(fs, "POST", "create", {"path": "dbfs:/stream/data.bin"})["handle"]
    blocks = [bytes([n]) * MB for n in range(3)] + [b"tail"]
    for block in blocks:
        ok(fs, "POST", "add-block", {"handle": handle, "data": b64(block)})
    assert dbfs(fs, "GET", "get-status", path="/stream/data.bin")[0] == 404  # not before close
    ok(fs, "POST", "close", {"handle": handle})
    assert ok(fs, "GET", "get-status", path="/stream/data.bin")["file_size"] == 3 * MB + 4
    assert read_all(fs, "/stream/data.bin") == b"".join(blocks)
    assert dbfs(fs, "POST", "close", {"handle": handle}) == (
        404,
        {
            "error_code": "RESOURCE_DOES_NOT_EXIST",
            "message": f"Handle {handle} does not exist or has expired.",
        },
    )
    status, answer = dbfs(fs, "POST", "create", {"path": "/stream/data.bin"})
    assert (status, answer["error_code"]) == (400, "RESOURCE_ALREADY_EXISTS")


def test_a_stream_idle_for_10_minutes_is_gone(fs: Api, shared: Emulator) -> None:
    kept = ok(fs, "POST", "create", {"path": "/idle/kept"})["handle"]
    idle = ok(fs, "POST", "create", {"path": "/idle/lost"})["handle"]
    shared.advance(HANDLE_IDLE_SECONDS - 1)
    ok(fs, "POST", "add-block", {"handle": kept, "data": b64(b"k")})
    shared.advance(2)
    status, answer = dbfs(fs, "POST", "add-block", {"handle": idle, "data": b64(b"l")})
    assert (status, answer["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    ok(fs, "POST", "close", {"handle": kept})
    assert read_all(fs, "/idle/kept") == b"k"


@pytest.mark.parametrize(
    ("verb", "body", "field"),
    [
        ("put", {"path": "relative/file", "contents": ""}, "path"),
        ("put", {"contents": ""}, "path"),
        ("mkdirs", {"path": "dbfs://host/x"}, "path"),
        ("mkdirs", {"path": "/a/../b"}, "path"),
        ("move", {"source_path": "/x", "destination_path": "y"}, "destination_path"),
        ("delete", {"path": "/x", "recursive": "maybe"}, "recursive"),
    ],
)
def test_bad_input_names_the_field(fs: Api, verb: str, body: dict[str, Any], field: str) -> None:
    status, answer = dbfs(fs, "POST", verb, body)
    assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert field in answer["message"]


def test_mkdirs_and_list(fs: Api) -> None:
    ok(fs, "POST", "mkdirs", {"path": "dbfs:/tree/b/deep"})
    ok(fs, "POST", "mkdirs", {"path": "/tree/b/deep"})  # again: no error
    ok(fs, "POST", "put", {"path": "/tree/a.txt", "contents": b64(b"a")})
    listed = ok(fs, "GET", "list", path="dbfs:/tree")["files"]
    assert [(f["path"], f["is_dir"]) for f in listed] == [("/tree/a.txt", False), ("/tree/b", True)]
    assert ok(fs, "GET", "list", path="/tree/a.txt")["files"][0]["path"] == "/tree/a.txt"
    assert ok(fs, "GET", "list", path="/tree/b/deep") == {}  # an empty directory
    status, answer = dbfs(fs, "POST", "mkdirs", {"path": "/tree/a.txt/under"})
    assert (status, answer["error_code"]) == (400, "RESOURCE_ALREADY_EXISTS")
    assert dbfs(fs, "GET", "list", path="/tree/none") == (
        404,
        {
            "error_code": "RESOURCE_DOES_NOT_EXIST",
            "message": "No file or directory exists on path /tree/none.",
        },
    )


def test_move_a_file_and_a_directory_with_its_subtree(fs: Api) -> None:
    ok(fs, "POST", "put", {"path": "/mv/src/one", "contents": b64(b"1")})
    ok(fs, "POST", "put", {"path": "/mv/src/sub/two", "contents": b64(b"2")})
    ok(fs, "POST", "move", {"source_path": "/mv/src/one", "destination_path": "dbfs:/mv/one"})
    assert read_all(fs, "/mv/one") == b"1"
    ok(fs, "POST", "move", {"source_path": "dbfs:/mv/src", "destination_path": "/mv/elsewhere/dst"})
    assert read_all(fs, "/mv/elsewhere/dst/sub/two") == b"2"
    assert dbfs(fs, "GET", "get-status", path="/mv/src")[0] == 404
    for body, expected in (
        ({"source_path": "/mv/none", "destination_path": "/mv/x"}, (404, "RESOURCE_DOES_NOT_EXIST")),
        ({"source_path": "/mv/one", "destination_path": "/mv/elsewhere"}, (400, "RESOURCE_ALREADY_EXISTS")),
        (
            {"source_path": "/mv/elsewhere", "destination_path": "/mv/elsewhere/in"},
            (400, "INVALID_PARAMETER_VALUE"),
        ),
    ):
        status, answer = dbfs(fs, "POST", "move", body)
        assert (status, answer["error_code"]) == expected, body


def test_delete_a_file_an_empty_or_a_full_directory(fs: Api, shared: Emulator) -> None:
    ok(fs, "POST", "put", {"path": "/rm/full/f", "contents": b64(b"12345")})
    ok(fs, "POST", "mkdirs", {"path": "/rm/empty"})
    held = shared.dbfs.total_bytes()
    ok(fs, "POST", "delete", {"path": "/rm/empty"})
    ok(fs, "POST", "delete", {"path": "/rm/nothing-here"})  # no error
    assert dbfs(fs, "POST", "delete", {"path": "dbfs:/rm/full"}) == (
        400,
        {"error_code": "IO_ERROR", "message": "Path is a folder: /rm/full and it is not an empty directory"},
    )
    ok(fs, "POST", "delete", {"path": "dbfs:/rm/full", "recursive": True})
    assert ok(fs, "GET", "list", path="/rm") == {}
    assert shared.dbfs.total_bytes() == held - 5


def test_the_multipart_form_upload(fs: Api) -> None:
    data = bytes(range(256)) * 5000  # over 1 MB: the form has no inline limit
    response = fs.session.post(
        fs.emu.url + "/api/2.0/dbfs/put",
        files={"file": ("data.bin", data, "multipart/form-data")},
        data={"path": "dbfs:/form/data.bin", "overwrite": "False"},
    )
    assert response.status_code == 200, response.text
    assert read_all(fs, "/form/data.bin") == data


def test_the_emulators_size_cap(fs: Api, shared: Emulator) -> None:
    cap = shared.dbfs.max_total_bytes
    shared.dbfs.max_total_bytes = shared.dbfs.total_bytes() + 10
    try:
        status, answer = dbfs(fs, "POST", "put", {"path": "/cap/f", "contents": b64(b"x" * 11)})
        assert (status, answer["error_code"]) == (400, "RESOURCE_LIMIT_EXCEEDED")
        ok(fs, "POST", "put", {"path": "/cap/f", "contents": b64(b"x" * 10)})
    finally:
        shared.dbfs.max_total_bytes = cap


def test_files_survive_a_restart_through_the_state_file(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with Emulator(state_file=state, time_scale=0) as first:
        api = Api(first)
        ok(api, "POST", "put", {"path": "/keep/data.bin", "contents": b64(b"\x00\x01binary")})
        ok(api, "POST", "mkdirs", {"path": "/keep/empty"})
        before = ok(api, "GET", "get-status", path="/keep/data.bin")
    with Emulator(state_file=state, time_scale=0) as second:
        api = Api(second)
        assert ok(api, "GET", "get-status", path="/keep/data.bin") == before
        assert read_all(api, "/keep/data.bin") == b"\x00\x01binary"
        assert ok(api, "GET", "get-status", path="/keep/empty")["is_dir"] is True
        assert second.dbfs.total_bytes() == 8


# -- clusters ---------------------------------------------------------------------------------------------

LOGS = {"dbfs": {"destination": "dbfs:/cluster-logs"}}


def names(api: Api, path: str) -> list[str]:
    return [f["path"].rsplit("/", 1)[1] for f in ok(api, "GET", "list", path=path).get("files", [])]


def test_cluster_logs_are_delivered_to_a_dbfs_destination(api: Api, emu: Emulator) -> None:
    scripts = [{"workspace": {"destination": "/Shared/init/setup.sh"}}]
    cluster_id = api.create(cluster_log_conf=LOGS, init_scripts=scripts)
    api.wait_for(cluster_id, "RUNNING")
    folder = f"/cluster-logs/{cluster_id}"
    assert names(api, folder) == ["driver", "init_scripts"]
    assert names(api, f"{folder}/driver") == ["log4j-active.log", "stderr", "stdout"]
    (node,) = names(api, f"{folder}/init_scripts")
    logs = names(api, f"{folder}/init_scripts/{node}")
    assert [name.split("_", 2)[2] for name in logs] == ["00_setup.sh.stderr.log", "00_setup.sh.stdout.log"]
    assert api.call("POST", "/api/2.1/clusters/delete", {"cluster_id": cluster_id})[0] == 200
    api.wait_for(cluster_id, "TERMINATED")
    stdout = read_all(api, f"{folder}/driver/stdout").decode()
    assert "Driver terminating: USER_REQUEST" in stdout


def test_a_dbfs_init_script_is_refused_at_create_as_a_workspace_does(api: Api) -> None:
    scripts = [{"dbfs": {"destination": "dbfs:/init/setup.sh"}}]
    status, answer = api.call("POST", "/api/2.1/clusters/create", {**SPEC, "init_scripts": scripts})
    assert (status, answer["error_code"]) == (400, "FEATURE_DISABLED")
    assert answer["message"].startswith("Init scripts cannot be loaded from DBFS.")


@pytest.fixture
def legacy() -> Iterator[Emulator]:
    """A workspace from before DBFS init scripts reached end of life."""
    with Emulator(start_seconds=0.4, terminate_seconds=0.2, time_scale=0, dbfs_init_scripts=True) as emulator:
        yield emulator


def test_a_dbfs_init_script_runs_when_its_file_is_there(legacy: Emulator) -> None:
    api = Api(legacy)
    ok(api, "POST", "put", {"path": "dbfs:/init/setup.sh", "contents": b64(b"#!/bin/bash\necho hi\n")})
    scripts = [{"dbfs": {"destination": "dbfs:/init/setup.sh"}}]
    cluster_id = api.create(init_scripts=scripts)
    api.wait_for(cluster_id, "RUNNING", "TERMINATED")
    assert api.get(cluster_id)["state"] == "RUNNING"
    finished = next(e for e in legacy.events(cluster_id) if e["type"] == "INIT_SCRIPTS_FINISHED")
    assert finished["details"]["init_scripts"]["cluster"][0]["status"] == "SUCCEEDED"


def test_a_missing_dbfs_init_script_fails_the_start(legacy: Emulator) -> None:
    api = Api(legacy)
    scripts = [
        {"workspace": {"destination": "/Shared/first.sh"}},
        {"dbfs": {"destination": "dbfs:/init/missing.sh"}},
        {"workspace": {"destination": "/Shared/never.sh"}},
    ]
    cluster_id = api.create(init_scripts=scripts, cluster_log_conf=LOGS)
    cluster = api.wait_for(cluster_id, "TERMINATED")
    reason = cluster["termination_reason"]
    assert (reason["code"], reason["type"]) == ("INIT_SCRIPT_FAILURE", "CLIENT_ERROR")
    message = (
        "Cluster scoped init script dbfs:/init/missing.sh failed: /init/missing.sh: No such file or directory"
    )
    assert reason["parameters"]["databricks_error_message"] == message
    assert cluster["state_message"] == message
    (node,) = names(api, f"/cluster-logs/{cluster_id}/init_scripts")
    logs = names(api, f"/cluster-logs/{cluster_id}/init_scripts/{node}")
    assert len(logs) == 4  # the first script's two logs, the missing one's two; the third never ran
    stderr = next(name for name in logs if name.endswith("_01_missing.sh.stderr.log"))
    text = read_all(api, f"/cluster-logs/{cluster_id}/init_scripts/{node}/{stderr}").decode()
    assert text.startswith("/init/missing.sh: No such file or directory\n")


class _NoScan(dict[str, Any]):
    """A dict that refuses to be walked: a call that scans it fails the test."""

    def _refuse(self, *args: Any) -> Any:
        raise AssertionError("the whole tree was walked")

    __iter__ = keys = values = items = _refuse


def test_no_call_walks_the_whole_tree() -> None:
    fs = Dbfs(lambda: 1_000_000.0)
    for n in range(200):
        fs.put({"path": f"/many/f{n}", "contents": b64(b"x")})
    fs.mkdirs({"path": "/small/dir"})
    fs._entries = _NoScan(fs._entries)
    fs._children = _NoScan(fs._children)
    fs.put({"path": "/small/a", "contents": b64(b"abc")})
    handle = fs.create({"path": "/small/b"})["handle"]
    fs.add_block({"handle": handle, "data": b64(b"def")})
    fs.close({"handle": handle})
    assert fs.get_status({"path": "/many/f7"})["file_size"] == 1
    assert fs.read({"path": "/small/b"})["data"] == b64(b"def")
    assert [f["path"] for f in fs.list_status({"path": "/small"})["files"]] == [
        "/small/a",
        "/small/b",
        "/small/dir",
    ]
    fs.move({"source_path": "/small", "destination_path": "/moved"})
    fs.delete({"path": "/moved", "recursive": True})
    fs.delete({"path": "/many/f8"})
    assert fs.total_bytes() == 199
