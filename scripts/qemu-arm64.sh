#!/usr/bin/env bash
# Runs the cross-built linux-arm64-gnu binary on this x86_64 machine: Debian's arm64 Node under
# qemu-user makes a JPEG, a WebP and a PNG thumbnail through dist/index.cjs, and sharp (host side)
# decodes each one and checks its size.
# Debian's nodejs:arm64 cannot be installed next to the amd64 one (apt would remove the host's
# nodejs), so its packages are only downloaded (`apt-get download`) and unpacked into a private
# root that qemu-aarch64 -L uses. That Node is 18.20 (bookworm), older than `engines`; it is only
# the loader of the binary here.
#   usage: scripts/qemu-arm64.sh   (after scripts/cross-build.sh aarch64-unknown-linux-gnu)
#   needs: qemu-user, `dpkg --add-architecture arm64 && apt-get update`
set -euo pipefail
cd "$(dirname "$0")/.."
binary=$PWD/npm/linux-arm64-gnu/restthumbs.linux-arm64-gnu.node
[ -f "$binary" ] || { echo "qemu-arm64: $binary missing: run scripts/cross-build.sh aarch64-unknown-linux-gnu" >&2; exit 1; }
command -v qemu-aarch64 >/dev/null || { echo "qemu-arm64: qemu-aarch64 missing: apt-get install qemu-user" >&2; exit 1; }
root=${ARM64_ROOT:-$HOME/.cache/restthumbs-arm64-root}
if [ ! -x "$root/usr/bin/node" ]; then
  dpkg --print-foreign-architectures | grep -qx arm64 || { echo "qemu-arm64: run: dpkg --add-architecture arm64 && apt-get update" >&2; exit 1; }
  debs=$(mktemp -d)
  (cd "$debs" && apt-get download -q \
    nodejs:arm64 libnode108:arm64 libc6:arm64 libgcc-s1:arm64 libstdc++6:arm64 libbrotli1:arm64 \
    libc-ares2:arm64 libicu72:arm64 libnghttp2-14:arm64 libssl3:arm64 libuv1:arm64 zlib1g:arm64 \
    node-cjs-module-lexer node-acorn node-undici node-busboy node-xtend)
  mkdir -p "$root"
  for deb in "$debs"/*.deb; do dpkg -x "$deb" "$root"; done
  rm -rf "$debs"
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cat > "$out/run.cjs" <<'JS'
const { readFileSync, writeFileSync } = require('node:fs')
const { thumbnail } = require(process.argv[2])
console.log(`qemu-arm64: node ${process.version} ${process.platform}-${process.arch}`)
const jobs = [['sunset.jpg', 'jpeg', 160, 120], ['tiles.webp', 'webp', 96, 96], ['rings.png', 'png', 64, 48]]
Promise.all(jobs.map(async ([src, format, width, height]) => {
  const t = await thumbnail(readFileSync(`media/${src}`), { width, height, method: 'crop', format })
  writeFileSync(`${process.argv[3]}/${src}.${format}`, t.data)
})).catch((err) => { console.error(err); process.exit(1) })
JS
NAPI_RS_NATIVE_LIBRARY_PATH=$binary qemu-aarch64 -L "$root" "$root/usr/bin/node" "$out/run.cjs" "$PWD/dist/index.cjs" "$out"
node --input-type=module -e "
import sharp from 'sharp'
for (const [file, format, width, height] of [['sunset.jpg.jpeg', 'jpeg', 160, 120], ['tiles.webp.webp', 'webp', 96, 96], ['rings.png.png', 'png', 64, 48]]) {
  const { info } = await sharp('$out/' + file).raw().toBuffer({ resolveWithObject: true })
  const meta = await sharp('$out/' + file).metadata()
  if (meta.format !== format || info.width !== width || info.height !== height) throw new Error(file + ': got ' + meta.format + ' ' + info.width + 'x' + info.height)
  console.log('qemu-arm64: ok ' + format + ' ' + width + 'x' + height + ' made on arm64, decoded here')
}"
