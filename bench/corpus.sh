#!/usr/bin/env bash
# Fetches the benchmark corpus: real photos and artwork from Debian's wallpaper packages, so every
# machine of the project (and CI) gets the same bytes without committing any image.
#   usage: bench/corpus.sh [DEST]
#   DEST defaults to $RESTTHUMBS_CORPUS, else $HOME/.cache/restthumbs-corpus
# Prints DEST. Afterwards DEST/jpeg, DEST/png and DEST/webp hold every image of at least 200 kB
# (smaller files are icons and previews, which say nothing about large-image cost).
set -euo pipefail

dest=${1:-${RESTTHUMBS_CORPUS:-$HOME/.cache/restthumbs-corpus}}
packages=(gnome-backgrounds mate-backgrounds plasma-workspace-wallpapers lomiri-wallpapers ukui-wallpapers)
min_bytes=200000

if [ -f "$dest/.complete" ] || [ -f "$dest/.done" ]; then
  echo "$dest"
  exit 0
fi
for tool in apt-get dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "corpus: $tool is required (Debian or Ubuntu)" >&2; exit 1; }
done

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# apt-get download needs no root; a stale package list is the usual failure, so refresh once.
if ! (cd "$scratch" && apt-get download "${packages[@]}" >/dev/null 2>&1); then
  echo "corpus: refreshing the package lists" >&2
  sudo_cmd=(); [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq >/dev/null
  (cd "$scratch" && apt-get download "${packages[@]}" >/dev/null)
fi

for deb in "$scratch"/*.deb; do
  dpkg-deb -x "$deb" "$scratch/root"
done

mkdir -p "$dest/jpeg" "$dest/png" "$dest/webp"
count=0
# sorted, numbered names: every run sees the same order, and equal basenames cannot collide
while IFS= read -r -d '' file; do
  name=${file##*/}
  ext=${name##*.}
  case "${ext,,}" in
    jpg | jpeg) kind=jpeg ;;
    png) kind=png ;;
    webp) kind=webp ;;
    *) continue ;;
  esac
  [ "$(stat -c %s "$file")" -ge "$min_bytes" ] || continue
  count=$((count + 1))
  cp "$file" "$dest/$kind/$(printf '%03d' "$count")-$name"
done < <(find "$scratch/root" -type f -print0 | sort -z)

touch "$dest/.complete"
echo "corpus: $count images ($(ls "$dest/jpeg" | wc -l) JPEG, $(ls "$dest/png" | wc -l) PNG, $(ls "$dest/webp" | wc -l) WebP)" >&2
echo "$dest"
