"""The distribution's Chromium, headless, driven over the DevTools protocol (a WebSocket): open a
page at phone size, run JavaScript in it, read its accessibility tree, tap an element, take a
screenshot. No browser download, no driver binary: only `chromium` from the distribution's
packages (.ci/run installs it) and websocket-client.

    with Browser(tmp_path) as b:
        b.open("http://127.0.0.1:8425/a/...", width=360, height=740)
        b.evaluate("document.dir"), b.accessibility(), b.tap("button"), b.screenshot(path)

`Unavailable` when there is no Chromium or it cannot start: the caller skips, unless
CASELOAD_BROWSER_REQUIRED is set (CI sets it where it installed Chromium), then it fails."""

import base64
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAMES = ("chromium", "chromium-browser")


class Unavailable(Exception):
    pass


def artifacts_dir(*parts: str) -> Path:
    """Where tests keep what a person may want to look at afterwards (git-ignored)."""
    path = Path(os.environ.get("CASELOAD_ARTIFACTS") or ROOT / "test-artifacts").joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


class Browser:
    def __init__(self, tmp: Path, timeout: float = 30):
        exe = next((p for p in map(shutil.which, NAMES) if p), None)
        if exe is None:
            raise Unavailable("no chromium on PATH")
        try:
            import websocket
        except ImportError as e:
            raise Unavailable(f"websocket-client is not installed: {e}") from None
        self.timeout = timeout
        self.profile = tmp / "chromium-profile"
        self.log = open(tmp / "chromium.log", "w+b")
        args = [exe, "--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking", "--disable-sync",
                "--disable-dev-shm-usage", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
                f"--user-data-dir={self.profile}", "about:blank"]
        if os.geteuid() == 0:  # Chromium refuses to sandbox itself as root
            args.insert(1, "--no-sandbox")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        self.ws = None
        try:
            port = self._port()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as r:
                page = next(t for t in json.load(r) if t["type"] == "page")
            self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=timeout, suppress_origin=True)
        except Exception as e:
            self.close()
            raise Unavailable(f"chromium did not start: {e}\n{self.output()[-2000:]}") from None
        self._id = 0
        self.events: list[dict] = []
        self.send("Page.enable")
        self.send("Accessibility.enable")

    def _port(self) -> int:
        active = self.profile / "DevToolsActivePort"
        end = time.monotonic() + self.timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"exit status {self.proc.returncode}")
            if active.exists():
                first = active.read_text().split("\n")[0].strip()
                if first.isdigit():
                    return int(first)
            time.sleep(0.05)
        raise RuntimeError("no DevTools port")

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def send(self, method: str, **params):
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_event(self, name: str) -> dict:
        end = time.monotonic() + self.timeout
        while time.monotonic() < end:
            for i, e in enumerate(self.events):
                if e["method"] == name:
                    return self.events.pop(i)
            msg = json.loads(self.ws.recv())
            if "method" in msg:
                self.events.append(msg)
        raise AssertionError(f"timed out waiting for {name}")

    def open(self, url: str, width: int = 360, height: int = 740) -> None:
        """Load `url` in a phone-sized viewport (CSS pixels; a touch screen at 2x)."""
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=2, mobile=True)
        self.send("Emulation.setTouchEmulationEnabled", enabled=True, maxTouchPoints=1)
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails'].get('text')}"
                               f" {result['exceptionDetails'].get('exception', {}).get('description', '')}")
        return result["result"].get("value")

    def accessibility(self) -> list[tuple[str, str]]:
        """(role, accessible name) of every node a screen reader sees."""
        nodes = self.send("Accessibility.getFullAXTree")["nodes"]
        return [(n.get("role", {}).get("value", ""), n.get("name", {}).get("value", ""))
                for n in nodes if not n.get("ignored")]

    def tap(self, selector: str) -> None:
        """A finger on the middle of the element (touch events, as on a phone), then wait for the
        page it leads to."""
        box = self.evaluate(f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
                            ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        self.events.clear()
        point = [{"x": box[0], "y": box[1]}]
        self.send("Input.dispatchTouchEvent", type="touchStart", touchPoints=point)
        self.send("Input.dispatchTouchEvent", type="touchEnd", touchPoints=[])
        self.wait_event("Page.loadEventFired")

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        if self.ws is not None:
            try:
                self.ws.close()
            except Exception:
                pass
            self.ws = None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
