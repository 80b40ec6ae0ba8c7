"""The docs stay true to the tree: the code map names every module and package, and every relative link works."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "bluetick"
CODE_MAP = ROOT / "docs" / "code.md"
DOCS = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CHECKOUT_FOLDERS = ["simulator/", "bench/", "tests/", "docs/"]


def modules_and_packages() -> set[str]:
    modules = {p.name for p in PACKAGE.glob("*.py")}
    packages = {f"{p.name}/" for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("__")}
    return modules | packages


def test_the_code_map_names_every_module_and_package_and_nothing_gone():
    listed = set(re.findall(r"^\| `([\w./]+)` \|", CODE_MAP.read_text(), re.M))
    service = {name for name in listed if (PACKAGE / name.rstrip("/")).exists() or name.endswith((".py", "/"))}
    missing = modules_and_packages() - listed
    assert not missing, f"docs/code.md does not list: {sorted(missing)}"
    gone = {n for n in service if not (PACKAGE / n.rstrip("/")).exists() and not (ROOT / n.rstrip("/")).exists()}
    assert not gone, f"docs/code.md lists what no longer exists: {sorted(gone)}"


def test_the_code_map_names_the_checkouts_folders():
    listed = set(re.findall(r"^\| `([\w./]+)` \|", CODE_MAP.read_text(), re.M))
    missing = [folder for folder in CHECKOUT_FOLDERS if folder not in listed]
    assert not missing, f"docs/code.md does not list: {missing}"


def heading_anchors(doc: Path) -> set[str]:
    """The anchors a Markdown renderer makes of a file's headings (lower case, punctuation gone, spaces as dashes)."""
    headings = re.findall(r"^#+ (.*)$", doc.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_every_anchor_of_the_docs_names_a_heading_of_its_file():
    broken = []
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
            path, _, anchor = target.partition("#")
            if not anchor or target.startswith(("http://", "https://", "mailto:")):
                continue
            linked = doc.parent / path if path else doc
            if linked.suffix == ".md" and anchor not in heading_anchors(linked):
                broken.append(f"{doc.relative_to(ROOT)}: {target}")
    assert not broken, broken


def test_every_relative_link_of_the_docs_points_at_a_file_that_exists():
    broken = []
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
            if target.startswith(("http://", "https://", "mailto:", "#")):
                continue
            path = target.split("#")[0]
            if not (doc.parent / path).exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target}")
    assert not broken, broken


def test_the_readme_is_a_door():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    setup = readme.split("\n## Set-up\n")[1].split("\n## ")[0]
    assert re.findall(r"^```sh\n(.*?)```", setup, re.M | re.S)[0] == "pip install -r requirements.txt\npython main.py\n"
    assert "src/bluetick/sql/functions/apply_batch.sql" in readme
