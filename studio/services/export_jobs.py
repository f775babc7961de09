"""An export, run in the engine host (no Qt here): its progress as events, Cancel at the
engine's next progress report. services/export_worker.py asks for it from the window."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class ExportRequest:
    run_dir: str
    to: str
    fmt: str = "adapter"
    step: Optional[int] = None
    overwrite: bool = False
    dequantize: bool = False
    gguf_type: str = "f16"
    sampling: Optional[Any] = None      # modelfile.Sampling: the Chat page's settings


def export_in_host(ctx: Any, request: ExportRequest) -> Any:
    from studio.core.errors import Cancelled
    from studio.core.export.folder import export

    def report(fraction: float, message: str) -> None:
        if ctx.cancelled():  # every progress report is a place to stop
            raise Cancelled("export cancelled; nothing was written")
        ctx.emit("progress", (fraction, message))

    return export(request.run_dir, request.to, fmt=request.fmt, step=request.step,
                  overwrite=request.overwrite, dequantize=request.dequantize,
                  progress=report, gguf_type=request.gguf_type, sampling=request.sampling)
