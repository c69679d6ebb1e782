# The container image of b2see_exporter: the static binary on an empty base,
# with CA certificates, a non-root user and a volume for the state, nothing
# else.
#
# Build it with `make docker` (DOCKER_ARCH=arm64 for another platform). make
# builds the static binary and stages the build context this file copies
# from, the .build directory: the binary, the CA bundle of the build machine,
# passwd and group files naming the user, and an empty directory for the
# volume. No base image is pulled, so the image builds wherever Go, make and
# docker or podman run, with no registry to reach.
FROM scratch

ARG ARCH=amd64
ARG VERSION=unknown
ARG REVISION=unknown
LABEL org.opencontainers.image.title="b2see_exporter" \
      org.opencontainers.image.description="Prometheus exporter for B2see video engagement" \
      org.opencontainers.image.source="https://github.com/b2see-exporter/b2see_exporter" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

COPY rootfs/ /
COPY linux-${ARCH}/b2see_exporter /bin/b2see_exporter
COPY --chown=10133:10133 volume/ /data/

# A numeric user, so that Kubernetes' runAsNonRoot can tell it is not root.
USER 10133:10133
EXPOSE 10133
# The counters' and statuses' state. The working directory is /, so that the
# default --storage.path, data/, is this volume too when `docker run IMAGE
# --demo` or a compose `command:` replaces CMD.
VOLUME ["/data"]
WORKDIR /
ENTRYPOINT ["/bin/b2see_exporter"]
CMD ["--storage.path=/data"]
