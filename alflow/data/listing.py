"""Which files under a dataset root are images, and why each image that is not used is left out.

Builders pick their images by layout rules (patterns, extensions, mask names); every other file
that looks like an image (a suffix Pillow knows, or content Pillow identifies) is reported with
the reason it was left out, so nothing is dropped without a word. Folders are walked following
symbolic links (a link to a folder of batches is common); a link back up the tree is walked once.
"""
from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from PIL import Image

log = logging.getLogger("alflow")

# Suffixes of formats Pillow can open (".png", ".jpg", ".tif", ".jp2", ...; not save-only ones like .pdf).
Image.init()
PILLOW_SUFFIXES = frozenset(ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN)


def walk_files(root: Path) -> list[Path]:
    """Every file under ``root`` at any depth, following links to folders, sorted.

    Paths keep the names they are seen under (through a link, not resolved). A folder reached
    twice (a link loop, or two links to one folder) is walked only the first time.
    """
    seen: set[str] = set()
    files: list[Path] = []
    for here, dirs, names in os.walk(root, followlinks=True):
        real = os.path.realpath(here)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        files += [Path(here) / n for n in names if os.path.isfile(os.path.join(here, n))]
    return sorted(files)


def glob_regex(pattern: str, from_right: bool = False) -> re.Pattern:
    """A case-insensitive regex for a ``/``-separated glob on relative POSIX paths.

    ``*`` and ``?`` stay within one path part, ``[...]`` is a character class, a ``**`` part is
    any number of folders. ``from_right``: the pattern may match the last parts of the path
    only (as ``PurePath.match`` does), so ``*_GT.png`` matches at any depth.
    """
    out = []
    for part in pattern.strip("/").split("/"):
        if part == "**":
            out.append("(?:[^/]+/)*")
            continue
        i, piece = 0, ""
        while i < len(part):
            c = part[i]
            if c == "*":
                piece += "[^/]*"
            elif c == "?":
                piece += "[^/]"
            elif c == "[" and "]" in part[i + 2:]:  # a class; an unclosed "[" is a literal
                end = part.index("]", i + 2)
                body = part[i + 1:end]
                piece += "[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]"
                i = end
            else:
                piece += re.escape(c)
            i += 1
        out.append(piece + "/")
    body = "".join(out)
    body = body[:-1] if body.endswith("/") else body + "[^/]+"  # a trailing ** must still name a file
    return re.compile(("(?:.*/)?" if from_right else "") + body + r"\Z", re.IGNORECASE)


def looks_like_image(path: Path) -> bool:
    """True when ``path``'s suffix is one Pillow opens, or Pillow identifies its content."""
    if path.suffix.lower() in PILLOW_SUFFIXES:
        return True
    try:
        with Image.open(path):  # reads the header only
            return True
    except Exception:  # not an image (or unreadable): nothing to report as a left-out image
        return False


def report_left_out(name: str, left_out: dict[str, str], others: int = 0) -> None:
    """One warning listing each left-out image file with its reason, and a count of non-image files."""
    if left_out:
        counts = Counter(left_out.values())
        lines = [f"{path}: {reason}" for path, reason in sorted(left_out.items())]
        shown = "\n  ".join(lines[:50]) + (f"\n  ... and {len(lines) - 50} more" if len(lines) > 50 else "")
        log.warning("%s: %d image files under dataset.root are not used (%s):\n  %s", name, len(left_out),
                    "; ".join(f"{n} {reason}" for reason, n in counts.most_common()), shown)
    if others:
        log.info("%s: %d files that are not images were ignored", name, others)


def unused_images(root: Path, used: Iterable[Path], reason: str) -> tuple[dict[str, str], int]:
    """Image-looking files under ``root`` that are not in ``used``, each with ``reason``; and the
    number of other (non-image) files."""
    taken = {os.path.abspath(p) for p in used}
    left_out: dict[str, str] = {}
    others = 0
    for path in walk_files(root):
        if os.path.abspath(path) in taken:
            continue
        if looks_like_image(path):
            left_out[str(path)] = reason
        else:
            others += 1
    return left_out, others
