"""The run report (`OUT/index.html`): its content, and the page driven in headless Chromium.

The run folder is written with the CLI's own record functions (`runs.Summary`,
`records.row`, `records.failure_row`) on generated photos, so the page reads exactly what a
run writes, without a model. The browser test talks to Chromium over the DevTools protocol
on 127.0.0.1 only, and writes a screenshot into `$TF_GRADCAM_ARTIFACTS` (default: the test's
temporary folder) as the CI artefact.
"""

import base64
import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request

import cv2
import numpy as np
import pytest

from tf_gradcam import files, records, report, runs, visualize

NAMES = ["square", "cross, X", "dog <b>&amp;"]   # class 2's name must be escaped
# image file name -> [(class, probability)] by rank; names with characters HTML must escape
EXPLAINED = {
    "b_cat.png": [(1, 0.91), (0, 0.05)],
    "a dog & co.png": [(2, 0.40), (1, 0.35)],
    "c<img src=x onerror=alert(1)>.png": [(0, 0.77), (2, 0.10)],
    "d_wide.png": [(1, 0.15), (0, 0.12)],
    "e_tall.png": [(0, 0.55), (1, 0.30)],
}
FAILED = {"broken.png": "a truncated or corrupt PNG (18 bytes); re-copy or re-export the file",
          "notes.heic": "skipped: unsupported format .heic"}


def make_run(out, photos, cwd):
    """A finished two-class run over EXPLAINED and FAILED, written like `explain` writes it."""
    photos.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    summary = runs.Summary(out, fresh=True)
    try:
        _write_rows(summary, out, photos, cwd, rng)
    finally:
        summary.close()
    (out / runs.RUN_FILE).write_text(json.dumps({
        "model": "/models/shapes <cnn>.keras", "method": "gradcam", "layer": None, "top": 2,
        "fit": "squash", "max_size": 2048, "cwd": str(cwd),
        "started": "2026-12-02T16:00:00+0000"}))
    return out


def _write_rows(summary, out, photos, cwd, rng):
    for n, (name, ranks) in enumerate(EXPLAINED.items()):
        height, width = (60 + 20 * n, 120 - 10 * n) if n % 2 else (90, 60 + 30 * n)
        photo = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        (photos / name).write_bytes(files.png_bytes(photo))
        rows = []
        for rank, (c, p) in enumerate(ranks, 1):
            heat = rng.uniform(0, 1, (8, 8))
            overlay = out / f"{pathlib.Path(name).stem}_class{c}_gradcam.png"
            overlay.write_bytes(files.png_bytes(visualize.overlay(
                photo, heat, caption=visualize.caption_text(NAMES[c], p, "gradcam", c))))
            item = records.Explained(rank, c, float(np.log(p)), p, heat)
            rows.append(records.row(os.path.relpath(photos / name, cwd), item, layer="conv3",
                                    method="gradcam", overlay=os.path.relpath(overlay, cwd),
                                    labels=NAMES, original_size=(height, width),
                                    note="grayscale converted to RGB" if n == 3 else ""))
        summary.append(rows)
    for name, error in FAILED.items():
        (photos / name).write_bytes(b"xx")
        summary.append([records.failure_row(os.path.relpath(photos / name, cwd), error)])


@pytest.fixture
def run_folder(tmp_path):
    return make_run(tmp_path / "out", tmp_path / "photos", tmp_path)


def cards_of(page):
    return re.findall(r"<article class='card'[^>]*>", page)


def test_page_has_a_card_per_image_failures_and_settings(run_folder):
    page = report.write_report(run_folder).read_text(encoding="utf-8")
    assert len(cards_of(page)) == len(EXPLAINED)
    assert "5 images explained, 1 failed, 1 skipped" in page
    for name, error in FAILED.items():
        assert f"<td>photos/{name}</td><td>{error}</td>" in page
    assert "91.0%" in page and "dog &lt;b&gt;&amp;amp; (2) 40.0%" in page  # name escaped
    assert "grayscale converted to RGB" in page
    assert "/models/shapes &lt;cnn&gt;.keras" in page        # settings from run.json
    # the original's size from the summary, on the card of the first image
    assert "original<span class='dim'> 60x90</span>" in page


def test_user_text_is_escaped_and_links_are_relative(run_folder):
    page = report.write_report(run_folder).read_text(encoding="utf-8")
    assert "<img src=x" not in page
    assert "c&lt;img src=x onerror=alert(1)&gt;.png" in page
    assert page.count("<script>") == 1                       # only the page's own script
    links = re.findall(r"(?:src|href)='([^']*)'", page)
    assert links and not [u for u in links if re.match(r"[a-z]+:|//", u)]   # no network
    for link in links:                                       # every link resolves
        target = run_folder / urllib.request.url2pathname(link)
        assert target.is_file(), link


def test_thumbnails_are_made_once(run_folder):
    report.write_report(run_folder)
    thumbs = sorted((run_folder / report.THUMBNAILS).iterdir())
    assert len(thumbs) == len(EXPLAINED) * 3                 # the original and two overlays
    assert max(max(cv2.imread(str(t)).shape[:2]) for t in thumbs) <= report.THUMBNAIL_SIZE
    stamps = [t.stat().st_mtime_ns for t in thumbs]
    report.write_report(run_folder)
    assert [t.stat().st_mtime_ns for t in sorted(thumbs)] == stamps


def test_missing_fields_show_as_dash_and_a_torn_line_is_ignored(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    rows = [{"image": "x.png", "rank": 1, "class_index": 3, "error": ""},   # old/partial row
            {"image": "y.png", "error": "boom"}]
    text = "".join(json.dumps(r) + "\n" for r in rows) + '{"image": "torn'
    (out / runs.SUMMARY_JSONL).write_text(text)
    page = report.write_report(out).read_text(encoding="utf-8")
    assert len(cards_of(page)) == 1
    assert "1. class 3 -" in page and "no preview" in page
    assert "<td>y.png</td><td>boom</td><td>-</td>" in page
    assert "no run.json" in page
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]


def test_an_empty_folder_gives_a_valid_page_and_a_file_is_refused(tmp_path):
    page = report.write_report(tmp_path).read_text(encoding="utf-8")
    assert "0 images explained, 0 failed, 0 skipped" in page and page.rstrip().endswith("</html>")
    with pytest.raises(ValueError, match="Received: out_dir="):
        report.write_report(tmp_path / "index.html")


# --- in a real browser --------------------------------------------------------------------

def _browser():
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class DevTools:
    """A headless Chromium driven over the DevTools protocol on 127.0.0.1."""

    def __init__(self, binary, folder):
        import websocket

        self.process = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             f"--user-data-dir={folder}", "--window-size=1400,1000", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = pathlib.Path(folder) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.close()
                raise RuntimeError("Chromium did not open its DevTools port")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            page = next(t for t in json.load(r) if t["type"] == "page")
        self.socket = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30)
        self.next_id, self.events = 0, []
        for domain in ("Runtime", "Log", "Page"):
            self.call(f"{domain}.enable")

    def call(self, method, **params):
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(e.get("method") == event for e in self.events):
                return
            self.socket.settimeout(max(0.1, deadline - time.monotonic()))
            self.events.append(json.loads(self.socket.recv()))
        raise TimeoutError(event)

    def open(self, url):
        """Load `url` as a new document (so a change of the #fragment alone reloads too)."""
        for target in ("about:blank", url):
            self.events.clear()
            self.call("Page.navigate", url=target)
            self.wait_for("Page.loadEventFired")
        self.socket.settimeout(30)

    def js(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def errors(self):
        """Console errors, uncaught exceptions and failed loads since the last `open`."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(params["exceptionDetails"].get("text"))
            elif method == "Runtime.consoleAPICalled" and params.get("type") in (
                    "error", "assert", "warning"):
                found.append(str(params.get("args")))
            elif method == "Log.entryAdded" and params["entry"]["level"] in ("error",
                                                                              "warning"):
                found.append(params["entry"].get("text"))
        return found

    def close(self):
        socket = getattr(self, "socket", None)
        if socket is not None:
            socket.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def browser():
    binary = _browser()
    if binary is None:
        pytest.skip("no Chromium/Chrome found (Debian: apt-get install chromium; .ci/run "
                    "installs it): the report's browser test needs one")
    pytest.importorskip("websocket", reason="websocket-client (in the test extra) drives "
                                            "Chromium over the DevTools protocol")
    folder = tempfile.mkdtemp(prefix="tf-gradcam-chromium-")
    tools = DevTools(binary, folder)
    yield tools
    tools.close()
    shutil.rmtree(folder, ignore_errors=True)


VISIBLE = ("Array.from(document.querySelectorAll('.card')).filter(c => !c.hidden)"
           ".map(c => c.querySelector('h3').textContent)")


def _set(browser, field, value):
    browser.js(f"(() => {{ const f = document.getElementById({json.dumps(field)}); "
               f"f.value = {json.dumps(value)}; f.dispatchEvent(new Event('change')); }})()")
    return browser.js(VISIBLE)


def _path(name):
    return f"photos/{name}"


def test_report_in_headless_chromium(run_folder, browser, tmp_path):
    page = report.write_report(run_folder)
    browser.open(page.resolve().as_uri())
    assert browser.errors() == []
    assert browser.js("document.querySelectorAll('.card').length") == len(EXPLAINED)
    assert browser.js("document.getElementById('count').textContent") == "showing 5 of 5 images"
    # every thumbnail decodes (they load lazily: load them all now)
    browser.js("Array.from(document.images).forEach(i => { i.loading = 'eager'; })")
    deadline = time.monotonic() + 20
    while not browser.js("Array.from(document.images).every(i => i.complete)"):
        assert time.monotonic() < deadline, "thumbnails did not load"
        time.sleep(0.1)
    assert browser.js("Array.from(document.images).filter(i => i.naturalWidth > 0).length") \
        == len(EXPLAINED) * 3
    assert browser.js("document.querySelectorAll('#problems tbody tr').length") == len(FAILED)

    top1 = {_path(n): ranks[0] for n, ranks in EXPLAINED.items()}
    by_probability = sorted(top1, key=lambda n: -top1[n][1])
    assert _set(browser, "sort", "probability") == by_probability
    assert _set(browser, "sort", "probability-low") == by_probability[::-1]
    assert _set(browser, "sort", "name") == sorted(top1, key=str.casefold)
    by_class = sorted(top1, key=lambda n: (NAMES[top1[n][0]].split(",")[0].casefold(),
                                           -top1[n][1]))
    assert _set(browser, "sort", "class") == by_class

    _set(browser, "sort", "order")
    with_class_2 = [_path(n) for n, ranks in EXPLAINED.items() if 2 in dict(ranks)]
    assert _set(browser, "class", "2") == with_class_2
    # with a class chosen, the probability filter applies to that class's probability
    assert _set(browser, "min", "30") == [_path("a dog & co.png")]
    _set(browser, "class", "")
    assert _set(browser, "min", "50") == [n for n in top1 if top1[n][1] >= 0.5]
    assert browser.js("document.getElementById('count').textContent") == "showing 3 of 5 images"
    assert browser.js("location.hash") == "#min=50"
    _set(browser, "min", "")
    assert _set(browser, "search", "dog") == [_path("a dog & co.png")]
    _set(browser, "search", "")

    # a link keeps the view: sort and filter from the address
    browser.open(page.resolve().as_uri() + "#sort=name&class=0")
    assert browser.js(VISIBLE) == sorted(
        [_path(n) for n, ranks in EXPLAINED.items() if 0 in dict(ranks)], key=str.casefold)
    assert browser.errors() == []

    browser.open(page.resolve().as_uri())
    artifacts = pathlib.Path(os.environ.get("TF_GRADCAM_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = browser.call("Page.captureScreenshot", format="png")["data"]
    (artifacts / "report.png").write_bytes(base64.b64decode(shot))
    assert cv2.imread(str(artifacts / "report.png")).shape[1] >= 800
