"""PNG and PDF made on the server: CairoSVG for a chart's PNG, WeasyPrint for the report's PDF.

Both libraries load Cairo and Pango (system libraries, see the Makefile's ``system-libs``) and are
imported on first use: a process that never renders a report never pays for them. Neither may
fetch anything: the documents are built from our own SVG and HTML, with fonts installed on the
machine (DejaVu), so a name or a question typed by the public can never make the server request
a URL. Rendering is CPU work: callers run it in a thread, off the event loop.
"""

from __future__ import annotations


def svg_to_png(svg: str) -> bytes:
    """The PNG of a standalone SVG, at the SVG's own pixel size. ``unsafe=False``: CairoSVG
    then resolves no external entity and fetches no external resource."""
    import cairosvg  # heavy: loaded on first use

    png: bytes = cairosvg.svg2png(bytestring=svg.encode("utf-8"), unsafe=False)
    return png


def html_to_pdf(html: str, stylesheet: str) -> bytes:
    """The PDF of an HTML document, laid out with ``stylesheet`` (and nothing from outside)."""
    from weasyprint import CSS, HTML  # heavy: loaded on first use
    from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols=())  # every scheme refused: nothing is fetched
    document = HTML(string=html, url_fetcher=fetcher, base_url=None)
    pdf: bytes = document.write_pdf(stylesheets=[CSS(string=stylesheet, url_fetcher=fetcher)])
    return pdf
