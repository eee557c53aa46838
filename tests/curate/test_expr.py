import pytest

from lmforge.curate.expr import Expression, ExpressionError

ATTRS = {
    "g__g__word_count": [[0, 100, 30.0]],
    "pii__pii__EMAIL_ADDRESS": [[3, 10, 1.0], [20, 25, 0.2]],
    "flag": [],
}
DOC = {"id": "1", "text": "hello world", "source": "web", "metadata": {"url": "a.com", "tags": ["x", "y"]}}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("g__g__word_count < 50", True),
        ("g__g__word_count >= 30 and g__g__word_count <= 30", True),
        ("g__g__word_count > 50 or doc.source == 'web'", True),
        ("not g__g__word_count < 50", False),
        ("missing < 3", False),  # comparisons with a missing attribute are false ...
        ("missing == null", True),  # ... but null can be tested for
        ("not missing < 3", True),
        ("flag == null", True),  # an empty span list has no document value
        ("exists('flag') and not exists('missing')", True),
        ("any(s in spans('pii__pii__EMAIL_ADDRESS'): s.score < 0.5)", True),
        ("all(s in spans('pii__pii__EMAIL_ADDRESS'): s.score < 0.5)", False),
        ("count(s in spans('pii__pii__EMAIL_ADDRESS'): s.end - s.start >= 5) == 2", True),
        ("sum(s in spans('pii__pii__EMAIL_ADDRESS'): s[1] - s[0]) == 12", True),
        ("any(s in spans('missing'): true)", False),
        ("all(s in spans('missing'): false)", True),
        ("doc.metadata.url in ['a.com', 'b.com']", True),
        ("'y' in doc.metadata.tags and 'z' not in doc.metadata.tags", True),
        ("len(doc.text) == 11 and lower('ABC') == 'abc'", True),
        ("'world' in doc.text", True),
        ("doc.metadata.nope.deeper == null", True),
        ("-g__g__word_count * 2 + 100 == 40", True),
        ("(1 + 2) * 3 == 9 and 7 % 4 == 3 and 1 / 0 == null", True),
        ("max(1, 5, 3) == 5 and min([4, 2]) == 2 and abs(-2) == 2", True),
        ("score('g__g__word_count') == 30", True),
        ("attributes['g__g__word_count'][0][2] == 30", True),
        ('"a\\"b" == \'a"b\'', True),
        ("1e3 == 1000 and .5 == 0.5", True),
        ("'abc' < 'abd'", True),
        ("'abc' < 5", False),  # mixed types never compare
    ],
)
def test_semantics(source, expected):
    assert Expression.parse(source)(DOC, ATTRS) is expected


@pytest.mark.parametrize(
    "source",
    [
        "__import__('os')",
        "__import__('os').system('echo hacked')",
        "open('/etc/passwd')",
        "eval('1')",
        "doc.__class__",
        "doc.text.__len__",
        "_private",
        "().__class__.__bases__",
        "lambda: 1",
        "x if y else z",
        "a <",
        "1 +* 2",
        "(((1)",
        "doc.text.upper()",
        "[x for x in y]",
        "a; b",
        "`a`",
        "any(s in spans('x') s)",
        "len(1, 2)",
        "'unterminated",
        "'bad escape \\q'",
        "",
        "and",
    ],
)
def test_rejects_anything_outside_the_grammar(source):
    with pytest.raises(ExpressionError):
        Expression.parse(source)


def test_error_points_at_the_column():
    with pytest.raises(ExpressionError, match="column 5"):
        Expression.parse("a < <")


def test_depth_and_length_limits():
    with pytest.raises(ExpressionError, match="nested or chained deeper"):
        Expression.parse("(" * 200 + "1" + ")" * 200)
    # chains deepen the compiled closures too: they used to parse, then overflow the stack per document
    for chain in (
        "+".join(["1"] * 5000) + " > 0",
        "doc" + ".a" * 5000,
        "doc" + "[0]" * 4000,
        "2" + " * 2" * 99,
    ):
        with pytest.raises(ExpressionError, match="nested or chained deeper than 64 levels"):
            Expression.parse(chain)
    assert Expression.parse("+".join(["1"] * 60) + " == 60")({}, {})
    grid = "+".join(["(" + "+".join(["1"] * 30) + ")"] * 30) + " == 900"  # 30 links, each 30 deep
    assert Expression.parse(grid)({}, {})
    with pytest.raises(ExpressionError, match="longer than"):
        Expression.parse("1 + " * 10_000 + "1")


def test_attribute_names_include_literal_keys_of_exists_spans_and_score():
    parsed = Expression.parse("a__b__c > 1 or exists('x__y__z') or any(s in spans(\"p__q__r\"): s.score > 0)")
    assert parsed.attribute_names == {"a__b__c", "x__y__z", "p__q__r"}
    assert Expression.parse("exists(doc.key) and score('k' + 'v') > 0").attribute_names == frozenset()
