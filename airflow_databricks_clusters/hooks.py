"""DatabricksClustersHook: every Clusters API call (and the Libraries API's, for the libraries a create task
installs), sync (requests) and async (httpx), one retry policy."""

from __future__ import annotations

import asyncio
import base64
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from functools import cache, cached_property
from typing import Any

from airflow.sdk import BaseHook

from airflow_databricks_clusters.client import answers
from airflow_databricks_clusters.client.connection import ConnectionSettings, settings_from_connection
from airflow_databricks_clusters.client.oauth_tokens import TokenCache, TokenKey
from airflow_databricks_clusters.client.retry import Answer, RetryPolicy
from airflow_databricks_clusters.client.subject_tokens import subject_token
from airflow_databricks_clusters.client.transport import (
    USER_AGENT,
    async_client,
    call_async,
    call_sync,
    rate_gate,
    send_async,
    send_sync,
    sync_session,
)
from airflow_databricks_clusters.errors import MalformedAnswer, UnknownOutcome
from airflow_databricks_clusters.redaction import add_secret_names

CLUSTERS = "/api/2.1/clusters"
EVENTS = f"{CLUSTERS}/events"
#: The Libraries API is served under 2.0 only.
LIBRARIES = "/api/2.0/libraries"
TOKEN_PATH = "/oidc/v1/token"
LIST_PAGE_SIZE = 100
EVENTS_PAGE_SIZE = 500
#: OAuth tokens of every hook in this process, by workspace and client.
TOKENS = TokenCache()
_mint_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[TokenKey, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


@cache
def use_deployment_secret_names() -> None:
    """Take the deployment's ``[core] sensitive_var_conn_names`` for secrets' keys too (once per process),
    so that what the plugin hides in logs, errors and pages covers all that Airflow's masker hides."""
    from airflow.sdk import conf

    add_secret_names((conf.get("core", "sensitive_var_conn_names", fallback="") or "").split(","))


async def _amask(secret: str) -> None:
    """Hide ``secret`` in every log line of the process, from an event loop."""
    try:
        from airflow.sdk.log import amask_secret
    except ImportError:  # Airflow < 3.3: only the sync form, whose send fails at once in an event loop
        from airflow.sdk.log import mask_secret

        mask_secret(secret)
    else:
        # In the triggerer, the sync form's blocking send to the supervisor can deadlock the event loop.
        await amask_secret(secret)


def _basic(user: str, secret: str) -> dict[str, str]:
    """The HTTP Basic ``Authorization`` header of ``user`` and ``secret``."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


def _minting(key: TokenKey) -> asyncio.Lock:
    """The lock of one client's token requests in the running event loop."""
    locks = _mint_locks.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault(key, asyncio.Lock())


class DatabricksClustersHook(BaseHook):
    """Talks to a Databricks workspace's Clusters API through an Airflow ``databricks`` connection.

    The connection is the official Databricks provider's type, read the way it reads it: host (with or
    without ``https://``), ``schema`` as the URL scheme when the host has none, ``port``; a personal access
    token in the password (or extra ``token``), login and password (HTTP Basic), an OAuth service principal
    (client id in login, secret in password, extra ``service_principal_oauth: true``), or OIDC token
    federation with no Databricks secret at all (extra ``federated_aws``, ``federated_k8s`` or
    ``federated_token_provider``: a short-lived token of the deployment's own identity exchanged at
    ``/oidc/v1/token``). Minted tokens are cached per process until shortly before they expire, and shared
    by every hook on the same credential. HTTPS only, except to a loopback host. A host that is not a plain
    host name (user info before ``@``, a backslash, a path, whitespace) raises ``ConnectionProblem`` before
    any request.

    :param databricks_conn_id: the connection id (default ``databricks_default``).
    :param timeout_seconds: HTTP timeout of one request.
    :param retry_deadline_seconds: how long one call may keep retrying 429 (after Retry-After), 5xx,
        dropped connections and timeouts. A TLS certificate that fails verification is not retried. A
        workspace that cannot be reached at all (connection refused, a host name that does not resolve,
        https to a plain-http port) gets a few quick retries, then ``WorkspaceUnreachable`` within
        seconds, naming the connection, the host and port and what to check.
    :param paced: whether the async calls keep to the process's request rate and its 429 pauses
        (``client.transport.RateGate``); off only for what must not wait behind a fleet's polling
        (``on_kill``).

    Each hook keeps one pooled HTTP client per kind (a ``requests`` session, an ``httpx`` client in its
    event loop): ``close()`` and ``aclose()`` (or ``async with hook``) end them.

    Calls return plain dicts as the API answers them, each checked against the shape the API documents
    (``client/answers.py``): a body that is not raises ``MalformedAnswer`` naming the endpoint. Errors are
    typed (``errors.ClusterNotFound``, ``InvalidState``, ``InvalidParameter``, ``PermissionDenied``,
    ``RateLimited``, ``TransientApiError`` (``WorkspaceUnreachable`` among them), ``MalformedAnswer``,
    ``UntrustedCertificate``); ``create_cluster`` raises ``UnknownOutcome`` when it cannot know whether
    the cluster was created.
    """

    conn_name_attr = "databricks_conn_id"
    default_conn_name = "databricks_default"
    conn_type = "databricks"
    hook_name = "Databricks Clusters"

    def __init__(
        self,
        databricks_conn_id: str = default_conn_name,
        *,
        timeout_seconds: float = 60.0,
        retry_deadline_seconds: float = 300.0,
        retry_policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        paced: bool = True,
    ) -> None:
        super().__init__()
        use_deployment_secret_names()
        self.databricks_conn_id = databricks_conn_id
        self.paced = paced
        self.timeout_seconds = timeout_seconds
        self.policy = retry_policy or RetryPolicy(deadline_seconds=retry_deadline_seconds)
        self._sleep = sleep
        self._async_settings: ConnectionSettings | None = None
        self._aclient: Any = None
        self._aclient_loop: asyncio.AbstractEventLoop | None = None

    # -- connection and authentication ---------------------------------------------------------------------

    @cached_property
    def settings(self) -> ConnectionSettings:
        return settings_from_connection(self.get_connection(self.databricks_conn_id))

    async def _asettings(self) -> ConnectionSettings:
        if self._async_settings is None:
            from airflow.providers.common.compat.connection import get_async_connection

            conn = await get_async_connection(self.databricks_conn_id)
            self._async_settings = settings_from_connection(conn)
        return self._async_settings

    @property
    def host_url(self) -> str:
        """The workspace's base URL, e.g. ``https://dbc-1234.cloud.databricks.com``."""
        return self.settings.base_url

    def cluster_url(self, cluster_id: str) -> str:
        """The cluster's page in the workspace UI."""
        return f"{self.host_url}/#setting/clusters/{cluster_id}/configuration"

    @cached_property
    def _session(self) -> Any:
        return sync_session()

    @staticmethod
    def _token_request(
        settings: ConnectionSettings, subject: str | None
    ) -> tuple[str, dict[str, str], dict[str, str]]:
        """URL, form and headers of the token request: the federation's exchange of ``subject`` (its
        subject token), or OAuth client credentials (HTTP Basic client id:secret)."""
        url = f"{settings.base_url}{TOKEN_PATH}"
        if settings.federation is not None:
            if subject is None:
                raise ValueError("a token exchange needs its subject token")
            return url, settings.federation.exchange_form(subject), {}
        form = {"grant_type": "client_credentials", "scope": "all-apis"}
        return url, form, _basic(str(settings.client_id), str(settings.client_secret))

    @staticmethod
    def _token_key(settings: ConnectionSettings) -> TokenKey:
        if settings.federation is not None:
            federation = settings.federation
            return TokenKey.of(
                settings.base_url, federation.client_id or "", federation.identity(), kind="federation"
            )
        return TokenKey.of(settings.base_url, str(settings.client_id), str(settings.client_secret))

    @staticmethod
    def _remember_token(settings: ConnectionSettings, answer: Any) -> str:
        """File the token of an OAuth answer for every hook of the process; the caller masks it."""
        if not isinstance(answer, dict) or not isinstance(answer.get("access_token"), str):
            # The body is not shown: it may hold a token.
            raise MalformedAnswer(
                "answered without an access_token", status=200, method="POST", path=TOKEN_PATH
            )
        token = str(answer["access_token"])
        expires_in = answer.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else None
        TOKENS.put(DatabricksClustersHook._token_key(settings), token, lifetime, time.monotonic())
        return token

    @staticmethod
    def _fixed_auth_header(settings: ConnectionSettings) -> dict[str, str] | None:
        """The header of a connection whose credential is sent as it is (a token, or HTTP Basic); None for
        OAuth and federation, whose token is minted."""
        if settings.mints_tokens:
            return None
        if settings.uses_basic:
            return _basic(str(settings.login), str(settings.password))
        return {"Authorization": f"Bearer {settings.token}"}

    def _auth_header(self) -> dict[str, str]:
        settings = self.settings
        fixed = self._fixed_auth_header(settings)
        if fixed is not None:
            return fixed
        token = TOKENS.get(self._token_key(settings), time.monotonic())
        if token is None:
            from airflow.sdk.log import mask_secret

            subject = None
            if settings.federation is not None:
                self.log.info("Minting a workspace token by %s", settings.federation.describe())
                subject = subject_token(settings.federation)
                mask_secret(subject)
            url, form, headers = self._token_request(settings, subject)

            def send() -> Any:
                return send_sync(
                    self._session, "POST", url, params=None, body=None, form=form, headers=headers,
                    timeout=self.timeout_seconds, proxies=settings.proxies,
                )  # fmt: skip

            answer = call_sync(
                send, self.policy, method="POST", path=TOKEN_PATH, sleep=self._sleep,
                conn_id=self.databricks_conn_id,
            )  # fmt: skip
            token = self._remember_token(settings, answer)
            mask_secret(token)
        return {"Authorization": f"Bearer {token}"}

    async def _aauth_header(self, client: Any, settings: ConnectionSettings) -> dict[str, str]:
        fixed = self._fixed_auth_header(settings)
        if fixed is not None:
            return fixed
        key = self._token_key(settings)
        token = TOKENS.get(key, time.monotonic())
        if token is None:
            # One token request at a time per client: the waits that start together share its answer.
            async with _minting(key):
                token = TOKENS.get(key, time.monotonic()) or await self._amint(client, settings)
        return {"Authorization": f"Bearer {token}"}

    async def _amint(self, client: Any, settings: ConnectionSettings) -> str:
        subject = None
        if settings.federation is not None:
            self.log.info("Minting a workspace token by %s", settings.federation.describe())
            # The source blocks (a file, STS, the user's callable): not in the triggerer's event loop.
            subject = await asyncio.to_thread(subject_token, settings.federation)
            await _amask(subject)
        url, form, headers = self._token_request(settings, subject)

        async def send() -> Any:
            return await self._asend(client, "POST", url, headers=headers, form=form)

        answer = await call_async(
            send, self.policy, method="POST", path=TOKEN_PATH, conn_id=self.databricks_conn_id
        )
        token = self._remember_token(settings, answer)
        await _amask(token)
        return token

    async def _asend(
        self,
        client: Any,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        params: Any = None,
        body: Any = None,
        form: Mapping[str, str] | None = None,
    ) -> Any:
        """One async attempt, in its turn of the process's request rate when this hook is paced."""
        gate = rate_gate() if self.paced else None
        if gate is not None:
            await gate.turn()
        attempt = await send_async(
            client, method, url, params=params, body=body, form=form, headers=headers,
            timeout=self.timeout_seconds,
        )  # fmt: skip
        if gate is not None:
            gate.answered(attempt)
        return attempt

    def _refused_token(self, settings: ConnectionSettings, headers: Mapping[str, str], attempt: Any) -> bool:
        """Whether the workspace refused a cached OAuth token (revoked, or minted by another workspace on
        the same address); it is then forgotten, and the request is sent once more with a new one."""
        if not settings.mints_tokens or not isinstance(attempt, Answer) or attempt.status not in (401, 403):
            return False
        body = attempt.body if isinstance(attempt.body, dict) else {}
        if body.get("error_code") == "PERMISSION_DENIED":
            return False  # the token is good; its principal may not do this
        TOKENS.forget(self._token_key(settings), headers["Authorization"].removeprefix("Bearer "))
        return True

    # -- one call ------------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, params: Any = None, body: Any = None) -> Any:
        url = f"{self.host_url}{path}"

        def send_once() -> tuple[dict[str, str], Any]:
            headers = {**self._auth_header(), "User-Agent": USER_AGENT}
            attempt = send_sync(
                self._session, method, url, params=params, body=body, headers=headers,
                timeout=self.timeout_seconds, proxies=self.settings.proxies,
            )  # fmt: skip
            return headers, attempt

        def send() -> Any:
            headers, attempt = send_once()
            if self._refused_token(self.settings, headers, attempt):
                _, attempt = send_once()
            return attempt

        return call_sync(
            send, self.policy, method=method, path=path, sleep=self._sleep, conn_id=self.databricks_conn_id
        )

    def _async_client(self, settings: ConnectionSettings) -> Any:
        """This hook's pooled httpx client, made on first use in the running event loop, through the
        connection's proxies.

        A client's connections belong to the loop that opened them; a hook used from a second loop (a
        test's second ``asyncio.run``) gets a client of its own there.
        """
        loop = asyncio.get_running_loop()
        if self._aclient is None or self._aclient_loop is not loop:
            self._aclient = async_client(settings.proxies)
            self._aclient_loop = loop
        return self._aclient

    async def _acall(self, method: str, path: str, *, params: Any = None, body: Any = None) -> Any:
        settings = await self._asettings()
        url = f"{settings.base_url}{path}"
        client = self._async_client(settings)

        async def send_once() -> tuple[dict[str, str], Any]:
            headers = await self._aauth_header(client, settings)
            return headers, await self._asend(client, method, url, headers=headers, params=params, body=body)

        async def send() -> Any:
            headers, attempt = await send_once()
            if self._refused_token(settings, headers, attempt):
                _, attempt = await send_once()
            return attempt

        return await call_async(send, self.policy, method=method, path=path, conn_id=self.databricks_conn_id)

    async def aconnect(self) -> None:
        """Read the connection now (the async calls otherwise read it on first use)."""
        await self._asettings()

    def close(self) -> None:
        """Close the pooled sync session (the async client closes with ``aclose``)."""
        session = self.__dict__.pop("_session", None)
        if session is not None:
            session.close()

    async def aclose(self) -> None:
        """Close the pooled async client, if this loop opened one."""
        client, self._aclient = self._aclient, None
        if client is not None and self._aclient_loop is asyncio.get_running_loop():
            await client.aclose()
        self._aclient_loop = None

    async def __aenter__(self) -> DatabricksClustersHook:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- clusters ------------------------------------------------------------------------------------------

    def create_cluster(self, spec: Mapping[str, Any]) -> str:
        """Create a cluster; return its id.

        ``UnknownOutcome`` when the cluster may or may not exist: the answer was lost after sending, or it
        came back unreadable (a workspace that answers at all has acted on the request).
        """
        path = f"{CLUSTERS}/create"
        body = self._call("POST", path, body=dict(spec))
        try:
            return answers.created_cluster_id(body, "POST", path)
        except MalformedAnswer as err:
            raise UnknownOutcome(str(err), method="POST", path=path) from err

    def get_cluster(self, cluster_id: str) -> dict[str, Any]:
        path = f"{CLUSTERS}/get"
        return answers.cluster(self._call("GET", path, params={"cluster_id": cluster_id}), "GET", path)

    async def aget_cluster(self, cluster_id: str) -> dict[str, Any]:
        path = f"{CLUSTERS}/get"
        body = await self._acall("GET", path, params={"cluster_id": cluster_id})
        return answers.cluster(body, "GET", path)

    @staticmethod
    def _list_params(
        states: Iterable[str] | None, token: str, sort_by: str | None = None
    ) -> list[tuple[str, str]]:
        params = [("page_size", str(LIST_PAGE_SIZE))]
        params += [("filter_by.cluster_states", state) for state in states or ()]
        if sort_by:
            params.append(("sort_by.field", sort_by))
        if token:
            params.append(("page_token", token))
        return params

    @staticmethod
    def _selected(clusters: list[dict[str, Any]], tags: Mapping[str, str] | None) -> list[dict[str, Any]]:
        """Each cluster once, carrying every one of ``tags``. A cluster that changes state while the pages
        are read can move in the list's order and be listed twice; counted twice, it would look like a
        second cluster of its task instance, and ensure would terminate it as surplus."""
        latest: dict[Any, dict[str, Any]] = {}
        for cluster in clusters:  # first-seen order, the last read of each
            latest[cluster.get("cluster_id")] = cluster
        distinct = list(latest.values())
        if not tags:
            return distinct
        return [c for c in distinct if all((c.get("custom_tags") or {}).get(k) == v for k, v in tags.items())]

    def list_clusters(
        self, *, states: Iterable[str] | None = None, tags: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Every cluster (all pages), optionally only in ``states`` and carrying every one of ``tags``."""
        states = list(states or ())
        clusters: list[dict[str, Any]] = []
        token = ""
        while True:
            body = self._call("GET", f"{CLUSTERS}/list", params=self._list_params(states, token))
            page = answers.cluster_page(body, "GET", f"{CLUSTERS}/list")
            clusters += page.clusters
            token = page.next_page_token
            if not token:
                return self._selected(clusters, tags)

    async def alist_clusters(
        self, *, states: Iterable[str] | None = None, tags: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        clusters: list[dict[str, Any]] = []
        async for page in self.alist_cluster_pages(states=states):
            clusters += page
        return self._selected(clusters, tags)

    async def alist_cluster_pages(
        self, *, states: Iterable[str] | None = None, sort_by: str | None = None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """The clusters of each ``clusters/list`` page in turn, optionally only in ``states``, in the
        workspace's default order or by ``sort_by`` (``CLUSTER_NAME``). In the default order (state first) a
        cluster that changes state between two pages can move across the page boundary: on both pages
        (``_selected`` keeps its latest read), or on neither."""
        states = list(states or ())
        token = ""
        while True:
            params = self._list_params(states, token, sort_by)
            body = await self._acall("GET", f"{CLUSTERS}/list", params=params)
            page = answers.cluster_page(body, "GET", f"{CLUSTERS}/list")
            yield page.clusters
            token = page.next_page_token
            if not token:
                return

    def edit_cluster(self, spec: Mapping[str, Any]) -> None:
        self._call("POST", f"{CLUSTERS}/edit", body=dict(spec))

    def start_cluster(self, cluster_id: str) -> None:
        self._call("POST", f"{CLUSTERS}/start", body={"cluster_id": cluster_id})

    def restart_cluster(self, cluster_id: str) -> None:
        self._call("POST", f"{CLUSTERS}/restart", body={"cluster_id": cluster_id})

    def resize_cluster(
        self, cluster_id: str, *, num_workers: int | None = None, autoscale: Mapping[str, int] | None = None
    ) -> None:
        if (num_workers is None) == (autoscale is None):
            raise ValueError("resize_cluster: give exactly one of num_workers or autoscale")
        body: dict[str, Any] = {"cluster_id": cluster_id}
        if autoscale is not None:
            body["autoscale"] = dict(autoscale)
        else:
            body["num_workers"] = num_workers
        self._call("POST", f"{CLUSTERS}/resize", body=body)

    def terminate_cluster(self, cluster_id: str) -> None:
        """Terminate (``clusters/delete``); a no-op on a terminated cluster."""
        self._call("POST", f"{CLUSTERS}/delete", body={"cluster_id": cluster_id})

    async def aterminate_cluster(self, cluster_id: str) -> None:
        await self._acall("POST", f"{CLUSTERS}/delete", body={"cluster_id": cluster_id})

    def permanent_delete_cluster(self, cluster_id: str) -> None:
        self._call("POST", f"{CLUSTERS}/permanent-delete", body={"cluster_id": cluster_id})

    @staticmethod
    def _events_body(
        cluster_id: str,
        event_types: Iterable[str] | None,
        order: str,
        start_time: int | None,
        end_time: int | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"cluster_id": cluster_id, "order": order, "limit": EVENTS_PAGE_SIZE}
        if event_types:
            body["event_types"] = list(event_types)
        if start_time is not None:
            body["start_time"] = start_time
        if end_time is not None:
            body["end_time"] = end_time
        return body

    def get_events(
        self,
        cluster_id: str,
        *,
        event_types: Iterable[str] | None = None,
        order: str = "DESC",
        limit: int | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
    ) -> list[dict[str, Any]]:
        """Cluster events (newest first by default), following ``next_page`` up to ``limit`` events."""
        body: dict[str, Any] | None = self._events_body(cluster_id, event_types, order, start_time, end_time)
        events: list[dict[str, Any]] = []
        while body is not None and (limit is None or len(events) < limit):
            page = answers.event_page(self._call("POST", EVENTS, body=body), "POST", EVENTS)
            events += page.events
            body = page.next_page
        return events[:limit] if limit is not None else events

    async def aget_events(
        self,
        cluster_id: str,
        *,
        event_types: Iterable[str] | None = None,
        order: str = "DESC",
        limit: int | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
    ) -> list[dict[str, Any]]:
        body: dict[str, Any] | None = self._events_body(cluster_id, event_types, order, start_time, end_time)
        events: list[dict[str, Any]] = []
        while body is not None and (limit is None or len(events) < limit):
            page = answers.event_page(await self._acall("POST", EVENTS, body=body), "POST", EVENTS)
            events += page.events
            body = page.next_page
        return events[:limit] if limit is not None else events

    # -- libraries -----------------------------------------------------------------------------------------

    def install_libraries(self, cluster_id: str, libraries: Iterable[Mapping[str, Any]]) -> None:
        """Install ``libraries`` (library objects) on the cluster (``libraries/install``); the workspace
        installs them while the cluster runs, and again at each start."""
        body = {"cluster_id": cluster_id, "libraries": [dict(library) for library in libraries]}
        self._call("POST", f"{LIBRARIES}/install", body=body)

    def library_statuses(self, cluster_id: str) -> list[dict[str, Any]]:
        """The cluster's ``library_statuses`` (``libraries/cluster-status``): ``{library, status, messages,
        is_library_for_all_clusters}`` each; none when it has no library."""
        path = f"{LIBRARIES}/cluster-status"
        body = self._call("GET", path, params={"cluster_id": cluster_id})
        return answers.listing(body, "library_statuses", "GET", path)

    async def alibrary_statuses(self, cluster_id: str) -> list[dict[str, Any]]:
        path = f"{LIBRARIES}/cluster-status"
        body = await self._acall("GET", path, params={"cluster_id": cluster_id})
        return answers.listing(body, "library_statuses", "GET", path)

    # -- what the workspace offers -------------------------------------------------------------------------

    def _listing(self, path: str, key: str) -> list[dict[str, Any]]:
        return answers.listing(self._call("GET", path), key, "GET", path)

    def spark_versions(self) -> list[dict[str, Any]]:
        return self._listing(f"{CLUSTERS}/spark-versions", "versions")

    def node_types(self) -> list[dict[str, Any]]:
        return self._listing(f"{CLUSTERS}/list-node-types", "node_types")

    def zones(self) -> dict[str, Any]:
        path = f"{CLUSTERS}/list-zones"
        return answers.json_object(self._call("GET", path), "GET", path)

    def instance_profiles(self) -> list[dict[str, Any]]:
        return self._listing("/api/2.0/instance-profiles/list", "instance_profiles")

    def instance_pools(self) -> list[dict[str, Any]]:
        return self._listing("/api/2.0/instance-pools/list", "instance_pools")

    def cluster_policies(self) -> list[dict[str, Any]]:
        return self._listing("/api/2.0/policies/clusters/list", "policies")

    def current_user(self) -> dict[str, Any]:
        path = "/api/2.0/preview/scim/v2/Me"
        return answers.json_object(self._call("GET", path), "GET", path)

    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button: who the credentials belong to, or why they do not work."""
        try:
            user = self.current_user()
        except Exception as err:
            return False, str(err)
        return True, f"Connected to {self.host_url} as {user.get('userName', '?')}"
