# easel container image. The build steps live in hack/ so that the tests run
# them on machines without a Docker engine (tests/e2e/test_image_rootfs.sh).
FROM debian:12-slim AS build
WORKDIR /src
COPY . .
RUN ./hack/install-deps.sh && ./hack/image-rootfs.sh /rootfs

# No shell, no package manager: only the binary and the libraries it links.
FROM scratch
COPY --from=build /rootfs /
USER 65532:65532
WORKDIR /tmp
ENTRYPOINT ["/usr/local/bin/easel"]
CMD ["controller"]
