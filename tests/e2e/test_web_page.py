"""The chat page at ``/`` in a real browser (Debian's chromium through Playwright) against a real
``routeur serve`` on the demo corpus, with the local OpenAI-compatible stub as a provider for
the stop and failure cases."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.support.api_support import ServerProcess, start_demo_server
from tests.support.browser import chromium, screenshot

PORT_QUESTION = "Sur quel port le serveur écoute-t-il par défaut ?"

# wait_for_function takes arrow functions only: the page's CSP forbids eval of a bare expression.
# Records every state of the streamed answer text, so a test can tell a stream from one write.
RECORD_STREAM = """
window.__streamed = [];
new MutationObserver(() => {
  for (const node of document.querySelectorAll('.answer.streaming')) {
    const text = node.textContent;
    if (window.__streamed[window.__streamed.length - 1] !== text) window.__streamed.push(text);
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


@pytest.fixture(scope="module")
async def server(settings_factory, stub):
    process = await start_demo_server(
        settings_factory("web"), stub.models_file_entries(timeout_s=5.0), ROUTEUR_RATE_LIMIT_PER_MINUTE="1000"
    )
    yield process
    process.stop()


@pytest.fixture(scope="module")
def browser(server):
    """Started after the server: Playwright's sync API holds an event loop on this thread, where
    async fixtures can no longer run."""
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    page = context.new_page()
    page.add_init_script(RECORD_STREAM)
    page.set_default_timeout(30_000)
    page.goto(f"{server.url}/")
    page.locator("#workspace").wait_for(state="visible")
    page.locator("#documents li[data-file-id]").first.wait_for()
    yield page
    context.close()


def ask(page, question: str):
    """Type the question, send it with Enter, wait until the turn ends; the turn's locator."""
    turns = page.locator("article.turn")
    before = turns.count()
    page.locator("#message").fill(question)
    page.locator("#message").press("Enter")
    turn = turns.nth(before)
    turn.wait_for()
    page.wait_for_function("n => document.querySelectorAll('article.turn')[n].dataset.outcome", arg=before)
    return turn


def stub_stats(stub) -> dict[str, int]:
    return httpx.get(f"http://127.0.0.1:{stub.port}/stats", timeout=5).json()


def test_documentary_question_shows_phases_streamed_answer_and_linked_sources(page):
    turn = ask(page, PORT_QUESTION)
    assert turn.get_attribute("data-outcome") == "done"
    phases = turn.locator(".phases li")
    names = [phases.nth(i).get_attribute("data-phase") for i in range(phases.count())]
    core = [n for n in names if n != "rewrite"]
    assert core[:4] == ["intent_analysis", "search", "evaluation", "generation"], names
    assert all(phases.nth(i).get_attribute("data-status") == "complete" for i in range(phases.count()))
    search = turn.locator('.phases li[data-phase="search"]').first.inner_text()
    assert "mots-clés" in search and re.search(r"\d+ résultats", search), search
    assert re.search(r"\d+ retenus sur \d+", turn.locator('.phases li[data-phase="evaluation"]').first.inner_text())

    assert "7860" in turn.locator(".answer").inner_text()

    citation = turn.locator("a.cite").first
    number = citation.get_attribute("data-source")
    citation.click()
    source = turn.locator(f".sources li[value='{number}']")
    assert "highlight" in source.get_attribute("class")
    assert page.evaluate("document.activeElement.id") == source.get_attribute("id")
    assert re.search(r"score \d", source.inner_text()) and source.locator(".snippet").inner_text().strip()

    metrics = {
        turn.locator(".metrics div").nth(i).get_attribute("data-metric"): turn.locator(".metrics dd").nth(i).inner_text()
        for i in range(turn.locator(".metrics div").count())
    }
    assert re.fullmatch(r"[\d,]+ s", metrics["latency"]) and re.fullmatch(r"[\d,]+ s", metrics["ttft"])
    assert re.match(r"\d+ \(\d+ en entrée, \d+ en sortie\)", metrics["tokens"])
    assert metrics["cost"] == "0 €"  # the offline model is free...
    assert metrics["emissions"] == "inconnu" and metrics["equivalences"] == "inconnu"  # ...and EcoLogits does not know it

    page.set_viewport_size({"width": 1280, "height": 1600})
    screenshot(page, "answer-desktop.png")
    page.set_viewport_size({"width": 360, "height": 800})
    page.locator("#settings-panel > summary").click()  # folded, as it starts on a narrow screen
    turn.locator(".answer").scroll_into_view_if_needed()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert page.locator("#send").is_visible() and page.locator("#message").is_visible()
    screenshot(page, "answer-360px.png", full_page=False)


def test_follow_up_keeps_the_session_and_new_conversation_clears_it(page):
    first = ask(page, PORT_QUESTION)
    session = page.locator("#session").get_attribute("data-session-id")
    assert session and first.get_attribute("data-outcome") == "done"

    box = page.locator("#message")
    box.press_sequentially("Et comment")
    box.press("Shift+Enter")  # a new line, not a send
    box.press_sequentially("le changer ?")
    assert box.input_value() == "Et comment\nle changer ?" and page.locator("article.turn").count() == 1
    box.press("Enter")
    page.wait_for_function("() => document.querySelectorAll('article.turn')[1]?.dataset.outcome")
    second = page.locator("article.turn").nth(1)
    assert second.get_attribute("data-outcome") == "done", second.inner_text()
    assert page.locator("#session").get_attribute("data-session-id") == session
    assert page.evaluate("document.activeElement.id") == "message"

    with page.expect_response(lambda r: r.url.endswith("/api/v1/chat") and r.request.method == "POST") as cleared:
        page.locator("#new-chat").click()
    assert cleared.value.json() == {"status": "ok", "sessionId": session, "cleared": True}
    assert page.locator("article.turn").count() == 0 and page.locator("#session").get_attribute("data-session-id") == ""
    assert page.evaluate("document.activeElement.id") == "message"
    ask(page, PORT_QUESTION)
    assert page.locator("#session").get_attribute("data-session-id") not in ("", session)


def test_switching_to_v1_runs_the_v1_agent(page):
    page.locator("#agent").select_option("V1")
    with page.expect_request(lambda r: r.url.endswith("/api/v1/chat/stream")) as sent:
        turn = ask(page, PORT_QUESTION)
    assert sent.value.post_data_json["agent"] == "V1"
    assert turn.get_attribute("data-outcome") == "done"
    assert "V1" in turn.locator(".who").nth(1).inner_text()
    phases = turn.locator(".phases li")
    assert [phases.nth(i).get_attribute("data-phase") for i in range(phases.count())] == [
        "intent_analysis", "search", "evaluation", "generation",
    ]  # fmt: skip
    assert "7860" in turn.locator(".answer").inner_text()


def test_uploaded_document_is_listed_answers_a_restricted_question_and_deletes(page, server, tmp_path):
    note = tmp_path / "albatros.md"
    note.write_text("# Projet Albatros\n\nLe code d'accès du projet Albatros est 4417-ZULU. Il change chaque trimestre.\n")
    page.locator("#upload-input").set_input_files(str(note))
    page.locator("#upload-button").click()
    page.locator("#upload-status").get_by_text("albatros.md").wait_for()
    assert "passages indexés" in page.locator("#upload-status").inner_text()
    item = page.locator("#documents li", has_text="Projet Albatros")
    item.wait_for()
    file_id = item.get_attribute("data-file-id")

    item.locator("input[type=checkbox]").check()
    with page.expect_request(lambda r: r.url.endswith("/api/v1/chat/stream")) as sent:
        turn = ask(page, "Quel est le code d'accès du projet Albatros ?")
    assert sent.value.post_data_json["sources"] == [file_id]
    assert "4417-ZULU" in turn.locator(".answer").inner_text()
    sources = turn.locator(".sources li")
    assert sources.count() >= 1
    assert all(sources.nth(i).get_attribute("data-file-id") == file_id for i in range(sources.count()))

    page.once("dialog", lambda dialog: dialog.accept())
    item.get_by_role("button", name="Supprimer Projet Albatros").click()
    page.locator("#documents li", has_text="Projet Albatros").wait_for(state="detached")
    listed = httpx.get(f"{server.url}/projects/default/documents", headers=server.token(), timeout=10).json()
    assert file_id not in [d["file_id"] for d in listed["items"]]


def test_stop_ends_a_streaming_answer_and_the_server_cancels_the_run(page, stub):
    before = stub_stats(stub)
    page.locator("#model").select_option("stub-slow")
    page.locator("#message").fill(PORT_QUESTION)
    page.locator("#message").press("Enter")
    turn = page.locator("article.turn").first
    page.wait_for_function("() => (window.__streamed.at(-1) || '').split(' ').length >= 5")
    page.locator("#stop").click()
    page.wait_for_function("() => document.querySelector('article.turn').dataset.outcome")
    assert turn.get_attribute("data-outcome") == "stopped"
    assert "arrêtée" in turn.locator(".error").inner_text()
    streamed = page.evaluate("window.__streamed")
    assert len(streamed) >= 3 and all(len(a) < len(b) for a, b in zip(streamed, streamed[1:], strict=False))

    deadline = time.monotonic() + 15
    while stub_stats(stub)["streams_cancelled"] == before["streams_cancelled"] and time.monotonic() < deadline:
        time.sleep(0.1)
    after = stub_stats(stub)
    assert after["streams_cancelled"] == before["streams_cancelled"] + 1  # the provider's stream was closed
    assert after["streams_finished"] == before["streams_finished"]
    assert after["chunks_sent"] - before["chunks_sent"] < 200  # of 400 words: it stopped early
    assert page.locator("#send").is_enabled() and page.locator("#stop").is_disabled()


def test_a_provider_failure_mid_stream_shows_an_error_and_the_page_recovers(page):
    page.locator("#model").select_option("stub-fail")
    turn = ask(page, PORT_QUESTION)
    assert turn.get_attribute("data-outcome") == "error"
    message = turn.locator(".error[role=alert]").inner_text()
    assert message.startswith("La réponse a échoué pendant l'étape « Génération de la réponse »"), message
    assert "LLM request failed" in message
    assert turn.locator(".answer").inner_text().startswith("un deux trois")  # what streamed before the failure stays
    assert page.locator("#send").is_enabled()
    page.locator("#model").select_option("")
    assert ask(page, PORT_QUESTION).get_attribute("data-outcome") == "done"


def test_rate_limit_reads_as_the_wait_time(page):
    """The page's reading of the server's 429 envelope and its Retry-After header (the real
    limiter is tested against the API; here the browser gets its exact response shape)."""
    page.route(
        "**/api/v1/chat/stream",
        lambda route: route.fulfill(
            status=429, headers={"Retry-After": "42"}, json={"status": "error", "message": "Rate limit exceeded"}
        ),
    )
    turn = ask(page, PORT_QUESTION)
    assert "réessayez dans 42 s" in turn.locator(".error").inner_text()


def test_english_strings_and_a_strict_content_security_policy(browser, server):
    context = browser.new_context()
    page = context.new_page()
    response = page.goto(f"{server.url}/?lang=en")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
    page.locator("#workspace").wait_for(state="visible")
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.locator("#send").inner_text() == "Send" and page.get_by_label("Your question").is_visible()
    page.locator("#lang-toggle").click()
    assert page.locator("#send").inner_text() == "Envoyer"
    context.close()


def test_api_docs_load_with_local_assets_only(browser, server):
    context = browser.new_context()
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{server.url}/")
    page.get_by_role("link", name="Documentation de l'API").click()
    page.locator(".swagger-ui .info .title").wait_for()
    assert "Routeur IA" in page.locator(".swagger-ui .info .title").inner_text()
    page.locator(".opblock-tag", has_text="chat").first.wait_for()
    assert requested and all(url.startswith(server.url) for url in requested), [u for u in requested if not u.startswith(server.url)]
    screenshot(page, "api-docs.png", full_page=False)
    context.close()


def test_an_expired_token_is_renewed_in_development(page):
    page.evaluate("sessionStorage.setItem('routeur.token', 'expired.or.forged')")
    page.reload()
    page.locator("#workspace").wait_for(state="visible")
    assert ask(page, PORT_QUESTION).get_attribute("data-outcome") == "done"


@pytest.fixture(scope="module")
def production_server(settings_factory):
    clients = '[{"id": "team-a", "secret": "team-a-secret-0123456789", "projects": ["proj-a"]}]'
    process = ServerProcess(
        settings_factory("web-production").data_dir,
        ROUTEUR_ENVIRONMENT="production",
        ROUTEUR_JWT_SECRET="Kq3v-Zr8_Tn1Lp6Wx2Hb9Yd4Mf7Gc0Js5Ue",
        ROUTEUR_CLIENTS=clients,
    ).start()
    yield process
    process.stop()


def test_production_asks_for_client_credentials(browser, production_server):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{production_server.url}/")
    page.locator("#login").wait_for(state="visible")
    assert page.locator("#workspace").is_hidden()
    page.get_by_label("Identifiant client").fill("team-a")
    page.get_by_label("Secret client").fill("not-the-secret")
    page.get_by_role("button", name="Se connecter").click()
    page.locator("#login-error").get_by_text("Identifiants refusés").wait_for()

    page.get_by_label("Secret client").fill("team-a-secret-0123456789")
    page.get_by_label("Secret client").press("Enter")
    page.locator("#workspace").wait_for(state="visible")
    assert page.locator("#project option").all_inner_texts() == ["proj-a"]
    page.locator("#documents").get_by_text("Aucun document dans ce projet.").wait_for()
    page.locator("#logout").click()
    page.locator("#login").wait_for(state="visible")
    context.close()


def test_citations_are_linked_but_an_index_glued_to_a_name_is_not(page):
    """Python answers quote `sys.argv[0]`: only a bracketed number standing alone is a citation,
    as the evaluation counts them; a group `[2, 3]` links each of its sources."""
    linked = page.evaluate(
        """async () => {
          const { renderAnswer } = await import('/static/render.js');
          const box = document.createElement('div');
          box.append(renderAnswer('<p>Lisez sys.argv[0] ou a[1], puis voyez [1] et [2, 3] ; [9] n\\'existe pas.</p>',
                                  new Set([1, 2, 3]), (n) => 'src-' + n));
          return { links: [...box.querySelectorAll('a.cite')].map((a) => a.dataset.source), text: box.textContent };
        }"""
    )
    assert linked["links"] == ["1", "2", "3"]
    assert "sys.argv[0]" in linked["text"] and "a[1]," in linked["text"] and "[9]" in linked["text"]
