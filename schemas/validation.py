"""Decode one raw record into an event or a precise rejection (SPEC §5, §7).

Decoding and validation happen in one msgspec pass; only a failing record pays for turning
msgspec's message into one of the SPEC's rejection reasons. Nothing here raises, whatever the
bytes: one poison record must never stop a replay or loop a live worker (issue #8).
"""

from __future__ import annotations

import re
from typing import Final

import msgspec

from sellerwatch.schemas.events import Event, Exemption

# Reason codes, one per rejection case of SPEC §5.
NOT_JSON: Final = "not_json"
NOT_OBJECT: Final = "not_object"
UNKNOWN_TYPE: Final = "unknown_type"
MISSING_FIELD: Final = "missing_field"
WRONG_TYPE: Final = "wrong_type"
TS_OUT_OF_RANGE: Final = "ts_out_of_range"
BAD_VALUE: Final = "bad_value"
BAD_ENUM: Final = "bad_enum"
BAD_INTERVAL: Final = "bad_interval"
SECOND_PAYMENT: Final = "second_payment"
TOO_LARGE: Final = "too_large"
INTERNAL_ERROR: Final = "internal_error"

REASONS: Final = (
    NOT_JSON,
    NOT_OBJECT,
    UNKNOWN_TYPE,
    MISSING_FIELD,
    WRONG_TYPE,
    TS_OUT_OF_RANGE,
    BAD_VALUE,
    BAD_ENUM,
    BAD_INTERVAL,
    SECOND_PAYMENT,
)

#: Every reason a record can be dead-lettered with: the content cases above, a record longer
#: than ``max_record_bytes`` (SPEC §5, checked before parsing) and ``internal_error`` for
#: whatever else made decoding raise (the exception's class is in the message).
ALL_REASONS: Final = (*REASONS, TOO_LARGE, INTERNAL_ERROR)

#: SPEC §6 default of ``max_record_bytes``.
DEFAULT_MAX_RECORD_BYTES: Final = 1 << 20


class Rejected(msgspec.Struct, frozen=True):
    """Why a record was rejected: a reason code and a human sentence."""

    reason: str
    message: str


_decoder: Final = msgspec.json.Decoder(Event)
_any: Final = msgspec.json.Decoder()
_AT = re.compile(r" - at `\$\.?([^`]*)`$")


def decode_event(raw: bytes, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> Event | Rejected:
    """Decode and validate one record.

    Args:
        raw: the record's bytes, exactly as read (no trailing newline needed).
        max_record_bytes: longer records are rejected ``too_large`` without being parsed.

    Returns:
        The typed event, or ``Rejected`` with a SPEC §5 reason; never raises.
    """
    if len(raw) > max_record_bytes:
        return Rejected(
            TOO_LARGE, f"record of {len(raw):,} bytes is larger than {max_record_bytes:,}"
        )
    try:
        return _decode(raw)
    except RecursionError:
        return Rejected(NOT_JSON, "not JSON: nested too deeply")
    except Exception as exc:  # noqa: BLE001 - a poison record is dead-lettered, never raised
        return Rejected(INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"[:500])


def _decode(raw: bytes) -> Event | Rejected:
    try:
        if not raw.isascii():
            raw.decode("utf-8")  # msgspec skips UTF-8 checks inside ignored fields
        event: Event = _decoder.decode(raw)
    except UnicodeDecodeError:
        return Rejected(NOT_JSON, "invalid UTF-8")
    except msgspec.ValidationError as exc:
        # The typed pass stops at the first bad value, before reading the rest: a record that
        # is not JSON at all (``"ts":0x17A``, an unclosed ``[[[``) is "not JSON" first (SPEC §5).
        try:
            _any.decode(raw)
        except msgspec.DecodeError as syntax:
            return Rejected(NOT_JSON, f"not JSON: {syntax}")
        return _classify(str(exc))
    except msgspec.DecodeError as exc:
        return Rejected(NOT_JSON, f"not JSON: {exc}")
    if type(event) is Exemption:
        return _check_exemption(event)
    return event


def _check_exemption(event: Exemption) -> Event | Rejected:
    if event.start_ts >= event.end_ts:
        return Rejected(BAD_INTERVAL, "exemption start_ts must be < end_ts")
    if event.scope == "item" and event.item_id is None:
        return Rejected(MISSING_FIELD, "missing field `item_id` (required for scope item)")
    if event.scope == "region" and event.region is None:
        return Rejected(MISSING_FIELD, "missing field `region` (required for scope region)")
    return event


def _classify(message: str) -> Rejected:
    """Map a msgspec validation message to a SPEC §5 reason."""
    match = _AT.search(message)
    path = match.group(1) if match else ""
    if message.startswith("Object missing required field"):
        return Rejected(MISSING_FIELD, message)
    if path == "" and message.startswith("Expected `object`"):
        return Rejected(NOT_OBJECT, message)
    if path == "type":
        if message.startswith("Invalid value"):
            return Rejected(UNKNOWN_TYPE, message)
        return Rejected(WRONG_TYPE, message)
    if "got `null`" in message:
        return Rejected(MISSING_FIELD, f"null on required field: {message}")
    if message.startswith("Invalid enum value"):
        return Rejected(BAD_ENUM, message)
    if message.startswith("Expected") and ", got `" in message:
        return Rejected(WRONG_TYPE, message)
    if path == "ts":
        return Rejected(TS_OUT_OF_RANGE, message)
    return Rejected(BAD_VALUE, message)
