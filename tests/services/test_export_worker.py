"""ExportJob: the export in a worker thread, progress and the result delivered to the GUI thread."""

from __future__ import annotations

import threading

from studio.services.export_worker import ExportJob, ExportRequest


def test_progress_and_result_arrive_in_the_gui_thread(qtbot, trained_run, tmp_path):
    job = ExportJob(ExportRequest(run_dir=str(trained_run("lora")), to=str(tmp_path / "a")))
    seen, threads = [], set()
    job.sig_progress.connect(lambda f, m: (seen.append(f), threads.add(threading.get_ident())))
    with qtbot.waitSignal(job.sig_done, timeout=120_000):
        job.start()
    assert job.result is not None and job.error is None
    assert (tmp_path / "a" / "adapter_config.json").is_file()
    assert seen[-1] == 1.0 and seen == sorted(seen)
    assert threads == {threading.get_ident()}


def test_errors_arrive_as_a_reason(qtbot, trained_run, tmp_path):
    job = ExportJob(ExportRequest(run_dir=str(trained_run("lora")), to=str(tmp_path / "g"),
                                  fmt="gguf", gguf_type="q9"))
    with qtbot.waitSignal(job.sig_done, timeout=60_000):
        job.start()
    assert job.result is None and "unknown GGUF type 'q9'" in job.error
