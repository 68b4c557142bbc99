#!/usr/bin/env bash
# The pages' files obey what tierd-http's CSP (default-src 'self') and the
# no-other-hosts rule demand, without a browser: no inline script, no
# inline style, no on* handler attributes, no URL of another host (the SVG
# namespace name is not a fetch), and partner.html is there (tierd-http
# serves it for /). Usage: check_www.sh DIR
set -euo pipefail
www=${1:?usage: check_www.sh DIR}
fail=0
problem() {
    echo "check_www: $*" >&2
    fail=1
}
for f in "$www"/*.html; do
    if grep -nE '<script' "$f" | grep -v '<script src="[^"]*"[^>]*></script>' >/dev/null; then
        problem "$f: an inline <script> (CSP blocks it; use a file under static/)"
    fi
    if grep -nE '<style|[[:space:]]style=' "$f" >/dev/null; then
        problem "$f: inline style (CSP blocks it; use static/tierd.css)"
    fi
    if grep -nE '[[:space:]]on[a-z]+=' "$f" >/dev/null; then
        problem "$f: an on* handler attribute (CSP blocks it; add a listener in the script)"
    fi
done
foreign() {
    sed 's|http://www.w3.org/2000/svg||g' "$@" | grep -nE '(https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}'
}
if foreign "$www"/*.html "$www"/static/* >/dev/null; then
    foreign "$www"/*.html "$www"/static/* >&2
    problem "a URL of another host (pages load nothing from other hosts)"
fi
if grep -rnE '\.(inner|outer)HTML|document\.write|[^a-z]eval\(' "$www/static" >/dev/null; then
    problem "innerHTML/document.write/eval in the scripts (values from the API go in as text)"
fi
if [ ! -f "$www/partner.html" ]; then
    problem "no partner.html (tierd-http serves it for /)"
fi
[ "$fail" -eq 0 ] && echo "check_www: $(ls "$www"/*.html "$www"/static/* | wc -l) files fine"
exit "$fail"
