"""`cineseq demo` as a user starts it: its own process, bound to 127.0.0.1 unless told otherwise."""

import os
import signal
import subprocess
import sys
import time

import httpx


def _start(storage, port, *extra):
    env = dict(os.environ, CINESEQ_STORAGE=str(storage))
    return subprocess.Popen([sys.executable, "-m", "cineseq_assets.cli", "demo", "--port", str(port), *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_until_served(url: str, process, seconds: float = 90) -> httpx.Response:
    deadline = time.time() + seconds
    while time.time() < deadline:
        assert process.poll() is None, process.stderr.read()
        try:
            return httpx.get(url, timeout=2)
        except httpx.HTTPError:
            time.sleep(0.3)
    raise AssertionError(f"nothing answered on {url} within {seconds} s")


def test_cineseq_demo_serves_on_localhost_and_stops_on_sigint(demo_storage, port):
    process = _start(demo_storage, port)
    try:
        response = _wait_until_served(f"http://127.0.0.1:{port}/", process)
        assert response.status_code == 200 and "CineSeq" in response.text
        api = httpx.get(f"http://127.0.0.1:{port}/gradio_api/info", timeout=10).json()
        assert set(api["named_endpoints"]) == {"/forecast", "/new_film", "/model"}
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
    assert f"CineSeq demo: http://127.0.0.1:{port}" in out


def test_another_address_is_passed_on_with_a_warning(monkeypatch, capsys):
    """Checked without binding anything: tests serve on 127.0.0.1 only."""
    import demo.app
    from cineseq_assets.cli import main

    calls = []
    monkeypatch.setattr(demo.app, "launch", lambda host, port: calls.append((host, port)))
    assert main(["demo", "--host", "0.0.0.0", "--port", "9999"]) == 0
    assert calls == [("0.0.0.0", 9999)]
    assert "anyone who can reach this address can use the demo" in capsys.readouterr().err
