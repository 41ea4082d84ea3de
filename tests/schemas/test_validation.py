"""SPEC §5 and §7: every kind of bad input is rejected with its reason, nothing raises."""

from __future__ import annotations

import pytest

from sellerwatch.schemas import validation
from sellerwatch.schemas.events import Exemption, Payment, Shipment
from sellerwatch.schemas.validation import Rejected, decode_event

PAY = (
    b'{"type":"payment","event_id":"e1","ts":1625475599999,"order_id":"O1","shop_id":"S1",'
    b'"item_id":"I1","category_id":"C1","channel":"taote","amount_cents":100'
)


def pay(extra: bytes = b"") -> bytes:
    return PAY + extra + b"}"


BAD = [
    (b"not json", "not_json"),
    (b'{"type":"payment"', "not_json"),
    (b'{"ts": NaN}', "not_json"),
    (b'{"ts": Infinity}', "not_json"),
    (b'{"type":"refund","event_id":"\xff"}', "not_json"),
    (b"[1,2]", "not_object"),
    (b'"payment"', "not_object"),
    (b"42", "not_object"),
    (b'{"type":"teleport","event_id":"e","ts":1625475599999}', "unknown_type"),
    (b'{"event_id":"e","ts":1625475599999}', "missing_field"),
    (PAY.replace(b',"order_id":"O1"', b"") + b"}", "missing_field"),
    (PAY.replace(b'"O1"', b"null") + b"}", "missing_field"),
    (PAY.replace(b"1625475599999", b"1625475599999.0") + b"}", "wrong_type"),
    (PAY.replace(b"1625475599999", b"true") + b"}", "wrong_type"),
    (PAY.replace(b'"amount_cents":100', b'"amount_cents":"100"') + b"}", "wrong_type"),
    (PAY.replace(b'"O1"', b"17") + b"}", "wrong_type"),
    (pay(b',"region":5'), "wrong_type"),
    (PAY.replace(b"1625475599999", b"946684799999") + b"}", "ts_out_of_range"),
    (PAY.replace(b"1625475599999", b"4102444800000") + b"}", "ts_out_of_range"),
    (PAY.replace(b'"taote"', b'"ebay"') + b"}", "bad_enum"),
    (PAY.replace(b'"amount_cents":100', b'"amount_cents":-1') + b"}", "bad_value"),
    (PAY.replace(b'"e1"', b'""') + b"}", "bad_value"),
    (PAY.replace(b'"e1"', b'"' + b"x" * 129 + b'"') + b"}", "bad_value"),
    (
        b'{"type":"exemption","event_id":"x","ts":1625475599999,"exemption_id":"X","scope":"shop",'
        b'"shop_id":"S1","start_ts":5,"end_ts":5}',
        "bad_interval",
    ),
    (
        b'{"type":"exemption","event_id":"x","ts":1625475599999,"exemption_id":"X","scope":"item",'
        b'"shop_id":"S1","start_ts":1,"end_ts":5}',
        "missing_field",
    ),
    (
        b'{"type":"exemption","event_id":"x","ts":1625475599999,"exemption_id":"X","scope":"region",'
        b'"shop_id":"S1","item_id":"I1","start_ts":1,"end_ts":5}',
        "missing_field",
    ),
    (
        b'{"type":"pickup_scan","event_id":"s","ts":1625475599999,"tracking_no":"T","carrier":"Z",'
        b'"scan":"lost"}',
        "bad_enum",
    ),
]


@pytest.mark.parametrize(("raw", "reason"), BAD, ids=[f"{r}-{i}" for i, (_, r) in enumerate(BAD)])
def test_bad_records_are_rejected_with_their_reason(raw: bytes, reason: str) -> None:
    result = decode_event(raw)
    assert isinstance(result, Rejected), result
    assert result.reason == reason, result.message
    assert result.message


def test_unknown_fields_are_ignored_and_null_optional_means_absent() -> None:
    event = decode_event(pay(b',"region":null,"extra":{"x":[1]}'))
    assert isinstance(event, Payment) and event.region is None


def test_shipment_defaults_and_required_waybill_even_without_logistics() -> None:
    raw = (
        b'{"type":"shipment","event_id":"s","ts":1625475599999,"order_id":"O1","carrier":"Z",'
        b'"tracking_no":"T1"}'
    )
    event = decode_event(raw)
    assert isinstance(event, Shipment)
    assert event.official_logistics is None and event.needs_logistics is None
    missing = raw.replace(b',"tracking_no":"T1"', b',"needs_logistics":false')
    assert isinstance(decode_event(missing), Rejected)


def test_exemption_item_and_region_are_optional_outside_their_scope() -> None:
    raw = (
        b'{"type":"exemption","event_id":"x","ts":1625475599999,"exemption_id":"X","scope":"shop",'
        b'"shop_id":"S1","start_ts":1,"end_ts":5,"item_id":null}'
    )
    assert isinstance(decode_event(raw), Exemption)


def test_ts_range_edges_are_inclusive_below_and_exclusive_above() -> None:
    assert isinstance(decode_event(PAY.replace(b"1625475599999", b"946684800000") + b"}"), Payment)
    assert isinstance(decode_event(PAY.replace(b"1625475599999", b"4102444799999") + b"}"), Payment)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a":' * 1000 + b"1" + b"}" * 1000,
        b"[" * 100_000 + b"]" * 100_000,
        b'{"type":"payment","x":' + b"[" * 5000 + b"]" * 5000 + b"}",
    ],
    ids=["objects-1000", "arrays-100000", "ignored-field-5000"],
)
def test_deep_nesting_is_not_json_instead_of_a_recursion_error(raw: bytes) -> None:
    result = decode_event(raw)
    assert isinstance(result, Rejected)
    assert result.reason in {"not_json", "not_object"}, result


def test_a_record_over_the_limit_is_too_large_before_parsing() -> None:
    record = pay(b',"pad":"' + b"x" * 2000 + b'"')
    assert isinstance(decode_event(record), Payment)
    result = decode_event(record, max_record_bytes=1000)
    assert isinstance(result, Rejected) and result.reason == "too_large"
    assert "1,000" in result.message
    assert decode_event(b"not json at all", max_record_bytes=5) == Rejected(
        "too_large", "record of 15 bytes is larger than 5"
    )
    assert isinstance(decode_event(b"x" * ((1 << 20) + 1)), Rejected)
    assert decode_event(b"x" * ((1 << 20) + 1)).reason == "too_large"  # type: ignore[union-attr]


def test_a_record_exactly_at_the_limit_is_parsed() -> None:
    record = pay()
    assert isinstance(decode_event(record, max_record_bytes=len(record)), Payment)


def test_anything_unexpected_is_an_internal_error_naming_the_exception(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Broken:
        def decode(self, raw: bytes) -> object:
            raise MemoryError("out of memory")

    monkeypatch.setattr(validation, "_decoder", Broken())
    result = decode_event(pay())
    assert isinstance(result, Rejected)
    assert result.reason == "internal_error"
    assert "MemoryError" in result.message


def test_every_reason_is_listed() -> None:
    assert {"too_large", "internal_error"} <= set(validation.ALL_REASONS)
    assert set(validation.REASONS) < set(validation.ALL_REASONS)


@pytest.mark.parametrize(
    "raw",
    [
        PAY.replace(b"1625475599999", b"0x17A") + b"}",
        b"[" * 5000,
        PAY.replace(b'"taote"', b'"ebay"') + b"} trailing",
    ],
    ids=["hex-ts", "unclosed-arrays", "bad-enum-then-garbage"],
)
def test_a_record_that_is_not_json_is_not_json_whatever_its_first_bad_value(raw: bytes) -> None:
    result = decode_event(raw)
    assert isinstance(result, Rejected) and result.reason == "not_json", result
