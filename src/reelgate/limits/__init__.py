"""Per-key limits: request rates (creates and polls), in-flight jobs, allowed models."""

from reelgate.limits.policy import KeyPolicyHooks
from reelgate.limits.rate import (
    Decision,
    MemoryLimiter,
    RateLimiter,
    RedisLimiter,
    limiter_from_url,
)

__all__ = ["Decision", "KeyPolicyHooks", "MemoryLimiter", "RateLimiter", "RedisLimiter",
           "limiter_from_url"]
