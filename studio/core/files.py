"""Reading the user's files: regular files only, read with a bound, damage named in one line.

Every reader of a file the user points at (dataset, config, text, corpus, model, tokenizer,
adapter, checkpoint, optimizer state) goes through `regular_file` first: a named pipe would
block the read forever, and a link to /dev/zero would fill the memory. A damaged weights file
(truncated, empty, not what its name says) is reported here and only here, as a
`DamagedFileError` naming the file and what is wrong with it.

Standard library only at import; safetensors / torch are imported by the functions that need
them.
"""

from __future__ import annotations

import json
import stat
import struct
from pathlib import Path
from typing import Any

from studio.core.errors import UserError

MB = 1 << 20
CONFIG_LIMIT = 16 * MB       # YAML / JSON configs: real ones are a few KB
TEXT_LIMIT = 64 * MB         # a text to inspect, a corpus file
# safetensors refuses headers above 100 MB itself; a real header is a few hundred KB
SAFETENSORS_HEADER_LIMIT = 100_000_000


class DamagedFileError(UserError):
    """A file that exists but cannot be what it claims to be (truncated, empty, garbled)."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def regular_file(path: str | Path, what: str = "file",
                 error: type[UserError] = UserError) -> Path:
    """`path` (links followed) when it is a regular file; else `error` saying what it is."""
    p = Path(path).expanduser()
    try:
        mode = p.stat().st_mode
    except FileNotFoundError:
        raise error(f"{what} not found: {p}") from None
    except OSError as e:  # permission on a parent, a loop of links, a name too long
        raise error(f"cannot read {what} {p}: {e.strerror or e}") from None
    if not stat.S_ISREG(mode):
        raise error(f"{what} {p} is {_kind(mode)}, not a regular file")
    return p


def read_bytes(path: str | Path, what: str = "file", limit: int | None = None,
               error: type[UserError] = UserError) -> bytes:
    """The bytes of a regular file; more than `limit` bytes is refused without reading them."""
    p = regular_file(path, what, error)
    try:
        with open(p, "rb") as f:
            data = f.read() if limit is None else f.read(limit + 1)
    except OSError as e:
        raise error(f"cannot read {what} {p}: {e.strerror or e}") from None
    if limit is not None and len(data) > limit:
        raise error(f"{what} {p} is larger than {limit // MB} MB; is it the right file?")
    return data


def read_text(path: str | Path, what: str = "file", limit: int | None = CONFIG_LIMIT,
              error: type[UserError] = UserError) -> str:
    """UTF-8 text (a BOM is fine) of a regular file of at most `limit` bytes."""
    data = read_bytes(path, what, limit, error)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise error(f"{what} {Path(path)} is not UTF-8 text (byte offset {e.start})") from None


def read_json(path: str | Path, what: str = "file", limit: int = CONFIG_LIMIT,
              error: type[UserError] = UserError) -> Any:
    text = read_text(path, what, limit, error)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:
        raise error(f"{what} {Path(path)} is not valid JSON: {_first_line(e)}") from None


def check_folder_files(folder: str | Path, what: str = "folder",
                       error: type[UserError] = UserError) -> Path:
    """Every entry directly in `folder` that is not a sub-folder must be a regular file (links
    followed): a library loading the folder opens its files by name, and a pipe among them
    would block it forever."""
    p = Path(folder).expanduser()
    try:
        entries = list(p.iterdir())
    except OSError as e:
        raise error(f"cannot read {what} {p}: {e.strerror or e}") from None
    for entry in sorted(entries):
        try:
            mode = entry.stat().st_mode
        except OSError:  # a dangling link: whoever needs that name says it is missing
            continue
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise error(f"{entry} in {what} {p} is {_kind(mode)}, not a regular file")
    return p


def check_writable(folder: str | Path, what: str = "folder",
                   error: type[UserError] = UserError) -> Path:
    """Refuse, before any heavy work, a folder that cannot be written: the folder itself when it
    exists, else the nearest existing folder above it (where it would be created)."""
    import errno
    import os

    p = Path(folder).expanduser()
    target = p
    while not target.exists():
        if target.parent == target:
            break
        target = target.parent
    if target.exists() and not target.is_dir():
        raise error(f"{what} {p}: {target} is a file, not a folder")
    if not os.access(target, os.W_OK | os.X_OK):
        why = errno.EROFS if _read_only_fs(target) else errno.EACCES
        raise error(f"{what} {p} cannot be written: {target}: {os.strerror(why)}")
    return p


def _read_only_fs(path: Path) -> bool:
    import os

    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


# --- weights ------------------------------------------------------------------------------------

def damaged(path: str | Path, why: str) -> DamagedFileError:
    """The one wording of a damaged file: `<path> is damaged: <why>`."""
    return DamagedFileError(f"{path} is damaged: {why}",
                            hint="restore it, or use another checkpoint / model")


def check_safetensors(path: str | Path) -> Path:
    """Check a .safetensors file's structure from its header, without reading the tensors:
    an 8-byte little-endian header length, a JSON header, and tensor data that ends exactly at
    the end of the file (what safetensors itself requires). A truncated or empty file fails."""
    p = regular_file(path, "weights file")
    size = p.stat().st_size
    if size == 0:
        raise damaged(p, "the file is empty (0 bytes)")
    with open(p, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise damaged(p, f"only {size} bytes, shorter than a safetensors header")
        (n,) = struct.unpack("<Q", head)
        if n > SAFETENSORS_HEADER_LIMIT or 8 + n > size:
            raise damaged(p, f"its header claims {n} bytes but the file has {size}: "
                             "truncated, or not a safetensors file")
        raw = f.read(n)
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError):
        raise damaged(p, "its header is not valid JSON") from None
    if not isinstance(header, dict):
        raise damaged(p, "its header is not a table of tensors")
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(isinstance(o, int) for o in offsets)):
            raise damaged(p, f"tensor {name!r} has no valid data offsets")
        end = max(end, offsets[1])
    if 8 + n + end != size:
        raise damaged(p, f"{size:,} bytes, but its header says {8 + n + end:,}: "
                         + ("truncated" if 8 + n + end > size else "extra bytes at the end"))
    return p


def check_weights_folder(folder: str | Path) -> None:
    """Every .safetensors file of a model or adapter folder, by its header (see above)."""
    for f in sorted(Path(folder).glob("*.safetensors")):
        check_safetensors(f)


def load_safetensors(path: str | Path, device: str = "cpu") -> dict:
    """All tensors of a .safetensors file; a damaged file is a DamagedFileError."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    p = check_safetensors(path)
    try:
        return load_file(str(p), device=device)
    except (SafetensorError, OSError, RuntimeError, ValueError) as e:
        raise damaged(p, _first_line(e)) from None


def check_torch_file(path: str | Path) -> Path:
    """Check a torch.save file (a zip archive) without unpickling or reading it: its central
    directory (at the very end, so a truncated file has none) and every member lying inside
    the file. Milliseconds for any size; a bit flip inside is found by `torch_load`."""
    import zipfile

    p = regular_file(path, "state file")
    size = p.stat().st_size
    if size == 0:
        raise damaged(p, "the file is empty (0 bytes)")
    try:
        with zipfile.ZipFile(p) as z:
            members = z.infolist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise damaged(p, f"not a complete torch file ({_first_line(e)})") from None
    for m in members:
        if m.header_offset + m.compress_size > size:
            raise damaged(p, f"its part {m.filename} runs past the end of the file")
    return p


def torch_load(path: str | Path, map_location: Any = None) -> Any:
    """A torch.save file (optimizer state, RNG state) read with weights_only=True; a damaged
    or truncated file is a DamagedFileError (torch says "unpickling" or "PytorchStreamReader")."""
    import pickle

    import torch

    p = regular_file(path, "state file")
    if p.stat().st_size == 0:
        raise damaged(p, "the file is empty (0 bytes)")
    try:
        return torch.load(p, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError,
            KeyError, AttributeError) as e:
        raise damaged(p, _first_line(e)) from None


def load_error(path: str | Path, e: BaseException) -> UserError | None:
    """A library's error while loading a model / adapter folder, as a DamagedFileError naming
    the damaged weights file when that is what went wrong; None when it was something else."""
    from safetensors import SafetensorError

    folder = Path(path)
    try:
        check_weights_folder(folder)
    except DamagedFileError as found:
        return found
    except UserError as found:  # a weights file that is not a regular file
        return found
    if isinstance(e, SafetensorError):
        return damaged(folder, _first_line(e))
    return None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:300] if text else type(e).__name__
