"""The search box's syntax, read as PostgreSQL's websearch reads it (desk.search_terms)."""

from desk.search_terms import Term, parse


def test_words_phrases_alternatives_and_exclusions():
    assert parse("Refund") == [[Term("refund")]]
    assert parse('"never arrived" parcel') == [[Term("never arrived"), Term("parcel")]]
    assert parse("Premium or Refund") == [[Term("premium")], [Term("refund")]]
    assert parse("parcel -courier") == [[Term("parcel"), Term("courier", excluded=True)]]
    assert parse('-"wrong house" parcel') == [[Term("wrong house", excluded=True), Term("parcel")]]


def test_odd_text_is_never_an_error():
    assert parse("") == []
    assert parse("or") == []
    assert parse('"unclosed phrase') == [[Term("unclosed phrase")]]
    assert parse('  -  ""  refund  or  ') == [[Term("refund")]]
    assert parse("Customer Jordan")[0][1].words == ["jordan"]
