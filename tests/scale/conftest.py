"""Fixtures for the scale-out tests: a fake OpenAI-shaped upstream on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes import FakeServer, OpenAIFake
from tests.scale.support import UPSTREAM_KEY


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[OpenAIFake, str]]:
    """(fake, channel base URL); jobs complete 1 s after submission."""
    fake = OpenAIFake("openai", keys={UPSTREAM_KEY}, complete_after=1.0)
    with FakeServer(fake) as server:
        yield fake, fake.base_url(server.url)
