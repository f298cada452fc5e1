"""Derived fields: fast token counts and batched language id must equal the reference libraries exactly."""
import json

import py3langid

from core.fastlang import classify_many
from core.rows import content_hash, conv_row, count_tokens, default_tokenizer, detect_languages
from core.formats import Conv
from tests.shared import SHARED, require_shared


HARD = [
    "", " ", "\n\n", "Hello, World!", "naïve café — “quoted” text…", "Ünïcödé ÀÉÎÕÜ straße ﬁ ligature",
    "控制字符\x00\x01\x7f混合 text", "ＦＵＬＬＷＩＤＴＨ　ｔｅｘｔ！", "emoji 😀 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "[CLS] special [SEP] tokens [MASK]",
    "tabs\tand\r\nnewlines", "a" * 150 + " long word", "snake_case_name and CamelCase and 3.14159",
    "Привет, как дела?", "مرحبا كيف حالك", "日本語のテキストです。", "한국어 텍스트", "ελληνικά κείμενα",
    "def f(x):\n    return x**2  # comment", "İstanbul ǅemal ﬀ", "\u200b zero\u200dwidth \ufeff bom", "a\u0301e\u0300",
]


def _shared_texts(limit=4000):
    texts = []
    for p in [SHARED / "alpaca_52k" / "alpaca_data_reconstructed.json",
              SHARED / "alpaca_chinese" / "zh-data-part-00.json", SHARED / "lima" / "lima.json"]:
        require_shared(p)
        data = json.loads(p.read_text(encoding="utf-8"))[: limit // 3]
        texts += [f"{r['instruction']}\n{r.get('input', '')}\n{r['output']}" for r in data]
    return texts


def test_token_counts_equal_tokenizer():
    texts = HARD + _shared_texts()
    tok = default_tokenizer()
    ref = [len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False)]
    got = count_tokens(texts)
    bad = [(t[:60], g, r) for t, g, r in zip(texts, got, ref) if g != r]
    assert not bad, bad[:5]
    assert sum(got) > 100_000  # really counted something


def test_language_equals_py3langid():
    texts = [t for t in HARD if any(c.isalpha() for c in t)] + [t[:300] for t in _shared_texts(3000)]
    ref = [py3langid.classify(t)[0] for t in texts]
    assert classify_many(texts) == ref
    assert classify_many(texts, chunk=7) == ref  # chunking does not change answers
    langs = detect_languages(["Where is the train station?", "火车站在哪里？", "1234 5678", "Wo ist der Bahnhof, bitte?"])
    assert langs[0] == "en" and langs[1] == "zh" and langs[2] == "" and langs[3] == "de"


def test_conv_row_fields_and_hash():
    c = Conv("Be brief.", [("user", "Hi"), ("assistant", "Hello!"), ("user", "Bye"), ("assistant", "Ciao")])
    r = conv_row(c)
    assert r["instruction"] == "Hi" and r["response"] == "Hello!"
    assert r["n_turns"] == 2 and r["n_messages"] == 4 and r["roles"] == "assistant,system,user"
    assert r["total_chars"] == len("Be brief.") + 2 + 6 + 3 + 4
    assert r["hash"] == content_hash("Be brief.", c.turns, None)
    assert r["hash"] != content_hash("", c.turns, None)  # system prompt is part of the content
    assert r["hash"] != content_hash("Be brief.", c.turns, [("assistant", "no")])  # so is a rejected reply
