# berth with its example services (items, hello) on SQLite.
#   docker build -t berth .
#   docker run -p 8080:8080 -p 127.0.0.1:9090:9090 -e BERTH_ADMIN_TOKEN=... -v berth-data:/var/lib/berth berth
# 8080 serves the services; 9090 is the operator's plane (admin API,
# /console, /metrics): publish it on loopback or a private network only.

FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN rustup target add wasm32-wasip2
COPY . .
RUN cargo build --release -p berth \
 && cargo xtask plugins

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/berth --shell /usr/sbin/nologin berth \
 && mkdir -p /var/lib/berth /srv/berth/plugins \
 && chown berth:berth /var/lib/berth
COPY --from=build /src/target/release/berth /usr/local/bin/berth
COPY --from=build /src/target/components/examples/ /srv/berth/plugins/
USER berth
ENV BERTH_LISTEN=0.0.0.0:8080 \
    BERTH_ADMIN_LISTEN=0.0.0.0:9090 \
    BERTH_DATA_DIR=/var/lib/berth \
    BERTH_PLUGINS_DIR=/srv/berth/plugins \
    BERTH_LOG_FORMAT=json
EXPOSE 8080 9090
VOLUME ["/var/lib/berth"]
ENTRYPOINT ["berth"]
CMD ["serve"]
