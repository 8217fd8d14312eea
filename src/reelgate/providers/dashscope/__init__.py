"""Alibaba Wan video generation on DashScope (Model Studio); see :mod:`.provider`."""

from reelgate.providers.dashscope.provider import DashScopeProvider

__all__ = ["DashScopeProvider"]
