#!/usr/bin/env bash
# Makes sure wgpu can find a Vulkan driver: installs Mesa's lavapipe on Debian/Ubuntu when none is present.
set -euo pipefail

have_loader() { ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; }
have_icd() {
  [ -n "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && return 0
  for d in /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d; do
    compgen -G "$d/*.json" >/dev/null 2>&1 && return 0
  done
  return 1
}

if [ "$(uname -s)" = "Darwin" ]; then exit 0; fi   # Metal needs no driver install
if have_loader && have_icd; then exit 0; fi

if [ -f /etc/debian_version ]; then
  echo "No Vulkan driver found: installing Mesa's software Vulkan driver (lavapipe, package mesa-vulkan-drivers)."
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
  exit 0
fi

cat >&2 <<'MSG'
No Vulkan driver found and this is not a Debian/Ubuntu system.
Install your GPU's Vulkan driver, or Mesa's software driver (lavapipe):
  Fedora: sudo dnf install mesa-vulkan-drivers vulkan-loader
  Arch:   sudo pacman -S vulkan-swrast vulkan-icd-loader
then run the command again.
MSG
exit 2
