"""PDF reading: CPU per page and the structure found, the layout loader against pypdf's flat text.

For each PDF: pypdf's ``extract_text`` (the previous loader; pypdf is a dev dependency), and
``retrievers.pdf.read_pdf`` (pdfminer.six layout analysis, then paragraphs, headings, tables and
running headers), in this process's CPU milliseconds per page (best of ``--runs``), with the
headings found and the share of chunks that carry a section. Without arguments it reads the test
fixtures; a ~50-page French file is made from the corpus with Chromium:

    python -c "import markdown_it_pyrs as m; t=open('../shared/corpora/python-docs-fr/library__stdtypes.md').read(); \
open('/tmp/s.html','w').write('<meta charset=utf-8><title>Types natifs</title>'+m.MarkdownIt('commonmark').render(t))"
    chromium --headless --no-sandbox --disable-gpu --user-data-dir=/tmp/chr --print-to-pdf=/tmp/s.pdf file:///tmp/s.html
    python -m benchmarks.bench_pdf /tmp/s.pdf
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

from benchmarks.common import print_table

FIXTURES = Path(__file__).parents[1] / "tests" / "fixtures" / "pdf"


def best_cpu(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(runs):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pdfs", nargs="*", type=Path, default=sorted(FIXTURES.glob("*.pdf")))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from pypdf import PdfReader

    from retrievers.pdf import read_pdf

    rows = []
    for path in args.pdfs:
        data = path.read_bytes()
        pages = len(PdfReader(io.BytesIO(data)).pages)
        old = best_cpu(lambda data=data: [p.extract_text() for p in PdfReader(io.BytesIO(data)).pages], args.runs)
        new = best_cpu(lambda data=data: read_pdf(data), args.runs)
        _, texts = read_pdf(data)
        flat = [p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages]
        headings = sum(line.startswith("#") for text in texts for line in text.split("\n\n"))
        rows.append(
            [
                path.name,
                str(pages),
                f"{old / pages * 1000:.0f} → {new / pages * 1000:.0f}",
                str(headings),
                f"{with_section(flat):.0%} → {with_section(texts):.0%}",
            ]
        )
    print_table(
        "pypdf extract_text → layout loader (CPU ms per page, best of runs)",
        ["file", "pages", "CPU ms/page", "# headings", "chunks with a section"],
        rows,
    )


def with_section(pages: list[str] | tuple[str, ...]) -> float:
    """Share of the chunks cut from these page texts that carry a section path."""
    from retrievers.chunking import chunk_document

    chunks = chunk_document(list(pages), chunk_size=1000, chunk_overlap=100, paginated=True)
    return sum(bool(c.section) for c in chunks) / max(len(chunks), 1)


if __name__ == "__main__":
    main()
