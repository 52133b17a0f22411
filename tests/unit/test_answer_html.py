"""The answer as HTML: Markdown rendered, raw HTML and unsafe links kept as text."""

from __future__ import annotations

import pytest

from api.services.turns import render_html

pytestmark = pytest.mark.unit


def test_markdown_renders_lists_code_tables_and_links():
    html = render_html(
        "D'après vos documents :\n\n- le port `7860` par **défaut** [1]\n- ~~ancien~~ [2]\n\n"
        "| option | défaut |\n|---|---|\n| port | 7860 |\n\n```py\nx = '<a>'\n```\n\nVoir [la doc](https://docs.python.org/fr/).\n\nligne  \nsuivante"
    )
    assert "<li>le port <code>7860</code> par <strong>défaut</strong> [1]</li>" in html
    assert "<s>ancien</s>" in html and "<th>option</th>" in html and "<td>7860</td>" in html
    assert "<pre><code class=\"language-py\">x = '&lt;a&gt;'\n</code></pre>" in html
    assert '<a href="https://docs.python.org/fr/">la doc</a>' in html
    assert "<br>" in html and "<br />" not in html


def test_raw_html_is_escaped_and_script_links_are_not_links():
    html = render_html("**Gras** <script>alert(1)</script>\n\n<div onclick='x()'>bloc</div>\n\n[clic](javascript:alert(1))")
    assert "<strong>Gras</strong>" in html
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<div" not in html and "&lt;div onclick=" in html
    assert "href" not in html and "[clic](javascript:alert(1))" in html
