"""Progress reporting: the choice between bar, lines and silence, and the lines themselves."""

import io

import pytest

from landform.progress import Lines, RichBar, Silent, reporter, track


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def lines_with_fake_clock(every: float) -> tuple[Lines, io.StringIO, Clock]:
    """A line reporter writing into a string, its time read from a clock the test sets."""
    stream, clock = io.StringIO(), Clock()
    return Lines(every=every, stream=stream, clock=clock), stream, clock


def test_lines_print_at_most_every_interval_with_eta():
    lines, stream, clock = lines_with_fake_clock(every=60)
    lines.start("training", 100)
    clock.now = 30
    lines.advance(10)
    assert stream.getvalue() == ""  # before the first interval nothing is printed
    clock.now = 61
    lines.advance(10, loss=0.5)
    clock.now = 62
    lines.advance(30)  # one second after the last line: silent
    clock.now = 200
    lines.advance(40)
    clock.now = 210
    lines.advance(10)  # too soon for a line of its own
    lines.stop()  # so stop closes the run with its final count
    printed = stream.getvalue().splitlines()
    assert printed == [
        "training: 20/100 (20%), 1m01s elapsed, about 4m04s left, loss=0.5",
        "training: 90/100 (90%), 3m20s elapsed, about 0m22s left, loss=0.5",
        "training: 100/100 (100%), 3m30s elapsed, loss=0.5",
    ]


def test_stop_does_not_repeat_a_final_line_already_printed():
    lines, stream, clock = lines_with_fake_clock(every=60)
    lines.start("sampling", 10)
    clock.now = 100
    lines.advance(10)
    lines.stop()
    assert stream.getvalue().splitlines() == ["sampling: 10/10 (100%), 1m40s elapsed"]


def test_short_work_prints_nothing():
    lines, stream, clock = lines_with_fake_clock(every=60)
    lines.start("quick", None)
    clock.now = 5
    lines.advance(3)
    lines.stop()
    assert stream.getvalue() == ""


def test_unknown_total_lines_show_count_and_time():
    lines, stream, clock = lines_with_fake_clock(every=10)
    lines.start("sampling", None)
    clock.now = 3725
    lines.advance(7)
    assert stream.getvalue().strip() == "sampling: 7, 1h02m05s elapsed"


@pytest.mark.parametrize(
    ("flag", "kind"), [("0", Silent), ("off", Silent), ("1", RichBar), ("lines", Lines), ("LINES", Lines)]
)
def test_environment_chooses_the_reporter(monkeypatch, flag, kind):
    monkeypatch.setenv("LANDFORM_PROGRESS", flag)
    assert isinstance(reporter(True), kind)
    assert isinstance(reporter(False), Silent)
    assert isinstance(reporter(None), Silent)


def test_log_files_get_lines_terminals_get_a_bar(monkeypatch):
    monkeypatch.delenv("LANDFORM_PROGRESS", raising=False)
    monkeypatch.setattr("sys.stderr.isatty", lambda: False, raising=False)
    assert isinstance(reporter(True), Lines)
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    assert isinstance(reporter(True), RichBar)


def test_interval_from_the_environment(monkeypatch):
    monkeypatch.setenv("LANDFORM_PROGRESS", "lines")
    monkeypatch.setenv("LANDFORM_PROGRESS_EVERY", "5")
    assert reporter(True).every == 5.0
    monkeypatch.setenv("LANDFORM_PROGRESS_EVERY", "soon")
    with pytest.raises(ValueError, match="LANDFORM_PROGRESS_EVERY='soon'"):
        reporter(True)


def test_track_stops_the_reporter_on_error():
    lines, stream, clock = lines_with_fake_clock(every=1)
    with pytest.raises(RuntimeError), track(lines, "failing", 4) as rep:
        clock.now = 2
        rep.advance(1)
        raise RuntimeError("boom")
    assert stream.getvalue().splitlines() == ["failing: 1/4 (25%), 0m02s elapsed, about 0m06s left"]
