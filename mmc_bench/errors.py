"""Exceptions that the runner turns into one clear sentence and a non-zero exit."""

from __future__ import annotations


class UserError(ValueError):
    """Bad input from the user: the message names the problem and the fix, and no traceback is shown (a
    ValueError, so that the Python API raises what scikit-learn users expect)."""


class TrainingDiverged(Exception):
    """Training produced a non-finite loss; the run is recorded as failed at this epoch."""

    def __init__(self, epoch: int, term: str, value: float):
        self.epoch = epoch
        self.term = term
        self.value = value
        super().__init__(f"loss term '{term}' became {value} at epoch {epoch}")
