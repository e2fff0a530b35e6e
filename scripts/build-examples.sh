#!/bin/sh
# Builds the example connectors of examples/ (not part of the product) into target/examples:
# componentize-py (pinned) in a venv there, then each Python example into <name>.wasm.
# Where Python 3 with venv and pip, or the package index, is missing, it says so and stops
# without failing: the examples' end-to-end tests then skip with a notice.
set -u
OUT=target/examples
COMPONENTIZE_PY=componentize-py==0.25.1
notice() { echo "NOTICE: the example connectors are not built: $1; their tests will be skipped" >&2; exit 0; }

mkdir -p "$OUT"
if [ ! -x "$OUT/venv/bin/componentize-py" ]; then
	command -v python3 >/dev/null || notice "python3 is not installed"
	python3 -m venv "$OUT/venv" >/dev/null 2>&1 || notice "python3 -m venv failed (Debian: apt-get install python3-venv)"
	"$OUT/venv/bin/pip" install --quiet --disable-pip-version-check "$COMPONENTIZE_PY" || notice "pip could not install $COMPONENTIZE_PY"
fi
# World connector-world: the contract plus the WASI imports a component may use.
built=$OUT/python_directory.wasm
newest=$(find examples/python-directory wit -newer "$built" -type f -name '*.py' -o -newer "$built" -type f -name '*.wit' 2>/dev/null | head -1)
if [ ! -f "$built" ] || [ -n "$newest" ]; then
	(cd examples/python-directory && "../../$OUT/venv/bin/componentize-py" -d ../../wit -w connector-world componentize app -o "../../$built.tmp" >/dev/null) \
		|| notice "componentize-py failed on examples/python-directory"
	mv "$built.tmp" "$built"
fi
ls -l "$built"
