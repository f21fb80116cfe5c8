#!/bin/sh
# compare_chromium.sh — `lorac compare --html` on two real `lorac lora` runs (one
# in the `lorac run` layout with an eval.json) opens in headless Chromium (Debian
# package chromium, installed by `make test-slow`): it prints the DOM and takes a
# screenshot without errors, the parsed page has one SVG path per loss series,
# and the screenshot shows the charts' colours.
set -u
. "$(dirname "$0")/../lib.sh"
browser=$(command -v chromium || command -v chromium-browser) || { bad "chromium is not installed (make deps-slow)"; finish; exit 1; }
Q=$LORAC_SHARED/fixtures/tokenizers/qwen3
"$LORAC" init-model --preset tiny --arch qwen3 --out "$T/m" --tokenizer "$Q" --init-std 0.1 2>/dev/null || { bad "init-model"; finish; exit 1; }
cd "$T"
mkdir -p data
i=0
while [ $i -lt 12 ]; do
  printf '{"messages": [{"role": "user", "content": "Question %d about insulin?"}, {"role": "assistant", "content": "**Insulin** stores fat.\\n\\n- one\\n- two"}]}\n' $i >> data/train.jsonl
  i=$((i + 1))
done
head -n 3 data/train.jsonl > data/valid.jsonl
printf 'model: m\ntrain: true\ndata: data\nlora_rank: 4\nnum_layers: 2\nbatch_size: 2\niters: 8\nlearning_rate: 1e-3\nsteps_per_report: 2\nsteps_per_eval: 4\nmax_seq_length: 64\n' > run.yaml
OMP_NUM_THREADS=1 "$LORAC" lora --config run.yaml --adapter-path a >/dev/null 2>&1 && ok || bad "lorac lora (a)"
mkdir -p b
OMP_NUM_THREADS=1 "$LORAC" lora --config run.yaml --adapter-path b/adapters --learning-rate 3e-3 >/dev/null 2>&1 && ok || bad "lorac lora (b)"
"$LORAC" eval -t 1 --model m --adapter-path b/adapters --data data/valid.jsonl --max-tokens 6 -q -o b/eval.json && ok || bad "lorac eval (b)"
expect 0 "| learning_rate | 0.001 | 0.003 |" "$LORAC" compare a b --html report.html
series=$(grep -o '<path' report.html | wc -l)
[ "$series" -eq 4 ] && ok || bad "report.html has $series paths, expected 4 (2 runs x train/validation)"
profile=$(mktemp -d "$T/chrome-XXXXXX")
flags="--headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run --user-data-dir=$profile"
timeout 120 "$browser" $flags --dump-dom "file://$T/report.html" > dom.html 2> dom.err && ok || bad "chromium --dump-dom failed: $(tail -3 dom.err)"
[ "$(grep -o '<path' dom.html | wc -l)" -eq 4 ] && grep -q 'class="bar"' dom.html && ok || bad "the DOM Chromium parsed lacks the charts"
timeout 120 "$browser" $flags --window-size=1100,2200 --screenshot="$T/report.png" "file://$T/report.html" > shot.log 2>&1 && ok || bad "chromium --screenshot failed: $(tail -3 shot.log)"
[ -s report.png ] && [ "$(head -c 8 report.png | od -An -c | tr -d ' \n')" = '211PNG\r\n032\n' ] && ok || bad "no PNG screenshot"
# page errors Chromium would log (failed loads, script errors); its own dbus/gpu noise is not about the page
! grep -i -E 'ERR_|Uncaught|Failed to load|net::|Refused|attribute d: ' dom.err shot.log && ok || bad "Chromium reported page errors"
# the screenshot shows the first run's blue (#0072b2) and the second's vermillion (#d55e00)
if command -v python3 >/dev/null; then
  python3 - "$T/report.png" <<'EOF' && ok || bad "the screenshot lacks the chart colours"
import sys, zlib, struct
data = open(sys.argv[1], "rb").read()
pos, idat, w, h, ct = 8, b"", 0, 0, 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ct = struct.unpack(">IIBB", body[:10])
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
bpp = {2: 3, 6: 4}[ct]
raw, stride, prev, rows = zlib.decompress(idat), w * bpp, bytearray(w * bpp), []
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b, c = prev[x], prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(line); prev = line
def count(rgb):
    return sum(1 for r in rows for x in range(0, stride, bpp) if abs(r[x] - rgb[0]) < 12 and abs(r[x + 1] - rgb[1]) < 12 and abs(r[x + 2] - rgb[2]) < 12)
blue, red = count((0x00, 0x72, 0xb2)), count((0xd5, 0x5e, 0x00))
print(f"screenshot {w}x{h}: {blue} blue and {red} vermillion pixels")
sys.exit(0 if blue > 200 and red > 200 else 1)
EOF
fi
finish
