#!/usr/bin/env bash
# Installs the Debian 12 packages vigil needs to build, test and run. Idempotent: installs only what
# is missing, so `make run` and `make test` can call it every time at no cost.
set -euo pipefail

PKGS=(
  # toolchain
  gcc clang make pkg-config meson ninja-build python3 curl ca-certificates openssl
  # libraries
  libmicrohttpd-dev libyaml-dev libxxhash-dev libjansson-dev libcurl4-openssl-dev libpcre2-dev
  libsnappy-dev libzstd-dev libssl-dev zlib1g-dev
  # tests: unit framework, the fuzzing runtime, and the real components tests compare against
  libcmocka-dev libclang-rt-14-dev prometheus prometheus-node-exporter prometheus-alertmanager
  prometheus-pushgateway victoria-metrics
  # the web console's build (web/: `npm ci`, then tsc and esbuild, run by the meson build) and the
  # OpenTelemetry JS SDK client of tests/integration/test_otlp.py (`npm ci` in tests/otlp_client, which
  # the test runs itself when its packages are missing)
  nodejs npm
  # tests/integration/test_console.py: the console in a real headless browser
  chromium chromium-driver python3-selenium
)

# Packages whose command may come from elsewhere: a Node.js build that bundles npm (NodeSource's)
# conflicts with Debian's npm package, so an npm already on the PATH is enough.
declare -A provided_by_command=([npm]=npm)

missing=()
for p in "${PKGS[@]}"; do
  if [ -n "${provided_by_command[$p]:-}" ] && command -v "${provided_by_command[$p]}" >/dev/null; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
