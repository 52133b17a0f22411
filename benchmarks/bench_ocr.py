"""OCR of scanned PDF pages: CPU seconds and wall seconds per page, and how much of the text comes back.

Each test fixture (Chromium-printed French) is scanned in memory as the tests do (rendered at
300 dpi, saved as an image-only PDF), then read by ``retrievers.ocr.read_pages``. CPU counts this
process and the tesseract processes it ran. The words of the layout reading of the original are
the reference: "words found" is the share of them (accents included) that the OCR text holds.

    python -m benchmarks.bench_ocr
"""

from __future__ import annotations

import argparse
import re
import resource
import time
from collections import Counter
from pathlib import Path

from benchmarks.common import print_table

FIXTURES = Path(__file__).parents[1] / "tests" / "fixtures" / "pdf"
WORD = re.compile(r"[^\W\d_]+")


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pdfs", nargs="*", type=Path, default=sorted(FIXTURES.glob("*.pdf")))
    args = parser.parse_args()

    from retrievers.ocr import OcrOptions, read_pages
    from retrievers.pdf import read_pdf
    from tests.support.documents import make_scanned_pdf

    rows = []
    for path in args.pdfs:
        original = path.read_bytes()
        _, reference = read_pdf(original)
        scan = make_scanned_pdf(original)
        pages = len(reference)
        cpu, wall = _cpu(), time.perf_counter()
        texts = read_pages(scan, list(range(pages)), OcrOptions())
        cpu, wall = _cpu() - cpu, time.perf_counter() - wall
        expected = Counter(w.lower() for text in reference for w in WORD.findall(text))
        found = Counter(w.lower() for text in texts for w in WORD.findall(text))
        recall = sum((expected & found).values()) / max(sum(expected.values()), 1)
        rows.append([path.name, str(pages), f"{cpu / pages:.2f}", f"{wall / pages:.2f}", f"{recall:.1%}"])
    print_table(
        "OCR at 300 dpi, Tesseract fra+eng, one thread (per page)",
        ["file", "pages", "CPU s/page", "wall s/page", "words found"],
        rows,
    )


if __name__ == "__main__":
    main()
