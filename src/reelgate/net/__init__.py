"""Outbound network safety: every URL a user or an upstream chose goes through here.

``addresses`` decides which IPs are public; ``policy`` draws the line between the
operator's own hosts (trusted) and everything else (guarded); ``transport`` connects
only to checked addresses; ``client`` and ``fetch`` are what callers use; ``ssrf``
holds the early URL checks.
"""
