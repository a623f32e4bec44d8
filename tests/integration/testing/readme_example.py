"""The README's "Testing your own DAGs" example as files: each ``python`` block there whose first line is
``# <path>`` is the file at that path of a user's project."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[3] / "README.md"
SECTION = "## Testing your own DAGs"
BLOCK = re.compile(r"```python\n# (?P<path>[\w./-]+\.py)\n(?P<body>.*?)```", re.S)


def example_files() -> dict[str, str]:
    """Relative path -> text, from the README's testing section (up to the next heading of its level)."""
    text = README.read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end != -1 else len(text)]
    files = {m["path"]: f"# {m['path']}\n{m['body']}" for m in BLOCK.finditer(section)}
    assert files, f"no file blocks in the README's {SECTION!r} section"
    return files


def write_project(root: Path) -> list[str]:
    """Write the example's files under ``root``; return their paths."""
    files = example_files()
    for path, body in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body)
    return sorted(files)
