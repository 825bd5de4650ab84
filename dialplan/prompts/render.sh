#!/bin/sh
# Render the prompt texts to sound files for Asterisk with espeak-ng and sox.
#
#   ./render.sh [OUTPUT_DIR]      (default: ./sounds)
#
# For every LANG/NAME.txt it writes OUTPUT_DIR/LANG/callmeter/NAME.wav
# (8 kHz, 16-bit mono) and NAME.gsm. Copy OUTPUT_DIR/* into Asterisk's sounds
# directory (often /var/lib/asterisk/sounds), so that "callmeter/refused-closed"
# plays the Dutch file on a channel whose language is nl.
#
# These are synthetic voices, good enough to test the dialplan; record real
# voices for production with the same file names.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
output=${1:-"$here/sounds"}

missing=""
command -v espeak-ng >/dev/null 2>&1 || missing="$missing espeak-ng"
command -v sox >/dev/null 2>&1 || missing="$missing sox"
if [ -n "$missing" ]; then
    echo "render.sh: not rendering, because these tools are not installed:$missing" >&2
    echo "render.sh: install them (Debian/Ubuntu: apt-get install espeak-ng sox libsox-fmt-all) and run again." >&2
    exit 1
fi

count=0
for language in nl en; do
    mkdir -p "$output/$language/callmeter"
    for text in "$here/$language"/*.txt; do
        name=$(basename "$text" .txt)
        raw=$(mktemp --suffix=.wav)
        espeak-ng -v "$language" -s 150 -w "$raw" -f "$text"
        sox "$raw" -r 8000 -c 1 -b 16 "$output/$language/callmeter/$name.wav"
        sox "$raw" -r 8000 -c 1 "$output/$language/callmeter/$name.gsm"
        rm -f "$raw"
        count=$((count + 1))
    done
done
echo "render.sh: wrote $count prompts (wav and gsm) under $output"
