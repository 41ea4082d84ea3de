"""The published JSON Schema files match the records, and agree with the parser."""

from __future__ import annotations

import jsonschema
import orjson

from sellerwatch.schemas.jsonschema import SCHEMA_DIR, render, schemas
from sellerwatch.schemas.validation import Rejected, decode_event
from tests.schemas.test_validation import BAD, pay


def test_checked_in_schemas_match_the_records() -> None:
    generated = schemas()
    on_disk = {p.name for p in SCHEMA_DIR.glob("*.json")}
    assert on_disk == set(generated), "run: python -m sellerwatch.schemas.jsonschema"
    for name, schema in generated.items():
        assert (SCHEMA_DIR / name).read_bytes() == render(schema), (
            f"{name} drifted; run: python -m sellerwatch.schemas.jsonschema"
        )


def _valid_by_schema(doc: object) -> bool:
    if not isinstance(doc, dict) or not isinstance(doc.get("type"), str):
        return False
    path = SCHEMA_DIR / f"event.{doc['type']}.json"
    if not path.exists():
        return False
    schema = orjson.loads(path.read_bytes())
    return jsonschema.Draft202012Validator(schema).is_valid(doc)


def test_schema_and_parser_agree_on_the_shared_fixtures() -> None:
    semantic_only = {"bad_interval", "missing_field"}  # cross-field checks beyond JSON Schema
    for raw, reason in BAD:
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if reason in semantic_only and "exemption" in str(doc):
            continue
        if b"9.0," in raw:  # JSON Schema's "integer" accepts 1.0; see the schemas' $comment
            continue
        assert isinstance(decode_event(raw), Rejected)
        assert not _valid_by_schema(doc), raw
    good = pay(b',"region":"R1"')
    assert not isinstance(decode_event(good), Rejected)
    assert _valid_by_schema(orjson.loads(good))
