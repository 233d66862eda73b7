"""The demo's report in a real headless browser: it loads with no console errors, every
figure renders, and screenshots of the page top at laptop and phone widths are saved.

Needs Debian's chromium (``./scripts/check`` installs it when apt is available); the test is
skipped, saying why, when no chromium is on PATH.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from helpers import CHROMIUM, CHROMIUM_FLAGS, FAST, needs_chromium

from trainwell.cli import main

pytestmark = needs_chromium
FLAGS = [
    *CHROMIUM_FLAGS,
    "--hide-scrollbars",
]


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """The README demo: breast cancer, default settings except the FAST epochs."""
    out = tmp_path_factory.mktemp("demo") / "run"
    with pytest.raises(SystemExit) as done:
        main(
            [
                "fit",
                str(data_dir / "breast_cancer.csv"),
                "--target",
                "target",
                "--out",
                str(out),
                "-q",
                *FAST,
            ]
        )
    assert done.value.code == 0
    return out / "report.html"


def chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_report_loads_without_errors_and_every_figure_renders(
    demo_report: Path, tmp_path: Path
) -> None:
    html = demo_report.read_text()
    figures = html.count("<figure><img")
    assert figures >= 10  # class balance, inputs, curves, LR, grad norm, 4 eval, importance…
    done = chromium(
        [
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
            "--dump-dom",
            demo_report.as_uri(),
        ],
        tmp_path / "profile",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    body = re.search(r"<body[^>]*>", done.stdout)
    assert body is not None, done.stdout[:500]
    # Set by the page's own script after the load event: decoded images / all images, and the
    # count of error events and Content-Security-Policy violations (any network request).
    assert f'data-figures="{figures}/{figures}"' in body.group(0)
    assert 'data-errors="0"' in body.group(0)
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert console == []


@pytest.mark.parametrize(
    ("device", "width", "height"), [("laptop", 1366, 900), ("phone", 390, 844)]
)
def test_screenshot_of_the_page_top(
    demo_report: Path, tmp_path: Path, device: str, width: int, height: int
) -> None:
    shot = demo_report.parent / f"report-{device}.png"
    done = chromium(
        [f"--window-size={width},{height}", f"--screenshot={shot}", demo_report.as_uri()],
        tmp_path / "profile",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (width, height)
        colours = image.convert("L").getextrema()
    assert colours[0] < 100 < colours[1]  # text on a light page, not a blank image
