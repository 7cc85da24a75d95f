# shellcheck shell=bash
# The Debian packages the build and the tests need, and how to get them: sourced by .ci/run (which always installs
# them) and scripts/test.sh (which installs them only when something is missing). One list, so the two agree.
#
#   source scripts/system-deps.sh
#   toolbox_ensure_system_deps "scripts/test.sh"   # installs the list if anything is missing; 2 if it cannot
#   toolbox_apt_install                             # apt-get update, then installs the list (root or sudo -n)
#
# TOOLBOX_APT_GET (default apt-get) and TOOLBOX_SUDO (default sudo) are there for the self-test
# (Tests/ToolboxCoreTests/SystemDepsScriptTests.swift), which runs this file against fakes.

TOOLBOX_APT_PACKAGES=(libssl-dev pkg-config nginx-light rabbitmq-server curl openssl python3 python3-venv
                      python3-qpid-proton ca-certificates spin gcc tinyproxy)

# The packages (from the list) whose commands, libraries or modules are missing, space-separated.
toolbox_missing_packages() {
    local missing=()
    _toolbox_have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }
    _toolbox_have pkg-config || missing+=(pkg-config)
    pkg-config --exists openssl >/dev/null 2>&1 || missing+=(libssl-dev)
    _toolbox_have nginx || missing+=(nginx-light)
    _toolbox_have rabbitmq-server || missing+=(rabbitmq-server)
    _toolbox_have curl || missing+=(curl)
    _toolbox_have openssl || missing+=(openssl)
    if [ -x /usr/bin/python3 ]; then
        # Debian's modules are seen by /usr/bin/python3 only; scripts/interop.sh makes its venv with it.
        /usr/bin/python3 -c "import ensurepip, venv" >/dev/null 2>&1 || missing+=(python3-venv)
        /usr/bin/python3 -c "import proton" >/dev/null 2>&1 || missing+=(python3-qpid-proton)
    else
        missing+=(python3 python3-venv python3-qpid-proton)
    fi
    [ -e /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
    # The pool's SPIN model (Tests/Model) is checked by spin and compiled with gcc.
    _toolbox_have spin || missing+=(spin)
    _toolbox_have gcc || missing+=(gcc)
    # The proxy tests tunnel through a private tinyproxy (ToolboxCLITestSupport/TinyproxyFixture.swift).
    _toolbox_have tinyproxy || missing+=(tinyproxy)
    echo "${missing[*]}"
}

# apt-get update (once), then the whole list; as root, or through passwordless sudo. 1 when neither is possible.
toolbox_apt_install() {
    local apt=${TOOLBOX_APT_GET:-apt-get} sudo=${TOOLBOX_SUDO:-sudo}
    local runner=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v "$sudo" >/dev/null 2>&1 && "$sudo" -n true >/dev/null 2>&1 || return 1
        runner=("$sudo" -n)
    fi
    "${runner[@]}" env DEBIAN_FRONTEND=noninteractive "$apt" update -qq || return 1
    "${runner[@]}" env DEBIAN_FRONTEND=noninteractive "$apt" install -y -qq --no-install-recommends \
        "${TOOLBOX_APT_PACKAGES[@]}" >/dev/null || return 1
    # Debian starts the packaged services; the tests run their own private instances on free ports.
    "${runner[@]}" service nginx stop >/dev/null 2>&1 || true
    "${runner[@]}" service rabbitmq-server stop >/dev/null 2>&1 || true
    "${runner[@]}" service tinyproxy stop >/dev/null 2>&1 || true
}

# Installs the list when anything is missing and it can (root or sudo); otherwise explains what to run and
# returns 2. $1 names the caller in messages.
toolbox_ensure_system_deps() {
    local who=${1:-toolbox} missing
    missing=$(toolbox_missing_packages)
    [ -z "$missing" ] && return 0
    echo "$who: missing $missing; installing the test packages with apt-get" >&2
    if ! toolbox_apt_install; then
        echo "$who: missing $missing and could not install them (needs root or passwordless sudo); as root run:" \
            "apt-get update && apt-get install -y ${TOOLBOX_APT_PACKAGES[*]}" >&2
        return 2
    fi
    missing=$(toolbox_missing_packages)
    if [ -n "$missing" ]; then
        echo "$who: still missing $missing after apt-get install" >&2
        return 2
    fi
}
