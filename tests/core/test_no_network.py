"""Nothing leaves the machine: a whole run, a chat reply and an export open no connection when
the model is a local folder (only a hub id the user asked for may download)."""

import json
import socket

import pytest

from studio.core import config
from studio.core.train import trainer


@pytest.fixture()
def no_network(monkeypatch):
    attempts = []

    def refuse(self, address, *args, **kwargs):
        if isinstance(address, tuple) and address and address[0] not in ("127.0.0.1", "::1"):
            attempts.append(address)
            raise OSError("network use in a test that promises none")
        return real_connect(self, address, *args, **kwargs)

    real_connect = socket.socket.connect
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection",
                        lambda address, *a, **k: refuse(None, address))
    return attempts


def test_train_chat_and_export_open_no_connection(tmp_path, tiny_model_dir, no_network):
    from studio.core.chat.engine import ChatEngine, GenSettings
    from studio.core.export import folder as export
    from studio.core.model.run_model import load_run_model

    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(json.dumps({"instruction": f"说 {i}", "output": f"好的 {i}"},
                                         ensure_ascii=False) for i in range(8)), encoding="utf-8")
    cfg = config.from_dict({"model": str(tiny_model_dir), "dataset": str(data), "max_steps": 2,
                            "batch_size": 4, "eval_split": 0.0, "output_dir": str(tmp_path / "r")})
    assert trainer.train(cfg).status == "finished"
    rm = load_run_model(tmp_path / "r")
    reply = ChatEngine(rm.model, rm.tokenizer).reply(
        [{"role": "user", "content": "你好"}], GenSettings(max_new_tokens=4, temperature=0.0))
    assert reply.tokens >= 1
    export.export(tmp_path / "r", tmp_path / "out", fmt="adapter", verify=False)
    assert no_network == []
