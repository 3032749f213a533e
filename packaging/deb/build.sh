#!/bin/sh
# Build dist/vipkeeper_<version>_<arch>.deb from the working tree (make deb).
# The tree is copied to build/deb/src first, so the build never writes into the sources.
set -eu
cd "$(dirname "$0")/../.."
top=$(pwd)
out=$top/build/deb
rm -rf "$out"
mkdir -p "$out/src" "$top/dist"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # tracked and new files, without what .gitignore ignores (.venv, build, caches)
    git ls-files -z --cached --others --exclude-standard \
        | tar --null --ignore-failed-read -cf - -T - 2>/dev/null | tar -xf - -C "$out/src"
else
    tar --exclude=./.venv --exclude=./build --exclude=./dist --exclude=.git --exclude=__pycache__ -cf - . | tar -xf - -C "$out/src"
fi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
deb_version=$(dpkg-parsechangelog -l debian/changelog -S Version)
if [ "$version" != "$deb_version" ]; then
    echo "debian/changelog is at $deb_version but pyproject.toml at $version: add a changelog entry" >&2
    exit 1
fi
(cd "$out/src" && dpkg-buildpackage --build=binary --no-sign)
arch=$(dpkg --print-architecture)
mv "$out/vipkeeper_${version}_${arch}.deb" "$top/dist/"
echo "built dist/vipkeeper_${version}_${arch}.deb"
