"""Scanned PDFs read by Tesseract: real scans made in the test from the Chromium-printed fixtures
(tests/fixtures/pdf/), rendered to images and saved as image-only PDFs, then read back."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from retrievers import ocr
from retrievers.chunking import chunk_document
from retrievers.ingestion import prepare
from retrievers.loaders import DocumentTooLargeError, EmptyDocumentError, load_document
from retrievers.ocr import OcrOptions
from routeur.settings import Settings
from tests.support.documents import join_pdfs, make_scanned_pdf

FIXTURES = Path(__file__).parents[1] / "fixtures" / "pdf"
GUIDE = (FIXTURES / "guide.pdf").read_bytes()
SUITE = (FIXTURES / "suite.pdf").read_bytes()


@pytest.fixture(scope="module")
def scanned_guide() -> bytes:
    return make_scanned_pdf(GUIDE)


@pytest.fixture(scope="module")
def read_guide(scanned_guide):
    return load_document("guide-scanné.pdf", scanned_guide)


@pytest.fixture
def ocr_calls(monkeypatch) -> list[list[int]]:
    """The page indices each OCR call was asked to read (the real OCR still runs)."""
    calls: list[list[int]] = []
    real = ocr.read_pages

    def spy(data, pages, options):
        calls.append(list(pages))
        return real(data, pages, options)

    monkeypatch.setattr(ocr, "read_pages", spy)
    return calls


def _paragraphs(text: str) -> list[str]:
    return [p for p in text.split("\n\n") if p]


def test_a_scanned_pdf_is_read_with_its_french_accents_paragraph_by_paragraph(read_guide):
    assert len(read_guide.pages) == 2
    first = _paragraphs(read_guide.pages[0])
    # whole paragraphs, their printed line breaks joined, accents and apostrophes right
    assert (
        "L'inscription est gratuite pour les habitants de la commune et pour les étudiants. Elle se fait à l'accueil, "
        "sur présentation d'une pièce d'identité, ou en ligne depuis le site du réseau. La carte de lecteur est remise "
        "le jour même et reste valable une année entière."
    ) in first
    assert "Pièces justificatives" in first  # a heading is a paragraph of its own
    assert any(p.startswith("Un justificatif de domicile de moins de trois mois") for p in first)
    # a compound hyphenated at a line end keeps its hyphen
    assert "qui peut-être déposée plus tard" in read_guide.pages[0]
    assert "quatre semaines" in read_guide.pages[1] and "quatre semaines" not in read_guide.pages[0]
    # the running header (print date, title) and footer (file path, "1/2") of every page are dropped
    assert not re.search(r"file:|/tmp/|\bPM\b|\b[12]/2\b", read_guide.text)
    assert read_guide.pages[0].startswith("Guide du service de prêt\n\nCe guide explique")


def test_chunks_of_a_scan_keep_their_page_and_cut_between_paragraphs(read_guide):
    chunks = chunk_document(read_guide.pages, chunk_size=400, chunk_overlap=0, paginated=True)
    assert {c.page for c in chunks} == {1, 2}
    assert next(c for c in chunks if "quatre semaines" in c.text).page == 2
    assert next(c for c in chunks if "L'inscription est gratuite" in c.text).page == 1
    for chunk in chunks:  # no chunk starts in the middle of a sentence: cuts fall between paragraphs
        assert chunk.text[:1].isupper() or chunk.text[:1].isdigit(), chunk.text[:60]


def test_a_mixed_pdf_keeps_the_layout_reading_of_its_text_page_and_ocrs_only_the_scanned_one(ocr_calls):
    mixed = join_pdfs((GUIDE, 0), (make_scanned_pdf(SUITE, [0]), 0))
    document = load_document("mixte.pdf", mixed)
    text_page = load_document("guide.pdf", GUIDE).pages[0]
    # every block of the text page as the layout reading gives it: "#" headings, whole paragraphs
    # (the running header, printed once here, is no longer recognised as repeating: it stays)
    assert text_page in document.pages[0] and "# Inscription" in text_page
    assert ocr_calls == [[1]]
    paragraphs = _paragraphs(document.pages[1])
    assert paragraphs[0] == "Renouveler un titre de séjour"
    assert paragraphs[1].startswith("Le paragraphe numéro 1 décrit une étape de la procédure de renouvellement du titre de séjour.")
    assert paragraphs[1].endswith("dans les deux mois qui suivent.")
    assert paragraphs[2].startswith("Le paragraphe numéro 2")


def test_a_text_pdf_is_never_sent_to_ocr(ocr_calls):
    assert load_document("guide.pdf", GUIDE).pages
    assert ocr_calls == []


def test_ocr_turned_off_refuses_a_scan_saying_how_to_enable_it(scanned_guide, ocr_calls):
    with pytest.raises(EmptyDocumentError, match=r"No text could be extracted from 'scan.pdf': its pages are images .*ROUTEUR_OCR=auto"):
        load_document("scan.pdf", scanned_guide, ocr=OcrOptions(mode="off"))
    assert ocr_calls == []


def test_without_tesseract_a_scan_is_refused_saying_what_to_install(scanned_guide, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no tesseract command to be found
    with pytest.raises(EmptyDocumentError, match=r"OCR is not available here: install .*tesseract-ocr tesseract-ocr-fra"):
        load_document("scan.pdf", scanned_guide)
    assert "Tesseract is not installed" in ocr.status(OcrOptions())


def test_a_missing_language_pack_is_named(scanned_guide):
    with pytest.raises(EmptyDocumentError, match=r"language pack\(s\) bre .*not installed \(Debian: tesseract-ocr-bre\)"):
        load_document("scan.pdf", scanned_guide, ocr=OcrOptions(languages="fra+bre"))
    assert "bre not installed" in ocr.status(OcrOptions(languages="fra+bre"))


def test_more_scanned_pages_than_the_cap_is_a_413_before_any_page_is_read(scanned_guide, monkeypatch):
    def not_expected(*args):
        raise AssertionError("Tesseract ran on a file over the page cap")

    monkeypatch.setattr(ocr, "_tesseract", not_expected)
    settings = Settings(_env_file=None, ocr_max_pages=1)
    with pytest.raises(DocumentTooLargeError, match=r"'scan.pdf' has 2 scanned pages .* over the limit of 1 per file \(ROUTEUR_OCR_MAX_PAGES\)"):
        prepare("scan.pdf", scanned_guide, settings)


def test_settings_reach_the_ocr_through_prepare(scanned_guide):
    with pytest.raises(EmptyDocumentError, match="ROUTEUR_OCR=auto"):
        prepare("scan.pdf", scanned_guide, Settings(_env_file=None, ocr="off"))
    document, chunks = prepare("scan.pdf", make_scanned_pdf(SUITE, [1]), Settings(_env_file=None, ocr_languages="fra"))
    assert document.title == "scan" and chunks and "Le paragraphe numéro" in chunks[0].text


def test_ocr_languages_are_validated():
    with pytest.raises(ValidationError, match="ocr_languages"):
        Settings(_env_file=None, ocr_languages="fra; rm -rf /")
    assert ocr.status(OcrOptions()).startswith("OCR available")
    assert ocr.status(OcrOptions(mode="off")).startswith("OCR off")
