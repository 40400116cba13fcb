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

# lattice_pip_install MODULE REQUIREMENT: installs REQUIREMENT unless python3 can import MODULE.
lattice_pip_install() {
    python3 -c "import $1" 2>/dev/null && return 0
    python3 -m pip --version >/dev/null 2>&1 || lattice_apt_install python3-pip
    python3 -m pip install -q "$2" 2>/dev/null || python3 -m pip install -q --break-system-packages "$2"
}

lattice_install_run_deps() { lattice_apt_install libsodium-dev pkg-config; }

lattice_install_test_deps() {
    lattice_pip_install noise noiseprotocol==0.3.1
    lattice_install_run_deps
    # The LAN namespace test (Tests/LAN/lan-test.sh): namespaces, nftables impairments, capture.
    lattice_apt_install iproute2 nftables tcpdump
    # The status page test (Tests/StatusPage/status-page-test.sh): headless Chromium and curl.
    # Not fatal: without them that test says why and skips (exit 77).
    lattice_apt_install chromium curl || echo "could not install chromium/curl: the status page test will skip" >&2
}
