"""ComfyUI upstream: operator-registered workflows on self-hosted GPUs (see provider)."""

from reelgate.providers.comfyui.provider import ComfyUIProvider

__all__ = ["ComfyUIProvider"]
