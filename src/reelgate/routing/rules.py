"""The rules a channel must follow, checked before anything is written.

Provider, base URL, options (each provider's own, with their types), the model map
against the catalog, priority, weight, the concurrency cap, and key secrets. Every
refusal is a 400 naming the field, so the CLI and the admin API report it alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from reelgate.catalog import Catalog
from reelgate.errors import InvalidRequest
from reelgate.net.policy import ALLOW_PRIVATE_OPTION
from reelgate.providers.kling import KLING_MODELS
from reelgate.providers.openai import MODES
from reelgate.providers.registry import provider_names
from reelgate.routing.channels import WILDCARD
from reelgate.routing.local_channel import KEEP

__all__ = [
    "DEFAULT_MODELS",
    "check_base_url",
    "check_models",
    "check_name",
    "check_numbers",
    "check_options",
    "check_provider",
    "check_secret",
    "invalid",
]

#: public model -> upstream model, when ``channels add`` is given no ``--model``
DEFAULT_MODELS: Mapping[str, Mapping[str, str]] = {
    "openai": {"sora-2": "sora-2", "sora-2-pro": "sora-2-pro"},
    "veo": {"veo-3.1": "veo-3.1-generate-preview"},
    "seedance": {"seedance-1.0-pro": "seedance-1-0-pro-250528"},
    "kling": KLING_MODELS,
    "vidu": {m: m for m in ("viduq3-pro", "viduq3-turbo", "viduq2", "viduq1")},
    "runway": {"gen4.5": "gen4.5", "gen4_turbo": "gen4_turbo"},
    "luma": {"ray-2": "ray-2", "ray-flash-2": "ray-flash-2"},
    "minimax": {"minimax-hailuo-02": "MiniMax-Hailuo-02",
                "minimax-hailuo-2.3": "MiniMax-Hailuo-2.3", "minimax-h3": "MiniMax-H3"},
    "dashscope": {"wan-2.7": "wan2.7-t2v", "wan-2.6": "wan2.6-t2v",
                  "wan-2.5": "wan2.5-t2v-preview",
                  "wan-2.2-plus": "wan2.2-t2v-plus", "wan-2.2-flash": "wan2.2-i2v-flash"},
    "local": {WILDCARD: WILDCARD},
    "comfyui": {"wan-2.2-local": "wan-2.2-local"},
}

#: options each provider understands, with the type each must have
_OPTIONS: Mapping[str, Mapping[str, tuple[type, ...]]] = {
    "openai": {"mode": (str,), "api_version": (str,), "read_timeout": (int, float),
               "fps": (int,), "num_inference_steps": (int,)},  # fps, steps: mode omni
    "veo": {"read_timeout": (int, float)},
    "seedance": {"read_timeout": (int, float)},
    "kling": {"read_timeout": (int, float)},
    "vidu": {"read_timeout": (int, float)},
    "runway": {"api_version": (str,), "read_timeout": (int, float)},
    "luma": {"read_timeout": (int, float)},
    "minimax": {"read_timeout": (int, float)},
    "dashscope": {"read_timeout": (int, float)},
    "local": {KEEP: (bool,), "preset": (str,), "concurrency": (int,)},
    "comfyui": {"workflows": (dict,), "queue_limit": (int,), "websocket": (bool,),
                "read_timeout": (int, float)},
}


def invalid(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, code="invalid_value")


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100 or not all(c.isalnum() or c in "-_." for c in name):
        raise invalid("A channel name is 1-100 letters, digits, '-', '_' or '.'.", "name")
    return name


def check_provider(provider: str) -> str:
    if provider not in provider_names():
        raise invalid(f"Unknown provider {provider!r}; known: {', '.join(provider_names())}.",
                      "provider")
    return provider


def check_base_url(provider: str, url: str) -> str:
    url = url.strip().rstrip("/")
    if provider == "local":
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid(f"base_url must be an http(s) URL, got {url!r}.", "base_url")
    if parts.query or parts.fragment:
        raise invalid("base_url must not carry a query or fragment.", "base_url")
    return url


def check_options(provider: str, options: Mapping[str, Any]) -> dict[str, Any]:
    allowed = {**_OPTIONS.get(provider, {}), ALLOW_PRIVATE_OPTION: (bool,)}
    out: dict[str, Any] = {}
    for key, value in options.items():
        types = allowed.get(key)
        if types is None:
            known = ", ".join(sorted(allowed)) or "none"
            raise invalid(f"Unknown option {key!r} for provider {provider} (known: {known}).",
                          f"options.{key}")
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            raise invalid(f"Option {key!r} must be a {types[0].__name__}.", f"options.{key}")
        out[key] = value
    if provider == "openai" and out.get("mode", "openai") not in MODES:
        raise invalid(f"Option 'mode' must be one of {', '.join(sorted(MODES))}.", "options.mode")
    timeout = out.get("read_timeout")
    if timeout is not None and not 0 < float(timeout) <= 3600:
        raise invalid("Option 'read_timeout' must be between 0 and 3600 seconds.",
                      "options.read_timeout")
    return out


def check_models(catalog: Catalog, models: Mapping[str, str]) -> dict[str, str]:
    if not models:
        raise invalid("A channel must serve at least one model.", "models")
    out: dict[str, str] = {}
    for public, upstream in models.items():
        if public != WILDCARD and catalog.get(public) is None:
            raise invalid(f"Unknown model {public!r}; the catalog has {', '.join(catalog.ids())}.",
                          "models")
        if not isinstance(upstream, str) or not upstream.strip():
            raise invalid(f"The upstream name for {public!r} must be a non-empty string.",
                          "models")
        out[public] = upstream.strip()
    return out


def check_numbers(priority: int | None, weight: int | None, max_concurrent: int | None) -> None:
    if priority is not None and not -1000 <= priority <= 1000:
        raise invalid("priority must be between -1000 and 1000.", "priority")
    if weight is not None and not 1 <= weight <= 1000:
        raise invalid("weight must be between 1 and 1000.", "weight")
    if max_concurrent is not None and not 0 <= max_concurrent <= 100_000:
        raise invalid("max_concurrent must be between 0 (no cap) and 100000.", "max_concurrent")


def check_secret(secret: str) -> str:
    secret = secret.strip()
    if not secret or len(secret) > 4096 or any(c.isspace() for c in secret):
        raise invalid("A key must be non-empty, without spaces or newlines.", "key")
    return secret
