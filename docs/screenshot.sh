#!/bin/bash
# screenshot.sh - renders docs/notification.png: what autoenroll-notify
# shows on a desktop.
#
# A virtual X display (Xvfb), a private session bus and dunst as the
# notification server on that display; the built autoenroll-notify runs
# with --delay 0 and two realistic items, the screen is captured
# (ImageMagick's import) and cut to the notification.  Everything it
# starts is stopped at the end.  autoenroll-notify refuses root, so as
# root the display, the bus, dunst and the helper run as nobody.
#
# Usage: docs/screenshot.sh [BUILDDIR]    (BUILDDIR holds autoenroll-notify;
#        default: the source tree)      OUT=FILE sets the output file.
# Needs: xvfb, dunst, dbus-daemon, imagemagick (tests/deps.sh installs them).
set -u

top_srcdir=$(cd "$(dirname "$0")/.." && pwd)

if [ "${1:-}" = --render ]; then
	# --render TMPDIR NOTIFY: the part that runs as the desktop's user.
	tmp=$2
	notify=$3
	pids=()
	trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null' EXIT

	# A free display: no socket and no lock file.
	d=99
	while [ -e "/tmp/.X11-unix/X$d" ] || [ -e "/tmp/.X$d-lock" ]; do d=$((d + 1)); done
	Xvfb ":$d" -screen 0 1024x600x24 -nolisten tcp >"$tmp/xvfb.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X$d" ] && break; sleep 0.1; done
	[ -e "/tmp/.X11-unix/X$d" ] || { echo "screenshot.sh: Xvfb did not start:" >&2; cat "$tmp/xvfb.log" >&2; exit 1; }
	export DISPLAY=:$d

	# No service activation: dunst is started below, on this display.
	cat >"$tmp/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$tmp/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
CONF
	dbus-daemon --config-file="$tmp/bus.conf" --fork --print-address=1 --print-pid=1 >"$tmp/bus.out" || exit 1
	pids+=("$(sed -n 2p "$tmp/bus.out")")
	export DBUS_SESSION_BUS_ADDRESS=$(sed -n 1p "$tmp/bus.out")

	# A readable dunst: DejaVu Sans, a frame, top right, kept until closed.
	# The Adwaita theme has only the symbolic variant of security-high.
	icon=/usr/share/icons/Adwaita/48x48/status/security-high-symbolic.symbolic.png
	cat >"$tmp/dunstrc" <<RC
[global]
    monitor = 0
    follow = none
    width = 540
    height = 400
    origin = top-right
    offset = 16x16
    font = DejaVu Sans 11
    markup = full
    format = "<b>%s</b>\n%b"
    alignment = left
    word_wrap = yes
    line_height = 2
    padding = 12
    horizontal_padding = 14
    text_icon_padding = 14
    frame_width = 2
    frame_color = "#3465a4"
    separator_color = frame
    corner_radius = 6
    icon_position = left
    min_icon_size = 32
    max_icon_size = 48
    show_indicators = yes
    mouse_left_click = do_action, close_current
[urgency_normal]
    background = "#fafafa"
    foreground = "#202020"
    timeout = 0
[autoenroll_icon]
    appname = autoenroll
    new_icon = $icon
RC
	dunst -config "$tmp/dunstrc" >"$tmp/dunst.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 50); do
		timeout 2 dbus-send --session --print-reply --dest=org.freedesktop.DBus / org.freedesktop.DBus.NameHasOwner \
			string:org.freedesktop.Notifications 2>/dev/null | grep -q 'boolean true' && break
		sleep 0.1
	done

	"$notify" --delay 0 --expire 60 -- \
		"LabInteractive=LabInteractive needs the user's consent (the template requires user interaction): it waits for the user's session" \
		'SmartcardLogon=the SmartcardLogon certificate waits for the user: token "alice-card" needs a PIN: add pin-source=FILE to the store URI or run autoenroll pulse --user --interactive' \
		2>"$tmp/notify.err" &
	pids+=($!)
	sleep 2
	import -display ":$d" -window root "$tmp/screen.png" || exit 1
	# The notification is the only thing on the black root window: trim
	# to it, then give it a margin of desktop.
	convert "$tmp/screen.png" -crop 600x460+424+0 +repage -trim +repage \
		-bordercolor "#2e3436" -border 16 "$tmp/notification.png" || exit 1
	cat "$tmp/notify.err" >&2
	exit 0
fi

builddir=$(cd "${1:-$top_srcdir}" && pwd)
notify=$builddir/autoenroll-notify
out=${OUT:-$top_srcdir/docs/notification.png}
[ -x "$notify" ] || { echo "screenshot.sh: $notify is not built" >&2; exit 1; }
for p in Xvfb dunst dbus-daemon dbus-send import convert; do
	command -v "$p" >/dev/null 2>&1 || { echo "screenshot.sh: $p is missing (tests/deps.sh installs it)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/ae-screenshot.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
if [ "$(id -u)" -eq 0 ]; then
	chown nobody:nogroup "$tmp"
	as_user=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
else
	as_user=()
fi
"${as_user[@]}" env HOME="$tmp" bash "$0" --render "$tmp" "$notify" || exit 1
cp "$tmp/notification.png" "$out" || exit 1
echo "screenshot.sh: wrote $out"
