"""benchmarks/widget_latency.py's arithmetic: the per-press breakdown and its percentiles.

The command itself drives JupyterLab and Chromium for minutes and reports timings (no timing
is asserted anywhere); here its bookkeeping is checked on made-up presses.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def latency():
    spec = importlib.util.spec_from_file_location("widget_latency", ROOT / "benchmarks" / "widget_latency.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def kernel_record(explorer: str, draw: float, encode: float, send: float) -> dict:
    return {"explorer": explorer, "draw": draw, "encode": encode, "send": send,
            "callback": draw + encode + send, "png_bytes": 20_000}


def test_each_press_splits_into_kernel_transport_and_browser(latency):
    browser = [{"src": 80.0, "paint": 110.0}, {"src": 60.0, "paint": 100.0}]
    kernel = [kernel_record("SigmaExplorer", 0.010, 0.030, 0.005),
              kernel_record("Other", 0.001, 0.001, 0.001),  # another explorer of the lesson
              kernel_record("SigmaExplorer", 0.010, 0.020, 0.005)]
    result = latency.combine("02.ipynb", browser, kernel)
    assert result["explorer"] == "SigmaExplorer" and len(result["presses"]) == 2
    first = result["presses"][0]
    assert first["total"] == 110.0 and first["browser"] == pytest.approx(30.0)
    assert first["draw"] == pytest.approx(10.0) and first["encode"] == pytest.approx(30.0)
    assert first["transport"] == pytest.approx(80.0 - 45.0)  # src minus the whole callback
    parts = ("draw", "encode", "send", "transport", "browser")
    for row in result["presses"]:
        assert sum(row[part] for part in parts) == pytest.approx(row["total"])


def test_a_press_without_its_redraw_is_an_error_not_a_number(latency):
    with pytest.raises(RuntimeError, match="2 presses but 1 redraws"):
        latency.combine("01.ipynb", [{"src": 1.0, "paint": 2.0}] * 2, [kernel_record("KL", 0.1, 0.1, 0.1)])


def test_summary_percentiles(latency):
    rows = [{"total": float(t), "draw": 1.0, "encode": 2.0, "send": 0.5, "transport": 3.0, "browser": 4.0,
             "png_kb": 20.0} for t in range(1, 101)]
    summary = latency.summary({"notebook": "n", "explorer": "E", "presses": rows})
    assert summary["median_ms"] == 50.5 and summary["p95_ms"] == 95 and summary["max_ms"] == 100
    assert summary["median_parts_ms"]["browser"] == 4.0


def test_a_burst_settles_from_the_last_key_that_moved_the_slider(latency):
    times = {"keys": [0.0, 30.0, 60.0, 90.0], "before": "1.0", "values": ["1.1", "1.2", "1.3", "1.3"],
             "srcs": [70.0, 150.0, 170.0]}  # the last key found the slider at its end
    burst = latency.burst_summary(times)
    assert burst == {"presses": 4, "moves": 3, "pngs": 3, "key_interval_ms": 30.0, "settle_ms": 110.0}


def test_a_burst_that_moved_nothing_is_an_error_not_a_number(latency):
    with pytest.raises(RuntimeError, match="did not move the slider"):
        latency.burst_summary({"keys": [0.0], "before": "1.0", "values": ["1.0"], "srcs": [5.0]})
