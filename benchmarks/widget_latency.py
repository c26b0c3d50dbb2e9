"""How long a learner waits for an explorer: arrow key pressed -> new figure on screen, in JupyterLab.

Usage (from the repository root, after ``make test`` has built .venv)::

    .venv/bin/python benchmarks/widget_latency.py                  # lessons 1-4, 30 presses each
    .venv/bin/python benchmarks/widget_latency.py --lessons 02 --presses 60 --json out.json

It starts JupyterLab in quick mode on a copy of ``notebooks/`` and opens each lesson in
headless Chromium with the browser test's own helpers (``tests/test_browser.py``), runs all
cells, then presses an arrow key on the first slider of the lesson's main explorer, one press
at a time (the next one when the figure of the last is on screen and the page has been idle
for a moment). For every press it measures, in the page, the time from the key event to

* ``src``: the figure's ``<img>`` getting its new PNG (the widget message arrived), and
* ``paint``: that PNG decoded and the next frame drawn (the new pixels are on screen),

and, in the kernel (through the kernel's own connection file), the explorer's callback:
``draw`` (matplotlib), ``encode`` (the PNG) and ``send`` (the rest of ``refresh``: handing
the PNG and the readouts to ipywidgets). ``transport`` is what is left of ``src``: the key
event becoming a widget message, its trip to the kernel and back, and the kernel's
message handling. It prints percentiles per lesson and, last, one JSON object.

Then it presses the same slider ``--burst`` times in a row, ``--interval`` apart (a held arrow
key repeats about every 30 ms, faster than a figure redraws), and reports how many redraws the
kernel made, how many new figures the page showed, and ``settle_ms``: the last key event that
moved the slider to the last new figure, how far the figure lags once the key is let go. No
queue builds up: ipywidgets' page side sends a widget's next update only when the kernel has
gone idle after the last one, and merges the changes made meanwhile (its "message throttle"),
so a burst costs one redraw per round trip and ends with the figure of the slider's last value.

Timings mean something only on a quiet machine: say the load average with the result
(it is in the JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the browser test's helpers: one way to drive JupyterLab

import test_browser as browser_test  # noqa: E402

# Installed in the page before each press: resolves with the times (ms, from the key event)
# at which the explorer's <img> got a new src and at which the new picture was painted.
ARM_PRESS = """([output]) => {
  const image = output.querySelector('img.widget-image');
  window.__press = new Promise(resolve => {
    let keyAt = null;
    const onKey = () => { keyAt = performance.now(); };
    document.addEventListener('keydown', onKey, {capture: true, once: true});
    const observer = new MutationObserver(async () => {
      observer.disconnect();
      const srcAt = performance.now();
      await image.decode().catch(() => null);
      requestAnimationFrame(() => requestAnimationFrame(() => {
        resolve({src: srcAt - keyAt, paint: performance.now() - keyAt, bytes: image.src.length});
      }));
    });
    observer.observe(image, {attributes: true, attributeFilter: ['src']});
  });
}"""

# Installed before a burst of presses: the time of every key event and of every new PNG.
# A key counts when it moved the slider (its value just after the key, against the one before).
ARM_BURST = """([output, handle]) => {
  const image = output.querySelector('img.widget-image');
  const readout = output.querySelector('.widget-slider .widget-readout');  // aria-valuenow is rounded
  const value = () => handle.getAttribute('aria-valuenow') + ' ' + readout.textContent;
  window.__burst = {keys: [], srcs: [], before: value(), values: []};
  document.addEventListener('keydown', () => {
    window.__burst.keys.push(performance.now());
    setTimeout(() => window.__burst.values.push(value()), 0);
  }, {capture: true});
  new MutationObserver(() => window.__burst.srcs.push(performance.now()))
    .observe(image, {attributes: true, attributeFilter: ['src']});
}"""

# Run in the kernel before the presses: time every explorer's callback (draw, PNG, the rest).
INSTRUMENT = """
import time as _time
from vae_tutorial.lessons.shared.explorer import Explorer as _Explorer
__latency = []
def __instrument(explorer):
    draw, render, refresh = explorer.draw, explorer.renderer.render, explorer.refresh
    record = {}
    def timed_draw():
        start = _time.perf_counter(); values = draw(); record["draw"] = _time.perf_counter() - start
        return values
    def timed_render():
        start = _time.perf_counter(); png = render(); record["encode"] = _time.perf_counter() - start
        record["png_bytes"] = len(png)
        return png
    def timed_refresh():
        start = _time.perf_counter(); refresh(); total = _time.perf_counter() - start
        __latency.append({"explorer": type(explorer).__name__, "callback": total,
                          "send": total - record["draw"] - record["encode"], **record})
    explorer.draw, explorer.renderer.render, explorer.refresh = timed_draw, timed_render, timed_refresh
# One explorer can have several names (its variable, IPython's Out[n] and _): instrument it once.
for _value in {id(v): v for v in list(globals().values()) if isinstance(v, _Explorer)}.values():
    __instrument(_value)
"""


def kernel_redraws(client) -> list[dict]:
    """Every instrumented explorer callback so far, in order (``INSTRUMENT``'s ``__latency``)."""
    return json.loads(run_in_kernel(client, "import json; print(json.dumps(__latency))"))


def kernel_client(lab: browser_test.Lab):
    """A client of the (one) running kernel, through the connection file the server wrote."""
    from jupyter_client import BlockingKernelClient
    from jupyter_core.paths import jupyter_runtime_dir

    (session,) = lab.api("/api/sessions")
    client = BlockingKernelClient(connection_file=str(Path(jupyter_runtime_dir())
                                                      / f"kernel-{session['kernel']['id']}.json"))
    client.load_connection_file()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    return client


def run_in_kernel(client, code: str) -> str:
    """Execute ``code`` in the lesson's kernel; returns what it printed (raises on an error)."""
    printed = []

    def collect(message):
        if message["msg_type"] == "stream":
            printed.append(message["content"]["text"])
        elif message["msg_type"] == "error":
            raise RuntimeError("\n".join(message["content"]["traceback"]))

    client.execute_interactive(code, output_hook=collect, timeout=60)
    return "".join(printed)


def press_and_time(page, explorer, handle, key: str) -> dict:
    """One key press on ``handle``; the page's timings of its redraw (ms)."""
    page.evaluate(ARM_PRESS, [explorer.element_handle()])
    handle.press(key)
    return page.evaluate("() => window.__press")


def slider_position(handle) -> tuple[float, float, float]:
    """The slider handle's value, minimum and maximum (its aria attributes, rounded to 0.1)."""
    return tuple(float(handle.get_attribute(f"aria-value{end}")) for end in ("now", "min", "max"))


def next_key(handle, key: str) -> str:
    """The same direction until the slider's end, then back: every press must move the slider."""
    value, low, high = slider_position(handle)
    if value >= high:
        return "ArrowLeft"
    return "ArrowRight" if value <= low else key


def press_a_burst(page, explorer, handle, presses: int, interval: float, quiet: float = 2.0) -> dict:
    """``presses`` presses ``interval`` s apart (a held key), then wait until no new PNG came for ``quiet`` s.

    Returns ``burst_summary`` of the page's times; its ``settle_ms`` (the last key that moved the
    slider -> the last new PNG) is how long the figure lags once the learner lets go.
    """
    value, low, high = slider_position(handle)
    key = "ArrowRight" if high - value >= value - low else "ArrowLeft"  # the side with more room
    handle.focus()
    page.evaluate(ARM_BURST, [explorer.element_handle(), handle.element_handle()])
    next_at = time.monotonic()
    for _ in range(presses):  # no round trips between presses but the key itself: a steady rate
        page.keyboard.press(key)
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))
    shown, since = -1, time.monotonic()
    while time.monotonic() - since < quiet:
        time.sleep(0.1)
        count = page.evaluate("() => window.__burst.srcs.length")
        if count != shown:
            shown, since = count, time.monotonic()
    return burst_summary(page.evaluate("() => window.__burst"))


def burst_summary(times: dict) -> dict:
    """A burst's page times (ms): key events, the slider's value before and after each, new PNGs."""
    keys, values = times["keys"], [times["before"], *times["values"]]
    moving = [at for at, old, new in zip(keys, values[:-1], values[1:], strict=True) if new != old]
    if not moving or not times["srcs"]:
        raise RuntimeError(f"the burst did not move the slider or redraw: {json.dumps(times)}")
    return {"presses": len(keys), "moves": len(moving), "pngs": len(times["srcs"]),
            "key_interval_ms": (keys[-1] - keys[0]) / max(len(keys) - 1, 1),
            "settle_ms": max(times["srcs"]) - moving[-1]}


def measure_lesson(chromium, lab: browser_test.Lab, notebook: Path, presses: int, pause: float,
                   burst: int = 0, interval: float = 0.03) -> dict:
    """Open ``notebook``, run it, press its main explorer's first slider ``presses`` times, then a burst."""
    page = browser_test.open_notebook(chromium, lab, notebook.name)
    try:
        browser_test.run_all_cells(page)
        errors = browser_test.errors_shown(page)
        if errors:
            raise RuntimeError(f"{notebook.name} shows errors:\n" + "\n".join(errors))
        explorer = browser_test.main_explorer(page)
        explorer.scroll_into_view_if_needed()
        handle = explorer.locator(".widget-slider .noUi-handle").first
        client = kernel_client(lab)
        run_in_kernel(client, INSTRUMENT)
        browser, key = [], "ArrowRight"
        for _ in range(presses):
            key = next_key(handle, key)
            browser.append(press_and_time(page, explorer, handle, key))
            time.sleep(pause)  # let the kernel and the page go idle: one press at a time
        kernel = kernel_redraws(client)
        bursts = None
        if burst:
            bursts = press_a_burst(page, explorer, handle, burst, interval)
            bursts["redraws"] = len(kernel_redraws(client)) - len(kernel)
        client.stop_channels()
    finally:
        page.close()
        browser_test.shut_down_kernels(lab)
    return {**combine(notebook.name, browser, kernel), "burst": bursts}


def measure_or_report(chromium, lab: browser_test.Lab, notebook: Path, args: argparse.Namespace) -> dict:
    """``measure_lesson``, or what went wrong, so that one broken lesson does not lose the others."""
    try:
        return measure_lesson(chromium, lab, notebook, args.presses, args.pause, args.burst, args.interval)
    except Exception as error:  # a failing cell, a timeout: reported with the results
        return {"notebook": notebook.name, "error": f"{type(error).__name__}: {error}"}


def combine(name: str, browser: list[dict], kernel: list[dict]) -> dict:
    """Per press: the page's times with the kernel's; the explorer is the one that redrew most."""
    main = statistics.mode(record["explorer"] for record in kernel)
    kernel = [record for record in kernel if record["explorer"] == main]
    if len(kernel) != len(browser):
        raise RuntimeError(f"{name}: {len(browser)} presses but {len(kernel)} redraws of {main}: "
                           f"{json.dumps(kernel)}")
    rows = []
    for page_times, callback in zip(browser, kernel, strict=True):
        row = {"total": page_times["paint"], "draw": 1e3 * callback["draw"],
               "encode": 1e3 * callback["encode"], "send": 1e3 * callback["send"],
               "browser": page_times["paint"] - page_times["src"],
               "png_kb": callback["png_bytes"] / 1e3}
        row["transport"] = page_times["src"] - 1e3 * callback["callback"]
        rows.append(row)
    return {"notebook": name, "explorer": main, "presses": rows}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(result: dict) -> dict:
    """Median, 95th percentile and max of the total; medians of each part (ms)."""
    rows = result["presses"]
    totals = [row["total"] for row in rows]
    parts = {part: statistics.median(row[part] for row in rows)
             for part in ("draw", "encode", "send", "transport", "browser", "png_kb")}
    return {"notebook": result["notebook"], "explorer": result["explorer"], "presses": len(rows),
            "median_ms": statistics.median(totals), "p95_ms": percentile(totals, 95), "max_ms": max(totals),
            "median_parts_ms": parts, "burst": result.get("burst")}


def print_table(summaries: list[dict]) -> None:
    print(f"{'lesson':<28} {'explorer':<18} {'median':>7} {'p95':>7} {'max':>7} | {'draw':>5} {'encode':>6} "
          f"{'send':>5} {'transport':>9} {'browser':>7} {'PNG kB':>6}")
    for row in summaries:
        parts = row["median_parts_ms"]
        print(f"{row['notebook']:<28} {row['explorer']:<18} {row['median_ms']:7.0f} {row['p95_ms']:7.0f} "
              f"{row['max_ms']:7.0f} | {parts['draw']:5.0f} {parts['encode']:6.0f} {parts['send']:5.0f} "
              f"{parts['transport']:9.0f} {parts['browser']:7.0f} {parts['png_kb']:6.1f}")
    for row in summaries:
        if row["burst"]:
            burst = row["burst"]
            print(f"{row['notebook']:<28} burst of {burst['presses']} presses "
                  f"({burst['key_interval_ms']:.0f} ms apart, {burst['moves']} moved the slider): "
                  f"{burst['redraws']} redraws, {burst['pngs']} new figures, "
                  f"the last {burst['settle_ms']:.0f} ms after the last moving key")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lessons", nargs="+", default=["01", "02", "03", "04", "05"],
                        help="notebook number prefixes (default: every lesson with an explorer)")
    parser.add_argument("--presses", type=int, default=30, help="key presses per lesson (default 30)")
    parser.add_argument("--pause", type=float, default=0.3, help="seconds between presses (default 0.3)")
    parser.add_argument("--burst", type=int, default=20,
                        help="then this many presses in a row, as a held key sends them (0: none; 20)")
    parser.add_argument("--interval", type=float, default=0.03,
                        help="seconds between the burst's presses (default 0.03: a held key's repeat rate)")
    parser.add_argument("--json", type=Path, help="also write the per-press timings here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    notebooks = [path for prefix in args.lessons
                 for path in sorted((ROOT / "notebooks").glob(f"{prefix}_*.ipynb"))]
    from playwright.sync_api import sync_playwright

    state = Path(tempfile.mkdtemp(prefix="widget-latency-"))
    shutil.copytree(ROOT / "notebooks", state / "notebooks")
    lab = browser_test.start_lab(state / "notebooks", state)
    try:
        with sync_playwright() as playwright:
            executable = browser_test.find_chromium(playwright)  # the browser test's choice
            if executable is None:
                raise SystemExit(browser_test.NO_CHROMIUM)
            chromium = playwright.chromium.launch(executable_path=str(executable),
                                                  args=browser_test.CHROMIUM_ARGS)
            results = [measure_or_report(chromium, lab, path, args) for path in notebooks]
            chromium.close()
    finally:
        browser_test.stop_lab(lab)
        shutil.rmtree(state, ignore_errors=True)
    summaries = [summary(result) for result in results if "error" not in result]
    failed = [result for result in results if "error" in result]
    print_table(summaries)
    for result in failed:
        print(f"{result['notebook']}: not measured: {result['error'][:2000]}", file=sys.stderr)
    report = {"load_average": os.getloadavg(), "cpus": os.cpu_count(), "lessons": summaries,
              "not_measured": [result["notebook"] for result in failed]}
    if args.json:
        args.json.write_text(json.dumps({**report, "per_press": results}, indent=1))
    print(json.dumps(report))
    if failed:
        raise SystemExit(1)
    return report


if __name__ == "__main__":
    main()
