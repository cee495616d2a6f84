"""A quote renders to a PDF whose text (read back with pdftotext, else pypdf) holds its Chinese content."""

from __future__ import annotations

import io
import shutil
import subprocess
from decimal import Decimal

from siyu.sales.services.commerce import pdf, quotes


def _text(data: bytes) -> str:
    if shutil.which("pdftotext"):
        return subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True).stdout.decode()
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_quote_pdf_has_chinese_text_and_totals(team):
    rep = team.actor(team.reps[0])
    product = quotes.save_product(actor=team.admin, data={"code": "SEAT", "name": "企业微信席位", "list_price": "120"})
    book = quotes.save_price_book(actor=team.admin, name="渠道价", prices={product.pk: "100.00"})
    q = quotes.create_quote(actor=rep, data={"title": "华东区年度采购", "customer_name": "杭州示例科技有限公司",
                                             "price_book_id": book.pk, "note": "含实施服务",
                                             "lines": [{"product_id": product.pk, "quantity": "12",
                                                        "discount_percent": "5"}]})
    assert (q.subtotal, q.total) == (Decimal("1200.00"), Decimal("1140.00"))
    data = pdf.render_quote_pdf(q)
    assert data.startswith(b"%PDF")
    text = _text(data)
    compact = "".join(text.split())
    for needle in ("报价单", "Q-000001", "华东区年度采购", "杭州示例科技有限公司", "企业微信席位", "1,140.00",
                   "含实施服务"):
        assert needle in compact, needle
    assert pdf.cjk_font() == "WQYMicroHei"
