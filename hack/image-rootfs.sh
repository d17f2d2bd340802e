#!/usr/bin/env bash
# Builds the container image's root filesystem into DEST: build/easel, the
# exact shared libraries it links (from ldd), libvips and the libraries it
# links (easel loads libvips with dlopen in the modes that touch pixels, so
# ldd on the binary does not list it), the dynamic loader, CA
# certificates, and the fonts the local model's label needs. The Dockerfile
# runs this script, and tests/e2e/test_image_rootfs.sh runs it here and then
# executes the result chrooted as a non-root user, so what the image does is
# tested even though no image is built on this machine.
#
#   hack/image-rootfs.sh DEST
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:?usage: $0 DEST}
# The image always carries a release build, never a sanitizer one (under
# make test-asan the sanitized build lives in build-asan/; a sanitized binary
# could not even start without /proc inside a chroot).
BUILD=build
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u SANITIZE -u CFLAGS \
  make --no-print-directory BUILD="$BUILD" "$BUILD/easel" >/dev/null
mkdir -p "$dest/usr/local/bin" "$dest/etc/ssl/certs" "$dest/tmp" "$dest/etc"
install -m 0755 "$BUILD/easel" "$dest/usr/local/bin/easel"
strip --strip-unneeded "$dest/usr/local/bin/easel" 2>/dev/null || true

copy() { # copy a file and the symlink chain leading to it, keeping paths
  local f=$1
  while [ -L "$f" ]; do
    mkdir -p "$dest$(dirname "$f")"; cp -P "$f" "$dest$f"
    local t; t=$(readlink "$f"); case $t in /*) f=$t ;; *) f=$(dirname "$f")/$t ;; esac
  done
  mkdir -p "$dest$(dirname "$f")"; cp "$f" "$dest$f"
}
vips_dir=$(pkg-config --variable=libdir vips)
vips_soname=$(objdump -p "$vips_dir/libvips.so" | awk '/SONAME/{print $2}')
[ -e "$vips_dir/$vips_soname" ] || { echo "image-rootfs: no $vips_dir/$vips_soname" >&2; exit 1; }
copy "$vips_dir/$vips_soname"
for lib in $( (ldd "$BUILD/easel"; ldd "$vips_dir/$vips_soname") | awk '/=> \//{print $3} /^\s*\/lib/{print $1}' | sort -u); do
  copy "$lib"
done
# the dynamic loader under its canonical name
for ld in /lib64/ld-linux-x86-64.so.2 /lib/ld-linux-aarch64.so.1; do [ -e "$ld" ] && copy "$ld"; done
[ -f /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$dest/etc/ssl/certs/"
# MediaPipe's pose models (docs/pose.md): the detector, lite and full, from
# the pinned npm package; --pose-models /usr/share/easel/models turns on
# POST /estimate-body (heavy, 27.7 MB, with POSE_HEAVY=1)
"$(dirname "$0")/fetch-pose-models.sh" "$(cd "$(dirname "$0")/.." && pwd)/models" >&2
mkdir -p "$dest/usr/share/easel/models"
for m in pose_detection pose_landmark_lite pose_landmark_full ${POSE_HEAVY:+pose_landmark_heavy}; do
  install -m 0644 "$(dirname "$0")/../models/$m.tflite" "$dest/usr/share/easel/models/"
done
# no fonts: local/vips-stage draws its label in easel's own font
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$dest/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$dest/etc/group"
chmod 1777 "$dest/tmp"
echo "rootfs in $dest: $(du -sh "$dest" | cut -f1), $(find "$dest" -name '*.so*' | wc -l) shared objects"
