#!/bin/bash
# notify-dunst.sh - the notification on a real desktop notification server:
# docs/screenshot.sh runs Xvfb, a session bus and dunst, shows
# autoenroll-notify's notification and captures it.  Asserts the capture
# holds a drawn notification (not a blank screen) of a sane size.
. "$(dirname "$0")/lib.sh"
for p in Xvfb dunst dbus-daemon import convert identify; do
	command -v "$p" >/dev/null || skip_all "$p is not installed (tests/deps.sh installs it)"
done
[ -x "$top_builddir/autoenroll-notify" ] || skip_all "autoenroll-notify is not built"
chmod 755 "$TEST_TMP"
OUT="$TEST_TMP/shot.png" bash "$top_srcdir/docs/screenshot.sh" "$top_builddir" >"$TEST_TMP/log" 2>&1
rc=$?
ok $rc "docs/screenshot.sh: dunst under Xvfb shows the notification and it is captured" || diag "$(tail -20 "$TEST_TMP/log")"
size=$(identify -format '%w %h' "$TEST_TMP/shot.png" 2>/dev/null)
read -r w h <<<"${size:-0 0}"
[ "$w" -ge 200 ] && [ "$w" -le 1024 ] && [ "$h" -ge 40 ] && [ "$h" -le 400 ]
ok $? "the capture is cut to the notification (${w}x${h})"
colors=$(convert "$TEST_TMP/shot.png" -format '%k' info: 2>/dev/null)
[ "${colors:-0}" -ge 16 ]
ok $? "it holds drawn text and a frame, not a blank screen ($colors colours)"
done_testing
