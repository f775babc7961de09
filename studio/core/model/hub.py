"""Fetch a model from the Hugging Face hub into its cache, with progress and cancel.

`fetch(repo_id, files=...)` is `huggingface_hub.snapshot_download`: what is already in the cache
is not fetched again, a file cut off half-way resumes from its `.incomplete` part, and with no
network (or HF_HUB_OFFLINE=1) the cached snapshot is used as it is. `files` says how much of
the repository a caller needs: "config" (parameter map, memory estimate), "tokenizer" (the
Data page, token probes) or "all" (training, chat, attention probes, export).

huggingface_hub is imported inside the functions (network stack, only for hub ids).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any, Callable, Optional

from studio.core.errors import ModelError, UserError, first_line

# Files fetched for a model; code and pickles only when the user allowed them.
TOKENIZER_FILES = ["*.json", "*.model", "*.txt", "*.jinja", "*.tiktoken", "tokenizer*"]
WEIGHT_FILES = ["*.safetensors"]
PICKLE_FILES = ["*.bin", "*.pt", "*.pth"]
FILE_SETS = ("config", "tokenizer", "all")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")

# progress(bytes_done, bytes_total, message); cancelled() -> True stops the download
Progress = Callable[[int, int, str], None]


class DownloadCancelled(UserError):
    """The user stopped a download; what arrived stays in the cache and the next try resumes."""


def is_hub_id(text: str) -> bool:
    """`org/name` (or a bare `name`) that is not an existing path."""
    text = str(text).strip()
    return bool(_HUB_ID.match(text)) and ".." not in text and not Path(text).expanduser().exists()


def patterns(files: str, trust_remote_code: bool = False, allow_pickle: bool = False) -> list:
    """allow_patterns for `files` ("config", "tokenizer" or "all")."""
    if files not in FILE_SETS:
        raise ValueError(f"files must be one of {FILE_SETS}, not {files!r}")
    if files == "config":
        return ["config.json"]
    out = list(TOKENIZER_FILES)
    if files == "all":
        out += WEIGHT_FILES + (PICKLE_FILES if allow_pickle else [])
    return out + (["*.py"] if trust_remote_code else [])


def fetch(repo_id: str, *, files: str = "all", trust_remote_code: bool = False,
          allow_pickle: bool = False, progress: Optional[Progress] = None,
          cancelled: Optional[Callable[[], bool]] = None) -> Path:
    """The local snapshot folder of `repo_id` holding `files`. Raises ModelError with one line
    (DownloadCancelled when `cancelled()` turned true)."""
    from huggingface_hub import errors as hub_errors
    from huggingface_hub import snapshot_download

    kwargs: dict[str, Any] = {"cache_dir": cache_dir()}
    if progress is not None or cancelled is not None:
        kwargs["tqdm_class"] = _reporting_bar(repo_id, progress, cancelled)
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns(
            files, trust_remote_code, allow_pickle), **kwargs))
    except DownloadCancelled:
        raise
    except hub_errors.GatedRepoError:
        raise ModelError(f"hub model {repo_id} is gated: accept its licence on huggingface.co "
                         "and log in with `hf auth login`") from None
    except hub_errors.RepositoryNotFoundError:
        raise ModelError(f"no local folder '{repo_id}' and no hub model of that name "
                         "(or it is private: log in with `hf auth login`)") from None
    except hub_errors.LocalEntryNotFoundError:
        raise ModelError(f"no local folder '{repo_id}', and the Hugging Face hub is not "
                         "reachable (offline?) to fetch a model of that name, nor is one "
                         "cached; give a local model folder") from None
    except (hub_errors.HfHubHTTPError, hub_errors.HFValidationError, OSError) as e:
        raise ModelError(f"cannot download {repo_id}: {first_line(e)}") from None


def cache_dir() -> str:
    """The hub cache the environment names now, by huggingface_hub's rule (HF_HUB_CACHE, else
    HF_HOME/hub, else ~/.cache/huggingface/hub). huggingface_hub reads it once, at its import;
    the engine host imports it when it starts, then follows the window's environment at each
    call (services/host_main.py), where a cache set since must be the one used."""
    env = os.environ
    home = env.get("HF_HOME") or os.path.join(
        env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "huggingface")
    hub = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE") or \
        os.path.join(home, "hub")
    return os.path.expandvars(os.path.expanduser(hub))


_HUB_ENV = ("HF_", "HUGGINGFACE_", "TRANSFORMERS_OFFLINE", "XDG_CACHE_HOME")
_hub_env_seen: Optional[dict] = None


def follow_environment() -> None:
    """Make huggingface_hub see every hub variable as it is now (offline, endpoint, timeouts,
    cache), for all its calls, transformers' included (cache_dir() covers fetch's cache only).

    Why: it reads them once, when imported, and the engine host imports it at its start,
    before a caller (a test, the app's settings) changed them; the host follows the caller's
    variables at each call, and this makes the hub follow them too."""
    global _hub_env_seen
    constants = sys.modules.get("huggingface_hub.constants")
    env = {k: v for k, v in os.environ.items() if k.startswith(_HUB_ENV)}
    if constants is not None and env != _hub_env_seen:
        import importlib

        importlib.reload(constants)  # a few dozen assignments: cheap, and exactly its reading
        _hub_env_seen = env


def _reporting_bar(repo_id: str, progress: Optional[Progress],
                   cancelled: Optional[Callable[[], bool]]) -> type:
    """A huggingface_hub tqdm class that also reports the byte count and checks for cancel.

    snapshot_download builds its bars from this class: one counting files and two counting
    bytes (the one named "huggingface_hub.snapshot_download" sums every file's bytes written).
    A disabled bar (no terminal) does not count, so the count is kept here. The byte bar is
    updated from the download threads, so raising there stops the file being written (its
    .incomplete part stays for the next try).
    """
    from huggingface_hub.utils import tqdm as hf_tqdm

    class ReportingBar(hf_tqdm):
        def __init__(self, *args: Any, **kwargs: Any):
            self._reports = kwargs.get("name") == "huggingface_hub.snapshot_download"
            self._done = int(kwargs.get("initial") or 0)
            super().__init__(*args, **kwargs)

        def update(self, n: Any = 1) -> Any:
            if cancelled is not None and cancelled():
                raise DownloadCancelled(f"download of {repo_id} stopped; what arrived is kept "
                                        "in the cache and the next try resumes from there")
            if self._reports and progress is not None:
                self._done += int(n or 0)
                total = int(self.total or 0)
                progress(self._done, total, f"fetching {repo_id}: {_mb(self._done)} of "
                                            f"{_mb(total)}")
            return super().update(n)

    return ReportingBar


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"
