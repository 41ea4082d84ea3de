# ruff: noqa: E501 - a table of cases reads best one case a line
"""The hostile-input corpus (issue #8 item 10): records and files that once crashed or fooled
a replay, and every wrong type of every field, each with what must become of it.

A case is the bytes of one input file and its expected books: ``applied`` records, records
``skipped`` as blank (not counted, SPEC §7), and the rejection reasons. ``ANY_REASON`` means
"rejected, the reason is not pinned" (duplicate keys, for one, are the parser's choice).
``python -m tests.hostile.make_corpus`` writes the small cases to ``corpus/``; the large ones
(megabyte lines) are built by the tests, not checked in.
"""

from __future__ import annotations

import codecs
import gzip
from dataclasses import dataclass, field

import orjson

TS = 1_625_475_599_999  # 2021-07-05 16:59:59.999 in Shanghai
TS_MIN = 946_684_800_000
TS_MAX_EXCLUSIVE = 4_102_444_800_000
ANY_REASON = "*"
LARGE = 64 * 1024


@dataclass(frozen=True)
class Case:
    """One input file and the books a replay of it must show."""

    name: str
    data: bytes
    applied: int = 0
    rejected: tuple[str, ...] = ()  # reasons, in any order; ANY_REASON for "some reason"
    duplicate: int = 0
    late: int = 0
    gz: bool = False
    tags: tuple[str, ...] = field(default=())

    @property
    def records(self) -> int:
        """Records counted ``in`` (blank lines are not)."""
        return self.applied + len(self.rejected) + self.duplicate + self.late

    @property
    def large(self) -> bool:
        """Built at test time instead of checked in."""
        return len(self.data) > LARGE

    @property
    def file_name(self) -> str:
        """The corpus file's name."""
        return f"{self.name}.jsonl" + (".gz" if self.gz else "")


# One valid record of each type: every field SPEC §2 names, optional ones too.
VALID: dict[str, dict[str, object]] = {
    "payment": {
        "type": "payment", "event_id": "p1", "ts": TS, "order_id": "O1", "shop_id": "S1",
        "item_id": "I1", "category_id": "C1", "channel": "taote", "amount_cents": 100,
        "region": "R1",
    },
    "shipment": {
        "type": "shipment", "event_id": "s1", "ts": TS, "order_id": "O1", "carrier": "ZTO",
        "tracking_no": "T1", "official_logistics": True, "needs_logistics": True,
    },
    "pickup_scan": {
        "type": "pickup_scan", "event_id": "k1", "ts": TS, "tracking_no": "T1",
        "carrier": "ZTO", "scan": "pickup",
    },
    "refund": {
        "type": "refund", "event_id": "r1", "ts": TS, "order_id": "O1", "refund_id": "RF1",
        "reason": "quality",
    },
    "exemption": {
        "type": "exemption", "event_id": "x1", "ts": TS, "exemption_id": "X1", "scope": "shop",
        "shop_id": "S1", "start_ts": TS - 1000, "end_ts": TS + 1000,
    },
    "enrollment": {
        "type": "enrollment", "event_id": "n1", "ts": TS, "shop_id": "S1", "action": "join",
    },
    "subsidy": {
        "type": "subsidy", "event_id": "b1", "ts": TS, "shop_id": "S1", "item_id": "I1",
        "action": "join",
    },
}  # fmt: skip
OPTIONAL = {"region", "official_logistics", "needs_logistics", "item_id@exemption"}
INTEGERS = {"ts", "amount_cents", "start_ts", "end_ts"}
BOOLEANS = {"official_logistics", "needs_logistics"}
ENUMS = {"channel", "scan", "reason", "scope", "action"}


def line(doc: dict[str, object]) -> bytes:
    """One JSONL line."""
    return orjson.dumps(doc) + b"\n"


def with_field(kind: str, name: str, value: object) -> bytes:
    """The valid record of ``kind`` with ``name`` set to ``value`` (JSON-encoded)."""
    return line({**VALID[kind], name: value})


def without(kind: str, name: str) -> bytes:
    """The valid record of ``kind`` without ``name``."""
    return line({k: v for k, v in VALID[kind].items() if k != name})


def pay(**fields: object) -> dict[str, object]:
    """The valid payment with some fields replaced."""
    return {**VALID["payment"], **fields}


def _field_matrix() -> list[Case]:
    """Every field of every type: a wrong JSON type, ``null``, absent; a bad enum value."""
    cases: list[Case] = []
    for kind, doc in VALID.items():
        cases.append(Case(f"valid-{kind}", line(doc), applied=1, tags=("valid",)))
        for name, value in doc.items():
            optional = name in OPTIONAL
            stem = f"{kind}-{name}"
            if name == "type":
                continue  # the tag: its own cases below
            if name in INTEGERS:
                wrong: list[tuple[str, object]] = [("string", "17"), ("float", 1.5), ("bool", True)]
            elif name in BOOLEANS:
                wrong = [("string", "yes"), ("int", 1)]
            else:
                wrong = [("int", 17), ("list", ["x"]), ("object", {"x": 1}), ("bool", False)]
            for label, bad in wrong:
                cases.append(
                    Case(f"{stem}-{label}", with_field(kind, name, bad), rejected=("wrong_type",))
                )
            if optional:
                cases.append(Case(f"{stem}-null", with_field(kind, name, None), applied=1))
                cases.append(Case(f"{stem}-absent", without(kind, name), applied=1))
            else:
                cases.append(
                    Case(f"{stem}-null", with_field(kind, name, None), rejected=("missing_field",))
                )
                cases.append(
                    Case(f"{stem}-absent", without(kind, name), rejected=("missing_field",))
                )
            if name in ENUMS:
                cases.append(
                    Case(
                        f"{stem}-bad-enum", with_field(kind, name, "bogus"), rejected=("bad_enum",)
                    )
                )
                cases.append(
                    Case(
                        f"{stem}-enum-case",
                        with_field(kind, name, str(value).upper()),
                        rejected=("bad_enum",),
                    )
                )
    return cases  # fmt: skip


def _deep(depth: int, opener: bytes, closer: bytes, inner: bytes = b"1") -> bytes:
    return opener * depth + inner + closer * depth


def _specials() -> list[Case]:
    valid = line(VALID["payment"]).rstrip(b"\n")
    body = valid[1:-1]  # the fields, without the braces
    cases = [
        # Deep nesting: RecursionError in the parser once (issue #8).
        Case("deep-objects-1000", _deep(1000, b'{"a":', b"}") + b"\n", rejected=(ANY_REASON,)),
        Case("deep-arrays-1000", _deep(1000, b"[", b"]") + b"\n", rejected=(ANY_REASON,)),
        Case("deep-arrays-30000", _deep(30000, b"[", b"]") + b"\n", rejected=(ANY_REASON,)),
        Case("deep-in-ignored-field", b"{" + body + b',"extra":' + _deep(3000, b"[", b"]") + b"}\n", rejected=("not_json",)),
        Case("deep-in-required-field", line(pay(order_id=0)).replace(b'"order_id":0', b'"order_id":' + _deep(2000, b'{"a":', b"}")), rejected=(ANY_REASON,)),
        Case("deep-but-shallow-enough", b"{" + body + b',"extra":' + _deep(50, b"[", b"]") + b"}\n", applied=1),
        Case("deep-unclosed", b"[" * 5000 + b"\n", rejected=("not_json",)),
        # Numbers.
        Case("ts-1e400", valid.replace(str(TS).encode(), b"1e400") + b"\n", rejected=(ANY_REASON,)),
        Case("ts-huge-int", valid.replace(str(TS).encode(), b"1" + b"0" * 40) + b"\n", rejected=(ANY_REASON,)),
        Case("ts-2-pow-64", valid.replace(str(TS).encode(), str(2**64).encode()) + b"\n", rejected=(ANY_REASON,)),
        Case("ts-negative", line(pay(ts=-1)), rejected=("ts_out_of_range",)),
        Case("ts-zero", line(pay(ts=0)), rejected=("ts_out_of_range",)),
        Case("ts-seconds-not-ms", line(pay(ts=TS // 1000)), rejected=("ts_out_of_range",)),
        Case("ts-min", line(pay(ts=TS_MIN)), applied=1),
        Case("ts-min-minus-1", line(pay(ts=TS_MIN - 1)), rejected=("ts_out_of_range",)),
        Case("ts-max", line(pay(ts=TS_MAX_EXCLUSIVE - 1)), applied=1),
        Case("ts-max-plus-1", line(pay(ts=TS_MAX_EXCLUSIVE)), rejected=("ts_out_of_range",)),
        Case("ts-exponent", valid.replace(str(TS).encode(), b"1.625475599999e12") + b"\n", rejected=("wrong_type",)),
        Case("ts-float-zero-fraction", valid.replace(str(TS).encode(), str(TS).encode() + b".0") + b"\n", rejected=("wrong_type",)),
        Case("ts-leading-zero", valid.replace(str(TS).encode(), b"0" + str(TS).encode()) + b"\n", rejected=("not_json",)),
        Case("ts-plus-sign", valid.replace(str(TS).encode(), b"+" + str(TS).encode()) + b"\n", rejected=("not_json",)),
        Case("ts-hex", valid.replace(str(TS).encode(), b"0x17A") + b"\n", rejected=("not_json",)),
        Case("amount-huge", valid.replace(b'"amount_cents":100', b'"amount_cents":' + b"9" * 400) + b"\n", applied=1),  # no upper bound in SPEC §2
        Case("amount-2-pow-63", line(pay(amount_cents=2**63 - 1)), applied=1),
        Case("amount-negative", line(pay(amount_cents=-1)), rejected=("bad_value",)),
        Case("amount-minus-zero", valid.replace(b'"amount_cents":100', b'"amount_cents":-0') + b"\n", applied=1),
        Case("amount-zero", line(pay(amount_cents=0)), applied=1),
        Case("amount-nan", valid.replace(b'"amount_cents":100', b'"amount_cents":NaN') + b"\n", rejected=("not_json",)),
        Case("ts-nan", valid.replace(str(TS).encode(), b"NaN") + b"\n", rejected=("not_json",)),
        Case("ts-infinity", valid.replace(str(TS).encode(), b"Infinity") + b"\n", rejected=("not_json",)),
        Case("ts-minus-infinity", valid.replace(str(TS).encode(), b"-Infinity") + b"\n", rejected=("not_json",)),
        Case("nan-in-ignored-field", b"{" + body + b',"extra":NaN}\n', rejected=("not_json",)),
        # Encodings.
        Case("utf8-invalid-in-id", valid.replace(b'"O1"', b'"O\xff1"') + b"\n", rejected=("not_json",)),
        Case("utf8-invalid-in-ignored-field", b"{" + body + b',"extra":"\xc3\x28"}\n', rejected=("not_json",)),
        Case("utf8-invalid-in-key", b"{" + body + b',"\xfe\xff":1}\n', rejected=("not_json",)),
        Case("utf8-overlong", valid.replace(b'"O1"', b'"\xc0\xafO1"') + b"\n", rejected=("not_json",)),
        Case("utf8-surrogate-bytes", valid.replace(b'"O1"', b'"\xed\xa0\x80"') + b"\n", rejected=("not_json",)),
        Case("utf8-truncated", valid.replace(b'"O1"', b'"O\xe4\xb8"') + b"\n", rejected=("not_json",)),
        Case("utf8-lone-continuation", valid.replace(b'"O1"', b'"\x80"') + b"\n", rejected=("not_json",)),
        Case("utf8-valid-cjk-ids", line(pay(order_id="订单一", shop_id="店铺")), applied=1),
        Case("utf8-emoji-id", line(pay(order_id="\U0001f4e6")), applied=1),
        Case("escaped-lone-surrogate", valid.replace(b'"O1"', b'"\\ud800"') + b"\n", rejected=(ANY_REASON,)),
        Case("escaped-nul-in-id", valid.replace(b'"O1"', b'"O\\u00001"') + b"\n", applied=1),
        Case("raw-nul-in-string", valid.replace(b'"O1"', b'"O\x001"') + b"\n", rejected=("not_json",)),
        Case("raw-nul-between-tokens", valid.replace(b",", b",\x00", 1) + b"\n", rejected=("not_json",)),
        Case("nul-line", b"\x00" * 64 + b"\n", rejected=("not_json",)),
        Case("raw-control-char-in-string", valid.replace(b'"O1"', b'"O\x011"') + b"\n", rejected=("not_json",)),
        Case("bom-at-line-start", codecs.BOM_UTF8 + valid + b"\n", rejected=("not_json",)),
        Case("bom-inside-string", valid.replace(b'"O1"', b'"' + codecs.BOM_UTF8 + b'O1"') + b"\n", applied=1),
        Case("utf16-line", valid.decode().encode("utf-16") + b"\n", rejected=(ANY_REASON,)),
        # Strings.
        Case("event-id-empty", line(pay(event_id="")), rejected=("bad_value",)),
        Case("event-id-128", line(pay(event_id="e" * 128)), applied=1),
        Case("event-id-129", line(pay(event_id="e" * 129)), rejected=("bad_value",)),
        Case("order-id-50k", line(pay(order_id="O" * 50_000)), applied=1),
        Case("ignored-string-40k", line(pay(note="n" * 40_000)), applied=1),
        Case("escapes-galore", line(pay(order_id='\\"/\b\f\n\r\t')), applied=1),
        # Keys.
        Case("duplicate-key-type", b'{"type":"refund",' + body + b"}\n", rejected=(ANY_REASON,)),
        Case("duplicate-key-event-id", b"{" + body + b',"event_id":"p2"}\n', applied=1),
        Case("duplicate-key-ts-bad", b"{" + body + b',"ts":"late"}\n', rejected=(ANY_REASON,)),
        Case("key-case", line({**{k: v for k, v in VALID["payment"].items() if k != "ts"}, "TS": TS}), rejected=("missing_field",)),
        Case("key-with-space", valid.replace(b'"ts"', b'"ts "') + b"\n", rejected=("missing_field",)),
        Case("many-extra-keys", line(pay(**{f"k{i}": i for i in range(2000)})), applied=1),
        # Shapes.
        Case("array", b"[]\n", rejected=("not_object",)),
        Case("array-of-record", b"[" + valid + b"]\n", rejected=("not_object",)),
        Case("string", b'"payment"\n', rejected=("not_object",)),
        Case("number", b"42\n", rejected=("not_object",)),
        Case("true", b"true\n", rejected=("not_object",)),
        Case("null", b"null\n", rejected=("not_object",)),
        Case("empty-object", b"{}\n", rejected=("missing_field",)),
        Case("only-type", b'{"type":"payment"}\n', rejected=("missing_field",)),
        Case("type-unknown", line(pay(type="teleport")), rejected=("unknown_type",)),
        Case("type-uppercase", line(pay(type="Payment")), rejected=("unknown_type",)),
        Case("type-padded", line(pay(type=" payment")), rejected=("unknown_type",)),
        Case("type-int", line(pay(type=5)), rejected=(ANY_REASON,)),
        Case("type-null", line(pay(type=None)), rejected=(ANY_REASON,)),
        Case("type-missing", without("payment", "type"), rejected=("missing_field",)),
        Case("type-empty", line(pay(type="")), rejected=("unknown_type",)),
        # Syntax.
        Case("truncated-object", valid[:-10] + b"\n", rejected=("not_json",)),
        Case("trailing-garbage", valid + b" x\n", rejected=("not_json",)),
        Case("two-objects-one-line", valid + valid + b"\n", rejected=("not_json",)),
        Case("trailing-comma", valid[:-1] + b",}\n", rejected=("not_json",)),
        Case("single-quotes", valid.replace(b'"', b"'") + b"\n", rejected=("not_json",)),
        Case("comment", valid + b" // paid\n", rejected=("not_json",)),
        Case("unquoted-key", valid.replace(b'"ts"', b"ts") + b"\n", rejected=("not_json",)),
        Case("just-a-brace", b"{\n", rejected=("not_json",)),
        Case("plain-text", b"hello world\n", rejected=("not_json",)),
        Case("form-feed-line", b"\x0c\n", rejected=("not_json",)),
        Case("html", b"<html><body>502 Bad Gateway</body></html>\n", rejected=("not_json",)),
        # Lines and whitespace.
        Case("crlf-lines", line(VALID["payment"]).replace(b"\n", b"\r\n") + line(VALID["shipment"]).replace(b"\n", b"\r\n"), applied=2),
        Case("cr-inside-record", valid.replace(b",", b",\r", 1) + b"\n", applied=1),
        Case("leading-spaces", b"    " + valid + b"\n", applied=1),
        Case("leading-tab", b"\t" + valid + b"\n", applied=1),
        Case("trailing-spaces", valid + b"   \n", applied=1),
        Case("blank-lines-only", b"\n\n   \n\t\n\r\n", tags=("blank",)),
        Case("empty-file", b"", tags=("blank",)),
        Case("no-final-newline", valid, applied=1),
        Case("blank-lines-around", b"\n\n" + valid + b"\n\n\n", applied=1),
        Case("pretty-printed-over-lines", orjson.dumps(VALID["payment"], option=orjson.OPT_INDENT_2) + b"\n", rejected=tuple(["not_json"] * (len(VALID["payment"]) + 2))),
        # Intervals and cross-field checks.
        Case("exemption-empty-interval", with_field("exemption", "end_ts", TS - 1000), rejected=("bad_interval",)),
        Case("exemption-reversed", with_field("exemption", "end_ts", TS - 5000), rejected=("bad_interval",)),
        Case("exemption-item-without-item", with_field("exemption", "scope", "item"), rejected=("missing_field",)),
        Case("exemption-region-without-region", with_field("exemption", "scope", "region"), rejected=("missing_field",)),
        Case("exemption-huge-interval", line({**VALID["exemption"], "start_ts": -(2**62), "end_ts": 2**62}), applied=1),
        # Engine-level buckets.
        Case("duplicate-event-id", line(VALID["payment"]) * 3, applied=1, duplicate=2),
        Case("second-payment", line(VALID["payment"]) + line(pay(event_id="p2")), applied=1, rejected=("second_payment",)),
        Case("late-record", line(pay(ts=TS + 3_600_000)) + line(pay(event_id="p2", order_id="O2")), applied=1, late=1),
        Case("corrected-resend", line(pay(amount_cents=-1)) + line(VALID["payment"]), applied=1, rejected=("bad_value",)),
        Case("mixed-good-and-bad", b"".join(line(d) for d in VALID.values()) + b"{oops\n[1]\n", applied=7, rejected=("not_json", "not_object")),
        # Compressed.
        Case("gzip-valid", gzip.compress(line(VALID["payment"]), mtime=0), applied=1, gz=True),
        Case("gzip-of-garbage", gzip.compress(b"\xff\xfe garbage\n", mtime=0), rejected=("not_json",), gz=True),
        Case("gzip-empty", gzip.compress(b"", mtime=0), gz=True, tags=("blank",)),
    ]  # fmt: skip
    return cases


def _large() -> list[Case]:
    valid = line(VALID["payment"]).rstrip(b"\n")
    limit = 1 << 20
    pad = b'"pad":"'
    at_limit = b"{" + pad + b"x" * (limit - len(valid) - len(pad) - 2) + b'",' + valid[1:]
    assert len(at_limit) == limit
    return [
        Case("line-at-1mib", at_limit + b"\n", applied=1, tags=("large",)),
        Case(
            "line-1mib-plus-1", at_limit[:1] + b" " + at_limit[1:] + b"\n", rejected=("too_large",)
        ),
        Case("line-2mib-spaces", b" " * (2 << 20) + valid + b"\n", rejected=("too_large",)),
        Case("line-3mib-nested", _deep(1 << 20, b"[", b"]") + b"\n", rejected=("too_large",)),
        Case(
            "line-2mib-no-newline",
            b"{" + pad + b"y" * (2 << 20) + b'",' + valid[1:],
            rejected=("too_large",),
        ),
        Case(
            "many-small-records",
            b"".join(line({**VALID["enrollment"], "event_id": f"n{i}"}) for i in range(5000)),
            applied=5000,
        ),
    ]


def all_cases() -> list[Case]:
    """Every case of the corpus, names unique."""
    cases = _field_matrix() + _specials() + _large()
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "case names must be unique"  # noqa: S101
    return cases
