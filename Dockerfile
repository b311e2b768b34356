# syntax=docker/dockerfile:1
# quantd container image: build and test on Debian 12, run on Debian 12 slim.
#
#   docker build -t quantd .
#   docker run -d --name quantd -p 8080:8080 -v quantd-state:/var/lib/quantd quantd
#
# Settings come from QUANTD_* environment variables (docs/operations.md);
# tokens from a mounted file: -v /etc/quantd/tokens:/run/secrets/quantd-tokens:ro
# -e QUANTD_TOKEN_FILE=/run/secrets/quantd-tokens.

# ---- build: the same CMake build and tests as CI -----------------------
FROM debian:12 AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/
RUN ./scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQD_WERROR=ON \
          -DCMAKE_INSTALL_PREFIX=/usr \
 && cmake --build build -j"$(nproc)" \
 && (cd build && ctest --output-on-failure -j"$(nproc)") \
 && DESTDIR=/out cmake --install build \
 && strip --strip-unneeded /out/usr/bin/quantd

# ---- runtime: the binary, its shared libraries, nothing else -----------
FROM debian:12-slim
# Exactly the libraries `readelf -d quantd` needs (tests/ops/install.sh
# checks this list against the binary).
ARG QD_RUNTIME_PKGS="libjansson4 libmicrohttpd12 libuv1 libssl3 libinih1"
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $QD_RUNTIME_PKGS \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 quantd \
 && useradd --system --uid 10001 --gid quantd --home-dir /var/lib/quantd --no-create-home \
            --shell /usr/sbin/nologin quantd \
 && install -d -o quantd -g quantd -m 0700 /var/lib/quantd
COPY --from=build /out/usr/bin/quantd /usr/bin/quantd
COPY --from=build /out/etc/quantd/quantd.conf /etc/quantd/quantd.conf
COPY --from=build /out/usr/share/doc/quantd/ /usr/share/doc/quantd/

# Environment beats /etc/quantd/quantd.conf (flags beat both).
ENV QUANTD_LISTEN=0.0.0.0:8080 \
    QUANTD_STATE_DIR=/var/lib/quantd
VOLUME /var/lib/quantd
EXPOSE 8080
USER 10001:10001
WORKDIR /var/lib/quantd
# SIGTERM drains (running jobs get drain_timeout, 30s, then are
# checkpointed): give `docker stop` more, e.g. `docker stop -t 45`.
STOPSIGNAL SIGTERM
# `quantd health` GETs /livez on QUANTD_LISTEN's port: no curl needed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["quantd", "health"]
ENTRYPOINT ["quantd"]
CMD ["serve"]
