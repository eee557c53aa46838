"""count_pii must equal counting find_pii's spans on the whole text, whatever the text."""

import random

import pytest

from lmforge.analyze.pii import count_pii
from lmforge.curate.taggers.pii import find_pii


def reference(text: str) -> tuple[int, int, int]:
    kinds = [kind for _, _, kind in find_pii(text)]
    return (kinds.count("email"), kinds.count("phone"), kinds.count("ip"))


CASES = [
    "",
    "no pii here at all\nnor here",
    "mail me: alice@example.com\nor bob@example.org.",
    "trailing address at the very end bob@example.org",
    "555 123 4567 at the start of a line is not a phone for dolma\ncall 555 123 4567 now",
    "call (555) 123-4567 or 555.123.4567",
    "server 192.168.0.1 and 10.0.0.256 and 1234.5.6.78 and 1.2.3.4.5",
    "ip at end 8.8.8.8",
    "url http://192.168.1.1/admin should not count",
    "Arabic-Indic digits ١٢٣ ٤٥٦ ٧٨٩٠ after a space\n and ٥٥٥ ١٢٣ ٤٥٦٧",
    "mixed ٣ and call 555 123 4567",
    "lone surrogate \ud800 then 555 123 4567 and a@b.co",
    "CRLF line\r\n call 555 123 4567\r\n x@y.com\r\n",
    "unicode é text with no digits but an @ sign @@ and a@b",
    "\n\n\n 555 123 4567\n\n",
    "many?" * 20 + " 555 123 4567",
]


@pytest.mark.parametrize("text", CASES)
def test_count_pii_equals_find_pii(text):
    assert count_pii(text) == reference(text)


def test_count_pii_equals_find_pii_on_random_texts():
    rng = random.Random(0)
    alphabet = [
        *"abc xyz.@-()\n\t0123456789",
        "٣",
        "é",
        "\u00a0",
        "com",
        "org",
        " 555 ",
        "192.",
        "168.",
    ]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        assert count_pii(text) == reference(text), repr(text)


def test_batch_equals_one_by_one():
    from lmforge.analyze.pii import count_pii_batch

    rng = random.Random(1)
    alphabet = [*"ab .@\n0123456789", "٣", "x@y.com ", " 555 123 4567", " 10.0.0.1"]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(500)]
    texts += CASES
    encoded = [t.encode("utf-8", "surrogatepass") for t in texts]
    assert count_pii_batch(texts, encoded) == [reference(t) for t in texts]
