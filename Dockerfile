# The DataKit server as a container image holding nothing but the static
# binary, built beforehand with this machine's Go: no registry is needed.
#
#   make image            # builds bin/datakit statically, then this image
#   docker run -d -p 5640:5640 -v datakit:/data datakit
FROM scratch
COPY bin/datakit-static /datakit
VOLUME /data
EXPOSE 5640
ENTRYPOINT ["/datakit"]
CMD ["--git", "/data", "--listen-9p", "tcp://0.0.0.0:5640"]
