"""``sellerwatch replay`` never half-writes or destroys a file, and reads any readable path."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from sellerwatch.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "sample.jsonl.gz"
CLI = [sys.executable, "-m", "sellerwatch.cli"]


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("events") / "events.jsonl"
    path.write_bytes(gzip.decompress(SAMPLE.read_bytes()))
    return path


def _one_line_error(capsys: pytest.CaptureFixture[str], *words: str) -> None:
    err = capsys.readouterr().err
    assert err.startswith("sellerwatch: error:") and err.count("\n") == 1, err
    for word in words:
        assert word in err, err


def test_out_equal_to_the_input_is_refused_and_the_input_kept(
    events: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = events.read_bytes()
    link = tmp_path / "alias.jsonl"
    os.link(events, link)
    for target in (events, link):
        assert main(["replay", str(events), "--out", str(target)]) == 2
        _one_line_error(capsys, "refusing to overwrite", str(target))
    assert main(["replay", str(events), "--rejects", str(events)]) == 2
    assert events.read_bytes() == before


def test_two_sinks_on_one_path_are_refused(
    events: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    same = tmp_path / "all.jsonl"
    args = [
        "replay",
        str(events),
        "--out",
        str(same),
        "--late",
        str(tmp_path / ".." / same.parent.name / "all.jsonl"),
    ]
    assert main(args) == 2
    _one_line_error(capsys, "--out and --late both write to")
    assert main(["replay", str(events), "--rejects", "-"]) == 2
    _one_line_error(capsys, "standard output")
    assert not same.exists()


def test_a_truncated_gz_names_the_file_and_line_and_leaves_no_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truncated = tmp_path / "cut.jsonl.gz"
    truncated.write_bytes(SAMPLE.read_bytes()[: SAMPLE.stat().st_size // 2])
    out = tmp_path / "v.jsonl"
    assert (
        main(["replay", str(truncated), "--out", str(out), "--rejects", str(tmp_path / "r")]) == 2
    )
    _one_line_error(capsys, "cut.jsonl.gz", "after line", "truncated")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.jsonl.gz"]


def test_a_corrupt_gz_is_a_one_line_error_and_the_old_output_survives(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = bytearray(SAMPLE.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\x00" * 64
    corrupt = tmp_path / "bad.jsonl.gz"
    corrupt.write_bytes(bytes(data))
    out = tmp_path / "v.jsonl"
    out.write_bytes(b"yesterday's verdicts\n")
    assert main(["replay", str(corrupt), "--out", str(out)]) == 2
    _one_line_error(capsys, "bad.jsonl.gz", "after line")
    assert out.read_bytes() == b"yesterday's verdicts\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl.gz", "v.jsonl"]


def test_an_unreadable_second_input_does_not_touch_an_existing_out(
    events: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "v.jsonl"
    out.write_bytes(b"keep me\n")
    for second in (tmp_path / "missing.jsonl", tmp_path):
        assert main(["replay", str(events), str(second), "--out", str(out)]) == 2
        _one_line_error(capsys, "cannot read input", str(second))
        assert out.read_bytes() == b"keep me\n"


def test_a_full_disk_is_a_one_line_error(events: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    assert main(["replay", str(events), "--out", "/dev/full"]) == 2
    _one_line_error(capsys, "cannot write /dev/full", "No space left")


def test_a_successful_run_replaces_the_output_whole_with_normal_permissions(
    events: Path, tmp_path: Path
) -> None:
    out = tmp_path / "v.jsonl"
    out.write_bytes(b"old\n")
    assert main(["replay", str(events), "--out", str(out)]) == 0
    assert out.read_bytes().startswith(b'{"verdict_id"')
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.jsonl"]


def test_dev_stdin_a_fifo_and_process_substitution_are_inputs(events: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    expected = tmp_path / "expected.jsonl"
    assert main(["replay", str(events), "--out", str(expected)]) == 0
    script = (
        f"cat {events} > {fifo} & "
        f"{' '.join(CLI)} replay {fifo} --out {tmp_path / 'fifo.jsonl'} && "
        f"{' '.join(CLI)} replay /dev/stdin --out {tmp_path / 'stdin.jsonl'} < {events} && "
        f"{' '.join(CLI)} replay <(cat {events}) --out {tmp_path / 'subst.jsonl'}"
    )
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for name in ("fifo", "stdin", "subst"):
        assert (tmp_path / f"{name}.jsonl").read_bytes() == expected.read_bytes(), name


def _sigint_as_from_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_a_sigterm_inside_the_decoder_is_not_booked_as_a_rejected_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The handler raises where the run is; the decoder dead-letters every ``Exception``. A
    SIGTERM landing there used to become one ``internal_error`` record and the replay read on
    (the fresh-clone CI caught it as a replay that never exited)."""
    from sellerwatch.atomic import Interrupted
    from sellerwatch.schemas import validation

    def interrupted(raw: bytes) -> None:
        raise Interrupted

    monkeypatch.setattr(validation, "_decode", interrupted)
    with pytest.raises(Interrupted):
        validation.decode_event(b'{"type":"payment"}')


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_writes_no_output_and_exits_130(tmp_path: Path, signum: int) -> None:
    fifo = tmp_path / "slow.fifo"
    os.mkfifo(fifo)
    out = tmp_path / "v.jsonl"
    proc = subprocess.Popen(
        [*CLI, "replay", str(fifo), "--out", str(out)],
        stderr=subprocess.PIPE,
        text=True,
        # As from a terminal: a test run started in the background of a shell without job
        # control inherits an ignored SIGINT, and Python keeps it ignored (rightly: Ctrl-C is
        # not meant for background jobs), so the replay would never see this one.
        preexec_fn=_sigint_as_from_a_terminal,
    )
    try:
        with open(fifo, "wb") as writer:
            writer.write(gzip.decompress(SAMPLE.read_bytes())[:200_000])
            writer.flush()
            deadline = time.monotonic() + 60
            while not list(tmp_path.glob(".v.jsonl.*.partial")) and time.monotonic() < deadline:
                time.sleep(0.05)  # until the replay has its outputs open (and its handlers set)
            proc.send_signal(signum)
            _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # a failed run leaves no process behind for the next test
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "sellerwatch: interrupted: no outputs written"
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slow.fifo"]


@pytest.mark.parametrize("value", ["", "soon", "-5m"])
def test_a_bad_lateness_is_refused_not_ignored(
    events: Path, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(events), f"--lateness={value}"]) == 2
    _one_line_error(capsys, "--lateness")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (b'timezone = "Asia"\n', "timezone"),
        ('name = "caf\xe9"\n'.encode("latin-1"), "not UTF-8"),
        (b'[same_day_ship]\nenrollment_delay = "100000000d"\n', "same_day_ship.enrollment_delay"),
        (b"[ship48_pickup24]\nwindow_days = 100000000\n", "ship48_pickup24.window_days"),
        (b"[ship48_pickup24]\nmax_rate = 2\n", "ship48_pickup24.max_rate"),
        (b'[same_day_ship]\ncutoff = "20:30"\n', "same_day_ship.cutoff"),
    ],
)
def test_a_hostile_policy_is_a_one_line_error_before_any_output(
    events: Path, tmp_path: Path, text: bytes, named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "p.toml"
    policy.write_bytes(text)
    out = tmp_path / "v.jsonl"
    assert main(["replay", str(events), "--policy", str(policy), "--out", str(out)]) == 2
    _one_line_error(capsys, named)
    assert not out.exists()


def test_a_line_over_the_limit_is_too_large_and_the_next_line_still_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = (
        b'{"type":"enrollment","event_id":"n%d","ts":1625475599999,"shop_id":"S1","action":"join"}'
    )
    events = tmp_path / "long.jsonl"
    events.write_bytes(good % 1 + b"\n" + b"x" * (3 << 20) + b"\r\n" + good % 2 + b"\n")
    policy = tmp_path / "small.toml"
    policy.write_text("max_record_bytes = 1000\n")
    rejects = tmp_path / "r.jsonl"
    args = ["replay", str(events), "--policy", str(policy), "--rejects", str(rejects)]
    assert main([*args, "--out", str(tmp_path / "v.jsonl")]) == 0
    assert capsys.readouterr().err.startswith(
        "records in 3: applied 2, duplicate 0, late 0, rejected 1 (balanced)"
    )
    (letter,) = [orjson.loads(x) for x in rejects.read_bytes().splitlines()]
    assert letter["reason"] == "too_large" and letter["line"] == 2
    assert "3,145,728 bytes" in letter["message"]
    assert len(letter["raw"]) == 1002  # the dead letter keeps the head, not 3 MiB


def test_an_out_through_a_symlink_replaces_the_file_it_points_to(
    events: Path, tmp_path: Path
) -> None:
    real = tmp_path / "real.jsonl"
    real.write_bytes(b"old\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    assert main(["replay", str(events), "--out", str(link)]) == 0
    assert link.is_symlink() and real.read_bytes().startswith(b'{"verdict_id"')
