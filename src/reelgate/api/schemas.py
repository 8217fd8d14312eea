"""The shapes of the public API's bodies, for the OpenAPI document only.

Handlers render plain dicts (``api/render.py``, ``api/models.py``, ...); these models
say what those dicts hold, so the document can be checked against real answers
(``tests/integration/test_fuzz.py`` validates every response against them).
Request bodies that handlers read by hand (creates, remixes) are described here too.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Balance", "Character", "CharacterForm", "CreateVideoForm", "CreateVideoJSON", "EditVideoForm",
    "EditVideoJSON", "ErrorBody", "ExtendVideoForm", "ExtendVideoJSON", "Health", "LedgerEntry",
    "LedgerList", "Model", "ModelList", "ObjectList", "QuoteObject", "Readiness", "RemixVideo",
    "SomeObject", "Video", "VideoDeleted", "VideoList",
]

Status = Literal["queued", "in_progress", "completed", "failed"]


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorBody(BaseModel):
    """OpenAI's error envelope: every 4xx and 5xx."""

    error: ErrorDetail


class VideoError(BaseModel):
    code: str
    message: str


class Video(BaseModel):
    id: str
    object: Literal["video"]
    model: str
    status: Status
    progress: int = Field(ge=0, le=100)
    created_at: int
    completed_at: int | None
    expires_at: int | None
    size: str
    seconds: str
    quality: str | None
    prompt: str
    remixed_from_video_id: str | None
    error: VideoError | None
    redirected_from_model: str | None = None


class VideoList(BaseModel):
    object: Literal["list"]
    data: list[Video]
    first_id: str | None
    last_id: str | None
    has_more: bool


class VideoDeleted(BaseModel):
    id: str
    object: Literal["video.deleted"]
    deleted: bool


class ReferenceURL(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image_url: str = Field(description="A data: URL (base64) or a public http(s) URL of "
                                       "a JPEG, PNG or WEBP image.")


class CharacterRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="A character of POST /v1/videos/characters.")


class VideoRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="A completed video of yours.")


class CreateVideoJSON(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(description="What to render; at most 32000 characters.")
    model: str | None = Field(None, description="A model of GET /v1/models; default sora-2.")
    seconds: str | None = Field(None, description="Length as a string, e.g. \"4\".")
    size: str | None = Field(None, description="WIDTHxHEIGHT, e.g. \"1280x720\".")
    input_reference: ReferenceURL | None = Field(
        None, description="A first frame; its size must equal the video's.")
    characters: list[CharacterRef] | None = Field(
        None, max_length=2, description="At most two characters the video shows; the job "
                                        "runs on the channel that knows them.")


_FILE: dict[str, Any] = {"format": "binary", "type": "string"}


class CreateVideoForm(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    prompt: str
    model: str | None = None
    seconds: str | None = None
    size: str | None = None
    input_reference: bytes | None = Field(
        None, description="A JPEG, PNG or WEBP file the size of the video.",
        json_schema_extra=_FILE)
    input_reference_url: str | None = Field(
        None, alias="input_reference[image_url]",
        description="Instead of the file: a data: or http(s) URL of the image.")
    characters: list[str] | None = Field(
        None, alias="characters[][id]", description="One field per character (at most 2).")


class EditVideoJSON(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(description="How to change the video.")
    video: VideoRef
    model: str | None = Field(None, description="Must be the source's model if given.")


class EditVideoForm(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    prompt: str
    video: bytes | None = Field(None, description="An MP4 clip to edit (or video[id]).",
                                json_schema_extra=_FILE)
    video_id: str | None = Field(None, alias="video[id]",
                                 description="A completed video of yours, instead of a file.")
    model: str | None = Field(None, description="The model an uploaded clip is edited with "
                                                "(default sora-2).")


_SEGMENT = Field(description="The new segment: \"4\", \"8\", \"12\", \"16\" or \"20\" "
                             "seconds.")


class ExtendVideoJSON(EditVideoJSON):
    seconds: str = _SEGMENT


class ExtendVideoForm(EditVideoForm):
    seconds: str = _SEGMENT


class CharacterForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    video: bytes = Field(description="An MP4 clip showing the character (2 to 4 s is best).",
                         json_schema_extra=_FILE)


class Character(BaseModel):
    id: str | None
    name: str | None
    created_at: int


class RemixVideo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(description="What to change.")


class Pricing(BaseModel):
    unit: Literal["second", "render_second"]
    currency: Literal["USD"]
    per_second: dict[str, float]
    per_second_micros: dict[str, int]
    max_render_seconds: int | None = None


class Model(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    description: str | None
    quality: str | None
    state: str
    available: bool
    successor: str | None
    message: str | None
    aliases: list[str]
    operations: list[str]
    #: the operations an enabled channel serving the model can do (null: not computed)
    available_operations: list[str] | None = None
    extension_seconds: list[str] = []
    max_extensions: int = 0
    max_total_seconds: int | None = None
    sizes: list[str]
    seconds: list[str]
    rules: list[dict[str, list[str]]]
    default_size: str
    default_seconds: str
    pricing: Pricing


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[Model]


class KeyUsage(BaseModel):
    id: str
    name: str
    spent_micros: int
    spend_cap_micros: int | None
    models: list[str] | None
    max_in_flight: int | None
    creates_per_minute: int | None
    polls_per_minute: int | None


class Balance(BaseModel):
    id: str
    object: Literal["billing.balance"]
    name: str
    mode: str
    balance_micros: int
    balance_usd: str
    price_multiplier: str
    price_multiplier_ppm: int
    key: KeyUsage


class LedgerEntry(BaseModel):
    id: str
    object: Literal["billing.ledger_entry"]
    tenant_id: str
    kind: str
    amount_micros: int
    amount_usd: str
    job_id: str | None
    key_id: str | None
    entry_key: str | None
    note: str | None
    created_at: int


class LedgerList(BaseModel):
    object: Literal["list"]
    data: list[LedgerEntry]
    first_id: str | None
    last_id: str | None
    has_more: bool


class Refusal(BaseModel):
    status: int
    type: str
    code: str | None
    param: str | None
    message: str
    rule: Any = None


class QuoteObject(BaseModel):
    """What a create would reserve; only ``object``, ``allowed`` and ``refusal`` when the
    create would be refused before any price applies."""

    object: Literal["video.quote"]
    allowed: bool
    refusal: Refusal | None
    model: str | None = None
    requested_model: str | None = None
    size: str | None = None
    seconds: str | None = None
    currency: str | None = None
    amount_micros: int | None = None
    amount: str | None = None
    per_second_micros: int | None = None
    price_source: str | None = None
    multiplier_ppm: int | None = None
    billing: Literal["video_seconds", "render_seconds"] | None = None
    reserved_seconds: int | None = None
    balance: dict[str, Any] | None = None
    key: dict[str, Any] | None = None
    notice: str | None = None


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str]


class SomeObject(BaseModel):
    """An operator object (admin API): its kind in ``object``, its fields beside it."""

    model_config = ConfigDict(extra="allow")

    object: str


class ObjectList(BaseModel):
    model_config = ConfigDict(extra="allow")

    object: Literal["list"]
    data: list[dict[str, Any]]
