"""Small real documents built in memory, for loader, ingestion and upload tests."""

from __future__ import annotations

import io


def make_pdf(text: str, title: str | None = None) -> bytes:
    """A one-page PDF with real text, written by hand (pypdf cannot lay out text); ``title``
    goes into the document's metadata."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    if title is None:
        return out.getvalue()
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(out.getvalue())))
    writer.add_metadata({"/Title": title})
    with_title = io.BytesIO()
    writer.write(with_title)
    return with_title.getvalue()


def make_docx(
    heading: str | None, first: str, *more: str, table: list[list[str]] | None = None, title: str = ""
) -> bytes:
    """A Word document: an optional level-1 heading, a paragraph, an optional table, then more
    paragraphs; ``title`` goes into the core properties."""
    import docx

    document = docx.Document()
    document.core_properties.title = title
    if heading:
        document.add_heading(heading, level=1)
    document.add_paragraph(first)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for row, values in zip(grid.rows, table, strict=True):
            for cell, value in zip(row.cells, values, strict=True):
                cell.text = value
    for paragraph in more:
        document.add_paragraph(paragraph)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def make_scanned_pdf(source: bytes, pages: list[int] | None = None, dpi: int = 300) -> bytes:
    """An image-only PDF, as a scanner makes: the source PDF's pages (all, or these 0-based ones)
    rendered by PDFium to grayscale images, saved by Pillow one image a page, without any text."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(source)
    try:
        images = [document[i].render(scale=dpi / 72, grayscale=True).to_pil() for i in (pages if pages is not None else range(len(document)))]
    finally:
        document.close()
    out = io.BytesIO()
    images[0].save(out, "PDF", resolution=dpi, save_all=True, append_images=images[1:])
    return out.getvalue()


def join_pdfs(*parts: tuple[bytes, int]) -> bytes:
    """One PDF of the given (PDF, 0-based page) pairs, in order: a text page beside a scanned one."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for data, page in parts:
        writer.add_page(PdfReader(io.BytesIO(data)).pages[page])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
