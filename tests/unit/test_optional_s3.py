"""The S3 backend is the optional ``s3`` extra (``pip install 'reelgate[s3]'``): what a
runtime-only install runs to start and answer /healthz never imports its libraries, and
an ``s3:`` storage URL without them is refused with the command that installs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reelgate.media import factory
from reelgate.media.local import LocalStorage

S3_LIBRARIES = ("aioboto3", "aiobotocore", "boto3", "botocore")

_PROBE = """
import sys
import reelgate.api.app, reelgate.bootstrap, reelgate.cli
from reelgate.media.factory import storage_from_url
storage_from_url(sys.argv[1])
print("before:", ",".join(m for m in {libs!r} if m in sys.modules))
storage_from_url("s3://bucket")
print("after:", ",".join(m for m in {libs!r} if m in sys.modules))
"""


def test_start_up_imports_none_of_the_s3_libraries(tmp_path: Path) -> None:
    probe = _PROBE.format(libs=S3_LIBRARIES)
    out = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "media")],
                         capture_output=True, text=True, check=True, timeout=300).stdout
    before, after = out.splitlines()
    assert before == "before: "
    assert after.startswith("after: aioboto3")  # the probe sees them once they are used


def test_an_s3_url_without_the_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delitem(sys.modules, "reelgate.media.s3", raising=False)
    monkeypatch.setitem(sys.modules, "aioboto3", None)  # import aioboto3 now fails
    with pytest.raises(ValueError, match=r"pip install 'reelgate\[s3\]'.*aioboto3"):
        factory.storage_from_url("s3://bucket/prefix?region=eu-west-1")
    assert isinstance(factory.storage_from_url(str(tmp_path)), LocalStorage)
