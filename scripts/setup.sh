#!/usr/bin/env bash
# One-time set-up on a fresh Debian machine (run as root): the system
# packages WebGPU needs here, then the npm dependencies.
#   chromium  - the browser for the browser tests and the demo, and the
#               SwiftShader Vulkan driver (vk_swiftshader_icd.json) that Dawn
#               uses in Node when the machine has no GPU;
#   libvulkan1 - the Vulkan loader Dawn opens.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
dpkg -s libvulkan1 >/dev/null 2>&1 || missing+=(libvulkan1)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
