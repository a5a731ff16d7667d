#!/usr/bin/env bash
# Regenerates the PUBLIC demo keys in keys-example/ with `streha keygen`, and the fingerprint
# table in keys-example/README.md.
#
# These keys are committed to a public repository: they are for the demo federation and the
# tests only, NEVER for real use. Regenerating replaces every key (--force), so anything that
# pins the old ones (a demo roster, test fixtures) must be updated with them.
#
# Usage: keys-example/generate.sh        (from any directory; builds `streha` with cargo)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"

streha() {
    cargo run --quiet --locked --manifest-path "$root/Cargo.toml" -p streha-cli --bin streha -- "$@"
}

agencies=(police-prishtina shelter-prishtina prosecution-prishtina)

# The national authority (Art. 7): the roster key.
streha keygen --kind roster --name national-authority --out "$here/national-authority" --force

# Each agency: its three key pairs, and one application key.
for agency in "${agencies[@]}"; do
    streha keygen --agency "$agency" --out "$here/$agency" --force
    streha keygen --kind application --name "$agency-app" --out "$here/$agency" --force
done

# Two police officers, for urgent-danger approvals (Art. 45.3 needs two distinct officers).
for officer in police-officer-1 police-officer-2; do
    streha keygen --kind officer --name "$officer" --out "$here/police-prishtina" --force
done

# The fingerprint table of README.md, between its markers, from the public key files.
# Within a directory: the kinds in the order of spec/keys.md, then by name.
shopt -s nullglob
table="$(mktemp)"
trap 'rm -f "$table"' EXIT
{
    echo "| holder | kind | public key file | short | fingerprint (BLAKE3 of the public key) |"
    echo "| --- | --- | --- | --- | --- |"
    for dir in national-authority "${agencies[@]}"; do
        for pub in "$here/$dir"/*.{roster,node-identity,agency-signing,agency-encryption,application,officer}.pub; do
            file="${pub#"$here/"}"
            holder="$(basename "$pub")"
            holder="${holder%%.*}"
            streha key show "$pub" | awk -F': ' -v holder="$holder" -v file="$file" '
                $1 == "kind" { kind = $2 }
                $1 == "fingerprint" { full = $2 }
                $1 == "fingerprint-short" { short = $2 }
                END { printf "| %s | %s | `%s` | `%s` | `%s` |\n", holder, kind, file, short, full }'
        done
    done
} >"$table"

readme="$here/README.md"
awk -v table="$table" '
    /<!-- fingerprints:begin -->/ { print; while ((getline line < table) > 0) print line; skip = 1; next }
    /<!-- fingerprints:end -->/ { skip = 0 }
    !skip { print }' "$readme" >"$readme.new"
mv "$readme.new" "$readme"

echo "keys-example: keys regenerated; fingerprint table updated in $readme"
