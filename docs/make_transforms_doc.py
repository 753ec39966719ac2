"""Generate docs/transforms.md (and its before/after pictures) from the transform registry.

    python docs/make_transforms_doc.py          # rewrite docs/transforms.md and docs/img/transforms/*.jpg
    python docs/make_transforms_doc.py --check  # exit 1 when docs/transforms.md is stale (used by the tests)

Each picture is a photo from sample_data/ before and after the transform with its default
parameters (seed fixed), labels drawn, so a user can choose by looking."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "transforms.md"
IMG = ROOT / "docs" / "img" / "transforms"
PHOTO = "sample_data/yolo/images/train/astronaut.jpg"
DONOR_PHOTOS = ["sample_data/yolo/images/train/coffee.jpg", "sample_data/yolo/images/train/rocket.jpg",
                "sample_data/yolo/images/train/camera.jpg", "sample_data/yolo/images/val/chelsea.jpg"]
# Parameters a transform needs that have no default, and containers' children, for the pictures.
EXAMPLE = {
    "Resize": {"size": [192, 320]},
    "RandomResizedCrop": {"size": [256, 256], "scale": [0.3, 0.6]},
    "RandomCrop": {"size": [192, 192]},
    "CenterCrop": {"size": [192, 192]},
    "RandomSizedBBoxSafeCrop": {"size": [256, 256]},
    "Mosaic": {"size": [256, 256]},
    "LongestMaxSize": {"max_size": 192},
    "PadIfNeeded": {"min_size": [320, 320]},
    "Letterbox": {"size": [256, 320]},
}
CHILDREN = [{"type": "HorizontalFlip"}, {"type": "Rotate", "degrees": 20}, {"type": "Grayscale"}]


def _config(name: str, cls) -> dict:
    from augcli.transforms.meta import Container

    cfg = {"type": name, **EXAMPLE.get(name, {})}
    if issubclass(cls, Container):
        cfg["transforms"] = CHILDREN
    return cfg


def _yolo_sample(path: Path):
    import cv2
    import numpy as np

    from augcli.formats.yolo import parse_labels, read_schema

    image = cv2.imread(str(path))
    h, w = image.shape[:2]
    scale = 256 / max(h, w)
    image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    schema, _, _ = read_schema(ROOT / "sample_data" / "yolo")
    label = Path(str(path).replace("/images/", "/labels/")).with_suffix(".txt")
    objects, _ = parse_labels(label.read_text(), str(label), schema, (image.shape[1], image.shape[0]))
    from augcli.sample import Sample

    return Sample(np.ascontiguousarray(image), objects, schema)


def _draw(sample, width: int = 256):
    import cv2
    import numpy as np

    img = sample.image.copy()
    for cls, box in zip(sample.objects.classes, sample.objects.boxes):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        colour = [(0, 200, 255), (255, 120, 0), (80, 220, 80), (255, 0, 200)][int(cls) % 4]
        cv2.rectangle(img, (x1, y1), (x2 - 1, y2 - 1), colour, 2)
    h, w = img.shape[:2]
    scale = width / max(w, 1)
    img = cv2.resize(img, (width, max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return img


def _picture(name: str, cls) -> tuple[str, list[dict]]:
    import cv2
    import numpy as np

    from augcli.job import augment_sample
    from augcli.recipe import load_recipe

    sample = _yolo_sample(ROOT / PHOTO)
    donors = [(p, _yolo_sample(ROOT / p)) for p in DONOR_PHOTOS]
    recipe = load_recipe({"seed": 3, "labels": {"min_visibility": 0.25, "min_area": 16},
                          "pipeline": [_config(name, cls)]})
    out, ops, _ = augment_sample(sample, recipe, "doc", 1, lambda rng: donors[int(rng.integers(len(donors)))])
    before, after = _draw(sample), _draw(out)
    h = max(before.shape[0], after.shape[0])
    pad = lambda im: cv2.copyMakeBorder(im, 0, h - im.shape[0], 0, 0, cv2.BORDER_CONSTANT, value=(255, 255, 255))  # noqa: E731
    sheet = np.hstack([pad(before), np.full((h, 6, 3), 255, np.uint8), pad(after)])
    rel = f"img/transforms/{name}.jpg"
    cv2.imwrite(str(ROOT / "docs" / rel), sheet, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return rel, ops


def render(pictures: bool) -> str:
    from augcli.transforms.base import REQUIRED
    from augcli.transforms.registry import FAMILIES, FAMILY_TITLES, registry

    reg = registry()
    lines = ["# Transforms", "",
             "Generated from the transform registry by `python docs/make_transforms_doc.py`; do not edit by hand.",
             "Each picture shows a photo from `sample_data/` before (left) and after (right) the transform",
             "with its default parameters, labels drawn on both: boxes move exactly as the pixels move.",
             "Ranges `[lo, hi]` are sampled uniformly; a single value is fixed. `p` (default 1) is the",
             "probability of applying a transform. Run `augcli transforms NAME` for the same in a terminal.", ""]
    for family in FAMILIES:
        members = sorted(n for n, c in reg.items() if c.family == family)
        if members:
            lines.append(f"- [{FAMILY_TITLES[family]}](#{family}): " + ", ".join(members))
    lines.append("")
    for family in FAMILIES:
        members = sorted((n, c) for n, c in reg.items() if c.family == family)
        if not members:
            continue
        lines += [f'<a id="{family}"></a>', f"## {FAMILY_TITLES[family]}", ""]
        for name, cls in members:
            doc = " ".join((cls.__doc__ or "").split())
            lines += [f"### {name}", "", doc, ""]
            lines += ["| parameter | default | meaning |", "|---|---|---|"]
            for key, spec in cls.params.items():
                default = "required" if spec.default is REQUIRED else f"`{_yaml_word(spec.to_plain(spec.default))}`"
                meaning = f"{spec.help} ({spec.kind()})".replace("|", "\\|")  # a bare | would split the cell
                lines.append(f"| `{key}` | {default} | {meaning} |")
            lines.append("| `p` | `1.0` | probability of applying the transform |")
            lines.append("")
            rel = f"img/transforms/{name}.jpg"
            if pictures:
                rel, _ = _picture(name, cls)
            lines += [f"![{name}: before and after]({rel})", ""]
    return "\n".join(lines)


def _yaml_word(value) -> str:
    """A default as a recipe would write it, as `augcli transforms` shows it: none, true, false (not
    Python's None / True / False, which a copied recipe line would take as text)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when docs/transforms.md is stale")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.check:
        text = render(pictures=False)
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if current != text:
            print("docs/transforms.md is stale: run python docs/make_transforms_doc.py", file=sys.stderr)
            return 1
        return 0
    IMG.mkdir(parents=True, exist_ok=True)
    DOC.write_text(render(pictures=True), encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)} and {len(list(IMG.glob('*.jpg')))} pictures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
