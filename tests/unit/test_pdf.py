"""PDFs read by their structure, on real Chromium-printed files (tests/fixtures/pdf/README.md)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from retrievers.chunking import chunk_document
from retrievers.loaders import DocumentTooLargeError, EmptyDocumentError, ExtractionLimits, load_document
from retrievers.pdf import keeps_line_end_hyphen
from tests.support.documents import make_pdf

FIXTURES = Path(__file__).parents[1] / "fixtures" / "pdf"
LIGATURES = re.compile("[\ufb00-\ufb06]")
RUNNING = re.compile(r"file:|ﬁle:|/tmp/|\d+/\d+/\d+|\b\d/2\b|PM\b|Page \d|Amis du Parc —")


def _load(name: str, **limits):
    return load_document(name, (FIXTURES / name).read_bytes(), ExtractionLimits(**limits) if limits else None)


def _chunks(document):
    return chunk_document(document.pages, chunk_size=400, chunk_overlap=0, paginated=True)


def _chunk_with(chunks, words: str):
    return next(c for c in chunks if words in c.text)


def test_headings_become_sections_with_their_path_and_page_across_a_page_break():
    document = _load("guide.pdf")
    assert document.title == "Guide du service de prêt"
    assert len(document.pages) == 2
    chunks = _chunks(document)
    root = "Guide du service de prêt"
    expected = {
        "L'inscription est gratuite": (f"{root} › Inscription", 1),
        "Un justificatif de domicile": (f"{root} › Inscription › Pièces justificatives", 1),
        # a lone bold line at body size is a heading, one rank below the smallest sized one
        "compte collectif": (f"{root} › Inscription › Pièces justificatives › Cas particulier des collectivités", 1),
        "Chaque lecteur emprunte": (f"{root} › Emprunter des documents", 1),
        # page 2 opens in the middle of the section that page 1 started
        "portage à domicile": (f"{root} › Emprunter des documents", 2),
        "quatre semaines": (f"{root} › Emprunter des documents › Durée des prêts", 2),
        "boîte de retour": (f"{root} › Retours et pénalités", 2),
    }
    for words, (section, page) in expected.items():
        chunk = _chunk_with(chunks, words)
        assert (chunk.section, chunk.page) == (section, page), words


def test_paragraphs_are_whole_and_line_breaks_and_hyphens_are_undone():
    document = _load("guide.pdf")
    # a paragraph is one line: the printed line breaks are gone
    assert (
        "Les jeux de société se prêtent aussi, pour deux semaines. Chaque boîte est vérifiée au retour : "
        "une pièce manquante est signalée sur la fiche du jeu" in document.text
    )
    assert "le développement de ces comptes" in document.text  # "dévelop-" / "pement" at a line end
    assert "qui peut-être déposée" in document.text  # a compound keeps its hyphen
    for chunk in _chunks(document):
        assert chunk.text[0].isupper(), chunk.text[:60]  # cut at paragraph starts, never mid-sentence


@pytest.mark.parametrize(
    ("first", "second", "vocabulary", "kept"),
    [
        ("dévelop", "pement", set(), False),  # a word hyphenated to fit the line
        ("celui", "ci", set(), True),  # a compound's usual second part
        ("dix", "huit", set(), True),
        ("porte", "monnaie", {"porte-monnaie"}, True),  # the document writes it whole elsewhere
        ("vil", "le", {"ville"}, False),  # ...or unhyphenated, which beats the list ("le")
    ],
)
def test_a_line_end_hyphen_is_kept_for_compounds_only(first, second, vocabulary, kept):
    assert keeps_line_end_hyphen(first, second, vocabulary) is kept


def test_running_headers_page_numbers_and_ligatures_are_gone():
    for name in ("guide.pdf", "rapport.pdf"):
        document = _load(name)
        assert not LIGATURES.search(document.text), name
        assert not RUNNING.search(document.text), name
        assert all(not RUNNING.search(c.text) and not LIGATURES.search(c.text) for c in _chunks(document))
    assert "affiché à l'accueil" in _load("guide.pdf").text  # "aﬀiché" printed with a ligature glyph


def test_a_generic_metadata_title_gives_way_to_the_first_big_heading():
    document = _load("rapport.pdf")
    assert document.title == "Rapport d'activité 2026"
    assert document.text.startswith("# Rapport d'activité 2026\n\nL'association a tenu")
    assert [c.section for c in _chunks(document)][-1] == "Rapport d'activité 2026 › Projets"


def test_a_table_is_one_block_read_row_by_row():
    document = _load("rapport.pdf")
    table = (
        "Poste | Recettes | Dépenses\nCotisations | 11 000 € | 0 €\n"
        "Subventions municipales | 7 000 € | 0 €\nHaies et ruches | 0 € | 15 000 €"
    )
    assert f"l'entretien des ruches.\n\n{table}\n\nLe budget prévisionnel" in document.text
    assert "# Poste" not in document.text  # a bold header row is no heading
    assert _chunk_with(_chunks(document), "Haies et ruches | 0 €").section == "Rapport d'activité 2026 › Finances"


def test_two_columns_read_in_order_with_a_paragraph_rejoined_across_the_column_break():
    document = _load("colonnes.pdf")
    assert len(document.pages) == 1
    text = document.text
    headings = ["## Travaux de voirie", "## Vie associative", "## Collecte des déchets"]
    assert [text.index(h) for h in headings] == sorted(text.index(h) for h in headings)
    # the paragraph ends its left column on "Les inscriptions" and goes on at the top of the right one
    assert "sur la place du marché. Les inscriptions des exposants sont ouvertes" in text
    # a justified line pdfminer cut in two pieces, put back in order
    assert "\n\nLa déchetterie intercommunale ouvre désormais le dimanche matin." in text
    assert "jeudi après-midi." in text  # a compound cut at its hyphen keeps it
    assert "- 1 -" not in text and not text.rstrip().endswith("1")  # a lone page number, on a one-page file
    chunk = _chunk_with(_chunks(document), "déchetterie")
    assert chunk.section == "Lettre d'information du quartier › Collecte des déchets"


@pytest.mark.parametrize("algorithm", ["RC4-128", "AES-256"])
def test_a_pdf_encrypted_with_an_empty_password_still_opens(algorithm):
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(FIXTURES / "rapport.pdf"))
    writer.encrypt(user_password="", owner_password="secret", algorithm=algorithm)
    buffer = io.BytesIO()
    writer.write(buffer)
    assert load_document("rapport.pdf", buffer.getvalue()).text == _load("rapport.pdf").text


def test_a_pdf_that_needs_a_password_is_refused_with_a_clear_error():
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(FIXTURES / "rapport.pdf"))
    writer.encrypt(user_password="motdepasse", owner_password="secret", algorithm="AES-256")
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(EmptyDocumentError, match="Cannot read 'secret.pdf'.*protected by a password"):
        load_document("secret.pdf", buffer.getvalue())


def test_reading_stops_at_the_text_limit_without_parsing_every_page():
    with pytest.raises(DocumentTooLargeError, match="more than 1000 characters of text \\(reached by page 1\\)"):
        _load("guide.pdf", max_extracted_chars=1000)
    assert _load("guide.pdf", max_extracted_chars=len(_load("guide.pdf").text)).pages


def test_a_pdf_without_text_or_broken_keeps_its_error():
    with pytest.raises(EmptyDocumentError, match="No text"):
        load_document("scan.pdf", make_pdf(""))
    truncated = (FIXTURES / "guide.pdf").read_bytes()[:2000]
    with pytest.raises(EmptyDocumentError, match="Cannot read"):
        load_document("coupé.pdf", truncated)


def test_a_paragraph_cut_by_a_page_break_is_rejoined_on_the_page_where_it_starts():
    """``suite.pdf``: the third paragraph runs from page 1 onto page 2 in mid-sentence. Quoted from
    its page 1 half alone, the answer would stop at "qui peut ainsi"."""
    document = _load("suite.pdf")
    assert len(document.pages) == 2
    assert document.pages[0].endswith("qui suivent.") and document.pages[1].startswith("Le paragraphe numéro")
    paragraphs = [p for page in document.pages for p in page.split("\n\n") if not p.startswith("#")]
    assert [p.split()[3] for p in paragraphs] == [str(n) for n in range(1, 9)]
    assert all(p.endswith("qui suivent.") and p.count("qui peut ainsi continuer à travailler") == 1 for p in paragraphs)
    cut = [c for c in _chunks(document) if "continuer à travailler" in c.text and "qui peut ainsi continuer" not in c.text]
    assert cut == [], "a chunk starts in the middle of the sentence the page break cut"
