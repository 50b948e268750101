import pytest

from readerapp.sanitize import clean_html


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        ("<p>hi<script>bad()</script></p>", "<p>hi</p>"),
        ("<p>a</p><style>p { display: none }</style>", "<p>a</p>"),
        ("<p onclick='steal()' onmouseover=x>text</p>", "<p>text</p>"),
        ('<a href="javascript:alert(1)">x</a>', "<a>x</a>"),
        ('<a href=" JaVaScRiPt:alert(1)">x</a>', "<a>x</a>"),
        ('<a href="data:text/html,<script>x</script>">x</a>', "<a>x</a>"),
        ('<a href="vbscript:x">x</a>', "<a>x</a>"),
        ("<iframe src=//evil>fallback</iframe><p>kept</p>", "<p>kept</p>"),
        ("<svg><script>x()</script><text>t</text></svg><p>kept</p>", "<p>kept</p>"),
        ("<p>a<!-- secret --></p>", "<p>a</p>"),
        ("<div><p>para</p></div>", "<p>para</p>"),
        ("<p>unterminated<script>x()", "<p>unterminated</p>"),
        ("<p>5 &lt; 6 &amp; 7 &gt; 3</p>", "<p>5 &lt; 6 &amp; 7 &gt; 3</p>"),
    ],
)
def test_unsafe_markup_is_removed_with_its_content(dirty, clean):
    assert clean_html(dirty) == clean


def test_journalism_markup_is_kept():
    body = (
        "<h2>Heading</h2><p><em>em</em> <strong>strong</strong> <q>q</q></p>"
        "<ul><li>one</li></ul><ol><li>two</li></ol>"
        "<blockquote><p>quote</p></blockquote>"
        '<figure><img src="/a.png" alt="A picture" width="10" height="20">'
        "<figcaption>Caption</figcaption></figure>"
        "<table><caption>Results</caption><thead><tr><th>a</th></tr></thead>"
        "<tbody><tr><td>1</td></tr></tbody></table>"
    )
    cleaned = clean_html(body)
    for fragment in (
        "<h2>Heading</h2>",
        "<em>em</em>",
        "<strong>strong</strong>",
        "<ul><li>one</li></ul>",
        "<blockquote><p>quote</p></blockquote>",
        "<figcaption>Caption</figcaption>",
        "<th>a</th>",
        "<caption>Results</caption>",
    ):
        assert fragment in cleaned


def test_images_need_alt_text_and_load_lazily():
    cleaned = clean_html('<img src="/a.png"><img src="/b.png" alt="B" width="4">')
    assert "/a.png" not in cleaned
    assert (
        'alt="B"' in cleaned and 'loading="lazy"' in cleaned and 'width="4"' in cleaned
    )


def test_external_links_get_noopener_nofollow_and_internal_links_do_not():
    cleaned = clean_html(
        '<a href="https://example.com/" rel="opener" target="_blank">out</a>'
        ' <a href="/news/">in</a> <a href="mailto:desk@example.com">mail</a>'
    )
    assert '<a href="https://example.com/" rel="noopener nofollow">out</a>' in cleaned
    assert '<a href="/news/">in</a>' in cleaned
    assert "target" not in cleaned
    assert 'href="mailto:desk@example.com"' in cleaned
