"""One model as data: what it renders, which (size, seconds) pairs, what it costs, its state.

A :class:`ModelSpec` is immutable and already validated (see :mod:`.document`); the
checks here answer one request at a time and return a :class:`Refusal` (data, not an
exception) naming the rule that failed and what is allowed, so a create turns it into
OpenAI's error envelope and a quote reports it as is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from reelgate.errors import InvalidRequest

__all__ = [
    "EXTENSION_SECONDS",
    "MAX_EXTENSIONS",
    "MAX_TOTAL_SECONDS",
    "Billing",
    "ModelSpec",
    "ModelState",
    "Operation",
    "PairRule",
    "Refusal",
    "RefusedByCatalog",
    "usd",
    "usd_text",
]

_AMOUNT = re.compile(r"^(\d{1,12})(?:\.(\d{1,6}))?$")


def usd(dollars: str) -> int:
    """Micro-USD from a plain decimal string (``"0.10"`` → 100000), so no float touches money.

    Anything else (a sign, an exponent, a seventh decimal, a number instead of a string)
    raises ValueError rather than being rounded into a different price.
    """
    if not isinstance(dollars, str):
        raise ValueError(f"a price must be a decimal string such as \"0.10\", got {dollars!r}")
    m = _AMOUNT.fullmatch(dollars)
    if m is None:
        raise ValueError(f"not a USD amount with at most 6 decimals: {dollars!r}")
    return int(m.group(1)) * 1_000_000 + int(((m.group(2) or "") + "000000")[:6])


def usd_text(micros: int) -> str:
    """The exact decimal string :func:`usd` reads back: 100000 → ``"0.10"``."""
    whole, frac = divmod(micros, 1_000_000)
    return f"{whole}.{f'{frac:06d}'.rstrip('0').ljust(2, '0')}"


class ModelState(StrEnum):
    #: listed and usable
    ACTIVE = "active"
    #: usable by name, not listed in ``GET /v1/models``
    HIDDEN = "hidden"
    #: refused, or redirected to ``successor`` when one is set
    RETIRED = "retired"


#: an extension's new segment, in seconds, as the Videos API allows it
EXTENSION_SECONDS = ("4", "8", "12", "16", "20")
#: extensions in one chain (a video extended, its extension extended, ...)
MAX_EXTENSIONS = 6
#: the longest stitched video an extension may make
MAX_TOTAL_SECONDS = 120


class Billing(StrEnum):
    """What a model's per-second price is per."""

    #: seconds of video delivered (the hosted APIs' way)
    VIDEO_SECONDS = "video_seconds"
    #: seconds of GPU time the render took, by the upstream's own clock (self-hosted:
    #: what a job really costs); reserved at ``max_render_seconds``, the most billed
    RENDER_SECONDS = "render_seconds"


class Operation(StrEnum):
    CREATE = "create"
    IMAGE_REFERENCE = "image_reference"
    REMIX = "remix"
    EDIT = "edit"
    EXTEND = "extend"
    CHARACTERS = "characters"


@dataclass(frozen=True)
class Refusal:
    """Why a request cannot be rendered: the ``param`` to blame, a machine ``code``, a
    sentence naming what is allowed, and the ``rule`` that decided (for quotes and logs)."""

    param: str
    code: str
    message: str
    rule: str

    def error(self) -> RefusedByCatalog:
        return RefusedByCatalog(self.message, param=self.param, code=self.code, rule=self.rule)


class RefusedByCatalog(InvalidRequest):
    """A create the catalog refuses (400), carrying the rule that decided."""

    def __init__(self, message: str, *, param: str | None, code: str, rule: str) -> None:
        super().__init__(message, param=param, code=code)
        self.rule = rule


@dataclass(frozen=True)
class PairRule:
    """A restriction on (size, seconds) pairs, in one of two directions:

    * ``when_sizes`` + ``seconds``: those sizes render only at those durations
      ("1920x1080 is only available at 8 seconds");
    * ``when_seconds`` + ``sizes``: those durations render only at those sizes.
    """

    when_sizes: tuple[str, ...] = ()
    seconds: tuple[str, ...] = ()
    when_seconds: tuple[str, ...] = ()
    sizes: tuple[str, ...] = ()

    def allows(self, size: str, seconds: str) -> bool:
        if self.when_sizes and size in self.when_sizes:
            return seconds in self.seconds
        if self.when_seconds and seconds in self.when_seconds:
            return size in self.sizes
        return True

    def describe(self) -> str:
        if self.when_sizes:
            return (f"{_join(self.when_sizes)} only at {_join(self.seconds)} seconds")
        return f"{_join(self.when_seconds)} seconds only at {_join(self.sizes)}"


def _join(items: tuple[str, ...]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} or {items[-1]}"


@dataclass(frozen=True)
class ModelSpec:
    id: str
    owned_by: str
    quality: str
    #: size -> list price in micro-USD per rendered second; the keys are the sizes
    prices: Mapping[str, int]
    #: durations as the API spells them ("4", "8"), in order
    seconds: tuple[str, ...]
    default_size: str
    default_seconds: str
    operations: frozenset[Operation] = frozenset({Operation.CREATE, Operation.IMAGE_REFERENCE})
    description: str = ""
    aliases: tuple[str, ...] = ()
    rules: tuple[PairRule, ...] = ()
    #: provider -> the upstream's name for this model: the model map a new channel of
    #: that provider gets when the operator gives none
    upstream: Mapping[str, str] = field(default_factory=dict)
    state: ModelState = ModelState.ACTIVE
    #: shown to clients of a retired model
    message: str = ""
    #: creates for a retired model are redirected here (None: refused)
    successor: str | None = None
    #: sizes rendered only from an input image; all of them: an image-to-video-only model
    image_only_sizes: tuple[str, ...] = ()
    billing: Billing = Billing.VIDEO_SECONDS
    #: render billing: the GPU seconds a create reserves, and the most a job is charged
    max_render_seconds: int | None = None

    @property
    def render_cap(self) -> int | None:
        """The GPU seconds a job of this model reserves; None: billed by video seconds."""
        return self.max_render_seconds if self.billing is Billing.RENDER_SECONDS else None

    def reserved_seconds(self, seconds: int) -> int:
        """The seconds a create's reservation pays for: the clip's, or the render cap."""
        return self.render_cap or seconds

    @property
    def sizes(self) -> tuple[str, ...]:
        return tuple(self.prices)

    @property
    def supports_reference(self) -> bool:
        return Operation.IMAGE_REFERENCE in self.operations

    @property
    def requires_reference(self) -> bool:
        """Image-to-video only: no size renders without ``input_reference``."""
        return bool(self.prices) and set(self.image_only_sizes) >= set(self.prices)

    @property
    def supports_remix(self) -> bool:
        return Operation.REMIX in self.operations

    def supports(self, operation: Operation) -> bool:
        return operation in self.operations

    def allows(self, size: str, seconds: str) -> bool:
        return (size in self.prices and seconds in self.seconds
                and all(rule.allows(size, seconds) for rule in self.rules))

    def renderable(self) -> list[tuple[str, str]]:
        """Every (size, seconds) pair a request may ask for."""
        return [(size, sec) for size in self.sizes for sec in self.seconds
                if self.allows(size, sec)]

    def refusal(self, size: str, seconds: str) -> Refusal | None:
        """None if ``size`` at ``seconds`` renders, else which rule says no."""
        if seconds not in self.seconds:
            return Refusal("seconds", "invalid_value",
                           f"Invalid value for 'seconds': {seconds!r}. {self.id} supports "
                           f"{', '.join(repr(s) for s in self.seconds)} (strings).",
                           f"{self.id}.seconds")
        if size not in self.prices:
            return Refusal("size", "invalid_value",
                           f"Invalid value for 'size': {size!r}. {self.id} supports "
                           f"{', '.join(self.sizes)}.", f"{self.id}.sizes")
        for index, rule in enumerate(self.rules):
            if rule.allows(size, seconds):
                continue
            where = f"{self.id}.rules[{index}]: {rule.describe()}"
            if rule.when_sizes:
                return Refusal("size", "unsupported_combination",
                               f"{size} is only available at {_join(rule.seconds)} seconds "
                               f"for {self.id}.", where)
            return Refusal("seconds", "unsupported_combination",
                           f"{seconds} seconds is only available at {_join(rule.sizes)} "
                           f"for {self.id}.", where)
        return None

    def reference_refusal(self, size: str) -> Refusal | None:
        """None if ``size`` renders from text alone, else why an image is needed."""
        if size not in self.image_only_sizes:
            return None
        where = f"{self.id}.image_only_sizes"
        if self.requires_reference:
            return Refusal("input_reference", "missing_required_parameter",
                           f"{self.id} is an image-to-video model: 'input_reference' is "
                           "required.", where)
        text = tuple(s for s in self.sizes if s not in self.image_only_sizes)
        return Refusal("input_reference", "missing_required_parameter",
                       f"{self.id} renders {size} only from an image: send "
                       f"'input_reference', or use {_join(text)} for text-to-video.", where)

    def operation_refusal(self, operation: Operation, param: str) -> Refusal | None:
        if operation in self.operations:
            return None
        what = {Operation.IMAGE_REFERENCE: "'input_reference'"}.get(operation, operation.value)
        return Refusal(param, "unsupported_operation", f"{self.id} does not support {what}.",
                       f"{self.id}.operations")
