# Shared by run.sh and test.sh: installs system packages the node and its tests need.
# Sourced, not executed.

lattice_sudo() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

lattice_apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "installing: ${missing[*]}" >&2
        lattice_sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive lattice_sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

lattice_install_run_deps() { lattice_apt_install libsodium-dev pkg-config; }

lattice_install_test_deps() {
    lattice_install_run_deps
}
