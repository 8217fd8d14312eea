"""What the console's forms share: strict decoding, the CSRF check, and a refusal shown
next to the form that caused it.

Every state-changing form posts its session's CSRF token; :func:`read_fields` refuses
the request before anything is read into a service when it does not match. A service
that refuses a change raises the same :class:`~reelgate.errors.APIError` the CLI prints,
and the page is rendered again with that message inside the form, the values typed
kept (secrets excepted), and the error's own status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData
from starlette.requests import Request

from reelgate.api.admin_ui.session import Session, check_csrf, require_session
from reelgate.api.decode import read_form
from reelgate.billing.money import parse_usd
from reelgate.errors import APIError, InvalidRequest

__all__ = ["NO_REFUSAL", "Fields", "Refusal", "done", "read_fields"]

#: fields never typed back into a form after a refusal
_SECRET_FIELDS = frozenset({"csrf", "key", "keys", "secret"})


@dataclass(frozen=True)
class Refusal:
    """A service's refusal of one form (``form`` names it), with what was typed."""

    form: str = ""
    message: str = ""
    values: Mapping[str, str] = field(default_factory=dict)
    checked: frozenset[str] = frozenset()
    #: every value of fields sent more than once (a multiple select)
    lists: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def value(self, form: str, name: str, default: object = "") -> str:
        if form == self.form:
            return self.values.get(name, "")
        return "" if default is None else str(default)

    def is_checked(self, form: str, name: str, default: bool = False) -> bool:
        return name in self.checked if form == self.form else default

    def picked(self, form: str, name: str) -> tuple[str, ...]:
        return self.lists.get(name, ()) if form == self.form else ()


NO_REFUSAL = Refusal()


class Fields:
    """A strictly decoded form; ``get`` strips, the typed helpers raise a 400 naming
    the field, as the admin API does."""

    def __init__(self, data: FormData) -> None:
        self.data = data

    def get(self, name: str) -> str:
        value = self.data.get(name)
        return value.strip() if isinstance(value, str) else ""

    def text(self, name: str) -> str:
        """The field as typed, unstripped (a file's contents, say)."""
        value = self.data.get(name)
        return value if isinstance(value, str) else ""

    def lines(self, name: str) -> list[str]:
        return [line.strip() for line in self.get(name).splitlines() if line.strip()]

    def all(self, name: str) -> list[str]:
        return [v.strip() for v in self.data.getlist(name) if isinstance(v, str) and v.strip()]

    def flag(self, name: str) -> bool:
        return self.get(name) not in ("", "0", "off", "false")

    def optional_int(self, name: str) -> int | None:
        text = self.get(name)
        if not text:
            return None
        try:
            return int(text)
        except ValueError as exc:
            raise InvalidRequest(f"Invalid value for '{name}': {text!r} is not a whole "
                                 "number.", param=name, code="invalid_value") from exc

    def integer(self, name: str, default: int) -> int:
        found = self.optional_int(name)
        return default if found is None else found

    def optional_float(self, name: str) -> float | None:
        text = self.get(name)
        if not text:
            return None
        try:
            return float(text)
        except ValueError as exc:
            raise InvalidRequest(f"Invalid value for '{name}': {text!r} is not a number.",
                                 param=name, code="invalid_value") from exc

    def usd(self, name: str) -> int | None:
        """A decimal USD amount as integer micro-USD (never through a float)."""
        text = self.get(name)
        if not text:
            return None
        try:
            return parse_usd(text)
        except ValueError as exc:
            raise InvalidRequest(f"Invalid value for '{name}': {exc}.", param=name,
                                 code="invalid_value") from exc

    def refusal(self, form: str, exc: APIError) -> Refusal:
        values = {k: v for k, v in self.data.multi_items()
                  if isinstance(v, str) and k not in _SECRET_FIELDS}
        checked = frozenset(k for k, v in values.items() if v)
        lists = {k: tuple(v for v in self.data.getlist(k) if isinstance(v, str))
                 for k in values}
        return Refusal(form, exc.message, values, checked, lists)


async def read_fields(request: Request) -> tuple[Session, Fields]:
    """The signed-in session and the form, after its CSRF token was checked."""
    session = require_session(request)
    form = await read_form(request, max_files=0, max_fields=200)
    check_csrf(session.csrf, form.get("csrf"))
    return session, Fields(form)


def done(path: str, message: str) -> RedirectResponse:
    """Back to ``path`` (post/redirect/get) with a line saying what was done."""
    sep = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{sep}done={quote(message)}", status_code=303)
