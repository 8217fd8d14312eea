"""MiniMax Hailuo video generation (V1 and V2 APIs); see :mod:`.provider`."""

from reelgate.providers.minimax.provider import MiniMaxProvider

__all__ = ["MiniMaxProvider"]
