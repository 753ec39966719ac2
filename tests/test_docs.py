"""Documentation generated from the code stays in step with it."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location("make_transforms_doc", ROOT / "docs" / "make_transforms_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_transforms_doc_is_not_stale():
    text = _generator().render(pictures=False)
    current = (ROOT / "docs" / "transforms.md").read_text(encoding="utf-8")
    assert current == text, "docs/transforms.md is stale: run python docs/make_transforms_doc.py"


def test_every_transform_has_its_picture():
    from augcli.transforms.registry import registry

    text = (ROOT / "docs" / "transforms.md").read_text(encoding="utf-8")
    pictures = re.findall(r"\]\((img/transforms/[^)]+)\)", text)
    assert len(pictures) == len(registry())
    for rel in pictures:
        assert (ROOT / "docs" / rel).is_file(), rel


def test_readme_commands_name_real_files():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in set(re.findall(r"(configs/[\w.-]+\.yaml|sample_data/[\w-]+(?:\.md)?)", readme)):
        assert (ROOT / path).exists(), path
