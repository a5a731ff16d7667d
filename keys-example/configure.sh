#!/usr/bin/env bash
# Writes the demo federation's roster and per-agency configurations next to the demo keys,
# with the `streha` command itself — what an operator does by hand:
#   roster.toml               the unsigned roster body (agencies, keys, addresses, agreement)
#   roster.note               the same, signed with the demo national authority's roster key
#   <agency>/node.toml        a working strehad configuration (peer port 74xx, apps 741x,
#                             metrics 940x on 127.0.0.1, store in <agency>/data)
#   <agency>/client.toml      the client profile of the agency's demo application
# Run from anywhere; it overwrites those files. These are PUBLIC DEMO keys: never use them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
cargo build --quiet --locked -p streha-cli
streha="$PWD/target/debug/streha"
cd "$here"

"$streha" roster init --federation kosovo-demo.example --out roster.toml --force
port=1
for agency in police-prishtina:police shelter-prishtina:licensed_ngo prosecution-prishtina:prosecution; do
    id="${agency%%:*}"; role="${agency##*:}"
    officers=()
    if [ "$id" = police-prishtina ]; then
        officers=(--officer "police-officer-1=$id/police-officer-1.officer.pub"
                  --officer "police-officer-2=$id/police-officer-2.officer.pub")
    fi
    "$streha" roster add roster.toml --agency "$id" --role "$role" \
        --address "127.0.0.1:740$port" --keys "$id" "${officers[@]}"
    port=$((port + 1))
done
# The exchange agreement (Art. 18.2, 45.1): what each role may receive without consent.
# Assistance categories never appear here (they need consent, Art. 18.3), nor protection
# categories (never disclosed, Art. 18.4).
"$streha" roster clause add roster.toml --id ngo-referral --recipient licensed_ngo \
    --category identity --category victim_status --category referral \
    --purpose identification_and_referral --purpose assistance
"$streha" roster clause add roster.toml --id police-identification --recipient police \
    --category identity --category victim_status --purpose identification_and_referral
"$streha" roster clause add roster.toml --id prosecution-investigation --recipient prosecution \
    --category identity --category case_summary --category investigation \
    --purpose criminal_investigation_and_prosecution --purpose urgent_danger
# The secret keys must be owner-only for the tools to use them (git checks them out 0644).
chmod 600 ./*/*.key
"$streha" roster sign roster.toml --key national-authority/national-authority.roster.key \
    --roster-version 1 --out roster.note --force
port=1
for id in police-prishtina shelter-prishtina prosecution-prishtina; do
    "$streha" node init --agency "$id" --keys "$id" --roster roster.note \
        --roster-key national-authority/national-authority.roster.pub \
        --app-listen "127.0.0.1:741$port" --metrics-listen "127.0.0.1:940$port" \
        --data-dir "$id/data" --out "$id/node.toml" --client "$id/client.toml" --force
    # `node init` writes absolute paths; make them relative to each file (the loaders
    # resolve relative paths against the file's directory) so the examples work anywhere.
    sed -i "s|$here/$id/||g; s|$here/|../|g" "$id/node.toml" "$id/client.toml"
    port=$((port + 1))
done
echo "wrote roster.toml, roster.note and <agency>/{node,client}.toml in $here"
