"""The create operator's spec side: its fields rendered (a ``cluster_json`` file read, every secret masked
before Airflow stores the rendering) and built into the validated spec of the task instance. Airflow glue;
the spec builder and the redaction rule are loaded only when a task runs.

Airflow writes ``rendered_task_instance_fields`` right after ``render_template_fields``, through its secrets
masker, and every log line goes through the same masker. So every secret a rendering reveals (a registry
password from a Variable, inside JSON text, a file or a dict, under any secret-like key) is handed to the
masker here, before that. Which values are secrets is ``redaction``'s one rule.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException
from airflow.sdk.log import mask_secret

from airflow_databricks_clusters.cluster_spec.fields import OPERATOR_FIELDS
from airflow_databricks_clusters.operator_base import ClusterOperatorBase

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import Context

    from airflow_databricks_clusters.errors import SpecError


#: How the one line of a bad spec begins, in the task log and the task's exception.
SPEC_ERROR_SUBJECT = "Invalid Databricks cluster spec"


class ClusterSpecOperator(ClusterOperatorBase):
    """A base of ``DatabricksCreateClusterOperator``: rendering its fields and building its spec."""

    # Only a cluster_json path is a file (read in render_template_fields): with Airflow's template_ext, any
    # field ending in ".json" (a spark_conf value, ...) would be looked up as a template file too.
    template_ext: Sequence[str] = ()
    cluster_json: Any
    single_node: bool | str
    extra_api_fields: Any
    capacity_fallback: Any
    libraries: Any

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        """Render the fields, then a ``cluster_json`` path's file; mask every secret they hold before Airflow
        stores the rendering (right after this returns)."""
        from airflow_databricks_clusters.cluster_spec.build import cluster_json_path
        from airflow_databricks_clusters.hooks import use_deployment_secret_names

        use_deployment_secret_names()  # before anything is masked or shown
        jinja_env = jinja_env or self.get_template_env()
        try:
            super().render_template_fields(context, jinja_env)
            path = cluster_json_path(self.cluster_json)
            if path is not None:
                try:
                    text = read_cluster_json(path, jinja_env)
                except AirflowFailException as err:
                    self.log.error("%s", err)
                    raise
                self.cluster_json = self.render_template(text, context, jinja_env)
        finally:
            # Also after a failure half-way: what was rendered may still be logged.
            mask_secrets(getattr(self, name, None) for name in self.template_fields)
            mask_url_secrets(getattr(self, "libraries", None))

    def _task_tags(self, context: Context) -> dict[str, str]:
        from airflow_databricks_clusters.cluster_spec.build import task_instance_tags

        ti = context["ti"]
        map_index = ti.map_index if ti.map_index is not None else -1
        return task_instance_tags(self.dag_id, self.task_id, context["run_id"], map_index)

    def build_spec(self, context: Context) -> dict[str, Any]:
        """The validated Clusters API JSON for this task instance (its tags included).

        A bad spec fails the task without retries, before any API call, with one line naming every bad
        field, its value and what is allowed: logged at ERROR here, and the exception's whole message.
        """
        from airflow_databricks_clusters.cluster_spec.build import build_cluster_spec
        from airflow_databricks_clusters.errors import SpecError

        given = {name: getattr(self, name) for name in OPERATOR_FIELDS if getattr(self, name) is not None}
        try:
            return build_cluster_spec(
                cluster_json=self.cluster_json or None,
                single_node=self.single_node,
                tags=self._task_tags(context),
                extra_api_fields=self.extra_api_fields,
                **given,
            )
        except SpecError as err:
            raise self._refused(err) from None

    def build_alternatives(self, spec: dict[str, Any]) -> list[dict[str, Any]]:
        """The validated spec of each ``capacity_fallback`` alternative laid over ``spec``; a bad one fails
        the task as a bad spec does, naming the alternative and the field."""
        from airflow_databricks_clusters.cluster_spec.capacity_fallback import (
            alternative_specs,
            parse_alternatives,
        )
        from airflow_databricks_clusters.errors import SpecError

        try:
            return alternative_specs(spec, parse_alternatives(self.capacity_fallback))
        except SpecError as err:
            raise self._refused(err) from None

    def build_libraries(self) -> list[dict[str, Any]]:
        """The checked ``libraries`` to install; a bad one fails the task as a bad spec does, naming the
        library's place and field."""
        from airflow_databricks_clusters.cluster_spec.libraries import parse_libraries
        from airflow_databricks_clusters.errors import SpecError

        try:
            return parse_libraries(self.libraries)
        except SpecError as err:
            raise self._refused(err) from None

    def _refused(self, err: SpecError) -> AirflowFailException:
        """The task's failure for a bad spec, its one line logged at ERROR first."""
        from airflow_databricks_clusters.cluster_spec.validation import problems_line

        line = problems_line(SPEC_ERROR_SUBJECT, err.problems)
        self.log.error("%s", line)
        # Retrying cannot fix a bad spec: fail without using up the task's retries. Raised not chained: the
        # traceback Airflow logs would repeat the same problems in the SpecError's own form.
        return AirflowFailException(line)


def read_cluster_json(path: str, jinja_env: jinja2.Environment) -> str:
    """The text of the ``cluster_json`` file at ``path``: an absolute path as it is (the
    ``databricks clusters create --json-file /path/file.json`` habit), a relative one from the DAG's folder
    and ``template_searchpath``, where Airflow looks for template files.

    A file that cannot be read fails the task at once (``AirflowFailException``: a retry finds the same
    files), naming ``cluster_json``, the path, what is allowed and why this one cannot be read.
    """
    import jinja2

    from airflow_databricks_clusters.cluster_spec.build import unreadable_cluster_json
    from airflow_databricks_clusters.cluster_spec.validation import problems_line

    def refused(reason: str) -> AirflowFailException:
        error = unreadable_cluster_json(path, reason, where)
        return AirflowFailException(problems_line(SPEC_ERROR_SUBJECT, error.problems))

    loader = jinja_env.loader
    folders = [str(folder) for folder in getattr(loader, "searchpath", None) or () if str(folder)]
    where = ", absolute or relative to the DAG folder or template_searchpath"
    where += f" ({', '.join(folders)})" if folders else " (this task has no DAG folder)"
    try:
        if os.path.isabs(path):
            return Path(path).read_text()
        if loader is None:
            raise jinja2.TemplateNotFound(path)
        return str(loader.get_source(jinja_env, path)[0])
    except jinja2.TemplateNotFound:
        raise refused("not found there") from None
    except (OSError, ValueError) as err:  # ValueError: a NUL in the path, a file that is not text
        raise refused(getattr(err, "strerror", None) or str(err)) from None


def mask_url_secrets(libraries: Any) -> None:
    """Hand Airflow's masker every credential written into a URL in ``libraries`` (a private repository's
    ``https://user:password@host``), which no key names as a secret."""
    if not libraries:
        return
    from airflow_databricks_clusters.cluster_spec.libraries import url_secrets

    for secret in set(url_secrets(libraries)):
        mask_secret(secret)


def mask_secrets(values: Iterable[Any]) -> None:
    """Hand every secret in ``values`` (dicts, lists, JSON or Python text, at any depth) to Airflow's masker,
    which then hides it in every log line and in the rendered fields Airflow stores. Airflow does not mask
    values shorter than ``[logging] min_length_masked_secret`` (5)."""
    from airflow_databricks_clusters.redaction import secret_values

    for value in values:
        for secret in set(secret_values(value)):
            mask_secret(secret)
