#!/bin/bash
# demo.sh - the main job on the lab: install what is needed, build, start
# the lab Active Directory (tests/lab), and show the enrollment policy as
# alice, bob and the workstation see it.  Run as root on Debian 12.
# Leaves the lab running; stop it with: tests/lab/labctl down
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (packages, network namespace)" >&2; exit 1; }
tests/deps.sh
autoreconf -fi >/dev/null
mkdir -p build
(cd build && "$top/configure" -q && make -j"$(nproc)" >/dev/null)
labctl=tests/lab/labctl
$labctl up

echo
echo "### autoenroll policy, as alice (Domain Users)"
$labctl run --user alice -- build/autoenroll policy
echo
echo "### as bob (also in CertPlus, which is granted LabPlus, and CertDenied, denied LabDenied): templates that differ"
$labctl run --user bob -- build/autoenroll policy --json |
	jq -r '.templates[] | select(.name=="LabPlus" or .name=="LabDenied") | "  \(.name): \(.decision) - \(.reason)"'
echo
echo "### autoenroll policy --machine, as the workstation WS1\$ (machine keytab)"
$labctl run --machine -- build/autoenroll policy --machine
echo
echo "The lab is still running: try 'tests/lab/labctl run --user alice -- build/autoenroll policy --json'"
echo "Stop it with: tests/lab/labctl down"
