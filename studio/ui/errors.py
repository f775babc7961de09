"""Errors shown in the window: the reason in plain words, the details one click away.

The box is window-modal but opened with open(), not exec(): the event loop (and the live
plots) keep running behind it, and tests never block on it.
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QMessageBox, QWidget

from studio.services.workers import describe_error


def show_error(parent: Optional[QWidget], reason: str, details: str = "",
               title: str = "") -> QMessageBox:
    box = QMessageBox(parent)
    box.setObjectName("error_box")
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title or QCoreApplication.translate("Errors", "Studio: something went "
                                                           "wrong"))
    box.setText(reason)
    if details:
        box.setInformativeText(QCoreApplication.translate(
            "Errors", "Technical details are under “Show Details…”."))
        box.setDetailedText(details)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.open()
    return box


def show_exception(parent: Optional[QWidget], exc: BaseException) -> QMessageBox:
    """A UserError shows its one-line reason; anything else its type, message and traceback."""
    return show_error(parent, *describe_error(exc))
