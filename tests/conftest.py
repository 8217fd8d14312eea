"""Shared fixtures: a live gateway process on loopback and SDK clients for it."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.support.server import GatewayProcess

warnings.filterwarnings("ignore", message="The Sora API is scheduled", category=DeprecationWarning)

MODERATION_WORD = "forbidden-demo-word"

# The default data directory is the user's (~/.local/share/reelgate): nothing a test
# runs, in this process or a child, may fall back on it. Tests name their own.
_DATA_HOME = tempfile.mkdtemp(prefix="reelgate-test-xdg-")
os.environ["XDG_DATA_HOME"] = _DATA_HOME
atexit.register(shutil.rmtree, _DATA_HOME, True)


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """One `reelgate serve` (API + in-process worker) for the whole session."""
    gw = GatewayProcess(tmp_path_factory.mktemp("gateway"),
                        env={"REELGATE_MODERATION_WORDS": MODERATION_WORD,
                             "REELGATE_RENDER_CONCURRENCY": "2"})
    gw.start()
    yield gw
    gw.stop()


@pytest.fixture(scope="session")
def api_key(gateway: GatewayProcess) -> str:
    return gateway.create_key("tests", tenant="acme")


@pytest.fixture(scope="session")
def other_key(gateway: GatewayProcess) -> str:
    return gateway.create_key("intruder", tenant="other-corp")


@pytest.fixture(scope="session")
def client(gateway: GatewayProcess, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=api_key, base_url=gateway.base_url, max_retries=0)


@pytest.fixture(scope="session")
def other_client(gateway: GatewayProcess, other_key: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=other_key, base_url=gateway.base_url, max_retries=0)


@pytest.fixture()
def artifacts_dir() -> Path:
    path = Path(__file__).parent.parent / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
