#!/usr/bin/env python3
"""GUI event-loop delay while the app trains in its worker thread, against the loop idle.

The real app (Studio(): window, pages, status bar) is opened offscreen on the Train page; the
app's own probe (studio.services.latency.LatencyProbe: a 10 ms timer recording how late each
tick fires) runs through three phases:

  idle       window shown, nothing running (after the start-up device detection settled)
  starting   Start pressed: the worker imports torch / transformers / peft, loads the model,
             tokenizes the data
  training   optimizer steps in the worker; the curves redraw at ~10 Hz on the GUI thread

The run is started the way the tour starts it (the draft's keys, then TrainPanel.start), on a
tiny starter model (made in a separate process, so the GUI process imports torch only in the
worker, as in the app) and the first --rows rows of --data (default: the sample that ships in
resources/samples/; any dataset file the studio reads works, e.g. an alpaca_en_demo.json).
Target (desktop-app issue): p99 <= 50 ms while training, on 2 CPU cores.

    python bench/gui_latency.py [--steps 20] [--batch 8] [--max-length 512] [--idle-s 5]
                                [--data FILE] [--rows 400]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from studio.paths import resource  # noqa: E402 (after the path)

SAMPLE = resource("samples", "demo_zh_en.jsonl")


def _percentiles(delays: list[float]) -> dict:
    import numpy as np

    if not delays:
        return {"n": 0, "p50": float("nan"), "p99": float("nan"), "max": float("nan"),
                "max_at": float("nan")}
    d = np.asarray(delays)
    worst = int(d.argmax())
    # when the worst tick came, seconds into the phase (each tick: 10 ms + its delay)
    at = float((d[:worst + 1] + 10.0).sum() / 1000)
    return {"n": int(d.size), "p50": float(np.percentile(d, 50)),
            "p99": float(np.percentile(d, 99)), "max": float(d.max()), "max_at": at}


def measure(model_dir: Path, dataset: Path, workdir: Path, steps: int, batch: int,
            max_length: int, idle_s: float, settle_s: float = 3.0) -> dict:
    """Run the app through idle -> starting -> training; per phase: seconds and delay stats."""
    from PySide6.QtCore import QTimer

    from studio.app import Studio, create_app
    from studio.services.latency import LatencyProbe

    app = create_app([], lang="en")
    studio = Studio()
    studio.window.resize(1400, 900)
    studio.show()
    studio.window.show_page("train")
    probe = LatencyProbe()
    marks: dict[str, tuple[float, int]] = {}  # phase start -> (time, index into delays)
    out: dict = {}

    def mark(name: str) -> None:
        marks[name] = (time.perf_counter(), len(probe.delays_ms))

    def start_idle() -> None:
        probe.start()
        mark("idle")
        QTimer.singleShot(int(idle_s * 1000), start_training)

    def start_training() -> None:
        mark("starting")
        studio.session.draft.update(
            model=str(model_dir), dataset=str(dataset), method="lora", max_steps=steps,
            batch_size=batch, max_length=max_length, eval_split=0.0, save_steps=10 * steps,
            logging_steps=1, output_dir=str(workdir / "run"))
        if not studio.train.start():
            out["error"] = studio.train.message.text()
            app.exit(1)

    def on_state(state: str) -> None:
        if state == "running" and "training" not in marks:
            mark("training")

    def on_finished(status: str, reason: str) -> None:
        mark("end")
        probe.stop()
        out.update(status=status, reason=reason)
        QTimer.singleShot(0, app.quit)

    studio.session.sig_state.connect(on_state)
    studio.session.sig_finished.connect(on_finished)
    QTimer.singleShot(int(settle_s * 1000), start_idle)
    app.exec()
    if "error" in out:
        raise SystemExit(f"the run did not start: {out['error']}")
    order = ["idle", "starting", "training", "end"]
    present = [p for p in order if p in marks]
    for a, b in zip(present, present[1:]):
        (t0, i0), (t1, i1) = marks[a], marks[b]
        out[a] = {"seconds": t1 - t0, **_percentiles(probe.delays_ms[i0:i1])}
    torch = sys.modules.get("torch")
    out["torch_threads"] = torch.get_num_threads() if torch else None
    out["plot_points"] = studio.train.plots.points("loss")
    return out


def _make_model(folder: Path) -> Path:
    # In its own process: this GUI process must import torch only in the training worker.
    subprocess.run([sys.executable, str(ROOT / "main.py"), "new-model", "--size", "tiny",
                    str(folder)], check=True, capture_output=True, cwd=ROOT)
    return folder


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--rows", type=int, default=400, help="rows of the dataset to use")
    ap.add_argument("--idle-s", type=float, default=5.0)
    ap.add_argument("--data", default=str(SAMPLE),
                    help="dataset file (default: the shipped sample, resources/samples/)")
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ["STUDIO_SETTINGS"] = str(work / "settings.ini")  # not the user's settings
        model = _make_model(work / "tiny")
        data = Path(args.data)
        if data.suffix == ".json":  # the first rows only: the run needs steps x batch of them
            rows = json.loads(data.read_text(encoding="utf-8"))[:args.rows]
            data = work / data.name
            data.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
        res = measure(model, data, work, args.steps, args.batch, args.max_length, args.idle_s)
    print(f"GUI event-loop delay (10 ms timer probe), app offscreen; training: tiny starter, "
          f"LoRA, batch {args.batch} x max_length {args.max_length}, {args.steps} steps of "
          f"{Path(args.data).name}; torch threads in the worker: {res['torch_threads']}; "
          f"{os.cpu_count()} cores\n")
    print("| phase | seconds | ticks | p50 ms | p99 ms | max ms | max at s |")
    print("|---|---|---|---|---|---|---|")
    labels = {"idle": "idle (window shown)", "starting": "starting (imports, model, data)",
              "training": "training (worker steps, curves at 10 Hz)"}
    for phase, label in labels.items():
        if phase in res:
            s = res[phase]
            print(f"| {label} | {s['seconds']:.1f} | {s['n']} | {s['p50']:.1f} | "
                  f"{s['p99']:.1f} | {s['max']:.1f} | {s['max_at']:.1f} |")
    print(f"\nrun {res['status']}{': ' + res['reason'] if res['reason'] else ''}; "
          f"{res['plot_points']} loss points drawn")
    ok = res["status"] == "finished" and res.get("training", {}).get("n", 0) > 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
