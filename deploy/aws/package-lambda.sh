#!/usr/bin/env bash
# Packages cartd for AWS Lambda (runtime provided.al2023): a zip holding
#   bootstrap   deploy/aws/lambda/bootstrap, which runs `cartd lambda "$_HANDLER"`
#   cartd       the binary given
# both with mode 0755 (Lambda runs them from the zip's root, $LAMBDA_TASK_ROOT).
#
#   deploy/aws/package-lambda.sh BINARY OUT.zip
#   deploy/aws/package-lambda.sh target/release/cartd build/cartd-lambda.zip
#
# The binary must run on Amazon Linux 2023: a glibc build may only need glibc <= 2.34 (the
# version AL2023 ships), so build it in an AL2023 container (public.ecr.aws/amazonlinux/
# amazonlinux:2023 with a Rust toolchain) or for a musl target (x86_64-unknown-linux-musl,
# statically linked). A binary built on a newer Debian or Ubuntu may use newer glibc symbols
# (GLIBC_2.35 and up) and then fails at the function's first start ("version `GLIBC_2.3x' not
# found"). The script warns when it can see such symbols (with objdump, if installed).
# The templates use x86_64 (deploy/aws/lambda.yaml, Architectures): build for that.
#
# Uses `zip` when installed, else python3's zipfile (which also stores the modes).
set -euo pipefail

usage() {
    echo "usage: $0 BINARY OUT.zip" >&2
    exit 2
}
[ "$#" -eq 2 ] || usage
binary=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
bootstrap=$here/lambda/bootstrap

[ -f "$binary" ] || { echo "$0: $binary: no such file" >&2; exit 1; }
[ -f "$bootstrap" ] || { echo "$0: $bootstrap: missing" >&2; exit 1; }

# Newest glibc symbol version the binary needs, when objdump can tell (a static or musl binary
# needs none).
if command -v objdump >/dev/null 2>&1; then
    newest=$(objdump -T "$binary" 2>/dev/null | grep -o 'GLIBC_[0-9][0-9.]*' | sort -u -V | tail -n 1 || true)
    if [ -n "$newest" ]; then
        version=${newest#GLIBC_}
        if [ "$(printf '%s\n%s\n' "$version" 2.34 | sort -V | tail -n 1)" != 2.34 ]; then
            echo "$0: warning: $binary needs $newest; Amazon Linux 2023 has glibc 2.34" >&2
        fi
    fi
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
install -m 0755 "$bootstrap" "$stage/bootstrap"
install -m 0755 "$binary" "$stage/cartd"

mkdir -p "$(dirname "$out")"
out_abs=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
rm -f "$out_abs"
if command -v zip >/dev/null 2>&1; then
    (cd "$stage" && zip -q -X "$out_abs" bootstrap cartd)
else
    python3 - "$stage" "$out_abs" <<'PY'
import os, sys, zipfile
stage, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
    for name in ("bootstrap", "cartd"):
        path = os.path.join(stage, name)
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.create_system = 3  # Unix, so the external attributes carry the mode
        info.external_attr = (0o100755 & 0xFFFF) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with open(path, "rb") as data:
            archive.writestr(info, data.read())
PY
fi
echo "$out_abs"
