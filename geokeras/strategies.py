"""Moved to `geokeras.training.strategies` (kept so that ``from geokeras.strategies import ...`` works)."""
from geokeras.training.strategies import STRATEGIES, distributed_fit, make_strategy, strategy_scope  # noqa: F401

__all__ = ["STRATEGIES", "make_strategy", "strategy_scope", "distributed_fit"]
