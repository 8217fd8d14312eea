"""The catalog through a live `reelgate serve`: the CLI (another process) changes it, the
official SDK sees the change within seconds; aliases, retirement, availability, the
quote route, the pair rules, import/export and the admin API's version check."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import openai
import pytest

from tests.support.server import GatewayProcess

ADMIN = "rg-admin-catalog-tests"
T = TypeVar("T")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    gw = GatewayProcess(tmp_path_factory.mktemp("catalog-e2e"),
                        env={"REELGATE_ADMIN_TOKEN": ADMIN})
    gw.start()
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def secret(served: GatewayProcess) -> str:
    return served.create_key("catalog", tenant="catalog")


@pytest.fixture(scope="module")
def sdk(served: GatewayProcess, secret: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=secret, base_url=served.base_url, max_retries=0)


def admin(gw: GatewayProcess, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{gw.root_url}/admin/api{path}", timeout=30,
                         headers={"Authorization": f"Bearer {ADMIN}"}, **kwargs)


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    """Poll until ``probe`` answers; the deadline is generous, nothing is timed."""
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got is not None:
            return got
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.1)


def done(sdk: openai.OpenAI, video_id: str) -> Any:
    return eventually(lambda: (v if (v := sdk.videos.retrieve(video_id)).status in
                               ("completed", "failed") else None), f"{video_id} finished", 120)


def refused(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(openai.APIStatusError) as caught:
        call()
    assert isinstance(caught.value.body, dict)
    return caught.value.body


def models(sdk: openai.OpenAI) -> dict[str, Any]:
    return {m.id: m.model_dump() for m in sdk.models.list()}


def test_cli_added_model_is_used_by_the_sdk_within_seconds(served: GatewayProcess,
                                                          sdk: openai.OpenAI) -> None:
    name = f"acme-{uuid.uuid4().hex[:6]}"
    served.cli("models", "add", name, "--owned-by", "acme", "--price", "1280x720=0.07",
               "--price", "1920x1080=0.11", "--seconds", "2-6", "--default-seconds", "2",
               "--rule", "1920x1080:2", "--alias", f"{name}-latest")

    def accepted() -> Any:
        try:
            return sdk.videos.create(model=f"{name}-latest", prompt="a new model",
                                     size="1280x720", seconds="3")
        except openai.BadRequestError as exc:
            assert isinstance(exc.body, dict) and exc.body["code"] == "model_not_found"
            return None

    video = eventually(accepted, "the serving process saw the new model")
    # the alias resolves to the model, and the video says what the client asked for (as
    # the Videos API does with its dated snapshots)
    assert video.model == f"{name}-latest"
    limited = served.cli("keys", "create", "--name", f"only-{name}", "--tenant", "catalog",
                         "--create-tenant",
                         "--models", f"{name}-latest").strip().splitlines()[-1]
    only = openai.OpenAI(api_key=limited, base_url=served.base_url, max_retries=0)
    allowed = only.videos.create(model=name, prompt="allowed by alias", size="1280x720",
                                 seconds="2")
    only.videos.delete(allowed.id)
    body = refused(lambda: only.videos.create(model="sora-2", prompt="not allowed"))
    assert body["code"] == "model_not_allowed"
    finished = done(sdk, video.id)
    assert finished.status == "completed", finished.error
    listed = models(sdk)[name]
    assert listed["available"] and listed["aliases"] == [f"{name}-latest"]
    assert listed["pricing"]["per_second_micros"] == {"1280x720": 70_000, "1920x1080": 110_000}
    body = refused(lambda: sdk.videos.create(model=name, prompt="p", size="1920x1080",
                                             seconds="4"))
    assert (body["param"], body["code"]) == ("size", "unsupported_combination")
    assert body["message"] == f"1920x1080 is only available at 2 seconds for {name}."


def test_retired_models_redirect_or_refuse(served: GatewayProcess, sdk: openai.OpenAI) -> None:
    served.cli("models", "retire", "seedance-1.0-pro", "--successor", "kling-v2.6",
               "--message", "Seedance 1.0 is replaced by Kling here.")
    served.cli("models", "retire", "viduq1", "--message", "Vidu Q1 is gone.")

    def redirected() -> Any:
        video = sdk.videos.create(model="seedance-1.0-pro", prompt="redirect me",
                                  size="1280x720", seconds="5")
        return video if video.model == "kling-v2.6" else None

    video = eventually(redirected, "creates for the retired model run on its successor")
    assert (video.model_extra or {})["redirected_from_model"] == "seedance-1.0-pro"
    retrieved = sdk.videos.retrieve(video.id)
    assert (retrieved.model_extra or {})["redirected_from_model"] == "seedance-1.0-pro"
    # the API may have reloaded between the two retires: wait for the second one too
    eventually(lambda: models(sdk)["viduq1"]["state"] == "retired" or None,
               "the API sees viduq1 retired")
    body = refused(lambda: sdk.videos.create(model="viduq1", prompt="p", seconds="5",
                                             size="1920x1080"))
    assert (body["param"], body["code"]) == ("model", "model_retired")
    assert body["message"] == "The model 'viduq1' has been retired. Vidu Q1 is gone."
    listed = models(sdk)
    assert listed["seedance-1.0-pro"]["state"] == "retired"
    assert listed["seedance-1.0-pro"]["successor"] == "kling-v2.6"
    assert listed["viduq1"]["available"] is False
    page = httpx.get(f"{served.root_url}/admin/jobs/{video.id}", cookies=_session(served))
    assert ("asked for seedance-1.0-pro, retired: redirected to its successor kling-v2.6"
            in page.text)
    sdk.videos.delete(video.id)


def test_veo_1080p_only_at_8_seconds(sdk: openai.OpenAI) -> None:
    video = sdk.videos.create(model="veo-3.1", prompt="1080p at 8 s", size="1920x1080",
                              seconds="8")
    assert video.status == "queued" and video.size == "1920x1080"
    sdk.videos.delete(video.id)
    body = refused(lambda: sdk.videos.create(model="veo-3.1", prompt="1080p at 4 s",
                                             size="1920x1080", seconds="4"))
    assert body["message"] == "1920x1080 is only available at 8 seconds for veo-3.1."
    assert (body["param"], body["code"], body["type"]) == \
        ("size", "unsupported_combination", "invalid_request_error")


def test_quote_route_matches_the_reservation(served: GatewayProcess, secret: str,
                                            sdk: openai.OpenAI) -> None:
    auth = {"Authorization": f"Bearer {secret}"}
    body = {"model": "sora-2-pro", "prompt": "quote", "size": "1792x1024", "seconds": "8"}
    as_json = httpx.post(f"{served.base_url}/videos/quote", json=body, headers=auth).json()
    as_form = httpx.post(f"{served.base_url}/videos/quote", headers=auth,
                         files={k: (None, v) for k, v in body.items()}).json()
    assert as_json == as_form
    assert (as_json["amount_micros"], as_json["allowed"], as_json["refusal"]) == \
        (4_000_000, True, None)
    video = sdk.videos.create(**body)  # type: ignore[arg-type]
    ledger = httpx.get(f"{served.base_url}/billing/ledger", headers=auth,
                       params={"job_id": video.id}).json()["data"]
    assert [-e["amount_micros"] for e in ledger if e["kind"] == "reserve"] == [4_000_000]
    sdk.videos.delete(video.id)
    rule = httpx.post(f"{served.base_url}/videos/quote", headers=auth,
                      json={**body, "model": "veo-3.1", "size": "1080x1920", "seconds": "4"}).json()
    assert rule["allowed"] is False and rule["refusal"]["code"] == "unsupported_combination"
    assert rule["refusal"]["rule"] == "veo-3.1.rules[0]: 1920x1080 or 1080x1920 only at 8 seconds"


def test_a_model_no_channel_serves_is_listed_unavailable_and_refused(
        served: GatewayProcess, sdk: openai.OpenAI) -> None:
    assert models(sdk)["sora-2"]["available"] is True
    served.cli("channels", "disable", "local")
    try:
        listed = eventually(lambda: m if not (m := models(sdk))["sora-2"]["available"]
                            else None, "the listing saw the channel go")
        assert "sora-2" in listed
        body = refused(lambda: sdk.videos.create(model="sora-2", prompt="nowhere to go"))
        assert (body["param"], body["code"]) == ("model", "model_unavailable")
    finally:
        served.cli("channels", "enable", "local")


def test_import_export_round_trip_through_the_cli(served: GatewayProcess,
                                                 tmp_path: Path) -> None:
    exported = served.cli("models", "export")
    assert "[models.\"veo-3.1\"]" in exported and "format = 1" in exported
    other = GatewayProcess(tmp_path / "other")
    (tmp_path / "catalog.toml").write_text(exported)
    other.data_dir.mkdir(parents=True)
    out = other.cli("models", "import", str(tmp_path / "catalog.toml"))
    assert out.startswith("Imported ")
    assert other.cli("models", "export") == exported


def test_admin_api_edit_with_a_stale_version_is_refused(served: GatewayProcess) -> None:
    seen = admin(served, "GET", "/models/kling-v3").json()
    first = admin(served, "PATCH", "/models/kling-v3",
                  json={"version": seen["version"], "set_prices": {"1280x720": "0.09"}})
    assert first.status_code == 200, first.text
    stale = admin(served, "PATCH", "/models/kling-v3",
                  json={"version": seen["version"], "description": "lost?"})
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "version_conflict"
    bad = admin(served, "PATCH", "/models/kling-v3", json={"set_prices": {"1280x720": "9.x"}})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "price"
    now = admin(served, "GET", "/models/kling-v3").json()
    assert now["version"] == seen["version"] + 1
    assert now["model"]["prices"]["1280x720"] == "0.09"
    assert now["model"]["description"] == seen["model"]["description"]


def test_admin_ui_models_page_edits_through_the_service(served: GatewayProcess) -> None:
    with httpx.Client(base_url=served.root_url, cookies=_session(served), timeout=30) as web:
        page = web.get("/admin/models")
        assert page.status_code == 200 and 'id="model-veo-3.1"' in page.text
        csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
        version = admin(served, "GET", "/models/gen4.5").json()["version"]
        stale = web.post("/admin/models/gen4.5/price", data={
            "csrf": csrf, "version": str(version + 7), "size": "1280x720", "price": "0.2"})
        assert stale.status_code == 303 and "error=" in stale.headers["location"]
        shown = web.get(stale.headers["location"])
        assert "was changed by someone else" in shown.text
        ok = web.post("/admin/models/gen4.5/price", data={
            "csrf": csrf, "version": str(version), "size": "1280x720", "price": "0.2"})
        assert ok.status_code == 303 and "done=" in ok.headers["location"]
        assert admin(served, "GET", "/models/gen4.5").json()["model"]["prices"][
            "1280x720"] == "0.20"
        forged = web.post("/admin/models/gen4.5/retire", data={"csrf": "nope"})
        assert forged.status_code in (400, 403)
        exported = web.get("/admin/models/export.toml")
        assert exported.headers["content-type"].startswith("application/toml")
        assert '"1280x720" = "0.20"' in exported.text or '1280x720 = "0.20"' in exported.text


def _session(gw: GatewayProcess) -> httpx.Cookies:
    with httpx.Client(base_url=gw.root_url) as http:
        login = http.get("/admin/login")
        csrf = login.text.split('name="csrf" value="')[1].split('"')[0]
        http.post("/admin/login", data={"token": ADMIN, "csrf": csrf})
        return http.cookies
