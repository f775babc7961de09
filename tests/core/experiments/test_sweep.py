"""Sweeps: a grid expands into named runs; a 2 x 2 sweep on the tiny starter finishes all four
with their values in each run's config.yaml."""

import pytest
import yaml

from studio.cli import main
from studio.core import config, runs
from studio.core.errors import ConfigError
from studio.core.experiments import sweep
from studio.core.experiments.queue import Queue


def test_grid_parses_yaml_values_and_refuses_what_is_wrong():
    assert sweep.parse_grid(["learning_rate=1e-3,0.01", "packing=true,false"]) == \
        {"learning_rate": [1e-3, 0.01], "packing": [True, False]}
    for bad, why in ((["lr=1"], "unknown config key 'lr'"), (["lora_r"], "KEY=V1"),
                     (["output_dir=a,b"], "set by the sweep"), (["lora_r=4,4"], "twice"),
                     ([], "at least one")):
        with pytest.raises(ConfigError, match=why):
            sweep.parse_grid(bad)


def test_expand_names_runs_by_their_values_and_checks_each_value(tmp_path):
    base = config.from_dict(dict(model="m", dataset="d.jsonl", output_dir=str(tmp_path / "sw")))
    runs_ = sweep.expand(base, {"learning_rate": [0.001, 0.01], "lora_r": [4, 8]})
    assert [r.name for r in runs_] == [
        "learning_rate=0.001,lora_r=4", "learning_rate=0.001,lora_r=8",
        "learning_rate=0.01,lora_r=4", "learning_rate=0.01,lora_r=8"]
    assert runs_[1].config.lora_r == 8 and runs_[1].config.output_dir == \
        str(tmp_path / "sw" / "learning_rate=0.001,lora_r=8")
    picked = sweep.expand(base, {"learning_rate": [0.001, 0.01], "lora_r": [4, 8]}, random_n=3)
    assert len({r.name for r in picked}) == 3
    with pytest.raises(ConfigError, match="lora_r"):
        sweep.expand(base, {"lora_r": [4, 0]})
    assert sweep.run_name({"target_modules": "q_proj,v_proj"}) == "target_modules=q_proj_v_proj"


@pytest.mark.slow
def test_a_2x2_sweep_runs_four_runs_that_finish_with_their_values(tmp_path, base_yaml,
                                                                child_env, capsys):
    cfg = base_yaml(tmp_path / "sweep", max_steps=2, eval_steps=1)
    code = main(["sweep", str(cfg), "--grid", "learning_rate=0.001,0.01", "--grid",
                 "lora_r=2,4", "--root", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert code == 0, out
    entries = Queue(tmp_path / "runs").read().entries
    assert len(entries) == 4 and {e.state for e in entries} == {"finished"}
    for lr in (0.001, 0.01):
        for r in (2, 4):
            run_dir = tmp_path / "sweep" / f"learning_rate={lr},lora_r={r}"
            saved = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
            assert (saved["learning_rate"], saved["lora_r"]) == (lr, r)
            assert runs.read_status(run_dir)["status"] == "finished"
            assert (run_dir / "adapter" / "adapter_config.json").is_file()
    assert "learning_rate" in out and out.count("finished") >= 4  # the comparison table
