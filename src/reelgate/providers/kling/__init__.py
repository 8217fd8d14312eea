"""Kling (Kuaishou): JWT or API-key auth, text/image-to-video tasks. See ``provider``."""

from reelgate.providers.kling.provider import KlingProvider

__all__ = ["KLING_MODELS", "KlingProvider"]

#: catalog model -> Kling ``model_name``, for a channel added without ``--model``
KLING_MODELS = {
    "kling-v2.5-turbo": "kling-v2-5-turbo",
    "kling-v2.6": "kling-v2-6",
    "kling-v3": "kling-v3",
}
