"""`landform report` in a real headless browser (Debian's chromium), driven over the DevTools protocol.

A two-run sweep is run and reported; chromium (kept off the network) opens the report and the
test checks that the page loads without console errors or failed requests, that every figure
(`<figure>` with an `<img>` data URI) is present and decoded (naturalWidth > 0), and takes a
screenshot (``<tmp>/report.png``, its path printed; copied to ``$LANDFORM_SCREENSHOTS`` when
that is set). The DevTools client is the standard library's: a WebSocket over a socket.

Skipped when no chromium is installed (``apt-get install -y chromium``).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "volume" / "swiss_roll_low_data.yaml"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    configured = os.environ.get("LANDFORM_CHROMIUM")
    if configured:
        return configured
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


class DevTools:
    """A minimal Chrome DevTools Protocol client over one WebSocket (RFC 6455, client side)."""

    def __init__(self, url: str, timeout: float = 60.0):
        assert url.startswith("ws://")
        host_port, _, path = url[5:].partition("/")
        host, _, port = host_port.partition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /{path} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = self.sock.recv(4096)
            assert chunk, "DevTools closed the connection during the handshake"
            response += chunk
        head, _, self.buffer = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        self.next_id = 0
        self.events: list[dict] = []

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(1 << 20)
            assert chunk, "DevTools closed the connection"
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def _message(self) -> dict:
        parts = []
        while True:
            first, second = self._read(2)
            opcode, n = first & 0x0F, second & 0x7F
            if n == 126:
                (n,) = struct.unpack(">H", self._read(2))
            elif n == 127:
                (n,) = struct.unpack(">Q", self._read(8))
            mask = self._read(4) if second & 0x80 else None
            payload = self._read(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 9:  # ping
                self._send_frame(10, payload)
                continue
            if opcode == 8:
                raise ConnectionError("DevTools closed the WebSocket")
            parts.append(payload)
            if first & 0x80:
                return json.loads(b"".join(parts))

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        ident = self.next_id
        self._send_frame(1, json.dumps({"id": ident, "method": method, "params": params}).encode())
        while True:
            message = self._message()
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        for index, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(index)
        while time.monotonic() < deadline:
            message = self._message()
            if message.get("method") == method:
                return message
            self.events.append(message)
        raise TimeoutError(method)

    def close(self) -> None:
        try:
            self._send_frame(8, b"")
        finally:
            self.sock.close()


@pytest.fixture
def browser(tmp_path):
    """A headless chromium kept off the network; yields a DevTools connection to its page."""
    executable = find_browser()
    if executable is None:
        pytest.skip("no chromium installed (Debian: apt-get install -y chromium; or set LANDFORM_CHROMIUM)")
    profile = tmp_path / "chromium-profile"
    process = subprocess.Popen(
        [
            executable,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            "--proxy-server=127.0.0.1:9",
            f"--user-data-dir={profile}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "--window-size=1200,900",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()) and time.monotonic() < deadline:
            assert process.poll() is None, "chromium exited during start-up"
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # straight to 127.0.0.1
        targets = json.loads(opener.open(f"http://127.0.0.1:{port}/json/list", timeout=30).read())
        page = next(t for t in targets if t.get("type") == "page")
        tools = DevTools(page["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Log", "Network"):
            tools.call(f"{domain}.enable")
        yield tools
        tools.close()
    finally:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)


def load(tools: DevTools, path: Path) -> list[str]:
    """Open ``path``; returns every problem seen: console errors, exceptions, non-local requests."""
    tools.events.clear()
    tools.call("Page.navigate", url=path.resolve().as_uri())
    tools.wait_for("Page.loadEventFired")
    tools.call("Runtime.evaluate", expression="new Promise(r => setTimeout(r, 300))", awaitPromise=True)  # late errors
    problems = []
    for event in tools.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            problems.append(
                f"exception: {params['exceptionDetails'].get('text')} "
                f"{params['exceptionDetails'].get('exception', {}).get('description', '')}"
            )
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            problems.append(
                "console.error: " + " ".join(str(a.get("value", a.get("description"))) for a in params.get("args", []))
            )
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            problems.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if not url.startswith(("file:", "data:", "about:")):
                problems.append(f"network request: {url}")
        elif method == "Network.loadingFailed":
            problems.append(f"failed to load: {params.get('errorText')}")
    return problems


FIGURES = """(async () => {
  const figures = [...document.querySelectorAll('figure')];
  const images = figures.map(f => f.querySelector('img')).filter(Boolean);
  await Promise.all(images.map(img => img.decode().catch(e => null)));
  return JSON.stringify({
    figures: figures.length,
    images: images.map(img => ({data: img.src.startsWith('data:image/'), complete: img.complete,
                                width: img.naturalWidth, height: img.naturalHeight, alt: img.alt})),
    tables: document.querySelectorAll('table').length,
    title: document.title,
  });
})()"""


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def sweep_report(tmp_path_factory):
    """A two-run volume sweep (quick variant, shrunk) and its `landform report`."""
    from typer.testing import CliRunner

    from landform.cli import app

    folder = tmp_path_factory.mktemp("report")
    file = folder / "report-sweep.yaml"
    file.write_text(
        f"""name: report-sweep
config: {CONFIG}
variant: quick
folder: out
set:
  volume.directions: 8
  volume.bootstrap: 5
  data.levels: [0, 30]
  data.options: {{n_train: 200, n_test: 200, noise: 0.3}}
  train.epochs: 50
  train.learning_rate: 0.01
  train.eval_every: 25
grid:
  volume.thresholds: [0.6, 0.8]
seeds: [0]
"""
    )
    runner = CliRunner()
    result = runner.invoke(app, ["sweep", "run", str(file)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["report", str(folder / "out")])
    assert result.exit_code == 0, result.output
    report = folder / "out" / "report.html"
    assert report.is_file()
    return folder / "out", report


def test_the_sweep_report_is_self_contained(sweep_report):
    folder, report = sweep_report
    text = report.read_text()
    # every run's figures and the sweep's own, embedded; no external resources
    run_figures = sorted(folder.glob("runs/*/figures/*.png"))
    assert len(run_figures) >= 2 * 3
    assert text.count("<figure") == len(run_figures) + len(list(folder.glob("figures/*.png")))
    assert 'src="http' not in text and "src='http" not in text and "<link" not in text and "<script" not in text
    assert "Table: volumes (collected)" in text and "volume.thresholds=0.6__seed=0" in text


def test_report_loads_in_chromium_without_errors_with_every_figure_decoded(browser, sweep_report, tmp_path):
    folder, report = sweep_report
    # the error checks see errors: a page with a console error and a broken image is caught
    broken = tmp_path / "broken.html"
    broken.write_text(
        "<html><body><script>console.error('deliberate')</script>"
        "<figure><img src='data:image/png;base64,AAAA'></figure></body></html>"
    )
    caught = load(browser, broken)
    assert any("deliberate" in p for p in caught), caught
    state = json.loads(
        browser.call("Runtime.evaluate", expression=FIGURES, awaitPromise=True, returnByValue=True)["result"]["value"]
    )
    assert state["images"][0]["width"] == 0

    problems = load(browser, report)
    assert problems == []
    state = json.loads(
        browser.call("Runtime.evaluate", expression=FIGURES, awaitPromise=True, returnByValue=True)["result"]["value"]
    )
    expected = report.read_text().count("<figure")
    assert state["figures"] == expected >= 8
    assert len(state["images"]) == expected
    for image in state["images"]:
        assert image["data"] and image["complete"] and image["width"] > 0 and image["height"] > 0, image
    assert state["tables"] >= 2 and state["title"] == "Sweep: report-sweep"

    metrics = browser.call("Page.getLayoutMetrics")
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    height = min(int(size["height"]), 12000)
    shot = browser.call(
        "Page.captureScreenshot",
        format="png",
        captureBeyondViewport=True,
        clip={"x": 0, "y": 0, "width": int(size["width"]), "height": height, "scale": 1},
    )
    data = base64.b64decode(shot["data"])
    width, rows = png_size(data)
    assert width > 500 and rows > 900
    screenshot = tmp_path / "report.png"
    screenshot.write_bytes(data)
    target = os.environ.get("LANDFORM_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, Path(target) / "report.png")
    print(f"screenshot of the report: {screenshot} ({width}x{rows})")


def test_run_folder_report_loads_in_chromium(browser, sweep_report):
    from typer.testing import CliRunner

    from landform.cli import app

    folder, _ = sweep_report
    run = folder / "runs" / "volume.thresholds=0.6__seed=0"
    result = CliRunner().invoke(app, ["report", str(run)])
    assert result.exit_code == 0, result.output
    overview = run / "overview.html"
    assert load(browser, overview) == []
    state = json.loads(
        browser.call("Runtime.evaluate", expression=FIGURES, awaitPromise=True, returnByValue=True)["result"]["value"]
    )
    assert state["figures"] == len(list(run.glob("figures/*.png"))) > 0
    assert all(image["width"] > 0 for image in state["images"])
    # the study's captions are kept
    assert "fixed" in overview.read_text() and "Configuration" in overview.read_text()
