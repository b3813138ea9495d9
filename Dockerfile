# lineshard in a container. Docker's default seccomp profile blocks the io_uring system calls
# glommio needs, and its rings need locked memory: run with
#   docker run --security-opt seccomp=unconfined --ulimit memlock=-1 -p 8086:8086 \
#     -v lineshard-data:/var/lib/lineshard lineshard
# (or a seccomp profile that allows io_uring_setup, io_uring_enter and io_uring_register).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p lineshard

FROM debian:bookworm-slim
RUN useradd --system --home-dir /var/lib/lineshard --shell /usr/sbin/nologin lineshard \
    && install -d -o lineshard -g lineshard -m 0750 /var/lib/lineshard \
    && install -d /etc/lineshard
COPY --from=build /src/target/release/lineshard /usr/bin/lineshard
COPY packaging/lineshard.toml /etc/lineshard/lineshard.toml
USER lineshard
VOLUME /var/lib/lineshard
EXPOSE 8086
# SIGTERM drains (`docker stop` waits 10 s by default, above the 5 s shutdown-timeout).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/lineshard", "--config", "/etc/lineshard/lineshard.toml", "--bind", "0.0.0.0:8086"]
