"""Widgets (PySide6 + pyqtgraph). Talk to services; read core's plain data types."""
