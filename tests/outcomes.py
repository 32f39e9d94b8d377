"""How a call to the interchange ended, as one comparable string, for tests of any layer.

Kept apart from `tests.network` so that pure tests can use it without loading the
services.
"""

from __future__ import annotations

from collections.abc import Callable

from interchange.errors import InterchangeError

__all__ = ["outcome_of"]


def outcome_of(call: Callable[[], object]) -> str:
    """Return "ok", "code:<code>" for a named error, or "unexpected:<type>" otherwise."""
    try:
        call()
    except InterchangeError as error:
        return f"code:{error.code.value}"
    except Exception as error:
        return f"unexpected:{type(error).__name__}"
    return "ok"
