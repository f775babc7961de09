"""Stage grpo: the question asked before a user's reward file runs (it is Python code), like the
Model page's question about a model's own code."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QMessageBox, QWidget


def trust_reward_file(parent: QWidget, cfg: Any, draft: Any) -> Optional[Any]:
    """The config to start with, or None when the user did not allow the file. Asks naming the
    file and its sha256; allowed, the hash goes into the config (grpo_reward_file_sha256) and
    the draft, so the same file runs without asking again and a changed one asks anew."""
    if not (cfg.is_grpo and cfg.grpo_reward_file):
        return cfg
    from studio.core.train.grpo.rewards import file_sha256  # standard library only

    path = Path(cfg.grpo_reward_file).expanduser()
    try:
        digest = file_sha256(path)  # a small file: hashing it is well under a frame
    except OSError:
        return cfg  # the run's own check says what is wrong with the path
    if cfg.grpo_reward_file_sha256.strip().lower() == digest:
        return cfg
    box = QMessageBox(QMessageBox.Icon.Warning,
                      QCoreApplication.translate("RewardTrust",
                                                 "This reward file runs Python code"),
                      QCoreApplication.translate(
                          "RewardTrust", "{path}\nsha256 {digest}\n\nThe run will call its "
                          "reward functions. Allow it only if you have read it or trust its "
                          "author.").format(path=path, digest=digest), parent=parent)
    allow = box.addButton(QCoreApplication.translate("RewardTrust", "Allow this file"),
                          QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QCoreApplication.translate("RewardTrust", "Don't allow"),
                  QMessageBox.ButtonRole.RejectRole)
    box.exec()
    if box.clickedButton() is not allow:
        return None
    draft.update(grpo_reward_file_sha256=digest)
    return cfg.replace(grpo_reward_file_sha256=digest)
