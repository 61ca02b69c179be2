#!/bin/bash
# catalog.sh - the journald message catalog: every MESSAGE_ID that
# core/events.c gives an event has an entry with a subject, Defined-By,
# Documentation and an explanation, and journalctl builds its catalog
# database from the file (in a scratch root: no running journald needed).
. "$(dirname "$0")/lib.sh"
CAT="$top_srcdir/docs/autoenroll.catalog"
EVENTS_C="$top_srcdir/core/events.c"

grep -o '"[0-9a-f]\{32\}"' "$EVENTS_C" | tr -d '"' | sort -u >"$TEST_TMP/ids"
[ "$(wc -l <"$TEST_TMP/ids")" -ge 19 ]; ok $? "events.c has the MESSAGE_IDs ($(wc -l <"$TEST_TMP/ids"))"
grep '^-- ' "$CAT" | cut -c4- | sort >"$TEST_TMP/entries"
missing=$(comm -23 "$TEST_TMP/ids" "$TEST_TMP/entries")
[ -z "$missing" ]; ok $? "every MESSAGE_ID has a catalog entry" || diag "missing: $missing"
extra=$(comm -13 "$TEST_TMP/ids" "$TEST_TMP/entries")
[ -z "$extra" ]; ok $? "no entry for an ID events.c does not use" || diag "extra: $extra"
[ -z "$(grep '^-- ' "$CAT" | cut -c4- | sort | uniq -d)" ]; ok $? "one entry per ID"
# Each entry: Subject, Defined-By: autoenroll, Documentation, then a body.
awk '
	/^-- / { if (id != "") check(); id = $2; subj = def = doc = body = 0; hdr = 1; next }
	id == "" { next }
	hdr && /^Subject: ./ { subj = 1; next }
	hdr && /^Defined-By: autoenroll$/ { def = 1; next }
	hdr && /^Documentation: man:/ { doc = 1; next }
	hdr && /^$/ { hdr = 0; next }
	!hdr && /[a-z]/ { body++ }
	function check() { if (!subj || !def || !doc || body < 2) { print id; bad = 1 } }
	END { if (id != "") check(); exit bad }' "$CAT" >"$TEST_TMP/bad"
ok $? "every entry has Subject, Defined-By: autoenroll, Documentation and an explanation" || diag "$(cat "$TEST_TMP/bad")"
# Windows event IDs in events.c appear in their entries.
for id in $(cat "$TEST_TMP/ids"); do
	win=$(grep -A1 "\"$id\"" "$EVENTS_C" | grep -o 'LOG_[A-Z]*, [0-9]*' | awk '{print $2}')
	[ "${win:-0}" = 0 ] && continue
	awk -v id="$id" '/^-- / { on = ($2 == id) } on' "$CAT" | tr '\n' ' ' | grep -q "event $win of" || echo "$id $win"
done >"$TEST_TMP/nowin"
[ ! -s "$TEST_TMP/nowin" ]; ok $? "entries name the Windows event where one exists" || diag "$(cat "$TEST_TMP/nowin")"

command -v journalctl >/dev/null || { skip_rest=1; }
if [ -z "${skip_rest:-}" ]; then
	root=$TEST_TMP/root
	mkdir -p "$root/usr/lib/systemd/catalog" "$root/var/lib/systemd/catalog"
	cp "$CAT" "$root/usr/lib/systemd/catalog/"
	journalctl --root="$root" --update-catalog 2>"$TEST_TMP/err"
	[ $? -eq 0 ] && [ ! -s "$TEST_TMP/err" ] && [ -s "$root/var/lib/systemd/catalog/database" ]
	ok $? "journalctl --update-catalog accepts the file, without a complaint" || diag "$(cat "$TEST_TMP/err")"
	journalctl --root="$root" --list-catalog 2>/dev/null | awk '$2 == "autoenroll:" { print $1 }' | sort >"$TEST_TMP/listed"
	cmp -s "$TEST_TMP/listed" "$TEST_TMP/ids"; ok $? "journalctl --list-catalog lists every event as autoenroll's" ||
		diag "$(diff "$TEST_TMP/ids" "$TEST_TMP/listed")"
	journalctl --root="$root" --dump-catalog 77eaee9db8a6447bbeb9538c486ac1c0 2>/dev/null | grep -q "^Subject: Certificate autoenrollment failed"
	ok $? "journalctl --dump-catalog shows an entry"
else
	echo "ok $((tap_n += 1)) # SKIP journalctl is not installed"
fi

done_testing
