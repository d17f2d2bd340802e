#!/usr/bin/env bash
# What the container image does, tested without a Docker engine: build the
# image's root filesystem with the Dockerfile's own script, then run the
# binary inside it (chroot) as the image's non-root user, against real Redis
# and Postgres on loopback, for a whole job.
. "$(dirname "$0")/lib.sh"
rootfs=$WORK/rootfs
"$ROOT/hack/image-rootfs.sh" "$rootfs" >"$WORK/rootfs.log" 2>&1
check "image rootfs builds" test -x "$rootfs/usr/local/bin/easel"
check "the Dockerfile uses that script" grep -q 'hack/image-rootfs.sh' "$ROOT/Dockerfile"
check "the image runs as a non-root user" grep -q '^USER 65532' "$ROOT/Dockerfile"
check "no shell in the image" test ! -e "$rootfs/bin/sh"
out=$(chroot --userspec=65532:65532 "$rootfs" /usr/local/bin/easel version 2>&1)
check "easel version runs inside the rootfs as uid 65532" grep -q '^easel ' <<<"$out"
check "all linked libraries are present" bash -c "! grep -q 'not found\|error while loading' <<<'$out'"
check "libvips, loaded at run time, is in the image" grep -Eq '^  libvips +[0-9]+\.[0-9]+' <<<"$out"

setup_services
samples
mkdir -p "$rootfs/data/samples" "$rootfs/data/results"
cp "$SAMPLES/room-1.jpg" "$rootfs/data/samples/"
chown -R 65532:65532 "$rootfs/data"
in_image() { chroot --userspec=65532:65532 "$rootfs" /usr/local/bin/easel "$@"; }
# the pose models are in the image and load there: a room has no person
out=$(in_image pose --pose-models /usr/share/easel/models /data/samples/room-1.jpg 2>&1); rc=$?
check "easel pose runs inside the image with its models (a room: no person, exit 1)" \
  eq "$rc:$(grep -c '0 people' <<<"$out")" "1:1"
id=$(in_image submit --input '{"style":"industrial","seed":3,"room_type":"loft"}' --image file:///data/samples/room-1.jpg)
check "submit from inside the image" test -n "$id"
# chroot itself, not the in_image function: a function in the background
# runs in a subshell, whose pid is not the controller's (killing it left the
# controller running), while chroot execs easel in place, so $! is easel.
EASEL_STORAGE=file:///data/results EASEL_FILE_ROOTS=/data/samples chroot --userspec=65532:65532 "$rootfs" /usr/local/bin/easel \
  controller --concurrency 1 >"$WORK/ctl.log" 2>&1 &
CTL_PID=$!
PIDS+=("$CTL_PID")
wait_for 60 'test "$(status_of "$id")" = succeeded'
check "a whole job succeeds inside the image" eq "$(status_of "$id")" succeeded
check "its outputs were written inside the image" test -s "$rootfs/data/results/jobs/$id/normal.jpg"
check "the pid the test holds is the controller inside the image" eq "$(tp_cmdline "$CTL_PID")" \
  "/usr/local/bin/easel controller --concurrency 1"
kill -TERM "$CTL_PID"
wait_for 20 'gone "$CTL_PID"'
check "the controller inside the image stops on SIGTERM" gone "$CTL_PID"
check "and leaves no process of the image running" eq "$(tp_tagged "EASEL_TEST_SCENARIO=$EASEL_TEST_SCENARIO" |
  while read -r p; do [ "$(readlink "/proc/$p/root")" = "$rootfs" ] && echo "$p"; done)" ""
finish
