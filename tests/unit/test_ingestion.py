"""Loaders for every supported format, chunking, stable file ids, and ingestion of bytes and folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrievers.ingestion import (
    chunk_text,
    expand_paths,
    file_id_for,
    ingest_bytes,
    ingest_paths,
)
from retrievers.loaders import (
    SUPPORTED_EXTENSIONS,
    EmptyDocumentError,
    UnsupportedFileTypeError,
    load_document,
)
from tests.support.documents import make_docx, make_pdf

# -- loaders ----------------------------------------------------------------------------------


def test_markdown_title_is_the_first_heading():
    document = load_document("guide.md", b"Intro.\n\n## Guide rapide ##\n\nInstallez avec pip.\n\n# Plus loin")
    assert document.title == "Guide rapide"
    assert "Installez avec pip." in document.text
    assert load_document("notes.markdown", b"Pas de titre ici.").title == "notes"


def test_text_files_decode_utf8_and_cp1252_and_take_a_set_apart_first_line_as_title():
    assert load_document("note.txt", "Note interne\n\nLe comité se réunit mardi.".encode("cp1252")) == (
        load_document("note.txt", "Note interne\n\nLe comité se réunit mardi.".encode())
    )
    document = load_document("note.txt", "Note interne\n\nLe comité se réunit mardi.".encode("utf-8-sig"))
    assert (document.title, document.text) == ("Note interne", "Note interne\n\nLe comité se réunit mardi.")
    # A first sentence is not a title: the file name stands in.
    assert load_document("compte-rendu.txt", "Le comité se réunit mardi.\n\nSuite.".encode()).title == "compte-rendu"


def test_html_keeps_visible_text_in_blocks_and_drops_scripts_and_styles():
    html = (
        b"<html><head><title>FAQ du\n support</title><style>p { color: red }</style>"
        b"<script>alert('pirate')</script></head><body><!-- note interne --><h1>Questions</h1>"
        b"<p>Le <b>support</b>\n   ouvre \xc3\xa0 9h.<br>Il ferme \xc3\xa0 18h.</p>"
        b"<table><tr><td>port</td><td>7860</td></tr></table><noscript>activez JS</noscript></body></html>"
    )
    document = load_document("faq.html", html)
    assert document.title == "FAQ du support"
    assert document.text == "# Questions\n\nLe support ouvre à 9h.\nIl ferme à 18h.\n\nport 7860"  # headings as Markdown
    assert load_document("page.htm", b"<h1>Seul titre</h1><div>Texte.</div>").title == "Seul titre"


SITE_PAGE = """<!doctype html><html lang="fr"><head><title>Horaires | Mairie</title></head><body>
<header><a href="/">Accueil de la mairie</a><form role="search"><input placeholder="Rechercher"></form></header>
<nav><ul><li><a href="/etat-civil">État civil</a></li><li><a href="/urbanisme">Urbanisme</a></li></ul></nav>
<div class="bandeau" hidden>Ce site utilise des cookies</div>
<main>
  <article>
    <header><h1>Horaires d'ouverture</h1><p>Mis à jour le 2 mars</p></header>
    <p>La mairie ouvre du lundi au vendredi de 8h30 à 17h.</p>
    <h2>Permanences</h2>
    <p>Une permanence a lieu le samedi matin.</p>
    <aside><p>Note : fermé les jours fériés.</p></aside>
    <footer><p>Service accueil</p></footer>
  </article>
  <nav aria-label="pagination"><a href="/suivant">Page suivante</a></nav>
</main>
<aside role="complementary"><h2>À la une</h2><p>Élections municipales</p></aside>
<footer><p>Mentions légales · Plan du site · Contact</p></footer>
</body></html>"""


@pytest.mark.parametrize(
    "page",
    [
        SITE_PAGE,
        SITE_PAGE.replace("<main>", "<div>").replace("</main>", "</div>"),  # no <main>: the lone article
        SITE_PAGE.replace("<main>", '<div role="main">').replace("</main>", "</div>"),
        SITE_PAGE.replace("<main>", "<div>").replace("</main>", "</div>").replace("article>", "section>"),  # no main, no article
    ],
)
def test_html_keeps_the_page_content_and_drops_the_site_chrome(page):
    """Menus, site header and footer, sidebars and hidden banners repeat on every page of a
    site: indexed, they would make its pages alike. An article's own header, note and footer stay."""
    document = load_document("horaires.html", page.encode())
    text = document.text
    for chrome in ("Accueil de la mairie", "Rechercher", "État civil", "Urbanisme", "cookies", "Page suivante", "À la une", "Élections", "Mentions légales"):
        assert chrome not in text, chrome
    for content in ("# Horaires d'ouverture", "Mis à jour le 2 mars", "du lundi au vendredi de 8h30 à 17h", "## Permanences", "le samedi matin", "fermé les jours fériés", "Service accueil"):
        assert content in text, content
    assert document.title == "Horaires | Mairie"
    assert text.index("# Horaires") < text.index("## Permanences") < text.index("fériés")


def test_html_with_an_empty_main_keeps_the_page():
    """A ``<main>`` left empty by a script-rendered page is no reason to drop what the page holds."""
    document = load_document("p.html", b"<body><main></main><div><h1>Guide</h1><p>Le texte du guide.</p></div></body>")
    assert document.title == "Guide" and "Le texte du guide." in document.text


def test_pdf_text_and_title_from_metadata_or_file_name():
    document = load_document("rapport-2026.pdf", make_pdf("Le budget annuel est de 42 euros."))
    assert document.title == "rapport-2026"
    assert "budget annuel est de 42 euros" in document.text
    assert load_document("r.pdf", make_pdf("Texte.", title="Rapport annuel")).title == "Rapport annuel"


def test_docx_keeps_reading_order_including_tables_and_finds_the_title():
    table = [["Nom", "Port"], ["api", "7860"]]
    data = make_docx("Compte rendu", "Avant le tableau.", "Après le tableau.", table=table)
    document = load_document("cr.docx", data)
    assert document.title == "Compte rendu"
    assert document.text == "# Compte rendu\n\nAvant le tableau.\n\nNom | Port\n\napi | 7860\n\nAprès le tableau."
    assert load_document("cr.docx", make_docx("Titre", "Texte.", title="Propriété")).title == "Propriété"
    assert load_document("sans-titre.docx", make_docx(None, "Texte.")).title == "sans-titre"


def test_unsupported_types_are_refused_with_the_supported_list():
    with pytest.raises(UnsupportedFileTypeError) as error:
        load_document("image.png", b"\x89PNG")
    assert all(ext in str(error.value) for ext in SUPPORTED_EXTENSIONS)
    with pytest.raises(UnsupportedFileTypeError):
        load_document("sans-extension", b"texte")


@pytest.mark.parametrize(
    ("filename", "data", "message"),
    [
        ("vide.md", b"  \n ", "No text"),
        ("vide.txt", b"", "No text"),
        ("vide.html", b"<html><script>x()</script></html>", "No text"),
        ("scan.pdf", make_pdf(""), "No text"),
        ("vide.docx", make_docx(None, ""), "No text"),
        ("casse.pdf", b"%PDF-1.4 garbage", "Cannot read"),
        ("casse.docx", b"not a zip", "Cannot read"),
        ("binaire.txt", b"\x00\x01\x02ab", "Cannot read|binary"),
    ],
)
def test_empty_or_unreadable_files_raise_empty_document_error(filename, data, message):
    with pytest.raises(EmptyDocumentError, match=message):
        load_document(filename, data)


# -- chunking ---------------------------------------------------------------------------------


def test_markdown_chunks_start_at_headings_and_respect_the_size(settings_factory):
    settings = settings_factory("chunks", chunk_size=200, chunk_overlap=20)
    text = "# T\n\n" + "\n\n".join(f"## Section {i}\n\n" + "mot " * 30 for i in range(5))
    chunks = chunk_text(text, markdown=True, settings=settings)
    assert len(chunks) == 5 and all(len(c) <= 200 for c in chunks)
    assert all(c.count("## Section") == 1 for c in chunks)


def test_a_heading_is_never_a_chunk_of_its_own(settings_factory):
    settings = settings_factory("headings", chunk_size=120, chunk_overlap=10)
    text = "## Court\n\nUn.\n\n### Long\n\n" + "Une phrase complète. " * 12
    chunks = chunk_text(text, markdown=True, settings=settings)
    assert chunks[1].startswith("### Long\n\nUne phrase complète.")
    assert not any(c.strip().startswith("#") and "\n" not in c.strip() for c in chunks)


def test_plain_text_is_cut_between_sentences(settings_factory):
    settings = settings_factory("sentences", chunk_size=100, chunk_overlap=0)
    chunks = chunk_text("Phrase numéro un est ici. " * 12, settings=settings)
    assert len(chunks) > 2 and all(c.endswith("ici.") and c.startswith("Phrase") for c in chunks)


def test_file_ids_are_stable_per_project_and_name():
    # A fixed value: ids of stored files depend on it.
    assert file_id_for("p", "a.md") == file_id_for("p", "a.md") == "ece5d8b1-8638-557c-b7bb-1fd4dfbab4d4"
    assert file_id_for("p", "a.md") != file_id_for("q", "a.md")
    assert file_id_for("p", "a.md") != file_id_for("p", "sub/a.md")


# -- ingestion --------------------------------------------------------------------------------


async def test_ingest_bytes_stores_chunks_under_the_stable_id(store, settings_factory):
    settings = settings_factory("ingest", chunk_size=300, chunk_overlap=30)
    text = "# Guide\n\n" + "\n\n".join(f"## Partie {i}\n\n" + "Le guide explique la partie. " * 6 for i in range(4))
    result = await ingest_bytes(
        store, project_id="p", filename="guide.md", data=text.encode(), url="https://doc/guide", settings=settings
    )
    assert (result.file_id, result.title, result.url, result.filename) == (
        file_id_for("p", "guide.md"), "Guide", "https://doc/guide", "guide.md"
    )
    assert result.chunks == len(chunk_text(text, markdown=True, settings=settings)) > 3
    assert result.seconds > 0
    info = await store.get_file(project_id="p", file_id=result.file_id)
    assert (info.chunks, info.title, info.url) == (result.chunks, "Guide", "https://doc/guide")

    renamed = await ingest_bytes(store, project_id="p", filename="guide.md", data=text.encode(), title="Mon guide")
    assert renamed.title == "Mon guide" and renamed.file_id == result.file_id
    assert [f.title for f in await store.list_files(project_id="p")] == ["Mon guide"]


async def test_ingest_bytes_refuses_bad_files_before_touching_the_store(store):
    with pytest.raises(UnsupportedFileTypeError):
        await ingest_bytes(store, project_id="p", filename="x.exe", data=b"MZ")
    with pytest.raises(EmptyDocumentError):
        await ingest_bytes(store, project_id="p", filename="x.md", data=b"")
    assert await store.list_files(project_id="p") == []


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "sub" / "deep").mkdir(parents=True)
    (tmp_path / "a.md").write_text("# A\n\nPremier document.")
    (tmp_path / "sub" / "b.txt").write_text("B\n\nSecond document.")
    (tmp_path / "sub" / "deep" / "c.html").write_text("<title>C</title><p>Troisième document.</p>")
    (tmp_path / "sub" / "d.docx").write_bytes(make_docx("D", "Quatrième document."))
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / "notes.unknown").write_text("ignored")
    return tmp_path


async def test_ingest_paths_walks_folders_recursively_and_counts(store, folder, capsys):
    report = await ingest_paths(store, [folder], project_id="p", progress=True)
    assert report.files == 4 and report.chunks == 4 and report.failed == {}
    assert {r.filename for r in report.results} == {"a.md", "sub/b.txt", "sub/deep/c.html", "sub/d.docx"}
    assert {r.file_id for r in report.results} == {file_id_for("p", r.filename) for r in report.results}
    assert {r.title for r in report.results} == {"A", "B", "C", "D"}
    assert report.seconds >= sum(r.seconds for r in report.results)
    assert "Ingesting" in capsys.readouterr().err  # the tqdm progress bar
    assert len(await store.list_files(project_id="p")) == 4

    again = await ingest_paths(store, [folder], project_id="p", progress=False)
    assert again.files == 4 and len(await store.list_files(project_id="p")) == 4  # replaced, not added


async def test_ingest_paths_skips_unreadable_files_and_reports_them(store, folder):
    (folder / "sub" / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    (folder / "empty.md").write_text("   ")
    report = await ingest_paths(store, [folder], project_id="p", progress=False)
    assert report.files == 4
    assert set(report.failed) == {"sub/broken.pdf", "empty.md"}
    assert "Cannot read" in report.failed["sub/broken.pdf"]


async def test_ingest_paths_with_a_single_file_uses_its_name_title_and_url(store, folder):
    report = await ingest_paths(
        store, [folder / "sub" / "b.txt"], project_id="p", title="Titre", url="https://b", progress=False
    )
    [result] = report.results
    assert (result.filename, result.title, result.url) == ("b.txt", "Titre", "https://b")


async def test_ingest_paths_refuses_ambiguous_runs(store, folder, tmp_path_factory):
    with pytest.raises(ValueError, match="single file"):
        await ingest_paths(store, [folder], project_id="p", title="Un titre", progress=False)
    other = tmp_path_factory.mktemp("other")
    (other / "a.md").write_text("# Autre A")
    with pytest.raises(ValueError, match="same name: a.md"):
        await ingest_paths(store, [folder, other], project_id="p", progress=False)
    with pytest.raises(FileNotFoundError):
        expand_paths([folder / "missing.md"])
    assert await store.list_files(project_id="p") == []


def test_cli_ingest_reports_skipped_files_and_fails(tmp_path, monkeypatch, capsys):
    from routeur import cli
    from routeur.settings import get_settings

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ok.md").write_text("# Ok\n\nUn document lisible.")
    (docs / "vide.md").write_text("   ")
    monkeypatch.setenv("ROUTEUR_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        status = cli.main(["ingest", str(docs), "--project", "p"])
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr()
    assert status == 1
    assert "Ingested 1 files" in out.out and "skipped vide.md" in out.err
