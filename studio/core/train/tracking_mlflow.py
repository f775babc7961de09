"""report_to: mlflow — a run's metrics and config in MLflow, through MLflow's own client.

Where: `mlflow_tracking_uri`, or by default a SQLite store in the run folder
(RUN_DIR/mlflow/mlflow.db, artifacts under RUN_DIR/mlflow/artifacts). MLflow 3 put its plain
folder store ("./mlruns", file:) in maintenance mode and refuses it unless
MLFLOW_ALLOW_FILE_STORE is set; its documentation recommends SQLite for local use, which
mlflow-skinny reaches through sqlalchemy + alembic (the `tracking` extra installs all three).

One MLflow run per studio run, named after the run folder, in the experiment
`mlflow_experiment`; RUN_DIR/mlflow/run.json remembers its id, so a resumed run keeps logging to
the same MLflow run. Metrics have the TensorBoard names (train/loss, ..., eval/loss) at the
optimizer step with the metrics line's own time; every config key is a param. Metrics are
sent in batches (at each eval, event, every few seconds and at the end): one database
transaction per step would cost more than a tiny model's step.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlparse

from studio.core import config as config_mod
from studio.core import runs
from studio.core.config import RunConfig
from studio.core.errors import ConfigError
from studio.core.events import EvalMetrics, RunEvent, StepMetrics

MLFLOW_DIR = "mlflow"
RUN_FILE = "run.json"            # {"tracking_uri": ..., "run_id": ...}
FLUSH_EVERY_S = 5.0
_MAX_BATCH = 1000                # MLflow's limit of metrics per log_batch call
_MAX_PARAMS = 100                # ... and of params
_MAX_PARAM_CHARS = 6000          # MLflow's longest param value
_END_STATUS = {"finished": "FINISHED", "failed": "FAILED", "stopped": "KILLED"}


def default_uri(run_dir: Path) -> str:
    # sqlite:////abs/path on POSIX (three slashes + the absolute path), sqlite:///C:/... on Windows
    return f"sqlite:///{(Path(run_dir) / MLFLOW_DIR / 'mlflow.db').as_posix()}"


def check(cfg: RunConfig) -> None:
    """ConfigError, before the run folder exists, for a missing package or a refused URI."""
    uri = cfg.mlflow_tracking_uri
    scheme = urlparse(uri).scheme if uri else "sqlite"
    needed = ["mlflow"] + (["sqlalchemy", "alembic"] if scheme.startswith("sqlite") else [])
    missing = [name for name in needed if not _installed(name)]
    if missing:
        raise ConfigError(f"report_to: mlflow needs {', '.join(missing)} (pip install "
                          "mlflow-skinny sqlalchemy alembic, or pip install -e '.[tracking]')")
    if not cfg.mlflow_experiment.strip():
        raise ConfigError("mlflow_experiment is empty: name the MLflow experiment (default "
                          "studio)")
    if uri and scheme in ("", "file") and not os.environ.get("MLFLOW_ALLOW_FILE_STORE"):
        raise ConfigError(f"mlflow_tracking_uri {uri!r} is MLflow's folder store, which MLflow 3 "
                          "refuses; use sqlite:///PATH/mlflow.db, a server's http:// address, or "
                          "leave it empty for a store in the run folder")


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # ValueError: sys.modules[name] is None (blocked)
        return False


class MlflowReporter:
    def __init__(self, cfg: RunConfig, run: runs.RunDir):
        from mlflow.entities import Metric  # needs mlflow: see check()
        from mlflow.tracking import MlflowClient

        self._metric = Metric
        self._dir = run.path / MLFLOW_DIR
        self._dir.mkdir(parents=True, exist_ok=True)
        self.uri = cfg.mlflow_tracking_uri or default_uri(run.path)
        try:
            self._client = MlflowClient(tracking_uri=self.uri)
            self.run_id = self._reopen() or self._create(cfg, run.path)
            self._log_params(cfg)
        except Exception as e:  # MLflow's own errors: a server not there, a locked database
            raise ConfigError(f"report_to: mlflow could not log to {self.uri}: "
                              f"{str(e).strip().splitlines()[0] if str(e).strip() else e!r}"
                              ) from None
        self._pending: list[Any] = []
        self._sent_at = time.monotonic()
        self._end = "KILLED"  # unless the run says it finished or failed

    # --- the MLflow run ---------------------------------------------------------------------
    def _reopen(self) -> Optional[str]:
        """The MLflow run an earlier part of this run logged to (resume), when it still exists."""
        try:
            known = json.loads((self._dir / RUN_FILE).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        if known.get("tracking_uri") != self.uri:
            return None
        try:
            self._client.update_run(known["run_id"], status="RUNNING")
        except Exception:  # deleted in MLflow meanwhile: start a new one
            return None
        return known["run_id"]

    def _create(self, cfg: RunConfig, run_dir: Path) -> str:
        exp = self._client.get_experiment_by_name(cfg.mlflow_experiment)
        if exp is not None:
            exp_id = exp.experiment_id
        elif cfg.mlflow_tracking_uri:  # the user's store keeps its own artifact location
            exp_id = self._client.create_experiment(cfg.mlflow_experiment)
        else:  # else artifacts would go to ./mlruns of whatever folder the run started in
            exp_id = self._client.create_experiment(
                cfg.mlflow_experiment, artifact_location=(self._dir / "artifacts").as_uri())
        r = self._client.create_run(exp_id, run_name=run_dir.name,
                                    tags={"studio.run_dir": str(run_dir),
                                          "studio.method": cfg.method})
        runs.atomic_write_text(self._dir / RUN_FILE, json.dumps(
            {"tracking_uri": self.uri, "run_id": r.info.run_id}))
        return r.info.run_id

    def _log_params(self, cfg: RunConfig) -> None:
        """Every config key as a param. On resume a key already logged keeps its value (MLflow
        refuses to change a param); a value changed by `resume --set` becomes a tag."""
        from mlflow.entities import Param, RunTag

        logged = self._client.get_run(self.run_id).data.params
        params, tags = [], []
        for k, v in config_mod.to_dict(cfg).items():
            text = str(v)[:_MAX_PARAM_CHARS]
            if k not in logged:
                params.append(Param(k, text))
            elif logged[k] != text:
                tags.append(RunTag(f"resumed_with.{k}", text))
        for i in range(0, len(params), _MAX_PARAMS):
            self._client.log_batch(self.run_id, params=params[i:i + _MAX_PARAMS])
        if tags:
            self._client.log_batch(self.run_id, tags=tags)

    # --- the reporter -----------------------------------------------------------------------
    def on_step(self, m: StepMetrics) -> None:
        from studio.core.train.tracking import STEP_FIELDS

        for name in STEP_FIELDS:
            self._add(f"train/{name}", getattr(m, name), m.step, m.time)
        if time.monotonic() - self._sent_at > FLUSH_EVERY_S or len(self._pending) >= _MAX_BATCH:
            self._flush()

    def on_eval(self, m: EvalMetrics) -> None:
        self._add("eval/loss", m.eval_loss, m.step, m.time)
        self._add("eval/perplexity", m.perplexity, m.step, m.time)
        self._flush()

    def on_event(self, e: RunEvent) -> None:
        self._end = _END_STATUS.get(e.event, self._end)
        self._flush()

    def close(self) -> None:
        self._flush()
        self._client.set_terminated(self.run_id, status=self._end)

    def _add(self, name: str, value: Any, step: int, t: float) -> None:
        if value is not None:
            self._pending.append(self._metric(name, float(value), int(t * 1000), int(step)))

    def _flush(self) -> None:
        for i in range(0, len(self._pending), _MAX_BATCH):
            self._client.log_batch(self.run_id, metrics=self._pending[i:i + _MAX_BATCH])
        self._pending = []
        self._sent_at = time.monotonic()
