#!/usr/bin/env bash
# The mamba-edge CLI in shell pipelines: prompts from stdin, text to stdout, JSON for other
# tools, and a reader that stops early. Runs on the embedded default model.
#
#   bash examples/node-cli/pipeline.sh                       # uses `mamba-edge` from PATH (npm i -g mamba-edge, or npx)
#   MAMBA_EDGE="node dist/cli.js" bash examples/node-cli/pipeline.sh
#   MAMBA_EDGE="node --import tsx src/cli/main.ts" bash examples/node-cli/pipeline.sh   (from source)
#
# Every line it prints is "<label> <value>", so its output can itself be piped on.
set -euo pipefail
read -r -a ME <<< "${MAMBA_EDGE:-mamba-edge}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
sample="$here/../../models/default/heldout-sample.txt"

# 1. The prompt comes from stdin (no prompt argument; one trailing newline is dropped), the text
#    goes to stdout as it is generated, and `wc` counts it: 40 one-byte tokens + the final newline.
echo "And it came to pass" | "${ME[@]}" generate --max-tokens 40 --temperature 0 | wc -c | sed 's/^ */chars /'

# 2. One continuation per input line (greedy: the same line gives the same text every time).
printf 'In the beginning\nAnd God said\n' | while IFS= read -r line; do
  printf 'continue %s|%s\n' "$line" "$("${ME[@]}" generate "$line" --max-tokens 16 --temperature 0 </dev/null)"
done

# 3. Machine-readable output for other tools, no jq needed: node reads the JSON from the pipe.
"${ME[@]}" info --json | node -e 'const i = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(`model ${i.architecture} ${i.stateBytes}`)'

# 4. Text to score from a pipe: `--file -` reads stdin.
head -c 2000 "$sample" | "${ME[@]}" eval --file - --json | node -e 'const e = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(`bpb ${e.bitsPerByte.toFixed(4)}`)'

# 5. A reader that stops early: `head` closes the pipe after 30 bytes and the CLI stops
#    generating and exits 0 (with pipefail, a crash on the closed pipe would fail this line).
"${ME[@]}" generate "And" --max-tokens 4000 --temperature 0 --no-eos | head -c 30 | wc -c | sed 's/^ */head /'
