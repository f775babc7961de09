"""studio/core/files.py: regular files only, bounded reads, damaged weights named in one line.
Real files, real safetensors and torch.save output; no mocks."""

import os
import struct

import pytest

from studio.core import files
from studio.core.errors import UserError


@pytest.fixture()
def weights(tmp_path):
    import torch
    from safetensors.torch import save_file

    p = tmp_path / "w.safetensors"
    save_file({"a": torch.ones(64, 8), "b": torch.zeros(3)}, str(p))
    return p


def test_a_whole_safetensors_file_passes_and_loads(weights):
    assert files.check_safetensors(weights) == weights
    assert set(files.load_safetensors(weights)) == {"a", "b"}


@pytest.mark.parametrize("damage, words", [
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_bytes(p.read_bytes()[:-10]), "truncated"),
    (lambda p: p.write_bytes(p.read_bytes()[:5]), "shorter than"),
    (lambda p: p.write_bytes(p.read_bytes() + b"\0"), "extra bytes"),
    (lambda p: p.write_bytes(struct.pack("<Q", 4) + b"{{{{"), "not valid JSON"),
    (lambda p: p.write_bytes(b"\xff" * 100), "header claims"),
])
def test_a_damaged_safetensors_file_is_named_in_one_line(weights, damage, words):
    damage(weights)
    for check in (files.check_safetensors, files.load_safetensors):
        with pytest.raises(files.DamagedFileError) as e:
            check(weights)
        line = e.value.one_line()
        assert str(weights) in line and "damaged" in line and words in line
        assert "\n" not in line


def test_a_damaged_torch_file_is_named_without_unpickling_it(tmp_path):
    import torch

    p = tmp_path / "optimizer.pt"
    torch.save({"state": {0: torch.ones(1000)}}, p)
    assert files.check_torch_file(p) == p
    assert files.torch_load(p)["state"][0].sum() == 1000
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    for check in (files.check_torch_file, files.torch_load):
        with pytest.raises(files.DamagedFileError, match="optimizer.pt is damaged"):
            check(p)
    p.write_bytes(b"")
    with pytest.raises(files.DamagedFileError, match="empty"):
        files.check_torch_file(p)


def test_only_regular_files_are_opened(tmp_path):
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.txt"
    zero.symlink_to("/dev/zero")
    for path, kind in ((fifo, "named pipe"), (zero, "device"), (tmp_path, "folder")):
        for read in (files.regular_file, files.read_bytes, files.read_text):
            with pytest.raises(UserError, match=kind):
                read(path)
    with pytest.raises(UserError, match="not found"):
        files.read_text(tmp_path / "missing.yaml", "config file")
    link = tmp_path / "link.txt"
    (tmp_path / "real.txt").write_text("hello", encoding="utf-8")
    link.symlink_to(tmp_path / "real.txt")
    assert files.read_text(link) == "hello"  # links to regular files are followed


def test_reads_are_bounded(tmp_path):
    p = tmp_path / "big.txt"
    p.write_bytes(b"x" * (files.MB + 1))
    with pytest.raises(UserError, match="larger than 1 MB"):
        files.read_bytes(p, "text file", limit=files.MB)
    assert len(files.read_bytes(p, limit=2 * files.MB)) == files.MB + 1


def test_a_pipe_inside_a_model_folder_is_refused_by_name(tmp_path):
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    os.mkfifo(tmp_path / "tokenizer.json")
    with pytest.raises(UserError, match="tokenizer.json .* named pipe"):
        files.check_folder_files(tmp_path, "model folder")


def test_a_folder_below_a_file_cannot_be_written(tmp_path):
    (tmp_path / "f").write_text("x", encoding="utf-8")
    with pytest.raises(UserError, match="is a file"):
        files.check_writable(tmp_path / "f" / "out", "output_dir")
    assert files.check_writable(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
