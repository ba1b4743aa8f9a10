# The kaudit image: the operator's controller and node agent (`kaudit controller`, `kaudit agent`).
#
# BASE is any Debian-like image with python3 (3.11+) and its venv module. A workstation uses
# the public python:3.11-slim; the test bed, which reaches no image registry, passes a
# debootstrap-made Debian base (hack/testbed/build-image.sh):
#   buildah bud --isolation chroot --pull-never --build-arg BASE=localhost/kaudit-base:bookworm .
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
# A CA bundle for reaching PyPI through a TLS-inspecting proxy, mounted into the build by the
# caller (build-image.sh mounts the host's); empty on a workstation. Never copied into the image.
ARG PIP_CERT=
RUN python3 -m venv /opt/kaudit
COPY . /src
# Dependencies come from PyPI at build time; only the venv is carried into the final stage.
RUN if [ -z "$PIP_CERT" ]; then unset PIP_CERT; fi; \
    /opt/kaudit/bin/pip install --no-cache-dir --disable-pip-version-check /src

FROM ${BASE}
COPY --from=build /opt/kaudit /opt/kaudit
# 65532 is the controller's runAsUser (deploy/controller.yaml); the node agent runs as root
# (runAsUser: 0) because it writes the node's /etc/kubernetes.
RUN useradd --uid 65532 --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin kaudit
ENV PATH=/opt/kaudit/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 65532:65532
ENTRYPOINT ["kaudit"]
