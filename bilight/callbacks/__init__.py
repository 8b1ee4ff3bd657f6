"""Lightning callbacks: run summaries and export (diagnostics join here)."""

from bilight.callbacks.summary import ExportHF, FitSummary

__all__ = ["ExportHF", "FitSummary"]
