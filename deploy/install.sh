#!/usr/bin/env bash
# Install or update the AgriQS kiosk on Raspberry Pi OS (Debian bookworm, arm64).
#
#   sudo deploy/install.sh [--bundle agriqs-kiosk-X.tar --release-key county.pub]
#                          [--dry-run] [--root DIR] [--skip-packages] [--software-only]
#
# Idempotent: every step checks before it changes, and a second run reports
# "no changes". --dry-run prints every change and makes none. --root DIR works on a
# directory tree (an image being prepared, or a test) instead of the running system:
# no apt, no udev reload, no running systemd; units are enabled with systemctl --root;
# a --bundle is checked and staged for agriqs-firstboot.service, which installs it on
# the kiosk with the kiosk's own Python. --software-only: only the bundle (that unit).
# See docs/deploy.md.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROJECT="$(dirname "$HERE")"
SERVICE_USER=agriqs
PACKAGES=(
    fonts-wqy-microhei        # CJK font for screen and raster labels
    libsdl2-2.0-0 libsdl2-image-2.0-0 libsdl2-mixer-2.0-0 libsdl2-ttf-2.0-0  # pygame runtime
    libusb-1.0-0              # pyusb for USB printers
    mosquitto-clients         # technicians' uplink diagnosis (mosquitto_pub/sub)
    python3-venv              # the virtual environments in /opt/agriqs/venvs
    python3-cryptography      # this script checks the bundle signature before installing
    cage                      # Wayland kiosk compositor: one full-screen app, no desktop
    libzinnia0 tegaki-zinnia-simplified-chinese  # handwritten names (ui/handwriting.py)
    espeak-ng                 # refusals and the confirmation spoken in their own words
)
# Groups the units give the UI (SupplementaryGroups=); Pi OS has them, a bare tree may not.
DEVICE_GROUPS=(video render input lp dialout gpio)
ENABLE_UNITS=(agriqs-kiosk.service agriqs-agent.service agriqs-backup.timer
              agriqs-update.path agriqs-update-recover.service agriqs-firstboot.service)
# An image's software, installed at its first boot (agriqs-firstboot.service).
FIRSTBOOT_DIR=/var/lib/agriqs-firstboot
FIRSTBOOT_SCRIPT=/usr/local/lib/agriqs/install.sh
# tty1 belongs to the kiosk; Ctrl+Alt+Del on a plugged-in keyboard must not reboot it.
MASK_UNITS=(getty@tty1.service ctrl-alt-del.target)

ROOT=/
DRY_RUN=0
SKIP_PACKAGES=0
SOFTWARE_ONLY=0
BUNDLE=""
RELEASE_KEY=""
CHANGES=0
WORK=""
cleanup() { if [[ -n "$WORK" ]]; then rm -rf "$WORK"; fi; }
trap cleanup EXIT

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --root) ROOT="${2:?--root needs a directory}"; shift ;;
        --skip-packages) SKIP_PACKAGES=1 ;;
        --software-only) SOFTWARE_ONLY=1 ;;
        --bundle) BUNDLE="${2:?--bundle needs a file}"; shift ;;
        --release-key) RELEASE_KEY="${2:?--release-key needs a file}"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

ROOT="${ROOT%/}"
[[ -z "$ROOT" ]] && ROOT=/
if [[ ! -d "$ROOT" ]]; then
    echo "install.sh: --root $ROOT is not a directory" >&2
    exit 2
fi
if [[ "$SOFTWARE_ONLY" -eq 1 && -z "$BUNDLE" ]]; then
    echo "install.sh: --software-only needs --bundle" >&2
    exit 2
fi
if [[ -n "$BUNDLE" && -z "$RELEASE_KEY" ]]; then
    echo "install.sh: --bundle needs --release-key (the county's public release key)" >&2
    exit 2
fi
if [[ "$DRY_RUN" -eq 0 && "$(id -u)" -ne 0 ]]; then
    echo "install.sh: run as root (or use --dry-run)" >&2
    exit 2
fi

# A path inside the target tree.
p() { if [[ "$ROOT" == / ]]; then printf '%s' "$1"; else printf '%s%s' "$ROOT" "$1"; fi; }
live() { [[ "$ROOT" == / ]]; }

# Every change goes through here: announced, counted, and skipped in a dry run.
change() {
    local what="$1"; shift
    CHANGES=$((CHANGES + 1))
    if [[ "$DRY_RUN" -eq 1 ]]; then
        echo "would: $what"
    else
        echo "change: $what"
        "$@"
    fi
}

id_of() {  # numeric id of a user or group in the target tree (chown must not use the host's)
    local db="$1" name="$2"
    awk -F: -v n="$name" '$1 == n { print $3; found = 1 } END { exit !found }' "$(p "/etc/$db")"
}

# --- packages -------------------------------------------------------------------
ensure_packages() {
    if [[ "$SKIP_PACKAGES" -eq 1 ]]; then
        echo "packages: skipped (--skip-packages)"
        return
    fi
    local missing=() pkg
    for pkg in "${PACKAGES[@]}"; do
        if ! dpkg-query --admindir="$(p /var/lib/dpkg)" -W -f='${Status}' "$pkg" 2>/dev/null \
                | grep -q "install ok installed"; then
            missing+=("$pkg")
        fi
    done
    [[ ${#missing[@]} -eq 0 ]] && return
    if ! live; then
        echo "install.sh: packages missing in $ROOT: ${missing[*]} (install them in the image, or pass --skip-packages)" >&2
        exit 1
    fi
    change "apt-get install ${missing[*]}" \
        env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

# --- user and groups ------------------------------------------------------------
ensure_accounts() {
    local group
    for group in "${DEVICE_GROUPS[@]}"; do
        if ! id_of group "$group" >/dev/null; then
            change "create system group $group" groupadd --prefix "$ROOT" --system "$group"
        fi
    done
    if ! id_of passwd "$SERVICE_USER" >/dev/null; then
        # No shell, no password, home in the data directory: nobody logs in as agriqs.
        change "create system user $SERVICE_USER" \
            useradd --prefix "$ROOT" --system --user-group --home-dir /var/lib/agriqs \
                --no-create-home --shell /usr/sbin/nologin --comment "AgriQS kiosk" "$SERVICE_USER"
    fi
}

# --- directories and files --------------------------------------------------------
set_owner_mode() { chown "$1:$2" "$4" && chmod "$3" "$4"; }

ensure_dir() {  # path mode owner group
    local path dir="$1" mode="$2" owner="$3" group="$4" uid gid
    path="$(p "$dir")"
    if [[ ! -d "$path" ]]; then
        change "mkdir $dir" mkdir -p "$path"
    fi
    if [[ "$DRY_RUN" -eq 1 && ! -d "$path" ]]; then
        echo "would: chmod $mode, chown $owner:$group $dir"
        return
    fi
    uid="$(id_of passwd "$owner" || echo "?")"
    gid="$(id_of group "$group" || echo "?")"
    if [[ "$uid" == "?" || "$gid" == "?" ]]; then
        echo "would: chown $owner:$group $dir (after the account exists)"
        return
    fi
    if [[ "$(stat -c '%a %u %g' "$path")" != "${mode#0} $uid $gid" ]]; then
        change "chmod $mode, chown $owner:$group $dir" set_owner_mode "$uid" "$gid" "$mode" "$path"
    fi
}

ensure_file() {  # source target mode
    local src="$1" dst mode="$3"
    dst="$(p "$2")"
    if [[ -f "$dst" ]] && cmp -s "$src" "$dst" && [[ "$(stat -c '%a' "$dst")" == "${mode#0}" ]]; then
        return
    fi
    change "install $2" install -D -m "$mode" "$src" "$dst"
    UNITS_CHANGED=1
}

ensure_starter_config() {
    local dst
    dst="$(p /etc/agriqs/kiosk.toml)"
    if [[ ! -e "$dst" ]]; then  # never overwrite the technician's configuration
        change "write starter /etc/agriqs/kiosk.toml (edit device, printer, reader)" \
            write_starter_config "$dst"
    fi
    # root:agriqs 0640 (docs/deploy.md): the services read it, only root edits it.
    ensure_owner_mode /etc/agriqs/kiosk.toml 0640 root "$SERVICE_USER"
}

write_starter_config() {
    # The documented example: a USB label printer, TLS to the county broker.
    install -m 0640 "$PROJECT/docs/deploy/kiosk.example.toml" "$1"
}

ensure_owner_mode() {  # path mode owner group: an existing file, in the target's ids
    local file="$1" mode="$2" owner="$3" group="$4" path uid gid
    path="$(p "$file")"
    if [[ ! -e "$path" ]]; then
        [[ "$DRY_RUN" -eq 1 ]] && echo "would: chmod $mode, chown $owner:$group $file"
        return
    fi
    uid="$(id_of passwd "$owner" || echo "?")"
    gid="$(id_of group "$group" || echo "?")"
    if [[ "$uid" == "?" || "$gid" == "?" ]]; then
        echo "would: chown $owner:$group $file (after the account exists)"
        return
    fi
    if [[ "$(stat -c '%a %u %g' "$path")" != "${mode#0} $uid $gid" ]]; then
        change "chmod $mode, chown $owner:$group $file" set_owner_mode "$uid" "$gid" "$mode" "$path"
    fi
}

UNITS_CHANGED=0
install_system_files() {
    local f
    for f in "$PROJECT"/systemd/system/*; do
        ensure_file "$f" "/etc/systemd/system/$(basename "$f")" 0644
    done
    for f in "$PROJECT"/systemd/udev/*.rules; do
        ensure_file "$f" "/etc/udev/rules.d/$(basename "$f")" 0644
    done
    ensure_file "$PROJECT/systemd/journald.conf.d/agriqs.conf" /etc/systemd/journald.conf.d/agriqs.conf 0644
    ensure_file "$PROJECT/systemd/sysctl.d/90-agriqs-kiosk.conf" /etc/sysctl.d/90-agriqs-kiosk.conf 0644
    if [[ -f "$PROJECT/docs/deploy.md" ]]; then
        ensure_file "$PROJECT/docs/deploy.md" /usr/local/share/doc/agriqs/deploy.md 0644
    fi
    if [[ -n "$RELEASE_KEY" ]]; then
        ensure_file "$RELEASE_KEY" /etc/agriqs/release-keys/county-release.pub 0644
    fi
}

# --- systemd state ----------------------------------------------------------------
reload_live() { systemctl daemon-reload && udevadm control --reload && sysctl --quiet --system; }

sctl() { if live; then systemctl "$@"; else systemctl --root="$ROOT" "$@"; fi; }

ensure_units() {
    local unit state
    if live && [[ "$UNITS_CHANGED" -eq 1 ]] && [[ -d /run/systemd/system ]]; then
        change "systemctl daemon-reload, udev reload, sysctl" reload_live
    fi
    for unit in "${ENABLE_UNITS[@]}"; do
        state="$(sctl is-enabled "$unit" 2>/dev/null || true)"
        if [[ "$state" != enabled ]]; then
            if [[ "$DRY_RUN" -eq 1 || -f "$(p "/etc/systemd/system/$unit")" ]]; then
                change "enable $unit" sctl enable --quiet "$unit"
            fi
        fi
    done
    for unit in "${MASK_UNITS[@]}"; do
        state="$(sctl is-enabled "$unit" 2>/dev/null || true)"
        [[ "$state" == masked ]] || change "mask $unit" sctl mask --quiet "$unit"
    done
    # The kiosk is a graphical.target service; no display manager, no desktop.
    if [[ "$(sctl get-default 2>/dev/null || true)" != graphical.target ]]; then
        change "default target graphical.target" sctl set-default --quiet graphical.target
    fi
    state="$(sctl is-enabled display-manager.service 2>/dev/null || true)"
    if [[ "$state" == enabled || "$state" == alias ]]; then
        change "disable the desktop (display-manager.service)" sctl disable --quiet display-manager.service
    fi
}

# --- software from a signed bundle ----------------------------------------------------
install_bundle() {
    [[ -z "$BUNDLE" ]] && { echo "software: no --bundle given, /opt/agriqs left as it is"; return; }
    local work version venv current
    WORK="$(mktemp -d)"; work="$WORK"
    tar -xf "$BUNDLE" -C "$work" --no-same-owner --no-same-permissions
    # Signature and checksums, with Debian's python3-cryptography (not the bundle's code).
    version="$(python3 - "$work" "$RELEASE_KEY" <<'PY'
import base64, hashlib, json, pathlib, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
work, key = pathlib.Path(sys.argv[1]), base64.b64decode(open(sys.argv[2]).read().strip())
doc = json.loads((work / "manifest.json").read_text())
Ed25519PublicKey.from_public_bytes(key).verify(
    base64.b64decode(doc["signature"]), doc["body"].encode())
body = json.loads(doc["body"])
present = {f"wheels/{w.name}" for w in (work / "wheels").iterdir()}
if present != set(body["files"]):
    sys.exit("bundle files differ from its manifest")
for name, digest in body["files"].items():
    if hashlib.sha256((work / name).read_bytes()).hexdigest() != digest:
        sys.exit(f"{name}: checksum mismatch")
print(body["version"])
PY
)" || { echo "install.sh: bundle $BUNDLE refused (signature or checksum)" >&2; exit 1; }
    if ! live && [[ "$SOFTWARE_ONLY" -eq 0 ]]; then
        # An image: this machine's Python and paths must not end up in it.
        ensure_dir "$FIRSTBOOT_DIR" 0700 root root
        ensure_file "$BUNDLE" "$FIRSTBOOT_DIR/bundle.tar" 0600
        ensure_file "$HERE/install.sh" "$FIRSTBOOT_SCRIPT" 0755
        echo "software: agriqs-kiosk $version staged; agriqs-firstboot.service installs it at first boot"
        return
    fi
    venv="/opt/agriqs/venvs/$version"
    current="$(readlink "$(p /opt/agriqs/current)" 2>/dev/null || true)"
    if [[ -f "$(p "$venv")/.agriqs-complete" && "$current" == "venvs/$version" ]]; then
        return
    fi
    if [[ ! -f "$(p "$venv")/.agriqs-complete" ]]; then
        change "create $venv and install agriqs-kiosk $version offline" \
            build_venv "$(p "$venv")" "$work/wheels" "$version"
    fi
    change "switch /opt/agriqs/current -> venvs/$version" switch_current "$(p /opt/agriqs)" "$version"
}

build_venv() {  # venv-dir wheels-dir version; the marker goes last, as in kiosk/infra/update.py
    [[ -n "$1" && "$1" == /* ]] || { echo "install.sh: bad venv path $1" >&2; exit 1; }
    rm -rf "$1"
    python3 -m venv "$1"
    "$1/bin/pip" install --quiet --no-index --disable-pip-version-check \
        --find-links "$2" "agriqs-kiosk==$3"
    printf '{"version": "%s"}\n' "$3" > "$1/.agriqs-complete"
}

switch_current() {  # install-root version; rename over the old link: never a missing link
    ln -sfn "venvs/$2" "$1/.current.new"
    mv -T "$1/.current.new" "$1/current"
}

echo "AgriQS kiosk installer: target ${ROOT}$([[ "$DRY_RUN" -eq 1 ]] && echo ' (dry run)')"
if [[ "$SOFTWARE_ONLY" -eq 1 ]]; then
    install_bundle
    if [[ "$CHANGES" -eq 0 ]]; then echo "no changes"; else echo "$CHANGES changes made"; fi
    exit 0
fi
ensure_packages
ensure_accounts
ensure_dir /etc/agriqs 0750 root "$SERVICE_USER"
ensure_dir /etc/agriqs/release-keys 0755 root root
ensure_dir /var/lib/agriqs 0750 "$SERVICE_USER" "$SERVICE_USER"
ensure_dir /var/lib/agriqs/backups 0750 "$SERVICE_USER" "$SERVICE_USER"
ensure_dir /var/lib/agriqs/update 0750 "$SERVICE_USER" "$SERVICE_USER"
# The root update units' own state: nothing the service user can write (issue 11).
ensure_dir /var/lib/agriqs-update 0700 root root
ensure_dir /var/lib/agriqs/update/incoming 0750 "$SERVICE_USER" "$SERVICE_USER"
ensure_dir /opt/agriqs 0755 root root
ensure_dir /opt/agriqs/venvs 0755 root root
ensure_dir /media/agriqs-backup 0755 root root
ensure_starter_config
install_system_files
ensure_units
install_bundle

if [[ "$CHANGES" -eq 0 ]]; then
    echo "no changes"
elif [[ "$DRY_RUN" -eq 1 ]]; then
    echo "dry run: $CHANGES changes would be made, none were"
else
    echo "$CHANGES changes made"
fi
