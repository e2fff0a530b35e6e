#!/bin/sh
# Encodes the contract in wit/ as a binary WIT package (a wasm file other authors build against:
# componentize-py -d PACKAGE.wasm, wit-bindgen, cargo component) with wkg, offline: the vendored
# WASI packages of wit/deps are given to wkg as local overrides instead of being fetched.
# Prints the package's path: target/wit-package/baton-connector-VERSION.wasm.
set -eu
WKG=${WKG:-target/tools/bin/wkg}
[ -x "$WKG" ] || { echo "wkg is not installed: run make interop" >&2; exit 1; }
version=$(sed -n 's/^package baton:connector@\([0-9][0-9.]*\);$/\1/p' wit/connector.wit)
[ -n "$version" ] || { echo "wit/connector.wit declares no 'package baton:connector@X.Y.Z;'" >&2; exit 1; }
# WASI's items behind @unstable(feature = ...) left out (the item after the gate: one line, or a
# block to its closing brace). Parsed from text they are left out anyway; but a consumer that
# decodes the binary package (componentize-py 0.25.1) kept wasi:http's send-informational, and
# its component then imported a function no host provides.
without_unstable() {
	awk '
		skip == 2 { if ($0 ~ /\{/) depth++; if ($0 ~ /\}/) depth--; if (depth == 0) skip = 0; next }
		skip == 1 { if ($0 ~ /\{[[:space:]]*$/) { depth = 1; skip = 2 } else { skip = 0 }; next }
		/^[[:space:]]*@unstable\(/ { skip = 1; next }
		{ print }
	'
}
stage=target/wit-package/stage
rm -rf "$stage" && mkdir -p "$stage/wit" "$stage/deps"
cp wit/connector.wit "$stage/wit/"
{
	echo "[overrides]"
	for file in wit/deps/*.wit; do
		name=$(basename "$file" .wit)
		package=$(sed -n 's/^package \([a-z-]*:[a-z-]*\)@.*;$/\1/p' "$file")
		mkdir -p "$stage/deps/$name" && without_unstable < "$file" > "$stage/deps/$name/$name.wit"
		echo "\"$package\" = { path = \"deps/$name\" }"
	done
} > "$stage/wkg.toml"
out=$(pwd)/target/wit-package/baton-connector-$version.wasm
(cd "$stage" && "$OLDPWD/$WKG" build -d wit -o "$out" --cache "$OLDPWD/target/wit-package/cache" >/dev/null 2>&1) \
	|| { echo "wkg could not build the WIT package (run it in $stage to see why)" >&2; exit 1; }
echo "$out"
