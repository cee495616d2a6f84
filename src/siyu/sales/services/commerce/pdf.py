"""A quote as PDF with Chinese text (reportlab + WenQuanYi Micro Hei, installed by ``.ci/run`` as the Debian
package ``fonts-wqy-microhei``). Without that font the PDF still renders, with reportlab's built-in CID font
``STSong-Light`` (the reader supplies the glyphs), and says so in the log."""

from __future__ import annotations

import io
import logging
import os

from ...models.commerce import Quote

log = logging.getLogger(__name__)
CJK_FONT_PATH = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
_font_name: str | None = None


def cjk_font() -> str:
    """Register the CJK font once; returns its reportlab name."""
    global _font_name
    if _font_name:
        return _font_name
    from reportlab.pdfbase import pdfmetrics

    if os.path.exists(CJK_FONT_PATH):
        from reportlab.pdfbase.ttfonts import TTFont

        pdfmetrics.registerFont(TTFont("WQYMicroHei", CJK_FONT_PATH, subfontIndex=0))
        _font_name = "WQYMicroHei"
    else:
        from reportlab.pdfbase.cidfonts import UnicodeCIDFont

        log.warning("%s is missing (apt install fonts-wqy-microhei): quote PDFs use STSong-Light, not embedded",
                    CJK_FONT_PATH)
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
        _font_name = "STSong-Light"
    return _font_name


def render_quote_pdf(quote: Quote, *, company: str = "") -> bytes:
    """The quote's PDF: header, customer, lines table, totals and note."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = cjk_font()
    body = ParagraphStyle("body", fontName=font, fontSize=10, leading=14, wordWrap="CJK")
    title = ParagraphStyle("title", parent=body, fontSize=18, leading=24)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=18 * mm,
                            bottomMargin=18 * mm, title=f"{quote.number} v{quote.version}")
    rows = [["#", "产品 Product", "数量 Qty", "单价 Unit price", "折扣 Discount %", "金额 Amount"]]
    for i, ln in enumerate(quote.lines.order_by("order", "id"), start=1):
        rows.append([str(i), Paragraph(ln.name, body), f"{ln.quantity.normalize():f}", f"{ln.unit_price:,.2f}",
                     f"{ln.discount_percent:.2f}", f"{ln.amount:,.2f}"])
    table = Table(rows, colWidths=[8 * mm, 62 * mm, 18 * mm, 28 * mm, 26 * mm, 30 * mm], repeatRows=1)
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), font), ("FONTSIZE", (0, 0), (-1, -1), 9),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f7")),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#c0c8d0")), ("ALIGN", (2, 1), (-1, -1), "RIGHT"),
    ]))
    story = [
        Paragraph(f"报价单 Quotation {quote.number} v{quote.version}", title),
        Paragraph(company, body) if company else Spacer(1, 2),
        Spacer(1, 4 * mm),
        Paragraph(f"主题 Subject: {quote.title}", body),
        Paragraph(f"客户 Customer: {quote.customer_name or '—'}", body),
        Paragraph(f"有效期至 Valid until: {quote.valid_until.isoformat() if quote.valid_until else '—'}", body),
        Paragraph(f"状态 Status: {quote.get_status_display()}", body),
        Spacer(1, 5 * mm), table, Spacer(1, 5 * mm),
        Paragraph(f"小计 Subtotal: {quote.currency} {quote.subtotal:,.2f}", body),
        Paragraph(f"折扣 Discount: {quote.currency} {quote.discount_amount:,.2f}", body),
        Paragraph(f"合计 Total: {quote.currency} {quote.total:,.2f}", title),
    ]
    if quote.note:
        story += [Spacer(1, 4 * mm), Paragraph(f"备注 Note: {quote.note}", body)]
    doc.build(story)
    return buf.getvalue()
