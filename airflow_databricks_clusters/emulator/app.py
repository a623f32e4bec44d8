"""The HTTP face of the emulated workspace: routes, authentication, faults and error bodies.

A plain ASGI application on Starlette's request parsing (Starlette comes with Airflow's API server). It is
served by uvicorn (``server.py``); keeping it a bare ASGI callable lets a dropped-connection fault abort
the socket itself, which is what a client sees when a real connection dies.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import ipaddress
import json
import math
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request

from airflow_databricks_clusters.emulator import console_data, console_page, fast_forward, policy_families
from airflow_databricks_clusters.emulator.api_errors import (
    ApiError,
    OAuthError,
    invalid_parameter,
    malformed_request,
)
from airflow_databricks_clusters.emulator.auth import Auth
from airflow_databricks_clusters.emulator.clock import EmulatedClock
from airflow_databricks_clusters.emulator.dbfs import Dbfs
from airflow_databricks_clusters.emulator.faults import Fault, Faults
from airflow_databricks_clusters.emulator.federation_policies import GRANT_TYPE
from airflow_databricks_clusters.emulator.job_definitions import Jobs
from airflow_databricks_clusters.emulator.jobs import Runs
from airflow_databricks_clusters.emulator.libraries import ClusterLibraries
from airflow_databricks_clusters.emulator.request_params import one
from airflow_databricks_clusters.emulator.sent_values import sent_fingerprints
from airflow_databricks_clusters.emulator.workspace import WORKSPACE_ID, Workspace

_GRANT_TYPES = ["client_credentials", "authorization_code", "refresh_token", GRANT_TYPE]

_API = re.compile(r"^/api/(?P<version>2\.[012])/(?P<tail>.+?)/?$")
#: The console page's data, read-only and for loopback clients only (``console_data.py``).
_CONSOLE = console_page.DATA_PATH
_PAGE = console_page.PAGE.encode()


@dataclass(frozen=True)
class Caller:
    """Who called, and the address they called (page URLs in answers point there)."""

    user: str
    base_url: str
    api_version: str


Handler = Callable[[dict[str, Any], Caller], dict[str, Any]]
ParamHandler = Callable[[re.Match[str], dict[str, Any], Caller], dict[str, Any]]


class EmulatorApp:
    """ASGI app serving the Clusters API, the Jobs runs API, DBFS, SCIM Me, OAuth, the admin endpoints, and
    the console page at ``/`` that the operators' "Databricks Cluster" link opens (``console_page.py``)."""

    def __init__(
        self,
        workspace: Workspace,
        runs: Runs,
        auth: Auth,
        faults: Faults,
        clock: EmulatedClock,
        *,
        dbfs: Dbfs | None = None,
        libraries: ClusterLibraries | None = None,
        saved_jobs: Jobs | None = None,
    ) -> None:
        self.workspace = workspace
        self.libraries = libraries or ClusterLibraries(workspace)
        self.runs = runs
        self.jobs = saved_jobs or Jobs(workspace, runs)
        self.auth = auth
        self.faults = faults
        self.clock = clock
        #: Requests served since start, every path but the admin ones and the console (``/emulator/stats``).
        self.requests_served = 0
        #: Whether a read of one cluster or run first moves the clock until it rests (``fast_forward.py``).
        self.fast_forward = False
        ws = workspace
        clusters: dict[tuple[str, str], Handler] = {
            ("POST", "clusters/create"): lambda b, c: ws.clusters_create(b, user=c.user),
            ("POST", "clusters/edit"): lambda b, c: ws.clusters_edit(b, user=c.user),
            ("POST", "clusters/start"): lambda b, c: ws.clusters_start(b, user=c.user),
            ("POST", "clusters/restart"): lambda b, c: ws.clusters_restart(b, user=c.user),
            ("POST", "clusters/resize"): lambda b, c: ws.clusters_resize(b, user=c.user),
            ("POST", "clusters/delete"): lambda b, c: ws.clusters_delete(b, user=c.user),
            ("POST", "clusters/permanent-delete"): lambda b, c: ws.clusters_permanent_delete(b, user=c.user),
            ("POST", "clusters/pin"): lambda b, c: ws.clusters_pin(b, user=c.user),
            ("POST", "clusters/unpin"): lambda b, c: ws.clusters_unpin(b, user=c.user),
            ("POST", "clusters/change-owner"): lambda b, c: ws.clusters_change_owner(b, user=c.user),
            ("GET", "clusters/get"): lambda b, c: ws.clusters_get(b),
            ("POST", "clusters/events"): lambda b, c: ws.clusters_events(b),
            ("GET", "clusters/spark-versions"): lambda b, c: ws.spark_versions(),
            ("GET", "clusters/list-node-types"): lambda b, c: ws.list_node_types(),
            ("GET", "clusters/list-zones"): lambda b, c: ws.list_zones(),
        }
        jobs: dict[tuple[str, str], Handler] = {
            ("POST", "jobs/runs/submit"): lambda b, c: runs.submit(b, user=c.user),
            ("GET", "jobs/runs/get"): lambda b, c: runs.get(
                b, base_url=c.base_url, api_version=c.api_version
            ),
            ("GET", "jobs/runs/get-output"): lambda b, c: runs.get_output(
                b, base_url=c.base_url, api_version=c.api_version
            ),
            ("GET", "jobs/runs/list"): lambda b, c: runs.list_runs(
                b, base_url=c.base_url, api_version=c.api_version
            ),
            ("POST", "jobs/runs/cancel"): lambda b, c: runs.cancel(b),
        }
        libs = self.libraries
        # Served on 2.0 only, as databricks-sdk, the official provider and the legacy CLI call it.
        library_routes: dict[tuple[str, str], Handler] = {
            ("POST", "libraries/install"): lambda b, c: libs.install(b),
            ("POST", "libraries/uninstall"): lambda b, c: libs.uninstall(b),
            ("GET", "libraries/cluster-status"): lambda b, c: libs.cluster_status(b),
            ("GET", "libraries/all-cluster-statuses"): lambda b, c: libs.all_cluster_statuses(b),
        }
        saved = self.jobs
        # Jobs 2.0 had every call here but update and runs/cancel-all; each version answers in its own shape.
        job_defs: dict[tuple[str, str], Handler] = {
            ("POST", "jobs/create"): lambda b, c: saved.create(b, user=c.user, api_version=c.api_version),
            ("GET", "jobs/get"): lambda b, c: saved.get(b, api_version=c.api_version),
            ("GET", "jobs/list"): lambda b, c: saved.list_jobs(b, api_version=c.api_version),
            ("POST", "jobs/reset"): lambda b, c: saved.reset(b, api_version=c.api_version),
            ("POST", "jobs/delete"): lambda b, c: saved.delete(b),
            ("POST", "jobs/run-now"): lambda b, c: saved.run_now(b, user=c.user),
            ("POST", "jobs/runs/delete"): lambda b, c: runs.delete(b),
        }
        jobs = {**jobs, **job_defs}
        jobs_since_21 = {
            **jobs,
            ("POST", "jobs/update"): lambda b, c: saved.update(b),
            ("POST", "jobs/runs/cancel-all"): lambda b, c: saved.cancel_all(b),
        }
        other: dict[tuple[str, str], Handler] = {
            ("GET", "instance-profiles/list"): lambda b, c: ws.instance_profiles_list(),
            ("POST", "instance-pools/create"): lambda b, c: ws.instance_pools_create(b, user=c.user),
            ("POST", "instance-pools/edit"): lambda b, c: ws.instance_pools_edit(b),
            ("POST", "instance-pools/delete"): lambda b, c: ws.instance_pools_delete(b),
            ("GET", "instance-pools/list"): lambda b, c: ws.instance_pools_list(),
            ("GET", "instance-pools/get"): lambda b, c: ws.instance_pools_get(b),
            ("POST", "policies/clusters/create"): lambda b, c: ws.policies_create(b, user=c.user),
            ("POST", "policies/clusters/edit"): lambda b, c: ws.policies_edit(b),
            ("POST", "policies/clusters/delete"): lambda b, c: ws.policies_delete(b),
            ("GET", "policies/clusters/get"): lambda b, c: ws.policies_get(b),
            ("GET", "policies/clusters/list"): lambda b, c: ws.policies_list(b),
            ("GET", "policy-families"): lambda b, c: policy_families.list_families(b),
            ("GET", "preview/scim/v2/Me"): lambda b, c: _scim_me(c.user),
        }
        fs = dbfs or Dbfs(clock.now)
        self.dbfs = fs
        files: dict[tuple[str, str], Handler] = {
            ("POST", "dbfs/put"): lambda b, c: fs.put(b),
            ("POST", "dbfs/create"): lambda b, c: fs.create(b),
            ("POST", "dbfs/add-block"): lambda b, c: fs.add_block(b),
            ("POST", "dbfs/close"): lambda b, c: fs.close(b),
            ("GET", "dbfs/get-status"): lambda b, c: fs.get_status(b),
            ("GET", "dbfs/list"): lambda b, c: fs.list_status(b),
            ("GET", "dbfs/read"): lambda b, c: fs.read(b),
            ("POST", "dbfs/mkdirs"): lambda b, c: fs.mkdirs(b),
            ("POST", "dbfs/move"): lambda b, c: fs.move(b),
            ("POST", "dbfs/delete"): lambda b, c: fs.delete(b),
        }
        #: Routes whose path holds a parameter: (method, pattern of the path's tail, handler of the match).
        self.param_routes: dict[str, list[tuple[str, re.Pattern[str], ParamHandler]]] = {
            "2.0": [
                (
                    "GET",
                    re.compile(r"^policy-families/(?P<id>[^/]+)$"),
                    lambda m, b, c: policy_families.get(m["id"]),
                ),
                (
                    "GET",
                    re.compile(r"^permissions/clusters/(?P<id>[^/]+)$"),
                    lambda m, b, c: ws.cluster_permissions(m["id"]),
                ),
                (
                    "PUT",
                    re.compile(r"^permissions/clusters/(?P<id>[^/]+)$"),
                    lambda m, b, c: ws.set_cluster_permissions(m["id"], b, replace=True),
                ),
                (
                    "PATCH",
                    re.compile(r"^permissions/clusters/(?P<id>[^/]+)$"),
                    lambda m, b, c: ws.set_cluster_permissions(m["id"], b, replace=False),
                ),
                (
                    "GET",
                    re.compile(r"^permissions/clusters/(?P<id>[^/]+)/permissionLevels$"),
                    lambda m, b, c: ws.cluster_permission_levels(m["id"]),
                ),
            ],
        }
        self.routes: dict[str, dict[tuple[str, str], Handler]] = {
            "2.0": {
                **clusters,
                **jobs,
                **other,
                **files,
                **library_routes,
                ("GET", "clusters/list"): lambda b, c: ws.clusters_list(b, api_version="2.0"),
            },
            "2.1": {
                **clusters,
                **jobs_since_21,
                ("GET", "clusters/list"): lambda b, c: ws.clusters_list(b, api_version="2.1"),
            },
            "2.2": dict(jobs_since_21),
        }

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        if method == "GET" and (path == "/" or path == _CONSOLE or path.startswith(_CONSOLE + "/")):
            # The console is not the API: no token, no fault, not counted, not in the request log.
            await self._console(scope, path, send)
            return
        admin = path.startswith("/emulator/")
        if not admin:
            # Served on the event loop's one thread, so counting needs no lock.
            self.requests_served += 1
        fault = None if admin else self.faults.pick(method, path)
        if fault is not None and fault.kind in ("drop_before", "status", "rate_limit"):
            # Answered before the body is read: what the headers and query carried is recorded.
            sent = sent_fingerprints(scope["headers"], scope["query_string"], None)
        if fault is not None and fault.kind == "drop_before":
            self.faults.log(method, path, None, fault.kind, sent)
            await _drop(send)
            return
        if fault is not None and fault.kind == "delay":
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.kind in ("status", "rate_limit"):
            error = _fault_error(fault)
            self.faults.log(method, path, error.status, fault.kind, sent)
            await _respond(send, error.status, error.body(), error.headers)
            return
        request = Request(scope, receive)
        raw = await request.body()
        sent = sent_fingerprints(scope["headers"], scope["query_string"], raw)
        try:
            form = await _form(request) if _is_multipart(request) else None
            status, payload, headers = 200, self._handle(request, method, path, raw, form), {}
        except ApiError as err:
            status, payload, headers = err.status, err.body(), err.headers
        if fault is not None and fault.kind == "drop_after":
            self.faults.log(method, path, None, fault.kind, sent)
            await _drop(send)
            return
        if fault is not None and fault.kind == "malformed":
            self.faults.log(method, path, fault.answer_status(), fault.kind, sent)
            await _respond_raw(send, fault.answer_status(), fault.body.encode(), {})
            return
        self.faults.log(method, path, status, fault.kind if fault else None, sent)
        await _respond(send, status, payload, headers)

    async def _console(self, scope: dict[str, Any], path: str, send: Any) -> None:
        """``GET /`` (the page, with any query such as ``?o=<workspace id>``) and its data. The page holds
        no data and is served to anyone; the data only to a loopback client that named a loopback host."""
        if path == "/":
            await _respond_raw(send, 200, _PAGE, console_page.HEADERS)
            return
        headers = {"cache-control": "no-store"}
        try:
            _check_loopback(scope)
            if path == _CONSOLE:
                payload = console_data.cluster_list(self.workspace)
            else:
                payload = console_data.cluster_view(self.workspace, path[len(_CONSOLE) + 1 :])
        except ApiError as err:
            await _respond(send, err.status, err.body(), headers)
            return
        await _respond(send, 200, payload, headers)

    def _handle(
        self, request: Request, method: str, path: str, raw: bytes, form: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        if path == "/.well-known/databricks-config":
            base = str(request.base_url).rstrip("/")
            return {"oidc_endpoint": f"{base}/oidc", "workspace_id": WORKSPACE_ID, "cloud": "aws"}
        if path == "/oidc/.well-known/oauth-authorization-server":
            base = str(request.base_url).rstrip("/")
            return {
                "issuer": f"{base}/oidc",
                "authorization_endpoint": f"{base}/oidc/v1/authorize",
                "token_endpoint": f"{base}/oidc/v1/token",
                "grant_types_supported": _GRANT_TYPES,
            }
        if path == "/oidc/v1/token" and method == "POST":
            return self._token(request, raw)
        user = self.auth.user_for(request.headers.get("authorization"))
        base_url = str(request.base_url).rstrip("/")
        if path.startswith("/emulator/"):
            return self._admin(method, path, _json_body(raw), base_url)
        match = _API.match(path)
        handler = self.routes[match["version"]].get((method, match["tail"])) if match else None
        if match is not None and handler is None:
            handler = self._param_route(match["version"], method, match["tail"])
        if match is None or handler is None:
            raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No API found for '{method} {path}'")
        # A GET takes its parameters from the query string or a JSON body (the official provider's async
        # hook sends the latter); a workspace answers both.
        if method == "GET":
            params = {**_json_body(raw), **_query(request)}
        else:
            params = form if form is not None else _json_body(raw)
        if self.fast_forward:
            self._settle(match["tail"], params)
        return handler(params, Caller(user, base_url, match["version"]))

    def _param_route(self, version: str, method: str, tail: str) -> Handler | None:
        """The handler of a route with a path parameter (``policy-families/{id}``), bound to the match."""
        for route_method, pattern, handler in self.param_routes.get(version, []):
            found = pattern.match(tail) if route_method == method else None
            if found is not None:
                return functools.partial(handler, found)
        return None

    def _settle(self, tail: str, params: dict[str, Any]) -> None:
        """Fast-forward the cluster or run a read names, before it is answered."""
        if tail in ("clusters/get", "clusters/events"):
            cluster_id = one(params.get("cluster_id"))
            if isinstance(cluster_id, str):
                fast_forward.settle(self.clock, lambda: self.workspace.settles_at(cluster_id))
        elif tail == "libraries/cluster-status":
            # The cluster first (its start), then its libraries' installs.
            cluster_id = one(params.get("cluster_id"))
            if isinstance(cluster_id, str):
                fast_forward.settle(
                    self.clock,
                    lambda: self.workspace.settles_at(cluster_id) or self.libraries.settles_at(cluster_id),
                )
        elif tail in ("jobs/runs/get", "jobs/runs/get-output"):
            run_id = one(params.get("run_id"))
            fast_forward.settle(self.clock, lambda: self.runs.settles_at(run_id))

    def _token(self, request: Request, raw: bytes) -> dict[str, Any]:
        try:
            form = {key: values[0] for key, values in parse_qs(raw.decode()).items()}
            client_id, secret = form.get("client_id"), form.get("client_secret")
            header = request.headers.get("authorization", "")
            if header.startswith("Basic "):
                decoded = base64.b64decode(header[len("Basic ") :], validate=True).decode()
                client_id, _, secret = decoded.partition(":")
        except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
            raise OAuthError(400, "invalid_request", "Malformed request or Authorization header") from None
        if form.get("grant_type") == GRANT_TYPE:
            return self.auth.exchange(form)
        return self.auth.mint(client_id, secret, form.get("grant_type"))

    def _admin(self, method: str, path: str, body: dict[str, Any], base_url: str) -> dict[str, Any]:
        action = path[len("/emulator/") :].strip("/")
        if (method, action) == ("POST", "scenarios"):
            name = body.pop("name", None)
            return {"scenario_id": self.workspace.set_scenario(str(name), **body)}
        if (method, action) == ("DELETE", "scenarios"):
            self.workspace.clear_scenarios()
            return {}
        if (method, action) == ("GET", "scenarios"):
            return {"scenarios": self.workspace.scenarios()}
        if (method, action) == ("PUT", "capacity"):
            unknown = sorted(set(body) - {"shortages"})
            if unknown:
                raise invalid_parameter(f"Unknown field {unknown[0]}: the capacity takes shortages.")
            if "shortages" not in body:
                raise invalid_parameter("Missing field: shortages (a list, [] for none).")
            self.workspace.set_capacity(body["shortages"])
            return {"shortages": self.workspace.capacity()}
        if (method, action) == ("GET", "capacity"):
            return {"shortages": self.workspace.capacity()}
        if (method, action) == ("DELETE", "capacity"):
            self.workspace.clear_capacity()
            return {}
        if (method, action) == ("POST", "faults"):
            kind = body.pop("kind", None)
            try:
                return {"fault": self.faults.add(str(kind), **body).describe()}
            except (TypeError, ValueError) as err:
                raise ApiError(400, "INVALID_PARAMETER_VALUE", str(err)) from err
        if (method, action) == ("DELETE", "faults"):
            self.faults.clear()
            return {}
        if (method, action) == ("GET", "faults"):
            return {"faults": self.faults.list()}
        if (method, action) == ("POST", "federation-policies"):
            return {"policy": self.auth.federation.add(body)}
        if (method, action) == ("GET", "federation-policies"):
            return {"policies": self.auth.federation.list()}
        if (method, action) == ("DELETE", "federation-policies"):
            self.auth.federation.clear()
            return {}
        if (method, action) == ("GET", "requests"):
            return {"requests": list(self.faults.request_log)}
        if (method, action) == ("GET", "clusters"):
            return {"clusters": self.workspace.all_clusters()}
        if (method, action) == ("GET", "runs"):
            return {"runs": self.runs.all_runs(base_url)}
        if (method, action) == ("GET", "stats"):
            return self.stats()
        if (method, action) == ("GET", "clock"):
            return self._clock_reading()
        if (method, action) == ("POST", "clock"):
            return self._set_clock(body)
        raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No admin endpoint '{method} {path}'")

    def stats(self) -> dict[str, int]:
        """``GET /emulator/stats``: requests served since start (API, OAuth and discovery requests, whatever
        their answer, faults included; never admin requests nor the console page's), and the clusters and runs
        held now."""
        return {
            "requests": self.requests_served,
            "clusters": self.workspace.cluster_count(),
            "runs": self.runs.count(),
        }

    def _clock_reading(self) -> dict[str, Any]:
        return {"now": self.clock.now(), "time_scale": self.clock.time_scale}

    def _set_clock(self, body: dict[str, Any]) -> dict[str, Any]:
        """``{"time_scale": x}`` and/or ``{"advance_seconds": n}``: every value checked before any applies."""
        unknown = sorted(set(body) - {"advance_seconds", "time_scale"})
        if unknown:
            raise invalid_parameter(
                f"Unknown field {unknown[0]}: the clock takes advance_seconds and time_scale."
            )
        if not body:
            raise invalid_parameter("Missing field: advance_seconds or time_scale.")
        scale = _number(body, "time_scale", "a number from 0 (0 stops the clock, 1 is real time)")
        seconds = _number(body, "advance_seconds", "a number of seconds from 0 (time only moves forward)")
        if scale is not None:
            self.clock.time_scale = scale
        if seconds is not None:
            self.clock.advance(seconds)
            self.workspace.catch_up()
        return self._clock_reading()


def _number(body: dict[str, Any], field: str, allowed: str) -> float | None:
    """The field's value, a finite number from 0, or None when absent; INVALID_PARAMETER_VALUE if not."""
    if field not in body:
        return None
    value = body[field]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise invalid_parameter(f"Invalid {field} {json.dumps(value)}: {allowed}.")
    return float(value)


def _scim_me(user: str) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": str(abs(hash(user)) % 10**15),
        "userName": user,
        "displayName": user.split("@")[0],
        "active": True,
        "emails": [{"value": user, "primary": True, "type": "work"}] if "@" in user else [],
    }


def _query(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key in params:
            existing = params[key]
            params[key] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            params[key] = value
    for key in list(params):
        if key.startswith("filter_by.cluster_states") and not isinstance(params[key], list):
            params[key] = [params[key]]
    return params


def _is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").lower().startswith("multipart/form-data")


async def _form(request: Request) -> dict[str, Any]:
    """A multipart form's fields (text) and files (bytes), as ``dbfs/put``'s form upload sends them."""
    try:
        form = await request.form(max_part_size=64 * 1024 * 1024)
    except Exception as err:  # python-multipart and Starlette raise several kinds for a broken form
        raise malformed_request(f"Could not parse the multipart form: {err}") from None
    fields: dict[str, Any] = {}
    for key, value in form.multi_items():
        fields[key] = value if isinstance(value, str) else await value.read()
    await form.close()
    return fields


def _json_body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as err:
        raise malformed_request(f"Could not parse request object: {err}") from None
    if not isinstance(body, dict):
        raise malformed_request("Could not parse request object: Expected an object")
    return body


def _check_loopback(scope: dict[str, Any]) -> None:
    """403 unless the client is on loopback (127.0.0.0/8, ::1) and named a loopback host.

    The host check stops DNS rebinding: a web page whose own name the browser was made to resolve to
    127.0.0.1 would otherwise read the console's data from a loopback client.
    """
    client = scope.get("client")
    host = next((value for key, value in scope.get("headers", []) if key == b"host"), b"")
    if not (client and _is_loopback(str(client[0])) and _is_loopback_host(host.decode("latin-1"))):
        raise ApiError(
            403,
            "PERMISSION_DENIED",
            "The emulator's console page is served on loopback only: open it from the emulator's own "
            "machine at a loopback address (127.0.0.1, [::1] or localhost).",
        )


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1, from a dual-stack socket
    return ip.is_loopback


def _is_loopback_host(host: str) -> bool:
    """Whether a Host header names this machine's loopback: an address, ``localhost`` (and its
    subdomains, which resolve to loopback by RFC 6761), or the machine's own name (Debian maps it to
    127.0.1.1)."""
    try:
        name = urlsplit("//" + host).hostname
    except ValueError:
        return False
    if not name:
        return False
    if name == "localhost" or name.endswith(".localhost") or name == socket.gethostname().lower():
        return True
    return _is_loopback(name)


def _fault_error(fault: Fault) -> ApiError:
    if fault.kind == "rate_limit":
        return ApiError(
            429,
            "REQUEST_LIMIT_EXCEEDED",
            "Too many requests. Please wait a moment and try again.",
            headers={"Retry-After": str(fault.retry_after)},
        )
    codes = {
        400: "INVALID_PARAMETER_VALUE",
        500: "INTERNAL_ERROR",
        502: "BAD_GATEWAY",
        503: "TEMPORARILY_UNAVAILABLE",
        504: "DEADLINE_EXCEEDED",
    }
    status = fault.answer_status()
    headers = {"Retry-After": str(fault.retry_after)} if status == 503 else {}
    return ApiError(
        status,
        codes.get(status, "INTERNAL_ERROR"),
        "The service is unavailable.",
        headers=headers,
    )


async def _respond(send: Any, status: int, payload: Any, headers: dict[str, str]) -> None:
    await _respond_raw(send, status, json.dumps(payload).encode(), headers)


async def _respond_raw(send: Any, status: int, body: bytes, headers: dict[str, str]) -> None:
    """Answer ``body``: JSON unless ``headers`` name another content type."""
    fields = {"content-type": "application/json", "content-length": str(len(body))}
    fields.update({key.lower(): value for key, value in headers.items()})
    raw_headers = [(key.encode(), value.encode()) for key, value in fields.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


async def _drop(send: Any) -> None:
    """Close the connection with no answer, as a network failure does."""
    # uvicorn hands the app its per-request cycle's bound `send`; the cycle holds the socket's transport.
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None:
        transport.abort()
        return
    # Another server: promise a body and never finish it, so the client sees a broken answer.
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]})
    raise ConnectionAbortedError("fault: connection dropped")
