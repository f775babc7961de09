import json
import math

from studio.core import events
from studio.core.events import EvalMetrics, RunEvent, StepMetrics


def test_lines_roundtrip_and_carry_contract_fields():
    recs = [StepMetrics(step=1, loss=2.5, lr=1e-4, grad_norm=0.5, tokens=100, tokens_per_s=50.0,
                        mem_mb=12.0, total_steps=10),
            EvalMetrics(step=1, eval_loss=2.0, perplexity=math.exp(2.0)),
            RunEvent(step=1, event="checkpoint", detail="x")]
    lines = [events.to_json_line(r) for r in recs]
    step = json.loads(lines[0])
    for key in ("type", "step", "loss", "lr", "grad_norm", "tokens", "tokens_per_s", "mem_mb",
                "time"):
        assert key in step
    assert json.loads(lines[1])["type"] == "eval"
    assert json.loads(lines[2])["event"] == "checkpoint"
    assert events.parse_lines(lines) == recs


def test_nan_is_written_as_null_and_read_back_as_nan():
    line = events.to_json_line(StepMetrics(step=3, loss=float("nan"), lr=0.0,
                                           grad_norm=float("inf"), tokens=0, tokens_per_s=0.0,
                                           mem_mb=0.0))
    assert "NaN" not in line and "Infinity" not in line
    back = events.parse_lines([line])[0]
    assert math.isnan(back.loss) and math.isnan(back.grad_norm)


def test_partial_and_foreign_lines_are_skipped():
    good = events.to_json_line(RunEvent(step=0, event="started"))
    lines = [good, '{"type": "step", "st', "", '{"type":"other"}', "[1]"]
    assert len(events.parse_lines(lines)) == 1
