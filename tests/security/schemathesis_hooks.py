"""Loaded by schemathesis (SCHEMATHESIS_HOOKS) in the fuzz tests.

CPython 3.11.7 raises `SystemError: AST constructor recursion depth mismatch` from ast.parse
deep inside hypothesis when it describes a filter lambda for a strategy's repr (a CPython bug,
gh-106905). The description is cosmetic, so fall back to the lambda's name instead of letting
the tool abort an operation.
"""

from __future__ import annotations

from typing import Any

import hypothesis.internal.reflection as reflection
import hypothesis.strategies._internal.lazy as lazy

_original = reflection.get_pretty_function_description


def _safe_description(f: Any) -> str:
    try:
        return _original(f)
    except SystemError:
        return getattr(f, "__name__", "<lambda>")


reflection.get_pretty_function_description = _safe_description
lazy.get_pretty_function_description = _safe_description  # type: ignore[attr-defined]
