"""Warnings and exceptions raised by sparsketch.

User errors are reported with the built-in exception types (``ValueError``, ``TypeError``,
``IndexError``, ``MemoryError``), with messages that name the offending argument. Warnings that
carry diagnostics live here.
"""

from __future__ import annotations

__all__ = ["ConvergenceWarning", "SparsketchWarning"]


class SparsketchWarning(UserWarning):
    """Base class of sparsketch's warnings."""


class ConvergenceWarning(SparsketchWarning):
    """An iterative method stopped before reaching its tolerance.

    Attributes
    ----------
    iterations : int
        Iterations performed.
    residual : float
        The stopping measure achieved.
    tol : float
        The tolerance that was asked for.
    """

    def __init__(self, message: str, *, iterations: int = 0, residual: float = float("nan"),
                 tol: float = float("nan")) -> None:
        super().__init__(message)
        self.iterations = iterations
        self.residual = residual
        self.tol = tol
