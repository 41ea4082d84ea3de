"""Generate the published JSON Schema files from the records.

``python -m sellerwatch.schemas.jsonschema`` writes them.

The checked-in files under ``schemas/json/`` are what consumers read; a test regenerates them
and fails when they drift from the records.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import msgspec
import orjson

from sellerwatch.schemas.events import EVENT_TYPES
from sellerwatch.schemas.evidence import Evidence
from sellerwatch.schemas.verdict import Evaluation, Verdict
from sellerwatch.schemas.warning import EarlyWarning

SCHEMA_DIR = Path(__file__).parent / "json"
_INTEGERS = (
    "Integers must be JSON integers: sellerwatch rejects 1.0 and true where an integer is "
    "required, although JSON Schema's 'integer' accepts 1.0. Exemptions also need "
    "start_ts < end_ts, item_id for scope item and region for scope region."
)


def _tag(record: type[msgspec.Struct]) -> str:
    info = msgspec.inspect.type_info(record)
    assert isinstance(info, msgspec.inspect.StructType)  # noqa: S101 - our own records
    return str(info.tag) if info.tag is not None else record.__name__.lower()


def schemas() -> dict[str, dict[str, Any]]:
    """File name → JSON Schema, for every event type, the verdict, the evaluation and the
    evidence record."""
    out: dict[str, dict[str, Any]] = {}
    for record in EVENT_TYPES:
        schema = msgspec.json.schema(record)
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["title"] = f"sellerwatch {_tag(record)} event"
        schema["$comment"] = _INTEGERS
        out[f"event.{_tag(record)}.json"] = schema
    records: tuple[tuple[str, type[msgspec.Struct]], ...] = (
        ("verdict", Verdict),
        ("evaluation", Evaluation),
        ("evidence", Evidence),
        ("warning", EarlyWarning),
    )
    for name, other in records:
        schema = msgspec.json.schema(other)
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["title"] = f"sellerwatch {name}"
        out[f"{name}.json"] = schema
    return out


def render(schema: dict[str, Any]) -> bytes:
    """Stable, readable bytes of one schema."""
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def main() -> int:
    """Write every schema file into ``schemas/json/``."""
    SCHEMA_DIR.mkdir(exist_ok=True)
    for name, schema in schemas().items():
        (SCHEMA_DIR / name).write_bytes(render(schema))
    sys.stdout.write(f"wrote {len(schemas())} schemas to {SCHEMA_DIR}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
