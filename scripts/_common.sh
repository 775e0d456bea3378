# shellcheck shell=bash
# Shared bash helpers for scripts/test, scripts/quickstart and scripts/provision-docker.
# Source it (`source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"`); it does nothing on its own.

NB_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NB_VENV="${NB_REPO_ROOT}/.venv"
# The pinned, hashed dependency set (package + dev extra) that .venv installs; scripts/lock makes it.
NB_LOCK="${NB_REPO_ROOT}/requirements-lock.txt"
# The Python the lock is resolved for (scripts/lock passes it to uv).
NB_LOCK_PYTHON=3.11
# locked: .venv from NB_LOCK. latest: .venv-latest with the newest versions pyproject.toml allows.
NB_INSTALL_MODE=locked

if [[ -t 1 ]]; then
    _NB_BOLD=$'\033[1m' _NB_RED=$'\033[31m' _NB_GREEN=$'\033[32m' _NB_YELLOW=$'\033[33m' _NB_OFF=$'\033[0m'
else
    _NB_BOLD='' _NB_RED='' _NB_GREEN='' _NB_YELLOW='' _NB_OFF=''
fi

# Milliseconds since the epoch.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Seconds since a now_ms value, as "12.3s".
since() {
    local ms=$(($(now_ms) - $1))
    printf '%d.%01ds' $((ms / 1000)) $(((ms % 1000) / 100))
}

section() { printf '\n%s==> %s%s\n' "$_NB_BOLD" "$*" "$_NB_OFF"; }
info() { printf '    %s\n' "$*"; }
ok() { printf '    %s%s%s\n' "$_NB_GREEN" "$*" "$_NB_OFF"; }
warn() { printf '    %sWARNING: %s%s\n' "$_NB_YELLOW" "$*" "$_NB_OFF" >&2; }
err() { printf '%sERROR: %s%s\n' "$_NB_RED" "$*" "$_NB_OFF" >&2; }
die() {
    err "$*"
    exit 1
}

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# Run "$@" holding an exclusive lock on the lock file $1 (waits up to $2 seconds), so two
# concurrent runs (two terminals, two worktrees) do not install or provision at the same time.
with_lock() {
    local lockfile=$1 wait_s=$2
    shift 2
    (
        exec 9>"$lockfile"
        if ! flock -w "$wait_s" 9; then
            die "waited ${wait_s}s for the lock $lockfile (another run is provisioning?)"
        fi
        "$@"
    )
}

# apt-get install the given packages; `apt-get update` runs at most once per script run.
_NB_APT_UPDATED=0
apt_install() {
    is_root || die "need root to apt-get install $* (or install them by hand)"
    command -v apt-get >/dev/null || die "no apt-get on this machine: install $* by hand"
    export DEBIAN_FRONTEND=noninteractive
    if [[ $_NB_APT_UPDATED -eq 0 ]]; then
        local t
        t=$(now_ms)
        # A failing third-party source makes `apt-get update` complain; the install below is the
        # real test of whether the Debian archive answered.
        apt-get update -qq || warn "apt-get update reported errors; trying the install anyway"
        _NB_APT_UPDATED=1
        info "apt-get update: $(since "$t")"
    fi
    local t
    t=$(now_ms)
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null || die "apt-get install $* failed"
    info "apt-get install $*: $(since "$t")"
}

# The stamp written into the venv after a successful install: a hash of what was installed from.
_venv_stamp_want() {
    if [[ $NB_INSTALL_MODE == latest ]]; then
        # Re-resolved on every run: the newest allowed versions change without any file changing.
        echo "latest-$(date +%s)"
    else
        cat "$NB_REPO_ROOT/pyproject.toml" "$NB_LOCK" | sha256sum | cut -d' ' -f1
    fi
}

# Install into $NB_VENV: the lock's pins (hash-checked), then nb_agents itself without resolving
# its dependencies again, then `pip check` (a lock older than pyproject.toml shows up there).
_install_locked() {
    local pip=("$NB_VENV/bin/python" -m pip --disable-pip-version-check)
    local py
    [[ -f "$NB_LOCK" ]] || die "no $NB_LOCK (restore it from git, or make it: scripts/lock)"
    py=$("$NB_VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    if [[ $py != "$NB_LOCK_PYTHON" ]]; then
        warn "the lock is resolved for Python $NB_LOCK_PYTHON and this venv has Python $py:"
        warn "some pins may not install here. Use NB_AGENTS_PYTHON=python$NB_LOCK_PYTHON, or the unlocked newest versions: scripts/test --latest"
    fi
    info "pip install --require-hashes -r $(basename "$NB_LOCK") (pyproject.toml or the lock changed, or first install)"
    "${pip[@]}" install -q --require-hashes -r "$NB_LOCK" ||
        die "installing $(basename "$NB_LOCK") failed (see above); on Python $py try NB_AGENTS_PYTHON=python$NB_LOCK_PYTHON or scripts/test --latest"
    (cd "$NB_REPO_ROOT" && "${pip[@]}" install -q --no-deps -e .) || die "pip install --no-deps -e . failed"
    if ! "${pip[@]}" check >&2; then
        die "$(basename "$NB_LOCK") does not satisfy pyproject.toml (a dependency was added or changed): run scripts/lock and commit the lock"
    fi
}

# Install into $NB_VENV the newest versions pyproject.toml allows (no lock).
_install_latest() {
    info "pip install --upgrade --upgrade-strategy eager -e \".[dev]\" (newest allowed versions, no lock)"
    (cd "$NB_REPO_ROOT" &&
        "$NB_VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade --upgrade-strategy eager -e ".[dev]") ||
        die "pip install --upgrade -e \".[dev]\" failed"
    "$NB_VENV/bin/python" -m pip --disable-pip-version-check check >&2 || die "pip check failed in $NB_VENV (see above)"
}

_ensure_venv_locked() {
    local python=${NB_AGENTS_PYTHON:-python3} want have='' stamp="$NB_VENV/.nb_agents-install.sha256"
    command -v "$python" >/dev/null || die "no $python on PATH (set NB_AGENTS_PYTHON to a Python >= 3.10)"
    if [[ -d "$NB_VENV" ]] && ! "$NB_VENV/bin/python" -c '' 2>/dev/null; then
        warn "$NB_VENV is broken (its Python does not run); recreating it"
        rm -rf "$NB_VENV"
    fi
    if [[ ! -d "$NB_VENV" ]]; then
        "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
            die "$python is $("$python" --version 2>&1); nb_agents needs Python >= 3.10"
        info "creating $NB_VENV with $("$python" --version 2>&1)"
        if ! "$python" -m venv "$NB_VENV"; then
            rm -rf "$NB_VENV"
            die "'$python -m venv' failed (on Debian: apt-get install python3-venv)"
        fi
        "$NB_VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
    fi
    want=$(_venv_stamp_want)
    [[ -f "$stamp" ]] && have=$(<"$stamp")
    if [[ "$have" == "$want" ]] && "$NB_VENV/bin/python" -c 'import nb_agents' 2>/dev/null; then
        info "up to date (pyproject.toml and $(basename "$NB_LOCK") unchanged since the last install)"
        return 0
    fi
    rm -f "$stamp"
    if [[ $NB_INSTALL_MODE == latest ]]; then
        _install_latest
    else
        _install_locked
    fi
    echo "$want" >"$stamp"
}

# Switch ensure_venv to the unlocked venv .venv-latest (the newest versions pyproject.toml allows).
use_latest_versions() {
    NB_VENV="${NB_REPO_ROOT}/.venv-latest"
    NB_INSTALL_MODE=latest
}

# Create the venv if absent and install the package with its dev extra: .venv from the lock,
# unless pyproject.toml and the lock are unchanged since the last successful install (or, after
# use_latest_versions, .venv-latest with the newest allowed versions). Puts its bin first on PATH.
ensure_venv() {
    local t lock
    t=$(now_ms)
    lock="/tmp/nb-agents-venv-$(printf '%s' "$NB_VENV" | sha256sum | cut -c1-12).lock"
    with_lock "$lock" 900 _ensure_venv_locked
    export PATH="$NB_VENV/bin:$PATH"
    export VIRTUAL_ENV="$NB_VENV"
    info "python: $("$NB_VENV/bin/python" --version 2>&1), $(since "$t")"
}
