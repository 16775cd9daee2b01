# A Pequod node: the `pequod` binary, the built commander UI, and what a node needs at
# run time (iproute2, ping, arping) plus Kamailio as the demo's managed SIP service.
# docker-compose.yml runs two of them as a cluster; see README.md, "Docker".

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# scripts/build-frontend installs the wasm32 target and the wasm-bindgen CLI it needs.
RUN scripts/setup && scripts/build-frontend && cargo build --release --locked -p pequod

FROM debian:bookworm-slim
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        iproute2 iputils-ping iputils-arping kamailio monitoring-plugins-basic ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/pequod /usr/local/bin/pequod
COPY --from=build /src/frontend/dist /usr/share/pequod/commander
COPY docker/pequod.toml /etc/pequod/pequod.toml
COPY docker/kamailio.cfg /etc/pequod/kamailio.cfg
VOLUME /var/lib/pequod
EXPOSE 8080 2222 7405/udp
ENTRYPOINT ["/usr/local/bin/pequod"]
CMD ["serve", "--config", "/etc/pequod/pequod.toml"]
