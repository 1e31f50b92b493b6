"""The HTML report (caseload.report, ``caseload report``) and the matplotlib charts."""

from __future__ import annotations

import html
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import caseload as cl
from caseload import report as rp
from caseload.breakdown import breakdown
from caseload.cli import main
from caseload.generate import generate_authority

_VOID = {"meta", "br", "hr", "img", "input", "link", "col", "wbr", "source", "area", "base"}
# Inside inline SVG, these are written self-closing (<rect .../>).
_SVG_EMPTY = {"rect", "line", "circle", "path", "polyline"}


class _Strict(HTMLParser):
    """Collects problems a lenient parser would swallow: unbalanced or stray tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in _VOID | _SVG_EMPTY:
            self.problems.append(f"self-closing <{tag}/>")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> _Strict:
    parser = _Strict()
    parser.feed(page)
    parser.close()
    assert parser.problems == []
    assert parser.stack == []
    return parser


@pytest.fixture(scope="module")
def small() -> tuple[cl.Instance, cl.Result]:
    inst = cl.Instance.from_dict(generate_authority("small", 0))
    return inst, cl.solve(inst, time_limit=3, threads=2)


@pytest.fixture(scope="module")
def written(
    small: tuple[cl.Instance, cl.Result], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    inst, result = small
    folder = tmp_path_factory.mktemp("report")
    path = rp.write_report(inst, result, folder / "report.html", tradeoff_seconds=1, threads=2)
    return path, path.read_text(encoding="utf-8")


def _figure(page: str, key: str) -> str:
    found = re.search(rf'id="fig-{key}">.*?<div class="value">(.*?)</div>', page)
    assert found, key
    return html.unescape(found.group(1))


def test_report_is_one_well_formed_self_contained_page(written: tuple[Path, str]) -> None:
    path, page = written
    parsed = _parse(page)
    assert page.startswith("<!DOCTYPE html>")
    # Nothing to fetch and nothing to run: the page opens offline, in any mail client.
    assert "script" not in parsed.tags and "img" not in parsed.tags and "link" not in parsed.tags
    for marker in ("http:", "https:", "src=", "@import", "url("):
        assert marker not in page
    assert parsed.tags.count("svg") >= 4
    for section in ("headline", "unallocated", "fairness", "tradeoffs", "capacity"):
        assert f'<section id="{section}">' in page
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]


def test_headline_figures_match_the_result(
    small: tuple[cl.Instance, cl.Result], written: tuple[Path, str]
) -> None:
    inst, result = small
    _, page = written
    assert _figure(page, "cases") == f"{len(inst.cases):,}"
    assert _figure(page, "allocated") == f"{len(result.assignments):,}"
    assert _figure(page, "unallocated") == f"{len(result.unallocated):,}"
    assert _figure(page, "statutory") == f"{result.objective['statutory']:,.0f}"
    assert _figure(page, "peak-utilisation") == f"{result.objective['balance']:.1f}%"
    assert _figure(page, "continuity") == f"{result.objective['continuity']:,.0f}"
    assert _figure(page, "check") == "passed"
    assert f"{result.objective['travel']:,.0f}" in _figure(page, "travel")


def test_every_unallocated_case_is_listed_by_id(
    small: tuple[cl.Instance, cl.Result], written: tuple[Path, str]
) -> None:
    _, result = small
    _, page = written
    assert result.unallocated, "the small authority should leave some cases out"
    ids = " ".join(re.findall(r'<p class="ids">(.*?)</p>', page))
    for case in result.unallocated:
        assert re.search(rf"\b{re.escape(case)}\b", ids), case
    # Allocated cases are not listed: the page names only the children it must.
    allocated = next(iter(result.assignments))
    assert not re.search(rf"\b{re.escape(allocated)}\b", ids)


def test_tradeoff_and_capacity_tables_are_filled(written: tuple[Path, str]) -> None:
    _, page = written
    tradeoffs = page.split('<section id="tradeoffs">')[1].split("</section>")[0]
    for cap in ("80%", "90%", "100%"):
        assert f"<td>{cap}</td>" in tradeoffs
    assert "FAILED" not in tradeoffs
    capacity = page.split('<section id="capacity">')[1].split("</section>")[0]
    assert capacity.count("<td>passed</td>") == 3  # confirm=3, each checked


def _hostile() -> tuple[cl.Instance, cl.Result]:
    m = cl.Model("<b>name</b>")
    here = m.add_locality("=cmd|' /c calc'!A1")
    t = m.add_case_type("cin_plan", points=4, must_allocate=True)
    m.add_worker('=HYPERLINK("x")', base=here, capacity=8, max_cases=2)
    m.add_case("<script>alert(1)</script>", type=t, location=here, points=9)  # fits nobody
    m.add_case("@sum(1)", type=t, location=here)
    m.add_case("ok-1", type=t, location=here)
    inst = m.data()
    return inst, cl.solve(inst, time_limit=2, threads=1)


def test_hostile_ids_are_escaped_and_formula_safe(tmp_path: Path) -> None:
    inst, result = _hostile()
    assert "<script>alert(1)</script>" in result.unallocated
    path = rp.write_report(inst, result, tmp_path / "r.html", tradeoff_seconds=0.5, threads=1)
    page = path.read_text(encoding="utf-8")
    parsed = _parse(page)
    assert "<script" not in page.lower() and "<b>name" not in page
    assert "script" not in parsed.tags
    text = "".join(parsed.text)
    assert "<script>alert(1)</script>" in text  # shown, as text
    # Formula-like ids are shown with the quote prefix spreadsheets treat as text.
    assert '=HYPERLINK("x")' not in text.replace("'=HYPERLINK", "")
    assert '\'=HYPERLINK("x")' in text
    assert "'=cmd|' /c calc'!A1" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    small: tuple[cl.Instance, cl.Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inst, result = small
    target = tmp_path / "report.html"
    target.write_text("old", encoding="utf-8")

    def refuse(src: str, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rp.os, "replace", refuse)
    with pytest.raises(OSError):
        rp.write_report(inst, result, target, tradeoff_seconds=None, capacity=False)
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    assert target.read_text(encoding="utf-8") == "old"


def test_switched_off_sections_say_so(small: tuple[cl.Instance, cl.Result]) -> None:
    inst, result = small
    page = rp.render_report(inst, result, tradeoff_seconds=None, capacity=False)
    _parse(page)
    assert "Not computed" in page.split('<section id="tradeoffs">')[1]
    assert "Not computed" in page.split('<section id="capacity">')[1]


# -- command line ------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(
    small: tuple[cl.Instance, cl.Result], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    inst, result = small
    folder = tmp_path_factory.mktemp("cli")
    cl.write_instance(inst, folder / "inst.json")
    result.write(folder / "res.json")
    return folder / "inst.json", folder / "res.json"


def test_cli_report(files: tuple[Path, Path], tmp_path: Path) -> None:
    inst, res = files
    out = tmp_path / "report.html"
    assert main(["report", str(inst), str(res), "-o", str(out), "--no-tradeoffs"]) == 0
    page = out.read_text(encoding="utf-8")
    _parse(page)
    assert _figure(page, "check") == "passed"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_cli_report_refuses_a_result_that_fails_the_check(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inst, res = files
    data = json.loads(res.read_text(encoding="utf-8"))
    data["assignments"][0]["worker"] = "nobody-at-all"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    out = tmp_path / "report.html"
    assert main(["report", str(inst), str(bad), "-o", str(out), "--no-tradeoffs"]) == 1
    err = capsys.readouterr().err
    assert "does not pass the check" in err and "nobody-at-all" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_cli_report_usage_errors(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inst, res = files
    out = str(tmp_path / "r.html")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    assert main(["report", str(inst), str(broken), "-o", out]) == 2
    assert main(["report", str(inst), str(res), "-o", out, "--tradeoff-seconds", "0"]) == 2
    assert main(["report", str(inst), str(res), "-o", str(tmp_path / "no" / "r.html")]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [broken]


# -- matplotlib charts -----------------------------------------------------------------


@pytest.fixture(scope="module")
def mpl() -> Any:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    return matplotlib


def test_plots_draw_on_the_given_axes(mpl: Any, small: tuple[cl.Instance, cl.Result]) -> None:
    from matplotlib.figure import Figure

    from caseload import plots

    inst, result = small
    fig = Figure()
    axes = fig.subplots(2, 2).ravel()
    assert plots.caseload_distribution(result, ax=axes[0]) is axes[0]
    assert len(axes[0].patches) > 0 and len(axes[0].lines) == 2  # bars, median, peak
    assert plots.utilisation_by_locality(inst, result, ax=axes[1]) is axes[1]
    drawn = [x for x in breakdown(inst, result).localities if x["cases"] or x["workers"]]
    assert len(axes[1].patches) == 3 * len(drawn)
    assert plots.unallocated_by_reason(result, inst, ax=axes[2]) is axes[2]
    heights = sum(p.get_height() for p in axes[2].patches)
    assert heights == len(result.unallocated)
    assert len(plots.caseload_distribution(result, kind="cases").patches) > 0
    assert len(plots.unallocated_by_reason(result).patches) == 3


def test_tradeoff_curve_highlights_the_front(
    mpl: Any, small: tuple[cl.Instance, cl.Result]
) -> None:
    import matplotlib.pyplot as plt

    from caseload import plots
    from caseload.tradeoffs import non_dominated, peak_front

    inst, result = small
    points = peak_front(inst, caps=(90, 100), time_limit=1, threads=2)
    before = plt.get_fignums()
    ax = plots.tradeoff_curve(points, "balance", current=result)
    front = ax.lines[0]
    assert len(front.get_xdata()) == len(non_dominated(points, "balance"))
    assert [line.get_label() for line in ax.lines][-1] == "current"
    assert len(ax.texts) == len(points)
    # A figure made without ax stays out of pyplot: nothing to show or close.
    assert plt.get_fignums() == before
    ax.figure.savefig(io.BytesIO(), format="png")
