"""Metrics that judge generative models."""

from genmodels.metrics.modes import mode_coverage

__all__ = ["mode_coverage"]
